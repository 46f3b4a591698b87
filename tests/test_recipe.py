"""The default model's training mix: the crop sets (made through the reader's crop, cached)
build a batch of every source; the seed recipe stays the classic script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from grid_folders import grid_photo_folder


@pytest.fixture(scope="module")
def small(mnist):
    return mnist.subset(360, 50)


def test_seed_recipe_is_the_classic_script_unchanged():
    from mnist_edge.training.train import ARCH_OF, RECIPES, Recipe

    assert RECIPES["seed"] == Recipe(epochs=10, batch_size=200, augment=False, peak_lr=None)
    assert RECIPES["seed"].mix is None and ARCH_OF["seed"] == "seed"
    assert RECIPES["edge-mnist"] == Recipe(epochs=10, batch_size=128, augment=True, peak_lr=3e-3)
    # the default starts from edge-base, the same network and mix learnt from scratch
    assert RECIPES["edge"].warm_start == "edge-base" and RECIPES["edge-base"].warm_start is None
    assert RECIPES["edge-base"].mix == RECIPES["edge"].mix and ARCH_OF["edge-base"] == "edge"


def test_mix_builds_a_batch_from_every_source_and_caches_it(small, tmp_path, monkeypatch):
    from mnist_edge.training import train

    monkeypatch.setenv("MNIST_EDGE_CACHE", str(tmp_path))
    sources, info = train.mixed_sources(small, seed=0)
    validation = sources.pop("_validation")
    assert set(sources) == set(train.EDGE_MIX)
    for name, (x, y) in sources.items():
        assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and len(x) == len(y) > 0, name
        assert set(np.unique(y)) <= set(range(10))
    assert set(np.unique(sources["fonts_17"][1])) <= {1, 7}
    assert info["fonts"]["crops"] + info["fonts"]["dropped"] == \
        max(10, round(train.MIX_SIZES["fonts"] * 330 / train.FULL_MNIST_TRAIN))
    assert len(validation[0]) == len(validation[1]) > 30  # MNIST held back + crops
    assert len(list(tmp_path.glob("*.npz"))) == 5

    again, info2 = train.mixed_sources(small, seed=0)  # from the cache: the same crops
    assert np.array_equal(again["fonts"][0], sources["fonts"][0])
    assert info2["fonts"]["load_seconds"] <= info["fonts"]["load_seconds"]

    x, y = next(iter(train._mixed_dataset(sources, train.EDGE_MIX, 32, 0)))
    assert x.shape == (32, 28, 28, 1) and y.shape == (32, 10)
    assert float(x.numpy().min()) >= 0.0 and float(x.numpy().max()) <= 1.0


def test_cache_key_changes_with_the_parameters():
    from mnist_edge.training import crops

    assert crops.cache_key("fonts", n=10, seed=1) == crops.cache_key("fonts", n=10, seed=1)
    assert crops.cache_key("fonts", n=10, seed=1) != crops.cache_key("fonts", n=10, seed=2)


def test_photo_cells_join_the_mix_with_their_truth_and_credit(tmp_path, monkeypatch):
    from mnist_edge.testing import grid_photos
    from mnist_edge.training import train

    monkeypatch.setenv("MNIST_EDGE_CACHE", str(tmp_path / "cache"))
    folder = grid_photo_folder(tmp_path / "photos")
    truth = [p.truth for p in grid_photos.photos("v2", folder)]
    (x, y), info = train.photo_source(train.PhotoCells.check(folder))
    assert info["photos"] == 2 and info["credit"] == grid_photos.CREDIT
    assert info["crops"] + info["dropped"] == sum(int((t > 0).sum()) for t in truth)
    assert x.shape[1:] == (28, 28) and info["dropped"] == 0
    assert y.tolist() == [v for t in truth for v in t[t > 0].tolist()]  # reading order
    # each crop is its cell's digit: the shipped model reads them
    from mnist_edge.common.paths import models_dir
    from mnist_edge.reading.runtime import Classifier
    from mnist_edge.training.convert import tflite_predict

    probs = tflite_predict(Classifier(models_dir() / "edge_int8.tflite"), x)
    assert (probs.argmax(1) == y).mean() >= 0.95
    mix = train.photo_mix(train.EDGE_MIX)
    assert mix["photos"] == train.PHOTO_SHARE and abs(sum(mix.values()) - 1) < 1e-3
    only_one = train.PhotoCells(folder, keep=lambda p: grid_photos.number(p.path) == 1)
    assert len(only_one.photos()) == 1


def test_photos_need_a_grid_photo_folder(tmp_path):
    from mnist_edge.common.errors import UserError
    from mnist_edge.training import train

    with pytest.raises(UserError, match="no corners.csv"):
        train.PhotoCells.check(tmp_path)
    (tmp_path / "corners.csv").write_text("filepath,p1_x,p1_y,p2_x,p2_y,p3_x,p3_y,p4_x,p4_y\n")
    with pytest.raises(UserError, match="no photos"):
        train.PhotoCells.check(tmp_path).photos()


def test_crop_sets_made_in_workers_are_the_sets_made_in_one_process(mnist, tmp_path):
    """Each cell depends only on (seed, i), so splitting a set among spawned workers (as a
    full-size set is, one per core) changes nothing but the time it takes."""
    from mnist_edge.testing import grid_photos
    from mnist_edge.training import crops, fonts

    faces, _ = fonts.split()
    photos = grid_photos.photos("v2", grid_photo_folder(tmp_path))
    makers = {
        "fonts": lambda w: crops.font_crops(faces, 30, 5, workers=w),
        "mnist_paper": lambda w: crops.mnist_paper_crops(mnist.x_train, mnist.y_train, 30, 6,
                                                         workers=w),
        "photos": lambda w: crops.photo_crops(photos, workers=w),
    }
    for name, make in makers.items():
        one, two = make(1), make(2)
        assert len(one.y) + one.dropped == (30 if name != "photos" else
                                            sum(int((p.truth > 0).sum()) for p in photos))
        assert len(one.y) > 0, name
        assert np.array_equal(one.x, two.x) and np.array_equal(one.y, two.y), name
        assert one.dropped == two.dropped, name


def test_chunks_keep_every_item_in_order():
    from mnist_edge.training.crops import _split

    for n, parts in ((30, 8), (7, 8), (1, 4), (16, 4), (0, 4)):
        chunks = _split(range(n), parts)
        assert [i for c in chunks for i in c] == list(range(n)) and len(chunks) <= parts


def test_a_script_without_a_main_guard_still_gets_its_crops(tmp_path):
    """Spawned workers re-import the main script; an unguarded one stops them, and the set is
    made in the calling process instead (a warning, the same crops, exit 0)."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from mnist_edge.training import crops, fonts\n"
        "s = crops.font_crops(fonts.split()[0], 12, 5, workers=2)\n"
        "print(len(s.y) + s.dropped, s.x.sum())\n")
    from mnist_edge.training import crops, fonts

    one = crops.font_crops(fonts.split()[0], 12, 5, workers=1)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["12", str(one.x.sum())]
    assert "rendering in this process" in proc.stderr


def test_the_progress_bar_names_the_crop_set_being_made(small, tmp_path, monkeypatch):
    """Rendering the crop sets takes minutes the first time: the bar says which set it is on,
    instead of sitting at zero under "training"."""
    import io

    from rich.console import Console
    from rich.progress import Progress

    from mnist_edge.training import train

    monkeypatch.setenv("MNIST_EDGE_CACHE", str(tmp_path))
    with Progress(console=Console(file=io.StringIO())) as progress:
        bar = train.RichProgress(progress, epochs=1, steps_per_epoch=10)
        described = []
        monkeypatch.setattr(progress, "update", lambda task, **kw: described.append(
            kw.get("description")))
        train.mixed_sources(small, seed=0, progress=bar)
    assert described == [f"crops: {name}" for name in train.MIX_SIZES]
