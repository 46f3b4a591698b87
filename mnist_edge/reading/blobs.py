"""Step 5, find blobs: digit-shaped candidates in the binarised frame.

Blobs come from outer contours (much faster than connected-component statistics); ruled lines
and paper-edge slivers are cut out of them, the table around the sheet is dropped, the fragments
of broken digits are glued (:func:`_group`), the letters of printed words are left out
(:mod:`.words`), and what cannot be a digit (too small, too flat, too full) is dropped.
Whether a blob is dark enough to be writing is checked when cropping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mnist_edge.common.union_find import UnionFind
from mnist_edge.reading.binarise import above
from mnist_edge.reading.lines import MIN_WALLS, WALL_SLENDER, contour_boxes
from mnist_edge.reading.params import DEFAULT_PARAMS, VisionParams
from mnist_edge.reading.words import in_words, x_height_inside

MIN_DIGIT_PX = 8  # a digit is at least this tall, whatever ``min_height`` says
MIN_WIDTH_PX = 2  # ...and this wide: a 1 px sliver is what is left of a rule
# the table around the sheet
SURROUND_REACH = 0.2  # a border blob reaching less deep than this (of the shorter side) is table
SURROUND_SCALE = 4  # its solid part is found at 1/4 resolution...
SOLID_LEVEL = 200  # ...as the blocks at least this full of ink (of 255)
BORDER_RUN = 0.25  # a blob along more than this share of a frame side lies along the border
# line suspects: long and flat, or long and thin, for the frame
LINE_ASPECT_WIDE = 2.5  # wider than this times its height...
LINE_SPAN_WIDE = 0.25  # ...and than this share of the frame's width
LINE_SPAN_TALL = 0.3  # taller than ``line_aspect`` times its width and this share of the height
EDGE_ASPECT_TALL = 3  # or taller than this times its width...
TURNED_ASPECT = 5.0  # a tall box this slender may be a rule turned up to 10 degrees...
TURNED_INK = 1.5  # ...if its ink is this much more slender than ``line_aspect``
EDGE_SPAN_TALL = 0.9  # ...and nearly the frame's height (a paper edge)
TILTS = np.radians(np.arange(-10.0, 10.01, 0.25))  # line angles tried by _tilt
TILT_SAMPLE = 4000  # ink points enough to find a line's tilt
# grouping the pieces of one digit (_group)
TALLER = 0.6  # a piece is clearly smaller than another under this share of its height
MAJOR_OVERLAP = 0.6  # similar pieces glue if they overlap in x by this share of the narrower
MAJOR_GAP = 0.08  # ...and the gap between them is at most this share of the taller
MINOR_OVERLAP = 0.4  # a smaller piece joins a taller one it overlaps by this share of its width
MINOR_GAP = 0.25  # ...at most this share of the taller one's height away
MINOR_MAX_WIDTH = 1.2  # ...and not wider than this times it (else: a leftover of a line)
RULE_GAP = 12  # px: similar pieces further apart glue only if a rule cut out lies between
WALL_HEIGHT = 0.75  # a row of boxes cut out of its rules: walls are this share of its height
# which blobs can be digits (_make_blob)
WHOLE_FRAME = 0.98  # a blob this close to the frame's size in both directions is not a digit
EDGE_CUT_KEEP = 0.5  # a blob cut by the frame's edge is kept only if this big (share of frame)
TAIL = 0.15  # ...unless a ruled line's tail ties it to the edge: columns this little inked
THIN_ONE = 0.3  # narrower than this times its height: a "1", whose ink may fill its box
RUN_ASPECT = 3.0  # up to this wide a blob may be touching digits (cut apart by split.py)
# a big digit with a bit of itself inside its box is no frame (_big_digit): one
DIGIT_SHAPE = (0.8, 2.0)  # ...this tall for its width (height / width),
RULED_SIDES = 2  # ...whose outline runs along fewer than this many of its box's edges,
RULED = 0.8  # (runs along an edge: within a few px of it for this share of its length;
SIDE_BAND = 20  # a few: this fraction of the box's shorter side)
FRAME_INNER = 0.4  # ...holding only pieces under this share of its height,
FRAME_MAX_HELD = 2  # ...and at most this many


@dataclass(frozen=True)
class Blob:
    """One digit candidate: its box in working-image pixels and its ink mask inside that box."""

    box: tuple[int, int, int, int]  # x, y, w, h
    mask: np.ndarray  # uint8 0/255, shape (h, w)


def min_digit_height(shape: tuple[int, int], params: VisionParams = DEFAULT_PARAMS) -> int:
    """The smallest digit looked for in a working image of ``shape`` (px)."""
    return max(MIN_DIGIT_PX, int(params.min_height * min(shape)))


def find_blobs(mask: np.ndarray, params: VisionParams = DEFAULT_PARAMS,
               ruled: np.ndarray | None = None, slope: float = 0.0) -> list[Blob]:
    """Digit-shaped candidates in a binarised frame: fragments glued, lines cut out, specks,
    the table around the sheet and shapeless blobs dropped (darkness is checked when cropping).
    ``ruled``: the horizontal rules taken out of ``mask``, if any (a digit's halves either
    side of one are glued); ``slope``: how the page's lines of text run (y per x: a turned
    page's, from its rules).
    """
    min_h = min_digit_height(mask.shape, params)
    pieces = _drop_frames(_pieces(mask, min_h, params), min_h)
    groups = _group(pieces, min_h, ruled) if len(pieces) > 1 else \
        [(b, [c]) for b, c in pieces]
    # a piece cut by the frame's edge is no letter: the rim of the table beyond the paper,
    # level with a number, would pass for a capital beside "x-height" digits
    whole = [k for k, (box, _) in enumerate(groups) if not _at_border(box, mask.shape)]
    boxes = [groups[k][0] for k in whole]
    inside = [x_height_inside(mask[y:y + h, x:x + w], slope) for x, y, w, h in boxes]
    words = {whole[k] for k in in_words(boxes, np.array(inside, bool), slope)}
    blobs = []
    for box, members in (g for k, g in enumerate(groups) if k not in words):
        blob = _make_blob(mask, box, members, min_h, params)
        if blob is not None:
            blobs.append(blob)
        elif len(members) > 1:
            # no digit as glued (a chain through the pieces of a rule, a digit with bits of its
            # cell's edge): the pieces that can be digits on their own
            blobs += _alone(mask, members, min_h, params)
    return blobs


def _alone(mask: np.ndarray, members: list, min_h: int, params: VisionParams) -> list[Blob]:
    """The pieces of a group that are digit-shaped on their own."""
    out = []
    for c in members:
        blob = _make_blob(mask, tuple(int(v) for v in cv2.boundingRect(c)), [c], min_h, params)
        if blob is not None:
            out.append(blob)
    return out


def _speck(min_h: int) -> int:
    """Pieces smaller than this (px, longest side) are noise or the dashes of a faint line."""
    return max(3, min_h // 2)


Piece = tuple[tuple[int, int, int, int], np.ndarray]  # (box, contour)


def _pieces(mask: np.ndarray, min_h: int, params: VisionParams) -> list[Piece]:
    """Outer contours worth keeping: specks dropped, line-like ones cut or discarded."""
    contours, holes = _outer_contours(mask, with_holes=True)
    if not contours:
        return []
    rects = contour_boxes(contours)
    size = rects[:, 2:].max(axis=1)
    # noise, and the dashes a faint ruled line breaks into
    keep = np.flatnonzero((size >= _speck(min_h)) & (rects[:, 3] > 2))
    pieces: list[Piece] = []
    h, w = mask.shape
    boxes = rects.tolist()
    plain = _plain(rects, mask.shape, params).tolist()
    for i in keep.tolist():
        box = tuple(boxes[i])
        if plain[i]:
            pieces.append((box, contours[i]))
        elif _at_border(box, mask.shape) and _along_border(mask, box):
            # the table around the sheet: drop it, but if something reaches deep into the
            # frame from it (ruled lines running into the paper's edge, and the digits those
            # lines cross), look inside: every part left, its lines cut out
            if _depth([contours[i], *holes.get(i, [])], w, h) < SURROUND_REACH * min(w, h):
                continue
            for part in _strip_surround(mask, box, contours[i], min_h):
                pieces.extend(_cut_lines(mask, part[0], part[1], min_h, params))
        else:
            for piece in _off_the_edge(mask, (box, contours[i]), min_h):
                pieces.extend(_checked_piece(mask, piece, min_h, params))
    return pieces


def _plain(rects: np.ndarray, shape: tuple[int, int], params: VisionParams) -> np.ndarray:
    """Which pieces (boxes ``rects``) are kept as they are, found for all at once (most
    pieces): clear of the frame's edge (:func:`_at_border`), no line suspect
    (:func:`_line_suspect`) and too short or wide to be a turned line (:func:`_turned_box`)."""
    _, _, bw, bh = box = tuple(rects.T)
    return ~(_at_border(box, shape) | _line_suspect(bw, bh, shape, params)
             | _turned_box(bw, bh, shape))


def _off_the_edge(mask: np.ndarray, piece: Piece, min_h: int) -> list[Piece]:
    """A small piece tied to the frame's edge only by thin tails (ruled lines the line finder
    left, running from a digit to the edge), cut off them: with them it would pass for a digit
    cut by the edge and be dropped. A tail is at least a digit height of columns (rows) next
    to the edge holding little ink (``TAIL``); a digit really cut by the edge has no such run
    and is left as it is."""
    box, contour = piece
    x, y, bw, bh = box
    h, w = mask.shape
    if not _at_border(box, mask.shape) or bh >= EDGE_CUT_KEEP * h or bw >= EDGE_CUT_KEEP * w:
        return [piece]
    ink = _fill(mask, box, [contour]) > 0
    cols, rows = ink.sum(axis=0), ink.sum(axis=1)
    x0, x1 = _tail(cols, TAIL * bh, min_h, x == 0, x + bw == w)
    y0, y1 = _tail(rows, TAIL * bw, min_h, y == 0, y + bh == h)
    if (x0, x1, y0, y1) == (0, bw, 0, bh) or x1 <= x0 or y1 <= y0:
        return [piece]
    rest = ink[y0:y1, x0:x1].astype(np.uint8) * 255
    return [(tuple(int(v) for v in cv2.boundingRect(c)), c)
            for c in _outer_contours(rest, offset=(x + x0, y + y0))]


def _tail(counts: np.ndarray, thin: float, min_h: int, at_start: bool, at_end: bool
          ) -> tuple[int, int]:
    """The span of ``counts`` (ink per column or row) left once thin runs at least ``min_h``
    long are cut off the ends that touch the frame's edge."""
    thick = np.flatnonzero(counts > thin)
    if not len(thick):
        return 0, len(counts)
    start, end = int(thick[0]), int(thick[-1]) + 1
    return (start if at_start and start >= min_h else 0,
            end if at_end and len(counts) - end >= min_h else len(counts))


def _at_border(box: tuple, shape: tuple[int, int]) -> Any:
    """Whether ``box`` touches the edge of a frame of ``shape`` (a bool; elementwise for a box
    of arrays: :func:`_plain`)."""
    x, y, bw, bh = box
    return (x == 0) | (y == 0) | (x + bw == shape[1]) | (y + bh == shape[0])


def _checked_piece(mask: np.ndarray, piece: Piece, min_h: int, params: VisionParams
                   ) -> list[Piece]:
    box = piece[0]
    if _line_suspect(box[2], box[3], mask.shape, params) \
            or _turned_line(box, piece[1], mask.shape, params):
        return _cut_lines(mask, box, piece[1], min_h, params)
    return [piece]


def _turned_line(box: tuple[int, int, int, int], contour: np.ndarray, shape: tuple[int, int],
                 params: VisionParams) -> bool:
    """A long upright stroke turned a few degrees: its box is no longer thin (a line 330 px
    long turned 5 degrees is 30 px wide, and read as a "1"), but its ink is: its length over
    its mean thickness (ink area / length) is past ``TURNED_INK`` times ``line_aspect``."""
    _, _, bw, bh = box
    if not _turned_box(bw, bh, shape):
        return False
    return bh * bh > TURNED_INK * params.line_aspect * max(cv2.contourArea(contour), 1.0)


def _turned_box(bw: Any, bh: Any, shape: tuple[int, int]) -> Any:
    """A box tall and slender enough to hold a turned line (:func:`_turned_line`); elementwise
    for arrays."""
    return (bh > LINE_SPAN_TALL * shape[0]) & (bh > TURNED_ASPECT * bw)


def _depth(contours: list[np.ndarray], w: int, h: int) -> int:
    """How far a blob's outline (outer boundary and holes) reaches into the frame (px)."""
    pts = np.concatenate([c.reshape(-1, 2) for c in contours])
    return int(np.minimum(np.minimum(pts[:, 0], w - 1 - pts[:, 0]),
                          np.minimum(pts[:, 1], h - 1 - pts[:, 1])).max())


def _strip_surround(mask: np.ndarray, box: tuple[int, int, int, int], contour: np.ndarray,
                    min_h: int) -> list[Piece]:
    """What is left of a border blob once its solid part on the frame's border is removed.

    The solid part (4x4 blocks nearly all ink, found at quarter resolution: cheap on a blob as
    big as the frame) that touches the border is the table; thin things attached to it are
    ruled lines, and digits on them. The table is removed grown by ~2 blocks, so the dark rim
    where the paper meets it goes too.
    """
    x, y, bw, bh = box
    h, w = mask.shape
    region = _fill(mask, box, [contour])
    f = SURROUND_SCALE
    sw, sh = max(1, bw // f), max(1, bh // f)
    solid = above(cv2.resize(region, (sw, sh), interpolation=cv2.INTER_AREA), SOLID_LEVEL)
    surround = np.zeros_like(solid)
    for c in _outer_contours(solid):
        cx, cy, cw, ch = cv2.boundingRect(c)
        if cx == 0 and x == 0 or cy == 0 and y == 0 or cx + cw == sw and x + bw == w \
                or cy + ch == sh and y + bh == h:
            cv2.drawContours(surround, [c], -1, 255, thickness=-1)
    grow = max(3, (min_h // 2) // f * 2 + 1)
    surround = cv2.resize(cv2.dilate(surround, np.ones((grow, grow), np.uint8)), (bw, bh),
                          interpolation=cv2.INTER_NEAREST)
    rest = cv2.subtract(region, surround)
    speck = _speck(min_h)
    parts = []
    for c in _outer_contours(rest, offset=(x, y)):
        r = cv2.boundingRect(c)
        if max(r[2], r[3]) >= speck and r[3] > 2:
            parts.append((r, c))
    return parts


def _fill(mask: np.ndarray, box: tuple[int, int, int, int], contours: list) -> np.ndarray:
    """The mask's pixels inside ``contours`` (their holes included), cut to ``box``."""
    x, y, bw, bh = box
    region = np.zeros((bh, bw), np.uint8)
    cv2.drawContours(region, contours, -1, 255, thickness=-1, offset=(-x, -y))
    region &= mask[y:y + bh, x:x + bw]
    return region


def _outer_contours(mask: np.ndarray, offset: tuple[int, int] = (0, 0),
                    with_holes: bool = False):
    """The outer boundary of every connected blob, also of blobs inside another's hole (the
    digits on a sheet whose dark surround forms a ring around the whole frame).

    ``with_holes=True`` also returns {index in the list: that blob's hole boundaries}.
    """
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE,
                                           offset=offset)
    if hierarchy is None:
        return ([], {}) if with_holes else []
    outer = np.flatnonzero(hierarchy[0][:, 3] < 0)
    found = [contours[i] for i in outer]
    if not with_holes:
        return found
    position = {int(j): n for n, j in enumerate(outer)}
    holes: dict[int, list[np.ndarray]] = {}
    for j in np.flatnonzero(hierarchy[0][:, 3] >= 0):
        holes.setdefault(position[int(hierarchy[0][j, 3])], []).append(contours[j])
    return found, holes


def _along_border(mask: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """A blob lying along the frame's border over a long stretch: the table or the dark
    surround beyond the paper's edge, too narrow for the paper estimate to keep as its own
    region. A digit cut by the border touches it only over a stroke's width."""
    h, w = mask.shape
    x, y, bw, bh = box
    sides = []
    if y == 0:
        sides.append((mask[0, x:x + bw], w))
    if y + bh == h:
        sides.append((mask[h - 1, x:x + bw], w))
    if x == 0:
        sides.append((mask[y:y + bh, 0], h))
    if x + bw == w:
        sides.append((mask[y:y + bh, w - 1], h))
    return any(cv2.countNonZero(edge) > BORDER_RUN * side for edge, side in sides)


def _line_suspect(bw: Any, bh: Any, shape: tuple[int, int], params: VisionParams) -> Any:
    """Long and flat (or long and thin) for the frame: a ruled line, a paper edge, or a digit
    that one of them runs through (a bool; elementwise for arrays: :func:`_plain`)."""
    h, w = shape
    wide = (bw > LINE_ASPECT_WIDE * bh) & (bw > LINE_SPAN_WIDE * w)
    # (a "1" is tall and thin too: only a very long one, or one spanning the frame, is a line)
    tall = ((bh > params.line_aspect * bw) & (bh > LINE_SPAN_TALL * h)) | (
        (bh > EDGE_ASPECT_TALL * bw) & (bh > EDGE_SPAN_TALL * h))
    return wide | tall


def _cut_lines(
    mask: np.ndarray, box: tuple[int, int, int, int], contour: np.ndarray, min_h: int,
    params: VisionParams,
) -> list[Piece]:
    """Remove straight lines (any small tilt) from one blob; return what is left, re-split.

    The blob is rotated so its main direction is horizontal, a long horizontal opening finds the
    line, the line is subtracted, and pixels of the line that have ink right above and below
    (a stroke crossing the line) are put back, so digits written on a ruled line survive.
    """
    x, y, bw, bh = box
    region = _fill(mask, box, [contour])
    vertical = bh > bw
    if vertical:
        region = np.ascontiguousarray(region.T)
    angle = _tilt(region)
    rows, cols = region.shape
    rot = cv2.getRotationMatrix2D((cols / 2, rows / 2), angle, 1.0)
    straight = cv2.warpAffine(region, rot, (cols, rows), flags=cv2.INTER_NEAREST)
    length = max(3 * rows // 2 if not vertical else cols // 2, cols // 4, 3 * min_h)
    length = min(length, cols)
    # thicken vertically first: a thin line left a fraction of a degree off level still makes
    # one unbroken run
    thick = cv2.dilate(straight, np.ones((5, 1), np.uint8))
    line = cv2.morphologyEx(thick, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    if not line.any():
        return [] if max(bw, bh) > params.line_aspect * min(bw, bh) else [(box, contour)]
    line = cv2.dilate(line, np.ones((3, 1), np.uint8))
    line = cv2.warpAffine(line, cv2.invertAffineTransform(rot), (cols, rows),
                          flags=cv2.INTER_NEAREST)
    kept = cv2.subtract(region, line)
    thickness = max(3, int(2 * line.sum() / 255 / max(cols, 1)) + 3)
    bridged = cv2.morphologyEx(kept, cv2.MORPH_CLOSE, np.ones((thickness, 1), np.uint8))
    kept |= bridged & line
    if vertical:
        kept = np.ascontiguousarray(kept.T)
    contours = _outer_contours(kept, offset=(x, y))
    out = []
    for c in contours:
        cx, cy, cw, ch = cv2.boundingRect(c)
        if max(cw, ch) >= max(2, min_h // 5) and max(cw, ch) < params.line_aspect * min(cw, ch):
            out.append(((cx, cy, cw, ch), c))
    return out if vertical else _without_walls(out, bh)


def _without_walls(pieces: list[Piece], height: int) -> list[Piece]:
    """``pieces`` left of a wide blob cut out of its rules, less the walls of a row of boxes:
    ``MIN_WALLS`` or more slender pieces nearly the row's ``height`` (thick, soft rules that
    the line finder left to this cut; each wall would read as a "1"). A digit in its box
    stands clear of the box's top or bottom."""
    walls = {k for k, ((_, _, w, h), _) in enumerate(pieces)
             if h >= WALL_HEIGHT * height and h >= WALL_SLENDER * w}
    return pieces if len(walls) < MIN_WALLS else \
        [p for k, p in enumerate(pieces) if k not in walls]



def _tilt(region: np.ndarray) -> float:
    """Angle (degrees, within +-10) of the straight line in a mostly horizontal blob.

    A tiny Hough transform: shear the ink points by each candidate angle and keep the angle
    whose busiest row holds the most points. Unlike a least-squares fit, the digits the line
    runs through do not pull the answer.
    """
    ys, xs = np.nonzero(region)
    if len(xs) < 3:
        return 0.0
    if len(xs) > TILT_SAMPLE:  # a sample is plenty to find a line
        step = len(xs) // TILT_SAMPLE + 1
        xs, ys = xs[::step], ys[::step]
    rows = np.round(ys[None, :] - np.tan(TILTS)[:, None] * xs[None, :]).astype(np.int64)
    rows -= rows.min()
    width = int(rows.max()) + 1
    offsets = np.arange(len(TILTS))[:, None] * width
    counts = np.bincount((rows + offsets).ravel(), minlength=len(TILTS) * width)
    best = int(counts.reshape(len(TILTS), width).max(axis=1).argmax())
    return float(np.degrees(TILTS[best]))


def _drop_frames(pieces: list[Piece], min_h: int) -> list[Piece]:
    """Drop the pieces that frame a digit: a digit-high piece inside their box that their
    outline never enters. They are the leftovers of a box, a cell's rules (a square, a U, an
    L), a table's ruling, or a circle drawn around a number; no digit encloses another
    digit-high piece without touching it. Kept, a frame would take in the digit it frames
    (it is the taller piece, the digit a piece "inside" it) and be cropped as a small digit
    in a box, which reads as anything."""
    n = len(pieces)
    b = np.array([p[0] for p in pieces], dtype=np.int64).reshape(n, 4)
    x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    inside = ((x[:, None] <= x[None, :]) & (y[:, None] <= y[None, :])
              & ((x + w)[:, None] >= (x + w)[None, :]) & ((y + h)[:, None] >= (y + h)[None, :])
              & (h[None, :] >= min_h))
    np.fill_diagonal(inside, False)
    frames = set()
    for i in np.flatnonzero(inside.any(axis=1)):
        outline = _outline(pieces[int(i)])
        if _big_digit(outline, h[inside[i]]):
            continue
        if any(_clear_of(outline, pieces[int(i)][0], pieces[int(j)][0])
               for j in np.flatnonzero(inside[i])):
            frames.add(int(i))
    return [p for k, p in enumerate(pieces) if k not in frames] if frames else pieces


def _big_digit(outline: np.ndarray, held: np.ndarray) -> bool:
    """Whether a piece (its ``outline`` in its box) holding pieces of heights ``held`` is a
    big digit, not a frame: digit-shaped, without ruled sides (a box, a U or an L runs along
    its box's edges; a digit meets them at a few points), holding one or two pieces far
    shorter than itself (a 7 whose stroke the pen broke off, a 4 a ruled line cut a bit from,
    a speck in a 0's loop). A frame holds a digit of some size; leftover rules hold many."""
    h, w = outline.shape
    return DIGIT_SHAPE[0] <= h / w <= DIGIT_SHAPE[1] and len(held) <= FRAME_MAX_HELD \
        and bool(np.all(held < FRAME_INNER * h)) and _ruled_sides(outline) < RULED_SIDES


def _ruled_sides(outline: np.ndarray) -> int:
    """How many of a box's four edges a piece's outline runs along (nearly all their length,
    within a few px): 4 for a closed box, 3 for a U, 2 for an L; a digit's bar makes one."""
    h, w = outline.shape
    t = max(2, min(h, w) // SIDE_BAND)
    ink = outline > 0
    along = [ink[:t].any(axis=0), ink[-t:].any(axis=0), ink[:, :t].any(axis=1),
             ink[:, -t:].any(axis=1)]
    return sum(float(side.mean()) >= RULED for side in along)


def _outline(piece: Piece) -> np.ndarray:
    (px, py, pw, ph), contour = piece
    outline = np.zeros((ph, pw), np.uint8)
    cv2.drawContours(outline, [contour], -1, 255, thickness=1, offset=(-px, -py))
    return outline


def _clear_of(outline: np.ndarray, at: tuple[int, int, int, int],
              box: tuple[int, int, int, int]) -> bool:
    """Whether a piece's ``outline`` (its box at ``at``) stays out of ``box``."""
    px, py = at[0], at[1]
    x, y, w, h = box
    return not outline[y - py + 1:y - py + h - 1, x - px + 1:x - px + w - 1].any()


def _group(pieces: list[Piece], min_h: int, ruled: np.ndarray | None = None
           ) -> list[tuple[tuple[int, int, int, int], list]]:
    """Glue the pieces of one digit: a broken stroke, the detached bar of a 5, the halves of a
    digit a ruled line was cut out of.

    Two pieces of similar height glue only if they overlap in x and touch in y (a digit broken
    across). A clearly smaller piece joins the *one* taller piece nearest to it that it sits
    over, under or inside of, so a fragment between two rows never chains the rows together.
    Vectorised over all pairs: a noisy frame can hold a hundred pieces.
    """
    n = len(pieces)
    if n == 0:
        return []
    b = np.array([p[0] for p in pieces], dtype=np.float32)
    x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    overlap = np.minimum((x + w)[:, None], (x + w)[None, :]) - np.maximum(x[:, None], x[None, :])
    gap = np.maximum(y[:, None], y[None, :]) - np.minimum((y + h)[:, None], (y + h)[None, :])
    taller = h[None, :] * TALLER > h[:, None]  # [i, j]: j is clearly taller than i
    similar = ~taller & ~taller.T
    tall = h >= min_h
    stacked = (similar & tall[:, None] & tall[None, :]
               & (overlap >= MAJOR_OVERLAP * np.minimum(w[:, None], w[None, :])))
    np.fill_diagonal(stacked, False)
    major = stacked & (gap <= MAJOR_GAP * np.maximum(h[:, None], h[None, :]))
    if ruled is not None:
        major |= _across_rule(b, stacked & ~major, ruled)
    # (a piece much wider than the digit is a leftover of a line, not a part of the digit)
    minor = (taller & (overlap >= MINOR_OVERLAP * w[:, None]) & (gap <= MINOR_GAP * h[None, :])
             & (w[:, None] <= MINOR_MAX_WIDTH * w[None, :]))
    distance = np.maximum(0, -overlap) + np.maximum(0, gap)
    sets = UnionFind(n)
    for i, j in zip(*np.nonzero(np.triu(major)), strict=True):
        sets.union(i, j)
    for i in np.flatnonzero(minor.any(axis=1)):
        sets.union(i, int(np.argmin(np.where(minor[i], distance[i], np.inf))))
    groups = []
    right, bottom = x + w, y + h
    for members in sets.groups():
        if len(members) == 1:  # most pieces are a digit alone: their own box
            groups.append((pieces[members[0]][0], [pieces[members[0]][1]]))
            continue
        x0, y0 = int(x[members].min()), int(y[members].min())
        x1, y1 = int(right[members].max()), int(bottom[members].max())
        groups.append(((x0, y0, x1 - x0, y1 - y0), [pieces[i][1] for i in members]))
    return groups


def _across_rule(b: np.ndarray, pairs: np.ndarray, ruled: np.ndarray) -> np.ndarray:
    """Which of ``pairs`` ([i, j] of boxes ``b``, one above the other) are the halves of a
    digit a horizontal rule was cut out of: the gap between them is all rule (so at most its
    thickness), over the columns they share."""
    out = np.zeros_like(pairs)
    x, y, w, h = (b[:, k].astype(int) for k in range(4))
    for i, j in zip(*np.nonzero(np.triu(pairs)), strict=True):
        top, low = (i, j) if y[i] < y[j] else (j, i)
        y0, y1 = y[top] + h[top], y[low]
        x0, x1 = max(x[i], x[j]), min(x[i] + w[i], x[j] + w[j])
        if 0 < y1 - y0 <= RULE_GAP and x1 > x0:
            # (the rule was taken out grown by a pixel each side)
            out[i, j] = out[j, i] = bool(ruled[y0 + 1:max(y0 + 2, y1 - 1), x0:x1].any(axis=1).all())
    return out


def _make_blob(mask: np.ndarray, box: tuple[int, int, int, int], contours: list, min_h: int,
               params: VisionParams) -> Blob | None:
    """The blob's own ink (other blobs inside its box excluded), if it is digit-shaped.

    A small blob cut by the frame's edge is dropped (a digit half out of view reads wrong, and
    table texture lies there); a big one is kept: a tightly cropped digit may touch the edge.
    """
    x, y, bw, bh = box
    h, w = mask.shape
    if bh < min_h or bw < MIN_WIDTH_PX or bw > RUN_ASPECT * bh \
            or bh > WHOLE_FRAME * h and bw > WHOLE_FRAME * w:
        return None
    cut = _at_border(box, mask.shape)
    if cut and bh < EDGE_CUT_KEEP * h and bw < EDGE_CUT_KEEP * w:
        return None
    own = _fill(mask, box, contours)
    ink = cv2.countNonZero(own)
    fill = ink / float(bw * bh)
    max_fill = 1.0 if bw < THIN_ONE * bh else params.max_fill
    if fill < params.min_fill or fill > max_fill:
        return None
    return Blob(box, own)

