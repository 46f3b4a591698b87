"""Step 4b, ink over rules: the strokes on a ruled line that are much darker than the line.

Taking a rule out of the ink mask takes with it every stroke lying on it; the step bridges the
strokes that cross it (:func:`~mnist_edge.reading.lines.remove_rules`), but a number written
across a faint line (a pencil rule, a crease in the page, a pale printed grid) loses its
strokes along the line: a crease through the middle of a grid's bottom row (a real photo)
took them with it, and the row read one digit of nine. Yet those strokes are ink of
writing's darkness on a line much lighter than that, and what is kept here is exactly that:
the pixels of a rule darker than the rule's own core nearby by most of writing's darkness
(``MARGIN`` times ``high``).

The rule's darkness is measured on the paper estimate's grid of blocks (about 60 on the
frame's shorter side): in each block, the darkest of the rule's pixels, each taken as the
darkest within ``ACROSS`` px across the line (its core: a block the rule only grazes with its
soft edge does not make it look faint); then the faintest such block within ``ALONG`` blocks
along the line (the digits lying on it do not make it look dark), a rule's last blocks left
out (its ends taper off, blurred). A printed grid as dark as its digits keeps nothing; where
two rules cross, the ink is darker than either, and nothing is kept there either. It costs
about 0.7 ms of a 640x480 grid page's reading (4%), and nothing where there is no rule.
"""

from __future__ import annotations

import cv2
import numpy as np

from mnist_edge.reading.lines import Rules, rect
from mnist_edge.reading.paper import Paper

ACROSS = 5  # px: a rule's core is the darkest of its pixels within this span across it
ALONG = 11  # blocks: its darkness is the faintest core within this span along it
MARGIN = 0.8  # a stroke kept is darker than the rule by this share of ``high``, and as dark
NO_RULE = 10.0  # a block's darkness where it holds no rule: never the faintest


def ink_over_rules(work: np.ndarray, paper: Paper, rules: Rules, ink: np.ndarray,
                   high: float) -> np.ndarray | None:
    """uint8 0/255 mask of the pixels of ``ink`` on ``rules`` much darker than the rule they
    lie on (and not on a rule of the other direction), or None if there are no rules."""
    out = None
    for lines, other, vertical in ((rules.horizontal, rules.vertical, False),
                                   (rules.vertical, rules.horizontal, True)):
        if lines is None:
            continue
        need = _threshold(work, paper, lines, vertical, high)
        keep = cv2.bitwise_and(cv2.compare(work, paper.upsample(need), cv2.CMP_LT),
                               cv2.bitwise_and(lines, ink))
        if other is not None:
            keep = cv2.bitwise_and(keep, cv2.bitwise_not(other))
        out = keep if out is None else cv2.bitwise_or(out, keep)
    return out


def _threshold(work: np.ndarray, paper: Paper, lines: np.ndarray, vertical: bool,
               high: float) -> np.ndarray:
    """The grey level (uint8, one per paper block) under which a pixel of ``lines`` is a
    stroke over the rule, not the rule."""
    bg = paper.small.astype(np.float32)
    sh, sw = bg.shape
    f = work.shape[0] // sh  # px: the side of a paper block
    only = cv2.max(work, cv2.bitwise_not(lines))  # the rules' pixels; paper-white elsewhere
    core = cv2.erode(only, rect(1, ACROSS) if not vertical else rect(ACROSS, 1))
    # the darkest core of each block (255: no rule in it); a block's window starts at its
    # top-left pixel, so its centre samples it
    block = cv2.erode(core, rect(f, f))[f // 2::f, f // 2::f][:sh, :sw]
    darkness = 1.0 - block.astype(np.float32) / np.maximum(bg, 1.0)
    darkness[~_inside(block < 255, vertical)] = NO_RULE
    faintest = cv2.erode(darkness, rect(ALONG, 1) if not vertical else rect(1, ALONG))
    need = np.maximum(np.minimum(faintest, 1.0) + MARGIN * high, high)
    return np.clip(bg * (1.0 - need), 0, 255).astype(np.uint8)


def _inside(ruled: np.ndarray, vertical: bool) -> np.ndarray:
    """The blocks holding a rule that goes on past them both ways: a rule's ends taper off,
    blurred, and would pass for a faint rule."""
    if vertical:
        ruled = ruled.T
    out = ruled.copy()
    out[:, 0] = out[:, -1] = False
    out[:, 1:-1] &= ruled[:, :-2] & ruled[:, 2:]
    return out.T if vertical else out
