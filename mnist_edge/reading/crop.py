"""Step 7, crop like MNIST: each blob's ink as a 28x28 crop the model knows how to read.

An MNIST model only reads digits that look like MNIST: white ink on black, the ink's bounding
box scaled (aspect kept) so its longest side is 20 px, centred in 28x28 by centre of mass,
strokes about 2.5 px wide. :func:`blob_crop` takes the ink relative to the stroke's own
darkness (and drops ink too faint to be writing); :func:`mnist_crop` brings the stroke weight
into MNIST's range, scales the longest side to 20 px and puts the centre of mass at (14, 14).

Soft digits keep their shape (a blurred print or a pale pen): the soft ink around a blob that
the threshold cut off joins it (:func:`grown`: the left half of a soft 6 alone reads as a 1);
the darkness is sharpened at the digit's scale and stretched between a floor set by the stroke's
own level and that level, inside the blob's *dilated* mask, so a grey hole stays a hole instead
of turning a 9 into an 8; and stroke weight is changed only where it can be measured (enough
of the ink in saturated cores), never closing a hole. The training data of the default model
goes through these same functions (``mnist_edge/training/``), so the model learns what it sees.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from mnist_edge.reading.binarise import above
from mnist_edge.reading.blobs import Blob
from mnist_edge.reading.paper import Paper, contrast
from mnist_edge.reading.params import DEFAULT_PARAMS, VisionParams

MNIST_SIZE = 28
MNIST_BOX = 20  # MNIST scaled each digit's ink box so its longest side is 20 px
MNIST_CENTRE = 14.0  # mean centre of mass of MNIST digits, in pixel-index coordinates
WORK_SCALE = 4  # stroke weight is measured and adjusted at 4x MNIST's scale (longest side 80 px)
STROKE_TARGET = 10.0  # MNIST's median stroke width at that scale (2.5 px at 20 px)
CROP_WORK_SIDE = 64  # a bigger digit is shrunk to about this (px) before its crop is made
STROKE_RANGE = (6.0, 18.0)  # MNIST: ~3rd to ~98th percentile; inside it a stroke is left alone

INK_FLOOR = 0.05  # darkness below this is not part of the ink's box
CROP_PAD = 2  # px of paper kept around a blob's box
SHRINK_BELOW = 0.8  # a digit is shrunk to CROP_WORK_SIDE first only if that shrinks it this much
THIN_BLOB = 0.4  # width / height below this: check for the rim where the paper meets the table
WALL_STRIP = 5  # px: the strips beside a thin blob checked by _walled
STANDS = 0.12  # ...not below it if at least this wide for its height (a "1" on a line)
SOFT_HIGH = 0.30  # a blob's darkest point must reach this relative darkness to be cropped
MIN_SOFT_LEVELS = 20.0  # ...and this many grey levels below its paper
CROP_MARGIN = 0.15  # share of the blob's size kept around it (room to sharpen and dilate)
SHARPEN = 1.0  # unsharp-mask amount...
SHARPEN_SIGMA = 0.06  # ...at this share of the digit's size (at least 0.8 px)
INK_PERCENTILE = 90  # the stroke's level: this percentile of the sharpened darkness
FLOOR_SHARE = 0.35  # darkness below this share of the stroke's level is paper
MASK_GROW = 0.06  # the crop keeps ink within this share of the blob's size of its mask
MEASURABLE_CORE = 0.35  # share of the ink mass in saturated cores needed to measure a stroke
GROW_SHARE = 0.45  # soft ink darker than this share of the blob's own level joins the blob
GROW_MAX_ASPECT = 1.2  # a grown blob wider than this times its height is not one digit...
GROW_MAX_HEIGHT = 2.0  # ...nor one more than this times taller than the blob was
THIN_GATE = 0.4  # a blob thinner than this times its height needs ``params.high`` (not SOFT_HIGH)
FAINT_SNR = 6.5  # a faint blob's level must be this many times the paper's noise around it


def crop_blobs(work: np.ndarray, paper: Paper, blobs: list[Blob],
               params: VisionParams = DEFAULT_PARAMS) -> list[tuple[Blob, np.ndarray]]:
    """Each blob dark enough to be writing, with its MNIST crop, in the order given."""
    out = []
    for blob in blobs:
        crop = blob_crop(work, paper, blob, params)
        if crop is not None:
            out.append((blob, crop))
    return out


def grown(gray: np.ndarray, paper: Paper, blob: Blob, params: VisionParams = DEFAULT_PARAMS
          ) -> Blob:
    """The blob with the soft ink attached to it: the rest of a blurred digit that the
    threshold cut into pieces.

    Ink joins if it is darker than ``GROW_SHARE`` of the blob's own level (90th percentile of
    its darkness) and connected to the blob. If the grown shape stops looking like one digit
    (it reaches the edge of the search window, i.e. runs into a box's rule, or it is too wide
    or too tall), the blob is returned unchanged.
    """
    x, y, bw, bh = blob.box
    h, w = gray.shape
    m = max(bw, bh) // 2 + 2
    x0, y0 = max(0, x - m), max(0, y - m)
    x1, y1 = min(w, x + bw + m), min(h, y + bh + m)
    if not cv2.countNonZero(blob.mask):
        return blob
    c = contrast(gray[y0:y1, x0:x1], paper.roi(x0, y0, x1 - x0, y1 - y0))
    own = (slice(y - y0, y - y0 + bh), slice(x - x0, x - x0 + bw))  # the blob's box in c
    inside = blob.mask > 0
    level = ink_level(c[own][inside])
    soft = above(c, max(params.low * 0.5, GROW_SHARE * level))
    soft[own] |= blob.mask
    region = _components_holding(soft, own, inside)
    gx, gy, gw, gh = cv2.boundingRect(region)
    rh, rw = c.shape
    touches = (gx == 0 and x0 > 0) or (gy == 0 and y0 > 0) or \
        (gx + gw == rw and x1 < w) or (gy + gh == rh and y1 < h)
    if touches or gw > GROW_MAX_ASPECT * gh or gh > GROW_MAX_HEIGHT * bh + 2 \
            or (gw, gh) == (bw, bh):
        return blob
    return Blob((x0 + gx, y0 + gy, gw, gh), np.ascontiguousarray(region[gy:gy + gh, gx:gx + gw]))


def _components_holding(mask: np.ndarray, box: tuple[slice, slice], inside: np.ndarray
                        ) -> np.ndarray:
    """uint8 0/255: the connected components of ``mask`` that hold a pixel of ``inside`` (a
    boolean mask of the window ``box`` of ``mask``). Most blobs are one component: it is
    picked by one comparison instead of a lookup per pixel."""
    n, labels = cv2.connectedComponents(mask)
    ink = np.bincount(labels[box][inside], minlength=n)  # the blob's pixels in each component
    ink[0] = 0
    held = np.flatnonzero(ink)
    if len(held) == 1:
        return cv2.compare(labels, int(held[0]), cv2.CMP_EQ)
    keep = np.zeros(n, np.uint8)  # 255 for the components that hold the blob's own ink
    keep[held] = 255
    return keep[labels]


def blob_crop(gray: np.ndarray, paper: Paper, blob: Blob, params: VisionParams = DEFAULT_PARAMS,
              grow: bool = True) -> np.ndarray | None:
    """The MNIST crop of one blob (grown by its soft ink unless ``grow`` is False: a part cut
    from touching digits would grow back into the whole), or None if too faint to be writing.

    Hysteresis: the blob's pixels passed the ``low`` threshold; somewhere its ink must also
    reach ``SOFT_HIGH`` relative darkness (and ``MIN_SOFT_LEVELS`` grey levels, so sensor noise
    on a dark table is not ink). A blob thinner than ``THIN_GATE`` of its height must still
    reach ``params.high``: faint thin blobs are pieces of a box's edge far more often than a
    soft "1" (the lower gate alone quadrupled such extra reports on grid photos).
    """
    return crop_of(gray, paper, grown(gray, paper, blob, params) if grow else blob, params,
                   whole=grow)


def crop_of(gray: np.ndarray, paper: Paper, blob: Blob, params: VisionParams = DEFAULT_PARAMS,
            whole: bool = True) -> np.ndarray | None:
    """:func:`blob_crop` of a blob taken as it is: grown already (:func:`grown`), or a part
    of a cut (``whole=False``: the crop keeps less of the ink around its mask)."""
    x, y, bw, bh = blob.box
    h, w = gray.shape
    pad = max(CROP_PAD, int(CROP_MARGIN * max(bw, bh)))
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(w, x + bw + pad), min(h, y + bh + pad)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mask[y - y0:y - y0 + bh, x - x0:x - x0 + bw] = blob.mask
    roi = gray[y0:y1, x0:x1]
    shrink = CROP_WORK_SIDE / max(bw, bh)
    side = float(max(bw, bh))
    if shrink < SHRINK_BELOW:  # a big digit: work on a smaller copy, the crop ends at 20 px
        size = (max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink)))
        roi = cv2.resize(roi, size, interpolation=cv2.INTER_AREA)
        mask = above(cv2.resize(mask, size, interpolation=cv2.INTER_AREA), 63)
        bg = paper.roi(x0, y0, x1 - x0, y1 - y0, size)
        side *= shrink
    else:
        bg = paper.roi(x0, y0, x1 - x0, y1 - y0)
    if not cv2.countNonZero(mask):
        return None
    c = contrast(roi, bg)
    peak = cv2.minMaxLoc(c, mask)[1]
    paper_level = cv2.minMaxLoc(bg, mask)[1]
    if peak < min(params.high, SOFT_HIGH) or peak * paper_level < MIN_SOFT_LEVELS:
        return None
    if peak < params.high and bw < THIN_GATE * bh:
        return None  # faint and thin: a piece of a box's edge far more often than a soft "1"
    if peak < params.high and not _stands_out(c, mask, side):
        return None  # faint and no darker than the grain around it: texture, not ink
    if bw < THIN_BLOB * bh and _walled(gray, blob.box, cv2.mean(bg)[0] * (1.0 - params.low)):
        return None
    return mnist_crop(soft_ink(c, mask, side), mask, grow_mask=whole)


def _stands_out(c: np.ndarray, mask: np.ndarray, side: float) -> bool:
    """Whether the blob's ink level (90th percentile of ``c`` in ``mask``) is at least
    ``FAINT_SNR`` times the spread of ``c`` on the paper around it (outside the dilated mask):
    faint ink on clean paper stands out; a blob of sensor noise and JPEG grain on a dark table
    is as dark as its surroundings."""
    if FAINT_SNR <= 0:
        return True
    k = max(3, int(CROP_MARGIN * side) | 1)
    around = c[cv2.dilate(mask, np.ones((k, k), np.uint8)) == 0]
    if around.size < 16:
        return True  # no paper around to compare with
    level = ink_level(c[mask > 0])
    return level >= FAINT_SNR * float(np.std(around))


def soft_ink(c: np.ndarray, mask: np.ndarray, side: float) -> np.ndarray:
    """Relative darkness ``c`` -> ink in [0, 1] keeping grey levels and holes.

    An unsharp mask at the digit's scale (``side``: its box's longest side in ``c``'s pixels)
    deepens a blurred hole between two ridges; the result is stretched between
    ``FLOOR_SHARE`` of the stroke's level and the level itself.
    """
    sigma = max(0.8, SHARPEN_SIGMA * side)
    sharp = c - cv2.GaussianBlur(c, (0, 0), sigma)  # c + SHARPEN * (c - blurred), in place
    sharp *= SHARPEN
    sharp += c
    values = sharp[mask > 0]
    level = max(ink_level(values) if values.size else float(sharp.max()), 1e-3)
    floor = FLOOR_SHARE * level
    sharp -= floor
    sharp *= 1.0 / max(level - floor, 1e-3)
    return clip01(sharp)


def ink_level(values: np.ndarray) -> float:
    """The ink's level: ``np.percentile(values, INK_PERCENTILE)`` (linear, float32 values) to
    the bit, without its overhead (~120 us a call, two or three calls a digit): the two order
    statistics by one partition, then numpy's own interpolation."""
    n = values.size
    virtual = (n - 1) * (INK_PERCENTILE / 100)
    lo = int(virtual)
    if lo >= n - 1:
        return float(values.max())
    part = np.partition(values, (lo, lo + 1))
    a, b = part[lo], part[lo + 1]
    t = virtual - lo
    d = b - a  # as numpy's _lerp: from the nearer end
    return float(b - d * (1 - t) if t >= 0.5 else a + d * t)


def _walled(gray: np.ndarray, box: tuple[int, int, int, int], dark: float) -> bool:
    """A whole side of a thin blob's surroundings darker than ``dark``: not a "1" on paper but
    a sliver of the rim where the paper meets the table, or a stub of a rule where it meets
    another (a digit has paper on either side; over a "1"'s height a shadow's soft edge, or a
    thin ruled line, hardly darkens a whole strip). Only thin blobs are checked: a wide digit
    may straddle a shadow's edge. A "1" may stand on a ruled line: below a blob as wide as a
    pen's "1" (``STANDS``) is not checked; below a rule's stub, thinner, is."""
    x, y, bw, bh = box
    h, w = gray.shape
    s = WALL_STRIP
    strips = [gray[y:y + bh, max(0, x - s):max(0, x - 1)],
              gray[y:y + bh, min(w, x + bw + 1):min(w, x + bw + s)],
              gray[max(0, y - s):max(0, y - 1), x:x + bw]]
    if bw < STANDS * bh:
        strips.append(gray[min(h, y + bh + 1):min(h, y + bh + s), x:x + bw])
    return any(strip.size and cv2.mean(strip)[0] < dark for strip in strips)


def mnist_crop(ink: np.ndarray, mask: np.ndarray | None = None, grow_mask: bool = True
               ) -> np.ndarray:
    """An MNIST-style 28x28 uint8 crop (white ink on black) of one digit.

    ``ink``: the digit's darkness map (float in [0, 1] or uint8 0..255, ink bright), any size;
    ``mask``: optional 0/nonzero mask of the digit's own pixels (others in the box are ignored).
    Steps as MNIST was made: tight ink box, stroke weight into MNIST's range, longest side to
    20 px with area averaging (anti-aliased, aspect kept), centre of mass placed at (14, 14).
    """
    a = ink.astype(np.float32) / 255.0 if ink.dtype == np.uint8 else \
        ink.astype(np.float32, copy=False)
    if mask is not None:  # the digit's neighbourhood: grey edges and grey holes are kept
        k = max(3, int(MASK_GROW * max(mask.shape)) | 1) if grow_mask else 3
        near = cv2.dilate((mask > 0).astype(np.uint8), np.ones((k, k), np.uint8))
        a = a * near
    box = _ink_box(a, INK_FLOOR)
    if box is None:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    x, y, bw, bh = box
    a = a[y:y + bh, x:x + bw]
    if max(bw, bh) < MNIST_BOX * 2:  # a tiny digit: enlarge so stroke changes have resolution
        a = _fit(a, MNIST_BOX * 2)
    a, changed = _normalise_stroke(a, MNIST_BOX * WORK_SCALE / max(a.shape))
    if changed:
        box = _ink_box(a, INK_FLOOR)
        x, y, bw, bh = box
        a = a[y:y + bh, x:x + bw]
    return _place_by_mass(_fit(a, MNIST_BOX))


def clip01(a: np.ndarray) -> np.ndarray:
    """Clip float32 to [0, 1] (OpenCV's thresholds: several times faster than np.clip here)."""
    a = cv2.threshold(a, 1.0, 1.0, cv2.THRESH_TRUNC)[1]
    return cv2.threshold(a, 0.0, 0.0, cv2.THRESH_TOZERO, dst=a)[1]


@functools.lru_cache(maxsize=64)
def _disc(n: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (n, n))


def _ink_box(a: np.ndarray, floor: float) -> tuple[int, int, int, int] | None:
    x, y, w, h = cv2.boundingRect(above(a, floor))
    return None if w == 0 or h == 0 else (x, y, w, h)


def tight(a: np.ndarray, floor: float = 0.1) -> np.ndarray:
    """``a`` (ink bright, float in [0, 1]) cut to the box of its values above ``floor``; the
    glyph renderers (fonts for training, synthetic scenes for tests) share it."""
    box = _ink_box(np.asarray(a, np.float32), floor)
    if box is None:
        return a
    x, y, w, h = box
    return a[y:y + h, x:x + w]


def _fit(a: np.ndarray, side: int) -> np.ndarray:
    """Scale so the longest side is ``side`` px, aspect kept (shorter side at least 1 px)."""
    h, w = a.shape
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return clip01(cv2.resize(a, size, interpolation=interp))


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def stroke_width(a: np.ndarray) -> float:
    """Mean stroke width (px) of the ink ``a > 0.5``: twice the area over the boundary length."""
    b = above(a, 0.5)
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
    Only where the width can be measured (:func:`measurable`: a soft digit's "width" is its
    blur), and a thickening that would close one of the digit's holes is not applied.
    """
    if not measurable(a):
        return a, False
    sw = stroke_width(a) * scale
    lo, hi = STROKE_RANGE
    if sw <= 0 or lo <= sw <= hi:
        return a, False
    n = int(round(abs(STROKE_TARGET - sw) / scale)) + 1
    if n < 2:
        return a, False
    kernel = _disc(n)
    padded = cv2.copyMakeBorder(a, n, n, n, n, cv2.BORDER_CONSTANT, value=0)
    if sw < lo:
        thicker = cv2.dilate(padded, kernel)
        return (a, False) if holes(thicker) < holes(padded) else (thicker, True)
    thinner = cv2.erode(padded, kernel)
    return (thinner, True) if (thinner > 0.5).any() else (padded, True)


def measurable(a: np.ndarray) -> bool:
    """Whether ``a``'s strokes have a width to measure: enough of the ink in saturated cores
    (a blurred stroke is a soft ridge; its width at 0.5 is the blur's, not the pen's)."""
    total = float(a.sum())
    return total > 0 and float(a[a > 0.9].sum()) >= MEASURABLE_CORE * total


def holes(a: np.ndarray, threshold: float = 0.5) -> int:
    """Number of holes (enclosed background regions) of the ink ``a > threshold``."""
    b = above(a, threshold)
    if not b.any():
        return 0
    _, hierarchy = cv2.findContours(b, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return 0 if hierarchy is None else int((hierarchy[0][:, 3] >= 0).sum())


def _place_by_mass(patch: np.ndarray) -> np.ndarray:
    """Put ``patch`` (at most 20x20) in a 28x28 field with its centre of mass at (14, 14)."""
    h, w = patch.shape
    m = cv2.moments(patch)
    cx = m["m10"] / m["m00"] if m["m00"] > 0 else (w - 1) / 2
    cy = m["m01"] / m["m00"] if m["m00"] > 0 else (h - 1) / 2
    ox = min(max(round(MNIST_CENTRE - cx), 0), MNIST_SIZE - w)
    oy = min(max(round(MNIST_CENTRE - cy), 0), MNIST_SIZE - h)
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)  # (0.5 rounds down to 0 off the patch)
    out[oy:oy + h, ox:ox + w] = patch * 255.0 + 0.5
    return out
