"""The font renderer behind the default model's printed digits: fonts found (or an error naming
the packages), a fixed family split with no family on both sides, deterministic rendering, and
the print styles MNIST lacks. Tests pick whichever suitable faces are installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from glyph_shapes import closed_four, has_foot

from mnist_edge.training import fonts


@pytest.fixture(scope="module")
def faces():
    return fonts.find_fonts()  # FontsMissing (naming the apt packages) fails the test: needed


def test_missing_fonts_name_the_packages(tmp_path: Path):
    fonts.find_fonts.cache_clear()
    try:
        with pytest.raises(fonts.FontsMissing, match="apt-get install .*fonts-urw-base35"):
            fonts.find_fonts((tmp_path,), minimum=10_000)
    finally:
        fonts.find_fonts.cache_clear()


def test_split_has_no_family_or_design_group_in_both(faces):
    train, held = fonts.split(faces)
    assert train and held
    assert not {f.family for f in train} & {f.family for f in held}
    assert not {f.group for f in train} & {f.group for f in held}
    assert {f.group for f in held} <= set(fonts.HELD_OUT_GROUPS)


def test_split_is_fixed_by_name_not_by_what_is_installed():
    assert set(fonts.GROUPS.values()) >= fonts.HELD_OUT_GROUPS
    # metric clones of one design are one group: a held-out family is really unseen
    assert fonts.GROUPS["Noto Sans"] == fonts.GROUPS["Open Sans"]
    assert fonts.GROUPS["Liberation Sans"] == fonts.GROUPS["Nimbus Sans"]


def test_render_is_deterministic_per_seed(faces):
    train, _ = fonts.split(faces)

    def one(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        alpha, _ = fonts.sample_glyph(train, 7, rng)
        return fonts.render_cell(alpha, rng).image

    a, b, c = one(3), one(3), one(4)
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_rendered_cell_box_holds_the_digit(faces):
    train, _ = fonts.split(faces)
    rng = np.random.default_rng(0)
    alpha, _ = fonts.sample_glyph(train, 4, rng)
    cell = fonts.render_cell(alpha, rng, fonts.SHARP_STYLE)
    x, y, w, h = cell.box
    gray = cell.image.mean(axis=2)
    assert gray[y:y + h, x:x + w].min() < np.median(gray) - 40  # dark ink inside the box
    assert 22 <= h <= 34  # SHARP_STYLE: 24-32 px tall


def test_blurred_16px_style_is_small_and_soft(faces):
    _, held = fonts.split(faces)
    rng = np.random.default_rng(2)
    cell = fonts.render_cell(fonts.glyph(held[0], 8, 60), rng, fonts.BLURRED16_STYLE)
    assert 14 <= cell.box[3] <= 19
    gray = cell.image.mean(axis=2)
    assert gray.min() > 40  # low contrast, blurred: no black pixel


def test_dot_matrix_and_segment_digits(faces):
    train, _ = fonts.split(faces)
    dots = fonts.dot_matrix_glyph(train[0], 8, 40, np.random.default_rng(0))
    assert dots.shape[0] == 40 and dots.max() > 0.9
    segments = [f for f in faces if f.group in fonts.SEGMENT_GROUPS]
    if segments:  # fonts-dseg (the CI installs it); the dot matrix works from any face
        assert fonts.glyph(segments[0], 8, 30).shape[0] in range(28, 33)


def test_print_styles_mnist_lacks_are_present(faces):
    """A serif 1 with a foot and a closed 4 (the diagonal meets the stem's top) are among the
    training faces: the shapes MNIST's handwriting misreads as 7 and 9."""
    train, _ = fonts.split(faces)
    assert any(has_foot(fonts.glyph(f, 1, 60)) for f in train)
    assert any(closed_four(fonts.glyph(f, 4, 60)) for f in train)
    styles = " ".join(f.style for f in train).lower()
    assert "bold" in styles and ("italic" in styles or "oblique" in styles)


def test_ci_installs_the_font_packages():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    for package in fonts.PACKAGES.split():
        assert package in ci, package
