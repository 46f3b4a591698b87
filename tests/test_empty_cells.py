"""Step 8b: cells where only a sliver was found are looked at again, at their own ink level."""

from __future__ import annotations

import cv2
import pytest

from mnist_edge.reading.cells import grid_sizes
from mnist_edge.reading.empty_cells import sliver_cells, widens
from mnist_edge.reading.reader import DigitReader
from mnist_edge.testing import grid_photos


@pytest.fixture(scope="module")
def read_cells(tflite_model):
    """mixed/image41 (a real photo, completed by hand) read by the shipped model: each grid
    cell's digits, and the photo's truth."""
    photo = next(p for p in grid_photos.photos("mixed") if p.path.name == "image41.jpg")
    digits = DigitReader(tflite_model, cells=True).read(cv2.imread(str(photo.path)))
    cells: dict[tuple[int, int], list] = {}
    for d in digits:
        if d.cell is not None:
            cells.setdefault(d.cell[1:], []).append(d)
    return cells, photo.truth


def test_soft_print_digits_whose_dark_stroke_alone_was_found_are_read_whole(read_cells):
    """Its first column's print is pale and blurred: of the 9 in row 6 and the 6 in row 8
    (column 1) only one dark stroke passed the page's thresholds, and each was read "1"."""
    cells, truth = read_cells
    for row, col in ((6, 0), (8, 1)):
        (digit,) = cells[row, col]
        assert digit.label == truth[row, col]
        assert digit.box[2] >= 0.6 * digit.box[3]  # the whole digit, not the sliver


def _read_cell(tflite_model, name: str, cell: tuple[int, int]) -> list:
    kind, file = name.split("/")
    photo = next(p for p in grid_photos.photos(kind) if p.path.name == file)
    digits = DigitReader(tflite_model, cells=True).read(cv2.imread(str(photo.path)))
    return [d.label for d in digits if d.cell is not None and d.cell[1:] == cell]


def test_a_red_seven_whose_stem_alone_was_found_is_a_seven(tflite_model):
    """v2/image173: a red hand 7 whose top bar was paler than its stem: the stem read "1",
    at the int8 cap, as sure as the whole 7 reads 7."""
    assert _read_cell(tflite_model, "v2/image173.jpg", (6, 2)) == [7]


def test_a_pale_two_whose_base_was_lost_is_a_two(tflite_model):
    """mixed/image189: a pale red print 2 whose base stroke stayed under the page's
    thresholds: the rest, short for the grid's digits (14 px of their 20), read "7"."""
    assert _read_cell(tflite_model, "mixed/image189.jpg", (8, 4)) == [2]


def test_a_pale_soft_digit_in_a_corner_cell_is_not_taken_for_grain(tflite_model):
    """v2/image42: a pale, blurred print 7 in the grid's top-left cell; its halo, counted as
    the paper's grain around it, made it look like texture."""
    assert _read_cell(tflite_model, "v2/image42.jpg", (0, 0)) == [7]


def test_ones_that_are_slivers_stay_ones(read_cells):
    """Its nine 1s, printed and handwritten, are slivers too (six of them narrower than 0.6
    of their height): the look around them finds nothing wider, or a reading no surer."""
    cells, truth = read_cells
    ones = [(r, c) for r in range(9) for c in range(9) if truth[r, c] == 1]
    assert [[d.label for d in cells.get(rc, [])] for rc in ones] == [[1]] * len(ones)


def test_a_cells_one_blob_read_whole_only_narrow_or_short_is_a_sliver():
    grid = [(200 + 40 * k, 0, 14, 20) for k in range(5)]  # a grid's digits, 20 px tall
    boxes = [*grid, (0, 0, 5, 20), (40, 0, 15, 14), (80, 0, 5, 20), (90, 0, 5, 20),
             (120, 0, 5, 20), (160, 0, 5, 20), (400, 0, 15, 16)]
    cells = [*[(0, 1, k) for k in range(5)], (0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 2),
             (0, 0, 3), None, (0, 0, 4)]
    whole_only = [True] * 5 + [True, True, True, True, False, True, True]
    sizes = grid_sizes(boxes, cells)
    assert sizes == {0: (14.0, 20.0)}
    # two in one cell; also read cut in parts; outside any grid; 16 px: none of them
    assert sliver_cells(boxes, cells, whole_only, sizes) == {(0, 0, 0): 5, (0, 0, 1): 6}
    # a grid of fewer than 5 blobs has no typical height: only the narrow one
    few = grid_sizes(boxes[5:7], cells[5:7])
    assert few == {}
    assert sliver_cells(boxes[5:7], cells[5:7], whole_only[5:7], few) == {(0, 0, 0): 0}


@pytest.mark.parametrize(("box", "expected"), [
    ((10, 8, 16, 22), True),     # the digit around the sliver
    ((10, 8, 8, 22), False),     # not much wider
    ((14, 8, 8, 40), True),      # ...but twice its area
    ((16, 8, 5, 40), False),     # narrower
    ((10, 12, 16, 14), False),   # shorter
    ((30, 8, 16, 22), False),    # beside it, not around it
])
def test_a_cells_own_look_widens_a_sliver_only_around_it(box, expected):
    assert widens(box, (16, 10, 6, 18), None) is expected


def test_a_cells_own_look_wider_than_its_grids_digits_is_no_digit():
    """In a cell turned 15 degrees the look takes in the rules at its corners too."""
    assert widens((10, 8, 16, 22), (16, 10, 6, 18), (14.0, 20.0))
    assert not widens((10, 8, 21, 22), (16, 10, 6, 18), (14.0, 20.0))
