"""A second look at the crops the model is unsure of: each is read again shifted by one pixel
left, right, up and down, and the five readings are averaged.

Why: where the model is sure, a pixel's shift does not change its answer. Where it is unsure (a
blurred printed 6 between 5 and 8, a hurried 2 between 1 and 7) a misreading is often a knife-edge
that tips the other way when the digit moves a pixel, while a right reading mostly holds; the
average of the five readings is steadier than any one of them (test-time augmentation, spent only
where it can change the answer). On grid photos the model never saw, it drops about one false
digit in ten and reads as many right (``scripts/bench_reader.py``); it costs an interpreter call
for the few unsure crops of a frame, none for a frame whose crops are all sure.

Only the MNIST-style crop (:mod:`.crop`) gets it, where it was measured; and only a blob read
whole, not the pieces of touching digits cut apart: those were chosen together, on how sure the
model was of them all at first, and one piece re-judged alone could leave the cut a digit short.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

UNSURE = 0.75  # crops whose best class scores under this are read again
SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # (x, y) pixels each unsure crop is moved by


def shifted(crops: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``crops`` (N, H, W) moved ``dx`` pixels right and ``dy`` down; what moves in is
    background (0: a crop's ink is bright on black)."""
    out = np.zeros_like(crops)
    h, w = crops.shape[1:3]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        crops[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def second_look(probs: np.ndarray, crops: np.ndarray,
                classify: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``probs`` (N, classes) of ``crops`` (N, H, W) with each unsure crop's row replaced by the
    mean of its reading and its :data:`SHIFTS`' readings (one ``classify`` call for them all;
    none when every crop is sure). Sure rows are returned as they were."""
    unsure = np.flatnonzero(probs.max(axis=1) < UNSURE)
    if len(unsure) == 0:
        return probs
    moved = np.concatenate([shifted(crops[unsure], dx, dy) for dx, dy in SHIFTS])
    again = classify(moved).reshape(len(SHIFTS), len(unsure), -1)
    out = probs.copy()
    out[unsure] = (probs[unsure] + again.sum(axis=0)) / (len(SHIFTS) + 1)
    return out
