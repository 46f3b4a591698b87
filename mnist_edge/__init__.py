"""mnist-edge: handwritten-digit recognition from a Keras training script to a Raspberry Pi camera.

The package is split by where code runs:

* training side (needs TensorFlow): :mod:`mnist_edge.data`, :mod:`mnist_edge.models`,
  :mod:`mnist_edge.train`;
* device side (never imports TensorFlow): everything a camera needs to read digits.

Importing ``mnist_edge`` itself is cheap and TensorFlow-free, so the device CLI starts fast.
"""

__version__ = "0.1.0"
