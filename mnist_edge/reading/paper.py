"""Step 2, estimate the paper: its brightness everywhere, ink removed; and ink's contrast to it.

A morphological closing at low resolution (a max then a min filter wider than any stroke)
removes the ink but keeps lighting gradients, shadows and the dark table beyond a paper edge, so
ink is found *relative to the paper around it* (:mod:`~mnist_edge.reading.binarise`).
"""

from __future__ import annotations

import cv2
import numpy as np

from mnist_edge.reading.params import DEFAULT_PARAMS, VisionParams

LOW_RES_SIDE = 60  # the estimate is made at about this many px on the frame's shorter side
DARK_PAPER = 24  # paper darker than this (grey level) is the table beyond the sheet: no ink


def estimate_paper(work: np.ndarray, params: VisionParams = DEFAULT_PARAMS) -> Paper:
    """The paper estimate of a working image (closing window ``params.background``)."""
    return Paper(work, params.background)


class Paper:
    """The paper's brightness everywhere, ink removed, kept at low resolution.

    A closing (max filter, then min filter) wider than any stroke replaces ink by the paper
    around it, while regions wider than the window (a shadow, the table beyond the paper's
    edge) keep their own level, so their borders do not turn into fake ink. It runs at 1/f
    resolution (80x60 for a 640x480 frame), where it costs a few microseconds; full-resolution
    values are interpolated only where needed: the ink threshold and the digits' boxes.
    """

    def __init__(self, gray: np.ndarray, fraction: float = DEFAULT_PARAMS.background) -> None:
        h, w = gray.shape
        self.shape = (h, w)
        f = max(1, min(h, w) // LOW_RES_SIDE)
        small = gray if f == 1 else cv2.resize(
            gray, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA
        )
        k = max(3, int(round(fraction * min(h, w) / f)) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
        # smooth the blocks, then let dark regions (the table) win by one low-res pixel: the
        # interpolated edge then falls on the paper, where nothing is darker than the estimate,
        # instead of leaving a fake dark band on the table along the paper's edge
        self.small = cv2.erode(cv2.blur(bg, (3, 3)), np.ones((3, 3), np.uint8),
                               borderType=cv2.BORDER_REPLICATE)
        self._small_f = self.small.astype(np.float32)
        self._sx = self.small.shape[1] / w
        self._sy = self.small.shape[0] / h

    def roi(self, x: int, y: int, w: int, h: int, size: tuple[int, int] | None = None
            ) -> np.ndarray:
        """The estimate (float32) over the box x, y, w, h, interpolated from the low-resolution
        estimate without upsampling the whole frame; sampled at ``size`` (width, height) if
        given."""
        ow, oh = size or (w, h)
        fx, fy = self._sx * w / ow, self._sy * h / oh
        m = np.float32([[fx, 0, x * self._sx + 0.5 * fx - 0.5],
                        [0, fy, y * self._sy + 0.5 * fy - 0.5]])
        return cv2.warpAffine(self._small_f, m, (ow, oh),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def roi_bound(self, x: int, y: int, w: int, h: int) -> float:
        """At least the largest value :meth:`roi` gives over the box x, y, w, h: the largest
        low-resolution value the interpolation can draw on (the box's blocks and one more
        each way), a thousandth of its rounding added. Without interpolating: a box whose
        darkest pixel is not dark enough against this is not dark enough anywhere."""
        sh, sw = self.small.shape
        x0, y0 = max(0, int(x * self._sx) - 1), max(0, int(y * self._sy) - 1)
        x1, y1 = min(sw, int((x + w) * self._sx) + 2), min(sh, int((y + h) * self._sy) + 2)
        return float(self.small[y0:y1, x0:x1].max()) * (1.0 + 1e-3)

    def upsample(self, a: np.ndarray) -> np.ndarray:
        """A low-resolution map (same shape as ``small``) at the working image's size."""
        h, w = self.shape
        return a if a.shape == (h, w) else cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)


def contrast(gray: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Relative darkness (float32): 0 on paper, ~0.7 on black ink, negative where brighter."""
    bg = cv2.max(paper.astype(np.float32, copy=False), 1.0)
    return cv2.divide(cv2.subtract(bg, gray.astype(np.float32)), bg)
