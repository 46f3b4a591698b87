"""Step 6, touching digits: ways to cut a blob too wide for one digit into two or three.

"2026" written quickly, or a pen that did not lift, makes one blob of several digits. A blob
wider than ``SPLIT_ASPECT`` times its height is offered to the reader whole (when it could be
one digit) and cut into 2 and 3 parts; the reader classifies every part in the same batch and
keeps the reading whose parts the model is most sure of
(:meth:`~mnist_edge.reading.reader.DigitReader.read`).

Where to cut: near each equal-width split point, at the column where the ink is thinnest (the
ink profile's minimum within ``WINDOW`` of a part's width), which is where two touching digits
usually meet.
"""

from __future__ import annotations

import cv2
import numpy as np

from mnist_edge.reading.blobs import Blob

SPLIT_ASPECT = 1.1  # a blob wider than this times its height may be more than one digit
MAX_PARTS = 3  # at most this many digits in one blob
PART_ASPECT = 0.35  # a part narrower than this times its height is not a digit (a "1" is ~0.2,
# but a "1" touching another digit is rarely cut out alone, and a sliver would read as "1")
WINDOW = 0.3  # a cut is looked for within this share of a part's width around its split point
EVEN_HEIGHTS = 0.8  # three touching digits' parts: each at least this share of the tallest
# (two parts may differ more: a digit cut from a stub of a rule is worth the model's look)
STUB_HEIGHT = 0.5  # ...and the part under this share of the other's height is the stub


def parts_for(box: tuple[int, int, int, int]) -> list[int]:
    """How many digits a blob of this box could hold: [2], [2, 3], or [] for one digit."""
    _, _, w, h = box
    if w <= SPLIT_ASPECT * h:
        return []
    return [n for n in range(2, MAX_PARTS + 1) if w / n >= PART_ASPECT * h]


def without_stubs(parts: list[int], boxes: list[tuple[int, int, int, int]]) -> list[int]:
    """The ``parts`` (indices into ``boxes``) of a cut less those under :data:`STUB_HEIGHT` of
    the tallest: what a cut takes off a digit's blob that is no digit (a rule's stub). A
    stub is neither reported nor counted in how sure the model is of the cut: read as an
    unsure "5", it sank the cut below the blob read whole, rule and all."""
    tallest = max(boxes[i][3] for i in parts)
    return [i for i in parts if boxes[i][3] >= STUB_HEIGHT * tallest]


def split_blob(blob: Blob, parts: int) -> list[Blob] | None:
    """``blob`` cut into ``parts`` blobs at the thinnest ink columns, or None if a part is
    empty or too narrow to be a digit, or if three parts are of uneven heights (a blurred
    word's touching letters: "pag" has an x-height letter between descenders)."""
    x, y, w, h = blob.box
    profile = cv2.reduce(blob.mask, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    step = w / parts
    cuts = [0]
    for i in range(1, parts):
        lo = max(cuts[-1] + 1, int(i * step - WINDOW * step))
        hi = min(w - 1, int(i * step + WINDOW * step))
        if hi <= lo:
            return None
        cuts.append(lo + int(np.argmin(profile[lo:hi])))
    cuts.append(w)
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        part = _trimmed(blob.mask[:, a:b], x + a, y)
        if part is None or part.box[2] < PART_ASPECT * h:
            return None
        out.append(part)
    heights = [p.box[3] for p in out]
    if parts > 2 and min(heights) < EVEN_HEIGHTS * max(heights):
        return None  # x-height letters between taller ones: a word's letters, not digits
    return out


def _trimmed(mask: np.ndarray, x: int, y: int) -> Blob | None:
    """The part's ink in its own tight box."""
    bx, by, bw, bh = cv2.boundingRect(mask)
    if bw == 0 or bh == 0:
        return None
    return Blob((x + bx, y + by, bw, bh), np.ascontiguousarray(mask[by:by + bh, bx:bx + bw]))
