"""Convert a trained Keras model to a ``.tflite`` file and prove, on the test set, what it lost.

``convert("models/edge.h5", data)`` writes ``models/edge_int8.tflite`` plus a sidecar
``models/edge_int8.json`` that says where the file came from (source path and sha256), how it was
quantized, what its input and output tensors expect, and the test accuracy measured on the
converted file itself next to the Keras model's. A quantized model nobody measured is a guess; the
sidecar turns it into a claim a user can check.

Variants (``quant``):

* ``int8``: full integer quantization. The converter calibrates activation ranges on a
  representative set drawn from ``x_train``, balanced across the ten classes (a set skewed towards
  some digits would clip the activations of the others). Input and output are int8 by default,
  ``io="uint8"`` gives uint8 I/O for runtimes/accelerators that want it, ``io="float"`` keeps
  float I/O around an integer body. Only ``TFLITE_BUILTINS_INT8`` ops are allowed, which keeps the
  file loadable by older interpreters such as ``tflite-runtime`` 2.14 on a Raspberry Pi.
* ``float16``: float16 weights, float compute (half the size, no calibration).
* ``dynamic``: int8 weights, float activations quantized on the fly (Dense weights per tensor,
  so that tflite-runtime 2.14 can load it).
* ``none``: plain float32 (the reference; file name ``<stem>_float32.tflite``).

This module needs TensorFlow (the training side). Device code only ever opens the result through
:class:`mnist_edge.reading.runtime.Classifier`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_edge.common import atomic
from mnist_edge.common.checksum import sha256_file
from mnist_edge.common.errors import UserError
from mnist_edge.common.metrics import dist_version
from mnist_edge.common.quiet import import_quietly, native_output_silenced, python_chatter_silenced
from mnist_edge.common.text import first_line
from mnist_edge.training.data import MnistData, to_model_input

QUANTS = ("int8", "float16", "dynamic", "none")
IO_TYPES = ("int8", "uint8", "float")
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")
DEFAULT_CALIBRATION = 500
LABELS = list(range(10))
EXPECTED_INPUT = (28, 28, 1)


@dataclass
class ConvertResult:
    """What a conversion produced: the file, its sidecar, and the sidecar's contents."""

    tflite_path: Path
    sidecar_path: Path
    info: dict[str, Any]


def variant_name(quant: str, io_type: str = "int8") -> str:
    """The file-name tag of a variant: ``int8``, ``int8_uint8io``, ``float16``, ``float32``...

    The I/O type is part of the name only when it is not the default, so two int8 files with
    different I/O never overwrite each other.
    """
    if quant == "none":
        return "float32"
    if quant == "int8" and io_type != "int8":
        return f"int8_{io_type}io"
    return quant


def output_paths(
    model_path: str | os.PathLike[str], quant: str, io_type: str = "int8",
    out_dir: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path]:
    """``models/edge.h5`` -> (``models/edge_int8.tflite``, ``models/edge_int8.json``)."""
    model_path = Path(model_path)
    folder = Path(out_dir) if out_dir is not None else model_path.parent
    stem = f"{model_path.stem}_{variant_name(quant, io_type)}"
    return folder / f"{stem}.tflite", folder / f"{stem}.json"


def check_keras_file(path: str | os.PathLike[str]) -> None:
    """Cheap checks (no TensorFlow): the file exists, is named like a Keras model and starts
    like one (HDF5 or zip signature), so a wrong file fails before MNIST is loaded."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model not found: {path}")
    if path.suffix.lower() not in KERAS_SUFFIXES:
        raise UserError(f"{path}: expected a Keras model (.h5 or .keras)")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not (head == b"\x89HDF\r\n\x1a\n" or head.startswith(b"PK\x03\x04")):
        raise UserError(f"{path}: not a readable Keras model (neither HDF5 nor a .keras zip)")


def load_keras_model(path: str | os.PathLike[str], n_classes: int | None = None):
    """Load a Keras model and check it is a digit classifier: (28, 28, 1) in, 10 classes out.

    Every failure becomes a :class:`UserError` naming the file, because a user who points the
    converter at the wrong file deserves a sentence, not an h5py traceback.
    """
    path = Path(path)
    check_keras_file(path)
    import_quietly("tensorflow")
    import keras

    try:
        with python_chatter_silenced():
            model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py OSError, zipfile errors, Keras ValueError/TypeError...
        raise UserError(f"{path}: not a readable Keras model ({first_line(exc)})")
    check_model_shape(model, path, n_classes)
    return model


def check_model_shape(model: Any, path: str | os.PathLike[str] = "model",
                      n_classes: int | None = None) -> None:
    """Reject models that cannot read MNIST crops or do not output ``n_classes`` class
    probabilities (10 for MNIST, a class-folder set's count; None: any count of at least 2,
    e.g. a base model about to get a new output layer)."""
    try:
        in_shape = tuple(model.input_shape)
        out_shape = tuple(model.output_shape)
    except (AttributeError, ValueError) as exc:
        raise UserError(f"{path}: model has no single input/output ({first_line(exc)})")
    if in_shape[1:] != EXPECTED_INPUT:
        raise UserError(
            f"{path}: model input is {_shape_str(in_shape)}, expected (N, 28, 28, 1) "
            "MNIST images"
        )
    if len(out_shape) != 2 or (out_shape[1] or 0) < 2 or (
            n_classes is not None and out_shape[1] != n_classes):
        want = "classes" if n_classes is None else str(n_classes)
        raise UserError(f"{path}: model output is {_shape_str(out_shape)}, expected (N, {want})")


def calibration_indices(data: MnistData, n: int = DEFAULT_CALIBRATION, seed: int = 0
                        ) -> np.ndarray:
    """Indices of ``n`` training images, as balanced across classes as ``n`` allows, shuffled.

    Balanced because calibration sets each activation's range: a set short of some digit would
    clip the activations that digit drives, and int8 accuracy would drop on exactly that class.
    """
    if n < 1:
        raise UserError(f"--calibration must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    classes = range(len(getattr(data, "classes", LABELS)))  # a class-folder set's own classes
    k_n = len(classes)
    per_class = [rng.permutation(np.flatnonzero(data.y_train == k)) for k in classes]
    counts = [n // k_n + (1 if k < n % k_n else 0) for k in classes]
    chosen = np.concatenate([idx[:c] for idx, c in zip(per_class, counts, strict=True)])
    n = min(n, len(data.y_train))
    if len(chosen) < n:  # a tiny training set lacks some class: top up from what is there
        rest = np.setdiff1d(np.arange(len(data.y_train)), chosen)
        chosen = np.concatenate([chosen, rng.permutation(rest)[: n - len(chosen)]])
    return rng.permutation(chosen)


def to_tflite(model: Any, quant: str = "int8", calibration: np.ndarray | None = None,
              io_type: str = "int8") -> bytes:
    """Run the TFLite converter on an in-memory Keras model and return the flatbuffer bytes."""
    if quant not in QUANTS:
        raise UserError(f"unknown quantization {quant!r}; choose {', '.join(QUANTS)}")
    if io_type not in IO_TYPES:
        raise UserError(f"unknown I/O type {io_type!r}; choose {', '.join(IO_TYPES)}")
    import_quietly("tensorflow")
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quant != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quant == "dynamic":
        # Per-channel hybrid Dense needs FULLY_CONNECTED version 12, which tflite-runtime 2.14
        # cannot load ("Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'").
        # Per-tensor Dense weights keep the file loadable there, at the same accuracy
        # (scripts/check_runtimes.py, benchmarks/runtimes.md).
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    if quant == "int8":
        if calibration is None or len(calibration) == 0:
            raise UserError("int8 conversion needs calibration images")
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_type != "float":
            io_dtype = tf.int8 if io_type == "int8" else tf.uint8
            converter.inference_input_type = io_dtype
            converter.inference_output_type = io_dtype
    try:
        # the converter's C++ ``fully_quantize: ...`` lines go straight to fds 1 and 2
        with python_chatter_silenced(), native_output_silenced(stdout=True):
            return bytes(converter.convert())
    except Exception as exc:
        raise UserError(f"TFLite conversion failed ({first_line(exc)})")


def convert(
    model_path: str | os.PathLike[str],
    data: MnistData,
    quant: str = "int8",
    io_type: str = "int8",
    out_dir: str | os.PathLike[str] | None = None,
    calibration: int = DEFAULT_CALIBRATION,
    seed: int = 0,
    runtime: str = "auto",
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ConvertResult:
    """Convert ``model_path``, measure both models on ``data``'s test split, write both files.

    The ``.tflite`` is measured while it still sits under its temporary name: if it cannot be
    loaded or measured, nothing is left behind. The sidecar is written after the model is in
    place, so a sidecar never describes a file that is not there.
    """
    step = progress or (lambda _msg: None)
    if quant not in QUANTS:
        raise UserError(f"unknown quantization {quant!r}; choose {', '.join(QUANTS)}")
    if io_type not in IO_TYPES:
        raise UserError(f"unknown I/O type {io_type!r}; choose {', '.join(IO_TYPES)}")
    if io_type != "int8" and quant != "int8":
        raise UserError(f"--io {io_type} applies to --quant int8 only "
                        "(the float variants keep float I/O)")
    from mnist_edge.reading.runtime import find_runtime

    find_runtime(runtime)  # a runtime that cannot load here fails now, not after converting
    tflite_path, sidecar_path = output_paths(model_path, quant, io_type, out_dir)
    atomic.check_writable(tflite_path, sidecar_path)
    step("loading the Keras model")
    model = load_keras_model(model_path, len(getattr(data, "classes", LABELS)))
    calib = calibration_indices(data, calibration, seed) if quant == "int8" else None
    step(f"converting ({variant_name(quant, io_type)})")
    images = None if calib is None else to_model_input(data.x_train[calib])
    content = to_tflite(model, quant, images, io_type)
    step("measuring the Keras model on the test set")
    keras_probs = keras_predict(model, data.x_test)
    step("measuring the .tflite file on the test set")
    with atomic.atomic_path(tflite_path) as tmp:
        tmp.write_bytes(content)
        measured = _measure_tflite(tmp, data, keras_probs, runtime)
    info = _sidecar(
        model_path, tflite_path, quant, io_type, calib, seed, data, measured, keras_probs, command
    )
    atomic.write_json(sidecar_path, info)
    return ConvertResult(tflite_path, sidecar_path, info)


def keras_predict(model: Any, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Keras probabilities for uint8 images (N, 28, 28), in batches to bound memory."""
    return np.asarray(
        model.predict(to_model_input(images), batch_size=batch_size, verbose=0), dtype=np.float32
    )


def tflite_predict(classifier: Any, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Probabilities from a :class:`~mnist_edge.reading.runtime.Classifier`, a few hundred per
    invoke."""
    parts = [classifier.predict(images[i : i + batch_size])
             for i in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)


def tensor_details(details: dict[str, Any]) -> dict[str, Any]:
    """An interpreter tensor's details as JSON: what a caller must feed and will get back."""
    scale, zero = details.get("quantization", (0.0, 0))
    signature = details.get("shape_signature", details["shape"])
    return {
        "name": str(details.get("name", "")),
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(d) for d in signature],
        "scale": float(scale),
        "zero_point": int(zero),
    }


def _measure_tflite(path: Path, data: MnistData, keras_probs: np.ndarray, runtime: str
                    ) -> dict[str, Any]:
    from mnist_edge.reading.runtime import Classifier
    from mnist_edge.reading.tflite_file import operator_versions

    clf = Classifier(path, runtime=runtime, classes=len(getattr(data, "classes", LABELS)))
    probs = tflite_predict(clf, data.x_test)
    return {
        "probs": probs,
        "runtime": clf.runtime.name,
        "input": tensor_details(clf.input_details),
        "output": tensor_details(clf.output_details),
        "size_bytes": path.stat().st_size,
        "operators": operator_versions(path.read_bytes()),
    }


def _sidecar(model_path, tflite_path: Path, quant: str, io_type: str, calib, seed: int,
             data: MnistData, measured: dict[str, Any], keras_probs: np.ndarray,
             command: str | None) -> dict[str, Any]:
    """The sidecar JSON: provenance, tensor contract, and accuracy measured on the file."""
    from mnist_edge.common.metrics import classification_metrics, package_versions

    probs = measured["probs"]
    tfl_pred, keras_pred = probs.argmax(axis=1), keras_probs.argmax(axis=1)
    labels = getattr(data, "classes", None)  # a class-folder set names its classes
    metrics = classification_metrics(data.y_test, tfl_pred, labels)
    keras_acc = float((keras_pred == data.y_test).mean())
    info: dict[str, Any] = {
        "model": tflite_path.name,
        "source": {"path": str(model_path), "sha256": sha256_file(model_path)},
        "quantization": quant,
        "io_type": io_type if quant == "int8" else "float",
        "calibration": None if calib is None else {
            "images": len(calib), "from": "x_train" if labels is None else "class folders",
            "balanced": True, "seed": seed,
            "per_class": np.bincount(data.y_train[calib],
                                     minlength=len(labels or LABELS)).tolist(),
        },
        "input": measured["input"],
        "output": measured["output"],
        "labels": LABELS if labels is None else labels,
        **({} if labels is None else {"preprocessing": data.preprocessing,
                                      **data.describe()}),
        "size_bytes": measured["size_bytes"],
        "operators": measured["operators"],
        "test_examples": int(len(data.y_test)),
        "test_accuracy": metrics["test_accuracy"],
        "keras_test_accuracy": round(keras_acc, 6),
        "accuracy_difference_pp": round(100.0 * (metrics["test_accuracy"] - keras_acc), 4),
        "agreement_with_keras": round(float((tfl_pred == keras_pred).mean()), 6),
        "max_probability_difference": round(float(np.abs(probs - keras_probs).max()), 6)
        if len(probs) else 0.0,
        "measured_with": measured["runtime"],
        **{k: v for k, v in metrics.items() if k != "test_accuracy"},
        "data_source": data.source,
        "data_sha256": data.sha256,
        "versions": {**package_versions(), "converter": "tf.lite.TFLiteConverter",
                     "ai_edge_litert": dist_version("ai-edge-litert")},
        "command": command,
    }
    training = _training_summary(Path(model_path))
    if training:
        info["training"] = training
    return info


def _training_summary(model_path: Path) -> dict[str, Any] | None:
    """What the model's own metrics JSON says about its training data and calibration (the
    mixed recipe's models): so the file a device runs says what it learned from."""
    import json

    metrics = model_path.with_suffix(".json")
    try:
        m = json.loads(metrics.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or "training_data" not in m:
        return None
    return {k: m[k] for k in ("arch", "training_data", "mix", "warm_start", "temperature",
                              "calibration") if k in m}


def _representative(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The converter's calibration feed: one float32 image (1, 28, 28, 1) at a time."""
    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(len(images)):
            yield [images[i : i + 1].astype(np.float32)]
    return gen


def _shape_str(shape: tuple) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"
