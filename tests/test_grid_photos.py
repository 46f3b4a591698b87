"""Digits cut out of grid photos through the true grid, and their tally (synthetic grids here;
the real photos only where ``../shared/data/grid_photos`` is)."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_edge.testing import grid_photos


def test_cut_cell_of_a_synthetic_grid():
    img = np.full((450, 450, 3), 220, np.uint8)
    img[210:240, 215:235] = 30  # a digit-sized blob in the centre cell
    corners = np.float32([[0, 0], [450, 0], [450, 450], [0, 450]])
    cell = grid_photos.cut_cell(img, corners, 4, 4)
    assert cell.shape[0] == 40 + 2 * 25  # 50 px cell, 5 px margins trimmed, 25 px paper
    assert cell[45, 45].max() < 60 and cell[2, 2].min() > 200


def test_central_label_and_tally():
    reading = [(1, (0, 0, 4, 20)), (7, (40, 40, 10, 20))]
    assert grid_photos.central_label(reading, (100, 100)) == 7
    assert grid_photos.central_label([], (100, 100)) is None
    t = grid_photos.Tally()
    t.add(7, 7, 2)
    t.add(7, None, 0)
    t.add(9, 8, 1)
    assert (t.right, t.missed, t.misread, t.extra) == (1, 1, 1, 1)
    assert t.confusions == {(9, 8): 1}
    assert t.row()["n"] == 3


def test_evaluate_counts_per_kind():
    cells = [grid_photos.Cell(np.zeros((10, 10, 3), np.uint8), 3, "printed", "v2/a.jpg", 0, 0),
             grid_photos.Cell(np.zeros((10, 10, 3), np.uint8), 5, "handwritten", "m/a.jpg", 0, 1)]
    tallies = grid_photos.evaluate(lambda image: [(3, (3, 3, 4, 4))], cells)
    assert tallies["printed"].right == 1 and tallies["handwritten"].misread == 1


@pytest.mark.skipif(not (grid_photos.root() / "corners.csv").is_file(),
                    reason="grid photos not here")
def test_real_photo_cells_are_padded_squares_with_their_digit():
    photo = grid_photos.photos("v2")[0]
    cells = list(grid_photos.cells([photo]))
    assert len(cells) == int((photo.truth > 0).sum()) and cells
    assert all(c.kind == "printed" for c in cells)
    for c in cells[:5]:
        h, w = c.image.shape[:2]
        assert h == w
        assert c.image[h // 3: 2 * h // 3, w // 3: 2 * w // 3].min() < c.image[:3].mean() - 30
