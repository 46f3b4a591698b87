"""Turn a camera frame into MNIST-like digit crops: pure numpy + OpenCV, no TensorFlow.

:func:`find_digits` runs these steps in order, one module each (tunables in
:class:`~mnist_edge.reading.params.VisionParams` or named constants beside the step):

1. :mod:`~mnist_edge.reading.normalise`: any image to uint8 grey at working size
   (``invert``: light ink on a dark surface becomes dark ink on light paper);
2. :mod:`~mnist_edge.reading.paper`: estimate the paper's brightness everywhere, ink removed;
3. :mod:`~mnist_edge.reading.binarise`: ink is what is clearly darker than its paper;
4. :mod:`~mnist_edge.reading.blobs`: digit-shaped blobs, lines cut out, fragments glued;
5. :mod:`~mnist_edge.reading.crop`: each blob dark enough to be writing, cropped like MNIST.

A new step is a module with one function of the same shape, called at its place in
:func:`find_digits`. The reader then classifies all crops of a frame in one interpreter call,
and reports the digits in :func:`reading_order`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_edge.reading.binarise import binarise
from mnist_edge.reading.blobs import find_blobs
from mnist_edge.reading.crop import MNIST_SIZE, crop_blobs
from mnist_edge.reading.normalise import normalise
from mnist_edge.reading.paper import estimate_paper
from mnist_edge.reading.params import DEFAULT_PARAMS, VisionParams

__all__ = ["DEFAULT_PARAMS", "Candidates", "VisionParams", "find_digits", "reading_order"]

MIN_WORK_SIDE = 8  # a working image narrower than this (px) holds no digit


@dataclass(frozen=True)
class Candidates:
    """What :func:`find_digits` returns: crops for the model and boxes in frame pixels."""

    crops: np.ndarray  # (N, 28, 28) uint8
    boxes: list[tuple[int, int, int, int]]  # x, y, w, h in the input frame's pixels


def find_digits(frame: np.ndarray, invert: bool = False,
                params: VisionParams = DEFAULT_PARAMS) -> Candidates:
    """Every digit-like blob in ``frame`` as an MNIST crop plus its box in frame pixels.

    ``invert=False`` reads dark ink on light paper; ``True`` light ink on a dark surface.
    Never raises for an image-shaped array (see
    :func:`~mnist_edge.reading.normalise.to_gray`); a blank frame gives nothing.
    """
    working = normalise(frame, invert, params)
    work = working.image
    if min(work.shape) < MIN_WORK_SIDE:
        return Candidates(np.zeros((0, MNIST_SIZE, MNIST_SIZE), np.uint8), [])
    paper = estimate_paper(work, params)
    mask = binarise(work, paper, params)
    blobs = find_blobs(mask, params)
    found = crop_blobs(work, paper, blobs, params)
    crops = [crop for _, crop in found]
    boxes = [_to_frame(blob.box, working.scale, *working.frame_size) for blob, _ in found]
    arr = np.stack(crops) if crops else np.zeros((0, MNIST_SIZE, MNIST_SIZE), np.uint8)
    return Candidates(arr, boxes)


def _to_frame(box: tuple[int, int, int, int], scale: float, w: int, h: int
              ) -> tuple[int, int, int, int]:
    """A working-image box in the original frame's pixels, clipped to the frame."""
    x, y, bw, bh = (v / scale for v in box)
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def reading_order(boxes: list[tuple[int, int, int, int]]) -> list[int]:
    """Indices of ``boxes`` in reading order: rows top to bottom, left to right in each row.

    A box joins a row when its vertical centre lies within the row's vertical extent.
    """
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][1] + boxes[i][3] / 2)
    rows: list[list[int]] = []
    spans: list[list[float]] = []
    for i in order:
        x, y, w, h = boxes[i]
        centre = y + h / 2
        for row, span in zip(rows, spans, strict=True):
            if span[0] <= centre <= span[1]:
                row.append(i)
                span[0], span[1] = min(span[0], y), max(span[1], y + h)
                break
        else:
            rows.append([i])
            spans.append([float(y), float(y + h)])
    return [i for row in rows for i in sorted(row, key=lambda i: boxes[i][0])]
