"""The label page's server side (`mnist-edge label DIR`): the JSON API over a real HTTP server,
the moves on disk (no overwrite, nothing deleted, no way out of the set), and the command.
The page itself, driven by key presses in headless Chromium, is in tests/test_browser.py."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pytest
from cli_helpers import REPO, run_cli

from mnist_edge.web import server as web
from mnist_edge.web.labeler import Labeler, class_keys, move_no_overwrite


def crop_png(value: int) -> bytes:
    """A small grey crop whose pixels say which one it is."""
    ok, png = cv2.imencode(".png", np.full((32, 20), value, np.uint8))
    assert ok
    return png.tobytes()


def make_set(root: Path) -> Path:
    """unsure/{a,b}.png, 3/c.png, 7/a.png (a name that is also in unsure/), N/d.png, a hidden
    file, a nested folder and a text file (none of which are crops)."""
    for rel, value in (("unsure/a.png", 10), ("unsure/b.png", 20), ("3/c.png", 30),
                       ("7/a.png", 70), ("N/d.png", 90)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(crop_png(value))
    (root / "unsure" / ".a.tmp.png").write_bytes(crop_png(1))
    (root / "unsure" / "notes.txt").write_text("not a crop")
    (root / "3" / "deeper").mkdir()
    (root / "3" / "deeper" / "e.png").write_bytes(crop_png(40))
    return root


@pytest.fixture()
def served(tmp_path):
    root = make_set(tmp_path / "set")
    (tmp_path / "secret.png").write_bytes(crop_png(255))  # beside the set: must stay out of reach
    labeler = Labeler(root)
    server = web.build_server("127.0.0.1:0", labeler=labeler).start()
    yield server, root
    server.close()


def call(server, method: str, path: str, body: object = None) -> tuple[int, dict | bytes, str]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    conn.request(method, path, body=data)
    r = conn.getresponse()
    raw, kind = r.read(), r.getheader("Content-Type", "")
    conn.close()
    return r.status, json.loads(raw) if kind == "application/json" else raw, kind


def test_state_lists_the_crops_unsure_first_and_the_classes_with_keys(served):
    server, root = served
    status, state, _ = call(server, "GET", "/label/state")
    assert status == 200
    assert [c["id"] for c in state["crops"]] == ["unsure/a.png", "unsure/b.png", "3/c.png",
                                                 "7/a.png", "N/d.png"]
    classes = {c["name"]: (c["key"], c["count"]) for c in state["classes"]}
    assert list(classes) == [*map(str, range(10)), "N", "unsure"]  # 0-9 even where absent
    assert classes["3"] == ("3", 1) and classes["0"] == ("0", 0)
    assert classes["N"] == ("n", 1) and classes["unsure"] == ("u", 2)
    assert state["discard"]["name"] == "_discarded" and "x" in state["discard"]["keys"]
    status, html, _ = call(server, "GET", "/label")
    assert status == 200 and b"label.js" in html
    status, png, kind = call(server, "GET", "/label/crop?id=" + quote("unsure/b.png", safe=""))
    assert status == 200 and kind == "image/png" and png == (root / "unsure" / "b.png").read_bytes()
    assert call(server, "GET", "/")[0] == 302  # / leads to the label page


def test_a_move_files_the_crop_and_never_overwrites(served):
    server, root = served
    before = (root / "7" / "a.png").read_bytes()
    status, answer, _ = call(server, "POST", "/label/move", {"crop": "unsure/a.png", "to": "7"})
    assert status == 200 and answer == {"crop": "7/a-1.png", "to": "7"}
    assert (root / "7" / "a.png").read_bytes() == before  # the crop already there is kept
    assert (root / "7" / "a-1.png").read_bytes() == crop_png(10)
    assert not (root / "unsure" / "a.png").exists()
    status, answer, _ = call(server, "POST", "/label/move", {"crop": "unsure/b.png", "to": "0"})
    assert status == 200 and (root / "0" / "b.png").is_file()  # a digit with no folder yet
    status, answer, _ = call(server, "POST", "/label/move", {"crop": "3/c.png",
                                                              "to": "_discarded"})
    assert status == 200 and answer["crop"] == "_discarded/c.png"
    assert (root / "_discarded" / "c.png").read_bytes() == crop_png(30)  # kept, not deleted
    _, state, _ = call(server, "GET", "/label/state")
    assert "_discarded/c.png" not in [c["id"] for c in state["crops"]]
    status, answer, _ = call(server, "POST", "/label/move", {"crop": "N/d.png", "to": "N"})
    assert status == 200 and answer["crop"] == "N/d.png"  # already there: nothing to do


@pytest.mark.parametrize("body, status, message", [
    ({"crop": "../secret.png", "to": "7"}, 400, "not a crop"),
    ({"crop": "unsure/../../secret.png", "to": "7"}, 400, "not a crop"),
    ({"crop": "3/deeper/e.png", "to": "7"}, 400, "not a crop"),
    ({"crop": "unsure/.a.tmp.png", "to": "7"}, 400, "not a crop"),
    ({"crop": "unsure/notes.txt", "to": "7"}, 404, "no such crop"),
    ({"crop": "unsure/gone.png", "to": "7"}, 404, "no such crop"),
    ({"crop": "unsure/a.png", "to": "../escape"}, 400, "no class"),
    ({"crop": "unsure/a.png", "to": "cat"}, 400, "no class"),
    ({"crop": 3, "to": "7"}, 400, "send JSON"),
    (b"not json", 400, "send JSON"),
])
def test_bad_moves_are_refused_with_the_reason_and_touch_nothing(served, body, status, message):
    server, root = served
    files = sorted(p for p in root.parent.rglob("*"))
    got, answer, _ = call(server, "POST", "/label/move", body)
    assert got == status and message in answer["error"], answer
    assert sorted(p for p in root.parent.rglob("*")) == files


def test_crop_images_outside_the_set_are_not_served(served, tmp_path):
    server, root = served
    (root / "link").symlink_to(tmp_path)  # a folder linking out of the set
    for crop_id in ("../secret.png", "link/secret.png", "unsure/notes.txt", ""):
        status, answer, _ = call(server, "GET", "/label/crop?id=" + quote(crop_id, safe=""))
        assert status in (400, 404) and "error" in answer, crop_id
    _, state, _ = call(server, "GET", "/label/state")
    assert not [c for c in state["crops"] if c["folder"] == "link"]


def test_class_keys_give_each_class_a_free_letter():
    keys = class_keys([*map(str, range(10)), "N", "blank", "bar", "x", "unsure"])
    assert keys["7"] == "7" and keys["N"] == "n" and keys["blank"] == "b"
    assert keys["bar"] == "a" and "x" not in keys  # x discards: that class gets a button only
    assert keys["unsure"] == "u"


def test_move_no_overwrite_picks_the_next_free_name(tmp_path):
    (tmp_path / "to").mkdir()
    for name in ("a.png", "a-1.png"):
        (tmp_path / "to" / name).write_text(name)
    (tmp_path / "a.png").write_text("new")
    assert move_no_overwrite(tmp_path / "a.png", tmp_path / "to").name == "a-2.png"
    assert [(tmp_path / "to" / n).read_text() for n in ("a.png", "a-1.png", "a-2.png")] == \
        ["a.png", "a-1.png", "new"]
    assert not (tmp_path / "a.png").exists()


def test_label_command_serves_until_stopped_and_reports_the_moves(tmp_path):
    root = make_set(tmp_path / "set")
    proc = subprocess.Popen([sys.executable, "-m", "mnist_edge", "label", str(root), "--serve",
                             "127.0.0.1:0"], cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        line = proc.stderr.readline()
        assert "sort the crops of" in line and "/label" in line, line
        host, port = line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        for crop, to in (("unsure/a.png", "5"), ("unsure/b.png", "_discarded")):
            conn.request("POST", "/label/move", body=json.dumps({"crop": crop, "to": to}))
            r = conn.getresponse()
            assert r.status == 200, r.read()
            r.read()
        conn.close()
        proc.send_signal(signal.SIGTERM)  # what systemd or Ctrl-C does
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "filed 1 crop(s) (5: 1), discarded 1 into _discarded/" in stderr
    assert (root / "5" / "a.png").is_file() and (root / "_discarded" / "b.png").is_file()


def test_label_command_mistakes_are_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    for args, message in ((["label", str(tmp_path / "none")], "no such folder"),
                          (["label", str(tmp_path / "afile")], "is a file"),
                          (["label", str(tmp_path), "--serve", "host:port"], "bad address"),
                          (["label", str(tmp_path), "--auth", "nopassword"], "USER:PASSWORD")):
        proc = run_cli(*args)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
