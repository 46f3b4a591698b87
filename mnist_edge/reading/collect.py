"""``mnist-edge collect``: save the crops a reader finds, sorted by the model's guess, to train on.

The loop a meter reader's builder follows: point the camera at the meter, ``collect`` for a
while, move the crops the model guessed wrong into the right folder, ``train --data OUT``.
Each crop the reader finds (the frame's own pixels around the blob, with a margin, as the
reader of a crop model classifies it) is written as ``OUT/<guess>/<run>_<frame>_<k>.png``, or
into ``OUT/unsure/`` below ``unsure_below`` (those are the ones worth a look).

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

import cv2
import numpy as np

from mnist_edge.common import atomic
from mnist_edge.common.errors import UserError
from mnist_edge.reading.camera import open_source
from mnist_edge.reading.live import iou
from mnist_edge.reading.normalise import to_gray
from mnist_edge.reading.reader import DigitReader, region

UNSURE = "unsure"
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

    def lines(self) -> list[str]:
        """The closing report, one fact a line."""
        total = sum(self.saved.values())
        per = ", ".join(f"{k}: {v}" for k, v in sorted(self.saved.items())) or "none"
        return [f"{self.frames} frame(s) from {self.source}, {self.found} crop(s) found "
                f"({self.stopped})",
                f"saved {total} crop(s) to {self.out} ({per}); skipped {self.duplicates} "
                "near-duplicate(s)"]


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
    unsure_below: float = DEFAULT_UNSURE_BELOW,
    max_crops: int = DEFAULT_MAX_CROPS,
    min_change: float = DEFAULT_MIN_CHANGE,
    max_frames: int | None = None,
    on_status: Callable[[str], None] | None = None,
) -> CollectSummary:
    """Read ``source`` frame by frame and save each new crop into ``out/<guess>/``.

    ``reader`` should keep every crop (``min_confidence=0``): what the model is unsure of is
    exactly what a person should look at, so it goes to ``unsure/`` instead of being dropped.
    """
    if max_crops < 1:
        raise UserError(f"--max must be at least 1, got {max_crops}")
    folder = check_out_dir(out)
    src = open_source(source, on_status=on_status)
    summary = CollectSummary(src.description, str(folder))
    run = time.strftime("%Y%m%d-%H%M%S")
    dedupe = _Deduper(min_change)
    with src:
        for frame in src:
            summary.frames += 1
            for k, digit in enumerate(reader.read(frame.image)):
                summary.found += 1
                crop = region(frame.image, digit.box)
                if not dedupe.is_new(digit.box, thumbnail(crop)):
                    summary.duplicates += 1
                    continue
                name = UNSURE if digit.confidence < unsure_below else folder_name(digit.label)
                target = folder / name / f"{run}_{frame.index:06d}_{k}.png"
                ok, png = cv2.imencode(".png", crop)
                if ok:
                    atomic.write_bytes(target, png.tobytes())
                    summary.saved[name] += 1
                if sum(summary.saved.values()) >= max_crops:
                    summary.stopped = f"reached --max {max_crops}"
                    return summary
            if max_frames is not None and summary.frames >= max_frames:
                summary.stopped = f"reached --max-frames {max_frames}"
                break
    return summary
