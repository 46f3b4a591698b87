"""Where frames come from: a camera, a video file, an image, a folder of images, or a stream URL.

:func:`open_source` picks the kind from what the user typed (``0``, ``clip.mp4``, ``photo.jpg``,
``shots/``, ``rtsp://...``) and returns an iterable of :class:`Frame`. What each kind promises:

* **file sources** (video, image, folder) give every frame, in order; ``time`` is the frame's
  position in the file (frame / FPS), so a run over a file is reproducible. ``realtime=True``
  paces them at the file's own FPS (a live demo from a clip); ``loop=True`` starts over at the
  end instead of stopping.
* **live sources** (camera index, ``/dev/videoN``, rtsp/http/... URL): a source that cannot be
  opened at all is a :class:`~mnist_edge.common.errors.UserError` naming it and what to try; one
  that drops mid-run is reopened with exponential backoff (0.5 s doubling to 8 s) until it comes
  back or ``stop`` is set, and every drop and recovery is reported through ``on_status``.

OpenCV's own warnings (and FFmpeg's) are silenced: the messages here say what happened instead.
"""

from __future__ import annotations

import glob
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from mnist_edge.common.errors import UserError
from mnist_edge.common.quiet import quiet_opencv

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm",
                        ".ppm", ".pbm", ".pnm", ".jp2"})
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg",
                        ".wmv", ".mjpeg", ".mjpg", ".gif", ".ts", ".flv"})
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://",
                  "srt://")
MAX_LAG_S = 0.25  # a live-paced file this far behind its schedule slips it (no catch-up burst)
IMAGE_FPS = 5.0  # how fast images (and folders of images) play with realtime=True
DEFAULT_FPS = 25.0  # when a video does not say
BACKOFF = (0.5, 8.0)  # first and longest wait before reopening a dropped live source (s)


quiet_opencv()


def load_image(path: str | os.PathLike[str], flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """The image file at ``path`` as OpenCV decodes it with ``flags`` (default BGR: alpha
    dropped, 16-bit scaled), or None when it is empty or not an image OpenCV can decode.

    The one image-file decoder (:func:`read_image_file` words its errors for predict and
    the image sources; selftest words its own). Raises OSError when the file cannot be read
    at all (missing, a folder, no permission), cv2.error or MemoryError when its header claims
    more pixels than can be decoded. The bytes are read by Python and decoded from memory,
    so any path works.
    """
    data = np.fromfile(Path(path), dtype=np.uint8)
    return cv2.imdecode(data, flags) if data.size else None


@dataclass(frozen=True)
class Frame:
    """One frame: its 0-based index, the BGR image, and its time in seconds.

    For a file, ``time`` is the frame's position in it; for a live source, seconds since the
    source was opened. ``name`` is the image's path for image and folder sources.
    """

    index: int
    image: np.ndarray
    time: float
    name: str | None = None


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` used here (tests pass their own)."""

    def isOpened(self) -> bool: ...  # noqa: N802 (OpenCV's name)
    def read(self) -> tuple[bool, Any]: ...
    def release(self) -> None: ...
    def get(self, prop: int) -> float: ...


StatusFn = Callable[[str], None]


class FrameSource:
    """Base class: iterate for frames; ``close()`` (or ``with``) releases the device."""

    kind = "source"
    live = False

    def __init__(self, description: str) -> None:
        self.description = description
        self.fps: float | None = None
        self.skipped = 0  # files that could not be read (a folder of images)

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file (idempotent)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# file sources


class _Pacer:
    """Sleeps so frame ``t`` (seconds into the file) is handed out ``t`` seconds after start.

    A reader that fell behind (a busy machine, a slow first frame) slips the schedule instead
    of catching up: a live-paced file plays like a camera, which never sends a burst of old
    frames, so the FPS a viewer sees stays the file's own.
    """

    def __init__(self, enabled: bool, stop: threading.Event | None) -> None:
        self.enabled = enabled
        self.stop = stop
        self.start = time.monotonic()

    def wait(self, t: float) -> None:
        if not self.enabled:
            return
        delay = self.start + t - time.monotonic()
        if delay < -MAX_LAG_S:
            self.start -= delay  # behind: restart the schedule from now
            return
        if delay > 0:
            if self.stop is not None:
                self.stop.wait(delay)
            else:
                time.sleep(delay)


class VideoSource(FrameSource):
    """Every frame of a video file, in order (FFmpeg decodes)."""

    kind = "video"

    def __init__(self, path: Path, *, realtime: bool = False, loop: bool = False,
                 stop: threading.Event | None = None,
                 opener: Callable[[], Capture] | None = None) -> None:
        super().__init__(str(path))
        self.path = path
        self.realtime, self.loop, self.stop = realtime, loop, stop
        self._open = opener or (lambda: cv2.VideoCapture(str(path), cv2.CAP_FFMPEG))
        self._cap = self._open()
        if not self._cap.isOpened():
            self._cap.release()
            what = "a video" if path.suffix.lower() in VIDEO_EXTS else "an image or a video"
            raise UserError(f"cannot read {path}: not {what} OpenCV can decode "
                            "(or the file is damaged)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.5 <= fps <= 1000 else DEFAULT_FPS

    def __iter__(self) -> Iterator[Frame]:
        pacer = _Pacer(self.realtime, self.stop)
        index = passes = 0
        while True:
            delivered = 0
            while True:
                ok, image = self._cap.read()
                if not ok or image is None:
                    break
                t = index / self.fps
                pacer.wait(t)
                yield Frame(index, image, t)
                index += 1
                delivered += 1
            passes += 1
            if not self.loop or delivered == 0 or _stopped(self.stop):
                return
            self._cap.release()
            self._cap = self._open()

    def close(self) -> None:
        self._cap.release()


class ImagesSource(FrameSource):
    """One image, or every image of a folder sorted by name; each is one frame."""

    def __init__(self, paths: list[Path], description: str, kind: str, *,
                 realtime: bool = False, loop: bool = False,
                 stop: threading.Event | None = None,
                 on_status: StatusFn | None = None) -> None:
        super().__init__(description)
        self.kind = kind
        self.paths = paths
        self.realtime, self.loop, self.stop = realtime, loop, stop
        self.on_status = on_status
        self.fps = IMAGE_FPS
        self._first = None
        if kind == "image":  # fail now, before the caller creates any output
            self._first = _read_image(paths[0])

    def __iter__(self) -> Iterator[Frame]:
        pacer = _Pacer(self.realtime, self.stop)
        index = passes = 0
        while True:
            delivered = 0
            for path in self.paths:
                try:
                    image = self._first if self._first is not None else \
                        read_image_file(path)
                except UserError as exc:
                    if passes == 0:  # a looped folder reports each bad file once
                        self.skipped += 1
                        _report(self.on_status, f"skipped: {exc}")
                    continue
                t = index / self.fps
                pacer.wait(t)
                yield Frame(index, image, t, str(path))
                index += 1
                delivered += 1
            passes += 1
            if not self.loop or delivered == 0 or _stopped(self.stop):
                return


def _read_image(path: Path) -> np.ndarray:
    return read_image_file(path)


def read_image_file(path: str | os.PathLike[str]) -> np.ndarray:
    """The image at ``path`` as 8-bit BGR; one-line :class:`UserError` for a missing,
    unreadable, damaged or absurdly large file (a 74-byte PNG can claim 100000x100000 pixels:
    OpenCV then raises instead of returning None)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"no such file or folder: {path}")
    try:
        image = load_image(p)
    except OSError as exc:
        raise UserError(f"cannot read {p}: {exc.strerror or exc}") from None
    except cv2.error as exc:
        too_big = "MAX_IMAGE_PIXELS" in str(exc) or "size" in str(exc).lower()
        raise UserError(f"cannot read {p}: " + ("its header claims more pixels than OpenCV "
                                                 "will decode" if too_big else
                                                 "OpenCV failed to decode it") +
                        " (damaged or not a real image)") from None
    except MemoryError:
        raise UserError(f"cannot read {p}: too large to decode in this machine's memory"
                        ) from None
    if image is None:
        kind = "an image" if p.suffix.lower() in IMAGE_EXTS else "an image file"
        raise UserError(f"cannot read {p}: not {kind} OpenCV can decode (or it is damaged)")
    return image


# ---------------------------------------------------------------------------------------------
# live sources


class LiveSource(FrameSource):
    """A camera or a network stream: reopened with backoff when it stops delivering frames."""

    live = True

    def __init__(self, target: int | str, *, kind: str, stop: threading.Event | None = None,
                 on_status: StatusFn | None = None,
                 opener: Callable[[], Capture] | None = None,
                 backoff: tuple[float, float] = BACKOFF,
                 max_retries: int | None = None) -> None:
        self.kind = kind
        name = f"camera {target}" if kind == "camera" else str(target)
        super().__init__(name)
        self.target = target
        self.stop, self.on_status = stop, on_status
        self.backoff, self.max_retries = backoff, max_retries
        self._open = opener or (lambda: _open_capture(target))
        self._cap = self._open()
        if not self._cap.isOpened():
            self._cap.release()
            raise UserError(_cannot_open(target, kind))
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.5 <= fps <= 1000 else None

    def __iter__(self) -> Iterator[Frame]:
        start = time.monotonic()
        index = 0
        while not _stopped(self.stop):
            ok, image = self._cap.read()
            if ok and image is not None:
                yield Frame(index, image, time.monotonic() - start)
                index += 1
                continue
            if not self._reconnect():
                return

    def _reconnect(self) -> bool:
        """Reopen after a drop, waiting 0.5 s, 1 s, 2 s ... up to 8 s between tries."""
        self._cap.release()
        delay, longest = self.backoff
        attempt = 0
        while not _stopped(self.stop):
            if self.max_retries is not None and attempt >= self.max_retries:
                _report(self.on_status, f"{self.description}: gave up after {attempt} tries")
                return False
            attempt += 1
            _report(self.on_status, f"{self.description} stopped delivering frames; "
                                    f"reopening in {delay:g} s (try {attempt})")
            if self.stop is not None:
                if self.stop.wait(delay):
                    return False
            else:
                time.sleep(delay)
            self._cap = self._open()
            if self._cap.isOpened():
                _report(self.on_status, f"{self.description} is back")
                return True
            self._cap.release()
            delay = min(delay * 2, longest)
        return False

    def close(self) -> None:
        self._cap.release()


def _open_capture(target: int | str) -> Capture:
    if isinstance(target, int):
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        return cv2.VideoCapture(target, backend)
    if str(target).startswith("/dev/video") and sys.platform.startswith("linux"):
        return cv2.VideoCapture(str(target), cv2.CAP_V4L2)
    return cv2.VideoCapture(str(target), cv2.CAP_FFMPEG)


def _cannot_open(target: int | str, kind: str) -> str:
    if kind == "stream":
        return (f"cannot open stream {target}: check the URL, that the server is up and "
                "reachable from here, and the credentials if it needs any")
    devices = sorted(glob.glob("/dev/video*")) if sys.platform.startswith("linux") else []
    if sys.platform.startswith("linux"):
        seen = ("video devices here: " + ", ".join(devices)) if devices else \
            "no /dev/video* device exists on this machine"
    else:
        seen = "try another index"
    return (f"cannot open camera {target} ({seen}); try another --source index, close other "
            "programs using the camera, check permissions (the 'video' group), on a Raspberry "
            "Pi camera module enable it (libcamera / v4l2) or use a USB webcam; without a "
            "camera, pass a video file, an image or a folder as --source")


# ---------------------------------------------------------------------------------------------
# choosing the kind


def open_source(
    source: str | int | os.PathLike[str],
    *,
    realtime: bool = False,
    loop: bool = False,
    stop: threading.Event | None = None,
    on_status: StatusFn | None = None,
) -> FrameSource:
    """The frame source ``source`` names: camera index, video, image, folder, or stream URL.

    Raises :class:`UserError` (one line, what to try) for a missing path, an unreadable file,
    a folder without images, or a camera or stream that cannot be opened.
    """
    text = str(source).strip()
    if isinstance(source, int) or (text.isdigit() and not Path(text).exists()):
        return LiveSource(int(text), kind="camera", stop=stop, on_status=on_status)
    if text.lower().startswith(STREAM_SCHEMES):
        return LiveSource(text, kind="stream", stop=stop, on_status=on_status)
    if text.startswith("/dev/video"):
        return LiveSource(text, kind="camera", stop=stop, on_status=on_status)
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(f"no such file, folder or camera: {text}")
    kw: dict[str, Any] = {"realtime": realtime, "loop": loop, "stop": stop}
    if path.is_dir():
        images = folder_images(path)
        return ImagesSource(images, str(path), "folder", on_status=on_status, **kw)
    if path.suffix.lower() in IMAGE_EXTS:
        return ImagesSource([path], str(path), "image", on_status=on_status, **kw)
    return VideoSource(path, **kw)


def folder_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name; UserError if there are none."""
    images = sorted(p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not images:
        raise UserError(f"no images in folder {folder} (looked for "
                        f"{', '.join(sorted(e for e in IMAGE_EXTS if e[1:] in _COMMON))})")
    return images


_COMMON = {"png", "jpg", "jpeg", "bmp", "tif", "webp"}


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def _report(on_status: StatusFn | None, text: str) -> None:
    if on_status is not None:
        on_status(text)
