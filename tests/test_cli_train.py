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
