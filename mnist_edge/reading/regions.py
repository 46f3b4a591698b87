"""Pipeline step "digits" for a meter: read fixed regions, one digit each, in one batched call.

A meter or a display shows its digits in the same places every frame. Instead of searching the
whole frame for blobs (:func:`~mnist_edge.reading.pipeline.find_digits`), a config lists the
digit windows as ``x, y, w, h`` in a reference frame (``[[regions]]`` in the TOML), and
:class:`RegionReader` cuts each one out (through the alignment transform, when there is one:
only the region's pixels are resampled, never the whole frame), turns it into an MNIST crop
with the reader's own :func:`~mnist_edge.reading.crop.mnist_crop`, and classifies all regions
in **one** interpreter call (:meth:`DigitReader.classify`).

Inside a region the ink is what is clearly darker than the region's own paper (its 90th
percentile of brightness); ink touching the region's edge (the drum's frame, half of a
neighbouring digit) is left out. A region without ink reads as unknown (``label None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mnist_edge.common.errors import UserError
from mnist_edge.reading.align import _box
from mnist_edge.reading.crop import MNIST_SIZE, clip01, mnist_crop
from mnist_edge.reading.model_input import prepare_crop
from mnist_edge.reading.normalise import to_gray

MIN_SIDE = 8  # px: a region smaller than this cannot hold a readable digit
PAPER_PERCENTILE = 90
INK_PERCENTILE = 3
MIN_CONTRAST = 24.0  # grey levels between paper and ink, else the region is blank
INK_LEVEL = 0.5  # relative darkness that counts as ink for the mask
MIN_INK_FRACTION = 0.01  # of the region's area: less ink than this is blank


@dataclass(frozen=True)
class Region:
    """One digit window: ``box`` (x, y, w, h) in the reference frame, part of value ``value``."""

    name: str
    box: tuple[int, int, int, int]
    value: str = "value"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "box": list(self.box), "value": self.value}


@dataclass(frozen=True)
class RegionsConfig:
    """The ``[[regions]]`` tables (plus ``[read]``), checked against the reference size."""

    regions: tuple[Region, ...]
    size: tuple[int, int]  # reference frame width, height
    invert: bool = False

    @classmethod
    def from_dicts(cls, items: Any, size: tuple[int, int], invert: bool = False
                   ) -> RegionsConfig:
        if not isinstance(items, list) or not items:
            raise UserError("the config lists no [[regions]]")
        regions = []
        names: set[str] = set()
        for i, item in enumerate(items, 1):
            if not isinstance(item, dict):
                raise UserError(f"region {i}: expected a table with name, box, value")
            unknown = sorted(set(item) - {"name", "box", "value"})
            if unknown:
                raise UserError(f"region {i}: unknown key {unknown[0]!r} (known: box, name, "
                                "value)")
            name = str(item.get("name", f"d{i}"))
            if name in names:
                raise UserError(f"two regions are named {name!r}")
            names.add(name)
            if "box" not in item:
                raise UserError(f"region {name}: no box = [x, y, w, h]")
            box = _box(item["box"], f"region {name} box")
            value = str(item.get("value", "value"))
            if not value.replace("_", "").isalnum():
                raise UserError(f"region {name}: value name {value!r} must be letters, digits "
                                "and _")
            regions.append(Region(name, box, value))
        config = cls(tuple(regions), size, invert)
        config.check()
        return config

    def check(self) -> None:
        """Every region inside the reference frame, big enough, and no two overlapping."""
        w, h = self.size
        for r in self.regions:
            x, y, bw, bh = r.box
            if x < 0 or y < 0 or x + bw > w or y + bh > h:
                raise UserError(f"region {r.name} {list(r.box)} is outside the {w}x{h} "
                                "reference frame")
            if min(bw, bh) < MIN_SIDE:
                raise UserError(f"region {r.name} {list(r.box)} is smaller than "
                                f"{MIN_SIDE}x{MIN_SIDE} px")
        for i, a in enumerate(self.regions):
            for b in self.regions[i + 1:]:
                if _overlap(a.box, b.box):
                    raise UserError(f"regions {a.name} {list(a.box)} and {b.name} "
                                    f"{list(b.box)} overlap")

    def groups(self) -> dict[str, list[int]]:
        """Region indices per value name, in config order (left to right as written)."""
        out: dict[str, list[int]] = {}
        for i, r in enumerate(self.regions):
            out.setdefault(r.value, []).append(i)
        return out


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return (a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3]
            and b[1] < a[1] + a[3])


@dataclass(frozen=True)
class RegionDigit:
    """What one region reads: ``label`` None when the region holds no ink."""

    region: Region
    label: int | None
    confidence: float
    box: tuple[int, int, int, int]  # where the region is in this frame (bounding box)
    probabilities: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region.name, "label": self.label,
                "confidence": round(self.confidence, 4), "box": list(self.box)}


class RegionReader:
    """Reads the regions of ``config`` from frames with ``reader``'s model (one call)."""

    def __init__(self, reader: Any, config: RegionsConfig) -> None:
        self.reader = reader
        self.config = config

    def windows(self, frame: np.ndarray, matrix: np.ndarray | None = None
                ) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
        """Each region's own pixels (grey, in the reference frame's geometry) and its box in
        this frame: what is classified, and what ``collect --config`` saves to train on."""
        return [_cut(frame, r.box, matrix) for r in self.config.regions]

    def crops(self, frame: np.ndarray, matrix: np.ndarray | None = None
              ) -> tuple[np.ndarray, list[bool], list[tuple[int, int, int, int]]]:
        """MNIST crops (N, 28, 28) of every region, which hold ink, and their frame boxes."""
        return self.model_crops(self.windows(frame, matrix))

    def model_crops(self, windows: list[tuple[np.ndarray, tuple[int, int, int, int]]]
                    ) -> tuple[np.ndarray, list[bool], list[tuple[int, int, int, int]]]:
        """The model's input for each of :meth:`windows`, which hold ink, and their boxes."""
        crops = np.zeros((len(windows), MNIST_SIZE, MNIST_SIZE), np.uint8)
        inked, boxes = [], []
        info = getattr(self.reader, "info", None)
        whole = info is not None and info.whole_crops
        for i, (roi, box) in enumerate(windows):
            # a model trained on the user's own crops reads the window as it was trained:
            # prepared whole (polarity, contrast), its own classes telling blank from digit
            crop = prepare_crop(roi, info.preprocessing) if whole else \
                region_crop(roi, self.config.invert)
            inked.append(crop is not None)
            boxes.append(box)
            if crop is not None:
                crops[i] = crop
        return crops, inked, boxes

    def read(self, frame: np.ndarray, matrix: np.ndarray | None = None) -> list[RegionDigit]:
        """One :class:`RegionDigit` per region, in config order; ``matrix`` (2x3, reference ->
        frame) from :class:`~mnist_edge.reading.align.Aligner`, None for an unmoved camera."""
        return self.read_windows(self.windows(frame, matrix))

    def read_windows(self, windows: list[tuple[np.ndarray, tuple[int, int, int, int]]]
                     ) -> list[RegionDigit]:
        """:meth:`read` of windows already cut (``collect`` keeps their pixels too)."""
        crops, inked, boxes = self.model_crops(windows)
        probs = self.reader.classify(crops)  # one invoke for all regions
        out = []
        for i, r in enumerate(self.config.regions):
            if not inked[i]:
                out.append(RegionDigit(r, None, 0.0, boxes[i]))
                continue
            p = probs[i]
            k = int(p.argmax())
            out.append(RegionDigit(r, _digit_or_none(self.reader, k), float(p[k]), boxes[i],
                                   tuple(float(v) for v in p)))
        return out


def _digit_or_none(reader: Any, k: int) -> int | None:
    """Output ``k`` as a digit; a class that is no digit (``N``, a wheel between two digits;
    ``blank``) reads as unknown, as an empty region does, so a value is never built from it."""
    info = getattr(reader, "info", None)
    if info is None:
        return k
    value = info.values[k]
    return value if isinstance(value, int) else None


def _cut(frame: np.ndarray, box: tuple[int, int, int, int], matrix: np.ndarray | None
         ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The region's pixels (grey) and its bounding box in the frame."""
    x, y, w, h = box
    if matrix is None:
        fh, fw = frame.shape[:2]
        roi = frame[max(0, y):min(fh, y + h), max(0, x):min(fw, x + w)]
        return to_gray(roi), box
    m = np.asarray(matrix, np.float64)
    # region pixel (u, v) -> reference (x + u, y + v) -> frame m @ [x + u, y + v, 1]
    to_frame = m @ np.array([[1.0, 0, x], [0, 1.0, y], [0, 0, 1]])
    roi = cv2.warpAffine(frame, to_frame, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    corners = to_frame @ np.array([[0, w, w, 0], [0, 0, h, h], [1, 1, 1, 1]], np.float64)
    x0, y0 = np.floor(corners.min(axis=1)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=1)).astype(int)
    return to_gray(roi), (int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def region_crop(gray: np.ndarray, invert: bool = False) -> np.ndarray | None:
    """The MNIST crop of the digit in one region (grey uint8), or None when it holds no ink.

    Ink is darkness relative to the region's own paper level; components touching the region's
    edge are left out (unless that would leave nothing), then :func:`mnist_crop` does what it
    does for the blob search: stroke weight, 20 px box, centre of mass at (14, 14).
    """
    if invert:
        gray = 255 - gray
    paper, dark = _percentiles(gray, PAPER_PERCENTILE, INK_PERCENTILE)
    g = gray.astype(np.float32)
    if paper - dark < MIN_CONTRAST:
        return None
    ink = clip01((paper - g) * (1.0 / (paper - dark)))
    mask = (ink > INK_LEVEL).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = mask.shape
    x, y, bw, bh, area = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3], stats[:, 4]
    keep = ((x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
            & (area >= MIN_INK_FRACTION * w * h)).astype(np.uint8)
    keep[0] = 0  # the background
    if not keep.any():
        return None
    digit = keep[labels]
    return mnist_crop(ink, digit)


def _percentiles(gray: np.ndarray, *q: float) -> list[float]:
    """Percentiles of a uint8 image from its histogram (several times faster than
    ``np.percentile`` on a region this small)."""
    cum = np.cumsum(np.bincount(gray.ravel(), minlength=256))
    return [float(np.searchsorted(cum, p / 100.0 * cum[-1])) for p in q]


def propose_regions(reader: Any, image: np.ndarray, pad: float = 0.25
                    ) -> list[tuple[int, int, int, int]]:
    """Boxes for the digits ``reader`` finds in ``image``, widened by ``pad`` of their height
    on every side (clipped to the frame and to each other), in reading order."""
    digits = reader.read(image)
    h, w = image.shape[:2]
    boxes = []
    for d in digits:
        x, y, bw, bh = d.box
        p = max(2, int(round(pad * bh)))
        boxes.append([max(0, x - p), max(0, y - p), min(w, x + bw + p), min(h, y + bh + p)])
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][0])
    for a, b in zip(order, order[1:], strict=False):  # neighbours in a row share the gap
        A, B = boxes[a], boxes[b]
        if A[2] > B[0] and A[1] < B[3] and B[1] < A[3]:
            mid = (A[2] + B[0]) // 2 if A[2] - B[0] < min(A[2] - A[0], B[2] - B[0]) else None
            if mid is None:
                continue
            A[2], B[0] = mid, mid
    out = [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes]
    return [out[i] for i in range(len(out)) if out[i][2] >= MIN_SIDE and out[i][3] >= MIN_SIDE]
