"""Synthetic digit crops in class folders: the stand-in for a user's own crops.

Real crops of a water meter's counter wheels, a display or a label cannot ship with the repo, so
tests and ``scripts/bench_own_digits.py`` render look-alikes of three kinds (:data:`KINDS`):

- ``meter``: counter-wheel digits in several OpenCV fonts and stroke weights; the ``N`` class is
  a wheel caught between two digits (the bottom of one above the top of the next), ``blank`` an
  empty window;
- ``printed``: printed digits in the font families :mod:`mnist_edge.training.fonts` finds
  (text weights, segment faces left out; sometimes dot-matrix, sheared or heavier), OpenCV's
  Hershey fonts when too few are installed;
- ``seven-segment``: the DSEG7 faces (``fonts-dseg``), lit segments with the unlit ones faintly
  visible as real LCD and LED displays show them, and stronger colour (red/green LEDs, grey-green
  LCDs).

Every kind is drawn light on dark and dark on light, with a tint, small shifts and rotation,
blur, noise, uneven light, sometimes a reflection or a frame edge, and JPEG artefacts, at a
meter camera's size (20x32 px colour by default). Deterministic for a seed.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import cv2
import numpy as np

FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)
DIGIT_CLASSES = [str(d) for d in range(10)]
KINDS = ("meter", "printed", "seven-segment")
CANVAS = (64, 40)  # (h, w) of the ink mask before it is shrunk to the crop


def _glyph(text: str, rng: np.random.Generator, h: int = 64, w: int = 40) -> np.ndarray:
    """A white digit on black, filling most of an (h, w) window, font and weight at random."""
    font = FONTS[int(rng.integers(len(FONTS)))]
    if rng.random() < 0.25:
        font |= cv2.FONT_ITALIC
    thick = int(rng.integers(1, 7))
    canvas = np.zeros((h, w), np.uint8)
    scale = cv2.getFontScaleFromHeight(font, int(h * rng.uniform(0.45, 0.72)), thick)
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    x = (w - tw) // 2 + int(rng.integers(-2, 3))
    y = (h + th) // 2 + int(rng.integers(-3, 4))
    cv2.putText(canvas, text, (x, y), font, scale, 255, thick, cv2.LINE_AA)
    return canvas


def _between(d: int, rng: np.random.Generator, h: int = 64, w: int = 40) -> np.ndarray:
    """A wheel mid-roll: the lower part of digit d above the upper part of d+1."""
    upper, lower = _glyph(str(d), rng, h, w), _glyph(str((d + 1) % 10), rng, h, w)
    strip = np.concatenate([upper, lower])
    off = int(h * rng.uniform(0.35, 0.65))
    return strip[off : off + h]


@functools.lru_cache(maxsize=1)
def _faces(kind: str) -> tuple:
    """The font faces of ``kind`` (printed: text weights without segment faces; seven-segment:
    DSEG7), found by :func:`mnist_edge.training.fonts.find_fonts`; () when there are too few."""
    from mnist_edge.training import fonts

    try:
        found = fonts.find_fonts()
    except fonts.FontsMissing:
        found = ()
    if kind == "printed":
        return fonts.text_weights(tuple(f for f in found
                                        if f.group not in fonts.SEGMENT_GROUPS))
    return tuple(f for f in found if f.group == "seven-segment")


def _place(layers: list[np.ndarray], rng: np.random.Generator, fill: tuple[float, float]
           ) -> list[np.ndarray]:
    """Ink ``layers`` (float, ink = 1, one shape) scaled to ``fill`` of the canvas height
    (narrower when they would not fit) and centred in it with a small jitter, all alike."""
    h, w = CANVAS
    gh, gw = layers[0].shape
    scale = min(h * rng.uniform(*fill) / gh, 0.92 * w / gw)
    size = (max(1, round(gw * scale)), max(1, round(gh * scale)))
    y = min(max((h - size[1]) // 2 + int(rng.integers(-3, 4)), 0), h - size[1])
    x = min(max((w - size[0]) // 2 + int(rng.integers(-2, 3)), 0), w - size[0])
    out = []
    for alpha in layers:
        canvas = np.zeros(CANVAS, np.float32)
        canvas[y : y + size[1], x : x + size[0]] = np.clip(
            cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), 0, 1)
        out.append(canvas)
    return out


def _printed(d: int, rng: np.random.Generator) -> np.ndarray:
    """A printed digit from an installed font (Hershey when too few are installed)."""
    from mnist_edge.training import fonts

    faces = _faces("printed")
    if not faces:
        return _glyph(str(d), rng).astype(np.float32) / 255.0
    alpha, _ = fonts.sample_glyph(faces, d, rng)
    return _place([alpha], rng, (0.5, 0.8))[0]


def _segments(d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A seven-segment digit and its unlit segments ("8" minus the digit), drawn in one DSEG7
    face at the same origin so they line up; the pair placed in the canvas as one."""
    from PIL import Image, ImageDraw

    from mnist_edge.training import fonts

    faces = _faces("seven-segment")
    if not faces:  # no DSEG: a printed digit, no unlit segments
        return _glyph(str(d), rng).astype(np.float32) / 255.0, np.zeros(CANVAS, np.float32)
    face = faces[int(rng.integers(len(faces)))]
    font = fonts._font(face.path, 96)
    x0, y0, x1, y1 = font.getbbox("8")
    layers = []
    for text in (str(d), "8"):
        img = Image.new("L", (x1 - x0 + 4, y1 - y0 + 4), 0)
        ImageDraw.Draw(img).text((2 - x0, 2 - y0), text, font=font, fill=255)
        layers.append(np.asarray(img, np.float32) / 255.0)
    lit, every = _place(layers, rng, (0.55, 0.8))
    return lit, np.clip(every - lit, 0, 1)


def render_crop(name: str, rng: np.random.Generator, size: tuple[int, int] = (20, 32),
                colour: bool = True, kind: str = "meter") -> np.ndarray:
    """One crop of class ``name`` (a digit, ``N`` or ``blank``) of ``kind`` (:data:`KINDS`)
    as BGR or grey uint8, (h, w) = (size[1], size[0])."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    unlit = None
    if name == "N":
        m = _between(int(rng.integers(10)), rng).astype(np.float32) / 255.0
    elif name not in DIGIT_CLASSES:
        m = np.zeros(CANVAS, np.float32)
    elif kind == "printed":
        m = _printed(int(name), rng)
    elif kind == "seven-segment":
        m, unlit = _segments(int(name), rng)
    else:
        m = _glyph(name, rng).astype(np.float32) / 255.0
    light_ink = bool(rng.integers(2))
    paper = rng.uniform(5, 110) if light_ink else rng.uniform(130, 245)
    contrast = rng.uniform(45, 200)
    ink = min(paper + contrast, 252.0) if light_ink else max(paper - contrast, 3.0)
    if unlit is not None:  # unlit segments: a faint trace of ink, as on a real display
        m = np.maximum(m, unlit * rng.uniform(0.05, 0.18))
    if rng.random() < 0.3:  # the counter window's frame or the next wheel at one side
        side = int(rng.integers(2))
        edge = int(m.shape[1] * rng.uniform(0.06, 0.16))
        if side:
            m[:, :edge] = np.maximum(m[:, :edge], rng.uniform(0.5, 1.0))
        else:
            m[:, -edge:] = np.maximum(m[:, -edge:], rng.uniform(0.5, 1.0))
    grey = paper + (ink - paper) * m
    # uneven light: a gradient and sometimes a bright reflection spot
    yy, xx = np.mgrid[0 : m.shape[0], 0 : m.shape[1]].astype(np.float32)
    grey += rng.uniform(-25, 25) * (yy / m.shape[0] - 0.5) + rng.uniform(-15, 15) * (
        xx / m.shape[1] - 0.5)
    if rng.random() < 0.3:
        cy, cx = rng.uniform(0, m.shape[0]), rng.uniform(0, m.shape[1])
        grey += rng.uniform(30, 80) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 60.0)
    w, h = size
    small = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-6, 6), rng.uniform(0.9, 1.1))
    matrix[:, 2] += rng.uniform(-0.12 * w, 0.12 * w), rng.uniform(-0.08 * h, 0.08 * h)
    small = cv2.warpAffine(small, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.6:
        small = cv2.GaussianBlur(small, (5, 5), rng.uniform(0.3, 1.4))
    small = small + rng.normal(0, rng.uniform(2, 14), small.shape)
    if colour:
        tint = rng.uniform(0.75, 1.0, 3)
        if kind == "seven-segment":  # red/green LEDs, grey-green or blue-grey LCDs
            tint = np.clip(tint * rng.uniform(0.35, 1.0, 3) / 0.75, 0.3, 1.0)
        out = np.clip(small[..., None] * tint, 0, 255).astype(np.uint8)
    else:
        out = np.clip(small, 0, 255).astype(np.uint8)
    quality = int(rng.integers(20, 95))
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else out


def write_class_folders(out: str | os.PathLike[str], per_class: int, *, seed: int = 0,
                        classes: list[str] | None = None, size: tuple[int, int] = (20, 32),
                        colour: bool = True, ext: str = ".png", split: int | None = None,
                        kind: str = "meter") -> Path:
    """Write ``out/<class>/<i>.png`` (``per_class`` each) of ``kind``, or with ``split`` (test
    crops per class) ``out/train/<class>/`` and ``out/test/<class>/``. Returns ``out``."""
    rng = np.random.default_rng(seed)
    root = Path(out)
    names = classes or DIGIT_CLASSES
    levels = [(root, per_class)] if split is None else [(root / "train", per_class),
                                                        (root / "test", split)]
    for level, count in levels:
        for name in names:
            folder = level / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                cv2.imwrite(str(folder / f"{name}_{i:04d}{ext}"),
                            render_crop(name, rng, size, colour, kind))
    return root


def counter_strip(values: str, shift: int = 0, height: int = 48) -> np.ndarray:
    """A BGR frame with the digits of ``values`` printed dark on light paper, spaced apart,
    moved ``shift`` px right (what ``collect`` and ``webcam`` tests read as a scene)."""
    thick = max(2, height // 10)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = cv2.getFontScaleFromHeight(font, height, thick)
    step = int(height * 1.3)
    frame = np.full((height * 2, step * len(values) + height + 20), 235, np.uint8)
    for i, ch in enumerate(values):
        cv2.putText(frame, ch, (height // 2 + shift + i * step, int(height * 1.5)), font, scale,
                    20, thick, cv2.LINE_AA)
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
