"""Turn a camera frame into MNIST-like digit crops: pure numpy + OpenCV, no TensorFlow.

An MNIST model only reads digits that look like MNIST: white ink on black, the ink's bounding box
scaled (aspect kept) so its longest side is 20 px, centred in 28x28 by centre of mass, strokes
about 2.5 px wide. A camera frame is nothing like that, so :func:`find_digits` does, per frame:

1. **normalise** any input (gray, BGR, BGRA; uint8, float, other ints; any size) to uint8 gray,
   shrunk to at most ``work_size`` px so a 1080p frame costs what a 640x480 one does;
2. **estimate the paper** by a morphological closing at low resolution (a max then a min filter
   wider than any stroke): it removes the ink but keeps lighting gradients, shadows and the dark
   table beyond a paper edge, so ink is found *relative to the paper around it*;
3. **binarise** with a relative threshold (ink darker than ``1 - low`` of the local paper);
4. **find blobs** from outer contours (much faster than connected-component statistics),
   cut ruled lines and paper-edge slivers out of them, glue the fragments of broken digits, and
   drop what cannot be a digit (too small, too flat, too full, too faint);
5. **crop like MNIST** (:func:`mnist_crop`): soft ink relative to the stroke's own darkness,
   stroke weight brought into MNIST's range, longest side 20 px, centre of mass at (14, 14).

The reader then classifies all crops of a frame in one interpreter call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

MNIST_SIZE = 28
MNIST_BOX = 20  # MNIST scaled each digit's ink box so its longest side is 20 px
MNIST_CENTRE = 14.0  # mean centre of mass of MNIST digits, in pixel-index coordinates
WORK_SCALE = 4  # stroke weight is measured and adjusted at 4x MNIST's scale (longest side 80 px)
STROKE_TARGET = 10.0  # MNIST's median stroke width at that scale (2.5 px at 20 px)
CROP_WORK_SIDE = 64  # a bigger digit is shrunk to about this (px) before its crop is made
STROKE_RANGE = (6.0, 18.0)  # MNIST: ~3rd to ~98th percentile; inside it a stroke is left alone


@dataclass(frozen=True)
class VisionParams:
    """Tunables of the detector; the defaults suit a phone or Pi camera looking at paper.

    Sizes are fractions of the (working) frame's shorter side, so they hold at any resolution.
    """

    work_size: int = 800  # frames are shrunk so their longest side is at most this (px)
    background: float = 0.25  # closing window for the paper estimate (> the widest stroke)
    low: float = 0.25  # a pixel is ink if it is this much darker than its paper (relative)
    high: float = 0.40  # ...and its blob must somewhere be this much darker (hysteresis)
    min_height: float = 0.035  # a digit is at least this tall (and at least 8 px)
    max_aspect: float = 1.6  # width / height above this is not one digit
    min_fill: float = 0.06  # ink share of the blob's box: below this it is a scribble or frame
    max_fill: float = 0.85  # ...above this a solid block (a thin "1" may be fuller)
    line_aspect: float = 12.0  # a blob this elongated is a ruled line or a paper edge


DEFAULT_PARAMS = VisionParams()


@dataclass(frozen=True)
class Blob:
    """One digit candidate: its box in working-image pixels and its ink mask inside that box."""

    box: tuple[int, int, int, int]  # x, y, w, h
    mask: np.ndarray  # uint8 0/255, shape (h, w)


# ---------------------------------------------------------------------------------------------
# 1. normalise


def to_gray(frame: np.ndarray) -> np.ndarray:
    """Any image array -> contiguous uint8 gray (H, W); raises ValueError if it is not an image.

    Accepts (H, W), (H, W, 1), (H, W, 3) BGR and (H, W, 4) BGRA; uint8, bool, other integer
    types (scaled from their range) and floats (read as 0..1 when the maximum is <= 1, else as
    0..255). NaN and infinities become 0.
    """
    a = np.asarray(frame)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        channels = a.shape[2]
    elif a.ndim == 2:
        channels = 1
    else:
        raise ValueError(f"not an image: array of shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"empty image of shape {a.shape}")
    a = _to_uint8(a)
    if channels == 1:
        return np.ascontiguousarray(a.reshape(a.shape[0], a.shape[1]))
    code = cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY
    return cv2.cvtColor(np.ascontiguousarray(a), code)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        if info.min < 0:  # signed: treat as 0..255 like a float would be
            return np.clip(a, 0, 255).astype(np.uint8)
        return (a.astype(np.float32) * (255.0 / info.max)).round().astype(np.uint8)
    f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if f.size and float(f.max()) <= 1.0:
        f = f * 255.0
    return np.clip(f + 0.5, 0, 255).astype(np.uint8)


# Light ink on a dark board is turned into dark ink on light paper by a reciprocal, not by
# 255 - x: light multiplies a scene, so chalk/board is the same in sunlight and in shadow, and
# k / x keeps that ratio (255 - x would make dimly lit chalk look faint).
_RECIPROCAL_K = 24.0
_RECIPROCAL = np.round(
    255.0 * _RECIPROCAL_K / (np.arange(256, dtype=np.float64) + _RECIPROCAL_K)
).astype(np.uint8)


def working_image(gray: np.ndarray, work_size: int) -> tuple[np.ndarray, float]:
    """Shrink ``gray`` so its longest side is at most ``work_size``; returns (image, scale)."""
    h, w = gray.shape
    scale = min(1.0, work_size / max(h, w))
    if scale >= 1.0:
        return gray, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), scale


# ---------------------------------------------------------------------------------------------
# 2. paper estimate and 3. binarisation


class Paper:
    """The paper's brightness everywhere, ink removed, kept at low resolution.

    A closing (max filter, then min filter) wider than any stroke replaces ink by the paper
    around it, while regions wider than the window (a shadow, the table beyond the paper's
    edge) keep their own level, so their borders do not turn into fake ink. It runs at 1/f
    resolution (80x60 for a 640x480 frame), where it costs a few microseconds; full-resolution
    values are interpolated only where needed: the ink threshold and the digits' boxes.
    """

    def __init__(self, gray: np.ndarray, fraction: float = DEFAULT_PARAMS.background) -> None:
        h, w = gray.shape
        self.shape = (h, w)
        f = max(1, min(h, w) // 60)
        small = gray if f == 1 else cv2.resize(
            gray, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA
        )
        k = max(3, int(round(fraction * min(h, w) / f)) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
        # smooth the blocks, then let dark regions (the table) win by one low-res pixel: the
        # interpolated edge then falls on the paper, where nothing is darker than the estimate,
        # instead of leaving a fake dark band on the table along the paper's edge
        self.small = cv2.erode(cv2.blur(bg, (3, 3)), np.ones((3, 3), np.uint8),
                               borderType=cv2.BORDER_REPLICATE)
        self._small_f = self.small.astype(np.float32)
        self._sx = self.small.shape[1] / w
        self._sy = self.small.shape[0] / h

    def full(self) -> np.ndarray:
        """The estimate at full resolution (uint8)."""
        return self._upsample(self.small)

    def ink_mask(self, gray: np.ndarray, low: float) -> np.ndarray:
        """uint8 0/255 mask of the pixels darker than ``1 - low`` times their paper.

        Paper that is itself nearly black (the dark table beyond the sheet) holds no ink.
        """
        thr = cv2.convertScaleAbs(self.small, alpha=1.0 - low)
        thr[self.small < 24] = 0
        return cv2.compare(gray, self._upsample(thr), cv2.CMP_LT)

    def roi(self, x: int, y: int, w: int, h: int, size: tuple[int, int] | None = None
            ) -> np.ndarray:
        """The estimate (float32) over the box x, y, w, h: what ``full()[y:y+h, x:x+w]`` holds,
        without upsampling the whole frame; sampled at ``size`` (width, height) if given."""
        ow, oh = size or (w, h)
        fx, fy = self._sx * w / ow, self._sy * h / oh
        m = np.float32([[fx, 0, x * self._sx + 0.5 * fx - 0.5],
                        [0, fy, y * self._sy + 0.5 * fy - 0.5]])
        return cv2.warpAffine(self._small_f, m, (ow, oh),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def _upsample(self, a: np.ndarray) -> np.ndarray:
        h, w = self.shape
        return a if a.shape == (h, w) else cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)


def contrast(gray: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Relative darkness (float32): 0 on paper, ~0.7 on black ink, negative where brighter."""
    bg = cv2.max(paper.astype(np.float32, copy=False), 1.0)
    return cv2.divide(cv2.subtract(bg, gray.astype(np.float32)), bg)


def _clip01(a: np.ndarray) -> np.ndarray:
    """Clip float32 to [0, 1] (OpenCV's thresholds: several times faster than np.clip here)."""
    a = cv2.threshold(a, 1.0, 1.0, cv2.THRESH_TRUNC)[1]
    return cv2.threshold(a, 0.0, 0.0, cv2.THRESH_TOZERO)[1]


def _above(a: np.ndarray, threshold: float) -> np.ndarray:
    """uint8 0/255 mask of ``a > threshold`` (numpy: OpenCV's compare with a scalar mistakes
    arrays of 1 to 4 pixels for a Scalar and fails)."""
    return np.multiply(a > threshold, 255, dtype=np.uint8)


@functools.lru_cache(maxsize=64)
def _disc(n: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (n, n))


# ---------------------------------------------------------------------------------------------
# 4. blobs


def find_blobs(mask: np.ndarray, params: VisionParams = DEFAULT_PARAMS) -> list[Blob]:
    """Digit-shaped candidates in a binarised frame: fragments glued, lines cut out, specks,
    the table around the sheet and shapeless blobs dropped (darkness is checked when cropping).
    """
    h, w = mask.shape
    min_h = max(8, int(params.min_height * min(h, w)))
    pieces = _pieces(mask, min_h, params)
    groups = _group(pieces, min_h) if len(pieces) > 1 else [(b, [c]) for b, c in pieces]
    blobs = (_make_blob(mask, box, members, min_h, params) for box, members in groups)
    return [b for b in blobs if b is not None]


Piece = tuple[tuple[int, int, int, int], np.ndarray]  # (box, contour)


def _pieces(mask: np.ndarray, min_h: int, params: VisionParams) -> list[Piece]:
    """Outer contours worth keeping: specks dropped, line-like ones cut or discarded."""
    contours, holes = _outer_contours(mask, with_holes=True)
    if not contours:
        return []
    rects = np.array([cv2.boundingRect(c) for c in contours]).reshape(-1, 4)
    size = rects[:, 2:].max(axis=1)
    # noise, and the dashes a faint ruled line breaks into
    keep = np.flatnonzero((size >= max(3, min_h // 2)) & (rects[:, 3] > 2))
    pieces: list[Piece] = []
    h, w = mask.shape
    for i in keep:
        box = tuple(int(v) for v in rects[i])
        x, y, bw, bh = box
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        if touches and _along_border(mask, box):
            # the table around the sheet: drop it, but if something reaches deep into the
            # frame from it (ruled lines running into the paper's edge, and the digits those
            # lines cross), look inside
            if _depth([contours[i], *holes.get(i, [])], w, h) < 0.2 * min(w, h):
                continue
            for part in _strip_surround(mask, box, contours[i], min_h):
                if _line_suspect(part[0][2], part[0][3], mask.shape, params):
                    pieces.extend(_cut_lines(mask, part[0], part[1], min_h, params))
        else:
            pieces.extend(_checked_piece(mask, (box, contours[i]), min_h, params))
    return pieces


def _checked_piece(mask: np.ndarray, piece: Piece, min_h: int, params: VisionParams
                   ) -> list[Piece]:
    box = piece[0]
    if _line_suspect(box[2], box[3], mask.shape, params):
        return _cut_lines(mask, box, piece[1], min_h, params)
    return [piece]


def _depth(contours: list[np.ndarray], w: int, h: int) -> int:
    """How far a blob's outline (outer boundary and holes) reaches into the frame (px)."""
    pts = np.concatenate([c.reshape(-1, 2) for c in contours])
    return int(np.minimum(np.minimum(pts[:, 0], w - 1 - pts[:, 0]),
                          np.minimum(pts[:, 1], h - 1 - pts[:, 1])).max())


def _strip_surround(mask: np.ndarray, box: tuple[int, int, int, int], contour: np.ndarray,
                    min_h: int) -> list[Piece]:
    """What is left of a border blob once its solid part on the frame's border is removed.

    The solid part (4x4 blocks nearly all ink, found at quarter resolution: cheap on a blob as
    big as the frame) that touches the border is the table; thin things attached to it are
    ruled lines, and digits on them. The table is removed grown by ~2 blocks, so the dark rim
    where the paper meets it goes too.
    """
    x, y, bw, bh = box
    h, w = mask.shape
    region = _fill(mask, box, [contour])
    f = 4
    sw, sh = max(1, bw // f), max(1, bh // f)
    solid = _above(cv2.resize(region, (sw, sh), interpolation=cv2.INTER_AREA), 200)
    surround = np.zeros_like(solid)
    for c in _outer_contours(solid):
        cx, cy, cw, ch = cv2.boundingRect(c)
        if cx == 0 and x == 0 or cy == 0 and y == 0 or cx + cw == sw and x + bw == w \
                or cy + ch == sh and y + bh == h:
            cv2.drawContours(surround, [c], -1, 255, thickness=-1)
    grow = max(3, (min_h // 2) // f * 2 + 1)
    surround = cv2.resize(cv2.dilate(surround, np.ones((grow, grow), np.uint8)), (bw, bh),
                          interpolation=cv2.INTER_NEAREST)
    rest = cv2.subtract(region, surround)
    speck = max(3, min_h // 2)
    parts = []
    for c in _outer_contours(rest, offset=(x, y)):
        r = cv2.boundingRect(c)
        if max(r[2], r[3]) >= speck and r[3] > 2:
            parts.append((r, c))
    return parts


def _fill(mask: np.ndarray, box: tuple[int, int, int, int], contours: list) -> np.ndarray:
    """The mask's pixels inside ``contours`` (their holes included), cut to ``box``."""
    x, y, bw, bh = box
    region = np.zeros((bh, bw), np.uint8)
    cv2.drawContours(region, contours, -1, 255, thickness=-1, offset=(-x, -y))
    region &= mask[y:y + bh, x:x + bw]
    return region


def _outer_contours(mask: np.ndarray, offset: tuple[int, int] = (0, 0),
                    with_holes: bool = False):
    """The outer boundary of every connected blob, also of blobs inside another's hole (the
    digits on a sheet whose dark surround forms a ring around the whole frame).

    ``with_holes=True`` also returns {index in the list: that blob's hole boundaries}.
    """
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE,
                                           offset=offset)
    if hierarchy is None:
        return ([], {}) if with_holes else []
    outer = np.flatnonzero(hierarchy[0][:, 3] < 0)
    found = [contours[i] for i in outer]
    if not with_holes:
        return found
    position = {int(j): n for n, j in enumerate(outer)}
    holes: dict[int, list[np.ndarray]] = {}
    for j in np.flatnonzero(hierarchy[0][:, 3] >= 0):
        holes.setdefault(position[int(hierarchy[0][j, 3])], []).append(contours[j])
    return found, holes


def _along_border(mask: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """A blob lying along the frame's border over a long stretch: the table or the dark
    surround beyond the paper's edge, too narrow for the paper estimate to keep as its own
    region. A digit cut by the border touches it only over a stroke's width."""
    h, w = mask.shape
    x, y, bw, bh = box
    sides = []
    if y == 0:
        sides.append((mask[0, x:x + bw], w))
    if y + bh == h:
        sides.append((mask[h - 1, x:x + bw], w))
    if x == 0:
        sides.append((mask[y:y + bh, 0], h))
    if x + bw == w:
        sides.append((mask[y:y + bh, w - 1], h))
    return any(cv2.countNonZero(edge) > 0.25 * side for edge, side in sides)


def _line_suspect(bw: int, bh: int, shape: tuple[int, int], params: VisionParams) -> bool:
    """Long and flat (or long and thin) for the frame: a ruled line, a paper edge, or a digit
    that one of them runs through."""
    h, w = shape
    wide = bw > 2.5 * bh and bw > 0.25 * w
    # (a "1" is tall and thin too: only a very long one, or one spanning the frame, is a line)
    tall = (bh > params.line_aspect * bw and bh > 0.3 * h) or (bh > 3 * bw and bh > 0.9 * h)
    return wide or tall


def _cut_lines(
    mask: np.ndarray, box: tuple[int, int, int, int], contour: np.ndarray, min_h: int,
    params: VisionParams,
) -> list[Piece]:
    """Remove straight lines (any small tilt) from one blob; return what is left, re-split.

    The blob is rotated so its main direction is horizontal, a long horizontal opening finds the
    line, the line is subtracted, and pixels of the line that have ink right above and below
    (a stroke crossing the line) are put back, so digits written on a ruled line survive.
    """
    x, y, bw, bh = box
    region = _fill(mask, box, [contour])
    vertical = bh > bw
    if vertical:
        region = np.ascontiguousarray(region.T)
    angle = _tilt(region)
    rows, cols = region.shape
    rot = cv2.getRotationMatrix2D((cols / 2, rows / 2), angle, 1.0)
    straight = cv2.warpAffine(region, rot, (cols, rows), flags=cv2.INTER_NEAREST)
    length = max(3 * rows // 2 if not vertical else cols // 2, cols // 4, 3 * min_h)
    length = min(length, cols)
    # thicken vertically first: a thin line left a fraction of a degree off level still makes
    # one unbroken run
    thick = cv2.dilate(straight, np.ones((5, 1), np.uint8))
    line = cv2.morphologyEx(thick, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    if not line.any():
        return [] if max(bw, bh) > params.line_aspect * min(bw, bh) else [(box, contour)]
    line = cv2.dilate(line, np.ones((3, 1), np.uint8))
    line = cv2.warpAffine(line, cv2.invertAffineTransform(rot), (cols, rows),
                          flags=cv2.INTER_NEAREST)
    kept = cv2.subtract(region, line)
    thickness = max(3, int(2 * line.sum() / 255 / max(cols, 1)) + 3)
    bridged = cv2.morphologyEx(kept, cv2.MORPH_CLOSE, np.ones((thickness, 1), np.uint8))
    kept |= bridged & line
    if vertical:
        kept = np.ascontiguousarray(kept.T)
    contours = _outer_contours(kept, offset=(x, y))
    out = []
    for c in contours:
        cx, cy, cw, ch = cv2.boundingRect(c)
        if max(cw, ch) >= max(2, min_h // 5) and max(cw, ch) < params.line_aspect * min(cw, ch):
            out.append(((cx, cy, cw, ch), c))
    return out


TILTS = np.radians(np.arange(-10.0, 10.01, 0.25))


def _tilt(region: np.ndarray) -> float:
    """Angle (degrees, within +-10) of the straight line in a mostly horizontal blob.

    A tiny Hough transform: shear the ink points by each candidate angle and keep the angle
    whose busiest row holds the most points. Unlike a least-squares fit, the digits the line
    runs through do not pull the answer.
    """
    ys, xs = np.nonzero(region)
    if len(xs) < 3:
        return 0.0
    if len(xs) > 4000:  # a sample is plenty to find a line
        step = len(xs) // 4000 + 1
        xs, ys = xs[::step], ys[::step]
    rows = np.round(ys[None, :] - np.tan(TILTS)[:, None] * xs[None, :]).astype(np.int64)
    rows -= rows.min()
    width = int(rows.max()) + 1
    offsets = np.arange(len(TILTS))[:, None] * width
    counts = np.bincount((rows + offsets).ravel(), minlength=len(TILTS) * width)
    best = int(counts.reshape(len(TILTS), width).max(axis=1).argmax())
    return float(np.degrees(TILTS[best]))


def _group(pieces: list[Piece], min_h: int) -> list[tuple[tuple[int, int, int, int], list]]:
    """Glue the pieces of one digit: a broken stroke, the detached bar of a 5, the halves of a
    digit a ruled line was cut out of.

    Two pieces of similar height glue only if they overlap in x and touch in y (a digit broken
    across). A clearly smaller piece joins the *one* taller piece nearest to it that it sits
    over, under or inside of, so a fragment between two rows never chains the rows together.
    Vectorised over all pairs: a noisy frame can hold a hundred pieces.
    """
    n = len(pieces)
    if n == 0:
        return []
    b = np.array([p[0] for p in pieces], dtype=np.float32)
    x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    overlap = np.minimum((x + w)[:, None], (x + w)[None, :]) - np.maximum(x[:, None], x[None, :])
    gap = np.maximum(y[:, None], y[None, :]) - np.minimum((y + h)[:, None], (y + h)[None, :])
    taller = h[None, :] * 0.6 > h[:, None]  # [i, j]: j is clearly taller than i
    similar = ~taller & ~taller.T
    tall = h >= min_h
    major = (similar & tall[:, None] & tall[None, :]
             & (overlap >= 0.6 * np.minimum(w[:, None], w[None, :]))
             & (gap <= 0.08 * np.maximum(h[:, None], h[None, :])))
    np.fill_diagonal(major, False)
    # (a piece much wider than the digit is a leftover of a line, not a part of the digit)
    minor = (taller & (overlap >= 0.4 * w[:, None]) & (gap <= 0.25 * h[None, :])
             & (w[:, None] <= 1.2 * w[None, :]))
    distance = np.maximum(0, -overlap) + np.maximum(0, gap)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(major)), strict=True):
        parent[find(int(i))] = find(int(j))
    for i in np.flatnonzero(minor.any(axis=1)):
        j = int(np.argmin(np.where(minor[i], distance[i], np.inf)))
        parent[find(int(i))] = find(j)
    clusters: dict[int, list[int]] = {}
    for i in range(n):
        clusters.setdefault(find(i), []).append(i)
    groups = []
    for members in clusters.values():
        x0, y0 = int(x[members].min()), int(y[members].min())
        x1, y1 = int((x + w)[members].max()), int((y + h)[members].max())
        groups.append(((x0, y0, x1 - x0, y1 - y0), [pieces[i][1] for i in members]))
    return groups


def _walled(gray: np.ndarray, box: tuple[int, int, int, int], dark: float) -> bool:
    """A whole side of a thin blob's surroundings darker than ``dark``: not a "1" on paper but
    a sliver of the rim where the paper meets the table (a digit has paper on every side; over
    a "1"'s width a shadow's soft edge, or a thin ruled line, hardly darkens a whole strip).
    Only thin blobs are checked: a wide digit may straddle a shadow's edge."""
    x, y, bw, bh = box
    h, w = gray.shape
    strips = (gray[y:y + bh, max(0, x - 5):max(0, x - 1)],
              gray[y:y + bh, min(w, x + bw + 1):min(w, x + bw + 5)],
              gray[max(0, y - 5):max(0, y - 1), x:x + bw],
              gray[min(h, y + bh + 1):min(h, y + bh + 5), x:x + bw])
    return any(s.size and cv2.mean(s)[0] < dark for s in strips)


def _make_blob(mask: np.ndarray, box: tuple[int, int, int, int], contours: list, min_h: int,
               params: VisionParams) -> Blob | None:
    """The blob's own ink (other blobs inside its box excluded), if it is digit-shaped.

    A small blob cut by the frame's edge is dropped (a digit half out of view reads wrong, and
    table texture lies there); a big one is kept: a tightly cropped digit may touch the edge.
    """
    x, y, bw, bh = box
    h, w = mask.shape
    if bh < min_h or bw > params.max_aspect * bh or bh > 0.98 * h and bw > 0.98 * w:
        return None
    cut = x == 0 or y == 0 or x + bw == w or y + bh == h
    if cut and bh < 0.5 * h and bw < 0.5 * w:
        return None
    own = _fill(mask, box, contours)
    ink = cv2.countNonZero(own)
    fill = ink / float(bw * bh)
    max_fill = 1.0 if bw < 0.3 * bh else params.max_fill
    if fill < params.min_fill or fill > max_fill:
        return None
    return Blob(box, own)


# ---------------------------------------------------------------------------------------------
# 5. MNIST crop


def mnist_crop(ink: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """An MNIST-style 28x28 uint8 crop (white ink on black) of one digit.

    ``ink``: the digit's darkness map (float in [0, 1] or uint8 0..255, ink bright), any size;
    ``mask``: optional 0/nonzero mask of the digit's own pixels (others in the box are ignored).
    Steps as MNIST was made: tight ink box, stroke weight into MNIST's range, longest side to
    20 px with area averaging (anti-aliased, aspect kept), centre of mass placed at (14, 14).
    """
    a = ink.astype(np.float32) / 255.0 if ink.dtype == np.uint8 else \
        ink.astype(np.float32, copy=False)
    if mask is not None:
        near = cv2.dilate((mask > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
        a = a * near
    box = _ink_box(a, 0.05)
    if box is None:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    x, y, bw, bh = box
    a = a[y:y + bh, x:x + bw]
    if max(bw, bh) < MNIST_BOX * 2:  # a tiny digit: enlarge so stroke changes have resolution
        a = _fit(a, MNIST_BOX * 2)
    a, changed = _normalise_stroke(a, MNIST_BOX * WORK_SCALE / max(a.shape))
    if changed:
        box = _ink_box(a, 0.05)
        x, y, bw, bh = box
        a = a[y:y + bh, x:x + bw]
    return _place_by_mass(_fit(a, MNIST_BOX))


def _ink_box(a: np.ndarray, floor: float) -> tuple[int, int, int, int] | None:
    x, y, w, h = cv2.boundingRect(_above(a, floor))
    return None if w == 0 or h == 0 else (x, y, w, h)


def _fit(a: np.ndarray, side: int) -> np.ndarray:
    """Scale so the longest side is ``side`` px, aspect kept (shorter side at least 1 px)."""
    h, w = a.shape
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return _clip01(cv2.resize(a, size, interpolation=interp))


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def stroke_width(a: np.ndarray) -> float:
    """Mean stroke width (px) of the ink ``a > 0.5``: twice the area over the boundary length."""
    b = _above(a, 0.5)
    area = cv2.countNonZero(b)
    if area == 0:
        return 0.0
    inner = cv2.countNonZero(cv2.erode(b, _CROSS, borderType=cv2.BORDER_CONSTANT,
                                       borderValue=0))
    return 2.0 * area / max(area - inner, 1)


def _normalise_stroke(a: np.ndarray, scale: float) -> tuple[np.ndarray, bool]:
    """Thicken hairlines and thin marker strokes toward MNIST's weight; (image, changed?).

    ``scale`` maps ``a``'s pixels to the 4x-MNIST scale where the stroke targets are defined.
    A phone shot of a pen digit has strokes a few percent of its height; MNIST's are about 12%.
    Left alone, the 20 px crop of a pen digit is a faint hairline the model has never seen.
    """
    sw = stroke_width(a) * scale
    lo, hi = STROKE_RANGE
    if sw <= 0 or lo <= sw <= hi:
        return a, False
    n = int(round(abs(STROKE_TARGET - sw) / scale)) + 1
    if n < 2:
        return a, False
    kernel = _disc(n)
    a = cv2.copyMakeBorder(a, n, n, n, n, cv2.BORDER_CONSTANT, value=0)
    if sw < lo:
        return cv2.dilate(a, kernel), True
    thinner = cv2.erode(a, kernel)
    return (thinner, True) if (thinner > 0.5).any() else (a, True)


def _place_by_mass(patch: np.ndarray) -> np.ndarray:
    """Put ``patch`` (at most 20x20) in a 28x28 field with its centre of mass at (14, 14)."""
    h, w = patch.shape
    m = cv2.moments(patch)
    cx = m["m10"] / m["m00"] if m["m00"] > 0 else (w - 1) / 2
    cy = m["m01"] / m["m00"] if m["m00"] > 0 else (h - 1) / 2
    ox = min(max(round(MNIST_CENTRE - cx), 0), MNIST_SIZE - w)
    oy = min(max(round(MNIST_CENTRE - cy), 0), MNIST_SIZE - h)
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    out[oy:oy + h, ox:ox + w] = patch
    return (out * 255.0 + 0.5).astype(np.uint8)


def blob_crop(gray: np.ndarray, paper: Paper, blob: Blob, params: VisionParams = DEFAULT_PARAMS
              ) -> np.ndarray | None:
    """The MNIST crop of one blob, or None if its ink is too faint to be writing.

    Hysteresis: the blob's pixels passed the ``low`` threshold; somewhere its ink must also
    reach ``high`` relative darkness (and 24 grey levels, so sensor noise on a dark table is
    not ink). The crop is the darkness relative to the paper, divided by the stroke's own
    typical darkness, so a faint pencil digit and a black marker digit look alike, with
    saturated cores like MNIST's (255 mid-stroke).
    """
    x, y, bw, bh = blob.box
    pad = 2
    h, w = gray.shape
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(w, x + bw + pad), min(h, y + bh + pad)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mask[y - y0:y - y0 + bh, x - x0:x - x0 + bw] = blob.mask
    roi = gray[y0:y1, x0:x1]
    shrink = CROP_WORK_SIDE / max(bw, bh)
    if shrink < 0.8:  # a big digit: work on a smaller copy, the crop ends at 20 px anyway
        size = (max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink)))
        roi = cv2.resize(roi, size, interpolation=cv2.INTER_AREA)
        mask = _above(cv2.resize(mask, size, interpolation=cv2.INTER_AREA), 63)
        bg = paper.roi(x0, y0, x1 - x0, y1 - y0, size)
    else:
        bg = paper.roi(x0, y0, x1 - x0, y1 - y0)
    c = contrast(roi, bg)
    peak = cv2.minMaxLoc(c, mask)[1]
    paper_level = cv2.minMaxLoc(bg, mask)[1]
    if peak < params.high or peak * paper_level < 24.0:
        return None
    if bw < 0.4 * bh and _walled(gray, blob.box, cv2.mean(bg)[0] * (1.0 - params.low)):
        return None
    level = min(1.0, 1.15 * cv2.mean(c, mask)[0])  # about the 75th percentile of the ink
    floor = params.low * 0.5
    ink = _clip01((c - floor) * (1.0 / max(level - floor, 1e-3)))
    return mnist_crop(ink, mask)


# ---------------------------------------------------------------------------------------------
# the whole path


@dataclass(frozen=True)
class Candidates:
    """What :func:`find_digits` returns: crops for the model and boxes in frame pixels."""

    crops: np.ndarray  # (N, 28, 28) uint8
    boxes: list[tuple[int, int, int, int]]  # x, y, w, h in the input frame's pixels


def find_digits(frame: np.ndarray, invert: bool = False,
                params: VisionParams = DEFAULT_PARAMS) -> Candidates:
    """Every digit-like blob in ``frame`` as an MNIST crop plus its box in frame pixels.

    ``invert=False`` reads dark ink on light paper; ``True`` light ink on a dark surface.
    Never raises for an image-shaped array (see :func:`to_gray`); a blank frame gives nothing.
    """
    gray = to_gray(frame)
    full_h, full_w = gray.shape
    work, scale = working_image(gray, params.work_size)
    if invert:
        work = cv2.LUT(work, _RECIPROCAL)
    if min(work.shape) < 8:
        return Candidates(np.zeros((0, MNIST_SIZE, MNIST_SIZE), np.uint8), [])
    paper = Paper(work, params.background)
    mask = paper.ink_mask(work, params.low)
    crops, boxes = [], []
    for blob in find_blobs(mask, params):
        crop = blob_crop(work, paper, blob, params)
        if crop is not None:
            crops.append(crop)
            boxes.append(_to_frame(blob.box, scale, full_w, full_h))
    arr = np.stack(crops) if crops else np.zeros((0, MNIST_SIZE, MNIST_SIZE), np.uint8)
    return Candidates(arr, boxes)


def _to_frame(box: tuple[int, int, int, int], scale: float, w: int, h: int
              ) -> tuple[int, int, int, int]:
    """A working-image box in the original frame's pixels, clipped to the frame."""
    x, y, bw, bh = (v / scale for v in box)
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def reading_order(boxes: list[tuple[int, int, int, int]]) -> list[int]:
    """Indices of ``boxes`` in reading order: rows top to bottom, left to right in each row.

    A box joins a row when its vertical centre lies within the row's vertical extent.
    """
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][1] + boxes[i][3] / 2)
    rows: list[list[int]] = []
    spans: list[list[float]] = []
    for i in order:
        x, y, w, h = boxes[i]
        centre = y + h / 2
        for row, span in zip(rows, spans, strict=True):
            if span[0] <= centre <= span[1]:
                row.append(i)
                span[0], span[1] = min(span[0], y), max(span[1], y + h)
                break
        else:
            rows.append([i])
            spans.append([float(y), float(y + h)])
    return [i for row in rows for i in sorted(row, key=lambda i: boxes[i][0])]
