"""Step 3, binarise: ink is what is darker than ``1 - low`` of the paper around it.

The threshold is relative to the paper estimate (:mod:`~mnist_edge.reading.paper`), so shadows
and lighting gradients do not turn into ink; the blob's peak darkness is checked later against
``high`` (hysteresis, in :mod:`~mnist_edge.reading.crop`).

Both thresholds follow the frame's own ink (:func:`ink_thresholds`): a soft, low-contrast
photo whose darkest ink is only 30% darker than its paper would otherwise lose its print.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from mnist_edge.reading.paper import DARK_PAPER, Paper, contrast
from mnist_edge.reading.params import DEFAULT_PARAMS, VisionParams

INK_SAMPLE = 4  # the frame's ink level is measured at 1/4 resolution (strokes averaged, not
INK_PERCENTILE = 99.9  # skipped) as this percentile of the pixels' darkness against their paper
LOW_SHARE = 0.45  # low is at most this share of the frame's ink level...
HIGH_SHARE = 0.7  # ...and high this share
MIN_LOW = 0.08  # but never below these: sensor noise and paper texture are not ink
MIN_HIGH = 0.12


def ink_thresholds(work: np.ndarray, paper: Paper, params: VisionParams = DEFAULT_PARAMS
                   ) -> VisionParams:
    """``params`` with ``low`` and ``high`` lowered for a frame whose ink is faint.

    The frame's ink level is a high percentile of every pixel's darkness against its paper,
    at 1/4 resolution (area-averaged, so a few thin strokes still count); thresholds are capped
    at shares of it, so faint print on a blurred photo is still ink, while a frame with black
    ink keeps the usual thresholds.
    """
    h, w = work.shape
    sample = cv2.resize(work, (max(1, w // INK_SAMPLE), max(1, h // INK_SAMPLE)),
                        interpolation=cv2.INTER_AREA)
    bg = cv2.resize(paper.small, (sample.shape[1], sample.shape[0]),
                    interpolation=cv2.INTER_LINEAR)
    dark = contrast(sample, bg).ravel()
    k = min(dark.size - 1, int(dark.size * INK_PERCENTILE / 100.0))
    level = near_top(dark, k)  # the percentile, without np.percentile's overhead
    low = min(params.low, max(MIN_LOW, LOW_SHARE * level))
    high = min(params.high, max(MIN_HIGH, HIGH_SHARE * level))
    if low == params.low and high == params.high:
        return params
    return dataclasses.replace(params, low=low, high=high)


def near_top(values: np.ndarray, k: int) -> float:
    """``np.partition(values, k)[k]`` (a flat array's k-th smallest) for a ``k`` near the top,
    from the values at or above a guess of it (a high rank of every 8th value) when at least
    ``size - k`` are: they hold it, at their own rank. A frame's 20 darkest of 19,200 are
    found in a hundred or so, at a sixth of the cost."""
    top = values.size - k  # the value sought is the top-th largest
    sample = values[::8]
    j = sample.size - min(sample.size, 2 * top // 8 + 2)  # (about 2 * top above it, expected)
    guess = np.partition(sample, j)[j]
    high = values >= guess
    count = int(np.count_nonzero(high))
    if top <= count <= values.size // 4:
        rank = count - top
        return float(np.partition(values[high], rank)[rank])
    if count >= top and guess == values.max():
        return float(guess)  # (no value above the guess: many equal to it, a blank frame)
    return float(np.partition(values, k)[k])  # (an unlucky sample)


def binarise(work: np.ndarray, paper: Paper, params: VisionParams = DEFAULT_PARAMS,
             share: float = 1.0) -> np.ndarray:
    """uint8 0/255 mask of the pixels darker than ``1 - share * params.low`` times their paper.

    Paper that is itself nearly black (the dark table beyond the sheet) holds no ink.
    ``share`` < 1 gives a fainter mask (the ruled-line step looks for faint rules in it).
    """
    thr = cv2.convertScaleAbs(paper.small, alpha=1.0 - share * params.low)
    thr[paper.small < DARK_PAPER] = 0
    return cv2.compare(work, paper.upsample(thr), cv2.CMP_LT)


def above(a: np.ndarray, threshold: float) -> np.ndarray:
    """uint8 0/255 mask of ``a > threshold`` (numpy: OpenCV's compare with a scalar mistakes
    arrays of 1 to 4 pixels for a Scalar and fails)."""
    return np.multiply(a > threshold, 255, dtype=np.uint8)
