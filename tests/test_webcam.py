"""``mnist-edge webcam`` and its pieces: frame sources, the run loop, smoothing, reconnecting,
display fallback; on generated video files, images and folders (no camera needed)."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import run_cli
from typer.testing import CliRunner

from mnist_edge.cli import app
from mnist_edge.common.errors import UserError
from mnist_edge.reading import camera
from mnist_edge.reading import live as webcam
from mnist_edge.reading.reader import Digit, DigitReader
from mnist_edge.testing import synth

REPO = Path(__file__).resolve().parents[1]
PLAIN = ["cv-simplex", "cv-duplex", "cv-plain"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 16-frame hand-held-camera clip of the digits 2 7 0 4 at 8 FPS."""
    path = tmp_path_factory.mktemp("clip") / "card.mp4"
    return synth.make_clip(path, [2, 7, 0, 4], frames=16, fps=8.0, seed=3,
                           overrides={"fonts": PLAIN})


@pytest.fixture(scope="module")
def reader(tflite_model):
    return DigitReader(tflite_model, threads=1)


def _reading(line: dict) -> str:
    return "".join(str(d["label"]) for d in line["digits"])


# ----------------------------------------------------------------------------- the command


def test_video_file_headless_jsonl_every_frame_in_order(clip, tmp_path, env):
    out = tmp_path / "log" / "readings.jsonl"
    result = CliRunner().invoke(app, ["webcam", "--source", str(clip.path), "--headless",
                                      "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(clip.frames))
    assert [line["time"] for line in lines] == [round(i / clip.fps, 3)
                                               for i in range(clip.frames)]
    right = sum(_reading(line) == clip.reading for line in lines)
    assert right >= clip.frames - 1, [_reading(line) for line in lines]
    assert f"{clip.frames} frames" in result.output and "end of input" in result.output
    assert not [p for p in out.parent.iterdir() if p.name != out.name]  # no temp files left


def test_jsonl_to_stdout_in_a_subprocess(clip, env):
    result = run_cli("webcam", "--source", str(clip.path), "--headless", "--jsonl", "-",
                  "--max-frames", "5", env=env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["frame"] for line in lines] == [0, 1, 2, 3, 4]
    assert all(set(line) == {"frame", "time", "digits"} for line in lines)
    assert "5 frames" in result.stderr and "max frames" in result.stderr


def test_sources_image_and_folder(tmp_path, env):
    rng = np.random.default_rng(1)
    for i, labels in enumerate(([6], [1, 8], [3, 3])):
        scene = synth.make_scene(rng, "printed", labels=labels,
                                 overrides={"fonts": PLAIN, "rows": 1})
        cv2.imwrite(str(tmp_path / f"{i}.png"), scene.frame)
    (tmp_path / "readme.txt").write_text("skip me")
    out = tmp_path / "folder.jsonl"
    result = CliRunner().invoke(app, ["webcam", "-s", str(tmp_path), "--headless",
                                      "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    assert [_reading(json.loads(x)) for x in out.read_text().splitlines()] == ["6", "18", "33"]
    result = CliRunner().invoke(app, ["webcam", "-s", str(tmp_path / "1.png"), "--headless",
                                      "--jsonl", str(out)])
    # The log is appended to (a restarted service keeps its history).
    assert [_reading(json.loads(x)) for x in out.read_text().splitlines()] == ["6", "18", "33",
                                                                              "18"]


@pytest.mark.parametrize("source, needles", [
    ("no/such/clip.mp4", ["no such file, folder or camera", "no/such/clip.mp4"]),
    ("97", ["cannot open camera 97", "--source"]),
    ("rtsp://127.0.0.1:9/none", ["cannot open stream rtsp://127.0.0.1:9/none"]),
])
def test_sources_that_cannot_be_opened(source, needles, tmp_path, env):
    out = tmp_path / "x.jsonl"
    result = run_cli("webcam", "--source", source, "--headless", "--jsonl", str(out), env=env)
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(n in lines[0] for n in needles)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_non_video_file_and_empty_folder(tmp_path, env):
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 500)
    result = CliRunner().invoke(app, ["webcam", "-s", str(tmp_path / "clip.mp4"), "--headless"])
    assert result.exit_code == 2 and "cannot read" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["webcam", "-s", str(empty), "--headless"])
    assert result.exit_code == 2 and "no images in folder" in result.output


def test_shipped_sample_clip_reads_right(env):
    info = json.loads((REPO / "samples" / "clip.json").read_text())
    result = run_cli("webcam", "--source", str(REPO / "samples" / info["file"]), "--headless",
                  "--jsonl", "-", env=env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == info["frames"]
    assert sum(_reading(line) == info["reading"] for line in lines) >= info["frames"] - 1


def test_shipped_sample_images_read_right(reader):
    labels = json.loads((REPO / "samples" / "labels.json").read_text())
    for name, expected in labels.items():
        image = cv2.imread(str(REPO / "samples" / name))
        assert "".join(str(d.label) for d in reader.read(image)) == expected, name


# ------------------------------------------------------------------------------- run()


def test_on_frame_gets_annotated_frames_and_the_jsonl_dicts(clip, reader, tmp_path):
    seen = []
    out = tmp_path / "r.jsonl"
    summary = webcam.run(clip.path, reader, headless=True, jsonl=out,
                         on_frame=lambda img, reading: seen.append((img.shape, reading)))
    assert summary.frames == clip.frames and summary.fps > 0
    assert [r for _, r in seen] == [json.loads(x) for x in out.read_text().splitlines()]
    assert all(shape == (480, 640, 3) for shape, _ in seen)
    assert summary.readings.most_common(1)[0][0] == clip.reading


def test_stop_event_and_loop(clip, reader):
    stop = threading.Event()
    frames = []

    def on_frame(img, reading):
        frames.append(reading["frame"])
        if len(frames) == clip.frames + 3:
            stop.set()

    summary = webcam.run(clip.path, reader, headless=True, loop=True, stop=stop,
                         on_frame=on_frame)
    assert frames == list(range(clip.frames + 3))  # the loop goes on past the end, numbering on
    assert summary.stopped_by == "stop request"


def test_realtime_paces_a_file_at_its_fps(clip, reader):
    started = time.monotonic()
    summary = webcam.run(clip.path, reader, headless=True, realtime=True, max_frames=6)
    assert time.monotonic() - started >= 5 / clip.fps - 0.05
    assert summary.frames == 6


def test_ctrl_c_stops_cleanly_and_keeps_the_log(clip, reader, tmp_path):
    out = tmp_path / "r.jsonl"

    def interrupt(img, reading):
        if reading["frame"] == 3:
            raise KeyboardInterrupt

    summary = webcam.run(clip.path, reader, headless=True, jsonl=out, on_frame=interrupt)
    assert summary.stopped_by == "Ctrl-C" and summary.frames == 4
    assert len(out.read_text().splitlines()) == 4


def test_a_crash_keeps_the_whole_lines_written_and_no_temp_file(clip, reader, tmp_path):
    out = tmp_path / "r.jsonl"

    def boom(img, reading):
        if reading["frame"] == 2:
            raise RuntimeError("viewer broke")

    with pytest.raises(RuntimeError):
        webcam.run(clip.path, reader, headless=True, jsonl=out, on_frame=boom)
    assert list(tmp_path.iterdir()) == [out]
    assert [json.loads(line)["frame"] for line in out.read_text().splitlines()] == [0, 1, 2]


def test_sigterm_keeps_every_reading_written_as_it_came(clip, tmp_path, env):
    """Issue 13.3: without --serve, SIGTERM (systemd's stop) used to lose the whole log."""
    import signal
    import subprocess

    out = tmp_path / "readings.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "mnist_edge", "webcam", "--source",
                             str(clip.path), "--loop", "--headless", "--jsonl", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and len(out.read_text().splitlines()) >= 3:
                break  # lines appear while the run goes on, not at its end
            time.sleep(0.1)
        assert out.exists() and len(out.read_text().splitlines()) >= 3
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] % clip.frames for line in lines][:3] == [0, 1, 2]
    assert re.search(rf"\b{len(lines)} frames", err), err
    assert list(tmp_path.iterdir()) == [out]  # no hidden temp file


def test_jsonl_that_cannot_be_written_is_one_line_before_any_work(clip, tmp_path, env):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target in (blocker / "r.jsonl", tmp_path):  # a parent that is a file; a folder
        result = run_cli("webcam", "--source", str(clip.path), "--headless", "--jsonl",
                         str(target), env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("error:") == 1 and "cannot write the readings" in result.stderr
        assert "Traceback" not in result.stderr and "frames" not in result.stderr


def test_window_that_cannot_open_falls_back_to_headless(clip, reader, monkeypatch):
    def no_gui(*args):
        raise cv2.error("The function is not implemented. Rebuild the library with GUI support")

    monkeypatch.setattr(cv2, "imshow", no_gui)
    messages = []
    summary = webcam.run(clip.path, reader, headless=False, max_frames=4,
                         on_status=messages.append)
    assert summary.frames == 4
    assert any("continuing headless" in m for m in messages)


def test_keys_quit_and_snapshot(clip, reader, monkeypatch, tmp_path):
    keys = iter([-1, ord("s"), -1, ord("q")])
    monkeypatch.setattr(cv2, "imshow", lambda *a: None)
    monkeypatch.setattr(cv2, "waitKey", lambda *a: next(keys, -1))
    monkeypatch.setattr(cv2, "destroyWindow", lambda *a: None)
    summary = webcam.run(clip.path, reader, headless=False, snapshot_dir=tmp_path)
    assert summary.stopped_by == "quit key" and summary.frames == 4
    (snap,) = tmp_path.iterdir()
    assert snap.name == "mnist-edge-snapshot-000001.png" and cv2.imread(str(snap)) is not None


def test_display_detection(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        assert webcam.display_available() is False
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:   NONE\n")
    monkeypatch.setenv("DISPLAY", ":0")
    assert webcam.display_available() is False


def test_annotate_draws_boxes_labels_and_fps():
    frame = np.full((120, 160), 200, np.uint8)
    digit = Digit(3, 0.97, (40, 30, 30, 50), tuple([0.0] * 10))
    out = webcam.annotate(frame, [digit], fps=29.5)
    assert out.shape == (120, 160, 3) and out.dtype == np.uint8
    assert (out[30:80, 40] != 200).any()  # the box's left edge is drawn
    assert webcam.annotate(frame, [], None).shape == (120, 160, 3)


def test_labels_of_digits_in_a_grid_never_cover_each_other():
    """Issue 13.11: digits closer than their labels are wide (a grid) had overlapping labels."""
    digits = [Digit(d, 0.97, (40 + 22 * i, 60 + 40 * row, 16, 28), tuple([0.0] * 10))
              for row in range(3) for i, d in enumerate((3, 1, 4, 1, 5, 9, 2, 6))]
    h, w = 240, 320
    scale, thick = max(0.4, min(h, w) / 600), max(1, round(min(h, w) / 300))
    placed = webcam.place_labels(digits, (h, w), scale, thick, taken=[(0, 0, 100, 20)])
    rects = [(0, 0, 100, 20)] + [r for _, r in placed]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not webcam._overlap(a, b), (a, b)
    assert len(placed) >= len(digits) // 2  # most digits still get a label
    assert any(text.endswith("%") for text, _ in placed)
    assert all(text.split()[0].isdigit() for text, _ in placed)


# ----------------------------------------------------------------------- smoothing, sources


def _digit(label: int, p: float, box=(10, 10, 20, 30)) -> Digit:
    probs = np.full(10, (1 - p) / 9)
    probs[label] = p
    return Digit(label, p, box, tuple(probs))


def test_smoothing_holds_a_reading_through_one_bad_frame():
    smoother = webcam.Smoother(5)
    sequence = [_digit(3, 0.9)] * 4 + [_digit(8, 0.9)] + [_digit(3, 0.9)] * 2
    labels = [smoother.update([d])[0].label for d in sequence]
    assert labels == [3] * 7
    moved = smoother.update([_digit(8, 0.9, box=(300, 10, 20, 30))])[0]
    assert moved.label == 8  # a digit somewhere else is a new digit


class FlakyCapture:
    """A camera that delivers ``frames`` frames per connection; some reopen attempts fail."""

    def __init__(self, log: list, frames: int, opens_ok: bool = True) -> None:
        self.log, self.left, self.ok = log, frames, opens_ok

    def isOpened(self) -> bool:  # noqa: N802
        return self.ok

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.full((48, 64, 3), 200, np.uint8)

    def release(self) -> None:
        self.log.append("release")

    def get(self, prop) -> float:
        return 30.0


def test_live_source_reopens_with_backoff_after_a_drop():
    log, messages = [], []
    outcomes = iter([True, False, False, True])  # first open, two failed reopens, success
    stop = threading.Event()

    def opener():
        return FlakyCapture(log, frames=3, opens_ok=next(outcomes, False))

    src = camera.LiveSource(0, kind="camera", stop=stop, on_status=messages.append,
                            opener=opener, backoff=(0.01, 0.04))
    got = []
    for frame in src:
        got.append(frame.index)
        if len(got) == 6:
            stop.set()
    assert got == [0, 1, 2, 3, 4, 5]
    reopening = [m for m in messages if "reopening in" in m]
    assert [m.split("reopening in ")[1].split(" s")[0] for m in reopening] == \
        ["0.01", "0.02", "0.04"]
    assert messages[-1] == "camera 0 is back"


def test_live_source_gives_up_after_max_retries():
    src = camera.LiveSource("rtsp://cam/stream", kind="stream", opener=iter(
        [FlakyCapture([], 2), FlakyCapture([], 0, False), FlakyCapture([], 0, False)]).__next__,
        backoff=(0.0, 0.0), max_retries=2)
    assert [f.index for f in src] == [0, 1]


def test_camera_that_does_not_exist_says_what_to_try():
    with pytest.raises(UserError) as err:
        camera.open_source(97)
    assert "cannot open camera 97" in str(err.value) and "--source" in str(err.value)


def test_headless_run_says_a_reading_now_and_then(clip, reader):
    """Issue 13.11: a headless webcam printed nothing until it stopped."""
    lines: list[str] = []
    webcam.run(clip.path, reader, headless=True, on_progress=lines.append, progress_every=0.0)
    assert len(lines) == clip.frames
    assert lines[0].startswith("frame 0: ") and "FPS" in lines[0]
    quiet: list[str] = []
    webcam.run(clip.path, reader, headless=True, on_progress=quiet.append, progress_every=3600)
    assert len(quiet) == 1  # the first frame, then one line per interval


def test_headless_cli_prints_a_first_reading(clip, env):
    result = run_cli("webcam", "--source", str(clip.path), "--headless", env=env)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^frame 0: \d+", result.stderr, re.M), result.stderr
