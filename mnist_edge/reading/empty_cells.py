"""Step 8b, empty cells: a second look, inside a found grid, at the cells where nothing was read
(and those where only a sliver was: :func:`sliver_cells`).

The frame's thresholds are set for the whole page: a small or pale digit (a faded print, a
light pen, a cell in a photo's soft corner) can stay under them while its neighbours read
well. A grid tells where a digit may be: the middle of a cell, about as tall as a third of
it or more, clear of the cell's rules. So each empty cell's middle is thresholded again at
its own ink level, and the one digit-sized piece found there, if it stands well above the
cell's paper grain, becomes a blob cropped with thresholds lowered to that level. What the
model is then unsure of is dropped by the reader's confidence rule, as for any blob.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from mnist_edge.reading.binarise import HIGH_SHARE, MIN_LOW, above
from mnist_edge.reading.blobs import Blob
from mnist_edge.reading.cells import Cell, Grid, crossing
from mnist_edge.reading.crop import ink_level
from mnist_edge.reading.lines import STRAIGHT
from mnist_edge.reading.paper import Paper, contrast
from mnist_edge.reading.params import VisionParams

INSET = 0.14  # share of a cell's size left out along each of its rules
MIN_LEVEL = 0.12  # a cell whose darkest ink is fainter than this (relative) is empty
LEVEL_SHARE = 0.5  # the cell's ink is what is darker than this share of its ink level
SNR = 7.0  # ...and that level must be this many times the spread of the cell's paper (8: 25 soft
#   printed digits in true-shape grids of the even photos were left out; 6: false digits rose)
MIN_HEIGHT = 0.34  # a digit is at least this share of its cell's height...
MIN_PX = 6  # ...and this many pixels
PIECE = 0.1  # pieces shorter than this share of the cell are grain, not strokes
GRAIN_CLEAR = np.ones((5, 5), np.uint8)  # the paper's grain is measured this far from the ink:
#   a blurred digit's halo stays above the paper's grain for 2 px (3x3: the halo counted as
#   grain, and 12 pale or soft digits of the development photos were taken for texture)
ALONG_EDGE = 0.6  # a piece along the searched box's edge for this share of it is a rule's
THIN_ACROSS = 0.25  # ...and so is one from edge to edge across it, thinner than this share
MAX_CELLS = 400  # grids with more cells than this are not searched (a page of squared paper)
MAX_CELL_ASPECT = 4.0  # nor cells longer than this times their width (lined paper's bands)
MAX_CELL_SIDE = 0.3  # nor cells taller or wider than this share of the frame's shorter side
SLIVER = 0.6  # a cell's one blob narrower than this share of its height may be a digit's core,
SHORT = 0.75  # ...or one shorter than this share of its grid's median blob...
WIDER = 1.5  # ...when the cell's own ink level finds ink this many times wider around it,
LARGER = 2.0  # ...or this many times its area, and no wider than this share of its grid's
WIDEST = 1.4  #   typical blob


def faint_digits(work: np.ndarray, paper: Paper, params: VisionParams, grids: list[Grid],
                 taken: set[Cell]) -> list[tuple[Blob, VisionParams]]:
    """A blob in each cell of ``grids`` not in ``taken`` that holds a faint or small digit,
    with the thresholds its crop should use (the frame's, lowered to the cell's ink as
    :func:`~.binarise.ink_thresholds` lowers them to a faint frame's)."""
    out = []
    for g, grid in enumerate(grids):
        rows, cols = grid.shape
        if rows * cols > MAX_CELLS:
            continue
        cells = _Cells(_corners(grid), work.shape)
        for r in range(rows):
            for c in range(cols):
                if (g, r, c) in taken or not cells.searched[r, c]:
                    continue
                found = _cell_blob(work, paper, cells, r, c)
                if found is not None:
                    blob, level = found
                    low = max(MIN_LOW, LEVEL_SHARE * level)
                    out.append((blob, dataclasses.replace(
                        params, low=min(params.low, low),
                        high=min(params.high, HIGH_SHARE * level))))
    return out


def sliver_cells(boxes: list[tuple[int, int, int, int]], cells: list[Cell | None],
                 whole_only: list[bool], sizes: dict[int, tuple[float, float]]
                 ) -> dict[Cell, int]:
    """The cells whose one blob, read whole only, is a sliver: narrower than :data:`SLIVER`
    of its height, or shorter than :data:`SHORT` of its grid's typical blob (``sizes``, from
    :func:`~.cells.grid_sizes`). Cell -> the blob's index.

    A soft, pale print 8 or 9 (a photo's blurred corner) can have one dark stroke that passes
    the page's thresholds while the rest stays under them: the piece read "1"; a red 7, a stem
    darker than its bar; a pale 2, a base paler than the rest. Looked at on its own, like an
    empty cell, the cell shows the whole digit around it (:func:`widens`), which is then read
    instead. (Offered to the model as a second reading, the sliver won where both read at the
    int8 cap, "1" against a right "7"; read instead, a true "1" reads 1 still: 32 of the 40
    narrow slivers of the odd photos read the same either way, with the model trained on the
    even ones, and the other 8 were digits the sliver misread.)"""
    count: dict[Cell, int] = {}
    for c in cells:
        if c is not None:
            count[c] = count.get(c, 0) + 1
    return {c: i for i, (box, c, alone) in enumerate(zip(boxes, cells, whole_only, strict=True))
            if alone and c is not None and count[c] == 1
            and (box[2] < SLIVER * box[3] or box[3] < SHORT * sizes.get(c[0], (0, 0))[1])}


def widens(box: tuple[int, int, int, int], sliver: tuple[int, int, int, int],
           typical: tuple[float, float] | None) -> bool:
    """Is ``box`` (a cell's own look) the digit around ``sliver``: holding its centre, no
    smaller either way, much larger (:data:`WIDER` times as wide, or :data:`LARGER` times its
    area), and no wider than :data:`WIDEST` times its grid's ``typical`` blob? (In a cell
    turned 15 degrees, the cell's own look also takes in the rules crossing its corners.)"""
    x, y, w, h = box
    sx, sy, sw, sh = sliver
    larger = w >= WIDER * sw or w * h >= LARGER * sw * sh
    return (larger and w >= sw and h >= sh and x <= sx + sw / 2 <= x + w
            and y <= sy + sh / 2 <= y + h and (typical is None or w <= WIDEST * typical[0]))


def _corners(grid: Grid) -> np.ndarray:
    """(rows + 1, cols + 1, 2) x, y where each horizontal rule crosses each vertical one."""
    return np.array([[crossing(h, v) for v in grid.cols] for h in grid.rows], np.float64)


class _Cells:
    """Where to look in each cell of a grid (``corners``: :func:`_corners`) of a working image
    of ``shape``, worked out for all cells at once (a page of cells costs a few numpy passes,
    not a few dozen small ones a cell). Arrays (rows, cols, ...):

    ``height``: the cell's box's height; ``searched``: whether the cell can hold one digit and
    its inset middle ``box`` (x0, y0, x1, y1) is big enough; ``inner``: the inset middle's
    corners in that box's pixels; ``level``: whether the cell is turned less than
    ``STRAIGHT`` (its box is its middle)."""

    def __init__(self, corners: np.ndarray, shape: tuple[int, int]) -> None:
        h, w = shape
        # each cell's corners, row by row: top left, top right, bottom left, bottom right
        quads = np.stack([corners[:-1, :-1], corners[:-1, 1:], corners[1:, :-1],
                          corners[1:, 1:]], axis=2)
        size = quads.max(axis=2) - quads.min(axis=2)
        cw, ch = size[..., 0], size[..., 1]
        longer, shorter = np.maximum(cw, ch), np.minimum(cw, ch)
        # not a cell for one digit: a band of lined paper, a frame round a page
        digit = ~((longer > MAX_CELL_ASPECT * shorter) | (longer > MAX_CELL_SIDE * min(h, w)))
        middle = quads.mean(axis=2, keepdims=True)
        inner = middle + (1 - 2 * INSET) * (quads - middle)  # (a level cell: its box, inset)
        low = np.maximum(0, inner.min(axis=2).astype(int))
        high = np.minimum((w, h), inner.max(axis=2).astype(int))
        self.box = np.concatenate([low, high], axis=2)
        self.height = ch
        self.searched = digit & ((high - low) >= MIN_PX).all(axis=2)
        self.inner = inner - low[:, :, None, :]
        top = self.inner[:, :, 1] - self.inner[:, :, 0]
        side = self.inner[:, :, 2] - self.inner[:, :, 0]
        self.level = (np.abs(top[..., 1]) <= STRAIGHT * np.abs(top[..., 0])) \
            & (np.abs(side[..., 0]) <= STRAIGHT * np.abs(side[..., 1]))


def _cell_blob(work: np.ndarray, paper: Paper, cells: _Cells, row: int, col: int
               ) -> tuple[Blob, float] | None:
    """The digit-sized piece in the middle of cell ``row``, ``col`` of ``cells`` (and the
    cell's ink level), or None for an empty cell."""
    bx0, by0, bx1, by1 = (int(v) for v in cells.box[row, col])
    ch = cells.height[row, col]
    box = work[by0:by1, bx0:bx1]
    # (most cells are empty: their darkest pixel, against the brightest paper the estimate
    # can give there, is no ink, and no contrast need be computed)
    if 1.0 - cv2.minMaxLoc(box)[0] / max(1.0, paper.roi_bound(bx0, by0, bx1 - bx0, by1 - by0)) \
            < MIN_LEVEL:
        return None
    c = contrast(box, paper.roi(bx0, by0, bx1 - bx0, by1 - by0))
    inside = None if cells.level[row, col] else _inside(cells.inner[row, col], c.shape)
    if inside is not None:
        c[~inside] = 0
    level = float(c.max())
    if level < MIN_LEVEL:
        return None
    mask = above(c, max(MIN_LOW, LEVEL_SHARE * level))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    rh, rw = mask.shape
    keep = [i for i in range(1, n)
            if stats[i, 3] >= PIECE * ch and not _on_border(stats[i], rw, rh)]
    if not keep:
        return None
    ink = np.isin(labels, keep)
    ink8 = ink.astype(np.uint8)
    gx, gy, gw, gh = cv2.boundingRect(ink8)
    if gh < max(MIN_PX, MIN_HEIGHT * ch):
        return None
    grain = ~cv2.dilate(ink8, GRAIN_CLEAR).astype(bool)
    grain = c[grain if inside is None else grain & inside]
    if grain.size < 16 or ink_level(c[ink]) < SNR * float(np.std(grain)):
        return None
    piece = np.where(ink[gy:gy + gh, gx:gx + gw], 255, 0).astype(np.uint8)
    return Blob((bx0 + gx, by0 + gy, gw, gh), piece), level


def _inside(quad: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which pixels of a box of ``shape`` lie inside ``quad`` (the corners of a turned cell's
    inset middle, in the box's pixels, row by row). A turned cell's rules cross its box's
    corners, and were found as the cell's digit (a "1" or a "7")."""
    inside = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(inside, np.round(quad[[0, 1, 3, 2]]).astype(np.int32), 1)
    return inside.astype(bool)


def _on_border(stat: np.ndarray, w: int, h: int) -> bool:
    """A piece running along the searched box's edge over most of it, or a thin one across
    the box from edge to edge: what is left of a rule (a grid whose thin rules were missed
    has cells two or three columns wide, a thin rule down their middle)."""
    x, y, bw, bh = stat[:4]
    along_x = (y == 0 or y + bh == h) and bw > ALONG_EDGE * w
    along_y = (x == 0 or x + bw == w) and bh > ALONG_EDGE * h
    across_y = y == 0 and y + bh == h and bw < THIN_ACROSS * bh
    across_x = x == 0 and x + bw == w and bh < THIN_ACROSS * bw
    return bool(along_x or along_y or across_y or across_x)
