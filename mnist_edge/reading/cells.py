"""Step 8, cells: which row and column of a grid or table a digit sits in.

The ruled lines found by :mod:`~mnist_edge.reading.lines` are fitted as straight lines; lines
that cross each other form a grid (a table, a form's boxes, a puzzle). A digit inside a grid is
in the cell whose row is the number of the grid's horizontal lines above it (at the digit's x)
less one, and whose column is the number of vertical lines left of it less one. Counting lines
at the digit's own position, rather than measuring from the grid's corner, keeps the answer
right under perspective and for tables whose rows differ in height.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from mnist_edge.common.union_find import components
from mnist_edge.reading.lines import DASH_GAP, LONG, WALL, Rules, join_dashes

SAME_LINE = 0.33  # fitted lines closer than this many digit heights are one line (a double rule)
REACH = 1.0  # a line counts at a point up to this many digit heights beyond its drawn ends
REGULAR = 0.2  # spacings within this share of the median make a regular grid (gaps are filled)
ON_PITCH = 0.12  # a line within this share of a spacing of a grid's pitch is on it (a grid's
#   rules are ruled evenly; an uneven table's fit a pitch of half its rows only roughly)
MIN_PITCHED = 5  # a pitch is trusted when at least this many rules lie on it
SAME_STEP = 0.03  # candidate spacings within this share of each other are tried once
PUT_BACK = 0.5  # fitting a pitch, a rule put back costs this share of a line left off it
OFF_PITCH_COVER = 0.5  # a line off the pitch shorter than this share of the lines is not the grid's
MIN_ON_PITCH = 0.75  # ...if at least this share of the lines are on the pitch
BORDER_COVER = 0.75  # a first (last) line beyond a missed one is at least this share of the lines
ON_RULE = 0.15  # a thin blob this close to a vertical rule (share of the cell's width)...
ON_RULE_HEIGHT = 0.2  # ...and to this share of its own height is a piece of the rule
TYPICAL_MIN = 5  # a grid needs this many digits for their median size to mean something
THIN = 0.45  # ...when it is narrower than this times its height (what is left of a rule;
#   0.35 kept a soft border's bent stretch at a photo's corner as a "1")
THROUGH = 0.07  # a blob whose middle is this close to a rule (share of the cell)...
SMALL = 0.35  # ...and smaller than this share of the cell (that way) is a crossing or a stub
#   of a rule, left by the blurred rules of dark photos (by the true grids of the 317 grid
#   photos, none of 17,141 digits read right has its middle within 0.1 of a cell of a rule)
FILLS = 0.9  # a blob this share of its cell's width and of its height is the cell, not a digit
EXTEND_DIGITS = 2  # this many digits just beyond a regular grid's last rule: a missed border
EXTEND_SHARE = 0.25  # ...and at least this share of its cells along it
CENTRED = 0.3  # ...each within this many spacings of a cell's middle, both ways


@dataclass
class Line:
    """A fitted rule: ``across = a + b * along`` between ``lo`` and ``hi`` along it."""

    a: float
    b: float
    lo: float
    hi: float
    # the pixels it was fitted to (along, across): merged pieces are fitted again together
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), repr=False)

    def at(self, along: float) -> float:
        """Where the line is, across, at ``along``."""
        return self.a + self.b * along

    def covers(self, along: float, reach: float) -> bool:
        """True if the line runs past ``along`` (give or take ``reach``)."""
        return _runs_past(self.lo, self.hi, along, reach)


def _runs_past(lo: Any, hi: Any, along: Any, reach: float) -> Any:
    """Whether lines from ``lo`` to ``hi`` run past ``along``, give or take ``reach`` (a bool;
    elementwise for arrays: :func:`_lines_at`, :func:`_crossing_groups`)."""
    return (lo - reach <= along) & (along <= hi + reach)


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


def crossing(h: Line, v: Line) -> tuple[float, float]:
    """Where horizontal line ``h`` (y of x) crosses vertical line ``v`` (x of y): x, y."""
    return _meet(h.a, h.b, v.a, v.b)


def _meet(ha: Any, hb: Any, va: Any, vb: Any) -> tuple[Any, Any]:
    """:func:`crossing` of lines y = ha + hb * x and x = va + vb * y (elementwise for
    arrays: every pair at once in :func:`_crossing_groups`)."""
    y = (ha + hb * va) / (1.0 - hb * vb)  # solve y = h(x), x = v(y)
    return va + vb * y, y


def find_grids(rules: Rules, min_h: int) -> list[Grid]:
    """The grids the ruled lines form (at least 2 lines each way crossing one another)."""
    if not rules.found:
        return []
    min_len = LONG * min_h
    if rules.horizontal is None or rules.vertical is None:
        return []
    gap = int(np.ceil(DASH_GAP * min_h))
    hs = _merge(_fit(rules.horizontal, min_len, False, gap), SAME_LINE * min_h)
    vs = _fit(rules.vertical, min_len, True, gap)
    if rules.walls is not None:  # a row of boxes' walls, shorter than a rule
        vs += _fit(rules.walls, WALL * min_h, True, gap)
    vs = _merge(vs, SAME_LINE * min_h)
    groups = _crossing_groups(hs, vs, REACH * min_h)
    grids = [g for g in groups if len(g.rows) >= 2 and len(g.cols) >= 2]
    return [_spanned(Grid(_filled(g.rows, min_h), _filled(g.cols, min_h))) for g in grids]


def extend_to_digits(grids: list[Grid], xs: list[float], ys: list[float]) -> list[Grid]:
    """Each regular grid with a missed border rule put back: a border that is faint, blurred
    or cut by the photo's edge leaves a row (or column) of digits just outside the grid's
    last found rule. ``EXTEND_DIGITS`` or more digit centres (``xs``, ``ys``) within one
    spacing beyond a side add a rule there, continuing the grid's spacing and tilt."""
    if not grids or not xs:
        return grids
    pts = np.column_stack([xs, ys]).astype(np.float64)
    out = []
    for grid in grids:
        rows = _extended(grid.rows, grid.cols, pts)
        cols = _extended(grid.cols, rows, pts[:, ::-1])
        out.append(_spanned(Grid(rows, cols)) if (rows, cols) != (grid.rows, grid.cols)
                   else grid)
    return out


def _extended(lines: list[Line], across: list[Line], pts: np.ndarray) -> list[Line]:
    """``lines`` (one direction of a grid) with a rule added beyond either end that holds a
    row of digits (``pts`` as (along, across) in these lines' axes), if the lines are regular.

    The digits must sit as a grid's digits do: each in the middle of the band beyond the
    rule, and in line with the middle of one of the grid's cells the other way (text and
    pictures around a grid are not)."""
    if len(lines) < 3 or len(across) < 3:
        return lines
    step = _step(lines)
    cross = _step(across)
    if step is None or cross is None:
        return lines
    mids = np.array([ln.at((ln.lo + ln.hi) / 2) for ln in across])
    centres = (mids[1:] + mids[:-1]) / 2  # the cells' middles along these lines
    along, pos = pts[:, 0], pts[:, 1]
    aligned = np.abs(along[:, None] - centres[None, :]).min(axis=1) < CENTRED * cross
    out = list(lines)
    for first, second, at in ((lines[0], lines[1], 0), (lines[-1], lines[-2], None)):
        new = Line(2 * first.a - second.a, 2 * first.b - second.b, first.lo, first.hi)
        middle = (first.a + new.a) / 2 + (first.b + new.b) / 2 * along
        band = np.abs(pos - middle) < CENTRED * step
        if int(np.sum(aligned & band)) >= max(EXTEND_DIGITS, EXTEND_SHARE * len(centres)):
            out.insert(len(out) if at is None else 0, new)
    return out


def _step(lines: list[Line]) -> float | None:
    """The spacing of regular ``lines`` (at their middle), or None if they are not."""
    gaps, step = _gaps(lines)
    if step <= 0 or np.any(np.abs(gaps / step - 1) > REGULAR):
        return None
    return step


def _gaps(lines: list[Line]) -> tuple[np.ndarray, float]:
    """The gaps between consecutive ``lines`` (:func:`_positions`), and the median gap: the
    grid's spacing if it is regular."""
    gaps = np.diff(_positions(lines))
    return gaps, float(np.median(gaps))


def _positions(lines: list[Line]) -> np.ndarray:
    """Where ``lines`` are, across, where they run side by side (at the median of their
    middles)."""
    centre = float(np.median([(ln.lo + ln.hi) / 2 for ln in lines]))
    return np.array([ln.at(centre) for ln in lines])


def cell_of(grids: list[Grid], x: float, y: float, min_h: int) -> Cell | None:
    """The (grid, row, column) that the point ``x, y`` lies in, or None outside every grid."""
    return cells_of(grids, [x], [y], min_h)[0]


def cells_of(grids: list[Grid], xs: list[float], ys: list[float], min_h: int
             ) -> list[Cell | None]:
    """:func:`cell_of` of many points at once: each grid's lines are evaluated at every point
    in one numpy pass (a page of digits otherwise loops over every line for every digit)."""
    along, across = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    out: list[Cell | None] = [None] * len(along)
    todo = np.ones(len(along), bool)
    reach = REACH * min_h
    for index, grid in enumerate(grids):
        above, rows = _lines_before(grid.rows, along, across, reach)
        left, cols = _lines_before(grid.cols, across, along, reach)
        inside = todo & (above > 0) & (above < rows) & (left > 0) & (left < cols)
        for i in np.flatnonzero(inside):
            out[i] = index, int(above[i]) - 1, int(left[i]) - 1
        todo &= ~inside
    return out


def _lines_before(lines: list[Line], along: np.ndarray, across: np.ndarray, reach: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """For each point (``along``, ``across`` in the lines' own axes): how many of ``lines``
    run past it (:meth:`Line.covers`) and how many of those lie before it (:meth:`Line.at`
    less than ``across``)."""
    at, covers = _lines_at(lines, along, reach)
    return (covers & (at < across[:, None])).sum(axis=1), covers.sum(axis=1)


def _lines_at(lines: list[Line], along: np.ndarray, reach: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """(points x lines): where each line is, across, at each point's ``along``, and whether
    it runs past that point (:meth:`Line.at`, :meth:`Line.covers`, for every pair at once)."""
    a, b, lo, hi = (v[None, :] for v in _arrays(lines))
    p = along[:, None]
    return a + b * p, _runs_past(lo, hi, p, reach)


def _arrays(lines: list[Line]) -> tuple[np.ndarray, ...]:
    """``lines``' a, b, lo and hi, each as an array (one value a line)."""
    return tuple(np.array([getattr(ln, k) for ln in lines], np.float64)
                 for k in ("a", "b", "lo", "hi"))


def on_rule(grids: list[Grid], box: tuple[int, int, int, int], min_h: int) -> bool:
    """What is left of a grid's rule, not a digit: a thin upright blob lying on a vertical
    rule (a stretch the line finder missed: faint, bent or broken by a digit), or a small blob
    a rule runs through the middle of (a blurred crossing of two rules, a stub of one). A
    digit sits inside its cell, well away from the rules around it."""
    return _along_rule(grids, box, min_h) or _rule_through(grids, box, min_h)


def _along_rule(grids: list[Grid], box: tuple[int, int, int, int], min_h: int) -> bool:
    """A thin upright blob lying on one of a grid's vertical rules."""
    x, y, w, h = box
    if w > THIN * h:
        return False
    cx, cy = x + w / 2, y + h / 2
    reach = REACH * min_h
    for grid in grids:
        xs = _rules_at(grid.cols, cy, reach)
        if len(xs) < 2 or not xs[0] - reach <= cx <= xs[-1] + reach:
            continue
        return _gap(xs, cx) < min(ON_RULE * _spacing(xs), ON_RULE_HEIGHT * h)
    return False


def _rule_through(grids: list[Grid], box: tuple[int, int, int, int], min_h: int) -> bool:
    """A blob inside a grid, small for its cells, with a rule through its middle, drawn there
    (:func:`_drawn_near`)."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    reach = REACH * min_h
    for grid in grids:
        cols, rows = _lines_past(grid.cols, cy, reach), _lines_past(grid.rows, cx, reach)
        xs, ys = [at for at, _ in cols], [at for at, _ in rows]
        if len(xs) < 2 or len(ys) < 2 or not xs[0] <= cx <= xs[-1] or not ys[0] <= cy <= ys[-1]:
            continue
        return (_through(xs, cx, w) and _drawn_near(_nearest(cols, cx), cy, reach + h / 2)) or \
            (_through(ys, cy, h) and _drawn_near(_nearest(rows, cy), cx, reach + w / 2))
    return False


def _nearest(lines: list[tuple[float, Line]], across: float) -> Line:
    """Of ``lines`` (:func:`_lines_past`), the one nearest ``across``: the one :func:`_through`
    measured its gap to."""
    return min(lines, key=lambda pair: abs(pair[0] - across))[1]


def _drawn_near(line: Line, along: float, reach: float) -> bool:
    """Whether ``line`` was drawn within ``reach`` of ``along``, or put in where none was
    (:func:`_filled`: no pixels). A grid's lines are spanned across it (:func:`_spanned`): the
    border of the grid above it, met again at a stroke beside its last digit, is one line over
    the whole height, and would otherwise run through the middle of a digit in a column it
    never touches."""
    drawn = line.points[:, 0]
    return not len(drawn) or bool(np.any(np.abs(drawn - along) <= reach))


def _through(rules: list[float], middle: float, size: float) -> bool:
    """Whether one of ``rules`` (sorted positions, one way) runs through the middle of a blob
    of ``size`` centred at ``middle``, small for the cells between them (``SMALL``): within
    ``THROUGH`` of a cell, and within the blob's own half-size (in a coarse grid whose inner
    rules were missed, a cell is wide, and a digit near its border is no crossing)."""
    gap = _gap(rules, middle)
    if gap >= size / 2:
        return False  # (most blobs: a digit sits well inside its cell, no spacing needed)
    spacing = _spacing(rules)
    return size < SMALL * spacing and gap < THROUGH * spacing


def _rules_at(lines: list[Line], along: float, reach: float) -> list[float]:
    """Where the ``lines`` that run past ``along`` (give or take ``reach``) are, across, in
    order."""
    return [at for at, _ in _lines_past(lines, along, reach)]


def _lines_past(lines: list[Line], along: float, reach: float) -> list[tuple[float, Line]]:
    """The ``lines`` that run past ``along`` (give or take ``reach``), each with where it is
    there across, in that order."""
    return sorted(((ln.at(along), ln) for ln in lines if ln.covers(along, reach)),
                  key=lambda pair: pair[0])


def _gap(rules: list[float], at: float) -> float:
    """How far ``at`` is from the nearest of ``rules`` (positions)."""
    return min(abs(at - r) for r in rules)


def _spacing(rules: list[float]) -> float:
    """The median spacing of ``rules`` (positions, two or more): the cells' size that way."""
    return float(np.median(np.diff(rules)))


def grid_sizes(boxes: list[tuple[int, int, int, int]], cells: list[Cell | None]
               ) -> dict[int, tuple[float, float]]:
    """Each grid's typical size: the median width and height of the boxes in its cells (the
    blobs found, or the digits read), for the grids with :data:`TYPICAL_MIN` of them or more."""
    sizes: dict[int, list[tuple[int, int]]] = {}
    for box, c in zip(boxes, cells, strict=True):
        if c is not None:
            sizes.setdefault(c[0], []).append(box[2:])
    return {g: (float(np.median([w for w, _ in wh])), float(np.median([h for _, h in wh])))
            for g, wh in sizes.items() if len(wh) >= TYPICAL_MIN}


def fill_cells(grids: list[Grid], boxes: list[tuple[int, int, int, int]], min_h: int
               ) -> np.ndarray:
    """For each box: is it as wide and as tall as its cell (:data:`FILLS`)? Then it is the
    cell's own outline, a shaded cell's texture or a run of cells, not a digit. A digit sits
    inside its rules with a margin (no digit of the 317 grid photos comes within 0.9 of its
    cell both ways). One numpy pass per grid over every box."""
    out = np.zeros(len(boxes), bool)
    if not boxes or not grids:
        return out
    b = np.asarray(boxes, np.float64)
    cx, cy = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    todo = np.ones(len(b), bool)
    reach = REACH * min_h
    for grid in grids:
        width = _spans(grid.cols, cy, cx, reach)
        height = _spans(grid.rows, cx, cy, reach)
        inside = todo & np.isfinite(width) & np.isfinite(height)
        out |= inside & (b[:, 2] >= FILLS * width) & (b[:, 3] >= FILLS * height)
        todo &= ~inside
    return out


def _spans(lines: list[Line], along: np.ndarray, across: np.ndarray, reach: float
           ) -> np.ndarray:
    """For each point (``along``, ``across`` in the lines' own axes): the gap between the two
    of ``lines`` either side of it, or inf where it is not between two of them."""
    at, covers = _lines_at(lines, along, reach)
    q = across[:, None]
    before = np.where(covers & (at < q), at, -np.inf).max(axis=1)
    after = np.where(covers & (at >= q), at, np.inf).min(axis=1)
    return after - before


def _fit(mask: np.ndarray, min_len: float, vertical: bool, gap: int) -> list[Line]:
    """One least-squares line per connected piece of ``mask`` at least ``min_len`` long, a
    dashed rule's dashes (at most ``gap`` px apart, at any pitch: the mask holds rules only)
    one piece."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return []
    pieces, boxes = join_dashes(contours, mask.shape, gap, vertical, even=False)
    # (the box spans the points' range + 1 px)
    long = np.flatnonzero(boxes[:, 3 if vertical else 2] - 1 >= min_len)
    lines = []
    for i in long:
        pts = pieces[i].reshape(-1, 2).astype(np.float64)
        along, across = (pts[:, 1], pts[:, 0]) if vertical else (pts[:, 0], pts[:, 1])
        lines.append(_line(np.column_stack([along, across])))
    return lines


def _line(points: np.ndarray) -> Line:
    """The least-squares line through ``points`` (along, across), from centred sums: what
    ``np.polyfit(along, across, 1)`` gives to ~1e-12 px, at a tenth of its cost (a rule's
    outline has a thousand points; polyfit's SVD took ~0.2 ms a rule)."""
    along, across = points[:, 0], points[:, 1]
    mean_along, mean_across = float(along.mean()), float(across.mean())
    d = along - mean_along
    b = float(np.dot(d, across - mean_across) / np.dot(d, d))
    return Line(mean_across - b * mean_along, b, float(along.min()), float(along.max()), points)


def _merge(lines: list[Line], gap: float) -> list[Line]:
    """Pieces of one rule (a dashed or broken line, the two edges of a thick one) as one line,
    fitted again through all their points (a short piece's slope, extrapolated across a page,
    would put the line a row off), sorted by position."""
    out: list[Line] = []
    for line in sorted(lines, key=lambda ln: ln.at((ln.lo + ln.hi) / 2)):
        for i, kept in enumerate(out):
            mid = (max(line.lo, kept.lo) + min(line.hi, kept.hi)) / 2
            if abs(line.at(mid) - kept.at(mid)) < gap:
                out[i] = _line(np.concatenate([kept.points, line.points]))
                break
        else:
            out.append(line)
    return out


def _spanned(grid: Grid) -> Grid:
    """Each line of a grid drawn across the whole grid: a rule found only in pieces (digits
    and lettering break it, faint print loses stretches) still separates every cell it
    borders."""
    def span(lines: list[Line], across: list[Line]) -> list[Line]:
        if not across:
            return lines
        ends = [ln.at((ln.lo + ln.hi) / 2) for ln in across]
        lo, hi = min(ends), max(ends)
        return [Line(ln.a, ln.b, min(ln.lo, lo), max(ln.hi, hi), ln.points) for ln in lines]

    return Grid(span(grid.rows, grid.cols), span(grid.cols, grid.rows))


def _filled(lines: list[Line], min_h: float) -> list[Line]:
    """A regular grid's missing rules put back (a faint or hidden line between two found ones
    whose gap is a whole number of the grid's spacings), so cells are not counted one short.
    Irregular tables are left as found.

    The spacing is the median gap; where that leaves gaps that are no whole number of it, the
    lines are fitted to a pitch (:func:`_pitch`): when half the rules are missed the median
    gap is two spacings, and a short rule of the page beside the grid (an advert's box, a
    caption's underline) reaching its border falls between two of its rows."""
    if len(lines) < 4:
        return lines
    gaps, step = _gaps(lines)
    if step <= 0:
        return lines
    units = gaps / step
    found = lines
    # a double border (or a rule under the grid's title) outside a regular grid: dropped
    while len(units) > 3 and units[0] < 1 - REGULAR:
        lines, units = lines[1:], units[1:]
    while len(units) > 3 and units[-1] < 1 - REGULAR:
        lines, units = lines[:-1], units[:-1]
    if not _whole(units):
        lines, units = _pitch(found, min_h)
        if lines is None:
            return found
    out = [lines[0]]
    for prev, nxt, k in zip(lines, lines[1:], np.round(units).astype(int), strict=False):
        for j in range(1, k):
            t = j / k
            out.append(Line(prev.a + t * (nxt.a - prev.a), prev.b + t * (nxt.b - prev.b),
                            min(prev.lo, nxt.lo), max(prev.hi, nxt.hi)))
        out.append(nxt)
    return out


def _whole(units: np.ndarray) -> bool:
    """Whether every gap (in spacings) is a whole number of them, give or take ``REGULAR``
    of each spacing."""
    whole = np.round(units)
    return bool(np.all((whole >= 1) & (np.abs(units - whole) <= REGULAR * whole)))


def _pitch(lines: list[Line], min_h: float
           ) -> tuple[list[Line], np.ndarray] | tuple[None, None]:
    """The lines of a regular grid among ``lines`` and their gaps in spacings, or (None, None).

    The pitch is :func:`_best_pitch`'s. Lines off it are dropped only if they are short
    (under ``OFF_PITCH_COVER`` of the median line's length) and few (``MIN_ON_PITCH`` of the
    lines stay), and only between the grid's first and last lines: an uneven table's long
    rules are its own, and it is left as found, as it is if the pitch puts back as many rules
    as were found (an uneven table's rows fit a pitch a fraction of their height). A border
    spans its grid, so a short line on the pitch beyond a missed rule at either end is the
    page's (``BORDER_COVER``)."""
    pos = _positions(lines)
    length = np.array([ln.hi - ln.lo for ln in lines])
    best = _best_pitch(pos, min_h)
    if best is None:
        return None, None
    pitched, step = best
    fit, median = pitched.copy(), float(np.median(length))
    on = np.flatnonzero(fit)
    while len(on) > MIN_PITCHED and length[on[0]] < BORDER_COVER * median \
            and pos[on[1]] - pos[on[0]] > (2 - REGULAR) * step:
        fit[on[0]], on = False, on[1:]
    while len(on) > MIN_PITCHED and length[on[-1]] < BORDER_COVER * median \
            and pos[on[-1]] - pos[on[-2]] > (2 - REGULAR) * step:
        fit[on[-1]], on = False, on[:-1]
    inside = np.zeros(len(lines), bool)
    inside[on[0]:on[-1] + 1] = True
    units = np.diff(pos[fit]) / step
    if pitched.sum() < MIN_ON_PITCH * len(lines) or np.any(~inside & ~pitched) \
            or np.any(length[inside & ~fit] >= OFF_PITCH_COVER * median) or not _whole(units) \
            or np.round(units).sum() + 1 >= 2 * fit.sum():  # more put back than found: a table
        return None, None
    return [ln for ln, f in zip(lines, fit, strict=True) if f], units


def _best_pitch(pos: np.ndarray, min_h: float) -> tuple[np.ndarray, float] | None:
    """Which of the ascending positions ``pos`` lie on the best regular pitch, and its
    spacing; None if no pitch holds ``MIN_PITCHED`` of them (four rules of an uneven table
    fit a pitch by chance).

    Every spacing at least a digit tall (``min_h``) that is a gap, or its half or third, is
    tried from every line: a line is on the pitch if it lies within ``ON_PITCH`` of a whole
    number of spacings from there (of two at the same number, a double rule, the nearer);
    spacing and start are then refitted to those lines by least squares. The pitch kept
    leaves fewest lines off it and puts back fewest, a line put back costing ``PUT_BACK`` of
    one left off (a half spacing explains every line of a grid by putting one back in each
    cell); ties go to the longer spacing. All candidates at once, as arrays: a table that is
    no grid is tried on every frame."""
    gaps = np.diff(pos)
    steps: list[float] = []
    for step in sorted((g / k for g in gaps for k in (1, 2, 3) if g >= k * min_h), reverse=True):
        if not steps or step < (1 - SAME_STEP) * steps[-1]:  # (the refit finds the spacing)
            steps.append(step)
    if not steps:
        return None
    steps = np.array(steps)
    # (steps, origins, lines): lines on each candidate pitch, then on its least-squares refit
    k = np.round((pos[None, None, :] - pos[None, :, None]) / steps[:, None, None])
    fit = _on_grid(pos, pos[None, :, None] + k * steps[:, None, None], steps[:, None, None])
    n = fit.sum(axis=2)
    x, y = np.where(fit, k, 0.0), np.where(fit, pos, 0.0)
    sx, sy = x.sum(axis=2), y.sum(axis=2)
    var = n * (x * x).sum(axis=2) - sx * sx
    ok = (n >= MIN_PITCHED) & (var > 0)
    slope = np.where(ok, (n * (x * y).sum(axis=2) - sx * sy) / np.where(ok, var, 1.0), 1.0)
    start = np.where(ok, (sy - slope * sx) / np.maximum(n, 1), 0.0)
    slope = np.maximum(slope, 1e-6)
    k2 = np.round((pos[None, None, :] - start[..., None]) / slope[..., None])
    fit = _on_grid(pos, start[..., None] + k2 * slope[..., None], slope[..., None]) \
        & ok[..., None]
    n = fit.sum(axis=2)
    lo = np.where(fit, k2, np.inf).min(axis=2)
    hi = np.where(fit, k2, -np.inf).max(axis=2)
    off = len(pos) - n
    cost = np.where(n >= MIN_PITCHED, off + PUT_BACK * (hi - lo + 1 - n), np.inf)
    if not np.isfinite(cost).any():
        return None
    order = np.lexsort((off.ravel(), cost.ravel()))  # stable: longer spacings first on ties
    i, j = np.unravel_index(order[0], cost.shape)
    return fit[i, j], float(slope[i, j])


def _on_grid(pos: np.ndarray, nearest: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Whether each position lies within ``ON_PITCH`` spacings of its ``nearest`` pitch
    position (arrays broadcast over candidates, lines last); of two neighbours at the same
    pitch position (a double rule), only the nearer."""
    miss = np.abs(pos - nearest) / step
    fit = miss <= ON_PITCH
    same = fit[..., 1:] & fit[..., :-1] & (nearest[..., 1:] == nearest[..., :-1])
    worse_next = same & (miss[..., 1:] > miss[..., :-1])
    fit[..., 1:] &= ~worse_next
    fit[..., :-1] &= ~(same & ~worse_next)
    return fit


def _crossing_groups(hs: list[Line], vs: list[Line], reach: float) -> list[Grid]:
    """Horizontal and vertical lines grouped by crossing (connected through the crossings
    that both lines run past; every pair at once), in order of their first line."""
    n = len(hs) + len(vs)
    linked = np.zeros((n, n), bool)
    if hs and vs:
        ha, hb, hlo, hhi = (v[:, None] for v in _arrays(hs))
        va, vb, vlo, vhi = _arrays(vs)
        x, y = _meet(ha, hb, va, vb)  # each pair (H, V)
        meet = _runs_past(hlo, hhi, x, reach) & _runs_past(vlo, vhi, y, reach)
        linked[:len(hs), len(hs):] = meet
        linked[len(hs):, :len(hs)] = meet.T
    sets: dict[int, list[int]] = {}
    for i, label in enumerate(components(linked).tolist()):
        sets.setdefault(label, []).append(i)
    lines = hs + vs
    return [Grid([lines[i] for i in members if i < len(hs)],
                 [lines[i] for i in members if i >= len(hs)]) for members in sets.values()]
