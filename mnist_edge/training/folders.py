"""A class-folder dataset: ``DIR/<class>/*.png|jpg``, the layout Keras' image_dataset_from_directory
and torchvision's ImageFolder read (numpy + OpenCV only, no TensorFlow).

Two layouts:

* ``DIR/<class>/...``: everything in one place; a stratified, seeded hold-out (``val_split``) is
  measured like MNIST's test set;
* ``DIR/train/<class>/...`` + ``DIR/test/<class>/...``: used as given.

Images of any size, colour or grey, are prepared by
:func:`mnist_edge.reading.model_input.prepare_crop` (the device runs the same function), so the
arrays here are what the model sees: uint8 (N, 28, 28), light ink on black. Class names are the
folder names, sorted with digits first in numeric order (``0``..``9``, then ``N``, ``blank``),
so a digits-only set keeps MNIST's label order and a fine-tuned model keeps its digit outputs.
``unsure/`` (crops still to sort) and folders starting with ``_`` or ``.`` (``_discarded/``)
are not classes and are skipped.

:class:`FolderData` has the fields of :class:`~mnist_edge.training.data.MnistData` (``x_train``,
``y_train``, ``x_test``, ``y_test``, ``source``, ``sha256``, ``subset``), so ``convert`` and
``evaluate`` take either.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mnist_edge.common.errors import UserError
from mnist_edge.reading.camera import IMAGE_EXTS, load_image
from mnist_edge.reading.class_folders import class_order, is_class_name
from mnist_edge.reading.model_input import CROP_PREPROCESSING, INPUT_SIZE, prepare_crop

DEFAULT_VAL_SPLIT = 0.2
MIN_PER_CLASS = 2  # one to train on, one to hold out


@dataclass(frozen=True)
class FolderData:
    """Prepared crops and labels of a class-folder set, split into train and test."""

    x_train: np.ndarray  # (N, 28, 28) uint8
    y_train: np.ndarray  # (N,) int64 indices into ``classes``
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    source: str
    sha256: str
    layout: str  # "train/test" or "split"
    val_split: float | None = None
    seed: int = 0
    skipped: list[str] = field(default_factory=list)  # unreadable files, not counted as data
    test_files: list[str] = field(default_factory=list)
    preprocessing: dict[str, Any] = field(default_factory=lambda: dict(CROP_PREPROCESSING))

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> FolderData:
        """The first ``n_train`` / ``n_test`` crops (quick runs), as MnistData.subset."""
        return replace(self, x_train=self.x_train[:n_train], y_train=self.y_train[:n_train],
                       x_test=self.x_test[:n_test], y_test=self.y_test[:n_test],
                       test_files=self.test_files[:n_test])

    def describe(self) -> dict[str, Any]:
        """What the metrics and sidecars record about the data."""
        return {
            "data_dir": self.source, "data_sha256": self.sha256, "layout": self.layout,
            "val_split": self.val_split, "split_seed": self.seed, "classes": self.classes,
            "train_per_class": np.bincount(self.y_train, minlength=len(self.classes)).tolist(),
            "test_per_class": np.bincount(self.y_test, minlength=len(self.classes)).tolist(),
            "skipped_images": len(self.skipped),
        }


def is_class_folder(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder of class subfolders (not MNIST's idx files): how
    ``--data`` tells the two kinds of dataset apart."""
    p = Path(path)
    if not p.is_dir():
        return False
    if any(f.name.startswith(("train-images", "t10k-images")) for f in p.iterdir()):
        return False
    return any(d.is_dir() and is_class_name(d.name) for d in p.iterdir())


def scan(folder: Path) -> dict[str, list[Path]]:
    """{class name: its image files (recursively, sorted)} of one class-folder level.

    UserError for a folder without class subfolders, or a class folder with no image (an
    empty class cannot be learnt, and silently dropping it would change the class list).
    ``unsure/`` and ``_``-folders (``_discarded/``) are not classes: see
    :mod:`mnist_edge.reading.class_folders`."""
    if not folder.is_dir():
        raise UserError(f"no such folder: {folder}")
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and is_class_name(d.name))
    if not subdirs:
        loose = [f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTS]
        hint = f" ({len(loose)} loose images found: sort them into one folder per class)" \
            if loose else ""
        raise UserError(f"{folder}: no class folders (expected {folder}/<class>/*.png){hint}")
    found = {}
    for d in subdirs:
        files = sorted(f for f in d.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise UserError(f"{d}: class folder '{d.name}' holds no images "
                            "(remove it or add crops)")
        found[d.name] = files
    return found


def read_crops(files: list[Path], preprocessing: dict[str, Any] | None = None
               ) -> tuple[np.ndarray, list[int], list[str]]:
    """Prepared crops of ``files``; (crops, indices of the files read, files skipped)."""
    crops, kept, skipped = [], [], []
    for i, f in enumerate(files):
        try:
            image = load_image(f, -1)  # as stored: grey, colour or with alpha
        except OSError:
            image = None
        if image is None or image.size == 0:
            skipped.append(str(f))
            continue
        crops.append(prepare_crop(image, preprocessing))
        kept.append(i)
    arr = np.stack(crops) if crops else np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8)
    return arr, kept, skipped


def _load_level(found: dict[str, list[Path]], classes: list[str], prep: dict[str, Any]
                ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    xs, ys, names, skipped = [], [], [], []
    for name, files in found.items():
        crops, kept, bad = read_crops(files, prep)
        skipped.extend(bad)
        if len(kept) == 0:
            raise UserError(f"class '{name}': none of its {len(files)} images could be read")
        xs.append(crops)
        ys.append(np.full(len(kept), classes.index(name), np.int64))
        names.extend(str(files[i]) for i in kept)
    return np.concatenate(xs), np.concatenate(ys), names, skipped


def stratified_split(y: np.ndarray, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): ``val_split`` of every class held out, at least one
    each, the same for the same seed. Stratified because a small class left out of the
    hold-out by chance would go unmeasured."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        n_test = min(len(idx) - 1, max(1, round(val_split * len(idx))))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_class_folders(path: str | os.PathLike[str], val_split: float = DEFAULT_VAL_SPLIT,
                       seed: int = 0, preprocessing: dict[str, Any] | None = None,
                       classes: list[str] | None = None, test_only: bool = False) -> FolderData:
    """Read a class-folder set, prepare every crop, split it (or take DIR/train + DIR/test).

    ``classes`` fixes the class list (a model's own, when evaluating or converting); a folder
    name outside it is an error. ``test_only``: every image is test data (``evaluate`` on a set
    the model never saw), unless DIR/test exists, which is then used alone.
    """
    folder = Path(path).expanduser()
    prep = dict(preprocessing or CROP_PREPROCESSING)
    if not (0.0 < val_split < 1.0):
        raise UserError(f"--val-split must lie between 0 and 1, got {val_split}")
    split_layout = (folder / "train").is_dir() and (folder / "test").is_dir()
    if split_layout:
        train_found = {} if test_only else scan(folder / "train")
        test_found = scan(folder / "test")
        names = class_order(sorted(set(train_found) | set(test_found)))
    else:
        train_found, test_found = {}, scan(folder)
        names = class_order(list(test_found))
    names = _checked_classes(folder, names, classes, need_two=not test_only)
    sha = _sha256_of_files([f for fs in (*train_found.values(), *test_found.values()) for f in fs])
    if split_layout:
        x_te, y_te, te_names, skipped = _load_level(test_found, names, prep)
        if test_only:
            x_tr, y_tr, more = x_te[:0], y_te[:0], []
        else:
            x_tr, y_tr, _, more = _load_level(train_found, names, prep)
        return FolderData(x_tr, y_tr, x_te, y_te, names, str(folder), sha, "train/test",
                          None, seed, skipped + more, te_names, prep)
    x, y, files, skipped = _load_level(test_found, names, prep)
    if test_only:
        return FolderData(x[:0], y[:0], x, y, names, str(folder), sha, "all as test", None,
                          seed, skipped, files, prep)
    small = [n for k, n in enumerate(names) if (y == k).sum() < MIN_PER_CLASS]
    if small:
        raise UserError(f"{folder}: class(es) {', '.join(small)} have fewer than "
                        f"{MIN_PER_CLASS} readable images (one to train, one to hold out)")
    tr, te = stratified_split(y, val_split, seed)
    return FolderData(x[tr], y[tr], x[te], y[te], names, str(folder), sha, "split", val_split,
                      seed, skipped, [files[i] for i in te], prep)


def _checked_classes(folder: Path, found: list[str], classes: list[str] | None,
                     need_two: bool) -> list[str]:
    if classes is None:
        if need_two and len(found) < 2:
            raise UserError(f"{folder}: only one class ({found[0]}): a classifier needs at "
                            "least two class folders")
        return found
    unknown = [n for n in found if n not in classes]
    if unknown:
        raise UserError(f"{folder}: class folder(s) {', '.join(unknown)} are not among the "
                        f"model's classes ({', '.join(classes)})")
    return list(classes)


def _sha256_of_files(files: list[Path]) -> str:
    """One hash over the set's file names and bytes: which data a model was trained on."""
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f"{f.parent.name}/{f.name}".encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def warn_skipped(data: FolderData) -> str | None:
    """The one warning line for unreadable images (counted, first few named), or None."""
    if not data.skipped:
        return None
    shown = ", ".join(Path(s).name for s in data.skipped[:3])
    more = f" and {len(data.skipped) - 3} more" if len(data.skipped) > 3 else ""
    return f"warning: skipped {len(data.skipped)} unreadable image(s): {shown}{more}"
