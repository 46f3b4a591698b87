"""The HTTP server of the web view: live page, MJPEG stream, draw pad, ``/predict``, ``/healthz``.

:class:`WebServer` is the standard library's ``ThreadingHTTPServer`` with one handler
(:class:`_Handler`): ``/`` (live page), ``/stream.mjpg``, ``/reading``, ``/status``, ``/draw``,
``POST /predict``, ``/healthz`` and the page assets from ``mnist_edge/web/static/``; the
regions page (``regions --edit``) and the label page (``label DIR``) when given. No
framework and no CDN: the page works offline, and the Pi needs nothing extra installed. Frames
come from a :class:`~mnist_edge.web.hub.LiveHub`; uploads are read by
:class:`~mnist_edge.web.uploads.Predictor`. Nothing in this package imports TensorFlow.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import http.server
import json
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mnist_edge.common.errors import UserError
from mnist_edge.web.hub import LiveHub
from mnist_edge.web.labeler import LabelError
from mnist_edge.web.uploads import (
    DRAW_PAD_READING,
    MAX_UPLOAD_BYTES,
    BadUpload,
    Predictor,
    reader_model_info,
)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
SEND_TIMEOUT_S = 10.0  # a viewer that takes no data for this long is dropped

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


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
    auth: str | None = None  # "user:password" for HTTP basic; None: no login
    editor: Any = None  # a web.editor.RegionEditor: the regions page (``regions --edit``)
    labeler: Any = None  # a web.labeler.Labeler: the label page (``label DIR``)


def parse_auth(text: str) -> str:
    """``user:password`` as given to ``--auth`` (or read from ``--auth-file``), checked."""
    text = text.strip()
    user, sep, password = text.partition(":")
    if not sep or not user or not password or "\n" in text:
        raise UserError("--auth must be USER:PASSWORD (one line, both non-empty)")
    return text


def read_auth_file(path: str | Path) -> str:
    """The ``user:password`` on the first line of a token file (keeps it out of ``ps``)."""
    try:
        first = (Path(path).read_text(encoding="utf-8").splitlines() or [""])[0]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the auth file {path}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        return parse_auth(first)
    except UserError:
        raise UserError(f"auth file {path}: the first line must be USER:PASSWORD") from None


def resolve_auth(auth: str | None, auth_file: str | Path | None) -> str | None:
    """The login from ``--auth`` or ``--auth-file`` (not both), or None."""
    if auth is not None and auth_file is not None:
        raise UserError("give --auth or --auth-file, not both")
    if auth_file is not None:
        return read_auth_file(auth_file)
    return parse_auth(auth) if auth is not None else None


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def open_warning(host: str, auth: str | None) -> str | None:
    """The warning for a server reachable from other machines without a login."""
    if auth is None and not is_loopback(host):
        return (f"warning: listening on {host} without --auth: anyone on the network can watch "
                "the camera and use /predict (add --auth USER:PASSWORD or --auth-file FILE)")
    return None


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

    def _authorized(self, path: str) -> bool:
        """HTTP basic login when the app has one; ``/healthz`` stays open for service managers.
        The comparison takes the same time whatever the guess (``hmac.compare_digest``)."""
        if self.app.auth is None or path == "/healthz":
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        given = b""
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                given = base64.b64decode(value.strip(), validate=True)
        return hmac.compare_digest(given, self.app.auth.encode("utf-8"))

    def _challenge(self, head: bool = False, body_pending: bool = False) -> None:
        extra = {"WWW-Authenticate": 'Basic realm="mnist-edge", charset="UTF-8"'}
        if body_pending:
            self._reject_body(401, "log in first (HTTP basic)", extra=extra)
        else:
            self._json(401, {"error": "log in first (HTTP basic)"}, head, extra=extra)

    def _route_get(self, head: bool) -> None:
        path = urlsplit(self.path).path
        hub = self.app.hub
        if not self._authorized(path):
            self._challenge(head)
            return
        if path == "/":
            if hub is None:
                self._redirect("/regions" if self.app.editor is not None else
                               "/label" if self.app.labeler is not None else "/draw")
            else:
                self._static("live.html", head)
        elif path in ("/draw", "/draw/"):
            self._static("draw.html", head)
        elif path.startswith("/static/"):
            self._static(path[len("/static/"):], head)
        elif path.startswith("/regions") and self.app.editor is not None:
            self._regions_get(path, head)
        elif path.startswith("/label") and self.app.labeler is not None:
            self._label_get(path, head)
        elif path == "/healthz":
            health = self._health()
            self._json(200 if health["status"] == "ok" else 503, health, head)
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
        if not self._authorized(path):
            self._challenge(body_pending=True)
            return
        page = {"/regions": self.app.editor, "/label/move": self.app.labeler}.get(path)
        if page is not None:  # the regions or the label page: JSON in, (status, JSON) out
            body = self._read_body()
            if body is not None:
                self._json(*page.post(body))
            return
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
            self._json(exc.status, {"error": str(exc)}, extra=exc.headers)
            return
        except Exception as exc:  # a bug, not the client's fault: log it, answer, keep serving
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"internal error: {type(exc).__name__}"})
            return
        # Server-Timing: the decode+read time, so a client can tell it from the network's.
        took = f"predict;dur={1000 * (time.perf_counter() - started):.2f}"
        self._json(200, answer, extra={"Server-Timing": took})

    def _regions_get(self, path: str, head: bool) -> None:
        """The regions page, its frame and its state (``regions --edit``)."""
        editor = self.app.editor
        if path in ("/regions", "/regions/"):
            self._static("regions.html", head)
        elif path == "/regions/frame.png":
            self._send(200, editor.png, "image/png", head)
        elif path == "/regions/state":
            self._json(200, editor.state(), head)
        else:
            self._json(404, {"error": f"no such page: {path}"}, head)

    def _label_get(self, path: str, head: bool) -> None:
        """The label page, the set's state and its crops (``label DIR``)."""
        labeler = self.app.labeler
        if path in ("/label", "/label/"):
            self._static("label.html", head)
        elif path == "/label/state":
            self._json(200, labeler.state(), head)
        elif path == "/label/crop":
            crop_id = parse_qs(urlsplit(self.path).query).get("id", [""])[0]
            try:
                body, kind = labeler.image(crop_id)
            except LabelError as exc:
                self._json(exc.status, {"error": str(exc)}, head)
            else:
                self._send(200, body, kind, head)
        else:
            self._json(404, {"error": f"no such page: {path}"}, head)

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

    def _reject_body(self, status: int, message: str, length: int | None = None,
                     extra: dict[str, str] | None = None) -> None:
        """Answer without reading a body, then drain what the client still sends.

        Closing a socket with unread data makes the kernel send RST, which can destroy the answer
        before the client reads it; so: answer, half-close, and discard (bounded) until the client
        closes too.
        """
        self._json(status, {"error": message}, close=True, extra=extra)
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
        failing = self.app.predictor.failing if self.app.predictor is not None else None
        if failing:  # every /predict is a 500: a service manager should see it
            health["status"] = "failing"
            health["error"] = f"the last read failed: {failing}"
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


def build_server(address: str, *, hub: LiveHub | None = None, reader: Any = None,
                 model: dict[str, Any] | None = None, max_upload: int = MAX_UPLOAD_BYTES,
                 log: Callable[[str], None] | None = None, auth: str | None = None,
                 editor: Any = None, read_frame: Any = None, labeler: Any = None) -> WebServer:
    """A bound (not yet serving) server for ``[HOST:]PORT``: live view if ``hub`` is given,
    the regions page if ``editor`` is, the label page if ``labeler`` is."""
    host, port = parse_address(address)
    predictor = Predictor(reader, read_frame=read_frame) if reader is not None else None
    app = WebApp(hub=hub, predictor=predictor,
                 static=load_static(), model=model or (hub.model if hub else {}),
                 max_upload=max_upload, log=log, auth=auth, editor=editor, labeler=labeler)
    return WebServer(app, host, port)


def serve(address: str, model_path: str | Path | None = None, *, runtime: str = "auto",
          threads: int | None = None, max_upload: int = MAX_UPLOAD_BYTES,
          echo: Callable[[str], None] = print, auth: str | None = None,
          meter: Any = None) -> None:
    """``mnist-edge serve``: the draw pad, ``/predict`` and ``/healthz``, until Ctrl-C.

    ``meter(reader)`` (``serve --config``) builds a :class:`~mnist_edge.reading.meter.Meter`:
    ``/predict`` then reads its regions and answers with its values too."""
    from mnist_edge.reading.reader import make_reader

    host, _ = parse_address(address)  # a typo in the address is reported before the model loads
    reader = make_reader(model_path, runtime, threads, **DRAW_PAD_READING)
    read_frame = meter(reader).read if meter is not None else None
    server = build_server(address, reader=reader, model=reader_model_info(reader, model_path),
                          max_upload=max_upload, auth=auth, read_frame=read_frame)
    if (warning := open_warning(host, auth)) is not None:
        echo(warning)
    echo(f"serving the draw pad on {server.url}draw  (model {server.app.model.get('name')}, "
         "Ctrl-C to stop)")
    server.serve_forever()
    echo("server stopped")


@contextlib.contextmanager
def live_server(address: str, model_path: str | Path | None = None, *, runtime: str = "auto",
                threads: int | None = None, max_upload: int = MAX_UPLOAD_BYTES,
                echo: Callable[[str], None] | None = None, auth: str | None = None
                ) -> Iterator[LiveHub]:
    """``webcam --serve``: a hub plus its server in the background, for the length of a run.

    Yields the hub; pass ``hub.publish`` / ``hub.set_status`` to ``webcam.run`` as ``on_frame``
    / ``on_status``. ``/predict`` gets its own reader (same model), so a drawing never waits for
    the camera loop's interpreter, and vice versa.
    """
    from mnist_edge.reading.reader import make_reader

    echo = echo or (lambda text: print(text, file=sys.stderr, flush=True))
    host, _ = parse_address(address)
    reader = make_reader(model_path, runtime, threads, **DRAW_PAD_READING)
    hub = LiveHub(reader_model_info(reader, model_path))
    try:
        server = build_server(address, hub=hub, reader=reader, max_upload=max_upload, auth=auth)
    except BaseException:
        hub.close()
        raise
    server.start()
    if (warning := open_warning(host, auth)) is not None:
        echo(warning)
    echo(f"live view on {server.url}  (draw pad: {server.url}draw)")
    try:
        with _terminate_as_interrupt():  # systemd's stop ends the run like Ctrl-C does
            yield hub
    finally:
        server.close()
