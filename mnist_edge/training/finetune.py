"""Train on a user's class folders: fine-tune the shipped MNIST model (default) or start afresh.

Why fine-tuning is the default: a few hundred crops of one meter are too few to learn what a
digit is, but enough to teach a model that already knows MNIST's digits what *these* digits
look like. The base model's convolutions are kept, and its output layer is adapted to the
folder's classes: a class named like a digit starts from the base model's weights for that
digit, a new class (``N``, ``blank``) from small random weights. ``from_scratch`` builds the
architecture anew (for inputs far from MNIST, or to compare).

Crops are augmented afresh every epoch (:mod:`mnist_edge.training.crop_augment`) and the
learning rate warms up, then decays on a cosine, as the MNIST recipe does. The saved ``.h5``
carries the class names and preprocessing in an HDF5 attribute, and the metrics JSON beside it
(the model's sidecar) has them under ``labels`` and ``preprocessing`` like a ``.tflite``'s.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from mnist_edge.common import atomic
from mnist_edge.common.errors import UserError
from mnist_edge.common.metrics import (
    classification_metrics,
    machine_description,
    package_versions,
)
from mnist_edge.common.quiet import absl_errors_only
from mnist_edge.reading.sidecar import load_model_info
from mnist_edge.training.crop_augment import augment_crops
from mnist_edge.training.folders import FolderData
from mnist_edge.training.train import TrainResult, _make_deterministic, metrics_path_for

H5_ATTRIBUTE = "mnist_edge"
DEFAULT_EPOCHS = 30
DEFAULT_BATCH = 32
MIN_STEPS = 600
MAX_EPOCHS = 150
PEAK_LR = {"finetune": 3e-3, "scratch": 3e-3}  # 1e-3 fine-tuned 0.6 pp worse (bench_own_digits)


def default_epochs(n_train: int, batch_size: int = DEFAULT_BATCH) -> int:
    """30 epochs, more for a small set so that training takes at least ``MIN_STEPS`` steps
    (300 crops would otherwise get 300 steps, too few to adapt the model), at most 150."""
    steps = -(-n_train // batch_size)
    return int(min(MAX_EPOCHS, max(DEFAULT_EPOCHS, -(-MIN_STEPS // steps))))


def base_model(base: str | os.PathLike[str], classes: list[str]) -> tuple[Any, list[str]]:
    """The base model with its output layer adapted to ``classes``; and the base's classes.

    A UserError when the base cannot take the folder's crops (an input other than 28x28 grey).
    """
    import keras

    from mnist_edge.training.convert import load_keras_model

    model = load_keras_model(base)
    n_out = int(model.output_shape[-1])
    base_labels = load_model_info(base, n_out).labels
    if base_labels == classes:
        return model, base_labels
    features = model.layers[-2].output
    head = keras.layers.Dense(len(classes), activation="softmax", name="classes")
    outputs = head(features)
    new = keras.Model(model.inputs, outputs, name=f"{model.name}_folders")
    old_w, old_b = model.layers[-1].get_weights()
    w, b = head.get_weights()
    w *= 0.1  # a new class starts unsure, so it does not disturb the digits it sits beside
    for k, name in enumerate(classes):
        if name in base_labels:
            j = base_labels.index(name)
            w[:, k], b[k] = old_w[:, j], old_b[j]
    head.set_weights([w, b])
    return new, base_labels


def train_folders(
    data: FolderData,
    out: str | os.PathLike[str],
    base: str | os.PathLike[str] | None,
    arch: str = "edge",
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    progress: Any = None,
    command: str | None = None,
) -> TrainResult:
    """Fine-tune ``base`` (a Keras file; None: build ``arch`` from scratch) on ``data``,
    measure it on ``data``'s test split, and save the model and its sidecar atomically."""
    import keras

    from mnist_edge.training.models import build

    batch_size = batch_size or DEFAULT_BATCH
    epochs = epochs or default_epochs(len(data.x_train), batch_size)
    _make_deterministic(seed)
    classes = data.classes
    if base is None:
        model, mode, base_labels = _scratch(build(arch), len(classes)), "scratch", None
    else:
        model, base_labels = base_model(base, classes)
        mode = "finetune"
    steps = -(-len(data.x_train) // batch_size)
    total = epochs * steps
    warmup = min(steps, max(total // 10, 1))
    peak = PEAK_LR[mode]
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=peak / 20, decay_steps=max(total - warmup, 1), alpha=0.01,
            warmup_target=peak, warmup_steps=warmup)),
        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x_test = data.x_test.astype(np.float32)[..., None] / 255.0
    started = time.perf_counter()
    model.fit(_epochs_dataset(data, epochs, batch_size, seed), epochs=epochs,
              steps_per_epoch=steps, validation_data=(x_test, data.y_test), verbose=0,
              shuffle=False,  # each epoch is already a shuffled, augmented copy
              callbacks=[progress] if progress else [])
    train_seconds = time.perf_counter() - started
    probs = model.predict(x_test, batch_size=1000, verbose=0)
    metrics = classification_metrics(data.y_test, probs.argmax(axis=1), classes)
    from mnist_edge.training.models import trainable_params

    metrics.update(
        labels=classes, preprocessing=data.preprocessing, mode=mode,
        base_model=None if base is None else str(base), base_labels=base_labels,
        arch=arch if base is None else model.name, trainable_params=trainable_params(model),
        epochs=epochs, batch_size=batch_size, seed=seed, augment="crops",
        train_seconds=round(train_seconds, 1), train_examples=len(data.x_train),
        test_examples=len(data.x_test), **data.describe(), data_source=data.source,
        versions=package_versions(), machine=machine_description(), command=command,
    )
    model_path = Path(out)
    stamp = json.dumps({"labels": classes, "preprocessing": data.preprocessing})

    def _save(tmp: Path) -> None:
        import h5py

        with absl_errors_only():
            model.save(tmp)
        if _is_hdf5(tmp):  # .keras files are zips: their sidecar carries the same
            with h5py.File(tmp, "a") as f:
                f.attrs[H5_ATTRIBUTE] = stamp

    atomic.write_with(model_path, _save)
    metrics_path = atomic.write_json(metrics_path_for(model_path), metrics)
    return TrainResult(model, model_path, metrics_path, metrics)


def _epochs_dataset(data: FolderData, epochs: int, batch_size: int, seed: int) -> Any:
    """Batches for every epoch, each epoch a fresh augmented, shuffled copy of the crops.

    Drawn up front (a few MB for a few thousand crops) and fed through one ``fit``: calling
    ``fit`` once per epoch costs seconds of set-up each time, more than an epoch itself."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for epoch in range(epochs):
        order = rng.permutation(len(data.x_train))
        xs.append(augment_crops(data.x_train[order], seed, epoch))
        ys.append(data.y_train[order])
    x, y = np.concatenate(xs), np.concatenate(ys)

    def scale(images, labels):
        return tf.cast(images, tf.float32)[..., tf.newaxis] / 255.0, labels

    return (tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).repeat()
            .map(scale).prefetch(2))


def _scratch(model: Any, n_classes: int) -> Any:
    """``model`` with an output layer of ``n_classes`` (the architectures are built for 10)."""
    if n_classes == int(model.output_shape[-1]):
        return model
    import keras

    out = keras.layers.Dense(n_classes, activation="softmax", name="classes")(
        model.layers[-2].output)
    return keras.Model(model.inputs, out, name=f"{model.name}_folders")


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89HDF\r\n\x1a\n"


def check_base(base: str | os.PathLike[str]) -> Path:
    """The base model file, checked cheaply before any data is read."""
    from mnist_edge.training.convert import check_keras_file

    path = Path(base)
    if not path.is_file():
        raise UserError(f"base model not found: {path} (--from MODEL.h5, or --from-scratch)")
    check_keras_file(path)
    return path
