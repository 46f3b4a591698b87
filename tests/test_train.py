"""Training: a short run learns, saves a reloadable .h5 and a full metrics JSON, and is
reproducible with --seed."""

from __future__ import annotations

import hashlib
import json

import keras
import numpy as np

from mnist_edge.common.metrics import classification_metrics
from mnist_edge.training.data import to_model_input
from mnist_edge.training.train import train


def test_short_run_learns_well_above_chance(tiny_model):
    assert tiny_model.metrics["test_accuracy"] > 0.9  # chance is 0.10


def test_h5_reloads_and_predicts_the_same(tiny_model, mnist):
    reloaded = keras.models.load_model(tiny_model.model_path)
    x = to_model_input(mnist.x_test[:64])
    np.testing.assert_allclose(reloaded.predict(x, verbose=0),
                               tiny_model.model.predict(x, verbose=0), atol=1e-6)


def test_metrics_json_has_everything(tiny_model, mnist_file):
    metrics = json.loads(tiny_model.metrics_path.read_text())
    assert tiny_model.metrics_path.name == "tiny.json"
    for key in ("test_accuracy", "test_error_percent", "per_class_accuracy", "confusion_matrix",
                "trainable_params", "train_seconds", "epochs", "seed", "data_sha256", "versions"):
        assert key in metrics, key
    assert metrics["trainable_params"] == 22_046
    assert metrics["epochs"] == 3 and metrics["seed"] == 1
    assert np.array(metrics["confusion_matrix"]).sum() == metrics["test_examples"] == 500
    assert abs(metrics["test_error_percent"] - 100 * (1 - metrics["test_accuracy"])) < 1e-6
    assert {"tensorflow", "keras", "numpy", "python"} <= set(metrics["versions"])
    assert metrics["data_sha256"] == hashlib.sha256(mnist_file.read_bytes()).hexdigest()


def test_same_seed_gives_identical_models(mnist, tmp_path):
    small = mnist.subset(600, 100)
    runs = [train(small, arch="edge", out=tmp_path / f"m{i}.h5", epochs=1, seed=5)
            for i in range(2)]
    other = train(small, arch="edge", out=tmp_path / "other.h5", epochs=1, seed=6)
    for a, b in zip(runs[0].model.get_weights(), runs[1].model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in
                   zip(runs[0].model.get_weights(), other.model.get_weights(), strict=True))


def test_edge_base_starts_from_scratch_and_edge_from_the_shipped_base(mnist, tmp_path,
                                                                       monkeypatch):
    """The default recipe's start: ``edge-base`` learns the mix from a fresh model; ``edge``
    fine-tunes models/edge_base.h5, or, where that file is missing (an installed wheel),
    trains edge-base first."""
    import dataclasses

    from mnist_edge.common.checksum import sha256_file
    from mnist_edge.common.paths import models_dir, shipped_model
    from mnist_edge.training import train as train_module

    small = mnist.subset(600, 100)
    base = train(small, arch="edge-base", out=tmp_path / "base.h5", epochs=1, seed=3)
    assert base.metrics["warm_start"] == {"recipe": None, "note": "from scratch"}
    assert base.metrics["recipe"] == "mixed" and "temperature" in base.metrics

    shipped = models_dir() / shipped_model(train_module.RECIPES["edge"].warm_start)
    assert shipped.name == "edge_base.h5"
    assert shipped.is_file(), "the shipped base the default recipe starts from"
    edge = train(small, arch="edge", out=tmp_path / "edge.h5", epochs=1, seed=3)
    assert edge.metrics["warm_start"]["sha256"] == sha256_file(shipped)

    monkeypatch.setattr("mnist_edge.common.paths.models_dir", lambda: tmp_path / "none")
    monkeypatch.setitem(train_module.RECIPES, "edge-base", dataclasses.replace(
        train_module.RECIPES["edge-base"], epochs=1))
    first = train(small, arch="edge", out=tmp_path / "wheel.h5", epochs=1, seed=3)
    assert first.metrics["warm_start"]["recipe"] == "edge-base"


def test_classification_metrics_counts():
    m = classification_metrics(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]))
    assert m["test_accuracy"] == 0.75 and m["test_error_percent"] == 25.0
    assert m["per_class_accuracy"]["1"] == 0.5 and m["per_class_accuracy"]["3"] == 0.0
    assert m["confusion_matrix"][1][2] == 1
