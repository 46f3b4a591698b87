"""Small helpers both sides share: atomic writes, checksums, errors, quieting native output,
paths, metrics and text helpers. Nothing here imports TensorFlow."""
