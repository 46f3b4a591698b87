"""Tables: the digits read in a grid, as a matrix of cells (post-processing for ``--table``).

A form, a score sheet or a puzzle photographed becomes data: for each grid the reader found
(:mod:`~mnist_edge.reading.cells`), a rows x columns matrix holding each cell's digit, empty
cells empty. Written as JSON (one object per image, a matrix per grid, ``null`` for an empty
cell) or CSV (one block of rows per grid, a blank line between blocks, each block headed by a
row naming the image and the grid).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mnist_edge.common import atomic
from mnist_edge.common.errors import UserError
from mnist_edge.reading.reader import Digit

TABLE_FORMATS = (".csv", ".json")


@dataclass(frozen=True)
class Table:
    """One grid of one image: ``cells[row][column]`` is the digit read there, or None."""

    path: str
    grid: int
    cells: list[list[Digit | None]]

    def labels(self) -> list[list[int | None]]:
        """The matrix of labels (None for an empty cell)."""
        return [[d.label if d is not None else None for d in row] for row in self.cells]


def tables_of(path: str, digits: Iterable[Digit], shapes: list[tuple[int, int]]) -> list[Table]:
    """The grids of one image filled with its digits; of two digits in one cell, the surer."""
    matrices = [[[None] * cols for _ in range(rows)] for rows, cols in shapes]
    for d in digits:
        if d.cell is None:
            continue
        grid, row, col = d.cell
        held = matrices[grid][row][col]
        if held is None or d.confidence > held.confidence:
            matrices[grid][row][col] = d
    return [Table(path, i, m) for i, m in enumerate(matrices)]


def check_table_path(target: str | os.PathLike[str]) -> Path:
    """The table file to write, checked before any work: its format and that it can be written."""
    p = Path(target)
    if p.suffix.lower() not in TABLE_FORMATS:
        raise UserError(f"--table {target}: write a .csv or a .json file")
    if p.is_dir():
        raise UserError(f"--table {target}: is a folder")
    if not p.parent.is_dir():
        raise UserError(f"--table {target}: no folder {p.parent}")
    if not os.access(p.parent, os.W_OK):
        raise UserError(f"--table {target}: cannot write in {p.parent}")
    return p


def write_tables(target: str | os.PathLike[str], tables: list[Table]) -> Path:
    """Write ``tables`` as CSV or JSON (by the file's suffix), atomically."""
    p = Path(target)
    if p.suffix.lower() == ".json":
        by_image: dict[str, list] = {}
        for t in tables:
            by_image.setdefault(t.path, []).append(t.labels())
        return atomic.write_json(p, [{"path": k, "tables": v} for k, v in by_image.items()])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, t in enumerate(tables):
        if i:
            out.write("\n")
        writer.writerow([f"# {t.path}", f"grid {t.grid}"])
        writer.writerows([["" if v is None else v for v in row] for row in t.labels()])
    return atomic.write_text(p, out.getvalue())

