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
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from mnist_edge.reading.cells import grid_sizes

MIN_SHARE = 0.5  # a digit shorter than this share of its grid's median digit is a fragment
MAX_SHARE = 2.0  # ...and one taller than this share of it is no digit either
STUB_WIDTH = 0.9  # a "1" wider than this times its height...
STUB_SHARE = 0.8  # ...and shorter than this share of its grid's median digit is a rule's stub


class _InCell(Protocol):
    label: int | str
    box: tuple[int, int, int, int]
    cell: tuple[int, int, int] | None


T = TypeVar("T", bound=_InCell)


def drop_fragments(digits: list[T]) -> list[T]:
    """``digits`` (in their order) without those much shorter or taller than their grid's
    median digit, nor a squat "1" (:func:`_stub`)."""
    typical = {g: h for g, (_, h) in
               grid_sizes([d.box for d in digits], [d.cell for d in digits]).items()}
    return [d for d in digits if d.cell is None or d.cell[0] not in typical
            or (MIN_SHARE <= d.box[3] / typical[d.cell[0]] <= MAX_SHARE
                and not _stub(d, typical[d.cell[0]]))]


def _stub(d: _InCell, typical: float) -> bool:
    """A "1" as wide as :data:`STUB_WIDTH` of its height and shorter than :data:`STUB_SHARE`
    of its grid's digits: where two rules cross, or a fold's shadow crosses one, the stub left
    is read "1". A true 1 that wide leans like a quick hand's slash and is as tall as its
    neighbours (development photos, shipped model: 4 such stubs, 0.61-0.75 of their grid's
    height; the 20 true 1s that wide, 0.9-1.5 of it). Squat alone is not enough: a printed
    1 whose foot stands on a table's rule, or a slash 1 on a turned page, is wider still."""
    return d.label == 1 and d.box[2] > STUB_WIDTH * d.box[3] and d.box[3] < STUB_SHARE * typical
