"""Temperature calibration: fitted on a held-out split, folded into the last layer."""

from __future__ import annotations

import numpy as np

from mnist_edge.training import calibrate


def test_fit_temperature_undoes_overconfidence():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 4000)
    logits = rng.normal(0, 1, (4000, 10))
    logits[np.arange(4000), labels] += 2.0
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    sampled = np.array([rng.choice(10, p=p) for p in true])  # labels drawn from the model
    over = calibrate.scaled(true, 1 / 3.0)  # 3x overconfident
    t = calibrate.fit_temperature(over, sampled)
    assert 2.5 < t < 3.5
    assert calibrate.ece(calibrate.scaled(over, t), sampled) < calibrate.ece(over, sampled)


def test_fold_temperature_equals_scaling():
    from mnist_edge.training.models import build_edge

    model = build_edge()
    x = np.random.default_rng(1).random((8, 28, 28, 1)).astype(np.float32)
    before = model.predict(x, verbose=0)
    calibrate.fold_temperature(model, 2.0)
    after = model.predict(x, verbose=0)
    assert np.allclose(after, calibrate.scaled(before, 2.0), atol=1e-5)


def test_ece_of_perfect_calibration_is_zero():
    probs = np.eye(10)[np.arange(20) % 10]
    assert calibrate.ece(probs, np.arange(20) % 10) == 0.0
