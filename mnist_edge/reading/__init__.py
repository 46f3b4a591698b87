"""The reading side (never imports TensorFlow): TFLite runtimes and ``.tflite`` checks, the vision
pipeline (one module per step), the reader, cameras, the live loop and ``predict``."""
