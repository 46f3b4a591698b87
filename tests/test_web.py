"""The web view: a real server on a free localhost port, real HTTP clients, a real model.

Covers the live page, the MJPEG stream (frames decode, several viewers, a viewer leaving, a slow
viewer), ``/reading``, ``/status``, ``/healthz``, ``POST /predict`` with drawn digits and with
bad uploads (400/411/413), and the ``serve`` command through a subprocess (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import HEAVY_MODULES
from typer.testing import CliRunner
from web_helpers import (
    STROKES,
    FrameProducer,
    draw_digit,
    make_clip,
    png,
    read_mjpeg,
    wait_until,
)

from mnist_edge.cli import app
from mnist_edge.common.errors import UserError
from mnist_edge.reading.reader import make_reader
from mnist_edge.web import hub as web_hub
from mnist_edge.web import server as web
from mnist_edge.web import uploads

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def reader(tflite_model):
    return make_reader(tflite_model, **uploads.DRAW_PAD_READING)


@pytest.fixture
def live(reader):
    """A live server with a stand-in camera loop publishing 40 numbered frames a second."""
    hub = web_hub.LiveHub(uploads.reader_model_info(reader, None), max_stream_fps=60)
    server = web.build_server("127.0.0.1:0", hub=hub, reader=reader).start()
    producer = FrameProducer(hub, fps=40).start()
    yield server, hub, producer
    producer.stop()
    server.close()


@pytest.fixture(scope="module")
def draw_server(reader):
    """The ``serve`` app (no camera) with a small upload limit, shared by the module."""
    server = web.build_server("127.0.0.1:0", reader=reader, max_upload=64 * 1024,
                              model=uploads.reader_model_info(reader, None)).start()
    yield server
    server.close()


def get(server, path: str, method: str = "GET", body: bytes | None = None,
        headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@contextlib.contextmanager
def open_stream(server) -> Iterator[http.client.HTTPResponse]:
    """A stream viewer; leaving the block really closes its socket (response and connection)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/stream.mjpg")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
        yield response
        response.close()
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# pure functions


@pytest.mark.parametrize("text, expected", [
    ("8080", ("127.0.0.1", 8080)),
    (":9000", ("127.0.0.1", 9000)),
    ("0.0.0.0:8080", ("0.0.0.0", 8080)),
    ("localhost:0", ("localhost", 0)),
    ("[::1]:8081", ("::1", 8081)),
])
def test_parse_address(text, expected):
    assert web.parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "http", "99999", "host:", "::1:80", "1.2.3.4:-1"])
def test_parse_address_rejects(text):
    with pytest.raises(UserError, match="address"):
        web.parse_address(text)


def test_image_size_reads_headers_without_decoding():
    image = np.zeros((37, 91, 3), np.uint8)
    for ext in (".png", ".jpg"):
        data = cv2.imencode(ext, image)[1].tobytes()
        assert uploads.image_size(data) == (91, 37)
    progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert uploads.image_size(progressive) == (91, 37)
    for junk in (b"", b"hello", b"GIF89a....", b"\xff\xd8\xff\xe0\x00"):
        with pytest.raises(uploads.BadUpload) as info:
            uploads.image_size(junk)
        assert info.value.status == 400


def test_decode_upload_lays_transparency_on_white():
    rgba = np.zeros((20, 20, 4), np.uint8)  # fully transparent black: an untouched canvas
    rgba[5:15, 9:11] = (0, 0, 0, 255)  # one opaque black stroke
    image = uploads.decode_upload(png(rgba))
    assert image.shape == (20, 20) and image.dtype == np.uint8  # decoded to grey
    assert image[0, 0] == 255
    assert image[10, 10] == 0
    half = np.zeros((4, 4, 4), np.uint16)
    half[..., 3] = 32768  # 16-bit, half transparent black: mid grey
    assert abs(int(uploads.decode_upload(png(half))[0, 0]) - 128) <= 1


def test_decode_memory_is_bounded_by_depth_and_channels(reader):
    """Issue 13.1: a 138 KB 16-bit RGBA 4096x4096 PNG decodes to 128 MB: refused by its header."""
    bomb = cv2.imencode(".png", np.full((4096, 4096, 4), 65535, np.uint16),
                        [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
    assert len(bomb) < 200_000
    with pytest.raises(uploads.BadUpload) as info:
        uploads.Predictor(reader).predict(bomb)
    assert info.value.status == 413 and "MB" in str(info.value)
    # Without transparency the same pixels cost 1 byte each (decoded straight to 8-bit grey).
    grey16 = png(np.full((64, 64, 3), 65535, np.uint16))
    assert uploads.decode_cost(grey16) == 64 * 64
    assert uploads.decode_cost(png(np.zeros((64, 64, 4), np.uint16))) == 64 * 64 * 9
    assert uploads.decode_cost(png(np.zeros((64, 64, 4), np.uint8))) == 64 * 64 * 5


def test_concurrent_decodes_beyond_the_budget_get_503_with_retry_after(reader):
    with web.build_server("127.0.0.1:0", reader=reader).start() as server:
        budget = uploads.DecodeBudget(capacity=10 * 2**20, wait_s=0.2)
        server.app.predictor.budget = budget
        body = png(draw_digit(7))
        with budget.hold(budget.capacity):  # other uploads are being decoded
            status, headers, answer = get(server, "/predict", "POST", body)
            assert status == 503 and headers.get("Retry-After") == "1"
            assert "busy" in json.loads(answer)["error"]
        assert budget.used == 0
        status, _, answer = get(server, "/predict", "POST", body)
        assert status == 200 and json.loads(answer)["digits"][0]["label"] == 7


def test_hub_camera_state_follows_frames_not_status_text():
    now = [100.0]
    hub = web_hub.LiveHub(clock=lambda: now[0])
    try:
        assert hub.camera_state()["state"] == "waiting"
        hub.publish(np.zeros((4, 4, 3), np.uint8), {"frame": 0, "time": 0.0, "digits": []})
        assert hub.camera_state()["state"] == "live"
        hub.set_status("camera 0 lost; reconnecting in 1.0 s")
        now[0] += web_hub.STALE_AFTER_S + 0.1
        state = hub.camera_state()
        assert state["state"] == "waiting"
        assert "reconnecting" in state["message"]
        hub.publish(np.zeros((4, 4, 3), np.uint8), {"frame": 1, "time": 0.1, "digits": []})
        assert hub.camera_state() == {"state": "live", "message": "", "age": 0.0}
    finally:
        hub.close()


def test_hub_encodes_only_while_someone_watches():
    hub = web_hub.LiveHub(max_stream_fps=0)
    try:
        for n in range(20):
            hub.publish(np.full((48, 64, 3), n, np.uint8), {"frame": n, "time": 0, "digits": []})
        time.sleep(0.2)
        assert hub.encoded_frames == 0  # nobody watching: no JPEG work at all
        with hub.viewer() as next_jpeg:
            jpeg = next_jpeg()  # the newest frame is encoded for the new viewer
            assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), 1).mean() == pytest.approx(19, 2)
        assert hub.encoded_frames == 1
        assert hub.viewers == 0
    finally:
        hub.close()


# ---------------------------------------------------------------------------------------------
# the live server


def test_live_page_and_assets(live):
    server, _, _ = live
    status, headers, body = get(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert 'src="/stream.mjpg"' in page and 'id="reading"' in page
    assert "http://" not in page and "https://" not in page  # no CDN: works offline
    for name, kind in (("live.js", "text/javascript"), ("style.css", "text/css"),
                       ("draw.js", "text/javascript")):
        status, headers, body = get(server, f"/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
    for path in ("/static/../web.py", "/static/web.py", "/nope"):
        assert get(server, path)[0] == 404
    status, headers, body = get(server, "/", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 100


def test_stream_sends_decodable_jpegs_of_new_frames(live):
    server, hub, producer = live
    with open_stream(server) as response:
        frames = read_mjpeg(response, 6)
    images = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    assert all(img is not None and img.shape == (480, 640, 3) for img in images)
    assert len(set(frames)) >= 5  # new frames, not one frame repeated
    assert hub.encoded_frames <= producer.published


def test_reading_is_the_latest_jsonl_line(live):
    server, _, producer = live
    assert wait_until(lambda: producer.published > 2)
    status, headers, body = get(server, "/reading")
    first = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert set(first) == {"frame", "time", "digits"}
    assert [d["label"] for d in first["digits"]] == [4, 2]
    assert first == producer.reading(first["frame"])
    time.sleep(0.1)
    assert json.loads(get(server, "/reading")[2])["frame"] > first["frame"]


def test_status_and_healthz(live, tflite_model):
    server, _, _ = live
    assert wait_until(lambda: json.loads(get(server, "/status")[2])["fps"] > 10)
    status = json.loads(get(server, "/status")[2])
    assert status["mode"] == "live" and status["camera"]["state"] == "live"
    assert status["model"]["name"] == Path(tflite_model).name
    assert status["model"]["runtime"] in ("litert", "tflite_runtime", "tensorflow")
    assert 20 < status["fps"] < 60  # the producer runs at 40 FPS
    code, _, body = get(server, "/healthz")
    health = json.loads(body)
    assert code == 200 and health["status"] == "ok" and health["camera"] == "live"


def test_reading_before_the_first_frame_is_503(reader):
    hub = web_hub.LiveHub()
    with web.build_server("127.0.0.1:0", hub=hub, reader=reader).start() as server:
        status, _, body = get(server, "/reading")
        assert status == 503 and "no reading yet" in json.loads(body)["error"]
        assert json.loads(get(server, "/status")[2])["camera"]["state"] == "waiting"


def test_closing_the_server_ends_open_connections(reader):
    hub = web_hub.LiveHub()
    server = web.build_server("127.0.0.1:0", hub=hub, reader=reader).start()
    hub.publish(np.zeros((48, 64, 3), np.uint8), {"frame": 0, "time": 0.0, "digits": []})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read()
    viewer = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    viewer.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
    assert viewer.recv(100).startswith(b"HTTP/1.1 200")
    server.close()
    with pytest.raises((http.client.HTTPException, OSError)):  # keep-alive connection ended
        conn.request("GET", "/healthz")
        conn.getresponse().read()
    received = b""
    while chunk := viewer.recv(65536):  # the stream ends (EOF), it does not hang
        received += chunk
    viewer.close()
    conn.close()
    assert hub.viewers == 0


def test_camera_drop_keeps_serving_and_shows_state(live, monkeypatch):
    server, hub, producer = live
    with open_stream(server) as response:
        read_mjpeg(response, 2)
        monkeypatch.setattr(web_hub, "STALE_AFTER_S", 0.3)
        producer.running.clear()  # the camera stops delivering
        hub.set_status("camera lost; reconnecting")
        assert wait_until(lambda: json.loads(get(server, "/status")[2])["camera"]["state"]
                          == "waiting")
        camera = json.loads(get(server, "/status")[2])["camera"]
        assert camera["message"] == "camera lost; reconnecting"
        # The stream stays open (the last frame is repeated as a keep-alive) ...
        assert len(read_mjpeg(response, 2)) == 2
        # ... the draw pad still works, and the camera coming back is seen.
        assert get(server, "/predict", "POST", png(draw_digit(7)))[0] == 200
        producer.running.set()
        assert wait_until(lambda: json.loads(get(server, "/status")[2])["camera"]["state"]
                          == "live")


def test_several_viewers_share_one_encoding(live):
    server, hub, producer = live
    results: dict[int, list[bytes]] = {}

    def watch(i: int) -> None:
        with open_stream(server) as response:
            results[i] = read_mjpeg(response, 12)

    encoded_before, published_before = hub.encoded_frames, producer.published
    threads = [threading.Thread(target=watch, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    assert wait_until(lambda: hub.viewers == 4)
    for t in threads:
        t.join(timeout=20)
    assert sorted(results) == [0, 1, 2, 3]
    assert all(len(frames) == 12 for frames in results.values())
    delivered = sum(len(frames) for frames in results.values())
    encoded = hub.encoded_frames - encoded_before
    # 48 JPEGs reached viewers, but each frame was encoded once, not once per viewer...
    assert encoded < delivered
    assert encoded <= producer.published - published_before + 1
    # ... so viewers got the very same bytes.
    shared = set(results[0]) & set(results[1]) & set(results[2]) & set(results[3])
    assert shared
    assert producer.slowest_publish < 0.05  # publishing never waited for the viewers


def test_disconnected_viewer_is_released(live):
    server, hub, producer = live
    with open_stream(server) as response:
        read_mjpeg(response, 2)
        assert hub.viewers == 1
    assert wait_until(lambda: hub.viewers == 0, timeout=5)
    # Also while the camera is down: the keep-alive frame finds the dead socket.
    producer.running.clear()
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.recv(100).startswith(b"HTTP/1.1 200")
    assert wait_until(lambda: hub.viewers == 1)
    raw.close()
    assert wait_until(lambda: hub.viewers == 0, timeout=5)
    assert get(server, "/healthz")[0] == 200


def test_slow_viewer_drops_frames_and_never_slows_the_loop(live):
    server, hub, producer = live
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", server.port))
    slow.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
    with open_stream(server) as fast:
        start = producer.published
        got_slow = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # the slow viewer reads 4 KB every 50 ms
            got_slow += len(slow.recv(4096))
            time.sleep(0.05)
        fast_frames = read_mjpeg(fast, 10)
        published = producer.published - start
    slow.close()
    assert published >= 40  # ~40 FPS for 1.5 s: the loop kept its pace
    assert producer.slowest_publish < 0.05
    assert got_slow < 40 * 20_000  # far less than every frame: it was skipping
    assert len(fast_frames) == 10
    assert wait_until(lambda: hub.viewers == 0, timeout=5)


# ---------------------------------------------------------------------------------------------
# the draw pad and /predict


def test_draw_mode_routes(draw_server, tflite_model):
    status, headers, _ = get(draw_server, "/")
    assert status == 302 and headers["Location"] == "/draw"
    status, _, body = get(draw_server, "/draw")
    assert status == 200 and b"<canvas" in body and b"/static/draw.js" in body
    for path in ("/reading", "/stream.mjpg"):
        status, _, body = get(draw_server, path)
        assert status == 404 and "no camera" in json.loads(body)["error"]
    health = json.loads(get(draw_server, "/healthz")[2])
    assert health == {**health, "status": "ok", "mode": "draw",
                      "model": Path(tflite_model).name}
    assert json.loads(get(draw_server, "/status")[2])["mode"] == "draw"


@pytest.mark.parametrize("label", sorted(STROKES))
def test_predict_reads_a_drawn_digit(draw_server, label):
    status, headers, body = get(draw_server, "/predict", "POST", png(draw_digit(label)),
                                {"Content-Type": "image/png"})
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert float(headers["Server-Timing"].split("dur=")[1]) > 0
    answer = json.loads(body)
    assert len(answer["digits"]) == 1
    digit = answer["digits"][0]
    assert set(digit) == {"label", "confidence", "box", "probabilities"}
    assert digit["label"] == label
    probs = digit["probabilities"]
    assert len(probs) == 10 and abs(sum(probs) - 1) < 0.02
    assert int(np.argmax(probs)) == label and digit["confidence"] == max(probs)
    x, y, w, h = digit["box"]
    assert min(x, y) >= 0 and x + w <= 280 and y + h <= 280 and h > 100


def test_predict_accepts_jpeg_and_reads_several_digits(draw_server):
    row = np.hstack([draw_digit(3), draw_digit(7), draw_digit(0)])
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(row, cv2.COLOR_GRAY2BGR))[1].tobytes()
    status, _, body = get(draw_server, "/predict", "POST", jpeg, {"Content-Type": "image/jpeg"})
    assert status == 200
    assert [d["label"] for d in json.loads(body)["digits"]] == [3, 7, 0]
    blank = png(np.full((280, 280), 255, np.uint8))
    assert json.loads(get(draw_server, "/predict", "POST", blank)[2])["digits"] == []


def test_predict_matches_the_reader_directly(draw_server, reader):
    image = draw_digit(5)
    answer = json.loads(get(draw_server, "/predict", "POST", png(image))[2])
    direct = [d.to_dict(probabilities=True) for d in reader.read(image)]
    assert answer["digits"] == direct


def test_predict_rejects_bad_uploads(draw_server):
    def post(body, **headers):
        status, _, answer = get(draw_server, "/predict", "POST", body, headers)
        return status, json.loads(answer)["error"]

    assert post(b"hello, not an image")[0] == 400
    status, error = post(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    assert status == 400 and "PNG or JPEG" in error
    broken = png(draw_digit(7))
    assert post(broken[:60] + b"\0" * 500)[0] == 400  # valid header, corrupt data
    huge = png(np.full((1000, 1000), 255, np.uint8)) + b"\0" * 70_000  # over the 64 KB limit
    status, error = post(huge)
    assert status == 413 and "limit" in error
    # A tiny PNG claiming 60000x60000 pixels is refused before decoding.
    bomb = bytearray(png(np.full((8, 8), 255, np.uint8)))
    bomb[16:24] = (60000).to_bytes(4, "big") * 2
    assert post(bytes(bomb))[0] == 413
    assert get(draw_server, "/predict")[0] == 405
    assert get(draw_server, "/elsewhere", "POST", b"x")[0] == 404
    assert get(draw_server, "/healthz")[0] == 200  # still serving


def test_a_failing_reader_is_a_500_not_a_dead_server(capfd):
    class BrokenReader:  # simulates a bug in the reading code
        def read(self, image):
            raise RuntimeError("boom")

    with web.build_server("127.0.0.1:0", reader=BrokenReader()).start() as server:
        status, _, body = get(server, "/predict", "POST", png(draw_digit(7)))
        assert status == 500 and json.loads(body) == {"error": "internal error: RuntimeError"}
        status, _, body = get(server, "/healthz")  # issue 13.6: not "ok" while reads fail
        assert status == 503 and json.loads(body)["status"] == "failing"
        assert "RuntimeError: boom" in json.loads(body)["error"]
        assert get(server, "/status")[0] == 200  # still serving
    assert "RuntimeError: boom" in capfd.readouterr().err  # logged for whoever runs it


def test_predict_refuses_an_oversized_upload_before_it_is_sent(draw_server):
    raw = socket.create_connection(("127.0.0.1", draw_server.port), timeout=5)
    try:
        raw.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                    b"Content-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n")
        answer = raw.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413")
    finally:
        raw.close()
    # Without Expect: the server answers 413 without reading the body, then drains and closes.
    raw = socket.create_connection(("127.0.0.1", draw_server.port), timeout=5)
    try:
        raw.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
                    + b"\0" * 100_000)
        assert raw.recv(4096).startswith(b"HTTP/1.1 413")
    finally:
        raw.close()
    # No length at all: 411.
    raw = socket.create_connection(("127.0.0.1", draw_server.port), timeout=5)
    try:
        raw.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 411")
    finally:
        raw.close()
    assert get(draw_server, "/healthz")[0] == 200


def test_predict_keeps_the_connection_alive(draw_server):
    conn = http.client.HTTPConnection("127.0.0.1", draw_server.port, timeout=10)
    try:
        body = png(draw_digit(0))
        for _ in range(5):
            conn.request("POST", "/predict", body=body, headers={"Content-Type": "image/png"})
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["digits"][0]["label"] == 0
        local_port = conn.sock.getsockname()[1]  # same socket all along: one connection
        assert local_port
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# the serve command


def _start_serve(tflite_model, *args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_edge", "serve", "127.0.0.1:0", "--model",
         str(tflite_model), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return proc, _wait_for_url(proc, "serving the draw pad on")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_command_serves_and_stops_cleanly(tflite_model, sig):
    proc, url = _start_serve(tflite_model, "--threads", "1")
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/predict", body=png(draw_digit(7)))
        answer = json.loads(conn.getresponse().read())
        assert answer["digits"][0]["label"] == 7
        conn.request("GET", "/healthz")
        assert json.loads(conn.getresponse().read())["mode"] == "draw"
        conn.close()
        # A client that resets the connection mid-upload is shrugged off, not a traceback.
        rude = socket.create_connection(("127.0.0.1", port))
        rude.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nabc")
        rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rude.close()
        time.sleep(0.3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "server stopped" in err and "Traceback" not in err
    with pytest.raises(OSError):  # the port is released
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_serve_command_errors_are_one_line(tflite_model, tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        cases = [
            (["serve", "99999", "--model", str(tflite_model)], "bad address"),
            (["serve", "8080", "--model", str(tmp_path / "missing.tflite")], "model not found"),
            (["serve", f"127.0.0.1:{busy.getsockname()[1]}", "--model", str(tflite_model)],
             "cannot listen"),
        ]
        for args, message in cases:
            result = subprocess.run([sys.executable, "-m", "mnist_edge", *args],
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 2, result.stderr
            errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and message in errors[0], result.stderr
            assert "Traceback" not in result.stderr
    finally:
        busy.close()


def test_serve_command_with_cli_runner(tflite_model):
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "host:port", "--model", str(tflite_model)])
    assert result.exit_code == 2 and "bad address 'host:port'" in result.output
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "mnist-edge serve 0.0.0.0:8080" in result.output


def test_the_web_side_never_imports_tensorflow(tflite_model):
    code = (
        "import sys, urllib.request\n"
        "from mnist_edge import cli\n"
        "from mnist_edge.web import hub as web_hub, server as web, uploads\n"
        "from mnist_edge.reading.reader import make_reader\n"
        "reader = make_reader(sys.argv[1], **uploads.DRAW_PAD_READING)\n"
        "hub = web_hub.LiveHub(uploads.reader_model_info(reader, sys.argv[1]))\n"
        "server = web.build_server('127.0.0.1:0', hub=hub, reader=reader).start()\n"
        "urllib.request.urlopen(server.url + 'draw').read()\n"
        "server.close()\n"
        f"assert not {HEAVY_MODULES}\n"
        "print('clean')\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tflite_model)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "clean", result.stderr


# ---------------------------------------------------------------------------------------------
# webcam --serve: the real loop feeding the web view


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 10 FPS clip of one still page with printed digits 3 and 8 (15 frames)."""
    return make_clip(tmp_path_factory.mktemp("clip") / "page.avi")


def test_webcam_serve_plays_a_clip_live_and_stops_cleanly(tflite_model, clip):
    from mnist_edge.reading.reader import DigitReader

    first = cv2.VideoCapture(str(clip)).read()[1]
    expected = [d.label for d in DigitReader(tflite_model).read(first)]
    assert expected  # the page's digits are found at all
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_edge", "webcam", "--source", str(clip), "--model",
         str(tflite_model), "--headless", "--serve", "127.0.0.1:0", "--loop", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = _wait_for_url(proc, "live view on")
        port = int(url.rsplit(":", 1)[1].strip("/"))
        server = type("S", (), {"port": port})()
        assert wait_until(lambda: get(server, "/reading")[0] == 200, timeout=20)
        reading = json.loads(get(server, "/reading")[2])
        assert set(reading) == {"frame", "time", "digits"}
        assert [d["label"] for d in reading["digits"]] == expected
        with open_stream(server) as response:
            frames = read_mjpeg(response, 3)
        assert all(cv2.imdecode(np.frombuffer(f, np.uint8), 1).shape == first.shape
                   for f in frames)
        time.sleep(2.0)  # past the 15-frame clip's end (1.5 s at its own 10 FPS): --loop
        status = json.loads(get(server, "/status")[2])
        assert status["camera"]["state"] == "live"
        assert 5 < status["fps"] < 15  # paced at the clip's 10 FPS, not as fast as possible
        assert status["frames"] > 15  # replayed
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "frames from" in err and "Traceback" not in err


def _wait_for_url(proc: subprocess.Popen, marker: str) -> str:
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        if select.select([proc.stderr], [], [], 0.5)[0]:
            line = proc.stderr.readline()
            seen.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if marker in line and match:
                return match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"no {marker!r} line: {''.join(seen)}")


def test_webcam_serve_bad_address_is_one_line(tflite_model, clip):
    result = subprocess.run(
        [sys.executable, "-m", "mnist_edge", "webcam", "--source", str(clip), "--model",
         str(tflite_model), "--headless", "--serve", "nowhere:http"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: bad address")
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# issue 13.10: an optional login


def test_auth_asks_for_a_login_except_on_healthz(reader):
    import base64

    def basic(text: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(text.encode()).decode()}

    with web.build_server("127.0.0.1:0", reader=reader, auth="ann:s3cret").start() as server:
        status, headers, _ = get(server, "/")
        assert status == 401 and headers["WWW-Authenticate"].startswith('Basic realm="mnist-edge"')
        assert get(server, "/healthz")[0] == 200  # service managers need no password
        assert get(server, "/status", headers=basic("ann:wrong"))[0] == 401
        assert get(server, "/status", headers=basic("ann"))[0] == 401
        assert get(server, "/status", headers={"Authorization": "Basic %%%"})[0] == 401
        assert get(server, "/status", headers=basic("ann:s3cret"))[0] == 200
        body = png(draw_digit(7))
        assert get(server, "/predict", "POST", body)[0] == 401
        status, _, answer = get(server, "/predict", "POST", body, basic("ann:s3cret"))
        assert status == 200 and json.loads(answer)["digits"][0]["label"] == 7


def test_auth_options_and_the_open_network_warning(tmp_path):
    assert web.resolve_auth(None, None) is None
    assert web.resolve_auth("a:b:c", None) == "a:b:c"  # a password may hold colons
    token = tmp_path / "auth"
    token.write_text("pi:from-a-file\n")
    assert web.resolve_auth(None, token) == "pi:from-a-file"
    for bad in (("nocolon", None), (":pw", None), ("user:", None), ("a:b", token)):
        with pytest.raises(UserError):
            web.resolve_auth(*bad)
    with pytest.raises(UserError, match="cannot read the auth file"):
        web.resolve_auth(None, tmp_path / "missing")
    assert "without --auth" in web.open_warning("0.0.0.0", None)
    assert web.open_warning("0.0.0.0", "a:b") is None
    assert web.open_warning("127.0.0.1", None) is None and web.open_warning("::1", None) is None


def test_serve_on_all_interfaces_without_auth_warns(tflite_model):
    proc = subprocess.Popen([sys.executable, "-m", "mnist_edge", "serve", "0.0.0.0:0",
                             "--model", str(tflite_model)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any("serving the draw pad" in ln for ln in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    assert any(ln.startswith("warning: listening on 0.0.0.0 without --auth") for ln in lines)
