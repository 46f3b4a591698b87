"""Shared test fixtures: the real MNIST (read from ../shared/data, never committed) and a tiny
model trained once per session on a small subset, so the suite stays fast on 2 cores."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist.npz"

# The tests press Ctrl-C (send SIGINT) to the commands they start. A shell that runs pytest in
# the background (`.ci/run &`, nohup) hands it SIGINT ignored, and every command started would
# inherit that and never stop; Python's own handler here makes children start with the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
    from mnist_edge.training.data import load_mnist

    return load_mnist(mnist_file)


@pytest.fixture(scope="session")
def tiny_model(mnist, tmp_path_factory):
    """A seed-architecture model trained for 3 epochs on 5000 images (~95% accurate)."""
    from mnist_edge.training.train import train

    out = tmp_path_factory.mktemp("tiny") / "tiny.h5"
    return train(mnist.subset(5000, 500), arch="seed", out=out, epochs=3, batch_size=64, seed=1)


@pytest.fixture(scope="session")
def deploy_models(tiny_model, mnist, tmp_path_factory):
    """What the bundle/deploy tests ship: ``tiny_model`` converted twice (float32 and
    dynamic-range int8, so a second deploy really carries a different model) and a samples
    folder of 10 MNIST test digits that both conversions read right."""
    import numpy as np
    import tensorflow as tf

    from mnist_edge.reading.runtime import Classifier
    from mnist_edge.shipping.selftest import write_mnist_samples

    out = tmp_path_factory.mktemp("deploy_models")
    paths = {}
    for name, optimize in (("float", False), ("dynamic", True)):
        converter = tf.lite.TFLiteConverter.from_keras_model(tiny_model.model)
        if optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        paths[name] = out / f"tiny_{name}.tflite"
        paths[name].write_bytes(converter.convert())
    x, y = mnist.x_test[:300], mnist.y_test[:300]
    right = np.ones(len(y), dtype=bool)
    for path in paths.values():
        right &= Classifier(path).predict(x).argmax(axis=1) == y
    pick = np.flatnonzero(right)[:10]
    assert len(pick) == 10, "tiny_model reads too few test digits right"
    write_mnist_samples(out / "samples", x[pick], y[pick])
    return {**paths, "samples": out / "samples", "images": x[pick], "labels": y[pick]}


@pytest.fixture(scope="session")
def tiny_int8(mnist, tiny_model, tmp_path_factory):
    """``tiny_model`` converted to a full-int8 .tflite (int8 I/O) the way ``convert`` does it,
    without the accuracy measurement: tests that need a quantized file use this one."""
    from mnist_edge.training.convert import calibration_indices, to_tflite
    from mnist_edge.training.data import to_model_input

    images = to_model_input(mnist.x_train[calibration_indices(mnist, 200, seed=0)])
    path = tmp_path_factory.mktemp("tiny_int8") / "tiny_int8.tflite"
    path.write_bytes(to_tflite(tiny_model.model, "int8", images, "int8"))
    return path


@pytest.fixture(scope="session")
def tflite_model(request) -> Path:
    """The model the reader/predict/webcam tests read with: the shipped
    ``models/edge_int8.tflite`` when it exists (what users get), else ``tiny_int8``."""
    shipped = REPO / "models" / "edge_int8.tflite"
    if shipped.is_file():
        return shipped
    return request.getfixturevalue("tiny_int8")


@pytest.fixture()
def env(tflite_model, monkeypatch):
    """$MNIST_EDGE_MODEL pointing at the test model, here and in a subprocess's environment."""
    monkeypatch.setenv("MNIST_EDGE_MODEL", str(tflite_model))
    return {**os.environ, "MNIST_EDGE_MODEL": str(tflite_model)}
