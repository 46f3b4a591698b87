"""The shipped default model reads print in font families it never saw: a serif 1 with a flag
and a foot, a closed 4, sharp and blurred at 16 px; and a sans 1 with a long flag and no foot
(Cantarell's), which the MNIST-only models read as 7."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from glyph_shapes import closed_four, has_foot

from mnist_edge.training import fonts

MODEL = Path(__file__).resolve().parents[1] / "models" / "edge_int8.tflite"
SERIF = ("caladea", "bookman", "times", "century", "palatino", "noto-serif", "dejavu-serif")
SANS = ("open-sans", "cantarell", "helvetica", "dejavu-sans", "roboto", "lato", "carlito")


def _upright(face: fonts.Face) -> bool:
    return face.style in ("Regular", "Book", "Roman")


def _face(groups: tuple[str, ...], label: int, shape) -> fonts.Face:
    """The first upright face of ``groups`` (in that order; held-out families come first)
    whose ``label`` has ``shape``: the test reads that style even where some families are not
    installed."""
    faces = fonts.find_fonts()
    for group in groups:
        for face in faces:
            if face.group == group and _upright(face) and shape(fonts.glyph(face, label, 60)):
                return face
    pytest.fail(f"no installed face draws that {label}: sudo apt-get install {fonts.PACKAGES}")


def _read(face: fonts.Face, label: int, seed: int, style: fonts.CellStyle) -> list[int]:
    from mnist_edge.reading.reader import DigitReader

    cell = fonts.render_cell(fonts.glyph(face, label, 60), np.random.default_rng(seed), style)
    return [d.label for d in DigitReader(MODEL).read(cell.image)]


@pytest.mark.parametrize("seed", range(3))
def test_serif_one_with_flag_and_foot(seed: int):
    face = _face(SERIF, 1, has_foot)
    assert _read(face, 1, seed, fonts.SHARP_STYLE) == [1], face.name


@pytest.mark.parametrize("seed", range(3))
def testclosed_four(seed: int):
    face = _face(SANS, 4, closed_four)
    assert _read(face, 4, seed, fonts.SHARP_STYLE) == [4], face.name


@pytest.mark.parametrize("seed", range(2))
def test_blurred_serif_one_andclosed_four(seed: int):
    one, four = _face(SERIF, 1, has_foot), _face(SANS, 4, closed_four)
    assert _read(one, 1, seed, fonts.BLURRED16_STYLE) == [1], one.name
    assert _read(four, 4, seed, fonts.BLURRED16_STYLE) == [4], four.name


@pytest.mark.parametrize("seed", range(4))
def test_sans_one_with_a_long_flag(seed: int):
    face = _face(("cantarell",) + SANS, 1, _long_flag)
    assert _read(face, 1, seed, fonts.SHARP_STYLE) == [1], face.name


def _long_flag(one: np.ndarray) -> bool:
    """No foot, and the top rows reach well left of the stem (a flag a third of its height)."""
    ink = one > 0.5
    cols = np.flatnonzero(ink[ink.shape[0] // 2])
    top = np.flatnonzero(ink[: ink.shape[0] // 5].any(axis=0))
    return not has_foot(one) and cols.size > 0 and top.size > 0 and \
        cols.min() - top.min() > 0.25 * ink.shape[0]


def test_shipped_int8_file_is_small():
    assert MODEL.stat().st_size <= 64 * 1024
