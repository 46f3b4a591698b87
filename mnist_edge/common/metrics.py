"""Accuracy figures and run descriptions, shared by train, convert, evaluate and benchmarks.

TensorFlow-free on purpose: ``evaluate`` on a ``.tflite`` file and the device-side benchmarks
use these without loading TensorFlow.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import numpy as np

NUM_CLASSES = 10


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                           labels: list[str] | None = None) -> dict[str, Any]:
    """Accuracy, error (%), per-class accuracy and the confusion matrix (rows: true labels).

    ``labels`` names the classes (a class-folder model's folder names); default digits 0-9."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    names = [str(v) for v in labels] if labels is not None else [str(k) for k in
                                                                 range(NUM_CLASSES)]
    n = len(names)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class_total = confusion.sum(axis=1)
    per_class = np.divide(
        np.diag(confusion), per_class_total,
        out=np.zeros(n), where=per_class_total > 0,
    )
    accuracy = float((y_true == y_pred).mean())
    return {
        "test_accuracy": round(accuracy, 6),
        "test_error_percent": round(100.0 * (1.0 - accuracy), 4),
        "per_class_accuracy": {name: round(float(v), 6) for name, v in zip(names, per_class,
                                                                            strict=True)},
        "confusion_matrix": confusion.tolist(),
    }


def dist_version(dist: str) -> str | None:
    """Installed version of a distribution (``"ai-edge-litert"``), or None when absent."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str]:
    """Versions that decide whether a result can be reproduced (read without importing them)."""
    from mnist_edge import __version__

    versions = {"mnist_edge": __version__, "python": platform.python_version()}
    for dist in ("tensorflow", "keras", "numpy", "ai-edge-litert", "tflite-runtime"):
        if (version := dist_version(dist)) is not None:
            versions[dist.replace("-", "_")] = version
    return versions


def cpu_model() -> str:
    """The CPU's name as /proc/cpuinfo gives it ("model name" on x86, "Hardware" or "Model"
    on ARM boards), else the machine type: the one reader of it for every benchmark."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    return next((fields[k] for k in ("model name", "hardware", "cpu model", "model")
                 if fields.get(k)), platform.processor() or platform.machine())


def machine_description() -> str:
    """A one-line description of the machine a figure was measured on."""
    return f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
