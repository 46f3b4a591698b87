"""mnist-edge: handwritten-digit recognition from a Keras training script to a Raspberry Pi camera.

The package is split by where code runs and what it does:

* :mod:`mnist_edge.training` (training machine, may import TensorFlow): data, models, augment,
  train, convert, evaluate;
* :mod:`mnist_edge.reading` (device, never imports TensorFlow): TFLite runtimes, the vision
  pipeline one step per module, the reader, cameras, the live loop, ``predict``;
* :mod:`mnist_edge.web`: the live view and upload page over the reader;
* :mod:`mnist_edge.shipping`: bundle, deploy and selftest, and the shell files they ship;
* :mod:`mnist_edge.common`: small shared helpers; :mod:`mnist_edge.cli`: the Typer commands;
* :mod:`mnist_edge.testing`: synthetic scenes for tests and benchmarks (not in the wheel).

Importing ``mnist_edge`` itself is cheap and TensorFlow-free, so the device CLI starts fast.
"""

__version__ = "0.1.0"
