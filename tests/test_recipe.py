"""The default model's training mix: the crop sets (made through the reader's crop, cached)
build a batch of every source; the seed recipe stays the classic script."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def small(mnist):
    return mnist.subset(360, 50)


def test_seed_recipe_is_the_classic_script_unchanged():
    from mnist_edge.training.train import ARCH_OF, RECIPES, Recipe

    assert RECIPES["seed"] == Recipe(epochs=10, batch_size=200, augment=False, peak_lr=None)
    assert RECIPES["seed"].mix is None and ARCH_OF["seed"] == "seed"
    assert RECIPES["edge-mnist"] == Recipe(epochs=10, batch_size=128, augment=True, peak_lr=3e-3)


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
