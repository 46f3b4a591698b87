"""A live view in the browser: MJPEG stream, latest reading, and a draw-a-digit pad.

A Raspberry Pi reading digits usually has no monitor, so the camera loop can publish what it
sees to a small web server instead. Two pieces, kept apart on purpose:

* :class:`LiveHub` sits between the recognition loop and the viewers. ``publish(frame, reading)``
  only stores a reference and wakes one encoder thread, so the loop never waits for a JPEG
  encoder or a slow network. The encoder turns the *latest* frame into a JPEG once (not once per
  viewer), at most ``max_stream_fps`` times a second and only while someone watches; each viewer
  then sends whatever JPEG is newest when its socket is ready. A slow viewer therefore drops
  frames, never piles them up: the hub holds one frame and one JPEG, whatever the viewers do.
* :class:`WebServer`, the standard library's ``ThreadingHTTPServer`` with one handler
  (:class:`_Handler`): ``/`` (live page), ``/stream.mjpg``, ``/reading``, ``/status``, ``/draw``,
  ``POST /predict``, ``/healthz`` and the page assets from ``mnist_edge/web/static/``. No
  framework and no CDN: the page works offline, and the Pi needs nothing extra installed.

The recognition code (:mod:`mnist_edge.reading.live`) knows nothing about HTTP: it calls the
``on_frame``/``on_status`` callbacks it is given, which are :meth:`LiveHub.publish` and
:meth:`LiveHub.set_status` here. Nothing in this module imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from mnist_edge.common.errors import UserError

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # a phone photo fits; a canvas PNG is ~10 KB
MAX_IMAGE_PIXELS = 4096 * 4096  # a tiny PNG can claim 60000x60000: refuse before decoding
STALE_AFTER_S = 2.0  # no frame for this long: the page says the camera is not live
KEEPALIVE_S = 1.0  # resend the last JPEG this often when no new frame comes (finds dead viewers)
SEND_TIMEOUT_S = 10.0  # a viewer that takes no data for this long is dropped

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


# ---------------------------------------------------------------------------------------------
# the hub: latest frame, latest JPEG, latest reading, camera state


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
        """Frames published per second over the last (up to) 60 frames."""
        with self._lock:
            times = list(self._times)
        if len(times) < 2 or times[-1] <= times[0]:
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


# ---------------------------------------------------------------------------------------------
# /predict: an uploaded image -> digits


class BadUpload(Exception):
    """An upload the server refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG or JPEG header, read before decoding anything.

    Raises :class:`BadUpload` (400) for anything that is not a PNG or JPEG.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg_size(data)
    raise BadUpload(400, "the body is not a PNG or JPEG image")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk the JPEG markers to the first start-of-frame (SOFn) and read its size."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise BadUpload(400, "the JPEG is truncated or has no frame header")


def decode_upload(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """A PNG/JPEG body as a BGR (or gray) uint8 image; transparency is laid on white paper."""
    import cv2

    width, height = image_size(data)
    if width * height > max_pixels:
        raise BadUpload(413, f"the image is {width}x{height}; the limit is {max_pixels:,} pixels")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise BadUpload(400, "the image could not be decoded (corrupt or unsupported PNG/JPEG)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        # A canvas PNG is transparent where nothing was drawn: that is paper, i.e. white.
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        image = (image[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return image


class Predictor:
    """``POST /predict``: one :class:`~mnist_edge.reading.reader.DigitReader`, shared behind a lock.

    The interpreter is not thread-safe and a request takes a few milliseconds, so requests take
    turns instead of each building its own interpreter.
    """

    def __init__(self, reader: Any, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
        self.reader = reader
        self.max_pixels = max_pixels
        self._lock = threading.Lock()

    def predict(self, data: bytes) -> dict[str, Any]:
        """The JSON answer for an uploaded image: ``{"digits": [{label, confidence, box,
        probabilities}]}``."""
        image = decode_upload(data, self.max_pixels)
        with self._lock:
            digits = self.reader.read(image)
        return {"digits": [d.to_dict(probabilities=True) for d in digits]}


def model_info(model_path: str | Path, runtime: str | None = None) -> dict[str, Any]:
    """What the page shows about the model: file name, size, runtime, and the sidecar's facts.

    ``convert`` writes ``<model>.json`` next to a ``.tflite``; its accuracy is shown when there.
    """
    path = Path(model_path)
    info: dict[str, Any] = {"name": path.name}
    with contextlib.suppress(OSError):
        info["bytes"] = path.stat().st_size
    if runtime:
        info["runtime"] = runtime
    with contextlib.suppress(OSError, ValueError):
        sidecar = json.loads(path.with_suffix(".json").read_text())
        for key in ("test_accuracy", "accuracy", "quantization", "arch"):
            if key in sidecar and isinstance(sidecar[key], str | int | float):
                info[key] = sidecar[key]
    return info


# ---------------------------------------------------------------------------------------------
# the HTTP server


def parse_address(text: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``"8080"``, ``"0.0.0.0:8080"``, ``"localhost:0"`` or ``"[::1]:8080"`` -> (host, port).

    A bare port binds to 127.0.0.1: listening on every interface is an explicit choice.
    """
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = default_host, text
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UserError(f"bad address {text!r}: write an IPv6 host in brackets, e.g. [::1]:8080")
    if not host:
        host = default_host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UserError(f"bad address {text!r}: expected [HOST:]PORT with PORT 0-65535")
    return host, int(port_text)


def load_static(directory: Path = STATIC_DIR) -> dict[str, tuple[bytes, str]]:
    """The page assets, read once at start-up: served from memory, never from a user path."""
    files = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in CONTENT_TYPES:
            files[path.name] = (path.read_bytes(), CONTENT_TYPES[path.suffix])
    if "live.html" not in files or "draw.html" not in files:
        raise UserError(f"the web page files are missing from {directory}: reinstall mnist-edge")
    return files


@dataclass
class WebApp:
    """What the handler serves: the hub (None without a camera), the predictor, the assets."""

    hub: LiveHub | None
    predictor: Predictor | None
    static: dict[str, tuple[bytes, str]]
    model: dict[str, Any]
    max_upload: int = MAX_UPLOAD_BYTES
    started: float = 0.0
    log: Callable[[str], None] | None = None


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes requests to the app; every response has a length so connections are reused."""

    protocol_version = "HTTP/1.1"
    server_version = "mnist-edge"
    timeout = 30  # an idle keep-alive connection holds a thread this long at most
    # Headers and body go out as separate writes; with Nagle's algorithm on, the client's
    # delayed ACK would hold every small answer back ~40 ms.
    disable_nagle_algorithm = True
    app: WebApp  # set on a per-server subclass

    # -- routing -------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (the standard library's naming)
        self._route_get(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._route_get(head=True)

    def _route_get(self, head: bool) -> None:
        path = urlsplit(self.path).path
        hub = self.app.hub
        if path == "/":
            if hub is None:
                self._redirect("/draw")
            else:
                self._static("live.html", head)
        elif path in ("/draw", "/draw/"):
            self._static("draw.html", head)
        elif path.startswith("/static/"):
            self._static(path[len("/static/"):], head)
        elif path == "/healthz":
            self._json(200, self._health(), head)
        elif path == "/status":
            self._json(200, self._status(), head)
        elif path in ("/reading", "/stream.mjpg") and hub is None:
            self._json(404, {"error": "no camera: this server runs the draw pad only "
                                      "(start 'mnist-edge webcam --serve' for a live view)"}, head)
        elif path == "/reading":
            reading = hub.reading()  # type: ignore[union-attr]
            if reading is None:
                self._json(503, {"error": "no reading yet: waiting for the first frame"}, head)
            else:
                self._json(200, reading, head)
        elif path == "/stream.mjpg":
            self._stream(hub, head)  # type: ignore[arg-type]
        elif path == "/predict":
            self._json(405, {"error": "POST a PNG or JPEG image to /predict"}, head,
                       extra={"Allow": "POST"})
        else:
            self._json(404, {"error": f"no such page: {path}"}, head)

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path != "/predict":
            self._reject_body(404, f"no such endpoint: POST {path}")
            return
        if self.app.predictor is None:
            self._reject_body(503, "no model loaded")
            return
        body = self._read_body()
        if body is None:
            return
        started = time.perf_counter()
        try:
            answer = self.app.predictor.predict(body)
        except BadUpload as exc:
            self._json(exc.status, {"error": str(exc)})
            return
        except Exception as exc:  # a bug, not the client's fault: log it, answer, keep serving
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"internal error: {type(exc).__name__}"})
            return
        # Server-Timing: the decode+read time, so a client can tell it from the network's.
        took = f"predict;dur={1000 * (time.perf_counter() - started):.2f}"
        self._json(200, answer, extra={"Server-Timing": took})

    def handle_expect_100(self) -> bool:
        """Refuse an oversized upload before the client sends it (``Expect: 100-continue``)."""
        length = self._content_length()
        if length is not None and length > self.app.max_upload:
            self._json(413, self._too_large(length), close=True)
            return False
        return super().handle_expect_100()

    # -- bodies --------------------------------------------------------------------------------

    def _content_length(self) -> int | None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return None
        return length if length >= 0 else None

    def _too_large(self, length: int) -> dict[str, str]:
        return {"error": f"upload of {length:,} bytes is over the {self.app.max_upload:,}-byte "
                         "limit"}

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411/413/400 (size checked before reading)."""
        if self.headers.get("Transfer-Encoding", "").lower() not in ("", "identity"):
            self._json(411, {"error": "send the image with a Content-Length (no chunked upload)"},
                       close=True)
            return None
        length = self._content_length()
        if length is None:
            self._json(411, {"error": "a Content-Length header is required"}, close=True)
            return None
        if length > self.app.max_upload:
            self._reject_body(413, self._too_large(length)["error"], length)
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return None  # the client went away mid-upload: nobody to answer
        return body

    def _reject_body(self, status: int, message: str, length: int | None = None) -> None:
        """Answer without reading a body, then drain what the client still sends.

        Closing a socket with unread data makes the kernel send RST, which can destroy the answer
        before the client reads it; so: answer, half-close, and discard (bounded) until the client
        closes too.
        """
        self._json(status, {"error": message}, close=True)
        length = self._content_length() if length is None else length
        if not length:
            return
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            budget = min(length, 4 * self.app.max_upload + (1 << 20))
            while budget > 0:
                chunk = self.connection.recv(min(65536, budget))
                if not chunk:
                    break
                budget -= len(chunk)

    # -- responses -----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, head: bool = False,
              extra: dict[str, str] | None = None, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, head: bool = False,
              extra: dict[str, str] | None = None, close: bool = False) -> None:
        body = (json.dumps(obj) + "\n").encode()
        self._send(status, body, "application/json", head, extra, close)

    def _static(self, name: str, head: bool) -> None:
        asset = self.app.static.get(name)
        if asset is None:
            self._json(404, {"error": f"no such file: {name}"}, head)
        else:
            self._send(200, asset[0], asset[1], head)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain", extra={"Location": location})

    def _health(self) -> dict[str, Any]:
        health: dict[str, Any] = {
            "status": "ok",
            "mode": "draw" if self.app.hub is None else "live",
            "model": self.app.model.get("name"),
            "uptime": round(time.monotonic() - self.app.started, 1),
        }
        if self.app.hub is not None:
            health["camera"] = self.app.hub.camera_state()["state"]
        return health

    def _status(self) -> dict[str, Any]:
        if self.app.hub is None:
            return {"mode": "draw", "model": self.app.model}
        return self.app.hub.status()

    def _stream(self, hub: LiveHub, head: bool) -> None:
        """``multipart/x-mixed-replace`` JPEGs until the viewer leaves or the hub closes."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        self.connection.settimeout(SEND_TIMEOUT_S)
        with hub.viewer() as next_jpeg, contextlib.suppress(OSError):
            # OSError: the viewer disconnected (reset/broken pipe) or stopped reading (timeout).
            while (jpeg := next_jpeg()) is not None:
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        if self.app.log is not None:
            self.app.log(f"{self.address_string()} {format % args}")


class _Server(http.server.ThreadingHTTPServer):
    """One thread per connection; remembers open connections so closing ends them too."""

    daemon_threads = True  # a stuck viewer never keeps the process alive
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is normal for a web server: not worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End keep-alive connections and streams still open (their threads then exit)."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Server6(_Server):
    address_family = socket.AF_INET6


class WebServer:
    """The HTTP server for one :class:`WebApp`, bound at construction (so port 0 works)."""

    def __init__(self, app: WebApp, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        app.started = time.monotonic()
        handler = type("Handler", (_Handler,), {"app": app})
        server_cls = _Server6 if ":" in host else _Server
        try:
            self.httpd = server_cls((host, port), handler)
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                            + (" (is another server using that port?)"
                               if exc.errno in (98, 48) else ""))
        self.app = app
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """The address to open; for 0.0.0.0/:: the host name of this machine is shown."""
        host = self.host
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname()
        return f"http://[{host}]:{self.port}/" if ":" in host else f"http://{host}:{self.port}/"

    def start(self) -> WebServer:
        """Serve from a background thread (for ``webcam --serve``, whose main thread reads)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="web-server",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until Ctrl-C or SIGTERM, then shut down cleanly."""
        with _terminate_as_interrupt(), contextlib.suppress(KeyboardInterrupt):
            self.httpd.serve_forever(poll_interval=0.2)
        self.close()

    def close(self) -> None:
        """Stop accepting, end the streams, release the port."""
        if self.app.hub is not None:
            self.app.hub.close()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
        self.httpd.close_connections()

    def __enter__(self) -> WebServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (systemd's stop) takes the same clean path as Ctrl-C, in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------
# what the CLI calls


def make_reader(model_path: str | Path | None, runtime: str = "auto",
                threads: int | None = None) -> Any:
    """The draw pad's reader: dark ink on white (what the canvas sends), every digit kept."""
    from mnist_edge.reading.reader import DigitReader

    return DigitReader(model_path, runtime=runtime, threads=threads, invert=False,
                       min_confidence=0.0)


def reader_model_info(reader: Any, model_path: str | Path | None) -> dict[str, Any]:
    """:func:`model_info` for a reader, finding its model path and runtime where it keeps them."""
    classifier = getattr(reader, "classifier", None)
    path = model_path or getattr(reader, "model_path", None) or getattr(
        classifier, "model_path", None)
    runtime = getattr(getattr(classifier, "runtime", None), "name", None)
    return model_info(path or "model", runtime)


def build_server(address: str, *, hub: LiveHub | None = None, reader: Any = None,
                 model: dict[str, Any] | None = None, max_upload: int = MAX_UPLOAD_BYTES,
                 log: Callable[[str], None] | None = None) -> WebServer:
    """A bound (not yet serving) server for ``[HOST:]PORT``: live view if ``hub`` is given."""
    host, port = parse_address(address)
    app = WebApp(hub=hub, predictor=Predictor(reader) if reader is not None else None,
                 static=load_static(), model=model or (hub.model if hub else {}),
                 max_upload=max_upload, log=log)
    return WebServer(app, host, port)


def serve(address: str, model_path: str | Path | None = None, *, runtime: str = "auto",
          threads: int | None = None, max_upload: int = MAX_UPLOAD_BYTES,
          echo: Callable[[str], None] = print) -> None:
    """``mnist-edge serve``: the draw pad, ``/predict`` and ``/healthz``, until Ctrl-C."""
    parse_address(address)  # a typo in the address is reported before the model loads
    reader = make_reader(model_path, runtime, threads)
    server = build_server(address, reader=reader, model=reader_model_info(reader, model_path),
                          max_upload=max_upload)
    echo(f"serving the draw pad on {server.url}draw  (model {server.app.model.get('name')}, "
         "Ctrl-C to stop)")
    server.serve_forever()
    echo("server stopped")


@contextlib.contextmanager
def live_server(address: str, model_path: str | Path | None = None, *, runtime: str = "auto",
                threads: int | None = None, max_upload: int = MAX_UPLOAD_BYTES,
                echo: Callable[[str], None] | None = None) -> Iterator[LiveHub]:
    """``webcam --serve``: a hub plus its server in the background, for the length of a run.

    Yields the hub; pass ``hub.publish`` / ``hub.set_status`` to ``webcam.run`` as ``on_frame``
    / ``on_status``. ``/predict`` gets its own reader (same model), so a drawing never waits for
    the camera loop's interpreter, and vice versa.
    """
    echo = echo or (lambda text: print(text, file=sys.stderr, flush=True))
    parse_address(address)
    reader = make_reader(model_path, runtime, threads)
    hub = LiveHub(reader_model_info(reader, model_path))
    try:
        server = build_server(address, hub=hub, reader=reader, max_upload=max_upload)
    except BaseException:
        hub.close()
        raise
    server.start()
    echo(f"live view on {server.url}  (draw pad: {server.url}draw)")
    try:
        with _terminate_as_interrupt():  # systemd's stop ends the run like Ctrl-C does
            yield hub
    finally:
        server.close()
