"""Architectures: the seed model exactly as the classic script, and the small edge model."""

from __future__ import annotations

import numpy as np

from mnist_edge.training.models import build, build_edge, build_seed, trainable_params


def test_seed_model_layer_stack_is_exact():
    model = build_seed()
    stack = [(type(layer).__name__, layer.get_config()) for layer in model.layers]
    kinds = [kind for kind, _ in stack]
    assert kinds == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense",
                     "Dense"]
    conv1, pool1, conv2, pool2, _, dense1, dense2 = (cfg for _, cfg in stack)
    assert (conv1["filters"], tuple(conv1["kernel_size"]), conv1["activation"]) == (16, (5, 5),
                                                                                    "relu")
    assert (conv2["filters"], tuple(conv2["kernel_size"]), conv2["activation"]) == (8, (2, 2),
                                                                                    "relu")
    for pool in (pool1, pool2):
        assert tuple(pool["pool_size"]) == (2, 2) and tuple(pool["strides"]) == (2, 2)
    assert (dense1["units"], dense1["activation"]) == (100, "relu")
    assert (dense2["units"], dense2["activation"]) == (10, "softmax")
    assert model.input_shape == (None, 28, 28, 1)


def test_seed_model_has_22046_trainable_parameters():
    assert trainable_params(build_seed()) == 22_046


def test_edge_model_is_small_and_outputs_probabilities():
    model = build_edge()
    params = model.count_params()
    assert 10_000 < params < 90_000  # int8 file must stay around 100 KB
    probs = model(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)).numpy()
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_build_by_name():
    assert build("seed").name == "seed" and build("edge").name == "edge"
