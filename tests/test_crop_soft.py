"""The soft crop (issue 14): a blurred digit keeps its grey levels and holes, strokes are
normalised only where their width can be measured, and faint thin blobs (pieces of a box's
edge) are still dropped."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mnist_edge.reading import crop, pipeline
from mnist_edge.reading.blobs import Blob
from mnist_edge.reading.paper import Paper
from mnist_edge.training import crops, fonts


@pytest.fixture(scope="module")
def sans():
    """An upright sans face whose 9 has a round closed bowl (any installed one)."""
    faces = fonts.find_fonts()
    for group in ("dejavu-sans", "helvetica", "roboto", "lato", "carlito", "open-sans"):
        found = [f for f in faces if f.group == group and "Oblique" not in f.style
                 and "Italic" not in f.style and "Bold" not in f.style]
        if found:
            return found[0]
    pytest.fail("no sans face installed: sudo apt-get install " + fonts.PACKAGES)


def _blurred_nine(face, sigma: float = 1.4, height: int = 16) -> np.ndarray:
    a = fonts.glyph(face, 9, height)
    canvas = np.full((height * 3, height * 3), 200.0, np.float32)
    canvas[height:height + a.shape[0], height:height + a.shape[1]] -= 110.0 * a
    return np.clip(cv2.GaussianBlur(canvas, (0, 0), sigma), 0, 255).astype(np.uint8)


def test_blurred_nine_keeps_its_hole(sans):
    found = pipeline.find_digits(_blurred_nine(sans))
    assert found.boxes
    c = found.crops[found.first[0]]
    assert crop.holes(c.astype(np.float32) / 255.0, 0.5) >= 1
    assert c[6:14, 10:18].min() < 100  # the hole is dark: well below the strokes' level


def test_no_stroke_change_when_not_measurable():
    soft = cv2.GaussianBlur(np.pad(np.ones((60, 4), np.float32), 20), (0, 0), 4) * 0.8
    assert not crop.measurable(soft)
    out, changed = crop._normalise_stroke(soft, 1.0)
    assert not changed and out is soft


def test_sharp_hairline_is_still_thickened():
    hair = np.zeros((80, 60), np.float32)
    hair[10:70, 30] = 1.0
    assert crop.measurable(hair)
    out, changed = crop._normalise_stroke(hair, 1.0)
    assert changed and crop.stroke_width(out) > 3


def test_holes_counts_enclosed_paper():
    ring = np.zeros((30, 30), np.float32)
    cv2.circle(ring, (15, 15), 9, 1.0, 3)
    assert crop.holes(ring) == 1 and crop.holes(np.zeros((5, 5), np.float32)) == 0


def test_faint_thin_blob_is_dropped_but_a_dark_one_is_kept():
    """The thin-blob gate: a thin blob must reach ``params.high`` (0.40) even though the soft
    crop accepts wider blobs from ``SOFT_HIGH`` (0.30): faint thin blobs are box-edge pieces."""
    def crop_of(darkness: float) -> np.ndarray | None:
        gray = np.full((80, 80), 200, np.uint8)
        gray[20:60, 38:42] = round(200 * (1 - darkness))
        mask = np.full((40, 4), 255, np.uint8)
        return crop.blob_crop(gray, Paper(gray), Blob((38, 20, 4, 40), mask), grow=False)

    assert crop_of(0.35) is None
    assert crop_of(0.6) is not None


def test_faint_wide_blob_is_kept():
    gray = np.full((80, 80), 200, np.uint8)
    cv2.circle(gray, (40, 40), 14, 130, 4)  # relative darkness 0.35: soft, but a digit shape
    mask = np.zeros((36, 36), np.uint8)
    cv2.circle(mask, (18, 18), 14, 255, 6)
    out = crop.blob_crop(gray, Paper(gray), Blob((22, 22, 36, 36), mask))
    assert out is not None and out.max() > 200


def test_paper_alone_gives_nothing():
    assert pipeline.find_digits(np.full((60, 60), 180, np.uint8)).crops.shape == (0, 28, 28)


def test_truth_crop_of_a_rendered_cell(sans):
    rng = np.random.default_rng(1)
    cell = fonts.render_cell(fonts.glyph(sans, 3, 60), rng, fonts.SHARP_STYLE)
    c = crops.truth_crop(cell)
    assert c is not None and c.shape == (28, 28) and c.max() > 200
    r = crops.reader_crop(cell)  # the reader finds the same digit in the cell
    assert r is not None and np.corrcoef(r.ravel(), c.ravel())[0, 1] > 0.8


def test_faint_blob_of_grain_is_dropped_but_faint_ink_on_clean_paper_is_kept():
    """A faint blob no darker than the grain around it (noise and JPEG on a dark table; the
    false "4" of test_reader's noisy scene) is not ink; the same level on clean paper is."""
    rng = np.random.default_rng(0)
    mask = np.zeros((40, 40), np.uint8)
    cv2.circle(mask, (20, 20), 12, 255, 6)

    def stands_out(noise: float) -> bool:
        c = np.abs(rng.normal(0, noise, (40, 40))).astype(np.float32)
        c[mask > 0] = 0.33
        return crop._stands_out(c, mask, 32.0)

    assert stands_out(0.01)
    assert not stands_out(0.12)  # spread 0.072: the ring is 4.6 times it


def test_ink_level_is_numpys_percentile_to_the_bit():
    """The partition shortcut gives what ``np.percentile`` gives (a crop changes otherwise)."""
    rng = np.random.default_rng(3)
    for n in [1, 2, 3, 9, 10, 11, 57, 400, 2001]:
        for _ in range(50):
            v = (rng.normal(size=n) * rng.uniform(0.01, 2)).astype(np.float32)
            if n > 3 and rng.random() < 0.5:
                v = np.round(v, 1)  # ties
            assert crop.ink_level(v) == float(np.percentile(v, crop.INK_PERCENTILE))


def _six_in_two_pieces() -> tuple[np.ndarray, Blob, Blob]:
    """A soft 6 as the threshold may cut it: its ink whole on the page, its mask in two
    pieces, a 4 px cut down the middle (each piece's soft ink grows into the whole 6)."""
    page = np.full((120, 160), 200, np.uint8)
    cv2.putText(page, "6", (60, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 70, 4, cv2.LINE_AA)
    ink = (page < 140).astype(np.uint8) * 255
    x, _, w, _ = cv2.boundingRect(ink)
    cut = x + w // 2 - 2

    def piece(x0: int, x1: int) -> Blob:
        m = ink.copy()
        m[:, :x0], m[:, x1:] = 0, 0
        bx, by, bw, bh = cv2.boundingRect(m)
        return Blob((bx, by, bw, bh), m[by:by + bh, bx:bx + bw].copy())

    return page, piece(0, cut), piece(cut + 4, page.shape[1])


@pytest.mark.parametrize("order", ["left first", "right first"])
def test_two_pieces_that_grow_into_one_digit_are_read_once(order):
    """Two blobs whose soft ink grows into the same digit are pieces of it: one reading (of
    the larger piece, cropped as the whole digit), not the digit twice (a soft printed 6
    cut down its bowl was read "6" twice in one cell of a grid photo)."""
    page, left, right = _six_in_two_pieces()
    paper = Paper(page)
    whole = crop.grown(page, paper, left).box
    assert crop.grown(page, paper, right).box == whole != left.box  # both grow into the 6
    found = pipeline._Collector(page, paper, pipeline.DEFAULT_PARAMS)
    for blob in ([left, right] if order == "left first" else [right, left]):
        found.add(blob)
    assert len(found.readings) == 1
    (i,), = found.readings[0]
    assert found.blobs[i] is right  # the larger piece (11x32 against 11x29) stands for it
    assert np.array_equal(found.crops[i], crop.blob_crop(page, paper, right))


def test_two_digits_side_by_side_are_both_read():
    """Pieces are told by what they grow into: two whole digits, each growing into itself,
    are two readings."""
    page = np.full((120, 200), 200, np.uint8)
    cv2.putText(page, "6", (50, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 70, 4, cv2.LINE_AA)
    cv2.putText(page, "3", (100, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 70, 4, cv2.LINE_AA)
    found = pipeline.find_digits(page)
    assert len(found.readings) == 2 and len(found.first) == 2
