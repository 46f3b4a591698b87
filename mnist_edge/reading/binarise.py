"""Step 3, binarise: ink is what is darker than ``1 - low`` of the paper around it.

The threshold is relative to the paper estimate (:mod:`~mnist_edge.reading.paper`), so shadows
and lighting gradients do not turn into ink; the blob's peak darkness is checked later against
``high`` (hysteresis, in :mod:`~mnist_edge.reading.crop`).
"""

from __future__ import annotations

import cv2
import numpy as np

from mnist_edge.reading.paper import DARK_PAPER, Paper
from mnist_edge.reading.params import DEFAULT_PARAMS, VisionParams


def binarise(work: np.ndarray, paper: Paper, params: VisionParams = DEFAULT_PARAMS
             ) -> np.ndarray:
    """uint8 0/255 mask of the pixels darker than ``1 - params.low`` times their paper.

    Paper that is itself nearly black (the dark table beyond the sheet) holds no ink.
    """
    thr = cv2.convertScaleAbs(paper.small, alpha=1.0 - params.low)
    thr[paper.small < DARK_PAPER] = 0
    return cv2.compare(work, paper.upsample(thr), cv2.CMP_LT)


def above(a: np.ndarray, threshold: float) -> np.ndarray:
    """uint8 0/255 mask of ``a > threshold`` (numpy: OpenCV's compare with a scalar mistakes
    arrays of 1 to 4 pixels for a Scalar and fails)."""
    return np.multiply(a > threshold, 255, dtype=np.uint8)
