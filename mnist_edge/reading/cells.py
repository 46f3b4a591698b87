"""Cells: which row and column of a grid or table a digit sits in.

The ruled lines found by :mod:`~mnist_edge.reading.lines` are fitted as straight lines; lines
that cross each other form a grid (a table, a form's boxes, a puzzle). A digit inside a grid is
in the cell whose row is the number of the grid's horizontal lines above it (at the digit's x)
less one, and whose column is the number of vertical lines left of it less one. Counting lines
at the digit's own position, rather than measuring from the grid's corner, keeps the answer
right under perspective and for tables whose rows differ in height.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mnist_edge.reading.lines import LONG, Rules

SAME_LINE = 0.33  # fitted lines closer than this many digit heights are one line (a double rule)
REACH = 1.0  # a line counts at a point up to this many digit heights beyond its drawn ends


@dataclass
class Line:
    """A fitted rule: ``across = a + b * along`` between ``lo`` and ``hi`` along it."""

    a: float
    b: float
    lo: float
    hi: float

    def at(self, along: float) -> float:
        """Where the line is, across, at ``along``."""
        return self.a + self.b * along

    def covers(self, along: float, reach: float) -> bool:
        """True if the line runs past ``along`` (give or take ``reach``)."""
        return self.lo - reach <= along <= self.hi + reach


@dataclass(frozen=True)
class Grid:
    """One grid: its horizontal lines (y of x) and vertical lines (x of y)."""

    rows: list[Line]
    cols: list[Line]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of cells."""
        return len(self.rows) - 1, len(self.cols) - 1


Cell = tuple[int, int, int]  # (grid index, row, column)


def find_grids(rules: Rules, min_h: int) -> list[Grid]:
    """The grids the ruled lines form (at least 2 lines each way crossing one another)."""
    if not rules.found:
        return []
    min_len = LONG * min_h
    if rules.horizontal is None or rules.vertical is None:
        return []
    hs = _merge(_fit(rules.horizontal, min_len, vertical=False), SAME_LINE * min_h)
    vs = _merge(_fit(rules.vertical, min_len, vertical=True), SAME_LINE * min_h)
    groups = _crossing_groups(hs, vs, REACH * min_h)
    return [g for g in groups if len(g.rows) >= 2 and len(g.cols) >= 2]


def cell_of(grids: list[Grid], x: float, y: float, min_h: int) -> Cell | None:
    """The (grid, row, column) that the point ``x, y`` lies in, or None outside every grid."""
    reach = REACH * min_h
    for index, grid in enumerate(grids):
        rows = [h for h in grid.rows if h.covers(x, reach)]
        cols = [v for v in grid.cols if v.covers(y, reach)]
        above = sum(h.at(x) < y for h in rows)
        left = sum(v.at(y) < x for v in cols)
        if 0 < above < len(rows) and 0 < left < len(cols):
            return index, above - 1, left - 1
    return None


def _fit(mask: np.ndarray, min_len: float, vertical: bool) -> list[Line]:
    """One least-squares line per connected piece of ``mask`` at least ``min_len`` long."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    lines = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64)
        along, across = (pts[:, 1], pts[:, 0]) if vertical else (pts[:, 0], pts[:, 1])
        lo, hi = float(along.min()), float(along.max())
        if hi - lo >= min_len:
            b, a = np.polyfit(along, across, 1)
            lines.append(Line(float(a), float(b), lo, hi))
    return lines


def _merge(lines: list[Line], gap: float) -> list[Line]:
    """Pieces of one rule (a dashed or broken line, the two edges of a thick one) as one line,
    sorted by position."""
    out: list[Line] = []
    for line in sorted(lines, key=lambda ln: ln.at((ln.lo + ln.hi) / 2)):
        for kept in out:
            mid = (max(line.lo, kept.lo) + min(line.hi, kept.hi)) / 2
            if abs(line.at(mid) - kept.at(mid)) < gap:
                kept.lo, kept.hi = min(kept.lo, line.lo), max(kept.hi, line.hi)
                break
        else:
            out.append(line)
    return out


def _crossing_groups(hs: list[Line], vs: list[Line], reach: float) -> list[Grid]:
    """Horizontal and vertical lines grouped by crossing (union-find over their crossings)."""
    parent = list(range(len(hs) + len(vs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, h in enumerate(hs):
        for j, v in enumerate(vs):
            y = (h.a + h.b * v.a) / (1.0 - h.b * v.b)  # solve y = h(x), x = v(y)
            x = v.at(y)
            if h.covers(x, reach) and v.covers(y, reach):
                parent[find(i)] = find(len(hs) + j)
    groups: dict[int, Grid] = {}
    for i, line in enumerate(hs + vs):
        grid = groups.setdefault(find(i), Grid([], []))
        (grid.rows if i < len(hs) else grid.cols).append(line)
    return list(groups.values())
