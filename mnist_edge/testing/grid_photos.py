"""The real grid photos in ``../shared/data/grid_photos`` (never copied into the repository).

160 phone photos of newspaper sudoku grids, printed (``v2/``) and completed by hand
(``mixed/``), with every cell's truth and the grid's corners: the development split of
wichtounet/sudoku_dataset (B. Wicht, J. Hennebert, SoCPaR 2014; CC-BY-4.0). :func:`photos`
lists them; :func:`score_photo` maps each reported digit's centre to a cell through the
homography of the grid's corners and compares with the truth, as the issue measures.

The *reading* benchmark (issue 14) takes detection out: :func:`cells` cuts every digit out of
its cell through the true grid (the homography of ``corners.csv`` onto a 9x9 square, the cell at
the photo's own resolution, a thin margin where the lines run trimmed, padded with the cell's
own paper colour), so the reader sees one digit on a sheet of paper; :func:`evaluate` runs a
reader on them and counts read right / missed / misread per kind (printed: in the ``v2``
puzzle; handwritten: only in the completed ``mixed`` grid). Figures measured on these photos,
and models trained on them, credit the dataset (:data:`CREDIT`).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "grid_photos"
KINDS = ("v2", "mixed")  # printed only; printed + handwritten
CREDIT = ("grid photos: wichtounet/sudoku_dataset (B. Wicht, J. Hennebert, SoCPaR 2014), "
          "CC-BY-4.0")


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


# ---------------------------------------------------------------------------------------------
# digits cut out through the true grid (reading without detection)

DIGIT_KINDS = ("printed", "handwritten")


@dataclass(frozen=True)
class Cell:
    """One digit cut out of a photo: the padded BGR image, its truth and where it came from."""

    image: np.ndarray  # BGR uint8
    label: int
    kind: str  # "printed" or "handwritten"
    photo: str  # e.g. "mixed/image12.jpg"
    row: int
    col: int


def number(path: Path) -> int:
    """The photo's number (``image12.jpg`` -> 12; -1 if none): even and odd split the set."""
    m = re.search(r"(\d+)", Path(path).stem)
    return int(m.group(1)) if m else -1


def cell_side(corners: np.ndarray) -> int:
    """The cell's side (px) at the photo's own resolution: the grid's mean side over 9."""
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    return max(8, int(round(float(sides.mean()) / 9)))


def paper_colour(cell: np.ndarray) -> np.ndarray:
    """The paper's BGR colour in a cell: the median colour of its brighter half."""
    gray = cv2.cvtColor(cell, cv2.COLOR_BGR2GRAY)
    bright = gray >= np.percentile(gray, 60)
    return np.median(cell[bright], axis=0)


def cut_cell(image: np.ndarray, corners: np.ndarray, row: int, col: int, *,
             margin: float = 0.1, pad: float = 0.5) -> np.ndarray:
    """Cell (row, col) of ``image`` warped to a square, ``margin`` of its side trimmed on each
    side (the grid's lines), padded by ``pad`` of its side with its own paper colour."""
    s = cell_side(corners)
    square = np.float32([[0, 0], [9 * s, 0], [9 * s, 9 * s], [0, 9 * s]])
    h = cv2.getPerspectiveTransform(np.float32(corners), square)
    m = int(round(margin * s))
    inner = s - 2 * m
    shift = np.float64([[1, 0, -(col * s + m)], [0, 1, -(row * s + m)], [0, 0, 1]])
    cell = cv2.warpPerspective(image, shift @ h, (inner, inner), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
    p = int(round(pad * s))
    colour = [float(v) for v in paper_colour(cell)]
    return cv2.copyMakeBorder(cell, p, p, p, p, cv2.BORDER_CONSTANT, value=colour)


def cells(photo_list: Iterable[GridPhoto], kinds: tuple[str, ...] = DIGIT_KINDS, **cut: float
          ) -> Iterator[Cell]:
    """Every digit of the photos (of ``kinds``) cut out of its cell, in reading order."""
    for photo in photo_list:
        image = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot read {photo.path}")
        name = f"{photo.path.parent.name}/{photo.path.name}"
        for r in range(9):
            for c in range(9):
                label = int(photo.truth[r, c])
                if label == 0:
                    continue
                kind = "printed" if photo.printed[r, c] else "handwritten"
                if kind in kinds:
                    yield Cell(cut_cell(image, photo.corners, r, c, **cut), label, kind, name,
                               r, c)


@dataclass
class Tally:
    """Read right, missed (nothing reported), misread; plus cells with more than one report."""

    right: int = 0
    missed: int = 0
    misread: int = 0
    extra: int = 0  # cells where the reader reported more than one digit
    confusions: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.right + self.missed + self.misread

    def add(self, truth: int, label: int | None, n_reported: int) -> None:
        if label is None:
            self.missed += 1
        elif label == truth:
            self.right += 1
        else:
            self.misread += 1
            self.confusions[(truth, label)] = self.confusions.get((truth, label), 0) + 1
        if n_reported > 1:
            self.extra += 1

    def row(self) -> dict[str, float | int]:
        n = max(self.total, 1)
        return {"n": self.total, "right": round(self.right / n, 4),
                "missed": round(self.missed / n, 4), "misread": round(self.misread / n, 4),
                "extra": self.extra}


Reading = list[tuple[int, tuple[int, int, int, int]]]  # (label, box) per reported digit


def central_label(reading: Reading, shape: tuple[int, ...]) -> int | None:
    """The label of the reported digit nearest the cell's centre, None if nothing was reported
    (the digit a cell holds is the one in its middle; a second report is counted apart)."""
    if not reading:
        return None
    cy, cx = shape[0] / 2, shape[1] / 2

    def distance(item: tuple[int, tuple[int, int, int, int]]) -> float:
        x, y, w, h = item[1]
        return float(np.hypot(x + w / 2 - cx, y + h / 2 - cy))

    return min(reading, key=distance)[0]


def evaluate(read: Callable[[np.ndarray], Reading], cell_iter: Iterable[Cell]
             ) -> dict[str, Tally]:
    """Run ``read`` (frame -> [(label, box)]) on every cell; a :class:`Tally` per kind."""
    tallies = {k: Tally() for k in DIGIT_KINDS}
    for cell in cell_iter:
        reading = read(cell.image)
        tallies[cell.kind].add(cell.label, central_label(reading, cell.image.shape),
                               len(reading))
    return tallies
