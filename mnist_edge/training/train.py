"""Train a model, evaluate it on the MNIST test set, and save ``.h5`` plus a metrics JSON.

Four recipes:

* ``seed``: the classic Keras script exactly (Adam at its default rate, categorical
  cross-entropy, 10 epochs, batch 200, test set as validation, no augmentation);
* ``edge-mnist``: the edge model on MNIST alone, with augmentation and a warm-up + cosine
  learning-rate schedule (99.5% in about 4 minutes on 2 CPU cores);
* ``edge-base``: the edge model from scratch on the mix below (MNIST, printed digits in the
  training font families, MNIST digits photographed on paper, all through the reader's own
  crop, :mod:`mnist_edge.training.crops`), 20 epochs at edge-mnist's rates; EMA weights. The
  starting point of ``edge``: learnt together from the start, print and handwriting share
  features that a fine-tune of an MNIST-only model never builds (the photo digits it has never
  seen read better, benchmarks/model.md);
* ``edge`` (default): ``edge-base``'s model (``models/edge_base.h5``, or trained first when
  that file is not there) fine-tuned on the same mix; EMA weights; then a temperature fitted
  on held-out crops and MNIST images is folded into the last layer
  (:mod:`mnist_edge.training.calibrate`). With ``photos`` (a folder of grid photos in the
  layout of ``../shared/data/grid_photos``), the digits cut out of their cells join the mix
  (:data:`PHOTO_SHARE` of each batch): the shipped model was trained so, and its sidecar
  credits the photos' dataset.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_edge.common.quiet import absl_errors_only, quiet_tensorflow_logs

quiet_tensorflow_logs()  # keep TensorFlow's C++ banner off the terminal

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.checksum import sha256_file  # noqa: E402
from mnist_edge.common.errors import UserError  # noqa: E402
from mnist_edge.common.metrics import (  # noqa: E402
    classification_metrics,
    machine_description,
    package_versions,
)
from mnist_edge.common.paths import portable  # noqa: E402
from mnist_edge.training.augment import augment_batch  # noqa: E402
from mnist_edge.training.data import MnistData, to_model_input  # noqa: E402
from mnist_edge.training.models import NUM_CLASSES, build, trainable_params  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    """How an architecture is trained by default."""

    epochs: int
    batch_size: int
    augment: bool
    peak_lr: float | None  # None: Adam's default rate, constant (the seed script)
    # the mixed recipe only (``edge``): share of each batch per source, the architecture's
    # recipe whose model it starts from, EMA momentum of the weights, and the final learning
    # rate as a share of the peak
    mix: dict[str, float] | None = None
    warm_start: str | None = None
    ema: float = 0.0
    lr_alpha: float = 0.002
    warmup_share: float = 0.1


# share of each batch per source (edge): print's 1 vs 7 ("fonts_17") gets its own share
EDGE_MIX = {"mnist": 0.50, "fonts": 0.26, "fonts_17": 0.06, "mnist_paper": 0.18}
PHOTO_SHARE = 0.25  # with --photos: this share of each batch is photo cells, the rest EDGE_MIX
RECIPES = {
    "seed": Recipe(epochs=10, batch_size=200, augment=False, peak_lr=None),
    "edge-mnist": Recipe(epochs=10, batch_size=128, augment=True, peak_lr=3e-3),
    "edge-base": Recipe(epochs=20, batch_size=128, augment=True, peak_lr=3e-3, mix=EDGE_MIX,
                        ema=0.999),
    "edge": Recipe(epochs=6, batch_size=128, augment=True, peak_lr=5e-4, mix=EDGE_MIX,
                   warm_start="edge-base", ema=0.999, lr_alpha=0.01, warmup_share=0.05),
}
ARCH_OF = {"seed": "seed", "edge-mnist": "edge", "edge-base": "edge", "edge": "edge"}


@dataclass
class TrainResult:
    """What a training run produced; ``metrics`` is what goes into the JSON beside the model."""

    model: keras.Model
    model_path: Path
    metrics_path: Path
    metrics: dict[str, Any] = field(default_factory=dict)


MAX_SEED = 2**32 - 1  # what numpy's and TensorFlow's seeding accept
MAX_EPOCHS = 1000


def metrics_path_for(model_path: Path) -> Path:
    """``mnist_model.h5`` -> ``mnist_model.json``: the metrics live next to the model."""
    return model_path.with_suffix(".json")


def train(
    data: MnistData,
    arch: str = "edge",
    out: str | os.PathLike[str] = "mnist_model.h5",
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    progress: keras.callbacks.Callback | None = None,
    command: str | None = None,
    init: str | os.PathLike[str] | None = None,
    photos: PhotoCells | None = None,
) -> TrainResult:
    """Train ``arch`` on ``data``, evaluate on its test split, save the model and its metrics.

    ``arch`` names a recipe (:data:`RECIPES`). The mixed recipes start from ``init`` (a
    ``.h5``) if given; else ``edge-base`` from a fresh model and ``edge`` from the shipped
    ``models/edge_base.h5``, or from an ``edge-base`` model it trains first. ``photos`` adds
    grid-photo cells to their mix.

    One straight pass (build, fit, evaluate, describe, save) over a dozen shared locals; split
    up, each part would only hand them on to the next."""
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed must be 0..{MAX_SEED}, got {seed}")
    if epochs is not None and not 1 <= epochs <= MAX_EPOCHS:
        raise UserError(f"epochs must be 1..{MAX_EPOCHS}, got {epochs}")
    atomic.check_writable(out, metrics_path_for(Path(out)))  # before minutes of training
    recipe = RECIPES[arch]
    if photos is not None and recipe.mix is None:
        raise UserError(f"--photos applies to the edge recipe, not --arch {arch}")
    epochs = recipe.epochs if epochs is None else epochs
    batch_size = recipe.batch_size if batch_size is None else batch_size
    _make_deterministic(seed)
    called = time.perf_counter()

    x_test = to_model_input(data.x_test)
    y_test = keras.utils.to_categorical(data.y_test, NUM_CLASSES)
    extra: dict[str, Any] = {}
    if recipe.mix is None:
        model = build(ARCH_OF[arch])
        steps_per_epoch = -(-len(data.x_train) // batch_size)
        optimizer = keras.optimizers.Adam(
            learning_rate=_learning_rate(recipe, epochs * steps_per_epoch, steps_per_epoch))
        train_ds = _dataset(data, batch_size, seed, recipe.augment)
    else:
        model, mixed, extra = _mixed_start(data, arch, seed, init, progress, photos)
        steps_per_epoch = mixed_steps_per_epoch(len(data.x_train), batch_size)
        optimizer = keras.optimizers.Adam(
            learning_rate=_learning_rate(recipe, epochs * steps_per_epoch, steps_per_epoch),
            use_ema=recipe.ema > 0, ema_momentum=recipe.ema or 0.99)
        train_ds = _mixed_dataset(mixed, extra["mix"], batch_size, seed)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])

    load_before = os.getloadavg()
    started = time.perf_counter()
    model.fit(
        train_ds,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the dataset shuffles itself (seeded); Keras would only warn
        validation_data=(x_test, y_test),
        verbose=0,
        callbacks=[progress] if progress else [],
    )
    train_seconds = time.perf_counter() - started
    if recipe.mix is not None:
        # (Keras has already swapped the EMA weights in at the end of fit)
        extra.update(_calibrated(model, extra.pop("_validation")))
        extra["load_average_1min"] = {"before": round(load_before[0], 2),
                                      "after": round(os.getloadavg()[0], 2)}
        extra["wall_seconds"] = round(time.perf_counter() - called, 1)  # crop sets included

    probs = model.predict(x_test, batch_size=1000, verbose=0)
    metrics = classification_metrics(data.y_test, probs.argmax(axis=1))
    metrics.update(
        arch=arch, trainable_params=trainable_params(model), epochs=epochs,
        batch_size=batch_size, seed=seed, augment=recipe.augment,
        train_seconds=round(train_seconds, 1), train_examples=len(data.x_train),
        test_examples=len(data.x_test), data_source=data.source, data_sha256=data.sha256,
        versions=package_versions(), machine=machine_description(), command=command,
    )
    metrics.update(extra)
    model_path = Path(out)

    def _save_model(tmp: Path) -> None:
        # .h5 is the format the seed script promised (keras.models.load_model("mnist_model.h5"));
        # Keras' "legacy format" notice would only confuse users, so it is muted for the save.
        with absl_errors_only():
            model.save(tmp)

    atomic.write_with(model_path, _save_model)
    metrics_path = atomic.write_json(metrics_path_for(model_path), metrics)
    return TrainResult(model, model_path, metrics_path, metrics)


def _make_deterministic(seed: int) -> None:
    """Same seed, same weights: seed every RNG and ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _learning_rate(recipe: Recipe, total_steps: int, steps_per_epoch: int):
    if recipe.peak_lr is None:
        return 0.001  # Adam's default, as the seed script used
    if recipe.mix is None:
        warmup = min(steps_per_epoch, max(total_steps // 10, 1))
    else:
        warmup = max(int(total_steps * recipe.warmup_share), 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.peak_lr / 20, decay_steps=max(total_steps - warmup, 1),
        alpha=recipe.lr_alpha, warmup_target=recipe.peak_lr, warmup_steps=warmup,
    )


# ---------------------------------------------------------------------------------------------
# the mixed recipe (edge)

CALIBRATION_HOLDOUT = 5000  # last MNIST training images kept for the temperature (and its ECE)
FULL_MNIST_TRAIN = 55000  # the crop set sizes below are for this many MNIST training images
MIX_SIZES = {"fonts": 40000, "fonts_17": 8000, "mnist_paper": 20000,
             "fonts_val": 3000, "mnist_paper_val": 2000}
MIX_SEEDS = {"fonts": 1, "mnist_paper": 2, "fonts_val": 3, "mnist_paper_val": 4, "fonts_17": 11}


@dataclass(frozen=True)
class PhotoCells:
    """Grid photos whose cells join the edge recipe's mix: a folder in the layout of
    ``../shared/data/grid_photos`` (see :mod:`mnist_edge.testing.grid_photos`), optionally
    only the photos ``keep`` accepts (the benchmark trains on half, measures on the rest)."""

    folder: Path
    keep: Any = None  # Callable[[GridPhoto], bool] | None
    note: str = "all"  # says which photos ``keep`` accepts, for the metrics

    def photos(self) -> list:
        from mnist_edge.testing import grid_photos

        found = [p for kind in grid_photos.KINDS for p in grid_photos.photos(kind, self.folder)]
        chosen = [p for p in found if self.keep is None or self.keep(p)]
        if not chosen:
            raise UserError(f"--photos {self.folder}: no photos with corners in "
                            f"{'/'.join(grid_photos.KINDS)}/ (see its corners.csv)")
        return chosen

    @staticmethod
    def check(folder: Path) -> PhotoCells:
        """A folder that looks like grid photos, or one clear error."""
        if not (folder / "corners.csv").is_file():
            raise UserError(f"--photos {folder}: no corners.csv (a folder of grid photos: "
                            "v2/ and mixed/ with imageN.jpg, imageN.dat and corners.csv)")
        return PhotoCells(folder)


def photo_mix(mix: dict[str, float]) -> dict[str, float]:
    """``mix`` with photo cells taking :data:`PHOTO_SHARE` of each batch."""
    return {**{k: round(v * (1 - PHOTO_SHARE), 4) for k, v in mix.items()},
            "photos": PHOTO_SHARE}


def photo_source(cells: PhotoCells, progress=None) -> tuple[tuple[Any, Any], dict[str, Any]]:
    """The cells of ``cells``' photos through the reader's crop (cached), and what they were."""
    from mnist_edge.testing import grid_photos
    from mnist_edge.training import crops

    chosen = cells.photos()
    _note_crops(progress, "photos")
    names = [f"{p.path.parent.name}/{p.path.name}:{p.path.stat().st_size}" for p in chosen]
    started = time.perf_counter()
    s = crops.cached("photos", lambda: crops.photo_crops(chosen),
                     photos=names)
    info = {"folder": cells.folder.name, "photos": len(chosen), "which": cells.note,
            "crops": int(len(s.y)), "dropped": int(s.dropped),
            "render_seconds": round(s.seconds, 1),
            "load_seconds": round(time.perf_counter() - started, 1),
            "credit": grid_photos.CREDIT}
    return (s.x, s.y), info


def _note_crops(progress, name: str) -> None:
    """Tell a progress display that has ``note`` which crop set is being made or loaded."""
    note = getattr(progress, "note", None)
    if note is not None:
        note(f"crops: {name}")


def _holdout(n_train: int) -> int:
    return CALIBRATION_HOLDOUT if n_train >= 4 * CALIBRATION_HOLDOUT else max(1, n_train // 12)


def mixed_steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Steps of one epoch of the mixed recipe: one pass over its MNIST training images (the
    other sources are sampled alongside)."""
    return -(-(n_train - _holdout(n_train)) // batch_size)


def mixed_sources(data: MnistData, seed: int = 0, progress=None
                  ) -> tuple[dict[str, tuple[Any, Any]], dict[str, Any]]:
    """Every source of the mixed recipe as (images uint8 (N, 28, 28), labels), plus what went
    into them (for the metrics). Crop sets are rendered once, then cached
    (:func:`mnist_edge.training.crops.cached`); their size scales with ``data``'s training
    images (a 600-image test run renders 1% of them)."""
    import numpy as np

    from mnist_edge.training import crops, fonts

    n_train = len(data.x_train) - _holdout(len(data.x_train))
    scale = min(1.0, n_train / FULL_MNIST_TRAIN)
    sizes = {k: max(10, round(v * scale)) for k, v in MIX_SIZES.items()}
    train_faces, _ = fonts.split()
    faces_key = crops.faces_key(train_faces)
    xm, ym = data.x_train[:n_train], data.y_train[:n_train]
    xv, yv = data.x_train[n_train:], data.y_train[n_train:]
    seeds = {k: v + 1000 * seed for k, v in MIX_SEEDS.items()}
    makers = {
        "fonts": lambda: crops.font_crops(train_faces, sizes["fonts"], seeds["fonts"]),
        "fonts_17": lambda: crops.font_crops(train_faces, sizes["fonts_17"], seeds["fonts_17"],
                                             labels=(1, 7)),
        "mnist_paper": lambda: crops.mnist_paper_crops(xm, ym, sizes["mnist_paper"],
                                                       seeds["mnist_paper"]),
        "fonts_val": lambda: crops.font_crops(train_faces, sizes["fonts_val"],
                                              seeds["fonts_val"]),
        "mnist_paper_val": lambda: crops.mnist_paper_crops(xv, yv, sizes["mnist_paper_val"],
                                                           seeds["mnist_paper_val"]),
    }
    sets, info = {}, {}
    for name, make in makers.items():
        _note_crops(progress, name)
        uses = xm if name == "mnist_paper" else xv if name == "mnist_paper_val" else None
        started = time.perf_counter()
        s = crops.cached(name, make, n=sizes[name], seed=seeds[name], faces=faces_key,
                         mnist=data.sha256 if uses is not None else None,
                         mnist_count=None if uses is None else len(uses))
        sets[name] = s
        info[name] = {"crops": int(len(s.y)), "dropped": int(s.dropped),
                      "render_seconds": round(s.seconds, 1),
                      "load_seconds": round(time.perf_counter() - started, 1)}
    sources = {"mnist": (xm, ym), "fonts": (sets["fonts"].x, sets["fonts"].y),
               "fonts_17": (sets["fonts_17"].x, sets["fonts_17"].y),
               "mnist_paper": (sets["mnist_paper"].x, sets["mnist_paper"].y)}
    validation = (np.concatenate([xv, sets["fonts_val"].x, sets["mnist_paper_val"].x]),
                  np.concatenate([yv, sets["fonts_val"].y, sets["mnist_paper_val"].y]))
    sources["_validation"] = validation
    info["training_font_files"] = len(train_faces)
    return sources, info


def _mixed_start(data: MnistData, arch: str, seed: int, init, progress,
                 photos: PhotoCells | None = None):
    """(starting model, sources, metrics so far) of a mixed recipe: ``init`` if given, else a
    fresh model for a recipe with no warm start (``edge-base``), else the warm start's
    shipped model (:func:`~mnist_edge.common.paths.shipped_model`), else the warm start's
    recipe trained first."""
    from mnist_edge.common.paths import models_dir, shipped_model

    recipe = RECIPES[arch]
    path = Path(init) if init else \
        models_dir() / shipped_model(recipe.warm_start) if recipe.warm_start else None
    started_from: dict[str, Any]
    if init and not path.is_file():
        raise FileNotFoundError(f"--from {init}: no such file")
    if path is not None and path.is_file():
        with absl_errors_only():
            model = keras.models.load_model(path, compile=False)
        started_from = {"file": portable(path), "sha256": sha256_file(path)}
    elif recipe.warm_start is None:
        model = build(ARCH_OF[arch])
        started_from = {"recipe": None, "note": "from scratch"}
    else:  # no shipped starting point (an installed wheel): train it first, same data
        tmp = Path(os.environ.get("TMPDIR", "/tmp"))
        first = train(data, arch=recipe.warm_start,
                      out=tmp / f"{recipe.warm_start}_{os.getpid()}.h5", seed=seed)
        model = first.model
        started_from = {"recipe": recipe.warm_start, "test_accuracy":
                        first.metrics["test_accuracy"]}
    _make_deterministic(seed)  # loading (or training) the start must not shift the seed
    sources, info = mixed_sources(data, seed, progress)
    mix = dict(recipe.mix or {})
    if photos is not None:
        sources["photos"], info["photos"] = photo_source(photos, progress)
        mix = photo_mix(mix)
    extra = {"recipe": "mixed", "warm_start": started_from, "mix": mix,
             "peak_lr": recipe.peak_lr, "ema": recipe.ema, "sources": info,
             "training_data": "MNIST training images x_train[:-5000], printed digits rendered "
                              "from the training font families (mnist_edge.training.fonts), "
                              "MNIST digits drawn on rendered cells of tinted, blurred, "
                              "JPEG-compressed paper; all through the reader's crop"
                              + ("; digits cut out of the cells of grid photos ("
                                 + info["photos"]["credit"] + ")" if photos else ""),
             "_validation": sources.pop("_validation")}
    return model, sources, extra


def _mixed_dataset(sources: dict, weights: dict[str, float], batch_size: int, seed: int
                   ) -> tf.data.Dataset:
    """Endless augmented batches drawing each example from a source chosen by ``weights``."""
    import numpy as np

    parts = []
    for i, name in enumerate(weights):
        x, y = sources[name]
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        parts.append(ds.shuffle(len(x), seed=seed + i, reshuffle_each_iteration=True).repeat())
    w = np.array([weights[n] for n in weights], np.float64)
    ds = tf.data.Dataset.sample_from_datasets(parts, weights=list(w / w.sum()), seed=seed)
    ds = ds.batch(batch_size)

    def prepare_mixed(step, batch):
        images, labels = batch
        x = tf.cast(images, tf.float32)[..., tf.newaxis] / 255.0
        x = augment_batch(x, tf.stack([tf.constant(seed, tf.int64), step]))
        return x, tf.one_hot(tf.cast(labels, tf.int32), NUM_CLASSES)

    return ds.enumerate().map(prepare_mixed, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def _calibrated(model: keras.Model, validation) -> dict[str, Any]:
    """Fit the temperature on ``validation``, fold it into ``model``; what to record."""
    from mnist_edge.training.calibrate import ece, fit_temperature, fold_temperature, scaled

    x, y = validation
    probs = model.predict(to_model_input(x), batch_size=1000, verbose=0)
    t = fit_temperature(probs, y)
    before, after = ece(probs, y), ece(scaled(probs, t), y)
    fold_temperature(model, t)
    return {"temperature": round(t, 4), "calibration": {
        "examples": int(len(y)), "accuracy": round(float((probs.argmax(1) == y).mean()), 5),
        "ece_before": round(before, 4), "ece_after": round(after, 4),
        "split": "MNIST x_train[-5000:] + held-back training-font and MNIST-on-paper crops"}}


def _dataset(data: MnistData, batch_size: int, seed: int, augment: bool) -> tf.data.Dataset:
    """Shuffled batches of (image, one-hot); augmented with stateless randomness keyed by seed."""
    ds = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
    ds = ds.shuffle(len(data.x_train), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).repeat()

    def prepare(step, batch):
        images, labels = batch
        x = tf.cast(images, tf.float32)[..., tf.newaxis] / 255.0
        if augment:
            x = augment_batch(x, tf.stack([tf.constant(seed, tf.int64), step]))
        return x, tf.one_hot(tf.cast(labels, tf.int32), NUM_CLASSES)

    # enumerate() after repeat() numbers batches across all epochs: each one gets its own key.
    return ds.enumerate().map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)



class RichProgress(keras.callbacks.Callback):
    """A rich progress bar over all training steps, with the epoch, loss and accuracy."""

    def __init__(self, progress, epochs: int, steps_per_epoch: int) -> None:
        super().__init__()
        self.progress = progress
        self.task = progress.add_task("training", total=epochs * steps_per_epoch)
        self.epochs = epochs
        self.epoch = 0

    def note(self, text: str) -> None:
        """Name the work before the first step (the crop set being rendered or loaded: minutes
        the first time), so that the bar does not sit silent at zero."""
        self.progress.update(self.task, description=text)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.epoch = epoch + 1
        self.progress.update(self.task, description=f"epoch {self.epoch}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        logs = logs or {}
        self.progress.update(
            self.task, advance=1,
            description=f"epoch {self.epoch}/{self.epochs} loss {logs.get('loss', 0):.4f} "
                        f"acc {logs.get('accuracy', 0):.4f}",
        )

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        self.progress.console.print(
            f"epoch {epoch + 1}/{self.epochs}: loss {logs.get('loss', 0):.4f} "
            f"acc {logs.get('accuracy', 0):.4f} val_acc {logs.get('val_accuracy', 0):.4f}"
        )
