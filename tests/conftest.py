"""Shared test fixtures: the real MNIST (read from ../shared/data, never committed) and a tiny
model trained once per session on a small subset, so the suite stays fast on 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist.npz"


def mnist_path() -> Path:
    """Where the tests read MNIST: $MNIST_EDGE_DATA, else ../shared/data/mnist.npz."""
    return Path(os.environ.get("MNIST_EDGE_DATA") or DEFAULT_MNIST)


@pytest.fixture(scope="session")
def mnist_file() -> Path:
    path = mnist_path()
    if not path.exists():
        pytest.fail(f"MNIST not found at {path}: set MNIST_EDGE_DATA to an mnist.npz")
    return path


@pytest.fixture(scope="session")
def mnist(mnist_file):
    from mnist_edge.data import load_mnist

    return load_mnist(mnist_file)


@pytest.fixture(scope="session")
def tiny_model(mnist, tmp_path_factory):
    """A seed-architecture model trained for 3 epochs on 5000 images (~95% accurate)."""
    from mnist_edge.train import train

    out = tmp_path_factory.mktemp("tiny") / "tiny.h5"
    return train(mnist.subset(5000, 500), arch="seed", out=out, epochs=3, batch_size=64, seed=1)
