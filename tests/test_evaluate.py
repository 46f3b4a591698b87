"""``mnist-edge evaluate``: metrics JSON and two real PNGs for .tflite and .h5 models, and bad
inputs that fail with one line and leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from typer.testing import CliRunner

from mnist_edge.cli import app
from mnist_edge.common.errors import UserError
from mnist_edge.reading.runtime import Classifier
from mnist_edge.training import evaluate as ev

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LIMIT = 300


def _png_shape(path: Path) -> tuple[int, ...]:
    """Decode the PNG for real (not just its signature) and return its pixel array's shape."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(path).shape


@pytest.fixture(scope="module")
def tflite_eval(tiny_int8, mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_tflite")
    return ev.evaluate(tiny_int8, mnist, out_dir=out, limit=LIMIT, threads=2, command="test")


def test_tflite_eval_writes_json_and_two_valid_pngs(tflite_eval):
    r = tflite_eval
    assert [p.name for p in (r.json_path, r.confusion_path, r.errors_path)] == [
        "tiny_int8_eval.json", "tiny_int8_confusion.png", "tiny_int8_errors.png"]
    confusion_shape = _png_shape(r.confusion_path)
    errors_shape = _png_shape(r.errors_path)
    assert confusion_shape[0] > 300 and confusion_shape[1] > 300
    assert errors_shape[0] > 100 and errors_shape[1] > 500
    on_disk = json.loads(r.json_path.read_text())
    assert on_disk == json.loads(json.dumps(r.metrics))


def test_tflite_metrics_match_the_classifier(tflite_eval, tiny_int8, mnist):
    m = tflite_eval.metrics
    x, y = mnist.x_test[:LIMIT], mnist.y_test[:LIMIT]
    pred = Classifier(tiny_int8).predict(x).argmax(axis=1)
    assert m["kind"] == "tflite" and m["runtime"] == "litert" and m["threads"] == 2
    assert m["test_examples"] == LIMIT and m["limit"] == LIMIT
    assert m["test_accuracy"] == pytest.approx(float((pred == y).mean()), abs=1e-6)
    assert m["test_error_percent"] == pytest.approx(100 * (1 - m["test_accuracy"]), abs=1e-3)
    confusion = np.array(m["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == LIMIT
    assert np.trace(confusion) == int((pred == y).sum())
    assert m["misclassified_count"] == int((pred != y).sum()) == len(m["misclassified"])
    for miss in m["misclassified"]:
        assert miss["true"] == y[miss["index"]] != miss["predicted"] == pred[miss["index"]]
    assert set(m["per_class_accuracy"]) == {str(k) for k in range(10)}


def test_keras_model_is_evaluated_with_keras(tiny_model, mnist, tmp_path):
    r = ev.evaluate(tiny_model.model_path, mnist, out_dir=tmp_path, limit=200)
    probs = tiny_model.model.predict(mnist.x_test[:200, ..., None] / 255.0, verbose=0)
    expected = float((probs.argmax(axis=1) == mnist.y_test[:200]).mean())
    assert r.metrics["kind"] == "keras" and r.metrics["test_accuracy"] == pytest.approx(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "tiny_confusion.png", "tiny_errors.png", "tiny_eval.json"]


def test_error_grid_with_no_errors_is_still_a_picture():
    images = np.zeros((3, 28, 28), np.uint8)
    labels = np.array([1, 2, 3])
    png = ev.render_errors(images, labels, labels, np.ones(3), np.array([], int), "perfect")
    assert png[:8] == PNG_SIGNATURE and len(png) > 1000


def test_cli_evaluate_defaults_next_to_the_model(tiny_int8, mnist_file, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(tiny_int8.read_bytes())
    result = CliRunner().invoke(app, ["evaluate", str(model), "--data", str(mnist_file),
                                      "--limit", "100", "--runtime", "tensorflow"])
    assert result.exit_code == 0, result.output
    assert "Test Accuracy: " in result.output and "Test Error: " in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m.tflite", "m_confusion.png", "m_errors.png", "m_eval.json"]
    info = json.loads((tmp_path / "m_eval.json").read_text())
    assert info["runtime"] == "tensorflow" and info["test_examples"] == 100


# --- bad inputs ------------------------------------------------------------------------------



def _assert_one_error_line(stderr: str, *words: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_cli_missing_model(tmp_path, mnist_file):
    done = run_cli("evaluate", str(tmp_path / "gone.tflite"), "--data", str(mnist_file))
    assert done.returncode == 2
    _assert_one_error_line(done.stderr, "model not found", "gone.tflite")
    assert list(tmp_path.iterdir()) == []


def test_cli_truncated_tflite_under_tf_lite_does_not_crash(tiny_int8, tmp_path, mnist_file):
    """tf.lite.Interpreter would segfault on this file; the command must say what is wrong."""
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(tiny_int8.read_bytes()[: tiny_int8.stat().st_size * 2 // 3])
    out = tmp_path / "out"
    done = run_cli("evaluate", str(cut), "--data", str(mnist_file), "--runtime", "tensorflow",
                    "--out-dir", str(out))
    assert done.returncode == 2, done.stderr
    _assert_one_error_line(done.stderr, "cut.tflite", "truncated")
    assert not out.exists()


def test_cli_forced_tflite_runtime_under_numpy_2(tiny_int8, tmp_path, mnist_file):
    done = run_cli("evaluate", str(tiny_int8), "--data", str(mnist_file), "--runtime",
                    "tflite_runtime", "--out-dir", str(tmp_path / "out"))
    assert done.returncode == 2
    _assert_one_error_line(done.stderr, "tflite-runtime is built for numpy 1.x", "numpy<2")
    assert "_ARRAY_API" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content, words", [
    ("model.h5", b"just text\n", ["model.h5", "not a readable Keras model"]),
    ("model.tflite", b"just text, long enough\n", ["model.tflite", "not a .tflite model"]),
    ("model.onnx", b"\x08\x01", ["expected a .tflite, .h5 or .keras model"]),
])
def test_cli_bad_model_files(tmp_path, mnist_file, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["evaluate", str(path), "--data", str(mnist_file),
                                      "--out-dir", str(out)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    for word in words:
        assert word in result.output
    assert not out.exists()


def test_keras_model_with_32x32_input(tmp_path, mnist):
    import keras

    model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    path = tmp_path / "wide.h5"
    model.save(path)
    with pytest.raises(UserError, match=r"wide.h5: model input is \(N, 32, 32, 1\)"):
        ev.evaluate(path, mnist, out_dir=tmp_path / "out", limit=10)
    assert not (tmp_path / "out").exists()


def test_limit_must_be_positive(tiny_int8, mnist, tmp_path):
    with pytest.raises(UserError, match="--limit"):
        ev.evaluate(tiny_int8, mnist, out_dir=tmp_path, limit=0)
    result = CliRunner().invoke(app, ["evaluate", str(tiny_int8), "--limit", "0"])
    assert result.exit_code == 2


def test_cli_unwritable_out_dir_is_one_line_before_evaluating(tiny_int8, mnist_file, tmp_path):
    """Issue 13.4: --out-dir that is a file gave a traceback after the evaluation."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = run_cli("evaluate", str(tiny_int8), "--data", str(mnist_file), "--limit", "100",
                    "--out-dir", str(blocker))
    assert done.returncode == 2
    _assert_one_error_line(done.stderr, "cannot write", "not a folder")
    assert "Test Accuracy" not in done.stdout
