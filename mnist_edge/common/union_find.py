"""Disjoint sets over 0..n-1: the pieces glued into one digit, the letters of one row, the
rules of one grid."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class UnionFind:
    """Union-find with path halving (a frame has at most a few hundred items)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        """The representative of ``i``'s set."""
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        """Put ``i`` and ``j`` in one set."""
        self.parent[self.find(int(i))] = self.find(int(j))

    def groups(self, items: Iterable[int] | None = None) -> list[list[int]]:
        """The sets (of ``items``, default all), each in increasing order, in order of first
        member."""
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)) if items is None else items:
            out.setdefault(self.find(int(i)), []).append(int(i))
        return list(out.values())


def components(linked: np.ndarray) -> np.ndarray:
    """Each node's connected component in a graph (``linked``: its symmetric (N, N) bool
    adjacency), labelled by the component's least index: the sets :meth:`UnionFind.groups`
    gives, in its order, from numpy passes instead of a union a link in Python.

    Each pass takes, along every link, the lesser of its ends' labels, then each node its
    label's label (pointer jumping halves the passes)."""
    n = len(linked)
    a, b = np.nonzero(linked)
    label = np.arange(n)
    while True:
        new = label.copy()
        np.minimum.at(new, a, label[b])
        new = new[new]
        if (new == label).all():
            return label
        label = new
