"""Step 4b, level: a page turned more than :data:`LEVEL_FROM` degrees is turned level and read
again.

The line finder follows rules tilted up to about 15 degrees, but on a page held well askew it
takes out less of them: the short walls of a row of boxes and the stretches of a rule between
two digits stay behind as upright strokes read "1", and a grid whose rules were found in
pieces gives digits the wrong cells. On a page ruled both ways (:func:`ruled_both_ways`), the
horizontal rules' slope (:class:`~mnist_edge.reading.lines.Rules`) says how far the page is
turned; the working image turned back by that angle about its centre is read from the paper
estimate on, as an upright page is, and each box found is taken back to the frame as the
bounding box of its corners. Synthetic grids turned 12 and 15 degrees then read as upright
ones do (``benchmarks/reader.md``); upright frames, lined paper and the 317 development photos
(none of them ruled 5 degrees askew) are read once, as before.

The turned image keeps the frame's size (so sizes measured in shares of its shorter side stay
what they were); what turning moves past the frame's corners is not read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mnist_edge.reading.lines import Rules

LEVEL_FROM = 5.0  # degrees: a page turned less than this is read as it is
MIN_UPRIGHT = 2  # ...and one with fewer upright rules than this (a tall digit's stem across
#   lined paper) is no grid


def is_askew(rules: Rules) -> bool:
    """Whether the horizontal ``rules`` run :data:`LEVEL_FROM` degrees or more askew."""
    return rules.horizontal is not None and \
        abs(math.degrees(math.atan(rules.slope))) >= LEVEL_FROM


def ruled_both_ways(rules: Rules) -> bool:
    """Whether ``rules`` are a grid's, a table's or a row of boxes': horizontal ones and at
    least :data:`MIN_UPRIGHT` upright ones. An askew page is read turned level if it is so
    ruled as found, or once turned (a table turned 15 degrees may show no upright rule until
    it is level); lined paper, or the long bar of a 5 taken for a rule, is read as it is
    (turned level by a 5's bar, a row of handwritten digits on plain paper lost two of its
    three)."""
    return rules.horizontal is not None and rules.vertical is not None and \
        cv2.connectedComponents(rules.vertical)[0] - 1 >= MIN_UPRIGHT


@dataclass(frozen=True)
class Levelled:
    """A working image turned level, and the way back to the image it was turned from."""

    image: np.ndarray  # uint8 grey, the size of the original
    back: np.ndarray  # 2x3 affine: levelled pixels -> original pixels

    def box_back(self, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
        """A box of the levelled image as the bounding box of its corners in the original
        (x, y, w, h, not rounded: the caller rounds once, where it clips to the frame)."""
        x, y, w, h = box
        corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]],
                           np.float64) @ self.back.T
        (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
        return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def levelled(image: np.ndarray, slope: float) -> Levelled:
    """``image`` turned about its centre so that rules at ``slope`` (y per x) run level; the
    corners it turns in are filled with the nearest edge's pixels (paper, not ink)."""
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), math.degrees(math.atan(slope)), 1.0)
    upright = cv2.warpAffine(image, turn, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
    return Levelled(upright, cv2.invertAffineTransform(turn))
