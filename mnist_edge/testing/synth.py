"""Synthetic camera frames of digits on paper, with the truth known: for tests and benchmarks.

A real camera shows ink on paper under uneven light, slightly rotated and seen in perspective,
blurred, noisy, often with ruled lines and the table beyond the paper's edge. :func:`make_scene`
draws such a 640x480 frame holding 1-4 digits and returns where each digit is:

* ``kind="handwritten"``: MNIST *test* digits passed in by the caller (never shipped: the repo
  commits no MNIST pixels), scaled up and laid down as ink;
* ``kind="printed"``: digits drawn in OpenCV's built-in fonts (the ``FONT_HERSHEY_*`` faces,
  italic and "script" variants included; OpenCV 5 draws them as a modern sans) and, where
  Pillow is installed, in the TrueType faces matplotlib ships (DejaVu Sans/Serif/Mono, STIX,
  Computer Modern), at pen and marker stroke weights.

Everything is random but reproducible from the ``numpy.random.Generator`` passed in.
:func:`make_clip` writes a short video of one such card seen by a moving hand-held camera.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mnist_edge.common.boxes import iou
from mnist_edge.reading.crop import tight

FRAME_SIZE = (640, 480)  # width, height

# OpenCV's built-in faces (in OpenCV 5 these draw a modern sans in regular/bold/italic)
CV_FONTS = {
    "cv-simplex": cv2.FONT_HERSHEY_SIMPLEX,
    "cv-duplex": cv2.FONT_HERSHEY_DUPLEX,
    "cv-complex": cv2.FONT_HERSHEY_COMPLEX,
    "cv-triplex": cv2.FONT_HERSHEY_TRIPLEX,
    "cv-script-simplex": cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    "cv-script-complex": cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
    "cv-italic": cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC,
    "cv-plain": cv2.FONT_HERSHEY_PLAIN,
}
# TrueType faces drawn with Pillow when it and the files are there (matplotlib bundles them)
TTF_NAMES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf", "STIXGeneral.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBol.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmti10.ttf",
)


@functools.lru_cache(maxsize=1)
def printed_fonts() -> tuple[str, ...]:
    """Names of the fonts printed digits are drawn in: OpenCV's, plus TrueType faces found in
    matplotlib's data folder or /usr/share/fonts (used only if Pillow is installed)."""
    return tuple(CV_FONTS) + tuple(sorted(_ttf_paths()))


@functools.lru_cache(maxsize=1)
def _ttf_paths() -> dict[str, str]:
    try:
        import PIL.ImageFont  # noqa: F401
    except ImportError:
        return {}
    folders = [Path("/usr/share/fonts/truetype/dejavu")]
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.origin:
        folders.insert(0, Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    found: dict[str, str] = {}
    for name in TTF_NAMES:
        for folder in folders:
            if (folder / name).is_file():
                found[Path(name).stem] = str(folder / name)
                break
    return found


@dataclass(frozen=True)
class TrueDigit:
    """A digit drawn into a scene: its label, its ink's box (x, y, w, h) in the frame, and its
    cell in a grid scene."""

    label: int
    box: tuple[int, int, int, int]
    cell: tuple[int, int] | None = None  # (row, column) in a grid scene (testing/grids.py)


@dataclass(frozen=True)
class Scene:
    """A synthetic frame (BGR uint8) and its digits in reading order."""

    frame: np.ndarray
    digits: list[TrueDigit]
    kind: str
    conditions: dict = field(default_factory=dict)

    @property
    def reading(self) -> str:
        return "".join(str(d.label) for d in self.digits)


# ---------------------------------------------------------------------------------------------
# glyphs: float32 alpha, ink = 1, tightly cropped


def printed_glyph(label: int, font: str = "cv-simplex", weight: float = 0.0,
                  height: int = 100) -> np.ndarray:
    """Digit ``label`` in ``font`` (see :func:`printed_fonts`), ink box ``height`` px tall;
    ``weight`` > 0 thickens the strokes by that fraction of the height (a marker, not a pen)."""
    if font in CV_FONTS:
        canvas = np.zeros((260, 260), np.uint8)
        cv2.putText(canvas, str(label), (40, 200), CV_FONTS[font], 4.0, 255, 1, cv2.LINE_AA)
    else:
        from PIL import Image, ImageDraw, ImageFont

        face = ImageFont.truetype(_ttf_paths()[font], 160)
        img = Image.new("L", (260, 260), 0)
        ImageDraw.Draw(img).text((40, 20), str(label), font=face, fill=255)
        canvas = np.asarray(img)
    glyph = _resize_to_height(tight(canvas.astype(np.float32) / 255.0), height)
    k = int(round(weight * height))
    if k >= 2:
        glyph = cv2.dilate(glyph, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return glyph


def mnist_glyph(image: np.ndarray, height: int = 100) -> np.ndarray:
    """An MNIST image (28x28 uint8, white ink) as an alpha whose ink box is ``height`` px tall."""
    big = cv2.resize(image, (112, 112), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    return _resize_to_height(tight(np.clip(big, 0, 1)), height)


def _resize_to_height(a: np.ndarray, height: int) -> np.ndarray:
    h, w = a.shape
    s = height / h
    return np.clip(cv2.resize(a, (max(1, round(w * s)), height),
                              interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR), 0, 1)


def _tilt_glyph(a: np.ndarray, rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """Rotate and shear a glyph a little, on a canvas large enough to keep all of it."""
    h, w = a.shape
    pad = max(h, w) // 2
    a = cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    c = (a.shape[1] / 2, a.shape[0] / 2)
    m = cv2.getRotationMatrix2D(c, float(rng.uniform(-max_deg, max_deg)), 1.0)
    m[0, 1] += float(rng.uniform(-0.12, 0.12))
    out = cv2.warpAffine(a, m, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR)
    return tight(out)


# ---------------------------------------------------------------------------------------------
# scenes


def make_scene(
    rng: np.random.Generator,
    kind: str = "printed",
    *,
    mnist: tuple[np.ndarray, np.ndarray] | None = None,
    n_digits: int | None = None,
    invert: bool = False,
    size: tuple[int, int] = FRAME_SIZE,
    hard: bool = True,
    labels: list[int] | None = None,
    overrides: dict | None = None,
) -> Scene:
    """A random frame with 1-4 digits (or ``n_digits``/``labels``) and their true boxes.

    ``mnist=(images, labels)`` supplies the handwritten digits (use the *test* split).
    ``hard=False`` turns off the paper edge, ruled lines, shadow and perspective (clean scenes
    for unit tests); ``invert=True`` draws light chalk on a dark board. ``overrides`` sets
    conditions by name (``{"lines": True, "rows": 2, "blur": 0.0}``; see ``Scene.conditions``).
    """
    if kind == "handwritten" and mnist is None:
        raise ValueError("kind='handwritten' needs mnist=(images, labels)")
    w, h = size
    n = len(labels) if labels is not None else (n_digits or int(rng.integers(1, 5)))
    cond = {**_conditions(rng, hard, invert), **(overrides or {})}
    paper = _paper(rng, w, h, cond)
    layers, truth = _place_digits(rng, kind, mnist, n, labels, w, h, cond)
    img = paper.astype(np.float32)
    for alpha, (ink_bgr, opacity) in layers:
        a = (alpha * opacity)[..., None]
        img = img * (1 - a) + np.asarray(ink_bgr, np.float32) * a
    alphas = [a for a, _ in layers]
    if cond["perspective"]:
        img, alphas = _perspective(rng, img, alphas, w, h)
    if cond["edge"]:
        img = _table(rng, img, cond)
    img = _lighting(rng, img, cond)
    img = _degrade(rng, img, cond)
    digits = []
    for label, a in zip(truth, alphas, strict=True):
        pts = cv2.findNonZero((a > 0.3).astype(np.uint8))
        if pts is not None:
            digits.append(TrueDigit(label, tuple(int(v) for v in cv2.boundingRect(pts))))
    digits = _reading_order(digits)
    return Scene(img, digits, kind, cond)


def _conditions(rng: np.random.Generator, hard: bool, invert: bool) -> dict:
    return {
        "invert": invert,
        "edge": hard and rng.random() < 0.5,
        "lines": hard and rng.random() < 0.5,
        "line_contrast": float(rng.uniform(0.08, 0.3)),
        "shadow": hard and rng.random() < 0.5,
        "perspective": hard,
        "gradient": float(rng.uniform(0.0, 0.45 if hard else 0.15)),
        "blur": float(rng.uniform(0.0, 1.3 if hard else 0.6)),
        "noise": float(rng.uniform(1.0, 7.0 if hard else 3.0)),
        "jpeg": int(rng.integers(60, 95)) if hard else 0,
        "rotation": 8.0 if hard else 3.0,
    }


def _paper(rng: np.random.Generator, w: int, h: int, cond: dict) -> np.ndarray:
    if cond["invert"]:  # a dark board
        base = np.array([rng.uniform(30, 60), rng.uniform(40, 80), rng.uniform(30, 60)])
    else:
        level = rng.uniform(185, 245)
        base = np.array([level * rng.uniform(0.93, 1.0), level * rng.uniform(0.95, 1.0), level])
    paper = np.empty((h, w, 3), np.float32)
    paper[:] = base
    if cond["lines"]:
        spacing = int(rng.integers(28, 46))
        offset = int(rng.integers(0, spacing))
        k = cond["line_contrast"]
        colour = (base * np.array([1.0, 1 - k, 1 - 1.3 * k]) if not cond["invert"]
                  else base * (1 + 1.5 * k))
        thickness = int(rng.integers(1, 3))
        for y in range(offset, h, spacing):
            cv2.line(paper, (0, y), (w, y), colour.tolist(), thickness, cv2.LINE_AA)
        if rng.random() < 0.4:
            x = int(rng.integers(30, 90))
            red = base * np.array([1 - 1.2 * k, 1 - 1.2 * k, 1.0])
            cv2.line(paper, (x, 0), (x, h), red.tolist(), thickness, cv2.LINE_AA)
    return paper


def _place_digits(rng, kind, mnist, n, labels, w, h, cond):
    """Glyph alphas laid out in 1-2 rows, apart from each other and from the frame's border."""
    if n == 0:
        return [], []
    rows = 1 if n <= 2 or rng.random() < 0.6 else 2
    rows = min(n, int(cond.get("rows", rows)))
    per_row = [n - n // 2, n // 2] if rows == 2 else [n]
    margin = 90 if cond["edge"] else 40
    avail_w = w - 2 * margin
    avail_h = (h - 2 * margin) / rows
    height = int(min(rng.uniform(55, 150), avail_h * 0.8,
                     avail_w / (max(per_row) * 1.1 + 0.3)))
    layers, truth = [], []
    if cond["invert"]:
        chalk = float(rng.uniform(170, 235))
        ink = ([chalk, chalk, chalk], float(rng.uniform(0.8, 1.0)))
    else:
        dark = float(rng.uniform(10, 70))
        ink = ([dark * rng.uniform(1.0, 2.2), dark, dark], float(rng.uniform(0.75, 1.0)))
    k = 0
    for r, count in enumerate(per_row):
        glyphs = []
        for _ in range(count):
            label, glyph = _glyph(rng, kind, mnist, labels[k] if labels else None, height,
                                  cond)
            glyphs.append((label, glyph))
            k += 1
        gap = int(height * rng.uniform(0.3, 0.6))
        total = sum(g.shape[1] for _, g in glyphs) + gap * (count - 1)
        if total > avail_w:  # wide glyphs: shrink the row to fit the frame
            s = avail_w / total
            glyphs = [(lab, _resize_to_height(g, max(8, int(g.shape[0] * s)))) for lab, g in glyphs]
            gap = int(gap * s)
            total = sum(g.shape[1] for _, g in glyphs) + gap * (count - 1)
        if cond.get("centre"):
            x = margin + max(0, avail_w - total) // 2
            y_row = margin + int(r * avail_h + max(0.0, avail_h - height * 1.15) / 2)
        else:
            x = margin + int(rng.uniform(0, max(1, avail_w - total)))
            y_row = margin + int(r * avail_h + rng.uniform(0, max(1, avail_h - height * 1.15)))
        for label, glyph in glyphs:
            gh, gw = glyph.shape
            y = int(np.clip(y_row + rng.uniform(-0.05, 0.05) * height, 0, h - gh))
            x = int(np.clip(x, 0, w - gw))
            alpha = np.zeros((h, w), np.float32)
            alpha[y:y + gh, x:x + gw] = glyph
            layers.append((alpha, ink))
            truth.append(label)
            x += gw + gap
    return layers, truth


def _glyph(rng, kind, mnist, label, height, cond):
    if kind == "handwritten":
        images, all_labels = mnist
        pool = np.flatnonzero(all_labels == label) if label is not None else None
        i = int(rng.choice(pool)) if pool is not None else int(rng.integers(len(images)))
        glyph = mnist_glyph(images[i], height)
        label = int(all_labels[i])
        # pen width: MNIST strokes drawn at camera scale, thicker or thinner than MNIST's
        if rng.random() < 0.3:
            k = max(1, int(height * rng.uniform(0.02, 0.05)))
            glyph = cv2.dilate(glyph, np.ones((k, k), np.uint8))
    else:
        label = int(rng.integers(10)) if label is None else label
        fonts = cond.get("fonts") or printed_fonts()
        font = fonts[int(rng.integers(len(fonts)))]
        weight = float(rng.uniform(0.02, 0.09)) if rng.random() < 0.5 else 0.0
        glyph = printed_glyph(label, font, weight, height)
    return label, _tilt_glyph(glyph, rng, cond["rotation"])


def _perspective(rng, img, alphas, w, h):
    j = 0.04 * min(w, h)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + rng.uniform(-j, j, size=(4, 2)).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    img = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    alphas = [cv2.warpPerspective(a, m, (w, h)) for a in alphas]
    return img, alphas


def _table(rng, img, cond):
    """The table beyond the paper: one or two sides of the frame, edge slightly tilted."""
    h, w = img.shape[:2]
    table = np.empty_like(img)
    level = rng.uniform(25, 110) if not cond["invert"] else rng.uniform(120, 180)
    table[:] = [level * 0.7, level * 0.85, level]
    table += rng.normal(0, 6, size=(h, w, 1)).astype(np.float32)
    inset = [int(rng.uniform(15, 60)) if rng.random() < 0.5 else -20 for _ in range(4)]
    if all(i < 0 for i in inset):
        inset[int(rng.integers(4))] = int(rng.uniform(15, 60))
    left, top, right, bottom = inset
    tilt = rng.uniform(-12, 12, size=(4, 2))
    poly = np.float32([[left, top], [w - right, top], [w - right, h - bottom], [left, h - bottom]])
    poly = (poly + tilt).astype(np.int32)
    paper_mask = np.zeros((h, w), np.float32)
    cv2.fillPoly(paper_mask, [poly], 1.0, cv2.LINE_AA)
    paper_mask = cv2.GaussianBlur(paper_mask, (0, 0), 1.0)[..., None]
    return img * paper_mask + table * (1 - paper_mask)


def _lighting(rng, img, cond):
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    light = 1.0 - cond["gradient"] * ramp
    if cond["shadow"]:
        shadow = np.zeros((h, w), np.float32)
        x0 = rng.uniform(0.2, 0.8) * w
        pts = np.int32([[x0, -10], [x0 + rng.uniform(-200, 200), h + 10], [w + 10, h + 10],
                        [w + 10, -10]])
        if rng.random() < 0.5:
            pts[:, 0] = w - pts[:, 0]
        cv2.fillPoly(shadow, [pts], 1.0)
        shadow = cv2.GaussianBlur(shadow, (0, 0), rng.uniform(8, 30))
        light = light * (1.0 - rng.uniform(0.25, 0.5) * shadow)
    return img * light[..., None]


def _degrade(rng, img, cond):
    if cond["blur"] > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), cond["blur"])
    img = img + rng.normal(0, cond["noise"], size=img.shape).astype(np.float32)
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if cond["jpeg"]:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, cond["jpeg"]])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


def _reading_order(digits: list[TrueDigit]) -> list[TrueDigit]:
    from mnist_edge.reading.pipeline import reading_order

    return [digits[i] for i in reading_order([d.box for d in digits])]


# ---------------------------------------------------------------------------------------------
# scoring


@dataclass
class Score:
    """Digits found and read right, found but misread, missed; and detections of nothing."""

    right: int = 0
    wrong: int = 0
    missed: int = 0
    extra: int = 0

    @property
    def total(self) -> int:
        return self.right + self.wrong + self.missed

    @property
    def accuracy(self) -> float:
        """Share of true digits found and read right (the benchmark's headline figure)."""
        return self.right / self.total if self.total else 1.0

    def add(self, other: Score) -> None:
        self.right += other.right
        self.wrong += other.wrong
        self.missed += other.missed
        self.extra += other.extra


def score(truth: list[TrueDigit], found: list[tuple[int, tuple[int, int, int, int]]]) -> Score:
    """Match found (label, box) pairs to true digits: a match is a found box whose centre is
    inside the true box and vice versa, or that overlaps it by IoU >= 0.4; the best overlap
    wins, and each found box is used once."""
    s = Score()
    used: set[int] = set()
    for t in truth:
        best, best_iou = None, 0.0
        for j, (_, box) in enumerate(found):
            inside = _centre_inside(box, t.box) and _centre_inside(t.box, box)
            if j in used or not (inside or iou(box, t.box) >= 0.4):
                continue
            overlap = iou(box, t.box)
            if overlap > best_iou:
                best, best_iou = j, overlap
        if best is None:
            s.missed += 1
            continue
        used.add(best)
        if found[best][0] == t.label:
            s.right += 1
        else:
            s.wrong += 1
    s.extra = len(found) - len(used)
    return s


def _centre_inside(a, b) -> bool:
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]


# ---------------------------------------------------------------------------------------------
# video


@dataclass(frozen=True)
class Clip:
    """A written clip: its path, frame count, FPS and the digits every frame shows."""

    path: Path
    frames: int
    fps: float
    reading: str


def make_clip(path: str | os.PathLike[str], labels: list[int], *, frames: int = 48,
              fps: float = 12.0, size: tuple[int, int] = FRAME_SIZE, seed: int = 0,
              kind: str = "printed", mnist: tuple[np.ndarray, np.ndarray] | None = None,
              codec: str = "mp4v", overrides: dict | None = None) -> Clip:
    """A short video of a hand-held camera over one card of digits: a slow pan and zoom,
    a small wobble, flickering light and sensor noise; every frame shows all of ``labels``.

    Written atomically with OpenCV's FFmpeg writer (``mp4v`` in .mp4 decodes everywhere
    OpenCV does, the Raspberry Pi included).
    """
    from mnist_edge.common import atomic

    rng = np.random.default_rng(seed)
    w, h = size
    big = make_scene(rng, kind, mnist=mnist, labels=labels, size=(int(w * 1.3), int(h * 1.3)),
                     hard=False, overrides={"centre": True, "rows": 1, **(overrides or {})})
    scene = big.frame.astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=4)

    def write(tmp: Path) -> None:
        out = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
        if not out.isOpened():
            raise OSError(f"OpenCV cannot write {codec} video to {path}")
        try:
            for i in range(frames):
                out.write(_clip_frame(scene, i / max(frames - 1, 1), phase, rng, w, h))
        finally:
            out.release()

    atomic.write_with(path, write)
    return Clip(Path(path), frames, fps, big.reading)


def _clip_frame(scene: np.ndarray, t: float, phase: np.ndarray, rng: np.random.Generator,
                w: int, h: int) -> np.ndarray:
    big_h, big_w = scene.shape[:2]
    zoom = 1.08 + 0.06 * np.sin(2 * np.pi * t + phase[0])
    angle = 2.0 * np.sin(2 * np.pi * t + phase[1])
    cx = big_w / 2 + 0.03 * big_w * np.sin(2 * np.pi * t + phase[2])
    cy = big_h / 2 + 0.03 * big_h * np.sin(2 * np.pi * t + phase[3])
    m = cv2.getRotationMatrix2D((cx, cy), angle, zoom * w / big_w)
    m[:, 2] += (w / 2 - cx, h / 2 - cy)
    frame = cv2.warpAffine(scene, m, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    frame *= 0.93 + 0.07 * np.sin(6 * np.pi * t)
    frame += rng.normal(0, 2.5, size=frame.shape).astype(np.float32)
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)
