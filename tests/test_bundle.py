"""``mnist-edge bundle`` and ``selftest``: what goes in the .tar.gz, and what must never."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from cli_helpers import HEAVY_MODULES
from typer.testing import CliRunner

from mnist_edge.cli import app
from mnist_edge.common.errors import UserError
from mnist_edge.shipping.bundle import (
    BUNDLE_ROOT,
    RunnerOptions,
    build_bundle,
    build_wheel,
    device_requirements,
    read_manifest,
    sha256_file,
    systemd_quote,
    wheel_requirements,
)
from mnist_edge.shipping.selftest import read_labels, selftest_release

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnist_edge", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def _unpack(bundle: Path, dest: Path) -> Path:
    with tarfile.open(bundle) as tar:
        tar.extractall(dest, filter="data")
    return dest / BUNDLE_ROOT


@pytest.fixture(scope="module")
def bundle(deploy_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "pi.tar.gz"
    runner = RunnerOptions(serve="0.0.0.0:8080", source="rtsp://cam/live 1", jsonl="r.jsonl")
    return build_bundle(out, model=deploy_models["float"], samples=deploy_models["samples"],
                        runner=runner)


def test_bundle_holds_exactly_what_the_device_needs(bundle, deploy_models, tmp_path):
    root = _unpack(bundle.path, tmp_path)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    samples = sorted(f"samples/{p.name}" for p in deploy_models["samples"].iterdir())
    wheel = next(f for f in files if f.startswith("wheels/"))
    assert files == sorted(["SHA256SUMS", "bundle.env", "install.sh", "manifest.json",
                            "mnist-edge.service", "model/tiny_float.tflite",
                            "requirements.txt", wheel, *samples])
    assert wheel.startswith("wheels/mnist_edge-") and wheel.endswith("-py3-none-any.whl")
    # the manifest hashes every other file, and SHA256SUMS checks with the system tool
    manifest = json.loads((root / "manifest.json").read_text())
    assert sorted(manifest["files"]) == sorted(set(files) - {"manifest.json", "SHA256SUMS"})
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(root / name), name
    assert manifest["model"]["sha256"] == sha256_file(deploy_models["float"])
    assert manifest["samples"]["count"] == 10 and manifest == read_manifest(bundle.path)
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=root, capture_output=True,
                           text=True)
    assert check.returncode == 0 and check.stdout.count(": OK") == len(files) - 1
    assert bundle.sha256 == sha256_file(bundle.path)
    assert (root / "install.sh").stat().st_mode & 0o111


def test_bundle_has_no_tensorflow_and_headless_opencv(bundle, tmp_path):
    root = _unpack(bundle.path, tmp_path)
    with tarfile.open(bundle.path) as tar:
        names = tar.getnames()
    assert not [n for n in names if n.endswith((".h5", ".keras")) or "tensorflow" in n.lower()]
    requirements = (root / "requirements.txt").read_text().split()
    assert "opencv-python-headless>=4.8" in requirements
    assert not [r for r in requirements if r.startswith(("tensorflow", "keras", "opencv-python>"))]
    wheel = next((root / "wheels").glob("*.whl"))
    tf_reqs = [r for r in wheel_requirements(wheel) if r.lower().startswith("tensorflow")]
    # only in the [train] extra, never a base dependency
    assert tf_reqs and all(re.search(r"extra\s*==\s*[\"']train[\"']", r) for r in tf_reqs)
    with zipfile.ZipFile(wheel) as zf:
        assert not [n for n in zf.namelist() if n.endswith((".h5", ".keras"))]
        assert "mnist_edge/shipping/files/install.sh" in zf.namelist()


def test_unit_and_env_carry_the_runner_options(bundle, tmp_path):
    root = _unpack(bundle.path, tmp_path)
    unit = (root / "mnist-edge.service").read_text()
    exec_line = next(ln for ln in unit.splitlines() if ln.startswith("ExecStart="))
    assert exec_line == (
        "ExecStart=@PREFIX@/current/bin/mnist-edge webcam --headless --model "
        "@PREFIX@/current/model/tiny_float.tflite --source \"rtsp://cam/live 1\" "
        "--serve 0.0.0.0:8080 --jsonl r.jsonl")
    assert "Restart=on-failure" in unit and "WorkingDirectory=@PREFIX@" in unit
    env = dict(ln.split("=", 1) for ln in (root / "bundle.env").read_text().splitlines()
               if "=" in ln and not ln.startswith("#"))
    assert env["MODEL"] == "model/tiny_float.tflite" and env["SERVE"] == "0.0.0.0:8080"
    assert env["BUNDLE_ID"] == bundle.manifest["id"] and env["JSONL"] == "r.jsonl"


def test_systemd_quote_escapes_what_systemd_expands():
    assert systemd_quote("0.0.0.0:8080") == "0.0.0.0:8080"
    assert systemd_quote("a b") == '"a b"'
    assert systemd_quote('say "hi" \\ 100%') == '"say \\"hi\\" \\\\ 100%%"'
    assert systemd_quote("$HOME") == '"$$HOME"'
    with pytest.raises(UserError):
        RunnerOptions(source="two\nlines").args()


def test_wheel_ships_tflite_models_and_their_json_only(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "hatch_build.py", "README.md"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "mnist_edge", project / "mnist_edge",
                    ignore=shutil.ignore_patterns("__pycache__", "_models"))
    models = project / "models"
    models.mkdir()
    for name in ("edge.h5", "edge.json", "edge_int8.tflite", "edge_int8.json", "seed.keras"):
        (models / name).write_bytes(b"x" * 10)
    wheel = build_wheel(tmp_path / "dist", root=project)
    with zipfile.ZipFile(wheel) as zf:
        shipped = sorted(n for n in zf.namelist() if "_models" in n)
    assert shipped == ["mnist_edge/_models/edge_int8.json", "mnist_edge/_models/edge_int8.tflite"]
    assert "opencv-python-headless>=4.8" in device_requirements(wheel)


def test_bundle_refuses_a_model_that_fails_its_own_selftest(deploy_models, tmp_path):
    wrong = tmp_path / "wrong"
    shutil.copytree(deploy_models["samples"], wrong)
    labels = read_labels(wrong)
    first = sorted(labels)[0]
    labels[first] = str((int(labels[first]) + 1) % 10)
    (wrong / "labels.json").write_text(json.dumps(labels))
    out = tmp_path / "b.tar.gz"
    with pytest.raises(UserError, match=rf"fails its own self-test.*{first}"):
        build_bundle(out, model=deploy_models["float"], samples=wrong)
    assert not out.exists() and not list(tmp_path.glob(".b.*"))
    info = build_bundle(out, model=deploy_models["float"], samples=wrong, verify=False)
    report = selftest_release(_unpack(info.path, tmp_path / "x"))
    assert not report.ok and [c.name for c in report.failures] == [first]


def test_default_samples_come_from_mnist_two_per_class(deploy_models, mnist_file, tmp_path):
    info = build_bundle(tmp_path / "b.tar.gz", model=deploy_models["dynamic"], data=mnist_file,
                        verify=False)
    labels = read_labels(_unpack(info.path, tmp_path) / "samples")
    assert len(labels) == 20 and sorted(labels.values()) == sorted(list("0123456789") * 2)


def test_selftest_command_on_an_unpacked_bundle(bundle, tmp_path):
    root = _unpack(bundle.path, tmp_path)
    ok = _cli("selftest", str(root), "--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout[ok.stdout.index("{"):])
    assert report["ok"] and len(report["samples"]) == 10 and report["runtime"] == "litert"
    labels = json.loads((root / "samples" / "labels.json").read_text())
    name = sorted(labels)[3]
    labels[name] = str((int(labels[name]) + 5) % 10)
    (root / "samples" / "labels.json").write_text(json.dumps(labels))
    bad = _cli("selftest", str(root))
    assert bad.returncode == 1 and "self-test FAILED: 9/10" in bad.stdout and name in bad.stdout


def test_device_side_never_imports_tensorflow(bundle, tmp_path):
    root = _unpack(bundle.path, tmp_path)
    code = ("import sys; import mnist_edge.cli, mnist_edge.shipping.bundle; "
            "import mnist_edge.shipping.deploy; "
            "from mnist_edge.shipping.selftest import selftest_release; "
            f"assert selftest_release({str(root)!r}).ok; "
            f"bad = {HEAVY_MODULES}; "
            "print('TF' if bad else 'clean')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "clean", proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--model", "nope.tflite"], "model not found: nope.tflite"),
    (["--model", "pyproject.toml"], "bundle a converted .tflite model"),
    (["--samples", "mnist_edge"], "no labels.json in mnist_edge"),
])
def test_bundle_bad_input_is_one_error_line(args, message, deploy_models, tmp_path):
    out = tmp_path / "b.tar.gz"
    if "--model" not in args:
        args = [*args, "--model", str(deploy_models["float"])]
    proc = _cli("bundle", "-o", str(out), *args)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()
    result = CliRunner().invoke(app, ["bundle", "-o", str(out), *args])
    assert result.exit_code == 2 and message in result.output and not out.exists()


def test_bundle_command_prints_what_it_wrote(deploy_models, tmp_path):
    out = tmp_path / "cli.tar.gz"
    proc = _cli("bundle", "-o", str(out), "--model", str(deploy_models["dynamic"]),
                "--samples", str(deploy_models["samples"]), "--serve", "127.0.0.1:8080")
    assert proc.returncode == 0, proc.stderr
    manifest = read_manifest(out)
    assert manifest["id"] in proc.stdout and "10 self-test samples" in proc.stdout
    assert manifest["service"]["webcam_args"] == ["--serve", "127.0.0.1:8080"]


def test_unit_install_sh_renders_passes_systemd_analyze(bundle, tmp_path):
    analyze = shutil.which("systemd-analyze")
    root = _unpack(bundle.path, tmp_path)
    prefix = tmp_path / "pi"
    proc = subprocess.run(["sh", str(root / "install.sh"), "--print-unit", "--prefix",
                           str(prefix)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    unit = proc.stdout
    assert "@" not in unit.replace("--serve", "")  # every placeholder filled in
    assert f"ExecStart={prefix}/current/bin/mnist-edge webcam --headless --model {prefix}/" in unit
    assert f"WorkingDirectory={prefix}\n" in unit and "WantedBy=" in unit
    if analyze is None:  # Debian's systemd package provides it; the text checks above still ran
        return
    # systemd's own parser, offline: it must not complain about a single line
    (prefix / "current" / "bin").mkdir(parents=True)
    exe = prefix / "current" / "bin" / "mnist-edge"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (tmp_path / "mnist-edge.service").write_text(unit)
    check = subprocess.run([analyze, "verify", str(tmp_path / "mnist-edge.service")],
                           capture_output=True, text=True)
    assert check.returncode == 0 and not check.stderr.strip(), check.stderr


@pytest.mark.parametrize("args, message", [
    (["/nonexistent"], "is not an unpacked mnist-edge bundle"),
    ([], "name a release folder, or both --model and --samples"),
    (["--model", "nope.tflite", "--samples", "/nonexistent"], "no labels.json in /nonexistent"),
])
def test_selftest_bad_input_is_one_error_line(args, message, monkeypatch):
    monkeypatch.delenv("MNIST_EDGE_RELEASE", raising=False)
    proc = _cli("selftest", *args)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    result = CliRunner().invoke(app, ["selftest", *args])
    assert result.exit_code == 2 and message in result.output


def test_bundle_onto_a_folder_or_under_a_file_is_one_line_before_building(deploy_models,
                                                                           tmp_path):
    """Issue 13.4: an unwritable output is refused before the wheel is built."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (tmp_path, blocker / "b.tar.gz"):
        proc = _cli("bundle", "-o", str(out), "--model", str(deploy_models["float"]))
        assert proc.returncode == 2 and proc.stderr.startswith("error: cannot write"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert "building" not in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_service_carries_the_auth_file_of_the_live_view():
    """Issue 13.10: bundle/deploy carry the login into the service's webcam command."""
    from mnist_edge.shipping.bundle import RunnerOptions

    args = RunnerOptions(serve="0.0.0.0:8080", auth_file="/etc/mnist-edge/auth").args()
    assert args[-2:] == ["--auth-file", "/etc/mnist-edge/auth"] and "--serve" in args
    with pytest.raises(UserError, match="--serve"):
        RunnerOptions(auth_file="auth").args()


def test_install_sh_help_says_what_keep_does_and_the_exit_codes():
    """Issue 13.11: --keep was documented as 'besides current and previous'; the script keeps
    the N newest (current, previous and the new one always)."""
    install = REPO / "mnist_edge" / "shipping" / "files" / "install.sh"
    text = subprocess.run(["sh", str(install), "--help"], capture_output=True, text=True,
                          check=True).stdout
    assert "keep the N newest releases" in text and "besides" not in text
    assert "Exit status: 0 ok" in text and "6 switch or service failed." in text
    assert "set -eu" not in text


def test_quick_start_outputs_are_ignored_by_git():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    names = ["mnist_model.h5", "mnist_model.json", "mnist_model_int8.tflite",
             "mnist_model_int8.json", "mnist_model_int8_eval.json", "mnist_model_confusion.png",
             "readings.jsonl"]
    done = subprocess.run(["git", "check-ignore", *names], cwd=REPO, capture_output=True,
                          text=True)
    assert sorted(done.stdout.split()) == sorted(names)
