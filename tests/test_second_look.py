"""The second look at crops the model is unsure of: what it reads again, how it averages, and
that it drops misreadings of blurred digits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from printed_pages import INK, touching

from mnist_edge.reading import reader as reader_module
from mnist_edge.reading.reader import MIN_CONFIDENCE, DigitReader
from mnist_edge.reading.second_look import SHIFTS, UNSURE, second_look, shifted


@pytest.fixture(scope="module")
def reader(tflite_model):
    return DigitReader(tflite_model, threads=1)


def _moved(crop: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The same shift made another way (an affine warp), to check :func:`shifted` against."""
    return cv2.warpAffine(crop, np.float32([[1, 0, dx], [0, 1, dy]]), crop.shape[::-1])


def test_shifted_moves_ink_a_pixel_and_lets_background_in():
    crops = np.zeros((1, 28, 28), np.uint8)
    crops[0, 0, 5] = crops[0, 10, 27] = 255
    right = shifted(crops, 1, 0)[0]
    assert right[0, 6] == 255 and right[0, 5] == 0 and right[10].max() == 0  # fell off the edge
    up = shifted(crops, 0, -1)[0]
    assert up[9, 27] == 255 and up.sum() == 255  # the top row's pixel fell off
    for dx, dy in SHIFTS:
        np.testing.assert_array_equal(shifted(crops, dx, dy)[0], _moved(crops[0], dx, dy))


def test_sure_crops_are_left_alone_and_unsure_ones_averaged(reader, mnist, monkeypatch):
    sharp = mnist.x_test[:20]
    blurred = np.stack([cv2.GaussianBlur(c, (0, 0), 2.5) for c in mnist.x_test[20:60]])
    crops = np.concatenate([sharp, blurred])
    first = reader.classify(crops)
    unsure = np.flatnonzero(first.max(axis=1) < UNSURE)
    assert 0 < len(unsure) < len(crops)
    calls = []
    real = reader.classify
    monkeypatch.setattr(reader, "classify", lambda x: calls.append(len(x)) or real(x))
    second = second_look(first, crops, reader.classify)
    assert calls == [len(SHIFTS) * len(unsure)]  # one call, the unsure crops only
    sure = np.setdiff1d(np.arange(len(crops)), unsure)
    np.testing.assert_array_equal(second[sure], first[sure])
    for i in unsure[:3]:
        readings = [first[i]] + [real(_moved(crops[i], dx, dy)[None])[0] for dx, dy in SHIFTS]
        np.testing.assert_allclose(second[i], np.mean(readings, axis=0), atol=1e-6)


def test_all_sure_costs_no_call(reader, mnist):
    first = reader.classify(mnist.x_test[:20])
    sure = first.max(axis=1) >= UNSURE
    assert sure.sum() >= 15
    crops, first = mnist.x_test[:20][sure], first[sure]
    assert second_look(first, crops, lambda x: pytest.fail("called")) is first


def test_the_reader_looks_again_at_blobs_read_whole_only(reader, monkeypatch):
    """Touching digits cut apart keep their first readings (their cut was chosen on them);
    a lone digit beside them is looked at again."""
    page = touching("714", width=640)  # one blob, read cut in three
    cv2.putText(page, "2", (480, 170), cv2.FONT_HERSHEY_DUPLEX, 4, INK, 10)
    looked_at = []
    real = reader_module.second_look
    monkeypatch.setattr(reader_module, "second_look",
                        lambda p, c, f: looked_at.append(len(p)) or real(p, c, f))
    assert "".join(str(d.label) for d in reader.read(page)) == "7142"
    assert looked_at == [1]  # the "2" alone


def test_the_second_look_drops_misreadings_of_blurred_digits(reader, mnist):
    """Blurred hard, MNIST digits are a crowd of unsure crops: the second look reads fewer of
    them wrong (at the reader's confidence rule) and loses few right readings for it."""
    crops = np.stack([cv2.GaussianBlur(c, (0, 0), 2.5) for c in mnist.x_test[:1500]])
    truth = mnist.y_test[:1500]
    first = reader.classify(crops)
    second = second_look(first, crops, reader.classify)
    counts = {}
    for name, p in (("first", first), ("second", second)):
        read = p.max(axis=1) >= MIN_CONFIDENCE
        counts[name] = (int((read & (p.argmax(1) == truth)).sum()),
                        int((read & (p.argmax(1) != truth)).sum()))
    (right1, wrong1), (right2, wrong2) = counts["first"], counts["second"]
    assert wrong2 <= 0.92 * wrong1, counts
    assert right1 - right2 <= (wrong1 - wrong2), counts
