"""Helpers for the web tests: digits drawn as strokes, a frame producer, an MJPEG reader.

The strokes are what a user draws on the pad (a few straight/curved strokes with a round pen),
used both to make PNG uploads and to drive the headless browser's pointer.
"""

from __future__ import annotations

import http.client
import threading
import time

import cv2
import numpy as np

from mnist_edge.web.hub import LiveHub

PAD = 280  # the draw page's canvas size in pixels


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 40) -> list[tuple[float, float]]:
    t = np.linspace(-np.pi / 2, 1.5 * np.pi, n)
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


# Unit coordinates on the pad (x right, y down), one list per stroke.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_ellipse(0.5, 0.5, 0.22, 0.32)],
    3: [[(0.3, 0.2), (0.6, 0.17), (0.7, 0.3), (0.5, 0.48), (0.7, 0.62), (0.65, 0.8),
         (0.3, 0.83)]],
    5: [[(0.7, 0.17), (0.35, 0.17), (0.32, 0.47), (0.6, 0.45), (0.7, 0.62), (0.6, 0.8),
         (0.3, 0.8)]],
    7: [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]],
}


def draw_digit(label: int, size: int = PAD, width: int = 20) -> np.ndarray:
    """The pad's picture of ``label``: black round-pen strokes on white, like the canvas."""
    img = np.full((size, size), 255, np.uint8)
    for stroke in STROKES[label]:
        pts = (np.array(stroke) * size).astype(np.int32)
        cv2.polylines(img, [pts], False, 0, width, cv2.LINE_AA)
    return img


def png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def frame_number_image(n: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A BGR frame that shows its own number, so every published frame differs."""
    w, h = size
    frame = np.full((h, w, 3), 235, np.uint8)
    cv2.putText(frame, f"frame {n}", (40, 240), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (20, 20, 20), 4)
    cv2.rectangle(frame, (0, 0), (w - 1, h - 1), (0, 160, 0), 3)
    return frame


class FrameProducer:
    """A stand-in camera loop: publishes numbered frames and a fixed reading to a hub."""

    def __init__(self, hub: LiveHub, fps: float = 40.0, labels: tuple[int, ...] = (4, 2)) -> None:
        self.hub = hub
        self.interval = 1.0 / fps
        self.labels = labels
        self.published = 0
        self.slowest_publish = 0.0
        self.running = threading.Event()
        self.running.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def reading(self, n: int) -> dict:
        digits = [{"label": d, "confidence": 0.9 + 0.01 * i, "box": [60 + 120 * i, 100, 80, 120]}
                  for i, d in enumerate(self.labels)]
        return {"frame": n, "time": round(n * self.interval, 3), "digits": digits}

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.running.is_set():
                frame = frame_number_image(self.published)
                started = time.perf_counter()
                self.hub.publish(frame, self.reading(self.published))
                self.slowest_publish = max(self.slowest_publish, time.perf_counter() - started)
                self.published += 1
            self._stop.wait(self.interval)

    def start(self) -> FrameProducer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def read_mjpeg(response: http.client.HTTPResponse, n: int) -> list[bytes]:
    """The next ``n`` JPEGs of a ``multipart/x-mixed-replace`` stream, parsed strictly."""
    frames = []
    while len(frames) < n:
        boundary = response.readline()
        assert boundary == b"--frame\r\n", boundary
        headers = {}
        while (line := response.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        jpeg = response.read(int(headers["content-length"]))
        assert response.read(2) == b"\r\n"
        frames.append(jpeg)
    return frames


def make_clip(path, labels: tuple[int, ...] = (3, 8), frames: int = 15, fps: float = 10.0):
    """A clip of one still page with printed digits, as a camera pointed at a sheet sees it."""
    from mnist_edge.testing import synth

    scene = synth.make_scene(np.random.default_rng(3), "printed", labels=list(labels),
                             hard=False)
    height, width = scene.frame.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for _ in range(frames):
        writer.write(scene.frame)
    writer.release()
    return path


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
