"""Self-test of a deployed release: read the bundle's sample images, every one must come out right.

Why: a deploy is only worth switching to if the device reads digits with *this* model, *this*
interpreter and *this* OpenCV build. ``install.sh`` runs ``mnist-edge selftest RELEASE`` before it
switches ``current``; ``mnist-edge bundle`` runs the same check on the laptop before it packs, so a
bad model is caught before it travels.

Samples are a folder with a ``labels.json`` that maps image file names to the expected digits:
``{"0003_7.png": "7", "street.png": "42"}`` (ints and lists of ints are accepted too). A 28x28 image
is an MNIST-style crop (white ink on black) and goes straight to the classifier, all crops in one
batched call; any other image is a scene and goes through
:class:`mnist_edge.reading.reader.DigitReader`,
whose digits, left to right, must spell the expected string.

Device side: imports numpy and OpenCV, never TensorFlow.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnist_edge.common import atomic
from mnist_edge.common.errors import UserError

LABELS_FILE = "labels.json"
MANIFEST_FILE = "manifest.json"
CROP_SHAPE = (28, 28)


@dataclass(frozen=True)
class SampleCheck:
    """One sample image: what it should read and what the model read."""

    name: str
    expected: str
    got: str
    confidence: float

    @property
    def ok(self) -> bool:
        return self.expected == self.got


@dataclass
class SelftestReport:
    """All sample checks of one run, with the model and interpreter that produced them."""

    model: str
    runtime: str
    checks: list[SampleCheck] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[SampleCheck]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        """Passed: at least one sample, and every sample read right."""
        return bool(self.checks) and not self.failures

    def summary(self) -> str:
        """One line for logs: ``self-test passed: 20/20 samples read right (...)``."""
        verdict = "passed" if self.ok else "FAILED"
        right = len(self.checks) - len(self.failures)
        line = (f"self-test {verdict}: {right}/{len(self.checks)} samples read right "
                f"(model {Path(self.model).name}, runtime {self.runtime}, {self.seconds:.2f} s)")
        for bad in self.failures[:5]:
            line += f"; {bad.name}: expected {bad.expected!r}, read {bad.got!r}"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "model": self.model, "runtime": self.runtime,
            "seconds": round(self.seconds, 4),
            "samples": [{"name": c.name, "expected": c.expected, "got": c.got,
                         "confidence": round(c.confidence, 4), "ok": c.ok} for c in self.checks],
        }


def _as_digits(value: Any, where: str) -> str:
    """Normalize an expected label (7, "7", "42", [4, 2]) to a digit string."""
    if isinstance(value, bool):
        raise UserError(f"{where}: expected digits, got {value!r}")
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    if isinstance(value, str) and value and all(c.isalnum() or c in "_.-" for c in value):
        return value  # a class-folder model's class name ("N", "blank")
    if isinstance(value, list) and value and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9 for v in value
    ):
        return "".join(str(v) for v in value)
    raise UserError(f"{where}: expected digits, got {value!r}")


def read_labels(samples_dir: str | os.PathLike[str]) -> dict[str, str]:
    """``labels.json`` of a samples folder as {file name: expected digit string}."""
    path = Path(samples_dir) / LABELS_FILE
    if not path.is_file():
        raise UserError(f"no {LABELS_FILE} in {samples_dir}: a samples folder maps image names "
                        "to their digits, e.g. {\"a.png\": \"7\"}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})")
    if isinstance(raw, dict) and isinstance(raw.get("samples"), list):
        raw = {_entry_name(e, path): _entry_label(e, path) for e in raw["samples"]}
    if not isinstance(raw, dict) or not raw:
        raise UserError(f"{path}: expected a non-empty object {{\"image.png\": \"7\", ...}}")
    labels = {}
    for name, value in raw.items():
        if Path(name).name != name or name.startswith("."):
            raise UserError(f"{path}: sample names must be plain file names, got {name!r}")
        labels[name] = _as_digits(value, f"{path}: {name}")
    return labels


def _entry_name(entry: Any, path: Path) -> str:
    for key in ("file", "path", "image", "name"):
        if isinstance(entry, dict) and isinstance(entry.get(key), str):
            return Path(entry[key]).name
    raise UserError(f"{path}: each sample needs a 'file' name, got {entry!r}")


def _entry_label(entry: dict[str, Any], path: Path) -> Any:
    for key in ("label", "labels", "digits", "text"):
        if key in entry:
            value = entry[key]
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return [d.get("label") for d in value]
            return value
    raise UserError(f"{path}: each sample needs a 'label', got {entry!r}")


def write_mnist_samples(
    out_dir: str | os.PathLike[str], images: np.ndarray, labels: np.ndarray
) -> dict[str, str]:
    """Save MNIST-style crops as PNGs plus ``labels.json``; returns the labels written."""
    import cv2

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = f"mnist_{i:03d}_{int(label)}.png"
        ok, png = cv2.imencode(".png", np.asarray(image, dtype=np.uint8))
        if not ok:
            raise UserError(f"could not encode sample {name} as PNG")
        atomic.write_bytes(out / name, png.tobytes())
        written[name] = str(int(label))
    atomic.write_json(out / LABELS_FILE, written)
    return written


def run_selftest(
    model: str | os.PathLike[str], samples_dir: str | os.PathLike[str], runtime: str = "auto"
) -> SelftestReport:
    """Read every sample with ``model``; the report says which were read right."""
    import cv2

    from mnist_edge.reading.camera import load_image
    from mnist_edge.reading.runtime import Classifier

    start = time.perf_counter()
    labels = read_labels(samples_dir)
    classifier = Classifier(model, runtime=runtime)
    if _whole_crops(model, classifier.num_classes):
        return _selftest_crops(model, samples_dir, labels, runtime, start)
    crops: list[tuple[str, np.ndarray]] = []
    checks: list[SampleCheck] = []
    reader = None
    for name, expected in sorted(labels.items()):
        path = Path(samples_dir) / name
        try:
            image = load_image(path, cv2.IMREAD_GRAYSCALE)
        except OSError:
            image = None
        if image is None:
            raise UserError(f"sample {path} is missing or not an image")
        if image.shape == CROP_SHAPE:
            crops.append((name, image))
            continue
        reader = reader or _digit_reader(model, runtime)
        digits = reader.read(load_image(path))
        got = "".join(str(int(d.label)) for d in digits)
        conf = min((float(d.confidence) for d in digits), default=0.0)
        checks.append(SampleCheck(name, expected, got, conf))
    if crops:
        probs = classifier.predict(np.stack([c for _, c in crops]))
        for (name, _), p in zip(crops, probs, strict=True):
            checks.append(SampleCheck(name, labels[name], str(int(p.argmax())), float(p.max())))
    checks.sort(key=lambda c: c.name)
    return SelftestReport(str(model), classifier.runtime.name, checks,
                          time.perf_counter() - start)


def _whole_crops(model: str | os.PathLike[str], num_classes: int) -> bool:
    """True for a model trained on class folders (its sidecar says so)."""
    from mnist_edge.reading.sidecar import load_model_info

    return load_model_info(model, num_classes).whole_crops


def _selftest_crops(model: str | os.PathLike[str], samples_dir: str | os.PathLike[str],
                    labels: dict[str, str], runtime: str, start: float) -> SelftestReport:
    """A crop model reads each sample whole, prepared as its sidecar says (as ``predict``)."""
    from mnist_edge.reading.camera import load_image

    reader = _digit_reader(model, runtime)
    checks = []
    for name, expected in sorted(labels.items()):
        path = Path(samples_dir) / name
        try:
            image = load_image(path, -1)
        except OSError:
            image = None
        if image is None:
            raise UserError(f"sample {path} is missing or not an image")
        d = reader.read_whole(image)
        checks.append(SampleCheck(name, expected, str(d.label), float(d.confidence)))
    return SelftestReport(str(model), reader.runtime_name, checks, time.perf_counter() - start)


def write_folder_samples(out_dir: str | os.PathLike[str], folder: str | os.PathLike[str],
                         per_class: int = 2) -> dict[str, str]:
    """Self-test samples from a class-folder set: the first ``per_class`` crops of each class
    (of ``folder/test`` when there is one), copied with a ``labels.json`` naming their class."""
    import shutil

    root = Path(folder)
    root = root / "test" if (root / "test").is_dir() else root
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels: dict[str, str] = {}
    for cls in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(f for f in cls.iterdir() if f.is_file())[:per_class]:
            name = f"{cls.name}_{f.name}"
            shutil.copy2(f, out / name)
            labels[name] = cls.name
    if not labels:
        raise UserError(f"{folder}: no class folders with crops for self-test samples")
    (out / LABELS_FILE).write_text(json.dumps(labels, indent=2) + "\n")
    return labels


def _digit_reader(model: str | os.PathLike[str], runtime: str) -> Any:
    """The scene reader, on the same runtime as the crops; only for samples that are not crops."""
    try:
        from mnist_edge.reading.reader import make_reader
    except ImportError as exc:
        raise UserError(f"sample images larger than 28x28 need mnist_edge.reading.reader ({exc})")
    return make_reader(model, runtime)


def release_paths(release_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(model, samples folder) of an unpacked bundle, read from its ``manifest.json``."""
    release = Path(release_dir)
    manifest_path = release / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        model, samples = release / manifest["model"]["file"], release / manifest["samples"]["dir"]
    except FileNotFoundError:
        raise UserError(f"{release} is not an unpacked mnist-edge bundle (no {MANIFEST_FILE})")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{manifest_path}: unreadable bundle manifest ({exc})")
    return model, samples


def selftest_release(release_dir: str | os.PathLike[str], runtime: str = "auto") -> SelftestReport:
    """The device's self-test: the release's own model on the release's own samples."""
    model, samples = release_paths(release_dir)
    return run_selftest(model, samples, runtime=runtime)
