"""Augmentation: same seed, same batch; images stay in range and keep most of their ink."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mnist_edge.training.augment import augment_batch
from mnist_edge.training.data import to_model_input


def test_augment_is_deterministic_and_bounded(mnist):
    x = tf.constant(to_model_input(mnist.x_train[:64]))
    seed = tf.constant([7, 3], tf.int64)
    a = augment_batch(x, seed).numpy()
    b = augment_batch(x, seed).numpy()
    c = augment_batch(x, tf.constant([8, 3], tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == x.shape and a.min() >= 0.0 and a.max() <= 1.0


def test_augment_keeps_digits_recognisable(mnist):
    """Warps are small: ink mass stays within bounds (erosion thins strokes to ~40% at worst)
    and the digit stays near the centre."""
    x = to_model_input(mnist.x_train[:256])
    out = augment_batch(tf.constant(x), tf.constant([1, 2], tf.int64)).numpy()
    ratio = out.sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    assert np.all(ratio > 0.3) and np.all(ratio < 2.5)
    assert 0.8 < np.median(ratio) < 1.25
    ys, xs = np.mgrid[0:28, 0:28]
    weights = out[..., 0]
    cy = (weights * ys).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    cx = (weights * xs).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    assert np.all(np.abs(cy - 13.5) < 6) and np.all(np.abs(cx - 13.5) < 6)
