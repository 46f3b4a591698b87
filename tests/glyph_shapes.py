"""Shape checks on rendered digits, shared by the font and model tests: print styles MNIST
never had (a serif "1" with a foot, a closed "4")."""

from __future__ import annotations

import numpy as np


def has_foot(one: np.ndarray) -> bool:
    """A "1" with a foot: its bottom rows hold much more ink than its middle row."""
    ink = one > 0.5
    return ink[-3:].sum(axis=1).max() > 2.0 * ink[ink.shape[0] // 2].sum()


def closed_four(four: np.ndarray) -> bool:
    """A "4" closed at the top: ink at the top right, none at the top left."""
    ink = four > 0.5
    return bool(ink[:6, ink.shape[1] // 2:].any() and ink[:6, : ink.shape[1] // 3].sum() == 0)
