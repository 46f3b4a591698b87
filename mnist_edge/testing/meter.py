"""Synthetic utility-meter faces and clips with the truth known: for region, alignment and value
tests and benchmarks (not shipped to a device, like :mod:`mnist_edge.testing.synth`).

:func:`meter_face` draws a 640x480 frame of a meter: a dark housing with printed labels, screws
and a scale (texture that feature matching can hold on to), and a white counter window of
``digits`` drums, each showing one printed digit in dark ink. The last drum may be caught
mid-roll (half of one digit above half of the next). :data:`MeterLayout.regions` are the drums'
boxes in this reference frame, which is what ``mnist-edge regions`` writes to a config.

:func:`shake` moves a frame like a camera knocked a little (shift, rotation, zoom), and
:func:`make_meter_clip` writes a video of a counter going up under such shake, with the true
transform and reading of every frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mnist_edge.testing.synth import FRAME_SIZE, printed_glyph

HOUSING = (58, 62, 66)  # BGR
WINDOW = (236, 236, 232)
INK = 25.0


@dataclass(frozen=True)
class MeterLayout:
    """Where the counter's drums are in the reference frame (x, y, w, h each)."""

    digits: int = 6
    drum: tuple[int, int] = (56, 76)  # w, h of one drum window
    gap: int = 8
    origin: tuple[int, int] = (124, 196)  # top-left of the first drum
    size: tuple[int, int] = FRAME_SIZE

    @property
    def regions(self) -> list[tuple[int, int, int, int]]:
        (w, h), (x0, y0) = self.drum, self.origin
        return [(x0 + i * (w + self.gap), y0, w, h) for i in range(self.digits)]


@dataclass
class MeterFrame:
    """One drawn frame: the image, its reading, and the transform applied (2x3, reference ->
    frame; identity for an unshaken frame)."""

    image: np.ndarray
    reading: str
    matrix: np.ndarray = field(default_factory=lambda: np.eye(2, 3, dtype=np.float64))


def _housing(layout: MeterLayout) -> np.ndarray:
    w, h = layout.size
    img = np.full((h, w, 3), HOUSING, np.uint8)
    rng = np.random.default_rng(1234)  # the same housing every time: it is the meter's body
    grain = rng.normal(0, 4, size=(h // 8, w // 8)).astype(np.float32)
    img = np.clip(img + cv2.resize(grain, (w, h))[..., None], 0, 255).astype(np.uint8)
    cv2.rectangle(img, (40, 40), (w - 40, h - 40), (120, 124, 128), 3)
    for x, y in ((60, 60), (w - 60, 60), (60, h - 60), (w - 60, h - 60)):  # screws
        cv2.circle(img, (x, y), 14, (150, 150, 150), -1)
        cv2.line(img, (x - 10, y - 4), (x + 10, y + 4), (40, 40, 40), 3)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, "ACME GAS METER G4", (120, 120), font, 0.9, (220, 220, 220), 2, cv2.LINE_AA)
    cv2.putText(img, "Qmax 6 m3/h  No. 4711-0815", (120, 160), font, 0.6, (200, 200, 200), 1,
                cv2.LINE_AA)
    cv2.putText(img, "m3", (530, 250), font, 1.1, (230, 230, 230), 2, cv2.LINE_AA)
    for i in range(21):  # a scale under the counter
        x = 130 + i * 18
        cv2.line(img, (x, 330), (x, 345 if i % 5 else 360), (210, 210, 210), 2)
    for i, t in enumerate(("0", "1", "2", "3", "4")):
        cv2.putText(img, t, (122 + i * 90, 385), font, 0.6, (210, 210, 210), 1, cv2.LINE_AA)
    cv2.rectangle(img, (450, 400), (580, 430), (30, 30, 160), -1)
    cv2.putText(img, "CE 0085", (462, 422), font, 0.6, (240, 240, 240), 1, cv2.LINE_AA)
    return img


def _drum(label: int, w: int, h: int, roll: float = 0.0) -> np.ndarray:
    """A drum window (grey uint8, ink dark) showing ``label``, rolled ``roll`` (0..1) of the way
    to the next digit (the next one comes up from below, as on a real counter)."""
    pitch = h  # one digit per window height on the drum's strip
    strip = np.full((2 * pitch, w), 255.0, np.float32)
    for k, d in enumerate((label, (label + 1) % 10)):
        glyph = printed_glyph(d, "cv-simplex", weight=0.04, height=int(h * 0.66))
        gh, gw = glyph.shape
        x0, y0 = (w - gw) // 2, k * pitch + (pitch - gh) // 2
        region = strip[y0:y0 + gh, x0:x0 + gw]
        region[:] = region * (1 - glyph) + INK * glyph
    top = int(round(roll * pitch))
    return strip[top:top + h].astype(np.uint8)


def meter_face(reading: str, layout: MeterLayout | None = None, roll: float = 0.0
               ) -> np.ndarray:
    """The unshaken reference-frame image (BGR uint8) of the meter showing ``reading``
    (``layout.digits`` characters 0-9); ``roll`` moves the last drum toward its next digit."""
    layout = layout or MeterLayout()
    if len(reading) != layout.digits or not reading.isdigit():
        raise ValueError(f"reading must be {layout.digits} digits, got {reading!r}")
    img = _housing(layout)
    regions = layout.regions
    x0, y0 = regions[0][:2]
    x1 = regions[-1][0] + regions[-1][2]
    y1 = y0 + layout.drum[1]
    cv2.rectangle(img, (x0 - 10, y0 - 10), (x1 + 10, y1 + 10), (20, 20, 20), -1)
    for i, (x, y, w, h) in enumerate(regions):
        drum = _drum(int(reading[i]), w, h, roll if i == len(regions) - 1 else 0.0)
        img[y:y + h, x:x + w] = cv2.cvtColor(drum, cv2.COLOR_GRAY2BGR)
        img[y:y + h, x:x + w] = (img[y:y + h, x:x + w] * (np.array(WINDOW) / 255.0)).astype(
            np.uint8)
    cv2.rectangle(img, (regions[-2][0] + layout.drum[0] + 2, y0 - 6), (x1 + 6, y1 + 6),
                  (30, 30, 200), 2)  # the red frame of the last drum
    return img


def shake_matrix(rng: np.random.Generator, size: tuple[int, int] = FRAME_SIZE,
                 shift: float = 16.0, degrees: float = 3.0, zoom: float = 0.02) -> np.ndarray:
    """A random 2x3 similarity transform (reference -> frame) about the frame's centre."""
    w, h = size
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-degrees, degrees)),
                                float(1 + rng.uniform(-zoom, zoom)))
    m[:, 2] += rng.uniform(-shift, shift, size=2)
    return m


def shake(image: np.ndarray, matrix: np.ndarray, rng: np.random.Generator | None = None,
          noise: float = 2.5) -> np.ndarray:
    """``image`` moved by ``matrix`` (reference -> frame), with a little blur and sensor noise."""
    h, w = image.shape[:2]
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    out = cv2.GaussianBlur(out, (3, 3), 0.6)
    if rng is not None and noise > 0:
        out += rng.normal(0, noise, size=out.shape).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def meter_frames(start: int, count: int, *, seed: int = 0, step: int = 1,
                 layout: MeterLayout | None = None, shift: float = 16.0,
                 degrees: float = 3.0) -> list[MeterFrame]:
    """``count`` frames of a counter going up by ``step`` per frame from ``start``, each under
    its own random shake (``shift=0, degrees=0``: a steady camera)."""
    layout = layout or MeterLayout()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        reading = f"{start + i * step:0{layout.digits}d}"[-layout.digits:]
        m = (shake_matrix(rng, layout.size, shift, degrees) if shift or degrees
             else np.eye(2, 3, dtype=np.float64))
        out.append(MeterFrame(shake(meter_face(reading, layout), m, rng), reading, m))
    return out


@dataclass(frozen=True)
class MeterClip:
    """A written clip: path, FPS and each frame's true reading and transform."""

    path: Path
    fps: float
    frames: list[MeterFrame]


def make_meter_clip(path: str | os.PathLike[str], start: int = 1234, count: int = 24, *,
                    seed: int = 0, step: int = 1, fps: float = 8.0, shift: float = 16.0,
                    degrees: float = 3.0, codec: str = "mp4v") -> MeterClip:
    """A video of the meter counting up under camera shake (written atomically)."""
    from mnist_edge.common import atomic

    frames = meter_frames(start, count, seed=seed, step=step, shift=shift, degrees=degrees)
    h, w = frames[0].image.shape[:2]

    def write(tmp: Path) -> None:
        out = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
        if not out.isOpened():
            raise OSError(f"OpenCV cannot write {codec} video to {path}")
        try:
            for f in frames:
                out.write(f.image)
        finally:
            out.release()

    atomic.write_with(path, write)
    return MeterClip(Path(path), fps, frames)
