"""Printed digits for training and testing: font files found on the machine, a fixed split of
their families into training and held-out, and digits rendered the way a camera sees print.

Fonts come from Debian font packages and the faces matplotlib ships (:func:`find_fonts`). Each
file belongs to a *design group*: families that share digit shapes (metric clones such as Nimbus
Sans / FreeSans / Liberation Sans; Open Sans and Noto Sans) are one group, so a held-out family
is genuinely unseen. The split (:data:`HELD_OUT_GROUPS`) is fixed by name, never by what happens
to be installed: a face whose family is not listed in :data:`GROUPS` is ignored.

:func:`render_cell` draws one digit the way a phone photographs print: rasterised small (10-20 px
tall) then scaled up, in a cell of tinted paper with pieces of the box's edge at its border,
rotated and seen in slight perspective, blurred, with uneven light, sensor noise and JPEG at
40-90. :func:`glyph` gives the digit's ink alone (seven-segment faces included; dot-matrix digits
are drawn from any face's 5x7 raster). Everything is reproducible from the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import functools
import importlib.util
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mnist_edge.common.errors import UserError
from mnist_edge.reading.crop import tight

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
FONT_SUFFIXES = (".ttf", ".otf")

# family name (as the font file reports it) -> design group. Families not listed are ignored.
GROUPS: dict[str, str] = {
    # Helvetica / Arial like
    "Nimbus Sans": "helvetica", "Nimbus Sans Narrow": "helvetica", "FreeSans": "helvetica",
    "Liberation Sans": "helvetica", "Liberation Sans Narrow": "helvetica",
    # Times like
    "Nimbus Roman": "times", "FreeSerif": "times", "Liberation Serif": "times",
    "STIXGeneral": "times",
    # Courier like
    "Nimbus Mono PS": "courier", "FreeMono": "courier", "Liberation Mono": "courier",
    # Bitstream Vera / DejaVu
    "DejaVu Sans": "dejavu-sans", "DejaVu Sans Display": "dejavu-sans",
    "DejaVu Sans Mono": "dejavu-mono", "Hack": "dejavu-mono",
    "DejaVu Serif": "dejavu-serif", "DejaVu Serif Display": "dejavu-serif",
    "Carlito": "carlito", "C059": "century", "P052": "palatino", "URW Gothic": "avant-garde",
    "Z003": "chancery", "Lato": "lato", "Roboto": "roboto", "Roboto Condensed": "roboto",
    "Noto Serif": "noto-serif", "Noto Serif Display": "noto-serif",
    "Noto Mono": "noto-mono", "Noto Sans Mono": "noto-mono",
    "cmr10": "computer-modern", "cmss10": "computer-modern-sans", "cmtt10": "computer-modern-tt",
    "cmb10": "computer-modern", "cmti10": "computer-modern",
    "DSEG7 Classic": "seven-segment", "DSEG7 Modern": "seven-segment",
    "DSEG7 Classic Mini": "seven-segment", "DSEG7 Modern Mini": "seven-segment",
    "DSEG14 Classic": "fourteen-segment", "DSEG14 Modern": "fourteen-segment",
    # held out (see HELD_OUT_GROUPS)
    "Open Sans": "open-sans", "Open Sans Condensed": "open-sans", "Noto Sans": "open-sans",
    "Noto Sans Display": "open-sans",
    "Caladea": "caladea", "URW Bookman": "bookman", "Inconsolata": "inconsolata",
    "Cantarell": "cantarell",
}
# sans (humanist), serif (Cambria-like), heavy old-style serif, monospace, geometric sans
HELD_OUT_GROUPS = frozenset({"open-sans", "caladea", "bookman", "inconsolata", "cantarell"})
SEGMENT_GROUPS = frozenset({"seven-segment", "fourteen-segment"})
PACKAGES = ("fonts-urw-base35 fonts-freefont-ttf fonts-dejavu fonts-dejavu-extra "
            "fonts-liberation fonts-liberation2 fonts-crosextra-carlito fonts-crosextra-caladea "
            "fonts-noto-mono fonts-noto-core fonts-roboto fonts-open-sans fonts-lato fonts-dseg "
            "fonts-inconsolata fonts-hack fonts-cantarell")
DOT_MATRIX = "dot-matrix"  # pseudo-family: digits drawn from a face's 5x7 raster


class FontsMissing(UserError):
    """Too few font files: the message names the Debian packages to install (``train`` shows
    it as one error line)."""


@dataclass(frozen=True)
class Face:
    """One font file: where it is, its family and style, and its design group."""

    path: str
    family: str
    style: str
    group: str

    @property
    def held_out(self) -> bool:
        return self.group in HELD_OUT_GROUPS

    @property
    def name(self) -> str:
        return f"{self.family} {self.style}"


def _font_files(dirs: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        if d.is_dir():
            files += [p for p in d.rglob("*") if p.suffix.lower() in FONT_SUFFIXES]
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.origin:
        mpl = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
        files += sorted(mpl.glob("*.ttf"))
    return sorted(set(files))


def _family(name: str) -> str:
    """Normalise a family name: drop weight/width words fontconfig folds into some names."""
    for suffix in (" Light", " Thin", " Black", " Medium", " Semibold", " Heavy", " Hairline",
                   " Extrabold", " ExtraBold", " Condensed Light", " Condensed Medium"):
        if name.endswith(suffix) and name[: -len(suffix)] in GROUPS:
            return name[: -len(suffix)]
    return name


@functools.lru_cache(maxsize=4)
def find_fonts(dirs: tuple[Path, ...] = FONT_DIRS, minimum: int = 20) -> tuple[Face, ...]:
    """Every usable face (a listed family that draws all ten digits), sorted by path.

    Raises :class:`FontsMissing` naming the packages to install when fewer than ``minimum``
    faces (or no held-out face) are found, or Pillow (matplotlib's dependency) is missing.
    """
    try:
        from PIL import ImageFont
    except ImportError as exc:  # pragma: no cover - Pillow comes with matplotlib
        raise FontsMissing("rendering fonts needs Pillow: pip install 'mnist-edge[train]'") from exc
    faces = []
    for path in _font_files(dirs):
        try:
            font = ImageFont.truetype(str(path), 32)
        except OSError:
            continue
        family, style = font.getname()
        family = _family(family or "")
        group = GROUPS.get(family)
        if group is None or not _draws_digits(font):
            continue
        faces.append(Face(str(path), family, style or "Regular", group))
    faces.sort(key=lambda f: f.path)
    if len(faces) < minimum or not any(f.held_out for f in faces):
        raise FontsMissing(
            f"found {len(faces)} usable font files (need {minimum}, some of the held-out "
            f"families {sorted(HELD_OUT_GROUPS)}); install them with: "
            f"sudo apt-get install {PACKAGES}")
    return tuple(faces)


def _draws_digits(font) -> bool:
    """All ten digits have ink and differ from each other (no .notdef boxes)."""
    masks = []
    for d in "0123456789":
        box = font.getbbox(d)
        if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            return False
        masks.append(bytes(font.getmask(d)))
    return len(set(masks)) == 10


def split(faces: tuple[Face, ...] | None = None) -> tuple[tuple[Face, ...], tuple[Face, ...]]:
    """(training faces, held-out faces): by design group, so no family is in both."""
    faces = find_fonts() if faces is None else faces
    return (tuple(f for f in faces if not f.held_out), tuple(f for f in faces if f.held_out))


HAIRLINE_STYLES = ("Thin", "Hairline", "Light", "ExtraLight")


def text_weights(faces: tuple[Face, ...]) -> tuple[Face, ...]:
    """The faces of ordinary text weights (no Thin/Light/Hairline): what the held-out
    benchmark measures (a hairline face blurred at 16 px is barely on the paper)."""
    return tuple(f for f in faces if not any(w in f.style for w in HAIRLINE_STYLES))


# ---------------------------------------------------------------------------------------------
# glyphs: float32 alpha in [0, 1], ink = 1


@functools.lru_cache(maxsize=512)
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def glyph(face: Face, label: int, height: float) -> np.ndarray:
    """Digit ``label`` in ``face`` rasterised so its ink is about ``height`` px tall (the
    font's own hinting and anti-aliasing at that size: small print looks like small print)."""
    from PIL import Image, ImageDraw

    size = max(4, int(round(height / _digit_ratio(face.path))))
    font = _font(face.path, size)
    x0, y0, x1, y1 = font.getbbox(str(label))
    img = Image.new("L", (x1 - x0 + 4, y1 - y0 + 4), 0)
    ImageDraw.Draw(img).text((2 - x0, 2 - y0), str(label), font=font, fill=255)
    return tight(np.asarray(img, np.float32) / 255.0)


@functools.lru_cache(maxsize=256)
def _digit_ratio(path: str) -> float:
    """Ink height of the digits over the font size (about 0.7 for most faces)."""
    font = _font(path, 100)
    heights = [font.getbbox(d)[3] - font.getbbox(d)[1] for d in "0123456789"]
    return max(0.2, float(np.median(heights)) / 100.0)


def dot_matrix_glyph(face: Face, label: int, height: float, rng: np.random.Generator
                     ) -> np.ndarray:
    """Digit ``label`` as a dot-matrix display/printer draws it: ``face``'s digit rastered to
    5x7 cells, each lit cell a round dot, the whole ``height`` px tall (drawn at 4x, shrunk)."""
    big = glyph(face, label, 70)
    cells = cv2.resize(big, (5, 7), interpolation=cv2.INTER_AREA) > 0.3
    pitch = 24
    canvas = np.zeros((7 * pitch, 5 * pitch), np.float32)
    radius = int(pitch * rng.uniform(0.32, 0.5))
    for r, c in zip(*np.nonzero(cells), strict=True):
        cv2.circle(canvas, (int(c * pitch + pitch // 2), int(r * pitch + pitch // 2)), radius,
                   1.0, -1, cv2.LINE_AA)
    s = height / canvas.shape[0]
    size = (max(1, round(canvas.shape[1] * s)), max(1, round(height)))
    return tight(np.clip(cv2.resize(canvas, size, interpolation=cv2.INTER_AREA), 0, 1))


def emboldened(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Slightly heavier or lighter strokes (ink spread or a thin print), sometimes."""
    u = rng.random()
    if u < 0.15:
        return cv2.dilate(a, np.ones((2, 2), np.uint8))
    if u < 0.25 and a.shape[0] >= 14:
        return cv2.erode(a, np.ones((2, 1), np.uint8))
    return a


# ---------------------------------------------------------------------------------------------
# a cell of a printed grid, photographed


@dataclass(frozen=True)
class CellStyle:
    """How hard :func:`render_cell` makes a cell (one preset per benchmark row)."""

    height: tuple[float, float] = (10.0, 20.0)  # digit ink height at the photo's scale (px)
    upscale: tuple[float, float] = (1.0, 2.5)  # then scaled up by this much
    blur: tuple[float, float] = (0.0, 0.07)  # Gaussian sigma at the small scale, x height
    contrast: tuple[float, float] = (0.3, 0.85)  # ink darkness relative to the paper
    noise: tuple[float, float] = (0.0, 8.0)
    jpeg: tuple[int, int] = (40, 90)
    rotation: float = 4.0  # degrees
    perspective: float = 0.05  # corner jitter, fraction of the cell side
    box_edges: float = 0.6  # chance of pieces of the box's edge at the border
    light: float = 0.35  # uneven light: up to this much darker across the cell
    tint: bool = True  # yellowish / grey-green paper, coloured ink sometimes


TRAIN_STYLE = CellStyle()
SHARP_STYLE = CellStyle(height=(24.0, 32.0), upscale=(1.0, 1.0), blur=(0.0, 0.0),
                        contrast=(0.6, 0.8), noise=(0.0, 2.0), jpeg=(95, 95), rotation=0.0,
                        perspective=0.0, box_edges=0.0, light=0.0, tint=False)
BLURRED16_STYLE = CellStyle(height=(16.0, 16.0), upscale=(1.0, 1.0), blur=(0.0625, 0.0625),
                            contrast=(0.45, 0.6), noise=(2.0, 2.0), jpeg=(75, 75),
                            rotation=0.0, perspective=0.0, box_edges=0.0, light=0.0,
                            tint=False)


@dataclass(frozen=True)
class RenderedCell:
    """A rendered cell (BGR uint8), its digit's ink box (x, y, w, h) and ink alpha in it."""

    image: np.ndarray
    box: tuple[int, int, int, int]
    alpha: np.ndarray  # float32 (H, W): where the digit's ink is (before blur and noise)


def render_cell(alpha: np.ndarray, rng: np.random.Generator, style: CellStyle = TRAIN_STYLE
                ) -> RenderedCell:
    """A BGR uint8 photo of one grid cell holding the ink ``alpha`` (ink = 1), padded with
    paper so a reader sees one digit on a sheet (what :mod:`photo_cells` cuts from real photos).

    ``alpha`` is shrunk to a height drawn from ``style.height`` (rasterised small), the cell is
    drawn at that scale, degraded (blur, perspective, light) and scaled up by ``style.upscale``,
    then noise and JPEG are applied at the final size.
    """
    h_small = float(rng.uniform(*style.height))
    a = _to_height(alpha, h_small)
    gh, gw = a.shape
    side = int(round(max(gh, gw) * rng.uniform(1.45, 1.9)))  # a cell: digit 50-70% of it
    pad = int(round(side * rng.uniform(0.35, 0.6)))
    n = side + 2 * pad
    # where the digit sits in its cell (newspaper digits are centred, give or take)
    oy = pad + (side - gh) // 2 + int(rng.integers(-max(1, side // 12), max(1, side // 12) + 1))
    ox = pad + (side - gw) // 2 + int(rng.integers(-max(1, side // 10), max(1, side // 10) + 1))
    ink_alpha = np.zeros((n, n), np.float32)
    oy, ox = int(np.clip(oy, 0, n - gh)), int(np.clip(ox, 0, n - gw))
    ink_alpha[oy:oy + gh, ox:ox + gw] = a
    edges = np.zeros((n, n), np.float32)
    if rng.random() < style.box_edges:
        _box_edges(edges, rng, pad, side)

    paper, ink, edge_ink = _colours(rng, style)
    img = np.empty((n, n, 3), np.float32)
    img[:] = paper
    for layer, colour in ((edges, edge_ink), (ink_alpha, ink)):
        img = img * (1 - layer[..., None]) + np.asarray(colour, np.float32) * layer[..., None]
    img, m = _warp(img, rng, style, paper)
    if m is not None:
        ink_alpha = cv2.warpPerspective(ink_alpha, m, (n, n), flags=cv2.INTER_LINEAR)
    sigma = float(rng.uniform(*style.blur)) * h_small
    if sigma > 0.2:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if style.light > 0:
        img = _light(img, rng, style.light)
    up = float(rng.uniform(*style.upscale))
    if up > 1.05:
        size = (round(n * up), round(n * up))
        interp = cv2.INTER_CUBIC if rng.random() < 0.5 else cv2.INTER_LINEAR
        img = cv2.resize(img, size, interpolation=interp)
    noise = float(rng.uniform(*style.noise))
    if noise > 0:
        img = img + rng.normal(0, noise, size=img.shape).astype(np.float32)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    q = int(rng.integers(style.jpeg[0], style.jpeg[1] + 1))
    if q < 100:
        out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])[1],
                           cv2.IMREAD_COLOR)
    if out.shape[0] != n:
        ink_alpha = cv2.resize(ink_alpha, out.shape[:2][::-1], interpolation=cv2.INTER_LINEAR)
    box = cv2.boundingRect((ink_alpha > 0.3).astype(np.uint8))
    return RenderedCell(out, tuple(int(v) for v in box), ink_alpha)


def _to_height(a: np.ndarray, height: float) -> np.ndarray:
    h, w = a.shape
    s = height / h
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return np.clip(cv2.resize(a, size, interpolation=interp), 0, 1)


def _box_edges(edges: np.ndarray, rng: np.random.Generator, pad: int, side: int) -> None:
    """Pieces of the cell's box lines, just inside the cut (what a trimmed cell keeps)."""
    n = edges.shape[0]
    for _ in range(int(rng.integers(1, 3))):
        where = int(rng.integers(4))
        inset = int(rng.integers(0, max(2, side // 8)))
        thick = int(rng.integers(1, max(2, side // 12) + 1))
        lo = int(pad + rng.uniform(-0.1, 0.3) * side)
        hi = int(pad + rng.uniform(0.7, 1.1) * side)
        pos = pad + inset if where < 2 else pad + side - inset - thick
        pos = int(np.clip(pos, 0, n - thick))
        lo, hi = max(0, lo), min(n, hi)
        strength = float(rng.uniform(0.5, 1.0))
        if where % 2 == 0:
            edges[pos:pos + thick, lo:hi] = strength  # horizontal
        else:
            edges[lo:hi, pos:pos + thick] = strength  # vertical


def _colours(rng: np.random.Generator, style: CellStyle):
    """Paper, digit ink and box-line ink (BGR floats)."""
    level = float(rng.uniform(120, 245)) if style.tint else float(rng.uniform(200, 240))
    if style.tint:  # white, yellowish or grey-green paper
        kind = rng.random()
        if kind < 0.35:
            tint = (rng.uniform(0.75, 0.9), rng.uniform(0.92, 1.0), 1.0)
        elif kind < 0.7:
            tint = (rng.uniform(0.85, 0.95), 1.0, rng.uniform(0.85, 0.97))
        else:
            tint = (rng.uniform(0.95, 1.0), rng.uniform(0.97, 1.0), 1.0)
    else:
        tint = (1.0, 1.0, 1.0)
    paper = np.array(tint) * level
    c = float(rng.uniform(*style.contrast))
    if style.tint and rng.random() < 0.2:  # red or blue print
        colour = (np.array([0.35, 0.3, 1.0]) if rng.random() < 0.5
                  else np.array([1.0, 0.45, 0.3]))
        ink = paper * (1 - c * (1 - colour * 0.7))
    else:
        ink = paper * (1 - c)
    edge = paper * (1 - float(rng.uniform(0.3, 0.9)))
    return paper, ink, edge


def _warp(img: np.ndarray, rng: np.random.Generator, style: CellStyle, paper: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """Rotate and tilt the cell a little; (image, the 3x3 matrix used or None)."""
    n = img.shape[0]
    if style.rotation <= 0 and style.perspective <= 0:
        return img, None
    centre = (n / 2, n / 2)
    m = np.vstack([cv2.getRotationMatrix2D(centre, float(rng.uniform(-1, 1) * style.rotation),
                                           1.0), [0, 0, 1]])
    j = style.perspective * n
    src = np.float32([[0, 0], [n, 0], [n, n], [0, n]])
    dst = src + rng.uniform(-j, j, size=(4, 2)).astype(np.float32)
    p = cv2.getPerspectiveTransform(src, dst) @ m
    out = cv2.warpPerspective(img, p, (n, n), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT,
                              borderValue=[float(v) for v in paper])
    return out, p


def _light(img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    n = img.shape[0]
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / max(n - 1, 1)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    return img * (1.0 - float(rng.uniform(0, strength)) * ramp)[..., None]


# ---------------------------------------------------------------------------------------------
# sampling


def pick_face(faces: tuple[Face, ...], rng: np.random.Generator) -> Face:
    """A random face: a design group first (segment displays at half weight, so the 36
    DSEG files do not outnumber print), then a file of that group."""
    groups = sorted({f.group for f in faces})
    weights = np.array([0.5 if g in SEGMENT_GROUPS else 1.0 for g in groups])
    group = groups[int(rng.choice(len(groups), p=weights / weights.sum()))]
    members = [f for f in faces if f.group == group]
    return members[int(rng.integers(len(members)))]


def sample_glyph(faces: tuple[Face, ...], label: int, rng: np.random.Generator,
                 dot_matrix: float = 0.04) -> tuple[np.ndarray, str]:
    """A random face's digit (sometimes dot-matrix, sometimes heavier), drawn large (the
    renderer shrinks it); returns (alpha, face name)."""
    face = pick_face(faces, rng)
    if rng.random() < dot_matrix and face.group not in SEGMENT_GROUPS:
        return dot_matrix_glyph(face, label, 70, rng), DOT_MATRIX
    a = glyph(face, label, float(rng.uniform(40, 70)))
    if rng.random() < 0.15:  # italic from an upright face: a small shear
        shear = float(rng.uniform(-0.25, 0.1))
        h, w = a.shape
        extra = int(abs(shear) * h) + 2
        m = np.float32([[1, shear, extra if shear < 0 else 0], [0, 1, 0]])
        a = tight(cv2.warpAffine(a, m, (w + extra, h), flags=cv2.INTER_LINEAR))
    return emboldened(a, rng), face.name


def stable_seed(*parts: object) -> int:
    """A seed from names and numbers that is the same in every run and on every machine."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())
