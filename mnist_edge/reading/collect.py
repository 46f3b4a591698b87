"""``mnist-edge collect``: save the crops a reader finds, sorted by the model's guess, to train on.

The loop a meter reader's builder follows: point the camera at the meter, ``collect`` for a
while, move the crops the model guessed wrong into the right folder (``mnist-edge label OUT``),
``train --data OUT``. Each crop the reader finds (the frame's own pixels around the blob, with a
margin, as the reader of a crop model classifies it) is written as
``OUT/<guess>/<run>_<frame>_<k>.png``, or into ``OUT/unsure/`` below ``unsure_below`` (those
are the ones worth a look). With a meter config (``--config``) the crops are the config's
regions instead, cut through the alignment exactly as the meter reads them
(:func:`region_cutter`); a frame that cannot be aligned is skipped and counted.

A camera watching a meter sees the same scene for minutes: a crop whose position and pixels
barely changed since the last one saved there is a near-duplicate and skipped (``min_change``:
mean absolute difference of 16x16 grey thumbnails, 0..255), so a collection holds distinct
crops, not a thousand copies of one. ``max_crops`` caps the total. TensorFlow-free.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mnist_edge.common import atomic
from mnist_edge.common.boxes import iou
from mnist_edge.common.errors import UserError
from mnist_edge.reading.camera import open_source
from mnist_edge.reading.class_folders import UNSURE
from mnist_edge.reading.normalise import to_gray
from mnist_edge.reading.reader import DigitReader, region

DEFAULT_UNSURE_BELOW = 0.8
DEFAULT_MAX_CROPS = 1000
DEFAULT_MIN_CHANGE = 10.0
THUMB = 16
SAME_PLACE_IOU = 0.5


@dataclass
class CollectSummary:
    """What a collection did: frames read, crops saved per folder, near-duplicates skipped."""

    source: str
    out: str
    frames: int = 0
    found: int = 0
    saved: Counter = field(default_factory=Counter)
    duplicates: int = 0
    stopped: str = "source ended"
    skipped: int = 0  # frames that could not be read (a config's alignment failed)
    last_skip: str = ""

    def lines(self) -> list[str]:
        """The closing report, one fact a line."""
        total = sum(self.saved.values())
        per = ", ".join(f"{k}: {v}" for k, v in sorted(self.saved.items())) or "none"
        lines = [f"{self.frames} frame(s) from {self.source}, {self.found} crop(s) found "
                 f"({self.stopped})",
                 f"saved {total} crop(s) to {self.out} ({per}); skipped {self.duplicates} "
                 "near-duplicate(s)"]
        if self.skipped:
            lines.append(f"{self.skipped} frame(s) skipped (last: {self.last_skip})")
        return lines


@dataclass(frozen=True)
class Candidate:
    """One crop of a frame worth saving: where it is (the key near-duplicates are found by),
    its pixels, the model's guess (None: no guess, e.g. a region without ink) and confidence."""

    place: tuple[int, int, int, int]
    crop: np.ndarray
    label: int | str | None
    confidence: float


# frame -> (its candidates, why the frame was skipped or "")
Cutter = Callable[[np.ndarray], tuple[list[Candidate], str]]


def blob_cutter(reader: DigitReader) -> Cutter:
    """The crops the reader finds by searching the frame: each blob's own pixels, with the
    margin a crop model reads them with."""
    def cut(image: np.ndarray) -> tuple[list[Candidate], str]:
        return [Candidate(d.box, region(image, d.box), d.label, d.confidence)
                for d in reader.read(image)], ""
    return cut


def region_cutter(config: Any, reader: DigitReader) -> Cutter:
    """The crops of a meter config's regions: each region's window, aligned to the reference
    and cut as :class:`~mnist_edge.reading.meter.Meter` cuts it, so a model trained on them
    sees at run time exactly what it was trained on. Near-duplicates are found per region."""
    from mnist_edge.reading.meter import RegionFrames

    frames = RegionFrames(config, reader)

    def cut(image: np.ndarray) -> tuple[list[Candidate], str]:
        alignment, skip = frames.place(image)
        if skip:
            return [], skip
        matrix = alignment.matrix if alignment is not None else None
        windows = frames.regions.windows(image, matrix)
        found = frames.regions.read_windows(windows)
        return [Candidate(d.region.box, window, class_name(reader, d.probabilities),
                          d.confidence) for (window, _), d in zip(windows, found, strict=True)], ""
    return cut


def class_name(reader: Any, probabilities: tuple[float, ...]) -> int | str | None:
    """The class the model gives most weight to, by its name (``"N"``, ``"blank"``, a digit);
    None without probabilities (a region without ink, never classified)."""
    if not probabilities:
        return None
    k = int(np.argmax(probabilities))
    info = getattr(reader, "info", None)
    return info.values[k] if info is not None else k


def check_out_dir(out: str | os.PathLike[str]) -> Path:
    """``out`` created if needed and writable: checked before a camera is opened."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {path}: {exc.strerror or exc}")
    if not os.access(path, os.W_OK):
        raise UserError(f"cannot write to {path} (no permission)")
    return path


def folder_name(label: int | str) -> str:
    """A class name safe as a folder name (a name with a slash cannot escape ``OUT``)."""
    name = re.sub(r"[^\w.-]", "_", str(label)).strip(".") or "_"
    return name


def thumbnail(crop: np.ndarray) -> np.ndarray:
    """A 16x16 float grey copy: what two crops are compared by (cheap, and blind to the few
    pixels of noise that tell two frames of an unchanged scene apart)."""
    return cv2.resize(to_gray(crop), (THUMB, THUMB), interpolation=cv2.INTER_AREA
                      ).astype(np.float32)


class _Deduper:
    """The last crop saved at each place in the frame; a new one there must differ enough."""

    def __init__(self, min_change: float) -> None:
        self.min_change = min_change
        self.kept: list[tuple[tuple[int, int, int, int], np.ndarray]] = []

    def is_new(self, box: tuple[int, int, int, int], thumb: np.ndarray) -> bool:
        for i, (old_box, old_thumb) in enumerate(self.kept):
            if iou(old_box, box) >= SAME_PLACE_IOU:
                if float(np.abs(old_thumb - thumb).mean()) < self.min_change:
                    return False
                self.kept[i] = (box, thumb)
                return True
        self.kept.append((box, thumb))
        return True


def collect(
    source: str | int | os.PathLike[str],
    reader: DigitReader,
    out: str | os.PathLike[str],
    *,
    config: Any = None,
    unsure_below: float = DEFAULT_UNSURE_BELOW,
    max_crops: int = DEFAULT_MAX_CROPS,
    min_change: float = DEFAULT_MIN_CHANGE,
    max_frames: int | None = None,
    on_status: Callable[[str], None] | None = None,
) -> CollectSummary:
    """Read ``source`` frame by frame and save each new crop into ``out/<guess>/``.

    The crops are the blobs ``reader`` finds (:func:`blob_cutter`), or with ``config`` (a
    loaded :class:`~mnist_edge.reading.meter.MeterConfig`) its regions (:func:`region_cutter`).
    The reader should keep every crop (``min_confidence=0``): what the model is unsure of is
    exactly what a person should look at, so it goes to ``unsure/`` instead of being dropped.
    """
    if max_crops < 1:
        raise UserError(f"--max must be at least 1, got {max_crops}")
    cut = blob_cutter(reader) if config is None else region_cutter(config, reader)
    folder = check_out_dir(out)
    src = open_source(source, on_status=on_status)
    summary = CollectSummary(src.description, str(folder))
    run = time.strftime("%Y%m%d-%H%M%S")
    dedupe = _Deduper(min_change)
    with src:
        for frame in src:
            summary.frames += 1
            found, skip = cut(frame.image)
            if skip:
                summary.skipped += 1
                summary.last_skip = skip
            for k, c in enumerate(found):
                summary.found += 1
                if not dedupe.is_new(c.place, thumbnail(c.crop)):
                    summary.duplicates += 1
                    continue
                name = UNSURE if c.label is None or c.confidence < unsure_below \
                    else folder_name(c.label)
                if _save(folder / name / f"{run}_{frame.index:06d}_{k}.png", c.crop):
                    summary.saved[name] += 1
                if sum(summary.saved.values()) >= max_crops:
                    summary.stopped = f"reached --max {max_crops}"
                    return summary
            if max_frames is not None and summary.frames >= max_frames:
                summary.stopped = f"reached --max-frames {max_frames}"
                break
    return summary


def _save(target: Path, crop: np.ndarray) -> bool:
    """Write ``crop`` as a PNG, atomically (a crash never leaves half a crop to train on)."""
    ok, png = cv2.imencode(".png", crop)
    if ok:
        atomic.write_bytes(target, png.tobytes())
    return bool(ok)
