"""Evaluate a model file (Keras ``.h5``/``.keras`` or ``.tflite``) on the MNIST test set.

Writes three files next to the model (or into ``out_dir``):

* ``<stem>_eval.json``: accuracy, error, per-class accuracy, confusion matrix (the same keys as the
  training metrics, from :func:`mnist_edge.common.metrics.classification_metrics`), plus which test
  digits were missed, how fast the model ran, and where it came from;
* ``<stem>_confusion.png``: the confusion matrix, so a glance shows *which* digits get confused;
* ``<stem>_errors.png``: a grid of misclassified test digits with true and predicted labels,
  because looking at the misses is how one decides whether they are model errors or label noise.

A ``.tflite`` file is run through :class:`mnist_edge.reading.runtime.Classifier` (the same code the
device runs, batched), so the figures describe what a user will actually get.
All three files are rendered in memory first and then written atomically: a failure leaves none.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_edge.common import atomic
from mnist_edge.common.checksum import sha256_file
from mnist_edge.common.errors import UserError
from mnist_edge.common.metrics import classification_metrics
from mnist_edge.training.data import MnistData

TFLITE_SUFFIXES = (".tflite",)
MAX_ERRORS_SHOWN = 100
MAX_ERRORS_LISTED = 1000


@dataclass
class EvalResult:
    """The metrics written to ``json_path`` and the two pictures."""

    metrics: dict[str, Any]
    json_path: Path
    confusion_path: Path
    errors_path: Path


def output_paths(model_path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
                 ) -> tuple[Path, Path, Path]:
    """``edge_int8.tflite`` -> ``edge_int8_eval.json``, ``_confusion.png``, ``_errors.png``."""
    model_path = Path(model_path)
    folder = Path(out_dir) if out_dir is not None else model_path.parent
    stem = model_path.stem
    return (folder / f"{stem}_eval.json", folder / f"{stem}_confusion.png",
            folder / f"{stem}_errors.png")


def check_model_file(model_path: str | os.PathLike[str]) -> None:
    """Cheap checks (no TensorFlow, no interpreter): the file exists, has a known suffix and is
    whole, so a wrong file fails before seconds of loading MNIST or TensorFlow."""
    from mnist_edge.reading.tflite_file import check_tflite
    from mnist_edge.training.convert import KERAS_SUFFIXES, check_keras_file

    model_path = Path(model_path)
    if not model_path.is_file():
        raise UserError(f"model not found: {model_path}")
    suffix = model_path.suffix.lower()
    if suffix in TFLITE_SUFFIXES:
        check_tflite(model_path)
    elif suffix in KERAS_SUFFIXES:
        check_keras_file(model_path)
    else:
        raise UserError(f"{model_path}: expected a .tflite, .h5 or .keras model")


def predict(model_path: str | os.PathLike[str], images: np.ndarray, runtime: str = "auto",
            threads: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Probabilities (N, 10) for uint8 images from either kind of model file, and how they ran."""
    model_path = Path(model_path)
    check_model_file(model_path)
    if model_path.suffix.lower() in TFLITE_SUFFIXES:
        from mnist_edge.reading.runtime import Classifier
        from mnist_edge.training.convert import tflite_predict

        clf = Classifier(model_path, runtime=runtime, threads=threads)
        return tflite_predict(clf, images), {"kind": "tflite", "runtime": clf.runtime.name,
                                             "threads": threads}
    from mnist_edge.training.convert import keras_predict, load_keras_model

    model = load_keras_model(model_path)
    return keras_predict(model, images), {"kind": "keras", "runtime": "keras", "threads": None}


def evaluate(
    model_path: str | os.PathLike[str],
    data: MnistData,
    out_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    runtime: str = "auto",
    threads: int | None = None,
    command: str | None = None,
) -> EvalResult:
    """Run the model on (the first ``limit`` of) the test set and write JSON + two PNGs."""
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    atomic.check_writable(*output_paths(model_path, out_dir))
    x_test, y_test = data.x_test[:limit], data.y_test[:limit]
    started = time.perf_counter()
    probs, how = predict(model_path, x_test, runtime, threads)
    seconds = time.perf_counter() - started
    y_pred = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    labels = getattr(data, "classes", None)  # a class-folder set: its class names
    metrics = classification_metrics(y_test, y_pred, labels)
    names = labels or [str(k) for k in range(probs.shape[1])]
    missed = np.flatnonzero(y_pred != y_test)
    what = "test digits" if labels is None else "crops"
    title = f"{Path(model_path).name}: accuracy {100 * metrics['test_accuracy']:.2f}% " \
            f"on {len(y_test):,} {what}"
    confusion_png = render_confusion(np.asarray(metrics["confusion_matrix"]), title, names)
    errors_png = render_errors(x_test, np.asarray(names)[y_test], np.asarray(names)[y_pred],
                               confidence, missed, title)
    report = {
        "model": str(model_path),
        "model_sha256": sha256_file(model_path),
        **how,
        **metrics,
        "test_examples": int(len(y_test)),
        "limit": limit,
        "misclassified_count": int(len(missed)),
        "misclassified": [
            {"index": int(i), "true": _name(names, y_test[i], labels),
             "predicted": _name(names, y_pred[i], labels),
             "confidence": round(float(confidence[i]), 4),
             **({"file": data.test_files[i]} if getattr(data, "test_files", None) else {})}
            for i in missed[:MAX_ERRORS_LISTED]
        ],
        "seconds": round(seconds, 3),
        "data_source": data.source,
        "data_sha256": data.sha256,
        **({} if labels is None else {"labels": labels, **data.describe()}),
        "command": command,
    }
    json_path, confusion_path, errors_path = output_paths(model_path, out_dir)
    atomic.write_bytes(confusion_path, confusion_png)
    atomic.write_bytes(errors_path, errors_png)
    atomic.write_json(json_path, report)
    return EvalResult(report, json_path, confusion_path, errors_path)


def _name(names: list[str], index: int, labels: list[str] | None) -> int | str:
    """A class as the JSON reports it: an MNIST digit as before (int), else its name."""
    return int(index) if labels is None else names[int(index)]


def render_confusion(confusion: np.ndarray, title: str, names: list[str] | None = None
                     ) -> bytes:
    """PNG of the confusion matrix: log-scaled colours so the few errors stand out next to the
    large diagonal, and every non-zero count written in its cell."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 6.2), dpi=100)
    ax = fig.add_subplot()
    shown = np.where(confusion > 0, confusion, np.nan)
    vmax = max(int(confusion.max()), 2)
    image = ax.imshow(shown, cmap="Blues", norm=LogNorm(vmin=1, vmax=vmax))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="count (log scale)")
    threshold = np.sqrt(vmax)
    for (row, col), count in np.ndenumerate(confusion):
        if count:
            ax.text(col, row, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > threshold else "black")
    names = names or [str(k) for k in range(len(confusion))]
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names,
           yticklabels=names, xlabel="predicted label", ylabel="true label")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def render_errors(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                  confidence: np.ndarray, missed: np.ndarray, title: str,
                  max_shown: int = MAX_ERRORS_SHOWN) -> bytes:
    """PNG grid of up to ``max_shown`` misclassified digits, each titled "true -> predicted"."""
    from matplotlib.figure import Figure

    shown = missed[:max_shown]
    cols = 10
    rows = max(1, -(-len(shown) // cols))
    fig = Figure(figsize=(cols * 1.1, rows * 1.25 + 0.6), dpi=80, layout="constrained")
    fig.suptitle(f"{title}\n{len(missed)} misclassified" +
                 (f", first {len(shown)} shown" if len(missed) > len(shown) else "") +
                 " (true -> predicted, confidence)", fontsize=9)
    if len(shown) == 0:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, "nothing misclassified", ha="center", va="center")
    for slot, index in enumerate(shown):
        ax = fig.add_subplot(rows, cols, slot + 1)
        ax.imshow(images[index], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"{y_true[index]} -> {y_pred[index]} ({confidence[index]:.2f})",
                     fontsize=7, color="firebrick")
        ax.axis("off")
    return _png(fig)


def _png(fig: Any) -> bytes:
    """Render a matplotlib Figure (Agg, no display, no pyplot state) to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
