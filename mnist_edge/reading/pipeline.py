"""Turn a camera frame into MNIST-like digit crops: pure numpy + OpenCV, no TensorFlow.

:func:`find_digits` runs these steps in order, one module each (tunables in
:class:`~mnist_edge.reading.params.VisionParams` or named constants beside the step):

1. :mod:`~mnist_edge.reading.normalise`: any image to uint8 grey at working size, through the
   channel where ink stands out (``invert``: light ink on a dark surface becomes dark ink);
2. :mod:`~mnist_edge.reading.paper`: estimate the paper's brightness everywhere, ink removed;
3. :mod:`~mnist_edge.reading.binarise`: ink is what is clearly darker than its paper, with
   thresholds that follow the frame's own ink;
4. :mod:`~mnist_edge.reading.lines`: ruled lines (grids, tables, boxes) found and taken out,
   less the strokes on a faint line much darker than it
   (:mod:`~mnist_edge.reading.over_rules`: a number written across a crease); a page whose
   rules run askew is turned level and, if it is ruled both ways (a grid, a table, boxes),
   read turned so (:mod:`~mnist_edge.reading.level`);
5. :mod:`~mnist_edge.reading.blobs`: digit-shaped blobs, fragments glued, the letters of
   printed words (:mod:`~mnist_edge.reading.words`) left out;
6. :mod:`~mnist_edge.reading.split`: blobs too wide for one digit also offered cut in 2 or 3;
7. :mod:`~mnist_edge.reading.crop`: each blob dark enough to be writing, cropped like MNIST
   (two blobs whose soft ink grows into the same digit are read once, as one);
8. :mod:`~mnist_edge.reading.cells` (when asked): each digit's row and column in its grid;
   :mod:`~mnist_edge.reading.empty_cells` looks again, at their own ink level, at the cells
   where nothing was found.

A new step is a module with one function of the same shape, called at its place in
:func:`find_digits`. The reader then classifies all crops of a frame in one interpreter call,
gives the crops the model is unsure of a second look (:mod:`~mnist_edge.reading.second_look`:
each read again shifted a pixel each way, the readings averaged), picks each blob's best reading
(whole or split), and reports the digits in
:func:`reading_order`, less (9, :mod:`~mnist_edge.reading.fragments`) those in a grid that
are far shorter or taller than its other digits, and the "1"s outside grids far shorter or
taller than the digit beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mnist_edge.common.boxes import iou
from mnist_edge.reading.binarise import binarise, ink_thresholds
from mnist_edge.reading.blobs import Blob, find_blobs, min_digit_height
from mnist_edge.reading.cells import (
    Cell,
    Grid,
    cells_of,
    extend_to_digits,
    fill_cells,
    find_grids,
    grid_sizes,
    on_rule,
)
from mnist_edge.reading.crop import MNIST_SIZE, blob_crop, crop_of, grown
from mnist_edge.reading.empty_cells import faint_digits, sliver_cells, widens
from mnist_edge.reading.level import is_askew, levelled, ruled_both_ways
from mnist_edge.reading.lines import FAINT, Rules, find_rules, remove_rules
from mnist_edge.reading.normalise import normalise
from mnist_edge.reading.over_rules import ink_over_rules
from mnist_edge.reading.paper import Paper, estimate_paper
from mnist_edge.reading.params import DEFAULT_PARAMS, VisionParams
from mnist_edge.reading.split import parts_for, split_blob

__all__ = ["DEFAULT_PARAMS", "Candidates", "VisionParams", "find_digits", "reading_order"]

MIN_WORK_SIDE = 8  # a working image narrower than this (px) holds no digit
CELL_FAINT = 0.4  # a grid's cells are found from rules this faint (share of ``low``)
SAME_DIGIT = 0.8  # two blobs whose soft ink grows into boxes overlapping this much (IoU) are
#   pieces of one digit


@dataclass(frozen=True)
class Candidates:
    """What :func:`find_digits` returns: crops for the model, boxes in frame pixels, and for
    each blob the ways to read it.

    ``readings[k]`` lists blob k's alternatives, each a list of indices into ``crops``: one
    index for the blob read whole, two or three for the blob cut into touching digits. Most
    blobs have one alternative of one crop. ``cells[i]`` is crop i's (grid, row, column), or
    None outside a grid or when cells were not asked for.
    """

    crops: np.ndarray  # (N, 28, 28) uint8
    boxes: list[tuple[int, int, int, int]]  # x, y, w, h in the input frame's pixels
    readings: list[list[list[int]]] = field(default_factory=list)
    cells: list[Cell | None] = field(default_factory=list)
    grids: list[tuple[int, int]] = field(default_factory=list)  # (rows, columns) of each grid

    @property
    def first(self) -> list[int]:
        """Crop indices of every blob's first reading: the blob whole, where it can be one
        digit (what a detector without a model would report)."""
        return [i for options in self.readings for i in options[0]]

    @property
    def first_boxes(self) -> list[tuple[int, int, int, int]]:
        """The boxes of :attr:`first`."""
        return [self.boxes[i] for i in self.first]


def find_digits(frame: np.ndarray, invert: bool = False,
                params: VisionParams = DEFAULT_PARAMS, cells: bool = False) -> Candidates:
    """Every digit-like blob in ``frame`` as MNIST crops plus boxes in frame pixels.

    ``invert=False`` reads dark ink on light paper; ``True`` light ink on a dark surface.
    ``cells=True`` also finds the grids the ruled lines form and each crop's cell in them.
    Never raises for an image-shaped array (see
    :func:`~mnist_edge.reading.normalise.to_gray`); a blank frame gives nothing.
    """
    working = normalise(frame, invert, params)
    if min(working.image.shape) < MIN_WORK_SIDE:
        return Candidates(np.zeros((0, MNIST_SIZE, MNIST_SIZE), np.uint8), [])

    def to_frame(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        return _to_frame(box, working.scale, *working.frame_size)

    first = _ruled(working.image, params)
    if is_askew(first.rules):
        upright = levelled(working.image, first.rules.slope)
        again = _ruled(upright.image, params)
        if ruled_both_ways(first.rules) or ruled_both_ways(again.rules):
            return _read(again, cells, lambda box: to_frame(upright.box_back(box)))
    return _read(first, cells, to_frame)


@dataclass(frozen=True)
class _Ruled:
    """A working image through steps 2 to 4 (before its rules are taken out)."""

    work: np.ndarray
    paper: Paper
    params: VisionParams  # the frame's own ink thresholds
    mask: np.ndarray
    min_h: int
    rules: Rules


def _ruled(work: np.ndarray, given: VisionParams) -> _Ruled:
    """Paper, ink thresholds, ink mask and ruled lines of the working image ``work``."""
    paper = estimate_paper(work, given)
    params = ink_thresholds(work, paper, given)
    mask = binarise(work, paper, params)
    rules = find_rules(binarise(work, paper, params, share=FAINT), mask)
    return _Ruled(work, paper, params, mask, min_digit_height(mask.shape, params), rules)


def _read(page: _Ruled, cells: bool,
          to_frame: Callable[[tuple[int, int, int, int]], tuple[int, int, int, int]]
          ) -> Candidates:
    """Steps 4 to 8 of a ruled working image; ``to_frame`` takes a box of it to the frame's
    pixels."""
    work, paper, params, min_h, rules = page.work, page.paper, page.params, page.min_h, \
        page.rules
    mask = remove_rules(page.mask, rules,
                        keep=ink_over_rules(work, paper, rules, page.mask, params.high))
    blobs = find_blobs(mask, params, rules.horizontal, rules.slope)
    grids = _grids(work, paper, params, rules, min_h) if cells else []
    # a border rule missed beside a row of digits; what is left of a rule, or a whole cell,
    # is no digit
    if grids:
        grids = extend_to_digits(grids, *_centres(blobs))
        cell_sized = fill_cells(grids, [b.box for b in blobs], min_h)
        blobs = [b for b, whole in zip(blobs, cell_sized, strict=True)
                 if not whole and not on_rule(grids, b.box, min_h)]
    found = _Collector(work, paper, params)
    for blob in blobs:
        found.add(blob)
    where: list[Cell | None] = [None] * len(found.blobs)
    if grids:
        where = _look_again(found, grids, min_h)
    boxes = [to_frame(b.box) for b in found.blobs]
    arr = np.stack(found.crops) if found.crops else np.zeros((0, MNIST_SIZE, MNIST_SIZE),
                                                             np.uint8)
    return Candidates(arr, boxes, found.readings, where, [g.shape for g in grids])


def _grids(work: np.ndarray, paper: Paper, params: VisionParams, rules: Rules, min_h: int
           ) -> list[Grid]:
    """The grids of the rules found in a fainter mask (a grid's faint thin rules still bound
    its cells), or if none, of the ``rules`` the ink was cleared of (in the fainter mask a
    thick, soft rule grows past the thickness a rule may have)."""
    return find_grids(find_rules(binarise(work, paper, params, share=CELL_FAINT)), min_h) \
        or find_grids(rules, min_h)


def _look_again(found: _Collector, grids: list[Grid], min_h: int) -> list[Cell | None]:
    """A second look, at their own ink level, at the cells where nothing was found and those
    where only a sliver was (:mod:`~mnist_edge.reading.empty_cells`); each crop's cell."""
    where = _cells(grids, found.blobs, min_h)
    boxes = [b.box for b in found.blobs]
    sizes = grid_sizes(boxes, where)
    slivers = sliver_cells(boxes, where, found.read_whole_only(), sizes)
    taken = {c for c in where if c is not None} - set(slivers)
    faint = faint_digits(found.work, found.paper, found.params, grids, taken)
    cell_sized = fill_cells(grids, [b.box for b, _ in faint], min_h)
    for (blob, cell_params), cell, whole in zip(
            faint, _cells(grids, [b for b, _ in faint], min_h), cell_sized, strict=True):
        if whole:  # the cell itself, not a digit in it
            continue
        if cell in slivers:  # the digit around the sliver, if the cell shows one
            i = slivers[cell]
            if widens(blob.box, boxes[i], sizes.get(cell[0])):
                found.widen(i, blob, cell_params)
        elif cell is not None and cell not in taken:  # a cell read once only
            taken.add(cell)
            found.add(blob, cell_params)
    return where + _cells(grids, found.blobs[len(where):], min_h)


def _centres(blobs: list[Blob]) -> tuple[list[float], list[float]]:
    """The x and the y of each blob's centre."""
    return [x + w / 2 for x, _, w, _ in (b.box for b in blobs)], \
        [y + h / 2 for _, y, _, h in (b.box for b in blobs)]


def _cells(grids: list, blobs: list[Blob], min_h: int) -> list[Cell | None]:
    """The cell each blob's centre lies in."""
    return cells_of(grids, *_centres(blobs), min_h)


class _Collector:
    """Crops the blobs of one frame, whole and split, and records each blob's alternatives."""

    def __init__(self, work: np.ndarray, paper: Paper, params: VisionParams) -> None:
        self.work, self.paper, self.params = work, paper, params
        self.blobs: list[Blob] = []
        self.crops: list[np.ndarray] = []
        self.readings: list[list[list[int]]] = []
        self._grown: list[tuple[tuple[int, int, int, int], int]] = []  # (grown box, crop)

    def add(self, blob: Blob, params: VisionParams | None = None) -> None:
        """Blob ``blob`` read whole (if it can be one digit) and cut into 2 or 3 parts;
        cropped with ``params`` if given (a faint cell's own thresholds), else the frame's."""
        _, _, w, h = blob.box
        params = params or self.params
        one_digit, cuts = w <= params.max_aspect * h, parts_for(blob.box)
        if one_digit and not cuts:
            self._add_whole(blob, params)
            return
        options = [[blob]] if one_digit else []
        for n in cuts:
            parts = split_blob(blob, n)
            if parts:
                options.append(parts)
        alternatives = [idx for idx in (self._crop_all(o, params) for o in options) if idx]
        if alternatives:
            self.readings.append(alternatives)

    def _add_whole(self, blob: Blob, params: VisionParams) -> None:
        """A blob read whole only. A digit the threshold cut in two (a soft 6 split down its
        bowl) is two blobs, and the soft ink of each grows into the whole digit (:func:`grown`):
        one digit, read twice, unless a blob that grows into the box (``SAME_DIGIT``) another
        blob grew into is taken as a piece of that digit (the larger piece stands for it)."""
        full = grown(self.work, self.paper, blob, params)
        if full is not blob:
            for box, i in self._grown:
                if iou(box, full.box) >= SAME_DIGIT:
                    self._larger_piece(i, blob, full, params)
                    return
        crop = crop_of(self.work, self.paper, full, params)
        if crop is None:
            return
        if full is not blob:
            self._grown.append((full.box, len(self.crops)))
        self.readings.append([self._keep([blob], [crop])])

    def _larger_piece(self, i: int, blob: Blob, full: Blob, params: VisionParams) -> None:
        """Crop ``i`` (a piece of the digit ``blob`` grows into, ``full``) stands for the
        digit as ``blob`` if ``blob`` is the larger piece."""
        _, _, w, h = blob.box
        _, _, wi, hi = self.blobs[i].box
        if w * h > wi * hi:
            crop = crop_of(self.work, self.paper, full, params)
            if crop is not None:
                self.blobs[i], self.crops[i] = blob, crop

    def read_whole_only(self) -> list[bool]:
        """Per crop: is it a blob with no other reading than itself, whole?"""
        alone = [False] * len(self.crops)
        for options in self.readings:
            if len(options) == 1 and len(options[0]) == 1:
                alone[options[0][0]] = True
        return alone

    def widen(self, i: int, blob: Blob, params: VisionParams) -> None:
        """Crop ``i``'s blob (one read whole only) read as ``blob`` instead, the ink around it:
        the crop of the sliver stays in the batch, but is no reading of anything."""
        idx = self._crop_all([blob], params)
        if idx:
            options = next(r for r in self.readings if r[0] == [i])
            options[0] = idx

    def _crop_all(self, parts: list[Blob], params: VisionParams) -> list[int] | None:
        whole = len(parts) == 1
        crops = [blob_crop(self.work, self.paper, p, params, grow=whole) for p in parts]
        if any(c is None for c in crops):
            return None
        return self._keep(parts, crops)

    def _keep(self, blobs: list[Blob], crops: list[np.ndarray]) -> list[int]:
        """Record ``blobs`` with their ``crops``; their indices."""
        first = len(self.crops)
        self.blobs.extend(blobs)
        self.crops.extend(crops)
        return list(range(first, len(self.crops)))


def _to_frame(box: tuple[float, float, float, float], scale: float, w: int, h: int
              ) -> tuple[int, int, int, int]:
    """A working-image box (whole pixels, or a levelled box's corners taken back) in the
    original frame's pixels, rounded outwards and clipped to the frame."""
    x, y, bw, bh = (v / scale for v in box)
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def reading_order(boxes: list[tuple[int, int, int, int]]) -> list[int]:
    """Indices of ``boxes`` in reading order: rows top to bottom, left to right in each row.

    A box joins a row when its vertical centre lies within the row's vertical extent.
    """
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][1] + boxes[i][3] / 2)
    rows: list[list[int]] = []
    spans: list[list[float]] = []
    for i in order:
        x, y, w, h = boxes[i]
        centre = y + h / 2
        for row, span in zip(rows, spans, strict=True):
            if span[0] <= centre <= span[1]:
                row.append(i)
                span[0], span[1] = min(span[0], y), max(span[1], y + h)
                break
        else:
            rows.append([i])
            spans.append([float(y), float(y + h)])
    return [i for row in rows for i in sorted(row, key=lambda i: boxes[i][0])]
