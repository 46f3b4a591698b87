"""``mnist-edge predict``: images and folders, table and --json, and bad inputs (one error line,
no traceback), through Typer's runner and through a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import run_cli
from typer.testing import CliRunner

from mnist_edge.cli import app
from mnist_edge.reading.camera import read_image_file
from mnist_edge.reading.predict import image_files, predict_files
from mnist_edge.reading.reader import DigitReader
from mnist_edge.testing import synth

REPO = Path(__file__).resolve().parents[1]
PLAIN = ["cv-simplex", "cv-duplex", "cv-plain"]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A folder of three generated pages (and what they say) plus a tight single-digit crop."""
    folder = tmp_path_factory.mktemp("pages")
    rng = np.random.default_rng(0)
    truth = {}
    for name, labels in (("a_42.png", [4, 2]), ("b_907.jpg", [9, 0, 7]), ("c_3.png", [3])):
        scene = synth.make_scene(rng, "printed", labels=labels,
                                 overrides={"fonts": PLAIN, "rows": 1})
        cv2.imwrite(str(folder / name), scene.frame)
        truth[name] = scene.reading
    crop = np.full((90, 70), 230, np.uint8)
    cv2.putText(crop, "5", (8, 80), cv2.FONT_HERSHEY_SIMPLEX, 3.0, 30, 8)
    single = tmp_path_factory.mktemp("single") / "five.png"
    cv2.imwrite(str(single), crop)
    return folder, truth, single


def test_library_reads_a_folder_in_name_order(pages, tflite_model):
    folder, truth, _ = pages
    files = image_files([folder])
    assert [f.name for f in files] == sorted(truth)
    results = list(predict_files(DigitReader(tflite_model), files))
    assert [r.reading for r in results] == [truth[f.name] for f in files]


def test_json_lines_one_per_image(pages, env):
    folder, truth, single = pages
    result = CliRunner().invoke(app, ["predict", str(folder), str(single), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(line["path"]).name for line in lines] == [*sorted(truth), "five.png"]
    for line in lines:
        expected = truth.get(Path(line["path"]).name, "5")
        assert "".join(str(d["label"]) for d in line["digits"]) == expected
        for d in line["digits"]:
            assert set(d) == {"label", "confidence", "box"}
            assert 0.5 <= d["confidence"] <= 1.0 and len(d["box"]) == 4


def test_json_probabilities_option(pages, env):
    _, _, single = pages
    result = CliRunner().invoke(app, ["predict", str(single), "--json", "--probabilities"])
    (digit,) = json.loads(result.stdout)["digits"]
    assert len(digit["probabilities"]) == 10
    assert max(digit["probabilities"]) == digit["probabilities"][5]


def test_table_by_default(pages, env):
    folder, truth, _ = pages
    result = CliRunner().invoke(app, ["predict", str(folder)])
    assert result.exit_code == 0, result.output
    for name, reading in truth.items():
        line = next(ln for ln in result.stdout.splitlines() if name in ln)
        assert reading in line


def test_tight_single_digit_image(pages, env):
    _, _, single = pages
    result = run_cli("predict", str(single), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert [d["label"] for d in json.loads(result.stdout)["digits"]] == [5]


def test_invert_option(tmp_path, env):
    board = np.full((120, 200), 40, np.uint8)
    cv2.putText(board, "71", (20, 100), cv2.FONT_HERSHEY_SIMPLEX, 3.0, 220, 8)
    cv2.imwrite(str(tmp_path / "board.png"), board)
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "board.png"), "--json",
                                      "--invert"])
    assert [d["label"] for d in json.loads(result.stdout)["digits"]] == [7, 1]


def test_blank_image_has_no_digits(tmp_path, env):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((200, 300, 3), 210, np.uint8))
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "blank.png"), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["digits"] == []


def _one_error_line(stderr: str, *needles: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_path(env):
    result = run_cli("predict", "no/such/page.png", env=env)
    assert result.returncode == 2 and result.stdout == ""
    _one_error_line(result.stderr, "no such file or folder", "no/such/page.png")


def test_empty_folder(tmp_path, env):
    (tmp_path / "notes.txt").write_text("not an image")
    result = run_cli("predict", str(tmp_path), env=env)
    assert result.returncode == 2
    _one_error_line(result.stderr, "no images in folder")


def test_non_image_and_unreadable_files_do_not_stop_the_others(pages, tmp_path, env):
    folder, truth, _ = pages
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    broken = tmp_path / "broken.png"
    broken.write_bytes((folder / "a_42.png").read_bytes()[:60])  # a truncated PNG
    result = run_cli("predict", str(text), str(folder / "a_42.png"), str(broken), "--json",
                  env=env)
    assert result.returncode == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(line["path"]).name for line in lines] == ["a_42.png"]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("error: cannot read ") for e in errors)
    assert "notes.txt" in errors[0] and "broken.png" in errors[1]
    assert "Traceback" not in result.stderr


def test_bad_model_is_one_error_line(pages, tmp_path):
    _, _, single = pages
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    result = run_cli("predict", str(single), "--model", str(junk))
    assert result.returncode == 2
    _one_error_line(result.stderr, "junk.tflite")
    result = CliRunner().invoke(app, ["predict", str(single), "--model", str(tmp_path / "x")])
    assert result.exit_code == 2 and "model not found" in result.output


def test_read_image_errors_are_user_errors(tmp_path):
    from mnist_edge.common.errors import UserError

    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UserError, match="cannot read"):
        read_image_file(tmp_path / "empty.png")
    with pytest.raises(UserError, match="cannot read"):
        read_image_file(tmp_path)  # a folder is not an image
    with pytest.raises(UserError, match="more pixels"):
        read_image_file(_claims_100000_squared(tmp_path / "bomb.png"))


def test_help_has_an_example():
    result = CliRunner().invoke(app, ["predict", "--help"])
    assert result.exit_code == 0 and "mnist-edge predict" in result.output


def _claims_100000_squared(path: Path) -> Path:
    """A 74-byte-ish PNG whose (CRC-valid) header claims 100000x100000 pixels."""
    import struct
    import zlib

    data = bytearray(cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes())
    data[16:24] = (100000).to_bytes(4, "big") * 2
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_bad_files_are_one_line_each_and_the_good_ones_still_read(pages, tmp_path, env):
    """Issue 13.7: a huge-header PNG gave a cv2.error traceback and a missing path stopped the
    rest."""
    folder, _, _ = pages
    bomb = _claims_100000_squared(tmp_path / "bomb.png")
    missing = tmp_path / "missing.png"
    result = run_cli("predict", str(bomb), str(missing), str(folder / "a_42.png"), "--json",
                     env=env)
    assert result.returncode == 2
    assert [Path(json.loads(line)["path"]).name for line in result.stdout.splitlines()] == [
        "a_42.png"]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("error: ") for e in errors), result.stderr
    assert "bomb.png" in errors[0] and "pixels" in errors[0]
    assert "no such file or folder" in errors[1] and "missing.png" in errors[1]
    assert "Traceback" not in result.stderr


def test_webcam_folder_skips_bad_files_one_line_each_and_exits_2(pages, tmp_path, env):
    folder, _, _ = pages
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a_42.png").write_bytes((folder / "a_42.png").read_bytes())
    _claims_100000_squared(mixed / "b_bomb.png")
    (mixed / "c_broken.png").write_bytes((folder / "a_42.png").read_bytes()[:60])
    out = tmp_path / "r.jsonl"
    result = run_cli("webcam", "--source", str(mixed), "--headless", "--jsonl", str(out),
                     env=env)
    assert result.returncode == 2, result.stderr
    skipped = [ln for ln in result.stderr.splitlines() if ln.startswith("skipped:")]
    assert len(skipped) == 2 and "b_bomb.png" in skipped[0] and "c_broken.png" in skipped[1]
    assert "Traceback" not in result.stderr and "2 file(s) could not be read" in result.stderr
    assert len(out.read_text().splitlines()) == 1
