"""Model architectures: the seed model, kept exactly, and the default edge model.

Every model takes float32 images (N, 28, 28, 1) in [0, 1] and returns softmax probabilities
(N, 10). Augmentation is not part of any model: it lives in :mod:`mnist_edge.training.train`, so
the saved ``.h5`` and the converted ``.tflite`` hold only inference layers.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def build_seed() -> keras.Model:
    """The classic Keras MNIST script's model, layer for layer (22,046 trainable parameters)."""
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(16, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2), strides=2),
            layers.Conv2D(8, (2, 2), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2), strides=2),
            layers.Flatten(),
            layers.Dense(100, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="seed",
    )


def _conv_bn_relu(x, filters: int, kernel: int, padding: str = "valid"):
    """Conv without bias (batch norm supplies it), batch norm, ReLU: folds into one int8 op."""
    x = layers.Conv2D(filters, kernel, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def build_edge() -> keras.Model:
    """The default model: small, int8-friendly, and well above the seed's accuracy.

    Why this shape: valid convolutions shrink the map early (28 -> 24 -> 12 -> 10 -> 8 -> 4) so the
    expensive layers run on few pixels (fast on 2 CPU cores and on a Pi); batch norm folds into the
    convolutions when converted, so the int8 graph is plain Conv+ReLU; ReLU (not ReLU6 or swish)
    quantizes without loss. About 39k parameters: an int8 file well under 100 KB.
    """
    inputs = keras.Input(shape=INPUT_SHAPE)
    x = _conv_bn_relu(inputs, 32, 5)
    x = layers.MaxPooling2D()(x)
    x = _conv_bn_relu(x, 32, 3)
    x = _conv_bn_relu(x, 64, 3)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="edge")


ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {
    "seed": build_seed,
    "edge": build_edge,
}


def build(arch: str) -> keras.Model:
    """Build an architecture by name (``seed`` or ``edge``)."""
    try:
        return ARCHITECTURES[arch]()
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")


def trainable_params(model: keras.Model) -> int:
    """Number of trainable parameters (the figure the seed script's summary shows)."""
    return int(sum(int(w.numpy().size) for w in model.trainable_weights))
