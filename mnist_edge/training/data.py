"""Load MNIST from a file the user names, an environment variable, or Keras' own download.

Order of sources (the first that is given wins; a given source that is broken is an error, never
silently skipped):

1. an explicit path (``--data PATH``): an ``.npz`` with ``x_train, y_train, x_test, y_test`` (the
   layout of Keras' ``mnist.npz``), or a folder holding the four idx files, gzipped or not;
2. the environment variable ``MNIST_EDGE_DATA`` (same forms);
3. ``keras.datasets.mnist.load_data()``, which uses Keras' cache or downloads (needs internet).

This module needs only numpy; TensorFlow is imported only for the Keras fallback.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_edge.common.checksum import sha256_file
from mnist_edge.common.errors import UserError
from mnist_edge.common.text import first_line

ENV_VAR = "MNIST_EDGE_DATA"
KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_NAMES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


@dataclass(frozen=True)
class MnistData:
    """MNIST as uint8 arrays: images (N, 28, 28) in 0..255, labels (N,) in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: str

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> MnistData:
        """The first ``n_train`` / ``n_test`` examples: quick runs and tests train on these."""
        return MnistData(
            self.x_train[:n_train], self.y_train[:n_train],
            self.x_test[:n_test], self.y_test[:n_test],
            self.source, self.sha256,
        )


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], the input every model here takes."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., np.newaxis]


def load_mnist(path: str | os.PathLike[str] | None = None) -> MnistData:
    """Load MNIST from ``path``, else ``$MNIST_EDGE_DATA``, else Keras' cache/download."""
    if path is None and os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
    if path is None:
        return _load_keras()
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"MNIST data not found: {p} (pass --data PATH or set {ENV_VAR})")
    arrays = _read_idx_folder(p) if p.is_dir() else _read_npz(p)
    return _validated(arrays, source=str(p), sha256=_sha256_of(p))


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(p, allow_pickle=False) as npz:
            missing = [k for k in KEYS if k not in npz.files]
            if missing:
                raise UserError(f"{p}: not an MNIST .npz, missing keys {', '.join(missing)}")
            return {k: npz[k] for k in KEYS}
    except UserError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"{p}: cannot read as .npz ({first_line(exc)}); truncated or not an npz?")


def _read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for key, stems in IDX_NAMES.items():
        candidates = [folder / f"{s}{ext}" for s in stems for ext in ("", ".gz")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise UserError(f"{folder}: no {stems[0]}[.gz] in this folder (need the 4 idx files)")
        arrays[key] = read_idx(found)
    return arrays


def read_idx(p: Path) -> np.ndarray:
    """Parse one idx file (the format MNIST is distributed in), gzipped or raw."""
    try:
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    except (OSError, EOFError) as exc:
        raise UserError(f"{p}: cannot read ({first_line(exc)})")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{p}: not an unsigned-byte idx file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{p}: truncated idx header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape)  # Python ints: a header of huge dimensions cannot overflow
    if len(raw) - header != expected:
        raise UserError(f"{p}: expected {expected} bytes of data for shape {shape}, "
                        f"found {len(raw) - header} (truncated?)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _validated(arrays: dict[str, np.ndarray], source: str, sha256: str) -> MnistData:
    """Check shapes, dtypes and label range so a wrong file fails here, not deep in training."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise UserError(f"{source}: x_{split} has shape {x.shape}, expected (N, 28, 28)")
        if y.ndim != 1 or len(y) != len(x):
            raise UserError(f"{source}: y_{split} has shape {y.shape}, expected ({len(x)},)")
        if len(x) == 0:
            raise UserError(f"{source}: x_{split} is empty")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
            raise UserError(f"{source}: y_{split} must hold integer labels 0..9")
        if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
            bad = int(np.count_nonzero(~np.isfinite(x)))
            raise UserError(f"{source}: x_{split} holds {bad:,} non-finite values (NaN or "
                            "infinity); fix the data")
        if np.issubdtype(x.dtype, np.floating) and x.max() <= 1.0:
            arrays[f"x_{split}"] = np.round(x * 255)  # accept images already scaled to [0, 1]
        elif x.min() < 0 or x.max() > 255:
            raise UserError(f"{source}: x_{split} values must lie in 0..255")
    return MnistData(
        *(np.ascontiguousarray(arrays[k], dtype=np.uint8) for k in KEYS),
        source=source, sha256=sha256,
    )


def _load_keras() -> MnistData:
    """Keras' cached ``mnist.npz`` if it is there (read with numpy, no TensorFlow), else Keras'
    download with TensorFlow's start-up lines and the download's progress kept off the
    terminal, so a machine without the file or a network gets the one ``error:`` line only."""
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
    if cache.is_file():
        return _validated(_read_npz(cache), source="keras.datasets.mnist",
                          sha256=_sha256_of(cache))
    from mnist_edge.common import quiet

    try:
        keras = quiet.import_quietly("keras", tf_log_level="3")
        with quiet.python_chatter_silenced(), quiet.native_output_silenced():
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except ImportError:
        raise UserError(f"no MNIST data: pass --data PATH or set {ENV_VAR} "
                        "(the Keras download needs the [train] extra)") from None
    except Exception as exc:  # network errors come in many types
        raise UserError(f"no MNIST data: pass --data PATH or set {ENV_VAR} "
                        f"(Keras download failed: {first_line(exc)})") from None
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    sha = _sha256_of(cache) if cache.is_file() else "unknown"
    return _validated(arrays, source="keras.datasets.mnist", sha256=sha)


def _sha256_of(p: Path) -> str:
    """sha256 of a file, or of the sorted files of a folder (name and bytes)."""
    if not p.is_dir():
        return sha256_file(p)
    h = hashlib.sha256()
    for f in sorted(f for f in p.iterdir() if f.is_file()):
        h.update(f.name.encode())
        h.update(bytes.fromhex(sha256_file(f)))
    return h.hexdigest()
