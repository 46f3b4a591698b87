"""DigitReader on generated frames: what it reads, in which order, with one interpreter call,
robust to any array it is handed, and without TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from cli_helpers import HEAVY_MODULES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_edge.reading.reader import Digit, DigitReader
from mnist_edge.testing import synth

PLAIN = ["cv-simplex", "cv-duplex", "cv-plain"]


@pytest.fixture(scope="module")
def reader(tflite_model):
    return DigitReader(tflite_model, threads=1)


def _read(reader, frame) -> str:
    return "".join(str(d.label) for d in reader.read(frame))


def _scenes(kind, n, seed, mnist=None, **kw):
    rng = np.random.default_rng(seed)
    data = (mnist.x_test, mnist.y_test) if mnist is not None else None
    return [synth.make_scene(rng, kind, mnist=data, **kw) for _ in range(n)]


def test_digit_to_dict():
    d = Digit(7, 0.98765, (1, 2, 3, 4), tuple([0.0] * 7 + [0.98765] + [0.0] * 2))
    assert d.to_dict() == {"label": 7, "confidence": 0.9877, "box": [1, 2, 3, 4]}
    full = d.to_dict(probabilities=True)
    assert len(full["probabilities"]) == 10 and full["probabilities"][7] == 0.9877
    json.dumps(full)


def test_one_printed_digit(reader):
    scenes = _scenes("printed", 12, 0, labels=None, n_digits=1, overrides={"fonts": PLAIN})
    right = sum(_read(reader, s.frame) == s.reading for s in scenes)
    assert right >= 11


def test_several_handwritten_digits_in_reading_order(reader, mnist):
    """MNIST *test* digits laid out as 1-4 digits in one or two rows on hard pages."""
    scenes = _scenes("handwritten", 25, 1, mnist=mnist)
    right = sum(_read(reader, s.frame) == s.reading for s in scenes)
    assert right >= 22, f"{right}/25 pages read exactly right"


def test_boxes_are_where_the_digits_are(reader):
    for scene in _scenes("printed", 6, 2, n_digits=3, overrides={"fonts": PLAIN}):
        digits = reader.read(scene.frame)
        s = synth.score(scene.digits, [(d.label, d.box) for d in digits])
        assert s.missed == 0 and s.extra == 0


def test_two_rows_read_top_row_first(reader):
    for scene in _scenes("printed", 4, 3, labels=[1, 2, 3, 4],
                         overrides={"rows": 2, "fonts": PLAIN}):
        assert _read(reader, scene.frame) == "1234"


def test_inverted_chalk_needs_invert(tflite_model):
    scenes = _scenes("printed", 10, 4, invert=True, overrides={"fonts": PLAIN})
    chalk = DigitReader(tflite_model, invert=True)
    plain = DigitReader(tflite_model)
    assert sum(_read(chalk, s.frame) == s.reading for s in scenes) >= 9
    assert sum(_read(plain, s.frame) == s.reading for s in scenes) <= 2


def test_noisy_blurred_frames(reader):
    scenes = _scenes("printed", 10, 5, overrides={"noise": 9.0, "blur": 1.4, "jpeg": 50,
                                                  "fonts": PLAIN})
    assert sum(_read(reader, s.frame) == s.reading for s in scenes) >= 9


def test_empty_paper_gives_nothing(reader):
    for scene in _scenes("printed", 15, 6, labels=[]):
        assert reader.read(scene.frame) == [], scene.conditions


def test_tightly_cropped_digits(reader, mnist):
    """A digit photographed alone, cropped close (dark on light), and a raw MNIST image
    (white on black, read with invert=True): both are single digits to read."""
    rng = np.random.default_rng(7)
    right = 0
    for img, label in zip(mnist.x_test[:40], mnist.y_test[:40], strict=True):
        big = cv2.resize(img, (112, 112), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        page = 225 - 0.8 * np.clip(big, 0, 255) + rng.normal(0, 2, big.shape)
        photo = np.clip(page, 0, 255).astype(np.uint8)[10:-10, 10:-10]  # margin cut to ~2 px
        digits = reader.read(cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR))
        right += len(digits) == 1 and digits[0].label == label
    assert right >= 38
    inverted = DigitReader(reader.model_path, invert=True)
    raw = sum(_read(inverted, img) == str(label)
              for img, label in zip(mnist.x_test[:40], mnist.y_test[:40], strict=True))
    assert raw >= 38


@pytest.mark.parametrize("size", [112, 240])
def test_faint_blurred_digits_cropped_close(reader, mnist, size):
    """A camera's crop of one pale, soft digit (ink 30% darker than its paper at most,
    blurred), the digit filling the crop: its long strokes are no shadow of the paper. (A
    paper estimate that followed long shadow bands, a newspaper's fold, took them for one:
    210-250 of 300 such crops read, against 295-296.)"""
    rng = np.random.default_rng(7)
    right = 0
    for img, label in zip(mnist.x_test[:40], mnist.y_test[:40], strict=True):
        big = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        page = 225 - 0.3 * np.clip(big, 0, 255) + rng.normal(0, 2, big.shape)
        soft = cv2.GaussianBlur(np.clip(page, 0, 255).astype(np.uint8), (0, 0), size / 112)
        m = size // 11
        digits = reader.read(cv2.cvtColor(soft[m:-m, m:-m], cv2.COLOR_GRAY2BGR))
        right += len(digits) == 1 and digits[0].label == label
    assert right >= 38


def test_all_crops_of_a_frame_go_in_one_interpreter_call(reader, monkeypatch):
    calls = []
    real = reader.classifier.predict
    monkeypatch.setattr(reader.classifier, "predict",
                        lambda x: calls.append(len(x)) or real(x))
    scene = _scenes("printed", 1, 8, labels=[3, 1, 4, 1], overrides={"fonts": PLAIN})[0]
    digits = reader.read(scene.frame)
    assert calls == [4] and len(digits) == 4


def test_min_confidence_drops_unsure_digits(tflite_model):
    scene = _scenes("printed", 1, 9, labels=[5, 8], overrides={"fonts": PLAIN})[0]
    assert len(DigitReader(tflite_model, min_confidence=0.0).read(scene.frame)) == 2
    assert DigitReader(tflite_model, min_confidence=1.01).read(scene.frame) == []


def test_default_model_comes_from_the_environment(tflite_model, monkeypatch):
    monkeypatch.setenv("MNIST_EDGE_MODEL", str(tflite_model))
    assert DigitReader().model_path == tflite_model


@pytest.mark.parametrize("frame", [
    np.zeros((1, 1), np.uint8), np.full((1, 1, 3), 255, np.uint8), np.zeros((3, 500), np.uint8),
    np.zeros((500, 2, 4), np.uint8), np.full((64, 64), 0.5, np.float32),
    np.full((29, 31, 1), 200, np.uint8),
])
def test_odd_frames_give_empty_results(reader, frame):
    assert reader.read(frame) == []


def test_not_an_image_is_a_clear_error(reader):
    with pytest.raises(ValueError, match="not an image|empty image"):
        reader.read(np.zeros((0, 10), np.uint8))
    with pytest.raises(ValueError, match="not an image"):
        reader.read(np.zeros((4, 4, 2), np.uint8))


@st.composite
def frames(draw):
    h = draw(st.integers(1, 160))
    w = draw(st.integers(1, 160))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (h, w) if channels is None else (h, w, channels)
    dtype = draw(st.sampled_from([np.uint8, np.float32, np.float64]))
    content = draw(st.sampled_from(["blank", "noise", "blocks"]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if content == "blank":
        a = np.full(shape, rng.uniform(0, 1))
    elif content == "noise":
        a = rng.random(shape)
    else:  # dark rectangles and strokes on light paper
        a = np.full(shape, 0.9)
        for _ in range(int(rng.integers(1, 6))):
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            a[y0:y0 + int(rng.integers(1, h + 1)), x0:x0 + int(rng.integers(1, 8))] = 0.1
    if dtype == np.uint8:
        return (a * 255).astype(np.uint8)
    scale = 1.0 if draw(st.booleans()) else 255.0  # float frames come as 0..1 or 0..255
    return (a * scale).astype(dtype)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames())
def test_any_frame_never_raises_and_boxes_stay_inside(reader, frame):
    h, w = frame.shape[:2]
    for d in reader.read(frame):
        x, y, bw, bh = d.box
        assert x >= 0 and y >= 0 and bw >= 1 and bh >= 1
        assert x + bw <= w and y + bh <= h
        assert 0 <= d.label <= 9 and 0.0 <= d.confidence <= 1.0
        assert len(d.probabilities) == 10


def test_device_path_never_imports_tensorflow(tflite_model, tmp_path):
    """Reader, camera loop, predict and the CLI module, in a fresh interpreter: after reading a
    frame and an image, ``tensorflow`` (and keras) must not be in ``sys.modules``."""
    scene = _scenes("printed", 1, 10, labels=[4, 2], overrides={"fonts": PLAIN})[0]
    image = tmp_path / "page.png"
    cv2.imwrite(str(image), scene.frame)
    code = f"""
import sys
from mnist_edge.reading.reader import DigitReader
from mnist_edge import cli
from mnist_edge.reading import camera
from mnist_edge.reading import predict
from mnist_edge.reading import pipeline
from mnist_edge.reading import live as webcam
reader = DigitReader({str(tflite_model)!r})
summary = webcam.run({str(image)!r}, reader, headless=True)
found = [r.reading for r in predict.predict_files(reader, [predict.Path({str(image)!r})])]
heavy = {HEAVY_MODULES}
print(found[0], summary.frames, heavy)
"""
    env = {k: v for k, v in os.environ.items() if k != "MNIST_EDGE_MODEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["42", "1", "[]"]


def test_a_blob_read_whole_as_surely_as_cut_stays_whole_unless_it_is_wide():
    """int8 probabilities stop at 255/256: a wide "4" and its two halves ("4" + "1") can all
    read at that cap. A tie keeps a blob of single-digit width whole; a wider one, or one
    the model is less sure of whole, is cut."""
    from mnist_edge.reading.reader import best_reading

    cap = np.full(10, 0.0004)
    cap[4] = 0.996
    one = np.full(10, 0.0004)
    one[1] = 0.996
    unsure = np.full(10, 0.03)
    unsure[4] = 0.73
    options = [[0], [1, 2]]
    tie = np.stack([cap, cap, one])
    assert best_reading(options, tie, [(0, 0, 24, 20), (0, 0, 14, 20), (14, 0, 10, 20)]) == [0]
    assert best_reading(options, tie, [(0, 0, 32, 20), (0, 0, 16, 20), (16, 0, 16, 20)]) \
        == [1, 2]
    less = np.stack([unsure, cap, one])
    assert best_reading(options, less, [(0, 0, 24, 20), (0, 0, 14, 20), (14, 0, 10, 20)]) \
        == [1, 2]
