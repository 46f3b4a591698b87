"""The live loop: frames in, digits read, boxes drawn, readings logged (no web code here).

:func:`run` pulls frames from a :mod:`mnist_edge.reading.camera` source, reads them with a
:class:`~mnist_edge.reading.reader.DigitReader`, and for every processed frame:

* writes one JSON line ``{"frame": n, "time": s, "digits": [...]}`` to ``jsonl`` (a file,
  appended to and flushed line by line, so a reader - or ``deploy --status`` - sees each
  reading as it comes and a kill loses none; or ``"-"`` for stdout, flushed per line);
* calls ``on_frame(annotated_bgr, reading)`` with the same dict (the web view hooks in here);
* shows the annotated frame in a window when a display exists (``q``/Esc quits, ``s`` saves a
  snapshot); without one (no ``$DISPLAY``/``$WAYLAND_DISPLAY``, or an OpenCV built without GUI)
  it runs headless, and a window that fails to open switches it to headless instead of crashing.

Ctrl-C, SIGTERM (systemd's stop), the end of a file, ``max_frames``, the quit key or
``stop.set()`` end the run cleanly with a :class:`RunSummary` (frames, mean FPS, the readings
seen most, and what stopped it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from mnist_edge.common import atomic
from mnist_edge.common.boxes import iou
from mnist_edge.common.errors import UserError
from mnist_edge.common.quiet import stdout_to_devnull
from mnist_edge.reading.camera import FrameSource, open_source
from mnist_edge.reading.reader import Digit, DigitReader

KEY_QUIT = {ord("q"), ord("Q"), 27}  # q, Esc
KEY_SNAPSHOT = {ord("s"), ord("S")}
BOX_COLOUR = (0, 200, 0)
TEXT_COLOUR = (255, 255, 255)

FrameCallback = Callable[[np.ndarray, dict[str, Any]], None]
StatusCallback = Callable[[str], None]
# read_frame(image) -> (digits to draw, extra keys for the reading line): a meter's regions
FrameReader = Callable[[np.ndarray], tuple[list[Digit], dict[str, Any]]]
ReadingCallback = Callable[[dict[str, Any]], None]


@dataclass
class RunSummary:
    """What a run did: frames processed, time, digits read, and why it stopped."""

    source: str
    frames: int = 0
    seconds: float = 0.0
    digits: int = 0
    frames_with_digits: int = 0
    readings: Counter[str] = field(default_factory=Counter)
    stopped_by: str = "end of input"
    snapshots: list[str] = field(default_factory=list)
    skipped: int = 0  # files of a folder source that could not be read

    @property
    def fps(self) -> float:
        """Mean frames per second over the run (reading, drawing and writing included)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "frames": self.frames, "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 1), "digits": self.digits,
            "frames_with_digits": self.frames_with_digits,
            "readings": dict(self.readings.most_common(10)), "stopped_by": self.stopped_by,
            "snapshots": self.snapshots, "skipped": self.skipped,
        }

    def lines(self) -> list[str]:
        """A short human summary."""
        common = ", ".join(f"{r} ({n})" for r, n in self.readings.most_common(3)) or "none"
        return [
            f"{self.frames} frames from {self.source} in {self.seconds:.1f} s "
            f"({self.fps:.1f} FPS), stopped by {self.stopped_by}",
            f"{self.digits} digits read in {self.frames_with_digits} frames; "
            f"most seen readings: {common}",
        ] + ([f"{self.skipped} file(s) could not be read (see the 'skipped:' lines)"]
             if self.skipped else [])


# ---------------------------------------------------------------------------------------------
# smoothing


class Smoother:
    """Temporal smoothing so a live reading does not flicker.

    Each digit is followed across frames by box overlap, and its class probabilities are
    averaged exponentially over about ``frames`` frames: one blurred frame that reads a 3 as an
    8 no longer changes the answer. A digit unseen for more than 2 frames is forgotten.
    """

    def __init__(self, frames: int, labels: list[int | str] | None = None) -> None:
        self.alpha = 2.0 / (max(1, frames) + 1)
        self._tracks: list[dict[str, Any]] = []
        self.labels = labels  # the model's class names (None: digits 0-9)

    def update(self, digits: list[Digit]) -> list[Digit]:
        out = []
        free = list(range(len(self._tracks)))
        for d in digits:
            best = max(free, key=lambda i: iou(self._tracks[i]["box"], d.box), default=None)
            p = np.asarray(d.probabilities, dtype=np.float64)
            if best is not None and iou(self._tracks[best]["box"], d.box) >= 0.3:
                free.remove(best)
                track = self._tracks[best]
                track["p"] = (1 - self.alpha) * track["p"] + self.alpha * p
                track["box"], track["missed"] = d.box, 0
            else:
                track = {"box": d.box, "p": p, "missed": 0}
                self._tracks.append(track)
            q = track["p"]
            k = int(q.argmax())
            label = self.labels[k] if self.labels else k
            out.append(Digit(label, float(q[k]), d.box, tuple(float(v) for v in q)))
        for i in free:
            self._tracks[i]["missed"] += 1
        self._tracks = [t for t in self._tracks if t["missed"] <= 2]
        return out


# ---------------------------------------------------------------------------------------------
# drawing and display


def annotate(frame: np.ndarray, digits: list[Digit], fps: float | None = None) -> np.ndarray:
    """A BGR copy of ``frame`` with each digit's box, label and confidence, and the FPS."""
    img = _bgr_copy(frame)
    h, w = img.shape[:2]
    scale = max(0.4, min(h, w) / 600)
    thick = max(1, round(min(h, w) / 300))
    status = "".join(str(d.label) for d in digits) or "-"
    if fps is not None:
        status = f"{fps:5.1f} FPS   {status}"
    corner = _text_rect(_text_size(status, scale, thick), (0, 0))
    for d in digits:
        x, y, bw, bh = d.box
        cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), BOX_COLOUR, thick)
    for text, rect in place_labels(digits, (h, w), scale, thick, taken=[corner]):
        _label(img, text, rect, scale, thick)
    _label(img, status, corner, scale, thick)
    return img


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive)


def place_labels(digits: list[Digit], shape: tuple[int, int], scale: float, thick: int,
                 taken: list[Rect] | None = None) -> list[tuple[str, Rect]]:
    """Where each digit's label goes without covering another label: above its box, else
    below, else inside its top; ``"7 97%"`` shrinks to ``"7"`` when neither fits (digits in a
    grid sit closer than their labels are wide). A label that fits nowhere is left out: the box
    and the reading line still show the digit."""
    placed: list[Rect] = list(taken or [])
    out: list[tuple[str, Rect]] = []
    for d in digits:
        x, y, bw, bh = d.box
        for text in (f"{d.label} {d.confidence:.0%}", str(d.label)):
            size = _text_size(text, scale, thick)
            tall = size[1] + size[2] + 4
            spots = [(x, y - tall), (x, y + bh), (x, y)]
            rect = next((r for r in (_text_rect(size, at) for at in spots)
                         if _inside(r, shape) and not any(_overlap(r, o) for o in placed)),
                        None)
            if rect is not None:
                placed.append(rect)
                out.append((text, rect))
                break
    return out


def _text_size(text: str, scale: float, thick: int) -> tuple[int, int, int]:
    """Width, height above the baseline, and depth below it, of ``text`` as drawn."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    return tw, th, base


def _text_rect(size: tuple[int, int, int], at: tuple[int, int]) -> Rect:
    """The filled box of a label of ``size`` (from :func:`_text_size`) with its corner at
    ``at``."""
    tw, th, base = size
    x, y = at
    return x, y, x + tw + 4, y + th + base + 4


def _inside(r: Rect, shape: tuple[int, int]) -> bool:
    return r[0] >= 0 and r[1] >= 0 and r[2] < shape[1] and r[3] < shape[0]


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _bgr_copy(frame: np.ndarray) -> np.ndarray:
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        f = np.nan_to_num(a.astype(np.float32))
        a = np.clip(f * (255.0 if f.size and f.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        return cv2.cvtColor(a.reshape(a.shape[:2]), cv2.COLOR_GRAY2BGR)
    if a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2BGR)
    return a.copy()


def _label(img: np.ndarray, text: str, rect: Rect, scale: float, thick: int) -> None:
    """Text on a filled box (readable on any background) at ``rect``."""
    x0, y0, x1, y1 = rect
    _, th, _ = _text_size(text, scale, thick)
    cv2.rectangle(img, (x0, y0), (x1, y1), BOX_COLOUR, -1)
    cv2.putText(img, text, (x0 + 2, y0 + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOUR,
                thick, cv2.LINE_AA)


def display_available() -> bool:
    """Whether a window can be shown: an OpenCV built with a GUI and, on Linux/BSD, an X11 or
    Wayland display (a Raspberry Pi without a monitor has neither ``$DISPLAY`` nor
    ``$WAYLAND_DISPLAY``)."""
    if not _opencv_has_gui():
        return False
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _opencv_has_gui() -> bool:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("", "NONE")
    return True


class _Window:
    """An OpenCV window that turns itself off (headless) instead of raising."""

    def __init__(self, title: str, on_status: StatusCallback) -> None:
        self.title, self.on_status = title, on_status
        self.enabled = True

    def show(self, image: np.ndarray) -> int:
        """Show ``image``; the key pressed (or -1). Never raises."""
        if not self.enabled:
            return -1
        try:
            cv2.imshow(self.title, image)
            return cv2.waitKey(1) & 0xFF
        except cv2.error as exc:
            self.enabled = False
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "cv2.error"
            self.on_status(f"cannot show a window ({first[:120]}); continuing headless")
            return -1

    def close(self) -> None:
        if self.enabled:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)


# ---------------------------------------------------------------------------------------------
# the loop


@contextlib.contextmanager
def _jsonl_writer(target: str | os.PathLike[str] | IO[str] | None) -> Iterator[IO[str] | None]:
    """Where readings go: nowhere, stdout (``"-"``), an open stream, or a file appended to, one
    whole line per write, flushed (opened before the first frame: an unwritable path is one
    :class:`UserError`, and a run that is killed keeps every line it wrote)."""
    if target is None:
        yield None
    elif isinstance(target, str) and target == "-":
        yield sys.stdout
    elif hasattr(target, "write"):
        yield target  # type: ignore[misc]
    else:
        path = Path(target)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed below, errors mapped)
        except OSError as exc:
            raise UserError(f"cannot write the readings to {path}: "
                            f"{exc.strerror or exc}") from None
        with fh:
            yield fh


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it takes Ctrl-C's clean path."""


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(
    source: str | int | os.PathLike[str] | FrameSource,
    reader: DigitReader,
    *,
    headless: bool | None = None,
    jsonl: str | os.PathLike[str] | IO[str] | None = None,
    smoothing: int = 0,
    max_frames: int | None = None,
    realtime: bool = False,
    loop: bool = False,
    on_frame: FrameCallback | None = None,
    on_status: StatusCallback | None = None,
    stop: threading.Event | None = None,
    snapshot_dir: str | os.PathLike[str] = ".",
    window_title: str = "mnist-edge",
    on_progress: StatusCallback | None = None,
    progress_every: float = 10.0,
    read_frame: FrameReader | None = None,
    on_reading: ReadingCallback | None = None,
) -> RunSummary:
    """Read digits from every frame of ``source`` until it ends or the run is stopped.

    ``headless=None`` detects whether a window can be shown. ``smoothing`` > 1 averages each
    digit's probabilities over about that many frames. For a file source every frame is
    processed, in order (``realtime=True`` paces it at its FPS, ``loop=True`` repeats it).
    Without a window, ``on_progress`` gets a line with the latest reading every
    ``progress_every`` seconds (and after the first frame), so a headless run is never silent.
    ``read_frame`` replaces the reader's blob search (a meter config's regions; its extra keys
    join the reading line); ``on_reading(reading)`` gets every reading line (publishing).
    """
    status = on_status or (lambda _text: None)
    src = source if isinstance(source, FrameSource) else open_source(
        source, realtime=realtime, loop=loop, stop=stop, on_status=status)
    show = not headless if headless is not None else display_available()
    summary = RunSummary(source=src.description)
    with contextlib.closing(src), _jsonl_writer(jsonl) as out, _sigterm_stops():
        window = _Window(window_title, status) if show else None
        try:
            _loop(src, summary, _LoopOptions(
                reader, out, window, status, smoothing=smoothing, max_frames=max_frames,
                on_frame=on_frame, stop=stop, snapshot_dir=Path(snapshot_dir),
                progress=None if show else on_progress, progress_every=progress_every,
                read_frame=read_frame, on_reading=on_reading))
        finally:
            if window is not None:
                window.close()
            summary.skipped = src.skipped
    return summary


@dataclass(frozen=True)
class _LoopOptions:
    """What :func:`_loop` reads frames with and hands readings to (built by :func:`run`)."""

    reader: DigitReader
    out: IO[str] | None  # the JSONL stream, if any
    window: _Window | None
    status: StatusCallback
    smoothing: int = 0
    max_frames: int | None = None
    on_frame: FrameCallback | None = None
    stop: threading.Event | None = None
    snapshot_dir: Path = Path(".")
    progress: StatusCallback | None = None  # a line now and then when headless
    progress_every: float = 10.0  # seconds
    read_frame: FrameReader | None = None  # instead of the reader's blob search (a meter)
    on_reading: ReadingCallback | None = None  # every reading line (publishing)


def _loop(src: FrameSource, summary: RunSummary, opts: _LoopOptions) -> None:
    """Read every frame of ``src`` until it ends or the run is stopped; ``summary`` is filled
    in as frames go (and says why the run stopped)."""
    stop, out, window, on_frame = opts.stop, opts.out, opts.window, opts.on_frame
    smoother = Smoother(opts.smoothing, getattr(opts.reader, "info", None) and
                        opts.reader.info.values) if opts.smoothing > 1 else None
    started = last = time.monotonic()
    next_progress = started
    fps: float | None = None
    try:
        for frame in src:
            if stop is not None and stop.is_set():
                summary.stopped_by = "stop request"
                break
            extra: dict[str, Any] = {}
            if opts.read_frame is None:
                digits = opts.reader.read(frame.image)
            else:
                digits, extra = opts.read_frame(frame.image)
            if smoother is not None:
                digits = smoother.update(digits)
            now = time.monotonic()
            rate = 1.0 / max(now - last, 1e-6)
            fps = rate if fps is None else 0.9 * fps + 0.1 * rate
            last = now
            reading = {"frame": frame.index, "time": round(frame.time, 3),
                       "digits": [d.to_dict() for d in digits], **extra}
            _tally(summary, digits)
            if opts.progress is not None and now >= next_progress:
                next_progress = now + opts.progress_every
                shown = "".join(str(d.label) for d in digits) or "no digits"
                opts.progress(f"frame {frame.index}: {shown}  ({summary.frames} frames, "
                         f"{summary.frames / max(now - started, 1e-6):.1f} FPS)")
            if out is not None:
                out.write(json.dumps(reading) + "\n")
                out.flush()
            if opts.on_reading is not None:
                opts.on_reading(reading)
            if on_frame is not None or (window is not None and window.enabled):
                annotated = annotate(frame.image, digits, fps)
                if on_frame is not None:
                    on_frame(annotated, reading)
                if window is not None and _handle_key(window.show(annotated), annotated,
                                                      frame.index, summary, opts.snapshot_dir,
                                                      opts.status):
                    break
            summary.seconds = time.monotonic() - started
            if opts.max_frames is not None and summary.frames >= opts.max_frames:
                summary.stopped_by = "max frames"
                break
        else:
            if stop is not None and stop.is_set():
                summary.stopped_by = "stop request"
    except KeyboardInterrupt as exc:
        summary.stopped_by = "SIGTERM" if isinstance(exc, _Terminated) else "Ctrl-C"
    except BrokenPipeError:  # `mnist-edge webcam --jsonl - | head`: the reader went away
        summary.stopped_by = "output closed"
        if out is sys.stdout:
            stdout_to_devnull()
    summary.seconds = time.monotonic() - started


def _tally(summary: RunSummary, digits: list[Digit]) -> None:
    summary.frames += 1
    summary.digits += len(digits)
    if digits:
        summary.frames_with_digits += 1
        summary.readings["".join(str(d.label) for d in digits)] += 1


def _handle_key(key: int, annotated: np.ndarray, index: int, summary: RunSummary,
                snapshot_dir: Path, status: StatusCallback) -> bool:
    """Act on a key press; True when the run should stop."""
    if key in KEY_QUIT:
        summary.stopped_by = "quit key"
        return True
    if key in KEY_SNAPSHOT:
        path = snapshot_dir / f"mnist-edge-snapshot-{index:06d}.png"
        save_png(path, annotated)
        summary.snapshots.append(str(path))
        status(f"saved {path}")
    return False


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write ``image`` as a PNG, atomically."""
    def write(tmp: Path) -> None:
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"could not write {path}")

    return atomic.write_with(path, write)
