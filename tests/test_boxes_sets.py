"""The small shared helpers: box overlap and disjoint sets."""

from __future__ import annotations

import pytest

from mnist_edge.common.boxes import iou
from mnist_edge.common.union_find import UnionFind


def test_iou_of_boxes():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_union_find_groups_in_order():
    sets = UnionFind(6)
    sets.union(4, 1)
    sets.union(1, 2)
    sets.union(5, 3)
    assert sets.groups() == [[0], [1, 2, 4], [3, 5]]
    assert sets.find(4) == sets.find(2) != sets.find(0)
    assert sets.groups([5, 0, 3]) == [[5, 3], [0]]
