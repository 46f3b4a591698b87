"""The training side: every module that may import TensorFlow (data, models, augment, train,
convert, evaluate), and nothing else. A device never imports this package."""
