"""Step 9, fragments: in a grid, a "digit" far shorter or taller than its neighbours is not one.

The digits of one grid or table are written or printed at one scale: a form's boxes, a
puzzle's cells, a column of figures. What the reader reports there at half that height or
less is nearly always a piece of something else that the model read as a digit with some
confidence: the stub of a rule where two cross, a pen's lead-in stroke beside its digit, a
speck in an empty cell. What it reports at twice that height or more is a cell's whole
inside (a patterned paper's texture between two rules), not a digit. On the even-numbered
grid photos the two height rules below drop 16 false digits in the puzzles' cells and 3
outside them, for 3 true digits. The grid's typical height is the median of its digits, so
a grid of small digits (a crossword's clue numbers) keeps them; a grid with too few digits to
have a typical height is left alone. A "1" both squat and short for its grid is a rule's stub.

Outside a grid there is no grid's height, but a "1" beside a digit is measured against it
(:func:`_stray_ones`): a digit cut out of a ruled box keeps a stretch of the box's edge or a
stub at its corner, read "1".
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import numpy as np

from mnist_edge.reading.cells import grid_sizes

MIN_SHARE = 0.5  # a digit shorter than this share of its grid's median digit is a fragment
MAX_SHARE = 2.0  # ...and one taller than this share of it is no digit either
STUB_WIDTH = 0.9  # a "1" wider than this times its height...
STUB_SHARE = 0.8  # ...and shorter than this share of its grid's median digit is a rule's stub
STRAY_SHORT = 0.5  # outside grids, a "1" shorter than this share of the digit beside it...
STRAY_TALL = 1.4  # ...or taller than this times it is a stroke of something else
NESTED = 0.8  # a digit in a grid with this share of its box inside a bigger one's is a piece of it


class _InCell(Protocol):
    label: int | str
    box: tuple[int, int, int, int]
    cell: tuple[int, int, int] | None


T = TypeVar("T", bound=_InCell)


def drop_fragments(digits: list[T]) -> list[T]:
    """``digits`` (in their order) without those much shorter or taller than their grid's
    median digit, nor a squat "1" (:func:`_stub`), nor a stray "1" outside grids
    (:func:`_stray_ones`), nor a piece of another digit in a grid (:func:`_nested`)."""
    typical = {g: h for g, (_, h) in
               grid_sizes([d.box for d in digits], [d.cell for d in digits]).items()}
    stray = _stray_ones(digits) | _nested(digits)
    return [d for i, d in enumerate(digits) if i not in stray
            and (d.cell is None or d.cell[0] not in typical
                 or (MIN_SHARE <= d.box[3] / typical[d.cell[0]] <= MAX_SHARE
                     and not _stub(d, typical[d.cell[0]])))]


def _stray_ones(digits: list[T]) -> set[int]:
    """The indices of the "1"s outside grids that are far shorter (:data:`STRAY_SHORT`) or
    taller (:data:`STRAY_TALL`) than the digit beside them (:func:`_beside`).

    Cut out of a ruled cell, a digit keeps what its cut left of the box: a stretch of its
    edge, taller than the digit, or a stub at its corner, read "1" (on the odd development
    photos' cells, cut as issue 14 cuts them: 584 such "1"s in 715 cells of 8,552 with a
    second report, 297 of them over 1.4 times the digit's height, 98 under half of it). A
    "1" written or printed beside a digit is about as tall as it. The digit beside is never
    a "1" itself: a true 1 beside a box's edge twice its height would go with the edge."""
    others = [d for d in digits if d.cell is None and d.label != 1]
    stray = set()
    for i, d in enumerate(digits):
        if d.cell is None and d.label == 1:
            beside = _beside(d, others)
            if beside is not None and not (
                    STRAY_SHORT <= d.box[3] / beside.box[3] <= STRAY_TALL):
                stray.add(i)
    return stray


def _nested(digits: list[T]) -> set[int]:
    """The indices of the digits in grids whose box lies mostly (:data:`NESTED`) inside the
    box of a bigger digit in a grid: digits do not nest, so it is a piece of that digit found
    again. A rule found in two pieces that do not meet is two lines, and one of them may run
    through a digit: its cell is then two cells, and the second look at the one that seemed
    empty (:mod:`~mnist_edge.reading.empty_cells`) finds the digit's other half there."""
    inside = [i for i, d in enumerate(digits) if d.cell is not None]
    if len(inside) < 2:
        return set()
    b = np.array([digits[i].box for i in inside], np.float64)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    area = b[:, 2] * b[:, 3]
    w = np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None])
    h = np.minimum(y1[:, None], y1[None]) - np.maximum(y0[:, None], y0[None])
    shared = np.clip(w, 0, None) * np.clip(h, 0, None)  # [i, j]: box i's area inside box j's
    pieces = (shared >= NESTED * area[:, None]) & (area[None] > area[:, None])
    return {inside[i] for i in np.flatnonzero(pieces.any(axis=1))}


def _beside(one: _InCell, others: list[T]) -> T | None:
    """The digit of ``others`` nearest ``one`` on its line (their heights overlap) and no
    further from it than its own height, or None."""
    x, y, w, h = one.box
    best, gap = None, None
    for d in others:
        dx, dy, dw, dh = d.box
        if dy >= y + h or y >= dy + dh:
            continue
        g = max(dx - (x + w), x - (dx + dw), 0)
        if g <= dh and (gap is None or g < gap):
            best, gap = d, g
    return best


def _stub(d: _InCell, typical: float) -> bool:
    """A "1" as wide as :data:`STUB_WIDTH` of its height and shorter than :data:`STUB_SHARE`
    of its grid's digits: where two rules cross, or a fold's shadow crosses one, the stub left
    is read "1". A true 1 that wide leans like a quick hand's slash and is as tall as its
    neighbours (development photos, shipped model: 4 such stubs, 0.61-0.75 of their grid's
    height; the 20 true 1s that wide, 0.9-1.5 of it). Squat alone is not enough: a printed
    1 whose foot stands on a table's rule, or a slash 1 on a turned page, is wider still."""
    return d.label == 1 and d.box[2] > STUB_WIDTH * d.box[3] and d.box[3] < STUB_SHARE * typical
