"""The device-side interpreter layer: runtime choice, quantized I/O, batching, broken files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import HEAVY_MODULES

from mnist_edge.common.errors import UserError
from mnist_edge.reading import runtime
from mnist_edge.reading.runtime import Classifier, available_runtimes, find_runtime
from mnist_edge.reading.tflite_file import check_tflite, check_tflite_bytes

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def _fake(name: str):
    """An importer returning a marker class, so the test sees which runtime was picked."""
    cls = type(f"Fake{name}", (), {})
    return lambda: cls


def _missing(message: str):
    def importer():
        raise ImportError(message)
    return importer


# --- choosing a runtime -------------------------------------------------------------------

def test_auto_prefers_litert_then_tflite_runtime_then_tensorflow(monkeypatch):
    monkeypatch.setattr(runtime, "_IMPORTERS", {
        "litert": _fake("litert"), "tflite_runtime": _fake("tfl"), "tensorflow": _fake("tf")})
    assert find_runtime("auto").name == "litert"
    monkeypatch.setitem(runtime._IMPORTERS, "litert", _missing("No module named 'ai_edge_litert'"))
    assert find_runtime("auto").name == "tflite_runtime"
    monkeypatch.setitem(runtime._IMPORTERS, "tflite_runtime", _missing("numpy 2 is installed"))
    assert find_runtime("auto").name == "tensorflow"


def test_auto_with_nothing_installed_lists_every_reason(monkeypatch):
    monkeypatch.setattr(runtime, "_IMPORTERS", {
        "litert": _missing("no litert"), "tflite_runtime": _missing("no tflrt"),
        "tensorflow": _missing("no tf")})
    with pytest.raises(UserError) as err:
        find_runtime("auto")
    text = str(err.value)
    assert "pip install ai-edge-litert" in text
    assert all(reason in text for reason in ("no litert", "no tflrt", "no tf"))
    assert available_runtimes() == []


def test_forced_runtime_is_used_even_when_a_better_one_exists(monkeypatch):
    monkeypatch.setattr(runtime, "_IMPORTERS", {
        "litert": _fake("litert"), "tflite_runtime": _fake("tfl"), "tensorflow": _fake("tf")})
    assert find_runtime("tensorflow").name == "tensorflow"
    assert find_runtime("tflite_runtime").name == "tflite_runtime"


def test_forced_runtime_that_is_missing_says_which_and_why(monkeypatch):
    monkeypatch.setitem(runtime._IMPORTERS, "litert", _missing("No module named 'ai_edge_litert'"))
    with pytest.raises(UserError, match=r"runtime 'litert' is not usable here .*ai_edge_litert"):
        find_runtime("litert")


def test_unknown_runtime_name_is_a_user_error():
    with pytest.raises(UserError, match="unknown runtime 'tpu'"):
        find_runtime("tpu")


def test_tflite_runtime_under_numpy_2_gives_the_clear_message():
    assert int(np.__version__.split(".")[0]) >= 2, "this test environment runs numpy 2"
    with pytest.raises(UserError) as err:
        find_runtime("tflite_runtime")
    text = str(err.value)
    assert f"numpy {np.__version__}" in text and "numpy<2" in text and "ai-edge-litert" in text
    assert "_ARRAY_API" not in text
    assert "tflite_runtime" not in available_runtimes()


def test_tflite_runtime_under_numpy_1_is_really_imported(monkeypatch):
    """With numpy 1.x the importer must try the real module (not refuse by version)."""
    monkeypatch.setattr(runtime.np, "__version__", "1.26.4")
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)  # make the import fail for sure
    with pytest.raises(UserError) as err:
        find_runtime("tflite_runtime")
    assert "tflite-runtime is not installed" in str(err.value)  # it really tried the import
    assert "pip install tflite-runtime" in str(err.value)
    assert "numpy 1.x" not in str(err.value)


def test_installed_runtimes_include_litert():
    assert available_runtimes()[0] == "litert"


# --- the classifier ----------------------------------------------------------------------

def test_every_installed_runtime_gives_the_same_answers(tiny_int8, mnist):
    images = mnist.x_test[:64]
    results = {name: Classifier(tiny_int8, runtime=name).predict(images)
               for name in available_runtimes()}
    assert len(results) >= 2, f"expected LiteRT and tf.lite here, found {list(results)}"
    reference = results.pop("litert")
    for name, probs in results.items():
        assert np.array_equal(probs.argmax(axis=1), reference.argmax(axis=1)), name
        assert np.abs(probs - reference).max() < 1e-6, name


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_do_not_change_results(tiny_int8, mnist, threads):
    images = mnist.x_test[:16]
    base = Classifier(tiny_int8).predict(images)
    clf = Classifier(tiny_int8, threads=threads)
    assert clf.threads == threads
    assert np.array_equal(clf.predict(images), base)


def test_threads_must_be_positive(tiny_int8):
    with pytest.raises(UserError, match="threads"):
        Classifier(tiny_int8, threads=0)


def test_a_batch_is_one_invoke_and_matches_single_images(tiny_int8, mnist):
    clf = Classifier(tiny_int8)
    calls = []
    real_invoke = clf._interp.invoke
    clf._interp.invoke = lambda: (calls.append(1), real_invoke())[1]
    images = mnist.x_test[:7]
    batch = clf.predict(images)
    assert len(calls) == 1 and batch.shape == (7, 10) and batch.dtype == np.float32
    singles = np.concatenate([clf.predict(img) for img in images])  # 2-D input: one digit
    assert np.allclose(batch, singles, atol=1e-6)
    assert np.allclose(clf.predict(images[:3]), batch[:3], atol=1e-6)  # resize down again
    assert np.allclose(batch.sum(axis=1), 1.0, atol=0.02)


def test_uint8_float_and_channel_last_inputs_agree(tiny_int8, mnist):
    clf = Classifier(tiny_int8)
    images = mnist.x_test[:10]
    as_uint8 = clf.predict(images)
    assert np.array_equal(clf.predict(images.astype(np.float32) / 255.0), as_uint8)
    assert np.array_equal(clf.predict(images[..., np.newaxis]), as_uint8)
    assert clf.predict(images[:0]).shape == (0, 10)


def test_bad_image_arrays_are_rejected(tiny_int8):
    clf = Classifier(tiny_int8)
    with pytest.raises(ValueError, match="28, 28"):
        clf.predict(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clf.predict(np.full((1, 28, 28), 200.0, np.float32))
    with pytest.raises(ValueError, match="uint8"):
        clf.predict(np.zeros((1, 28, 28), np.int64))


def test_int8_model_reports_its_own_quantization(tiny_int8):
    clf = Classifier(tiny_int8)
    assert clf.input_dtype == np.int8 and clf.output_dtype == np.int8
    scale, zero = clf.input_quant
    assert scale == pytest.approx(1 / 255, rel=1e-3) and zero == -128
    assert clf.output_quant == pytest.approx((1 / 256, -128), rel=1e-3)


def test_device_side_never_imports_tensorflow(tiny_int8):
    code = (
        "import sys, numpy as np\n"
        "from mnist_edge.reading.runtime import Classifier\n"
        f"c = Classifier({str(tiny_int8)!r})\n"
        "p = c.predict(np.zeros((3, 28, 28), np.uint8))\n"
        "assert p.shape == (3, 10), p.shape\n"
        f"bad = {HEAVY_MODULES}\n"
        "assert not bad, bad\n"
        "print(c.runtime.name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "litert"


# --- broken and wrong files ----------------------------------------------------------------

def test_every_truncation_of_a_model_is_caught_before_the_interpreter(tiny_int8):
    data = tiny_int8.read_bytes()
    check_tflite_bytes(data)  # the whole file passes
    cuts = sorted({*range(0, len(data), 97), *range(len(data) - 64, len(data))})
    accepted = []
    for n in cuts:
        try:
            check_tflite_bytes(data[:n])
            accepted.append(n)
        except UserError:
            pass
    assert accepted == []


@pytest.mark.parametrize("name", ["litert", "tensorflow"])
def test_truncated_file_is_a_clear_error_not_a_crash(tiny_int8, tmp_path, name):
    """tf.lite (like tflite_runtime 2.14) segfaults on this file without our check."""
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(tiny_int8.read_bytes()[: tiny_int8.stat().st_size * 2 // 3])
    with pytest.raises(UserError, match="truncated"):
        Classifier(cut, runtime=name)


@pytest.mark.parametrize("content", [b"", b"hello, not a model\n", b"\x00" * 64])
def test_non_models_are_rejected(tmp_path, content):
    path = tmp_path / "x.tflite"
    path.write_bytes(content)
    with pytest.raises(UserError, match="x.tflite"):
        Classifier(path)


def test_missing_model_and_directory(tmp_path):
    with pytest.raises(UserError, match="model not found"):
        Classifier(tmp_path / "nope.tflite")
    with pytest.raises(UserError, match="model not found"):
        Classifier(tmp_path)
    with pytest.raises(UserError, match="cannot read"):
        check_tflite(tmp_path)


def test_model_with_32x32_input_is_refused(tmp_path):
    import keras

    from mnist_edge.training.convert import to_tflite

    model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    path = tmp_path / "big.tflite"
    path.write_bytes(to_tflite(model, "none"))
    with pytest.raises(UserError, match=r"expects input .*32, 32.*not 28x28"):
        Classifier(path)


def test_model_without_ten_outputs_is_refused(tmp_path):
    import keras

    from mnist_edge.training.convert import to_tflite

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(5, activation="softmax")])
    path = tmp_path / "five.tflite"
    path.write_bytes(to_tflite(model, "none"))
    with pytest.raises(UserError, match=r"outputs shape \(1, 5\), not 10 class"):
        Classifier(path)


# --- issue 13.6: a damaged file that loads but fails when invoked -----------------------------

def _damaged_copy(tmp_path):
    """The shipped int8 model with one weight scale of its dense layer made negative: it passes
    the file checks and allocates, and XNNPACK raises at the first ``invoke``."""
    import struct

    from mnist_edge.common.paths import models_dir

    source = models_dir() / "edge_int8.tflite"
    data = source.read_bytes()
    interp = Classifier(source)._interp
    for t in interp.get_tensor_details():
        scales = t["quantization_parameters"]["scales"]
        packed = struct.pack("<f", float(scales[0])) if len(scales) == 1 else b""
        if "dense_1/MatMul" in t["name"] and packed and data.count(packed) == 1:
            bad = tmp_path / "damaged_int8.tflite"
            bad.write_bytes(data.replace(packed, struct.pack("<f", -1.0)))
            return bad
    pytest.skip("no dense weight scale to damage in the shipped model")


def test_a_model_that_fails_at_inference_is_refused_when_opened(tmp_path):
    bad = _damaged_copy(tmp_path)
    with pytest.raises(UserError, match="fails on a blank test image.*damaged"):
        Classifier(bad)


def test_damaged_model_is_one_line_in_predict_and_serve(tmp_path):
    bad = _damaged_copy(tmp_path)
    for args in (["predict", str(REPO / "samples" / "one_7.png"), "--model", str(bad)],
                 ["serve", "127.0.0.1:0", "--model", str(bad)]):
        done = subprocess.run([sys.executable, "-m", "mnist_edge", *args], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "damaged" in errors[0], done.stderr
        assert "Traceback" not in done.stderr
