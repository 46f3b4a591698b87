"""Step 4, ruled lines: find straight strokes much longer than a digit and take them out.

Grids, table rules, form boxes, underlines and lined or squared paper join every digit on the
page into one blob; the blob finder then sees one huge shape, not digits. This step finds the
lines and removes them from the ink mask before blobs are looked for, putting back the digit
strokes a line crossed, so a digit written over or against a line is found whole.

How a line is told from a digit: a **short directional opening** (a run of ``RUN`` digit heights)
after thickening the mask across the line by ``TOLERANCE`` px keeps straight runs tilted up to
about 15 degrees; of those runs, a connected piece is a line only if it is **long** (``LONG``
digit heights) and thin for its length. A digit's own bars are shorter than ``LONG`` and stay.

Lines are looked for in a *fainter* mask than the ink mask (``FAINT`` times ``low``): a printed
grid's thin rules are often lighter than its digits, yet they still link the digits and, once
found, they give the cells (:mod:`~mnist_edge.reading.cells`). A frame with no long strokes
costs two openings and a contour pass.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mnist_edge.common.union_find import components

UNIT = 0.03  # lengths are in "digit heights" of this share of the frame's shorter side
MIN_UNIT_PX = 8  # (and at least this many px)
RUN = 1.5  # a line is first seen as straight runs this many digit heights long...
LONG = 5.0  # ...joined into a piece at least this many digit heights long
SLENDER = 16.0  # a rule is at least this many times longer than thick (a "1" is ~8)
TOLERANCE = 1  # px (at half resolution) a run may wander across the line: tilts up to ~15 deg
FAINT = 0.7  # lines are looked for in pixels darker than this times ``low`` (faint rules too)
MAX_THICK = 0.5  # a rule is at most this many digit heights thick
BOLD = 0.8  # ...or this thick if it crosses two rules of the other direction (a grid's border)
DASH_GAP = 0.45  # a dashed rule's gaps are at most this many digit heights
DASH_SHAPE = 2.0  # ...and its dashes this many times longer than thick,
MIN_DASHES = 4  # ...at least this many in a row,
PITCH_SPREAD = 0.3  # ...most of them (EVEN_SHARE) within this share of their median pitch
EVEN_SHARE = 0.75
MIN_SPAN = 0.2  # ...and at least this share of the frame's width (height, for a vertical one)
WALL = 2.0  # a shorter vertical piece, this long at least, from one rule to the next is a wall
WALL_SLENDER = 5.0  # ...if this many times longer than thick
MIN_WALLS = 3  # ...and one of this many between the same two rules
SIDES = 2  # ...or of these many, a known row of boxes' bold sides (left and right)
REACH = 3  # px: a wall's end this near a rule (either side) reaches it
CONTINUES = 0.8  # a piece this much inside a rule's continuation (its box) continues it
BAND_SLACK = 1.5  # a column of a rule this much thicker than usual has a stroke on it
MARGIN_SPAN = 0.9  # a vertical rule this long (share of the frame's height) needs no crossings
MIN_RUN_PX = 6  # the shortest run looked for (px at the resolution lines are found at)
HALF = 2  # lines are found at 1/HALF resolution when digits are tall enough
STRAIGHT = 0.05  # rules at a slope under this (3 degrees) are swept along the axis
RESTORE = 13  # px: a stroke crossing a line is bridged over a line up to this thick


@dataclass(frozen=True)
class Rules:
    """The ruled lines of a frame, as uint8 0/255 masks in working-image pixels (None: none
    that way)."""

    horizontal: np.ndarray | None
    vertical: np.ndarray | None
    # of the vertical rules, the walls of a row of boxes: shorter than a rule (see _walls)
    walls: np.ndarray | None = None
    # the horizontal rules' typical slope (y per x; 0 for a page turned under ``STRAIGHT``):
    # the page's printed lines of text run the same way
    slope: float = 0.0

    @property
    def found(self) -> bool:
        """True if the frame has any ruled line."""
        return self.horizontal is not None or self.vertical is not None


@functools.lru_cache(maxsize=64)
def rect(w: int, h: int) -> np.ndarray:
    """A ``w`` x ``h`` rectangular structuring element, made once (the steps use a few sizes
    over and over)."""
    return cv2.getStructuringElement(cv2.MORPH_RECT, (w, h))


def find_rules(faint: np.ndarray, ink: np.ndarray | None = None) -> Rules:
    """The horizontal and vertical ruled lines in ``faint`` (a low-threshold ink mask).

    Lines are looked for at half resolution (a pixel is ink if any of its four was: a 1 px
    rule survives), which costs a quarter; the masks returned are at full resolution.
    ``ink`` (optional, the frame's ink mask at its own threshold): where ``faint`` holds long
    straight strokes but no rule, they are looked for in it again, since a soft rule is thicker
    in a fainter mask than a rule may be (a form ruled thick, out of focus).
    """
    h, w = faint.shape
    min_h = max(MIN_UNIT_PX, UNIT * min(h, w))
    f = HALF if min_h >= 2 * MIN_RUN_PX // RUN else 1
    small = faint if f == 1 else cv2.compare(
        cv2.resize(faint, (w // f, h // f), interpolation=cv2.INTER_AREA), 0, cv2.CMP_GT)
    if cv2.countNonZero(small) < LONG * min_h / f:
        return Rules(None, None)  # not enough ink for one rule: a blank or nearly blank page
    size = _Sizes(run=max(MIN_RUN_PX, int(RUN * min_h / f)), long=int(LONG * min_h / f),
                  thick=max(3, int(MAX_THICK * min_h / f)), gap=max(2, int(DASH_GAP * min_h / f)))
    runs = {v: _runs(small, size, vertical=v) for v in (False, True)}
    level = _pieces(small, runs[False], size, False)
    horizontal, _ = _direction(small, level, size, False)
    slope = _pieces_slope(level, horizontal, size) if horizontal is not None else None
    upright = _pieces(small, runs[True], size, True)
    vertical, walls = _direction(small, upright, size, True, crossing=horizontal)
    boxes = walls is not None  # a row of boxes (whose bold sides are walls too)
    long = None  # the long straight pieces of the horizontal runs, found once if needed
    if vertical is None and upright.tall(WALL * min_h / f) >= MIN_WALLS:
        long = _long_pieces(runs[False], size)
        vertical, walls = _framed_bold(small, runs[False], long, upright, size, min_h / f,
                                       horizontal)
        boxes = vertical is not None
    if horizontal is None and vertical is None:
        long = _long_pieces(runs[False], size) if long is None else long
        if ink is not None and long[0]:
            return find_rules(ink)
        return Rules(None, None)
    if vertical is not None and (horizontal is not None or boxes):  # (not a margin alone)
        horizontal = np.zeros_like(small) if horizontal is None else horizontal
        horizontal, vertical, bold_walls = _bold_borders(small, runs, size, min_h / f,
                                                         horizontal, vertical, boxes)
        walls = _either(walls, bold_walls)
        # where rules cross, the ink is thick both ways and neither band holds it: a blob
        # of a cross left at every corner of a grid's cells
        grow = rect(size.thick + 2, size.thick + 2)
        corners = cv2.bitwise_and(cv2.dilate(horizontal, grow), cv2.dilate(vertical, grow))
        horizontal = cv2.bitwise_or(horizontal, cv2.bitwise_and(corners, small))
        horizontal = horizontal if cv2.countNonZero(horizontal) else None
    if slope is None and horizontal is not None:  # (no thin rule: a form's bold frame)
        slope = _slope(*_long_pieces(horizontal, size), False)
    if f > 1:
        horizontal, vertical = _full_size(horizontal, faint), _full_size(vertical, faint)
        walls = _full_size(walls, faint)
    return Rules(horizontal, vertical, walls, 0.0 if slope is None else slope)


def _pieces_slope(pieces: _Pieces, rules: np.ndarray, size: _Sizes) -> float | None:
    """The :func:`_slope` of the horizontal ``pieces`` as long as a rule that were taken as
    ``rules`` (most of their box's ink is), or None if none: a dashed rule's dashes are one
    piece here, not in the rules' mask."""
    long = np.flatnonzero(_long(pieces.rects, pieces.band.shape, size, False))
    if len(long):
        x, y, w, h = pieces.rects[long].T
        long = long[_box_counts(rules, x, y, w, h) >= _box_counts(pieces.band, x, y, w, h) / 2]
    return _slope([pieces.contours[i] for i in long], pieces.rects[long], False) \
        if len(long) else None


def _framed_bold(small: np.ndarray, runs: np.ndarray, long: tuple[list, np.ndarray],
                 upright: _Pieces, size: _Sizes, unit: float, horizontal: np.ndarray | None
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(the vertical rules, the walls) of a row of boxes in a bold frame (a form), or None.

    A bold border is no rule on its own (:func:`_bold_borders` takes it only where it crosses
    two vertical rules), so the walls of one or two rows of boxes framed bold crossed one rule
    or none, and nothing was found. Here they may reach those of the ``long`` pieces of the
    horizontal ``runs`` (:func:`_long_pieces`) too thick for a rule (up to twice as thick as
    a bold rule may be: a blurred one is thicker in the runs; a shadow's edge far more).
    Looked for where ``upright`` (:func:`_pieces`) holds ``MIN_WALLS`` pieces as tall as a
    wall."""
    contours, boxes = long
    most = 2 * _bold(size, unit).thick
    bold = [c for c, (x, y, w, h) in zip(contours, boxes, strict=True)
            if size.thick * w < cv2.countNonZero(runs[y:y + h, x:x + w]) <= most * w]
    if not bold:
        return None, None
    strokes = np.zeros_like(runs)
    cv2.drawContours(strokes, bold, -1, 255, thickness=-1)
    return _direction(small, upright, size, True, crossing=_either(horizontal, strokes))


def _long_pieces(runs: np.ndarray, size: _Sizes) -> tuple[list[np.ndarray], np.ndarray]:
    """The pieces of a mask of horizontal strokes (:func:`_runs`, or rules) as long as a rule
    must be: their contours and boxes."""
    contours, _ = cv2.findContours(runs, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = contour_boxes(contours) if contours else np.zeros((0, 4), int)
    long = np.flatnonzero(_long(boxes, runs.shape, size, False))
    return [contours[i] for i in long], boxes[long]


def _bold(size: _Sizes, unit: float) -> _Sizes:
    """``size`` with a grid's bold rules as thick as a rule may be (``BOLD`` digit heights)."""
    return _Sizes(size.run, size.long, max(size.thick, int(BOLD * unit)), size.gap)


def _bold_borders(small: np.ndarray, runs: dict[bool, np.ndarray], size: _Sizes, unit: float,
                  horizontal: np.ndarray, vertical: np.ndarray, boxes: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A grid's bold rules (a puzzle's border and box lines) added to its thin ones, and of
    the vertical ones the bold walls of a row of boxes (or None).

    Thicker than a rule may be elsewhere, they are taken only where they cross two rules of
    the other direction (where ``boxes``, the frame has a row of boxes: also a bold side
    reaching from one rule to the next, as its walls do): a page's edge or a shadow is as
    straight and as thick, but crosses no grid, and taking it out would leave its corners
    behind as digits."""
    bold = _bold(size, unit)
    if bold.thick == size.thick:
        return horizontal, vertical, None
    hb, _ = _direction(small, _pieces(small, runs[False], bold, False), bold, False,
                       crossing=vertical, must_cross=True)
    horizontal = _either(horizontal, hb)  # (a form's sides cross its bold top and bottom)
    vb, walls = _direction(small, _pieces(small, runs[True], bold, True), bold, True,
                           crossing=horizontal, must_cross=True,
                           min_walls=SIDES if boxes else None)
    return horizontal, _either(vertical, vb), walls


def _either(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """The union of two masks, either of which may be None."""
    return b if a is None else a if b is None else cv2.bitwise_or(a, b)


@dataclass(frozen=True)
class _Sizes:
    run: int  # px: the straight runs looked for
    long: int  # px: the shortest rule
    thick: int  # px: the thickest rule
    gap: int  # px: the longest gap of a dashed rule


def _full_size(lines: np.ndarray | None, faint: np.ndarray) -> np.ndarray | None:
    """Half-resolution lines back at full resolution, on the ink they were found in."""
    if lines is None:
        return None
    h, w = faint.shape
    sh, sw = lines.shape
    if (h, w) != (HALF * sh, HALF * sw):  # odd sizes: OpenCV's own pixel mapping
        big = cv2.resize(lines, (w, h), interpolation=cv2.INTER_NEAREST)
        return cv2.bitwise_and(cv2.dilate(big, rect(3, 3)), faint)
    # only around the rules (a ruled page's few lines): their box and a pixel of margin at half
    # resolution, two at full, so the dilation sees what it would see in the whole frame
    x, y, bw, bh = cv2.boundingRect(lines)
    x0, y0, x1, y1 = max(0, x - 1), max(0, y - 1), min(sw, x + bw + 1), min(sh, y + bh + 1)
    out = np.zeros_like(faint)
    window = (slice(HALF * y0, HALF * y1), slice(HALF * x0, HALF * x1))
    out[window] = cv2.bitwise_and(_doubled_grown(lines[y0:y1, x0:x1]), faint[window])
    return out


_GROW_DOUBLED = np.ones((4, 4), np.uint8)  # (for HALF = 2)


def _doubled_grown(lines: np.ndarray) -> np.ndarray:
    """``lines`` at twice the size (each pixel a 2x2 block, as ``cv2.INTER_NEAREST`` makes
    it) and dilated by a 3x3 square, in one dilation: a block and the pixel around it is the
    4x4 square of its top-left pixel set alone on every other row and column (half the cost
    of resizing, then dilating)."""
    h, w = lines.shape
    sparse = np.zeros((HALF * h, HALF * w), np.uint8)
    sparse[::HALF, ::HALF] = lines
    return cv2.dilate(sparse, _GROW_DOUBLED, anchor=(2, 2))


def _runs(mask: np.ndarray, size: _Sizes, vertical: bool) -> np.ndarray:
    """The straight runs of ``mask`` one way: thickened across the line, closed over a dashed
    rule's gaps, opened along it. They do not depend on how thick a rule may be, so the bold
    pass reuses them."""
    along = rect(1, size.gap) if vertical else rect(size.gap, 1)
    tol = 2 * TOLERANCE + 1
    across = rect(tol, 1) if vertical else rect(1, tol)
    joined = cv2.morphologyEx(cv2.dilate(mask, across), cv2.MORPH_CLOSE, along)
    runs = cv2.morphologyEx(joined, cv2.MORPH_OPEN,
                            rect(1, size.run) if vertical else rect(size.run, 1))
    return cv2.bitwise_and(cv2.erode(runs, across), mask)


@dataclass(frozen=True)
class _Pieces:
    """The thin part of a mask's straight runs one way, as the pieces rules are made of."""

    band: np.ndarray  # uint8 0/255
    contours: list[np.ndarray]
    rects: np.ndarray  # (N, 4) boxes of the contours

    def tall(self, length: float) -> int:
        """How many (vertical) pieces are at least ``length`` px tall."""
        return int(np.count_nonzero(self.rects[:, 3] >= length)) if len(self.rects) else 0


def _pieces(mask: np.ndarray, runs: np.ndarray, size: _Sizes, vertical: bool) -> _Pieces:
    """The pieces of ``runs`` (:func:`_runs` of ``mask`` this way) that are thin across:
    what an opening across, ``size.thick`` + 1 px long, removes (a digit's stroke standing on
    a rule is thicker than that and stays), dashed rules joined (:func:`join_dashes`)."""
    across = rect(3, 1) if vertical else rect(1, 3)
    opening = rect(size.thick + 1, 1) if vertical else rect(1, size.thick + 1)
    band = cv2.subtract(runs, cv2.morphologyEx(runs, cv2.MORPH_OPEN, opening))
    band = cv2.bitwise_and(cv2.dilate(band, across), mask)
    contours, _ = cv2.findContours(band, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return _Pieces(band, [], np.zeros((0, 4), int))
    joined, rects = join_dashes(contours, band.shape, size.gap, vertical)
    return _Pieces(band, joined, rects)


def _direction(mask: np.ndarray, pieces: _Pieces, size: _Sizes, vertical: bool,
               crossing: np.ndarray | None = None, must_cross: bool = False,
               min_walls: int | None = MIN_WALLS
               ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The near-horizontal (or near-vertical) rules of ``mask`` (or None), and of them the
    walls of a row of boxes (:func:`_walls`; vertical only, or None).

    ``pieces``: :func:`_pieces` of ``mask`` this way, with ``size``. A rule is a thin piece
    at least ``size.long`` long and ``SLENDER`` times longer than thick. A vertical one must
    also cross or touch two horizontal rules (a grid, a table, a form's box) or run nearly the
    frame's height (a margin): a tall thin "1" is a straight stroke too. ``must_cross``: every
    rule must cross two of ``crossing`` (the bold pass of :func:`_bold_borders`).
    ``min_walls``: how many walls a row needs (None: look for none).
    """
    band, contours, rects = pieces.band, pieces.contours, pieces.rects
    if not contours:
        return None, None
    boxes = [tuple(b) for b in rects.tolist()]
    rule = _long(rects, band.shape, size, vertical)
    for i in np.flatnonzero(rule):
        rule[i] = _is_rule(boxes[i], band, vertical, crossing, must_cross)
    walls = _walls(rects, band, crossing, size, rule, min_walls) if min_walls and vertical \
        and crossing is not None else np.zeros(len(rects), bool)
    rule |= walls
    if not rule.any():
        return None, None
    out = np.zeros_like(mask)
    keep = list(np.flatnonzero(rule))
    kept = [contours[i] for i in keep]
    cv2.drawContours(out, kept, -1, 255, thickness=-1)
    beside = _side_by_side(rects[keep], vertical)  # a turned grid's rules, in each other's box
    owner = _owners(kept, mask.shape) if beside.any() else None
    rest = np.flatnonzero(~rule)
    more = list(rest[_continuations(kept, rects[keep], out, rects[rest], size.long, vertical)])
    if more:  # (pieces of one findContours pass never overlap: drawn on top = drawn at once)
        cv2.drawContours(out, [contours[i] for i in more], -1, 255, thickness=-1)
    out = cv2.bitwise_and(out, band)
    for n, i in enumerate(keep + more):
        x, y, w, h = boxes[i]
        others = np.flatnonzero(beside[n]) + 1 if owner is not None and n < len(keep) else []
        _trim_to_centre(out, boxes[i], vertical,
                        np.isin(owner[y:y + h, x:x + w], others) if len(others) else None)
    if not walls.any():
        return out, None
    wall_mask = np.zeros_like(mask)
    cv2.drawContours(wall_mask, [contours[i] for i in np.flatnonzero(walls)], -1, 255,
                     thickness=-1)
    return out, cv2.bitwise_and(wall_mask, out)


def join_dashes(contours: Sequence[np.ndarray], shape: tuple[int, int], gap: int,
                vertical: bool, even: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
    """``contours`` (pieces of a rule mask of ``shape``) with the dashes of each dashed rule
    as one piece, and the pieces' boxes (N, 4) as ``cv2.boundingRect`` gives them (the boxes
    are needed to find the dashes; most rule masks have no dashed rule, so their pieces and
    boxes come back as they went in). The runs bridged a dashed rule's gaps, the ink mask
    reopened them. A dashed rule is ``MIN_DASHES`` or more dashes in line, at most ``gap`` px
    apart, set at an even pitch; a dash is a piece ``DASH_SHAPE`` times longer than thick.

    A column of digits' strokes is no row of dashes: the bit of a crossing rule between two of
    them is short along, so no dash. Nor is a line of text, whose letters' feet and bars are
    not evenly set (joining any pieces in line, not only even dashes, took captions' baselines
    out as rules). What is drawn of a joined rule is its ink only (the caller's mask).
    ``even=False`` joins dashes at any pitch: for pieces already known to be rules' ink."""
    points, starts = _points(contours)
    rects = _boxes(points, starts)
    start, length, across = (rects[:, 1], rects[:, 3], rects[:, 2]) if vertical else \
        (rects[:, 0], rects[:, 2], rects[:, 3])
    thick = np.maximum(1, across - 2)  # (the masks grew 1 px each side)
    dash = np.flatnonzero(length >= DASH_SHAPE * thick)
    dash = dash[_in_long_chains(rects[dash], gap | 1, vertical)]
    if len(dash) < MIN_DASHES:
        return list(contours), rects
    labels, origin = _rows(contours, dash, rects[dash], shape, gap | 1, vertical)
    x, y = (points[starts[dash]] - origin).T  # a point of each dash: the row of dashes it is in
    row = labels[y, x]
    rules: dict[int, np.ndarray] = {}
    for label in np.flatnonzero(np.bincount(row) >= MIN_DASHES):
        members = dash[row == label]
        if not even or _even(np.diff(np.sort(start[members] + length[members] / 2))):
            rules[int(label)] = members
    if not rules:
        return list(contours), rects
    joined = np.isin(labels, list(rules)).astype(np.uint8)
    pieces, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                 offset=tuple(int(v) for v in origin))
    taken = np.zeros(len(contours), bool)
    taken[np.concatenate(list(rules.values()))] = True
    kept = np.flatnonzero(~taken)
    return [contours[i] for i in kept] + list(pieces), \
        np.concatenate([rects[kept], contour_boxes(pieces)])


def _in_long_chains(rects: np.ndarray, close: int, vertical: bool) -> np.ndarray:
    """Which dashes (boxes ``rects``) may be in a row of ``MIN_DASHES`` or more once a closing
    ``close`` px long along the rule bridges their gaps: those in a chain of so many dashes,
    each touching or overlapping the next across and at most ``2 * close`` px from it along.

    The closing fills gaps shorter than ``close`` along one pixel row, so two pixels of a row
    it joins are that close along a chain of dashes and filled gaps, and a filled gap lies
    within ``close`` of a dash: the chains hold every row. Found on the boxes, they spare the
    drawing and labelling of the dashes where no row can be (most rule masks)."""
    if len(rects) < MIN_DASHES:
        return np.zeros(len(rects), bool)
    start, end, side, far = (rects[:, 1], rects[:, 1] + rects[:, 3], rects[:, 0],
                             rects[:, 0] + rects[:, 2]) if vertical else \
        (rects[:, 0], rects[:, 0] + rects[:, 2], rects[:, 1], rects[:, 1] + rects[:, 3])
    # [i, j]: i starts at most 2 * close past j's end, and not past j's far side across; so
    # both ways: near along and overlapping across
    ahead = (start[:, None] - end[None, :] <= 2 * close) & (side[:, None] - far[None, :] <= 0)
    linked = ahead & ahead.T
    if np.count_nonzero(linked) - len(rects) < 2 * (MIN_DASHES - 1):  # (each link twice)
        return np.zeros(len(rects), bool)  # too few links for any chain
    return _component_sizes(linked) >= MIN_DASHES


def _component_sizes(linked: np.ndarray) -> np.ndarray:
    """For each node of a graph (``linked``: its symmetric (N, N) bool adjacency), how many
    nodes its connected component holds."""
    label = components(linked)
    return np.bincount(label, minlength=len(label))[label]


def _rows(contours: Sequence[np.ndarray], dash: np.ndarray, rects: np.ndarray,
          shape: tuple[int, int], close: int, vertical: bool) -> tuple[np.ndarray, np.ndarray]:
    """The labels of the rows of dashes (``dash``: their indices in ``contours``, ``rects``:
    their boxes) once a closing ``close`` px long along bridges their gaps, drawn in their own
    window of a mask of ``shape``, and the window's origin (x, y).

    The window reaches past the dashes by more than the closing fills at an image's edge, so
    the rows in it are the rows in the whole mask."""
    reach = close // 2 + 1
    grow = np.array([1, reach] if vertical else [reach, 1])
    x0, y0 = np.maximum(0, rects[:, :2].min(axis=0) - grow)
    x1, y1 = np.minimum([shape[1], shape[0]], (rects[:, :2] + rects[:, 2:]).max(axis=0) + grow)
    dashes = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.drawContours(dashes, [contours[i] for i in dash], -1, 255, thickness=-1,
                     offset=(-int(x0), -int(y0)))
    kernel = rect(1, close) if vertical else rect(close, 1)  # (odd: even kernels shift)
    _, labels = cv2.connectedComponents(cv2.morphologyEx(dashes, cv2.MORPH_CLOSE, kernel))
    return labels, np.array([x0, y0])


def _even(pitches: np.ndarray) -> bool:
    """Whether dashes ``pitches`` apart (centre to centre) are evenly set: most within
    ``PITCH_SPREAD`` of their median."""
    median = float(np.median(pitches))
    near = np.abs(pitches - median) <= PITCH_SPREAD * median
    return bool(np.mean(near) >= EVEN_SHARE)


def contour_boxes(contours: list[np.ndarray] | tuple[np.ndarray, ...]) -> np.ndarray:
    """``cv2.boundingRect`` of every contour, as an (N, 4) int array, from one pass over all
    their points (half the cost of a call per contour; a ruled page has a hundred pieces)."""
    return _boxes(*_points(contours))


def _points(contours: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All the contours' points as one (M, 2) array, and the index of each one's first."""
    counts = np.fromiter(map(len, contours), np.intp, len(contours))
    return np.concatenate(contours).reshape(-1, 2), np.cumsum(counts) - counts


def _boxes(points: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The bounding boxes (N, 4) of the contours whose points (:func:`_points`) start at
    ``starts``."""
    lo = np.minimum.reduceat(points, starts)
    return np.column_stack([lo, np.maximum.reduceat(points, starts) - lo + 1])


def _continuations(rules: list[np.ndarray], boxes: np.ndarray, drawn: np.ndarray,
                   rects: np.ndarray, length: int, vertical: bool) -> np.ndarray:
    """Which of the short pieces (boxes ``rects``) continue a rule: a digit standing on a rule
    cuts its band in two, and the stub between the digit and the next crossing (or the paper's
    edge) is too short to pass for a rule on its own, but it lies on the rule's line, starting
    within ``length`` of its end and reaching at most twice that. (Ink counted in every box at
    once from an integral image: a grid leaves a hundred stubs.)

    ``rules``: the rules' contours and ``boxes``, ``drawn`` on a mask. A page turned more
    than ``STRAIGHT`` has its rules swept the way they run (:class:`_Shear` by their
    :func:`_slope`), not along the frame's axis: beside a rule turned 8 degrees, a sweep
    twice a rule's length long along the axis covers a band a digit wide, and took the
    digits' strokes beside it for stubs (the digits were then lost with the rule). Under
    that slope, the sweep along the axis also takes the stubs of a wavy rule (a curved page)
    beside its fitted line."""
    if not len(rects):
        return np.zeros(0, bool)
    along = rect(1, 2 * length + 1) if vertical else rect(2 * length + 1, 1)
    across = rect(3, 1) if vertical else rect(1, 3)
    shear = _Shear(_slope(rules, boxes, vertical), drawn.shape, vertical)
    x, y, w, h = rects.T
    if shear.none:
        # swept along the axis (most pages), the rules swept once are a dilation by a box, so
        # a piece meets them if its box grown by that box holds a rule's pixel: found in one
        # integral image, and most often none does (no sweep twice then); those that do are
        # measured in the rules swept twice only in the window their boxes' sweeps reach
        near = _box_counts(drawn, *_grown(rects, length, 1, vertical, drawn.shape)) > 0
        if not near.any():
            return near
        i = np.flatnonzero(near)
        wx, wy, ww, wh = _grown(rects[i], 2 * length, 1, vertical, drawn.shape)
        x0, y0 = int(wx.min()), int(wy.min())
        x1, y1 = int((wx + ww).max()), int((wy + wh).max())
        reach = cv2.dilate(cv2.dilate(cv2.dilate(drawn[y0:y1, x0:x1], along), along), across)
        near[i] = _box_counts(reach, x[i] - x0, y[i] - y0, w[i], h[i]) \
            >= CONTINUES * w[i] * h[i]
        return near
    near = cv2.dilate(shear.on(drawn), along)
    reach = shear.back(cv2.dilate(cv2.dilate(near, along), across))
    near = shear.back(cv2.dilate(near, across))
    return (_box_counts(reach, x, y, w, h) >= CONTINUES * w * h) \
        & (_box_counts(near, x, y, w, h) > 0)


def _grown(rects: np.ndarray, along: int, across: int, vertical: bool, shape: tuple[int, int]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The boxes ``rects`` grown by ``along`` px each way along the rules and ``across`` px
    across them, cut to a frame of ``shape``: x, y, w, h."""
    gx, gy = (across, along) if vertical else (along, across)
    x0, y0 = np.maximum(rects[:, 0] - gx, 0), np.maximum(rects[:, 1] - gy, 0)
    x1 = np.minimum(rects[:, 0] + rects[:, 2] + gx, shape[1])
    y1 = np.minimum(rects[:, 1] + rects[:, 3] + gy, shape[0])
    return x0, y0, x1 - x0, y1 - y0


def _slope(rules: list[np.ndarray], boxes: np.ndarray, vertical: bool) -> float:
    """The rules' (contours') typical slope, across per px along: the median, weighted by
    length, of the least-squares slopes of their contours' points (all rules at once); 0 if
    their ``boxes`` are too thin across for a slope of ``STRAIGHT`` (most pages), or none."""
    long, wide = (boxes[:, 3], boxes[:, 2]) if vertical else (boxes[:, 2], boxes[:, 3])
    if not len(long) or _weighted_median((wide - 1) / long, long) < STRAIGHT:  # (at most)
        return 0.0
    points, starts = _points(rules)
    along, across = (points[:, 1], points[:, 0]) if vertical else (points[:, 0], points[:, 1])
    along = along - along.mean()  # (sums of squares of small numbers: no cancellation)
    across = across - across.mean()
    n = np.diff(np.append(starts, len(points)))
    sums = [np.add.reduceat(v, starts).astype(float)
            for v in (along, across, along * along, along * across)]
    a, c, aa, ac = sums
    spread = n * aa - a * a
    slopes = np.where(spread > 0, (n * ac - a * c) / np.maximum(spread, 1), 0.0)
    return _weighted_median(slopes, long)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at half the total weight, in sorted order."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


class _Shear:
    """A mask sheared so that lines of ``slope`` (across per px along) run straight along
    the axis, and back; no shear for a slope under ``STRAIGHT``."""

    def __init__(self, slope: float, shape: tuple[int, int], vertical: bool) -> None:
        h, w = shape
        self.shape, self.none = shape, abs(slope) < STRAIGHT
        extra = int(np.ceil(abs(slope) * (h if vertical else w)))
        shift = extra if slope > 0 else 0
        if vertical:  # x' = x - slope * y + shift
            self.matrix = np.float32([[1, -slope, shift], [0, 1, 0]])
            self.size = (w + extra, h)
        else:  # y' = y - slope * x + shift
            self.matrix = np.float32([[1, 0, 0], [-slope, 1, shift]])
            self.size = (w, h + extra)

    def on(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` sheared (its lines of ``slope`` now level or upright)."""
        return mask if self.none else cv2.warpAffine(mask, self.matrix, self.size,
                                                     flags=cv2.INTER_NEAREST)

    def back(self, mask: np.ndarray) -> np.ndarray:
        """A mask made from :meth:`on`'s, back in the frame's pixels."""
        h, w = self.shape
        return mask if self.none else cv2.warpAffine(
            mask, self.matrix, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)


def _box_counts(mask: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray
                ) -> np.ndarray:
    """``cv2.countNonZero`` of a 0/255 ``mask`` in each box x, y, w, h (arrays)."""
    s = cv2.integral(mask, sdepth=cv2.CV_32S)
    return (s[y + h, x + w] - s[y, x + w] - s[y + h, x] + s[y, x]) // 255


def _trim_to_centre(out: np.ndarray, box: tuple[int, int, int, int], vertical: bool,
                    others: np.ndarray | None = None) -> None:
    """Keep of one rule (or continuation piece) in ``box`` only the band of its own thickness
    around its centre line.

    A thin stroke running along a rule for a while (the top of a "0" written on a line) joins
    its band; the rule's thickness is the typical count of its pixels across, and columns with
    more do not steer the centre, which is followed column by column (a curved page too) and
    interpolated over them. ``others`` (a mask of the box, or None): the pixels of the rules
    beside this one, left out of both; the boxes of a turned grid's rules hold their
    neighbours, which were cut away with what lay off this rule's line.
    """
    x, y, w, h = box
    region = out[y:y + h, x:x + w]
    sums = _across(region, vertical)
    thick = _thickness(sums)
    least, most = cv2.minMaxLoc(sums)[:2]
    if least > 0 and most // 255 <= BAND_SLACK * thick + 1:
        return  # every column inked, none much thicker than the rule: the test below, at once
    if others is not None and others.any():
        region = np.where(others, 0, region)
        sums = _across(region, vertical)
        thick = _thickness(sums)
    piece = region.T if vertical else region
    count = sums.ravel() // 255  # pixels across, column by column
    clean = (count > 0) & (count <= BAND_SLACK * thick + 1)
    if clean.all() or not clean.any():
        return  # (most rules: no stroke along them)
    across, along = np.nonzero(piece)
    centre = np.bincount(along, weights=across, minlength=piece.shape[1])[clean] / count[clean]
    centre = np.interp(np.arange(piece.shape[1]), np.flatnonzero(clean), centre)
    far = np.abs(across - centre[along]) > thick / 2 + 1
    cut = (along[far], across[far]) if vertical else (across[far], along[far])
    out[y + cut[0], x + cut[1]] = 0


def _across(region: np.ndarray, vertical: bool) -> np.ndarray:
    """A rule's ink across it, column by column (sums of 255 a pixel)."""
    return cv2.reduce(region, 1 if vertical else 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S)


def _thickness(sums: np.ndarray) -> float:
    """The mean of a rule's ink across it (:func:`_across`'s sums) over its inked columns:
    the rule's thickness in px (digits are a few columns)."""
    return int(sums.sum()) // 255 / max(1, cv2.countNonZero(sums))


def _side_by_side(rects: np.ndarray, vertical: bool) -> np.ndarray:
    """(N, N) bool: which of the rules (boxes ``rects``) lie beside each other in each
    other's box: overlapping, and along more than half the shorter one's length (two pieces
    of one rule cut by a digit only meet at their ends)."""
    a0, c0 = (rects[:, 1], rects[:, 0]) if vertical else (rects[:, 0], rects[:, 1])
    a1, c1 = (a0 + rects[:, 3], c0 + rects[:, 2]) if vertical else \
        (a0 + rects[:, 2], c0 + rects[:, 3])
    along = np.minimum(a1[:, None], a1) - np.maximum(a0[:, None], a0)
    shorter = np.minimum((a1 - a0)[:, None], a1 - a0)
    across = np.minimum(c1[:, None], c1) > np.maximum(c0[:, None], c0)
    out = (along > shorter / 2) & across
    np.fill_diagonal(out, False)
    return out


def _owners(pieces: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """An int32 image of ``shape``: k + 1 on the pixels of ``pieces[k]`` (contours)."""
    out = np.zeros(shape, np.int32)
    for k, c in enumerate(pieces):
        cv2.drawContours(out, [c], -1, k + 1, thickness=-1)
    return out


def _walls(rects: np.ndarray, band: np.ndarray, horizontal: np.ndarray, size: _Sizes,
           rule: np.ndarray, quorum: int = MIN_WALLS) -> np.ndarray:
    """Which pieces (boxes ``rects`` of the vertical ``band``; ``rule``: those already taken
    as rules) are the walls of a row of boxes: shorter than a rule may be (a form's one row of
    boxes for digits is a digit and a half tall), or long enough but too thick for one (a
    tall row's walls ruled as thick as its rules), yet straight and slender, reaching from a
    horizontal rule at their top to one at their bottom, and ``quorum`` or more between the
    same two rules. A "1" in its box stands clear of the box's rules; one touching two lines
    of lined paper has no row of walls beside it."""
    unit = size.long / LONG
    x, y, w, h = rects.T
    candidates = np.flatnonzero((h >= WALL * unit) & ~rule)
    if len(candidates) < quorum:
        return np.zeros(len(rects), bool)
    _, labels = cv2.connectedComponents(horizontal)
    rows: dict[tuple[int, int], list[int]] = {}
    for i in candidates:
        ink = cv2.countNonZero(band[y[i]:y[i] + h[i], x[i]:x[i] + w[i]])
        top = labels[max(0, y[i] - REACH):y[i] + REACH, x[i]:x[i] + w[i]].max(initial=0)
        bottom = labels[y[i] + h[i] - REACH:y[i] + h[i] + REACH, x[i]:x[i] + w[i]].max(initial=0)
        if top and bottom and top != bottom and h[i] >= WALL_SLENDER * max(1.0, ink / h[i]):
            rows.setdefault((int(top), int(bottom)), []).append(int(i))
    out = np.zeros(len(rects), bool)
    for walls in rows.values():
        if len(walls) >= quorum:
            out[walls] = True
    return out


def _long(rects: np.ndarray, shape: tuple[int, int], size: _Sizes, vertical: bool
          ) -> np.ndarray:
    """Which pieces (boxes ``rects``) are long enough for a rule: at least ``size.long`` and
    ``MIN_SPAN`` of the frame. Checked on all boxes at once: most pieces are short."""
    span = rects[:, 3] if vertical else rects[:, 2]
    return span >= max(size.long, MIN_SPAN * shape[0 if vertical else 1])


def _is_rule(box: tuple[int, int, int, int], band: np.ndarray, vertical: bool,
             crossing: np.ndarray | None, must_cross: bool = False) -> bool:
    """A long piece (:func:`_long`) that is slender, and (vertical) crosses two rules or runs
    the frame's height."""
    x, y, w, h = box
    span = h if vertical else w
    ink = cv2.countNonZero(band[y:y + h, x:x + w])
    if span < SLENDER * max(1.0, ink / span):
        return False
    if must_cross:
        return crossing is not None and _crossings(crossing, x, y, w, h, vertical) >= 2
    if not vertical or span >= MARGIN_SPAN * band.shape[0]:
        return True
    return crossing is not None and _crossings(crossing, x, y, w, h) >= 2


def _crossings(lines: np.ndarray, x: int, y: int, w: int, h: int, vertical: bool = True) -> int:
    """How many rules of ``lines`` meet the box x, y, w, h (grown by 2 px): horizontal ones
    for a vertical candidate, vertical ones for a horizontal one (``vertical=False``)."""
    y0, y1 = max(0, y - 2), y + h + 2
    x0, x1 = max(0, x - 2), x + w + 2
    rows = cv2.reduce(lines[y0:y1, x0:x1], 1 if vertical else 0, cv2.REDUCE_MAX).ravel() > 0
    return int(np.count_nonzero(rows[1:] & ~rows[:-1]) + rows[0])


def remove_rules(mask: np.ndarray, rules: Rules, keep: np.ndarray | None = None
                 ) -> np.ndarray:
    """``mask`` without its ruled lines; a stroke that crossed a line is bridged over it, and
    the pixels of ``keep`` (strokes over a faint rule, :mod:`.over_rules`) stay."""
    kept = mask
    for lines, vertical in ((rules.horizontal, False), (rules.vertical, True)):
        if lines is not None:
            kept = kept.copy() if kept is mask else kept
            _remove(kept, mask, lines, vertical)
    if keep is not None and kept is not mask:
        cv2.bitwise_or(kept, keep, dst=kept)
    return kept


def _remove(kept: np.ndarray, mask: np.ndarray, lines: np.ndarray, vertical: bool) -> None:
    """Take ``lines`` (one way) out of ``kept`` in place, bridging the strokes of ``mask``
    that crossed them. The lines are grown by a pixel along, not across: a digit resting on a
    rule keeps the strokes beside it (``lines`` already holds the rule's soft edge). Only
    around the lines: their box and a pixel, and for the bridging closing ``RESTORE`` px more
    along the bridge, so it sees what it would see in the whole frame."""
    h, w = mask.shape
    x, y, bw, bh = cv2.boundingRect(lines)
    if bw == 0:
        return
    x0, y0, x1, y1 = max(0, x - 1), max(0, y - 1), min(w, x + bw + 1), min(h, y + bh + 1)
    near = (slice(y0, y1), slice(x0, x1))
    grown = cv2.dilate(lines[near], rect(1, 3) if vertical else rect(3, 1))
    kept[near] = cv2.subtract(kept[near], grown)
    bridge = rect(RESTORE, 1) if vertical else rect(1, RESTORE)
    mx, my = (RESTORE, 0) if vertical else (0, RESTORE)
    cx0, cy0 = max(0, x0 - mx), max(0, y0 - my)
    closed = cv2.morphologyEx(kept[cy0:min(h, y1 + my), cx0:min(w, x1 + mx)], cv2.MORPH_CLOSE,
                              bridge)
    across = cv2.bitwise_and(closed[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0], grown)
    kept[near] = cv2.bitwise_or(kept[near], cv2.bitwise_and(across, mask[near]))
