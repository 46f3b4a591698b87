"""``mnist-edge convert``: every variant from a small model, int8 agreement with Keras, sidecars,
balanced calibration, and bad inputs that fail cleanly without leaving files behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from typer.testing import CliRunner

from mnist_edge.cli import app
from mnist_edge.common.errors import UserError
from mnist_edge.reading.runtime import Classifier
from mnist_edge.training import convert as conv

REPO = Path(__file__).resolve().parents[1]
N_TEST = 500
VARIANTS = [("int8", "uint8"), ("int8", "float"), ("float16", "int8"), ("dynamic", "int8"),
            ("none", "int8")]


@pytest.fixture(scope="module")
def small(mnist):
    """All training images (calibration draws from them), the first 500 test images."""
    return mnist.subset(None, N_TEST)


@pytest.fixture(scope="module")
def cli_int8(tiny_model, small, mnist_file, tmp_path_factory):
    """The default conversion run through the CLI, with the model in its own folder."""
    folder = tmp_path_factory.mktemp("cli_convert")
    model = folder / "tiny.h5"
    shutil.copy(tiny_model.model_path, model)
    result = CliRunner().invoke(app, ["convert", str(model), "--data", str(mnist_file),
                                      "--limit", str(N_TEST), "--calibration", "200"])
    return folder, result


@pytest.fixture(scope="module")
def variants(tiny_model, small, tmp_path_factory):
    out = tmp_path_factory.mktemp("variants")
    return {(q, io): conv.convert(tiny_model.model_path, small, quant=q, io_type=io,
                                  out_dir=out, calibration=100)
            for q, io in VARIANTS}


def test_cli_writes_default_names_next_to_the_model_and_prints_a_summary(cli_int8):
    folder, result = cli_int8
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.h5", "tiny_int8.json",
                                                        "tiny_int8.tflite"]
    for words in ("convert summary", "Keras accuracy", ".tflite accuracy", "difference", "KB"):
        assert words in result.output


def test_sidecar_describes_the_file(cli_int8, tiny_model):
    folder, _ = cli_int8
    info = json.loads((folder / "tiny_int8.json").read_text())
    tflite = folder / "tiny_int8.tflite"
    assert info["model"] == "tiny_int8.tflite"
    assert info["source"]["sha256"] == conv.sha256_file(tiny_model.model_path)
    assert info["quantization"] == "int8" and info["io_type"] == "int8"
    assert info["size_bytes"] == tflite.stat().st_size
    assert info["labels"] == list(range(10))
    assert info["input"]["dtype"] == "int8" and info["input"]["shape"] == [-1, 28, 28, 1]
    assert info["input"]["zero_point"] == -128
    assert info["input"]["scale"] == pytest.approx(1 / 255, rel=1e-3)
    assert info["output"]["dtype"] == "int8" and info["output"]["shape"] == [-1, 10]
    assert info["calibration"]["images"] == 200
    assert info["calibration"]["per_class"] == [20] * 10
    assert info["test_examples"] == N_TEST
    assert info["versions"]["tensorflow"] and info["command"].startswith("mnist-edge ")
    assert len(info["confusion_matrix"]) == 10


def test_sidecar_accuracy_is_measured_on_the_converted_file(cli_int8, small):
    folder, _ = cli_int8
    info = json.loads((folder / "tiny_int8.json").read_text())
    pred = Classifier(folder / "tiny_int8.tflite").predict(small.x_test).argmax(axis=1)
    assert info["test_accuracy"] == pytest.approx(float((pred == small.y_test).mean()), abs=1e-6)
    assert info["accuracy_difference_pp"] == pytest.approx(
        100 * (info["test_accuracy"] - info["keras_test_accuracy"]), abs=1e-3)


def test_int8_predictions_agree_with_keras(cli_int8, tiny_model, small):
    folder, _ = cli_int8
    keras_probs = conv.keras_predict(tiny_model.model, small.x_test)
    tflite_probs = Classifier(folder / "tiny_int8.tflite").predict(small.x_test)
    agreement = (keras_probs.argmax(axis=1) == tflite_probs.argmax(axis=1)).mean()
    assert agreement >= 0.97
    assert np.abs(keras_probs - tflite_probs).mean() < 0.01


def test_every_variant_is_written_with_its_own_name(variants):
    names = {key: r.tflite_path.name for key, r in variants.items()}
    assert names == {
        ("int8", "uint8"): "tiny_int8_uint8io.tflite",
        ("int8", "float"): "tiny_int8_floatio.tflite",
        ("float16", "int8"): "tiny_float16.tflite", ("dynamic", "int8"): "tiny_dynamic.tflite",
        ("none", "int8"): "tiny_float32.tflite",
    }
    for r in variants.values():
        assert r.tflite_path.is_file() and r.sidecar_path.is_file()
        assert json.loads(r.sidecar_path.read_text())["model"] == r.tflite_path.name


def test_variant_sizes_and_accuracy(variants, tiny_model, small):
    size = {key[0] if key[0] != "int8" else key: r.info["size_bytes"]
            for key, r in variants.items()}
    float32 = size["none"]
    assert size["float16"] < 0.6 * float32
    assert size["dynamic"] < 0.45 * float32
    assert size[("int8", "uint8")] < 0.45 * float32
    keras_acc = float((conv.keras_predict(tiny_model.model, small.x_test).argmax(1)
                       == small.y_test).mean())
    assert variants[("none", "int8")].info["test_accuracy"] == pytest.approx(keras_acc, abs=1e-9)
    for r in variants.values():
        assert abs(r.info["accuracy_difference_pp"]) <= 1.5, r.tflite_path.name
        assert r.info["keras_test_accuracy"] == pytest.approx(keras_acc, abs=1e-6)


@pytest.mark.parametrize("io_type, dtype, zero", [("uint8", np.uint8, 0), ("float", np.float32, 0)])
def test_int8_io_variants_are_handled_from_their_own_scale_and_zero_point(
        variants, cli_int8, small, io_type, dtype, zero):
    clf = Classifier(variants[("int8", io_type)].tflite_path)
    assert clf.input_dtype == dtype and clf.output_dtype == dtype
    if dtype == np.uint8:
        assert clf.input_quant[1] == zero and clf.output_quant[1] == zero
    reference = Classifier(cli_int8[0] / "tiny_int8.tflite").predict(small.x_test)
    probs = clf.predict(small.x_test)
    assert (probs.argmax(1) == reference.argmax(1)).mean() >= 0.98
    assert np.abs(probs - reference).max() < 0.1


def test_op_versions_stay_loadable_by_tflite_runtime_2_14(variants, cli_int8):
    """tflite-runtime 2.14 knows FULLY_CONNECTED up to version 11; TF 2.21's per-channel hybrid
    Dense is version 12 and fails there ("Didn't find op for builtin opcode ... version '12'")."""
    from mnist_edge.reading.tflite_file import operator_versions

    files = [r.tflite_path for r in variants.values()] + [cli_int8[0] / "tiny_int8.tflite"]
    for path in files:
        ops = operator_versions(path.read_bytes())
        assert set(ops) >= {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"}, ops
        assert ops["FULLY_CONNECTED"] <= 11, (path.name, ops)
    info = json.loads((cli_int8[0] / "tiny_int8.json").read_text())
    assert info["operators"] == operator_versions((cli_int8[0] / "tiny_int8.tflite").read_bytes())


def test_float_variants_keep_float_io(variants):
    for key in [("float16", "int8"), ("dynamic", "int8"), ("none", "int8")]:
        info = variants[key].info
        assert info["io_type"] == "float" and info["input"]["dtype"] == "float32"
        assert info["calibration"] is None


# --- calibration -----------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 10, 57, 500])
def test_calibration_is_balanced_and_reproducible(mnist, n):
    idx = conv.calibration_indices(mnist, n, seed=3)
    counts = np.bincount(mnist.y_train[idx], minlength=10)
    assert len(idx) == n == len(set(idx.tolist()))
    assert counts.max() - counts.min() <= 1
    assert np.array_equal(idx, conv.calibration_indices(mnist, n, seed=3))
    assert n < 10 or not np.array_equal(idx, conv.calibration_indices(mnist, n, seed=4))


def test_calibration_tops_up_when_a_class_is_short(mnist):
    only_ones = mnist.subset(None, None)
    keep = np.flatnonzero(mnist.y_train <= 1)[:50]
    short = type(only_ones)(mnist.x_train[keep], mnist.y_train[keep], mnist.x_test,
                            mnist.y_test, "x", "y")
    idx = conv.calibration_indices(short, 40)
    assert len(idx) == 40 == len(set(idx.tolist()))


# --- bad inputs ------------------------------------------------------------------------------



def _assert_clean_failure(done, out_dir: Path, *words: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    for word in words:
        assert word in lines[0]
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_cli_missing_model(tmp_path, mnist_file):
    out = tmp_path / "out"
    done = run_cli("convert", str(tmp_path / "nope.h5"), "--data", str(mnist_file),
                    "--out-dir", str(out))
    _assert_clean_failure(done, out, "model not found", "nope.h5")


def test_cli_text_file_named_h5(tmp_path, mnist_file):
    fake = tmp_path / "model.h5"
    fake.write_text("this is not a model\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["convert", str(fake), "--data", str(mnist_file),
                                      "--out-dir", str(out)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "model.h5" in result.output and "not a readable Keras model" in result.output
    assert not out.exists()


def test_cli_forced_tflite_runtime_fails_before_converting(tiny_model, tmp_path, mnist_file):
    out = tmp_path / "out"
    done = run_cli("convert", str(tiny_model.model_path), "--data", str(mnist_file),
                    "--out-dir", str(out), "--runtime", "tflite_runtime")
    _assert_clean_failure(done, out, "tflite_runtime", "numpy<2")


def _write_keras(tmp_path: Path, input_shape, classes: int = 10) -> Path:
    import keras

    model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                              keras.layers.Dense(classes, activation="softmax")])
    path = tmp_path / f"model_{'x'.join(map(str, input_shape))}_{classes}.h5"
    model.save(path)
    return path


@pytest.mark.parametrize("shape, classes, words", [
    ((32, 32, 1), 10, ["(N, 32, 32, 1)", "expected (N, 28, 28, 1)"]),
    ((28, 28, 3), 10, ["(N, 28, 28, 3)"]),
    ((28, 28, 1), 5, ["output is (N, 5)"]),
])
def test_cli_wrong_model_shapes(tmp_path, mnist_file, shape, classes, words):
    path = _write_keras(tmp_path, shape, classes)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["convert", str(path), "--data", str(mnist_file),
                                      "--out-dir", str(out)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    for word in words:
        assert word in result.output
    assert not out.exists()


def test_cli_rejects_io_option_for_float_variants(tiny_model, tmp_path, mnist_file):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["convert", str(tiny_model.model_path), "--quant", "float16",
                                      "--io", "uint8", "--data", str(mnist_file),
                                      "--out-dir", str(out)])
    assert result.exit_code == 2 and "--io uint8 applies to --quant int8 only" in result.output
    assert not out.exists()


def test_failure_while_measuring_leaves_no_file(tiny_model, small, tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise UserError("measurement failed")

    monkeypatch.setattr(conv, "_measure_tflite", broken)
    with pytest.raises(UserError, match="measurement failed"):
        conv.convert(tiny_model.model_path, small.subset(None, 50), quant="none",
                     out_dir=tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_cli_stderr_has_no_tensorflow_chatter(tiny_model, tmp_path, mnist_file):
    """A machine without a GPU sees the command's own output only: no ``failed call to cuInit``
    or other native log line (they start with a severity letter and ``0000``)."""
    done = run_cli("convert", str(tiny_model.model_path), "--data", str(mnist_file),
                   "--limit", "100", "--calibration", "50", "--out-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    native = [line for line in (done.stdout + done.stderr).splitlines()
              if line[:5] in ("E0000", "W0000", "I0000") or "cuInit" in line]
    assert native == []
