"""The live hub: hands the recognition loop's frames and readings to the web page's viewers.

:class:`LiveHub` sits between the recognition loop and the viewers. ``publish(frame, reading)``
only stores a reference and wakes one encoder thread, so the loop never waits for a JPEG encoder
or a slow network. The encoder turns the *latest* frame into a JPEG once (not once per viewer),
at most ``max_stream_fps`` times a second and only while someone watches; each viewer then sends
whatever JPEG is newest when its socket is ready. A slow viewer therefore drops frames, never
piles them up: the hub holds one frame and one JPEG, whatever the viewers do.

The recognition code (:mod:`mnist_edge.reading.live`) knows nothing about HTTP: it calls the
``on_frame``/``on_status`` callbacks it is given, which are :meth:`LiveHub.publish` and
:meth:`LiveHub.set_status`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

MIN_FPS_FRAMES = 6  # frames needed before a rate is reported
STALE_AFTER_S = 2.0  # no frame for this long: the page says the camera is not live
KEEPALIVE_S = 1.0  # resend the last JPEG this often when no new frame comes (finds dead viewers)


class LiveHub:
    """The latest annotated frame, its JPEG, the latest reading and the camera's state.

    Thread-safe. One lock guards a handful of references and is held for microseconds; the JPEG
    is encoded outside it by one background thread. Callers must not modify a frame after
    publishing it (the hub keeps a reference instead of copying every frame).
    """

    def __init__(
        self,
        model: dict[str, Any] | None = None,
        *,
        jpeg_quality: int = 80,
        max_stream_fps: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = dict(model or {})
        self.jpeg_quality = int(jpeg_quality)
        self.min_interval = 1.0 / max_stream_fps if max_stream_fps > 0 else 0.0
        self._clock = clock
        self._lock = threading.Lock()
        self._new_frame = threading.Condition(self._lock)  # wakes the encoder
        self._new_jpeg = threading.Condition(self._lock)  # wakes the viewers
        self._closed = threading.Event()
        self._frame: np.ndarray | None = None
        self._frame_seq = 0
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._viewers = 0
        self._reading: dict[str, Any] | None = None
        self._times: deque[float] = deque(maxlen=60)
        self._last_frame_at: float | None = None
        self._message = "waiting for the first frame"
        self.encoded_frames = 0
        # name -> callable giving more JSON for /status (a meter's values, MQTT's connection)
        self.status_extras: dict[str, Callable[[], Any]] = {}
        self._encoder = threading.Thread(target=self._encode_loop, name="mjpeg-encoder",
                                         daemon=True)
        self._encoder.start()

    # -- producer side (the recognition loop) --------------------------------------------------

    def publish(self, frame: np.ndarray, reading: dict[str, Any]) -> None:
        """Take the newest annotated frame and reading; returns at once (the loop's on_frame)."""
        now = self._clock()
        with self._lock:
            self._frame = frame
            self._frame_seq += 1
            self._reading = reading
            self._times.append(now)
            self._last_frame_at = now
            if self._viewers:
                self._new_frame.notify()

    def set_status(self, text: str) -> None:
        """Keep the camera's last status line (dropped, reconnecting): the loop's on_status."""
        with self._lock:
            self._message = str(text)

    def close(self) -> None:
        """Stop the encoder and release every viewer (their streams end)."""
        self._closed.set()
        with self._lock:
            self._new_frame.notify_all()
            self._new_jpeg.notify_all()
        self._encoder.join(timeout=2)

    # -- consumer side (HTTP handlers) ---------------------------------------------------------

    @property
    def viewers(self) -> int:
        """How many MJPEG viewers are connected now."""
        with self._lock:
            return self._viewers

    def reading(self) -> dict[str, Any] | None:
        """The latest reading (the ``--jsonl`` line's dict), or None before the first frame."""
        with self._lock:
            return self._reading

    def fps(self) -> float:
        """Frames published per second over the last (up to) 60 frames; 0 until there are
        ``MIN_FPS_FRAMES`` (the first two frames' gap measures start-up, not the stream)."""
        with self._lock:
            times = list(self._times)
        if len(times) < MIN_FPS_FRAMES or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def camera_state(self) -> dict[str, Any]:
        """``{"state": "live"|"waiting", "message": str, "age": s}``.

        "live" is decided by frame arrival, not by parsing status texts: a camera that has sent a
        frame within :data:`STALE_AFTER_S` is live, whatever the last status line said.
        """
        with self._lock:
            last, message = self._last_frame_at, self._message
        age = None if last is None else self._clock() - last
        if age is not None and age < STALE_AFTER_S:
            state, message = "live", ""
        else:
            state = "waiting"
        return {"state": state, "message": message,
                "age": None if age is None else round(age, 3)}

    def status(self) -> dict[str, Any]:
        """Everything the live page shows, in one JSON-able dict."""
        with self._lock:
            frames, viewers, reading = self._frame_seq, self._viewers, self._reading
        camera = self.camera_state()
        return {
            "mode": "live",
            "model": self.model,
            "camera": camera,
            "fps": round(self.fps(), 2) if camera["state"] == "live" else 0.0,
            "frames": frames,
            "viewers": viewers,
            "reading": reading,
            **{name: fn() for name, fn in list(self.status_extras.items())},
        }

    @contextlib.contextmanager
    def viewer(self) -> Iterator[Callable[[], bytes | None]]:
        """Register a stream viewer; yields ``next_jpeg()`` which blocks for a newer JPEG.

        ``next_jpeg()`` returns the newest JPEG once it is newer than the last one returned, the
        last JPEG again after :data:`KEEPALIVE_S` without news (so a dead socket is found even
        when the camera is down), or None when the hub closes. Leaving the block unregisters.
        """
        last_seq = 0

        def next_jpeg() -> bytes | None:
            nonlocal last_seq
            with self._lock:
                self._new_jpeg.wait_for(
                    lambda: self._closed.is_set() or self._jpeg_seq > last_seq, KEEPALIVE_S
                )
                if self._closed.is_set():
                    return None
                last_seq = self._jpeg_seq
                return self._jpeg

        with self._lock:
            self._viewers += 1
            self._new_frame.notify()  # a frame may be waiting to be encoded for this viewer
        try:
            yield next_jpeg
        finally:
            with self._lock:
                self._viewers -= 1

    def latest_jpeg(self) -> bytes | None:
        """The newest encoded JPEG (None if nobody watched yet)."""
        with self._lock:
            return self._jpeg

    # -- the encoder thread --------------------------------------------------------------------

    def _encode_loop(self) -> None:
        """Encode the newest frame whenever it changed and someone watches, rate-limited."""
        import cv2

        params = [int(cv2.IMWRITE_JPEG_QUALITY), self.jpeg_quality]
        while not self._closed.is_set():
            with self._lock:
                self._new_frame.wait_for(
                    lambda: self._closed.is_set()
                    or (self._viewers > 0 and self._frame_seq > self._jpeg_seq)
                )
                if self._closed.is_set():
                    return
                frame, seq = self._frame, self._frame_seq
            started = self._clock()
            ok, buf = cv2.imencode(".jpg", frame, params)
            if ok:
                with self._lock:
                    self._jpeg, self._jpeg_seq = buf.tobytes(), seq
                    self.encoded_frames += 1
                    self._new_jpeg.notify_all()
            # Rate limit: the loop may run at 300 FPS; a browser needs no more than ~30.
            self._closed.wait(max(0.0, self.min_interval - (self._clock() - started)))
