"""The class-folder side of ``train``, ``convert`` and ``evaluate`` (``--data DIR`` with one
subfolder per class), kept apart from the MNIST path so each stays short.

The commands in :mod:`mnist_edge.cli.training` hand over here when ``--data`` is a folder of
class folders, or when a model's sidecar says it was trained on one. TensorFlow is imported
inside, as everywhere in the CLI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from mnist_edge.cli.common import command_line, import_quietly
from mnist_edge.common.errors import UserError
from mnist_edge.common.paths import REPO_MODELS_DIR

DEFAULT_BASE = REPO_MODELS_DIR / "edge.h5"


def check_writable(path: Path) -> None:
    """Fail before minutes of work when an output cannot be written: its folder (or the
    nearest one that exists, which is where it would be created) must be a writable folder.
    Nothing is created here, so a command that fails later leaves no trace."""
    folder = path.parent if str(path.parent) else Path(".")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot write {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise UserError(f"cannot write to {existing} (no permission)")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"cannot overwrite {path} (no permission)")


def folder_model_info(model: Path) -> dict[str, Any] | None:
    """The class-folder facts of a Keras or .tflite model (its sidecar's ``labels``,
    ``preprocessing`` and ``data_dir``), or None for an MNIST model."""
    import json

    from mnist_edge.reading.sidecar import sidecar_path

    side = sidecar_path(model)
    if not side.is_file():
        return None
    try:
        info = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{side}: unreadable sidecar ({exc})")
    if not isinstance(info, dict) or (info.get("preprocessing") or {}).get("kind") != "crop":
        return None
    return info


def train_on_folders(data: Path, out: Path, base: Path | None, from_scratch: bool, arch: str,
                     epochs: int | None, batch_size: int | None, seed: int, val_split: float,
                     quiet: bool) -> None:
    """``train --data DIR``: load and check the set, fine-tune (or train afresh), report."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    from mnist_edge.training.folders import load_class_folders, warn_skipped

    check_writable(out)
    if not from_scratch:
        base = base or DEFAULT_BASE
        if not base.is_file():
            raise UserError(f"base model not found: {base} (--from MODEL.h5, or "
                            "--from-scratch)")
    dataset = load_class_folders(data, val_split=val_split, seed=seed)
    warning = warn_skipped(dataset)
    if warning:
        typer.echo(warning, err=True)
    finetune = import_quietly("mnist_edge.training.finetune")
    training = import_quietly("mnist_edge.training.train")
    n_epochs = epochs or finetune.default_epochs(len(dataset.x_train),
                                                 batch_size or finetune.DEFAULT_BATCH)
    steps = -(-len(dataset.x_train) // (batch_size or finetune.DEFAULT_BATCH))
    console = Console(stderr=True)
    console.print(f"{len(dataset.x_train)} training / {len(dataset.x_test)} test crops in "
                  f"{len(dataset.classes)} classes ({', '.join(dataset.classes)}); "
                  + ("training from scratch" if from_scratch else f"fine-tuning {base}"))
    with Progress("[progress.description]{task.description}", BarColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, disable=quiet) as progress:
        callback = None if quiet else training.RichProgress(progress, n_epochs, steps)
        result = finetune.train_folders(
            dataset, out, None if from_scratch else base, arch=arch, epochs=epochs,
            batch_size=batch_size, seed=seed, progress=callback, command=command_line())
    m = result.metrics
    print(f"Test Accuracy: {m['test_accuracy']:.4f}")
    print(f"Test Error: {m['test_error_percent']:.2f}")
    print_per_class(m, console)
    console.print(f"{m['train_seconds']:.1f} s; wrote {result.model_path} and "
                  f"{result.metrics_path}")


def print_per_class(metrics: dict[str, Any], console: Any) -> None:
    """Per-class accuracy by class name, and the confusion matrix, as two small tables."""
    from rich.table import Table

    names = list(metrics["per_class_accuracy"])
    table = Table(title="per class (rows: true, columns: read as)")
    table.add_column("class")
    table.add_column("accuracy")
    for name in names:
        table.add_column(name, justify="right")
    for name, row in zip(names, metrics["confusion_matrix"], strict=True):
        table.add_row(name, f"{100 * metrics['per_class_accuracy'][name]:.1f}%",
                      *(str(v) if v else "." for v in row))
    console.print(table)


def folder_dataset_for(model: Path, data: Path | None, test_only: bool) -> Any:
    """The class-folder data ``convert`` or ``evaluate`` measures ``model`` on: ``data`` when
    given, else the folder the model was trained on (with its split), read with the model's
    own classes and preprocessing. None when neither the model nor ``data`` is class-folder."""
    from mnist_edge.training.folders import is_class_folder, load_class_folders, warn_skipped

    info = folder_model_info(model)
    if data is not None and not is_class_folder(data):
        if info is not None:
            raise UserError(f"{model} was trained on class folders: --data must be a folder "
                            f"of class folders, not {data}")
        return None
    if info is None and data is None:
        return None
    from mnist_edge.reading.model_input import CROP_PREPROCESSING
    from mnist_edge.reading.sidecar import load_model_info

    classes = info["labels"] if info else load_model_info(model).labels
    prep = info["preprocessing"] if info else CROP_PREPROCESSING
    recorded = info.get("data_dir") if info else None
    if data is not None and recorded and Path(data).resolve() == Path(recorded).resolve():
        data = None  # the training folder itself: measure on the model's own hold-out
    if data is None:
        if not recorded or not Path(recorded).is_dir():
            raise UserError(f"{model}: its training folder {recorded} is gone; pass --data DIR")
        data, test_only = Path(recorded), False
        split, seed = info.get("val_split") or 0.2, info.get("split_seed", 0)
    else:
        split, seed = 0.2, 0
    dataset = load_class_folders(data, val_split=split, seed=seed, preprocessing=prep,
                                 classes=[str(c) for c in classes], test_only=test_only)
    warning = warn_skipped(dataset)
    if warning:
        typer.echo(warning, err=True)
    return dataset
