"""Open a ``.tflite`` model with the best interpreter available, without TensorFlow if possible.

Order tried by ``runtime="auto"``:

1. LiteRT (``ai_edge_litert.interpreter``): the maintained successor, numpy 2, x86_64 + aarch64;
2. ``tflite_runtime`` 2.14 (last release 2023): built against numpy 1.x, so it is skipped with a
   clear reason when numpy 2 is installed (it would die with ``_ARRAY_API not found``);
3. ``tensorflow.lite``: only if TensorFlow happens to be installed (the training machine).

:class:`Classifier` hides quantization: callers pass uint8 (0..255) or float ([0, 1]) 28x28 images
and get float probabilities back, using the model's own scale and zero point. A batch of crops
is classified in one ``invoke`` by resizing the input tensor, because a frame can hold several
digits.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_edge.common.errors import UserError
from mnist_edge.common.quiet import native_output_silenced, quiet_tensorflow_logs
from mnist_edge.common.text import first_line
from mnist_edge.reading.sidecar import load_model_info
from mnist_edge.reading.tflite_file import check_tflite

RUNTIMES = ("litert", "tflite_runtime", "tensorflow")


@dataclass(frozen=True)
class Runtime:
    """An importable interpreter: its name and the ``Interpreter`` class."""

    name: str
    interpreter_cls: Callable[..., Any]


def _import_litert() -> Callable[..., Any]:
    return importlib.import_module("ai_edge_litert.interpreter").Interpreter


def _import_tflite_runtime() -> Callable[..., Any]:
    if int(np.__version__.split(".")[0]) >= 2:
        # Importing it under numpy 2 prints a long C-level warning, then fails: don't even try.
        raise ImportError(
            f"tflite-runtime is built for numpy 1.x but numpy {np.__version__} is installed; "
            "use LiteRT (pip install ai-edge-litert) or install 'numpy<2' for tflite-runtime"
        )
    try:
        return importlib.import_module("tflite_runtime.interpreter").Interpreter
    except ModuleNotFoundError as exc:
        raise ImportError(f"tflite-runtime is not installed ({first_line(exc)}); "
                          "pip install tflite-runtime 'numpy<2'") from exc


def _import_tensorflow() -> Callable[..., Any]:
    quiet_tensorflow_logs()
    return importlib.import_module("tensorflow").lite.Interpreter


_IMPORTERS: dict[str, Callable[[], Callable[..., Any]]] = {
    "litert": _import_litert,
    "tflite_runtime": _import_tflite_runtime,
    "tensorflow": _import_tensorflow,
}


def find_runtime(name: str = "auto") -> Runtime:
    """The interpreter to use: ``name`` if forced, else the first of :data:`RUNTIMES` that works."""
    if name != "auto" and name not in _IMPORTERS:
        raise UserError(f"unknown runtime {name!r}; choose auto, {', '.join(RUNTIMES)}")
    names = RUNTIMES if name == "auto" else (name,)
    reasons = []
    for candidate in names:
        try:
            return Runtime(candidate, _IMPORTERS[candidate]())
        except Exception as exc:  # ImportError, or a broken binary raising something else
            reasons.append(f"{candidate}: {first_line(exc)}")
    if name != "auto":
        raise UserError(f"runtime {name!r} is not usable here ({reasons[0].split(': ', 1)[1]})")
    raise UserError(
        "no TFLite interpreter found; install LiteRT: pip install ai-edge-litert ("
        + "; ".join(reasons) + ")"
    )


def available_runtimes() -> list[str]:
    """Names of the runtimes that import in this environment (benchmarks and tests use this)."""
    found = []
    for name in RUNTIMES:
        try:
            _IMPORTERS[name]()
            found.append(name)
        except Exception:
            pass
    return found


class Classifier:
    """A TFLite digit classifier: images in (uint8 or float), float probabilities out.

    >>> clf = Classifier("models/edge_int8.tflite")
    >>> probs = clf.predict(crops)           # crops: (N, 28, 28) uint8
    >>> labels = probs.argmax(axis=1)
    """

    def __init__(
        self, model_path: str | os.PathLike[str], runtime: str = "auto", threads: int | None = None,
        classes: int | None = None,
    ) -> None:
        """``classes``: how many outputs to expect when the caller knows better than the
        sidecar (``convert`` measures a file before its sidecar is written); default: as many
        as the sidecar names, 10 without one."""
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise UserError(f"model not found: {self.model_path}")
        if threads is not None and threads < 1:
            raise UserError(f"threads must be at least 1, got {threads}")
        self.threads = threads
        self.runtime = find_runtime(runtime)
        # tflite_runtime and tf.lite segfault on a truncated file instead of raising: check first.
        check_tflite(self.model_path)
        try:
            # tf.lite's deprecation warning and the XNNPACK "INFO: Created ... delegate" line
            # are noise on a device's terminal or journal.
            with warnings.catch_warnings(), native_output_silenced():
                warnings.simplefilter("ignore", UserWarning)
                self._interp = self.runtime.interpreter_cls(
                    model_path=str(self.model_path), num_threads=threads
                )
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"{self.model_path}: not a valid .tflite model ({first_line(exc)})")
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        self.input_dtype = np.dtype(inp["dtype"])
        self.output_dtype = np.dtype(out["dtype"])
        self.input_quant = _quant(inp)
        self.output_quant = _quant(out)
        shape = tuple(int(d) for d in inp["shape"])
        if len(shape) not in (3, 4) or shape[1:3] != (28, 28) or shape[3:] not in ((), (1,)):
            raise UserError(f"{self.model_path}: expects input {shape}, not 28x28 grayscale")
        out_shape = tuple(int(d) for d in out["shape"])
        # 10 for MNIST models; a model trained on class folders has one output per class
        # folder, as its sidecar names them
        info = load_model_info(self.model_path)
        expected = classes or len(info.labels)
        if len(out_shape) != 2 or out_shape[1] != expected:
            named = f" (as its sidecar {info.sidecar.name} names)" if info.sidecar and \
                not classes else ""
            raise UserError(f"{self.model_path}: outputs shape {out_shape}, "
                            f"not {expected} class probabilities{named}")
        self.num_classes = expected
        self._input_rank = len(shape)
        self._batch = shape[0]
        self._check_blank_inference()

    def _check_blank_inference(self) -> None:
        """One inference on a blank image now: a damaged file (a bad quantization scale) loads
        fine and only fails when invoked, which would otherwise be at the first frame or request."""
        try:
            with native_output_silenced():
                probs = self.predict(np.zeros((max(self._batch, 1), 28, 28), np.uint8))
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"{self.model_path}: the model fails on a blank test image "
                            f"({first_line(exc)}); the file is damaged: convert it again"
                            ) from None
        if not np.all(np.isfinite(probs)):
            raise UserError(f"{self.model_path}: the model gives non-finite probabilities on a "
                            "blank test image; the file is damaged: convert it again")

    @property
    def input_details(self) -> dict[str, Any]:
        """The interpreter's input details (dtype, shape, quantization)."""
        return self._interp.get_input_details()[0]

    @property
    def output_details(self) -> dict[str, Any]:
        """The interpreter's output details."""
        return self._interp.get_output_details()[0]

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) float32 for images (N, 28, 28) or (28, 28).

        uint8 images are read as 0..255; float images as 0..1. One ``invoke`` for the batch.
        """
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[np.newaxis]
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}")
        n = images.shape[0]
        if n == 0:
            return np.zeros((0, self.num_classes), dtype=np.float32)
        if images.dtype == np.uint8:
            x = images.astype(np.float32) / 255.0
        elif np.issubdtype(images.dtype, np.floating):
            # Resampling overshoots [0, 1] a little: clip that; a 0..255 float image is a bug.
            if images.size and float(np.max(images)) > 2.0:
                raise ValueError("float images must lie in [0, 1]; pass uint8 for 0..255")
            x = np.clip(images, 0.0, 1.0)
        else:
            raise ValueError(f"images must be uint8 (0..255) or float (0..1), not {images.dtype}")
        self._resize(n)
        self._interp.set_tensor(self._in_index, self._quantize(x))
        self._interp.invoke()
        return self._dequantize(self._interp.get_tensor(self._out_index))

    def _resize(self, n: int) -> None:
        """Resize the input tensor to batch ``n`` only when it changes (allocation is costly)."""
        if n != self._batch:
            shape = [n, 28, 28, 1][: self._input_rank]
            self._interp.resize_tensor_input(self._in_index, shape, strict=False)
            self._interp.allocate_tensors()
            self._batch = n

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        x = x.reshape((x.shape[0], 28, 28, 1)[: self._input_rank])
        if self.input_dtype.kind == "f":
            return x.astype(self.input_dtype, copy=False)
        scale, zero = self.input_quant
        info = np.iinfo(self.input_dtype)
        q = np.round(x / scale + zero)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        if self.output_dtype.kind == "f":
            return y.astype(np.float32, copy=True)
        scale, zero = self.output_quant
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def _quant(details: dict[str, Any]) -> tuple[float, int]:
    scale, zero = details.get("quantization", (0.0, 0))
    return float(scale) or 1.0, int(zero)
