"""Augmentation for a user's own crops (numpy + OpenCV), a fresh draw every epoch.

Why these and not MNIST's: crops a camera cuts from a meter or a display differ from each other
by a few pixels of placement, a little tilt, light (brightness, contrast, gamma), focus (blur),
sensor noise and JPEG compression; never by a mirror image (a flipped 2 is no digit, a flipped
6 is almost a 9), so there are no flips. It works on the prepared crops (light ink on black,
28x28 uint8), so the polarity normalisation has already happened; brightness and contrast are
varied around it because a real crop's normalisation is imperfect.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_SHIFT_PX = 2.0
MAX_ROTATION_DEG = 5.0
SCALE_RANGE = (0.92, 1.08)
GAIN_RANGE = (0.7, 1.15)  # contrast
OFFSET_RANGE = (-20.0, 25.0)  # brightness, on 0..255
GAMMA_RANGE = (0.7, 1.4)
P_BLUR, P_JPEG, P_NOISE = 0.35, 0.3, 0.4


def augment_crop(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One randomly varied copy of a (28, 28) uint8 crop."""
    h, w = crop.shape
    angle = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)
    matrix = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, rng.uniform(*SCALE_RANGE))
    matrix[:, 2] += rng.uniform(-MAX_SHIFT_PX, MAX_SHIFT_PX, 2)
    out = cv2.warpAffine(crop, matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.float32)
    out = 255.0 * (out / 255.0) ** rng.uniform(*GAMMA_RANGE)
    out = out * rng.uniform(*GAIN_RANGE) + rng.uniform(*OFFSET_RANGE)
    if rng.random() < P_BLUR:
        out = cv2.GaussianBlur(out, (3, 3), rng.uniform(0.4, 1.0))
    if rng.random() < P_NOISE:
        out = out + rng.normal(0.0, rng.uniform(3, 12), out.shape)
    out8 = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < P_JPEG:
        ok, buf = cv2.imencode(".jpg", out8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            out8 = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out8


def augment_crops(crops: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """A varied copy of every crop, the same for the same (seed, epoch): reproducible runs."""
    rng = np.random.default_rng([seed, epoch])
    return np.stack([augment_crop(c, rng) for c in crops]) if len(crops) else crops.copy()
