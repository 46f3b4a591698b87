"""A confidence that means something: temperature scaling and the expected calibration error.

The temperature ``T`` minimising the negative log-likelihood of ``softmax(log p / T)`` on a
held-out split is folded into the model's last Dense layer (``logits / T`` is the same Dense
layer with its weights and bias divided by ``T``), so the ``.h5`` and the ``.tflite`` made from
it carry the calibrated confidence with no new layer.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |accuracy - confidence| averaged over confidence bins,
    weighted by the share of examples in each."""
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(right[m].mean() - conf[m].mean())
    return float(total)


def scaled(probs: np.ndarray, t: float) -> np.ndarray:
    """``softmax(log probs / t)``."""
    z = np.log(np.clip(probs, 1e-12, 1.0)) / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels."""
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.2, 5] minimising the NLL of ``softmax(log p / T)`` (golden-section search
    on log T; the NLL is convex in 1/T)."""
    labels = np.asarray(labels).astype(np.int64)
    a, b = np.log(0.2), np.log(5.0)
    g = (np.sqrt(5) - 1) / 2
    for _ in range(60):
        c, d = b - g * (b - a), a + g * (b - a)
        if nll(scaled(probs, np.exp(c)), labels) < nll(scaled(probs, np.exp(d)), labels):
            b = d
        else:
            a = c
    return float(np.exp((a + b) / 2))


def fold_temperature(model, t: float) -> None:
    """Divide the last Dense layer's weights and bias by ``t``: the model's softmax then gives
    ``softmax(logits / t)``."""
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    w, b = dense.get_weights()
    dense.set_weights([w / t, b / t])
