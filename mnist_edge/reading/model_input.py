"""How a crop becomes a model's input, as its sidecar says (TensorFlow-free).

Two kinds of model live side by side:

* ``mnist`` (the shipped models, and every model trained on MNIST): the reader finds digit blobs
  in a frame and crops them the MNIST way (:mod:`mnist_edge.reading.crop`); ten outputs named
  ``0``-``9``;
* ``crop`` (models trained on a folder of the user's own crops, ``train --data DIR``): each input
  is a whole crop (a meter's counter wheel, a seven-segment digit...) that
  :func:`prepare_crops` turns into the model's input, and the outputs carry the class-folder
  names (``0``-``9``, ``N``, ``blank``...).

The recipe is recorded in the model's sidecar (``<model>.json`` beside the ``.tflite`` or the
``.h5``) under ``"labels"`` and ``"preprocessing"``, so ``convert``, ``evaluate``, ``predict``,
``webcam`` and ``collect`` all prepare a crop exactly as training did, without extra flags.
The same function runs in training and on the device: a crop prepared differently in the two
places would be a silent accuracy loss.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from mnist_edge.reading.normalise import to_gray

INPUT_SIZE = 28
STRETCH_PERCENTILES = (2.0, 98.0)
CROP_PREPROCESSING: dict[str, Any] = {
    "kind": "crop", "size": [INPUT_SIZE, INPUT_SIZE], "channels": 1, "polarity": "auto",
    "resize": "fit", "contrast": "stretch", "ink": "light",
}


def light_ink(gray: np.ndarray) -> np.ndarray:
    """The crop with light ink on a dark background, whichever way it came.

    Why the median: ink covers the smaller part of a crop cut around its symbol, so the median
    pixel is background. When it lies in the bright half of the crop's range, the ink is dark
    and the crop is inverted. Crops then look like MNIST (light strokes on black), so a
    fine-tuned MNIST model keeps what it knew, and light-on-dark and dark-on-light meters train
    as one class. (The outer ring, the other cue, fails on a counter wheel caught between two
    digits, whose strokes reach the top and bottom edges.)"""
    lo, hi = np.percentile(gray, STRETCH_PERCENTILES)
    return 255 - gray if float(np.median(gray)) > (lo + hi) / 2 else gray


def stretch(gray: np.ndarray) -> np.ndarray:
    """Contrast stretched to 0..255 between robust percentiles: a dim, hazy or over-exposed
    crop looks like a clean one (a flat crop, e.g. ``blank``, stays flat, not noise blown up)."""
    lo, hi = np.percentile(gray, STRETCH_PERCENTILES)
    if hi - lo < 8:
        return np.zeros_like(gray) if hi < 128 else np.full_like(gray, 255)
    out = (gray.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def fit(gray: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Resized to fit ``size`` x ``size`` keeping its aspect, centred on black: a tall meter
    digit stays tall, as a digit is in MNIST."""
    h, w = gray.shape
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(gray, (nw, nh), interpolation=interp)
    out = np.zeros((size, size), np.uint8)
    y, x = (size - nh) // 2, (size - nw) // 2
    out[y : y + nh, x : x + nw] = small
    return out


def prepare_crop(image: np.ndarray, preprocessing: dict[str, Any] | None = None) -> np.ndarray:
    """One crop (any size, colour or grey) as the model's input: (28, 28) uint8, light ink.

    Grey first, then polarity (so the percentiles see ink as the bright end), then contrast,
    then the resize (so stretching is done at full resolution)."""
    prep = preprocessing or CROP_PREPROCESSING
    size = int((prep.get("size") or [INPUT_SIZE])[0])
    gray = to_gray(image)
    polarity = prep.get("polarity", "auto")
    if polarity == "auto":
        gray = light_ink(gray)
    elif polarity == "dark":  # the user's crops are all dark ink on light
        gray = 255 - gray
    if prep.get("contrast", "stretch") == "stretch":
        gray = stretch(gray)
    return fit(gray, size)


def prepare_crops(images: list[np.ndarray], preprocessing: dict[str, Any] | None = None
                  ) -> np.ndarray:
    """:func:`prepare_crop` for a list: (N, 28, 28) uint8, ready for ``Classifier.predict``."""
    if not images:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8)
    return np.stack([prepare_crop(im, preprocessing) for im in images])
