"""The real grid photos in ``../shared/data/grid_photos`` (never copied into the repository).

160 phone photos of newspaper sudoku grids, printed (``v2/``) and completed by hand
(``mixed/``), with every cell's truth and the grid's corners: the development split of
wichtounet/sudoku_dataset (B. Wicht, J. Hennebert, SoCPaR 2014; CC-BY-4.0). :func:`photos`
lists them; :func:`score_photo` maps each reported digit's centre to a cell through the
homography of the grid's corners and compares with the truth, as the issue measures.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "grid_photos"
KINDS = ("v2", "mixed")  # printed only; printed + handwritten


@dataclass(frozen=True)
class GridPhoto:
    """One photo: its file, the 9x9 truth (0 = empty), corners (4x2) and printed cells."""

    path: Path
    truth: np.ndarray
    corners: np.ndarray
    printed: np.ndarray  # bool 9x9: the digit is printed (empty in the v2 twin otherwise)


def root() -> Path:
    """Where the photos are: ``$MNIST_EDGE_GRID_PHOTOS`` or ``../shared/data/grid_photos``."""
    return Path(os.environ.get("MNIST_EDGE_GRID_PHOTOS", DEFAULT_ROOT))


def photos(kind: str, folder: Path | None = None) -> list[GridPhoto]:
    """The photos of ``kind`` ("v2" or "mixed") that have corners, sorted by name."""
    base = folder or root()
    corners = _corners(base / "corners.csv")
    out = []
    for p in sorted((base / kind).glob("*.jpg")):
        if p.name not in corners:
            continue
        truth = _truth(p)
        twin = base / "v2" / p.name
        printed = (_truth(twin) if twin.exists() else truth) > 0
        out.append(GridPhoto(p, truth, corners[p.name], printed))
    return out


def _corners(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as f:
        return {r["filepath"]: np.float32([[float(r[f"p{i}_x"]), float(r[f"p{i}_y"])]
                                           for i in range(1, 5)])
                for r in csv.DictReader(f)}


def _truth(photo: Path) -> np.ndarray:
    lines = photo.with_suffix(".dat").read_text().split("\n")
    return np.array([[int(v) for v in row.split()] for row in lines[2:11]])


@dataclass
class PhotoScore:
    """Digits of grid cells read right, printed and handwritten; false digits; whole grids."""

    digits: int = 0
    right: int = 0
    printed: int = 0
    printed_right: int = 0
    false: int = 0  # digits in empty cells, extra digits in a cell, misreads
    grids: int = 0
    perfect: int = 0
    cells: int = 0  # digits reported in the right (row, column) by the reader itself
    found: int = 0  # cells with a digit where something was reported

    def add(self, other: PhotoScore) -> None:
        for k, v in vars(other).items():
            if isinstance(v, int):
                setattr(self, k, getattr(self, k) + v)

    def summary(self) -> dict:
        hand = self.digits - self.printed
        return {"digits": self.digits, "grids": self.grids,
                "read": _share(self.right, self.digits),
                "printed": _share(self.printed_right, self.printed),
                "handwritten": _share(self.right - self.printed_right, hand),
                "found": _share(self.found, self.digits),
                "false_per_100": round(100.0 * self.false / max(1, self.digits), 2),
                "grids_perfect": _share(self.perfect, self.grids),
                "cells": _share(self.cells, self.digits)}


def _share(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def score_photo(photo: GridPhoto, digits: Iterable) -> PhotoScore:
    """Score the reader's digits (objects with ``label``, ``box`` and ``cell``) on one photo."""
    digits = list(digits)
    homography = cv2.getPerspectiveTransform(
        photo.corners, np.float32([[0, 0], [9, 0], [9, 9], [0, 9]]))
    centres = np.float32([[d.box[0] + d.box[2] / 2, d.box[1] + d.box[3] / 2]
                          for d in digits]).reshape(-1, 1, 2)
    where = cv2.perspectiveTransform(centres, homography).reshape(-1, 2) if digits else []
    got: dict[tuple[int, int], list] = {}
    for d, (col, row) in zip(digits, where, strict=True):
        if 0 <= row < 9 and 0 <= col < 9:
            got.setdefault((int(row), int(col)), []).append(d)
    s = PhotoScore(grids=1)
    for r in range(9):
        for c in range(9):
            labels = [d.label for d in got.get((r, c), [])]
            t = int(photo.truth[r, c])
            if not t:
                s.false += len(labels)
                continue
            ok = labels == [t]
            s.digits += 1
            s.right += ok
            s.found += bool(labels)
            s.printed += bool(photo.printed[r, c])
            s.printed_right += ok and bool(photo.printed[r, c])
            s.false += max(0, len(labels) - 1) + (bool(labels) and t not in labels)
            cell = got[(r, c)][0].cell if labels else None
            s.cells += ok and cell is not None and tuple(cell[1:]) == (r, c)
    s.perfect = int(s.right == s.digits and s.false == 0)
    return s
