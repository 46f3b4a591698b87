"""Synthetic photos of digits in ruled cells, with every cell's truth: for tests and benchmarks.

Real pages put digits in boxes: puzzle grids, tables, score sheets, forms with a box per digit.
:func:`make_grid_scene` draws one such page as a phone would see it: tinted paper under uneven
light, ruled lines (thin and thick, dark and faint, some dashed), printed digits in several
fonts and handwritten MNIST digits in black, blue or red pen, some touching a line, printed text
around the grid, a little perspective, blur, noise and JPEG. It returns the frame and each
digit's label, box and cell (row, column), so a test can check every cell.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from mnist_edge.testing.synth import (
    TrueDigit,
    mnist_glyph,
    printed_fonts,
    printed_glyph,
)

LAYOUTS = ("grid", "table", "boxes")
PENS = {"black": (30, 30, 30), "blue": (150, 60, 25), "red": (40, 40, 190)}  # BGR
WORDS = ("Total", "Name", "Date", "score", "Sudoku", "row", "Difficulty", "Puzzle", "page")


@dataclass(frozen=True)
class GridScene:
    """A synthetic page (BGR uint8), its digits (with ``cell`` set) and the grid's shape."""

    frame: np.ndarray
    digits: list[TrueDigit]
    shape: tuple[int, int]  # rows, columns of cells
    layout: str


def make_grid_scene(rng: np.random.Generator, layout: str = "grid",
                    size: tuple[int, int] = (640, 480),
                    mnist: tuple[np.ndarray, np.ndarray] | None = None,
                    fill: float = 0.5, touching: float = 0.1, hard: bool = False,
                    words: bool = True) -> GridScene:
    """One page of ``layout`` ("grid", "table" or "boxes") at ``size`` (width, height).

    ``fill``: share of cells holding a digit; ``touching``: share of digits pushed onto a line;
    ``mnist``: (images, labels) for handwritten digits (printed only when None); ``hard``: more
    blur, fainter lines and ink, stronger perspective; ``words``: printed words above and below.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    w, h = size
    s = w / 640.0  # everything below is laid out for 640 px and scaled
    paper = _paper(rng, w, h)
    rows, cols, xs, ys = _layout(rng, layout, w, h, s)
    img = paper.copy()
    _draw_rules(rng, img, layout, xs, ys, s, hard)
    if words:
        _draw_text(rng, img, xs, ys, s)
    truth = _draw_digits(rng, img, xs, ys, mnist, fill, touching, hard)
    img, truth = _perspective(rng, img, truth, 0.06 if hard else 0.035)
    img = _degrade(rng, img, s, hard)
    return GridScene(img, truth, (rows, cols), layout)


def _paper(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    base = rng.uniform(175, 240)
    tint = np.array([rng.uniform(0.8, 1.0), rng.uniform(0.92, 1.0), 1.0], np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base * tint
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx / w + np.sin(angle) * yy / h
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    return img * (1.0 - rng.uniform(0.0, 0.35) * ramp)[..., None]


def _layout(rng, layout, w, h, s):
    """Cell edges: x positions (columns + 1) and y positions (rows + 1), in pixels."""
    if layout == "grid":
        n = int(rng.choice([4, 6, 9]))
        rows, cols = n, n
        cell = min((h - 60 * s) / rows, (w - 80 * s) / cols) * rng.uniform(0.75, 1.0)
        cw = ch = np.full(n, cell)
    elif layout == "table":
        rows, cols = int(rng.integers(3, 9)), int(rng.integers(2, 7))
        ch = np.full(rows, min((h - 60 * s) / rows, 60 * s) * rng.uniform(0.8, 1.0))
        cw = rng.uniform(1.0, 2.2, cols)
        cw = cw / cw.sum() * min(w - 80 * s, cols * ch[0] * 2.0)
    else:  # a form: one or two rows of boxes, one digit each
        rows, cols = int(rng.integers(1, 3)), int(rng.integers(4, 11))
        side = min((w - 80 * s) / cols, 70 * s) * rng.uniform(0.7, 1.0)
        cw, ch = np.full(cols, side), np.full(rows, side * rng.uniform(1.0, 1.3))
    x0 = rng.uniform(30 * s, max(31 * s, w - cw.sum() - 30 * s))
    y0 = rng.uniform(30 * s, max(31 * s, h - ch.sum() - 30 * s))
    xs = x0 + np.concatenate([[0], np.cumsum(cw)])
    ys = y0 + np.concatenate([[0], np.cumsum(ch)])
    return rows, cols, xs, ys


def _draw_rules(rng, img, layout, xs, ys, s, hard):
    dark = rng.uniform(20, 90) if not hard else rng.uniform(60, 140)
    thin = max(1, int(round(rng.uniform(1, 2.5) * s)))
    thick = thin + max(1, int(round(rng.uniform(1, 3) * s)))
    dashed = layout == "table" and rng.random() < 0.3
    colour = (dark, dark, dark)
    every = 3 if len(xs) == 10 else 0  # a 9x9 puzzle's 3x3 blocks
    for i, x in enumerate(xs):
        t = thick if i in (0, len(xs) - 1) or (every and i % every == 0) else thin
        _line(img, (x, ys[0]), (x, ys[-1]), colour, t, dashed and 0 < i < len(xs) - 1, s)
    for i, y in enumerate(ys):
        t = thick if i in (0, len(ys) - 1) or (every and i % every == 0) else thin
        _line(img, (xs[0], y), (xs[-1], y), colour, t, dashed and 0 < i < len(ys) - 1, s)


def _line(img, p, q, colour, thickness, dashed, s):
    p, q = np.float32(p), np.float32(q)
    if not dashed:
        cv2.line(img, tuple(int(v) for v in p), tuple(int(v) for v in q), colour, thickness,
                 cv2.LINE_AA)
        return
    length = float(np.hypot(*(q - p)))
    dash = 8 * s
    for t in np.arange(0, length, 2 * dash):
        a = p + (q - p) * (t / length)
        b = p + (q - p) * (min(length, t + dash) / length)
        cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), colour, thickness,
                 cv2.LINE_AA)


def _draw_text(rng, img, xs, ys, s):
    """A few printed words above and below the grid (letters must not become digits)."""
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    for y in (ys[0] - 12 * s, ys[-1] + 26 * s):
        if 12 * s < y < h - 4 and rng.random() < 0.8:
            words = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 4))))
            cv2.putText(alpha, words, (int(xs[0]), int(y)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.55 * s, 255, max(1, int(s)), cv2.LINE_AA)
    _ink(img, alpha.astype(np.float32) / 255.0, 0, 0, (40, 40, 40), 0.95)


def _draw_digits(rng, img, xs, ys, mnist, fill, touching, hard):
    truth = []
    fonts = printed_fonts()
    for r in range(len(ys) - 1):
        for c in range(len(xs) - 1):
            if rng.random() >= fill:
                continue
            cw, ch = xs[c + 1] - xs[c], ys[r + 1] - ys[r]
            height = int(max(8, min(cw, ch) * rng.uniform(0.5, 0.72)))
            handwritten = mnist is not None and rng.random() < 0.5
            label = int(rng.integers(10))
            if handwritten:
                pool = np.flatnonzero(mnist[1] == label)
                glyph = mnist_glyph(mnist[0][int(rng.choice(pool))], height)
                pen = PENS[str(rng.choice(list(PENS)))]
            else:
                glyph = printed_glyph(label, fonts[int(rng.integers(len(fonts)))],
                                      float(rng.uniform(0.0, 0.06)), height)
                pen = (30, 30, 30)
            gh, gw = glyph.shape
            x = xs[c] + (cw - gw) / 2 + rng.uniform(-0.12, 0.12) * cw
            y = ys[r] + (ch - gh) / 2 + rng.uniform(-0.1, 0.1) * ch
            if rng.random() < touching:  # pushed down onto the cell's bottom rule
                y = ys[r + 1] - gh + rng.uniform(0, 2)
            x, y = int(round(x)), int(round(y))
            _ink(img, glyph, x, y, pen, float(rng.uniform(0.6, 0.95) if hard else 0.95))
            truth.append(TrueDigit(label, (x, y, gw, gh), (r, c)))
    return truth


def _ink(img, glyph, x, y, pen, strength):
    h, w = img.shape[:2]
    gh, gw = glyph.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + gw), min(h, y + gh)
    if x1 <= x0 or y1 <= y0:
        return
    a = glyph[y0 - y:y1 - y, x0 - x:x1 - x, None] * strength
    roi = img[y0:y1, x0:x1]
    roi[:] = roi * (1 - a) + np.float32(pen) * a


def _perspective(rng, img, truth, amount):
    h, w = img.shape[:2]
    j = amount * min(w, h)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, src + rng.uniform(-j, j, (4, 2)).astype(np.float32))
    img = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    moved = []
    for d in truth:
        x, y, bw, bh = d.box
        pts = np.float32([[x, y], [x + bw, y], [x + bw, y + bh], [x, y + bh]])[None]
        q = cv2.perspectiveTransform(pts, m)[0]
        x0, y0 = q.min(axis=0)
        x1, y1 = q.max(axis=0)
        moved.append(TrueDigit(d.label, (int(x0), int(y0), int(x1 - x0), int(y1 - y0)), d.cell))
    return img, moved


def _degrade(rng, img, s, hard):
    blur = rng.uniform(0.3, 1.6 if hard else 0.9) * s
    if blur > 0.4:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    img = img + rng.normal(0, rng.uniform(1, 5), img.shape).astype(np.float32)
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    quality = int(rng.integers(60, 91))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def turned(scene: GridScene, degrees: float) -> GridScene:
    """``scene`` turned ``degrees`` about its centre (a page held at a slant), each digit's
    box moved with its centre; the paper's edge is carried on to the frame's."""
    h, w = scene.frame.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    frame = cv2.warpAffine(scene.frame, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    digits = []
    for t in scene.digits:
        x, y, bw, bh = t.box
        cx, cy = turn @ np.array([x + bw / 2, y + bh / 2, 1.0])
        digits.append(dataclasses.replace(t, box=(int(cx - bw / 2), int(cy - bh / 2), bw, bh)))
    return dataclasses.replace(scene, frame=frame, digits=digits,
                               layout=f"{scene.layout} turned {abs(degrees):g} deg")
