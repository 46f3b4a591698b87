"""The MNIST loader: npz and idx folders (gzipped and raw), the env var, and bad files."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import HEAVY_MODULES, REPO, run_cli

from mnist_edge.common.errors import UserError
from mnist_edge.training.data import ENV_VAR, load_mnist, read_idx, to_model_input


def _write_idx(path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def _small(mnist, n=50):
    return {"x_train": mnist.x_train[:n], "y_train": mnist.y_train[:n],
            "x_test": mnist.x_test[:n // 2], "y_test": mnist.y_test[:n // 2]}


def test_real_mnist_shapes_and_known_values(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.x_train.dtype == np.uint8 and mnist.y_train.dtype == np.uint8
    # facts from shared/data/README.md
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist.y_test).tolist()[:3] == [980, 1135, 1032]
    assert abs(mnist.x_train.mean() / 255 - 0.130660) < 1e-5
    assert mnist.sha256 == "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_matches_npz(mnist, tmp_path, gz):
    arrays = _small(mnist)
    names = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
    for key, name in names.items():
        _write_idx(tmp_path / (name + (".gz" if gz else "")), arrays[key], gz)
    loaded = load_mnist(tmp_path)
    for key in names:
        np.testing.assert_array_equal(getattr(loaded, key), arrays[key])
    assert len(loaded.sha256) == 64


def test_env_var_is_used_when_no_path(monkeypatch, mnist, tmp_path):
    path = tmp_path / "small.npz"
    np.savez(path, **_small(mnist, 40))
    monkeypatch.setenv(ENV_VAR, str(path))
    assert load_mnist().x_train.shape == (40, 28, 28)


def test_explicit_path_beats_env_var(monkeypatch, mnist, tmp_path):
    path = tmp_path / "small.npz"
    np.savez(path, **_small(mnist, 40))
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "does-not-exist.npz"))
    assert load_mnist(path).x_train.shape == (40, 28, 28)


def test_missing_path(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_mnist(tmp_path / "nope.npz")


def test_truncated_npz(mnist_file, tmp_path):
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(mnist_file.read_bytes()[:5000])
    with pytest.raises(UserError, match="cannot read"):
        load_mnist(bad)


def test_npz_missing_keys(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(UserError, match="missing keys"):
        load_mnist(path)


def test_wrong_shapes(tmp_path):
    path = tmp_path / "shapes.npz"
    np.savez(path, x_train=np.zeros((5, 32, 32), np.uint8), y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.zeros(5, np.uint8))
    with pytest.raises(UserError, match=r"expected \(N, 28, 28\)"):
        load_mnist(path)


def test_labels_out_of_range(tmp_path):
    path = tmp_path / "labels.npz"
    np.savez(path, x_train=np.zeros((5, 28, 28), np.uint8), y_train=np.full(5, 12, np.uint8),
             x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.zeros(5, np.uint8))
    with pytest.raises(UserError, match="labels 0..9"):
        load_mnist(path)


def test_truncated_idx(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    _write_idx(path, np.arange(10, dtype=np.uint8), gz=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(UserError, match="truncated"):
        read_idx(path)


def test_idx_folder_missing_file(tmp_path):
    with pytest.raises(UserError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_model_input_scaling():
    x = to_model_input(np.array([[[0, 255]]], dtype=np.uint8).repeat(28, 1).repeat(14, 2))
    assert x.shape == (1, 28, 28, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0


def test_non_finite_training_data_is_refused_with_the_count(tmp_path):
    """Issue 13.5: all-NaN data trained to 9.8% with exit 0; one NaN in 0..1 floats skipped the
    rescale."""
    x = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    x[0, 0, 0] = np.nan
    x[1, 3, 3] = np.inf
    path = tmp_path / "nan.npz"
    np.savez(path, x_train=x, y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((5, 28, 28), np.float32), y_test=np.zeros(5, np.uint8))
    with pytest.raises(UserError, match="x_train holds 2 non-finite values"):
        load_mnist(path)


def test_idx_header_whose_dimensions_overflow_is_refused(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    # 65536**4 == 2**64: a 64-bit product wraps to 0, which matched the 0 data bytes.
    path.write_bytes(bytes([0, 0, 0x08, 4]) + struct.pack(">I", 65536) * 4)
    with pytest.raises(UserError, match="expected 18446744073709551616 bytes"):
        read_idx(path)


def _tiny_npz(path, n=20):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
             y_train=np.arange(n) % 10, x_test=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
             y_test=np.arange(n) % 10)


def test_keras_cache_is_read_without_tensorflow(tmp_path):
    """No --data and no $MNIST_EDGE_DATA: Keras' cached mnist.npz is read with numpy alone."""
    (tmp_path / "datasets").mkdir()
    _tiny_npz(tmp_path / "datasets" / "mnist.npz")
    code = ("import sys; from mnist_edge.training.data import load_mnist; d = load_mnist(); "
            f"print(len(d.x_train), d.source, {HEAVY_MODULES})")
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "KERAS_HOME": str(tmp_path)}, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["20", "keras.datasets.mnist", "[]"]


def test_no_data_anywhere_is_one_error_line(tmp_path):
    """Nothing given, nothing cached, no network: one line, no TensorFlow banner or download
    progress before it."""
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    # a proxy that refuses: the download fails fast even on a machine that is online
    env.update(KERAS_HOME=str(tmp_path), https_proxy="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9")
    done = run_cli("train", "--epochs", "1", "--out", str(tmp_path / "m.h5"), env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith("error: no MNIST data"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "m.h5").exists()
