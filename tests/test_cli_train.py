"""The `train` command as a user runs it: through Typer's runner and as a real subprocess."""

from __future__ import annotations

import json

import pytest
from cli_helpers import run_cli
from typer.testing import CliRunner

from mnist_edge.cli import app


def test_train_seed_via_runner_prints_like_the_seed_script(mnist_file, tmp_path):
    out = tmp_path / "mnist_model.h5"
    result = CliRunner().invoke(app, [
        "train", "--arch", "seed", "--data", str(mnist_file), "--train-samples", "1000",
        "--test-samples", "200", "--epochs", "1", "--out", str(out), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    acc_line = next(ln for ln in lines if ln.startswith("Test Accuracy: "))
    err_line = next(ln for ln in lines if ln.startswith("Test Error: "))
    accuracy = float(acc_line.split(": ")[1])
    assert len(acc_line.split(": ")[1]) == 6  # 0.xxxx like the seed script
    assert abs(float(err_line.split(": ")[1]) - 100 * (1 - accuracy)) < 0.01
    metrics = json.loads(out.with_suffix(".json").read_text())
    assert metrics["arch"] == "seed" and metrics["train_examples"] == 1000


def test_train_subprocess_reads_env_var_and_saves_loadable_model(mnist_file, tmp_path):
    out = tmp_path / "m.h5"
    proc = run_cli("train", "--arch", "seed", "--train-samples", "500", "--test-samples", "100",
                   "--epochs", "1", "--out", str(out), "--quiet",
                   env_extra={"MNIST_EDGE_DATA": str(mnist_file)})
    assert proc.returncode == 0, proc.stderr
    assert "Test Accuracy: " in proc.stdout
    import keras

    assert keras.models.load_model(out).output_shape == (None, 10)


@pytest.mark.parametrize("args, message", [
    (["--data", "/nonexistent/mnist.npz"], "not found"),
    (["--epochs", "abc"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--arch", "resnet"], "--arch"),
    (["--out", "model.txt"], ".h5"),
])
def test_bad_input_is_one_clear_line(args, message, tmp_path):
    proc = run_cli("train", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--arch", "seed", "--photos", "."], "--photos applies to the edge recipe"),
    (["--photos", "{tmp}"], "no corners.csv"),
])
def test_bad_photos_are_one_line_before_training(args, message, tmp_path, mnist_file):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = tmp_path / "m.h5"
    proc = run_cli("train", *args, "--out", str(out), "--data", str(mnist_file))
    assert proc.returncode == 2 and not out.exists()
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr


def test_truncated_data_fails_cleanly_and_keeps_existing_model(mnist_file, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(mnist_file.read_bytes()[:1000])
    out = tmp_path / "mnist_model.h5"
    out.write_bytes(b"previous model")
    proc = run_cli("train", "--data", str(bad), "--out", str(out))
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_bytes() == b"previous model"


def test_help_teaches():
    proc = run_cli("train", "--help")
    assert proc.returncode == 0
    for word in ("--arch", "--epochs", "--batch-size", "--seed", "--out", "--data"):
        assert word in proc.stdout


def test_unwritable_output_is_one_line_before_training(mnist_file, tmp_path):
    """Issue 13.4: a parent that is a file or a target that is a folder failed with a traceback,
    and only after training."""
    import time

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker / "m.h5", tmp_path / "folder.h5"):
        if out.name == "folder.h5":
            out.mkdir()
        started = time.monotonic()
        proc = run_cli("train", "--arch", "seed", "--train-samples", "2000", "--epochs", "3",
                       "--data", str(mnist_file), "--out", str(out))
        assert proc.returncode == 2, proc.stderr
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "cannot write" in errors[0], proc.stderr
        assert "Traceback" not in proc.stderr and "Epoch" not in proc.stdout + proc.stderr
        assert time.monotonic() - started < 120
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.h5"]
    assert list((tmp_path / "folder.h5").iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**32)], "--seed"),
    (["--epochs", "100000000"], "--epochs"),
])
def test_bad_seed_and_absurd_epochs_are_one_line(args, message):
    """Issue 13.5: these gave tracebacks (or hours of training)."""
    proc = run_cli("train", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_library_refuses_bad_seed_and_epochs(mnist, tmp_path):
    from mnist_edge.common.errors import UserError
    from mnist_edge.training.train import train

    with pytest.raises(UserError, match="seed"):
        train(mnist, out=tmp_path / "m.h5", seed=-1)
    with pytest.raises(UserError, match="epochs"):
        train(mnist, out=tmp_path / "m.h5", epochs=10**6)


def test_the_readmes_quick_run_shows_a_working_model(mnist_file, tmp_path):
    """Issue 13.11: the README's quick run printed 59% and looked broken."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("mnist-edge train")
                and "quick" in ln)
    args = shlex.split(line.split("#")[0])[1:]
    proc = run_cli(*args, "--data", str(mnist_file), "--out", str(tmp_path / "q.h5"))
    assert proc.returncode == 0, proc.stderr
    accuracy = float(re.search(r"Test Accuracy: ([\d.]+)", proc.stdout)[1])
    claimed = int(re.search(r"~(\d+)%", line)[1]) / 100
    assert accuracy >= claimed - 0.03, (accuracy, line)


def test_train_with_photos_mixes_their_cells_and_credits_the_dataset(mnist_file, tmp_path):
    from grid_folders import grid_photo_folder

    folder = grid_photo_folder(tmp_path / "photos")
    out = tmp_path / "p.h5"
    proc = run_cli("train", "--data", str(mnist_file), "--train-samples", "600",
                   "--test-samples", "100", "--epochs", "1", "--photos", str(folder),
                   "--out", str(out), env_extra={"MNIST_EDGE_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.with_suffix(".json").read_text())
    photos = metrics["sources"]["photos"]
    assert photos["photos"] == 2 and photos["crops"] > 50 and "sudoku_dataset" in photos["credit"]
    assert metrics["mix"]["photos"] == 0.25 and "grid photos" in metrics["training_data"]
    assert "photo cells" in proc.stderr and str(tmp_path) not in json.dumps(photos)
    assert str(tmp_path) not in metrics["command"] and "--out p.h5" in metrics["command"]
