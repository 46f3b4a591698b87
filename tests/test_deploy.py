"""``mnist-edge deploy`` against real OpenSSH servers on 127.0.0.1 (no ssh mocks).

Each sshd stands for a Raspberry Pi with its own $HOME. The first deploy provisions a fresh venv
from a local wheelhouse (downloaded once per machine, then reused); later tests share that venv
through ``--venv`` so they take seconds. Faults are real: a corrupted file in the bundle, samples
the model misreads, and a TCP proxy that resets the connection in the middle of the upload.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from sshd_harness import (
    DroppingProxy,
    SshLab,
    bundle_wheel_requirements,
    ensure_wheelhouse,
    find_sshd,
)

from mnist_edge.common.errors import UserError
from mnist_edge.shipping import deploy as dp
from mnist_edge.shipping.bundle import build_bundle, read_manifest, sha256_file

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(find_sshd() is None,
                                reason="needs Debian's openssh-server (.ci/run installs it)")


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = SshLab(tmp_path_factory.mktemp("ssh") / "lab")
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def pi(lab):
    """The first "device"."""
    return lab.start()


@pytest.fixture(scope="module")
def bundles(deploy_models, tmp_path_factory):
    """Bundle A (float model, service writes readings.jsonl) and B (another model)."""
    out = tmp_path_factory.mktemp("bundles")
    from mnist_edge.shipping.bundle import RunnerOptions

    sample = sorted(p.name for p in deploy_models["samples"].glob("*.png"))[0]
    # the service reads one of the release's own sample images (relative to the deploy folder)
    a = build_bundle(out / "a.tar.gz", model=deploy_models["float"],
                     samples=deploy_models["samples"],
                     runner=RunnerOptions(jsonl="readings.jsonl",
                                          source=f"current/samples/{sample}"))
    b = build_bundle(out / "b.tar.gz", model=deploy_models["dynamic"],
                     samples=deploy_models["samples"])
    return {"a": a, "b": b}


@pytest.fixture(scope="module")
def wheelhouse(bundles) -> Path:
    """The device dependencies as wheels, downloaded once per machine (PyPI stays the default
    for users; tests install offline from here with --wheelhouse)."""
    return ensure_wheelhouse(bundle_wheel_requirements(bundles["a"].path))


@pytest.fixture(scope="module")
def venv(lab) -> Path:
    return lab.root / "shared-venv"


def _deploy(lab, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, with the lab's ssh config."""
    return subprocess.run(
        [sys.executable, "-m", "mnist_edge", "deploy", *args, "--ssh-config", str(lab.config)],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )


def _opts(lab, venv=None) -> dp.DeployOptions:
    return dp.DeployOptions(ssh=dp.Ssh(lab.config),
                            install_args=dp.install_args(venv=str(venv) if venv else None))


def _lib_deploy(lab, server, bundle: Path, venv) -> dp.HostResult:
    """The library call the CLI makes (no interpreter start-up: keeps the suite quick)."""
    return dp.deploy([dp.parse_host(server.host)], bundle, _opts(lab, venv))[0]


def _links(home: Path) -> tuple[str, str]:
    root = home / "mnist-edge"
    names = ("current", "previous")
    return tuple(os.readlink(root / n).removeprefix("releases/") if (root / n).is_symlink()
                 else "" for n in names)


def _selftest_on_device(lab, server) -> dict:
    proc = lab.ssh(server, "~/mnist-edge/current/bin/mnist-edge selftest --json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout[proc.stdout.index("{"):])


@pytest.fixture(scope="module")
def first(lab, pi, bundles, wheelhouse, venv):
    """The first deploy to a device that has nothing: a fresh venv, offline from the wheelhouse."""
    start = time.perf_counter()
    proc = _deploy(lab, pi.host, "--bundle", str(bundles["a"].path), "--venv", str(venv),
                   "--wheelhouse", str(wheelhouse))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"proc": proc, "seconds": time.perf_counter() - start, "release": _links(pi.home)[0]}


# ---------------------------------------------------------------------------------- the tests


def test_parse_host_accepts_ssh_forms_and_refuses_options():
    assert dp.parse_host("pi@raspberrypi.local:2222") == dp.Host(
        "pi@raspberrypi.local:2222", "raspberrypi.local", "pi", 2222)
    assert dp.parse_host("kitchen-pi").destination == "kitchen-pi"
    assert dp.parse_host("pi@[fe80::1]:22").scp_prefix == "pi@[fe80::1]:"
    for bad in ("-oProxyCommand=sh", "pi@-x", "a b", "pi@host;reboot", "pi@host:99999",
                "$(id)", "pi@host:", ""):
        with pytest.raises(UserError):
            dp.parse_host(bad)


def test_hostile_host_name_never_reaches_a_shell(lab, tmp_path):
    marker = tmp_path / "pwned"
    proc = _deploy(lab, f"-oProxyCommand=touch {marker}", "--status")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    proc = _deploy(lab, "--status", "--", f"-oProxyCommand=touch {marker}")
    assert proc.returncode == 2 and "bad host '-oProxyCommand" in proc.stderr
    proc = _deploy(lab, f"pi@x;touch {marker}", "--status")
    assert proc.returncode == 2 and "bad host" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_dry_run_prints_the_plan_and_touches_nothing(lab, bundles, tmp_path):
    proc = _deploy(lab, "pi@127.0.0.1:1", "--bundle", str(bundles["a"].path), "--dry-run",
                   "--remote-dir", str(tmp_path / "never"))
    assert proc.returncode == 0, proc.stderr
    assert "1. prepare: ssh -F" in proc.stdout
    assert "-- pi@127.0.0.1 'sh -s -- prepare" in proc.stdout
    assert "2. upload:  scp -q" in proc.stdout and f"{bundles['a'].sha256[:16]}" in proc.stdout
    assert not (tmp_path / "never").exists()


def test_first_deploy_provisions_a_venv_without_tensorflow(lab, pi, first, venv):
    out = first["proc"].stdout
    assert "ok" in out and first["release"] in out and "self-test passed: 10/10" in out
    log = (pi.home / "mnist-edge" / "logs" / f"{first['release']}.log").read_text()
    assert "creating venv" in log and "dependencies installed (litert)" in log
    assert "manifest verified" in log and "systemd is not running here" in log
    vpy = "$(readlink ~/mnist-edge/current/bin/python)"  # the venv of this dependency set
    probe = lab.ssh(pi, f"{vpy} -c 'import importlib.util as u; "
                        "print([bool(u.find_spec(m)) for m in "
                        "(\"tensorflow\", \"keras\", \"ai_edge_litert\", \"cv2\", \"numpy\")])'; "
                        f"{vpy} -m pip list --format=freeze")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines()[0] == "[False, False, True, True, True]"
    assert "opencv-python-headless==" in probe.stdout and "opencv-python==" not in probe.stdout
    assert "tensorflow" not in probe.stdout.lower()


def test_selftest_runs_on_the_device_with_the_deployed_model(lab, pi, first):
    report = _selftest_on_device(lab, pi)
    assert report["ok"] and report["runtime"] == "litert" and len(report["samples"]) == 10
    assert report["model"].startswith(str(pi.home / "mnist-edge" / "releases" / first["release"]))
    assert report["model"].endswith("tiny_float.tflite")


def test_install_sh_twice_is_harmless(lab, pi, first, venv):
    before = _links(pi.home)
    for _ in range(2):
        proc = lab.ssh(pi, f"sh ~/mnist-edge/current/install.sh --venv {venv} --no-service")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "current: already" in proc.stdout and "dependencies up to date" in proc.stdout
    assert _links(pi.home) == before


def test_second_deploy_keeps_the_first_as_previous_and_is_quick(lab, pi, first, bundles, venv):
    start = time.perf_counter()
    result = _lib_deploy(lab, pi, bundles["b"].path, venv)
    seconds = time.perf_counter() - start
    assert result.ok, result.output
    assert set(result.timings) == {"connect", "prepare", "upload", "install"}
    current, previous = _links(pi.home)
    assert (result.release, result.previous) == (current, previous)
    assert previous == first["release"] and current not in ("", first["release"])
    log = (pi.home / "mnist-edge" / "logs" / f"{current}.log").read_text()
    assert "dependencies up to date" in log and "same wheel as the current release" in log
    assert _selftest_on_device(lab, pi)["model"].endswith("tiny_dynamic.tflite")
    assert seconds < 60, f"a model-only update took {seconds:.1f} s"


def _rewrite_bundle(src: Path, dest: Path, change) -> Path:
    """Copy a bundle, letting ``change(name, data) -> data`` alter members (SHA256SUMS kept)."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w:gz") as tout:
        for member in tin.getmembers():
            data = tin.extractfile(member).read() if member.isfile() else None
            if data is not None:
                data = change(member.name, data)
                member.size = len(data)
            tout.addfile(member, io.BytesIO(data) if data is not None else None)
    return dest


def _assert_still_current(lab, pi, before, release) -> None:
    assert _links(pi.home) == before
    assert not (pi.home / "mnist-edge" / "releases" / release).exists()
    assert _selftest_on_device(lab, pi)["ok"]


def test_corrupted_model_leaves_the_previous_release_current(lab, pi, first, bundles, venv,
                                                             tmp_path):
    before = _links(pi.home)

    def corrupt(name, data):
        return data[:100] + bytes(b ^ 0xFF for b in data[100:200]) + data[200:] \
            if name.endswith(".tflite") else data

    bad = _rewrite_bundle(bundles["a"].path, tmp_path / "bad.tar.gz", corrupt)
    proc = _deploy(lab, pi.host, "--bundle", str(bad), "--venv", str(venv))
    assert proc.returncode == 1 and "FAILED" in proc.stdout
    assert (f"{pi.host}: install: bundle damaged, checksum mismatch: "
            "model/tiny_float.tflite: FAILED") in proc.stdout
    _assert_still_current(lab, pi, before, dp.release_id(sha256_file(bad)))


def test_failing_selftest_leaves_the_previous_release_current(lab, pi, first, deploy_models,
                                                              venv, tmp_path):
    before = _links(pi.home)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    labels = json.loads((deploy_models["samples"] / "labels.json").read_text())
    for name in labels:
        (wrong / name).write_bytes((deploy_models["samples"] / name).read_bytes())
    labels = {k: str((int(v) + 1) % 10) for k, v in labels.items()}
    (wrong / "labels.json").write_text(json.dumps(labels))
    proc = _deploy(lab, pi.host, "--model", str(deploy_models["float"]), "--samples", str(wrong),
                   "--no-verify", "--venv", str(venv))
    assert proc.returncode == 1
    assert f"{pi.host}: install: self-test failed: release" in proc.stdout
    assert _links(pi.home) == before and _selftest_on_device(lab, pi)["ok"]
    releases = sorted(p.name for p in (pi.home / "mnist-edge" / "releases").iterdir())
    assert before[0] in releases and len(releases) == len(set(releases) - {""})
    logs = sorted((pi.home / "mnist-edge" / "logs").iterdir(), key=os.path.getmtime)
    assert "self-test FAILED: 0/10" in logs[-1].read_text()
    assert logs[-1].stem not in releases  # the failed release was removed again


def _fake_wheel(folder: Path, name: str, version: str, init: str) -> Path:
    """A minimal installable wheel whose package runs ``init`` on import."""
    import zipfile

    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": init,
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
        zf.writestr(f"{info}/RECORD", "".join(f"{p},,\n" for p in [*files, f"{info}/RECORD"]))
    return wheel


def test_a_dependency_pin_that_cannot_import_never_breaks_the_running_release(
        lab, pi, first, bundles, venv, wheelhouse, tmp_path):
    """Issue 13.2: install.sh put new dependencies into the venv every release shared, before
    the self-test; when that failed, the running release ran on them (ImportError)."""
    before = _links(pi.home)
    assert _selftest_on_device(lab, pi)["ok"]
    house = tmp_path / "house"
    house.mkdir()
    for wheel in wheelhouse.glob("*.whl"):
        (house / wheel.name).symlink_to(wheel)
    _fake_wheel(house, "typer", "999.0", "raise ImportError('typer 999 is broken')\n")

    def pin(name, data):
        if name.endswith("/requirements.txt"):
            return data.replace(b"typer>=0.12", b"typer==999.0")
        return data

    bad = _rewrite_bundle(bundles["a"].path, tmp_path / "pinned.tar.gz", pin)
    with tarfile.open(bad) as tar:
        pinned = tar.extractfile("mnist-edge-bundle/requirements.txt").read()
    assert b"typer==999.0" in pinned
    new_sum = hashlib.sha256(pinned).hexdigest()

    def sums(name, data):
        if name.endswith("/SHA256SUMS"):
            return b"".join(f"{new_sum}  requirements.txt\n".encode()
                            if line.endswith(b"  requirements.txt\n") else line
                            for line in data.splitlines(keepends=True))
        return data

    bad = _rewrite_bundle(bad, tmp_path / "pinned2.tar.gz", sums)
    proc = _deploy(lab, pi.host, "--bundle", str(bad), "--venv", str(venv),
                   "--wheelhouse", str(house))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "self-test failed" in proc.stdout, proc.stdout
    assert _links(pi.home) == before
    assert _selftest_on_device(lab, pi)["ok"]  # still runs on the venv it was tested with
    assert not list(venv.glob(".*.tmp.*"))  # no half-built venv left behind
    # and a rollback, too, runs each release on its own venv
    proc = _deploy(lab, pi.host, "--rollback", "--venv", str(venv))
    assert proc.returncode == 0 and _selftest_on_device(lab, pi)["ok"], proc.stdout
    proc = _deploy(lab, pi.host, "--rollback", "--venv", str(venv))
    assert proc.returncode == 0 and _links(pi.home) == before


def test_connection_dropped_mid_upload_leaves_the_previous_release_current(
        lab, pi, first, bundles, venv):
    before = _links(pi.home)
    size = bundles["a"].size
    assert size > 100_000  # big enough that only the upload crosses the limit
    proxy = DroppingProxy(pi.port, drop_after=size // 2)
    lab.trust_port(proxy.port)
    try:
        host = dp.parse_host(f"{pi.user}@127.0.0.1:{proxy.port}")
        result = dp.deploy([host], bundles["a"].path, _opts(lab, venv))[0]
    finally:
        proxy.close()
    assert not result.ok and result.step == "upload" and proxy.dropped >= 1
    assert result.message.startswith("upload failed")
    assert _links(pi.home) == before and _selftest_on_device(lab, pi)["ok"]
    # a later deploy through the healthy link works and keeps the last good one as previous
    again = _lib_deploy(lab, pi, bundles["a"].path, venv)
    assert again.ok, again.output
    assert _links(pi.home)[1] == before[0]


def test_rollback_switches_back_and_forth(lab, pi, first, venv):
    current, previous = _links(pi.home)
    assert current and previous
    proc = _deploy(lab, pi.host, "--rollback", "--venv", str(venv))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{pi.host}: rolled back to {previous}" in proc.stdout
    assert _links(pi.home) == (previous, current)
    assert _selftest_on_device(lab, pi)["ok"]
    back = dp.rollback_host(dp.parse_host(pi.host), _opts(lab))
    assert back.ok and (back.release, back.previous) == (current, previous)
    assert _links(pi.home) == (current, previous)


def test_a_device_without_sftp_gets_the_bundle_by_scp_legacy(lab, first, bundles, venv,
                                                             wheelhouse):
    """Issue 13.9: scp needs the device's SFTP subsystem; without one the upload failed with
    'scp: Connection closed'."""
    bare = lab.start(sftp=False)
    opts = dp.DeployOptions(ssh=dp.Ssh(lab.config), install_args=dp.install_args(
        venv=str(venv), wheelhouse=str(wheelhouse)))
    result = dp.deploy([dp.parse_host(bare.host)], bundles["b"].path, opts)[0]
    assert result.ok, result.message + result.output
    assert result.upload == "scp -O" and "uploaded with scp -O" in result.message
    assert _selftest_on_device(lab, bare)["ok"]


def test_rollback_without_previous_fails_clearly(lab, tmp_path):
    fresh = lab.start()
    result = dp.rollback_host(dp.parse_host(fresh.host), _opts(lab))
    assert not result.ok and result.step == "rollback"
    assert result.message.startswith("no previous release to roll back to")


def test_status_shows_release_service_and_last_reading(lab, pi, first, bundles, venv):
    result = _lib_deploy(lab, pi, bundles["a"].path, venv)
    assert result.ok, result.output
    current, previous = _links(pi.home)
    # no systemd here: install.sh says so and prints the service's command; run exactly that on
    # the device, as systemd would, so the unit's webcam options are proven to work
    hint = next(ln for ln in result.output.splitlines() if "run the reader by hand" in ln)
    command = hint.split("run the reader by hand: ", 1)[1]
    assert "webcam --headless" in command and "--jsonl readings.jsonl" in command
    run = lab.ssh(pi, command)
    assert run.returncode == 0, run.stdout + run.stderr
    last = (pi.home / "mnist-edge" / "readings.jsonl").read_text().splitlines()[-1]
    assert set(json.loads(last)) >= {"frame", "digits"}
    proc = _deploy(lab, pi.host, "--status")
    assert proc.returncode == 0, proc.stderr
    assert current in proc.stdout and previous in proc.stdout
    assert (f"{pi.host}: service: not installed (no systemd); last reading: {last}"
            in proc.stdout)
    results = dp.for_hosts([dp.parse_host(pi.host)],
                           lambda h: dp.status_host(h, _opts(lab)))
    assert results[0].release == current and results[0].previous == previous
    assert results[0].values["reading"] == last


def read_manifest_current(server) -> dict:
    return json.loads((server.home / "mnist-edge" / "current" / "manifest.json").read_text())


def test_two_hosts_deploy_in_parallel(lab, first, bundles, venv):
    pis = [lab.start(), lab.start()]
    hosts = [dp.parse_host(p.host) for p in pis]
    results = dp.deploy(hosts, bundles["b"].path, _opts(lab, venv))
    assert [r.ok for r in results] == [True, True], [r.message for r in results]
    assert results[0].release == results[1].release == _links(pis[0].home)[0] \
        == _links(pis[1].home)[0]
    # the two hosts ran at the same time, not one after the other
    assert max(r.started for r in results) < min(r.finished for r in results)
    proc = _deploy(lab, *(p.host for p in pis), "--bundle", str(bundles["a"].path),
                   "--venv", str(venv))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count(" ok ") == 2
    assert all(f"{p.host}: self-test passed" in proc.stdout for p in pis)
    for p in pis:
        assert _links(p.home)[1] == results[0].release
        assert read_manifest_current(p)["id"] == read_manifest(bundles["a"].path)["id"]


def test_a_failing_host_is_reported_and_the_others_still_deploy(lab, pi, first, bundles, venv):
    dead = lab.start()
    dead.proc.terminate()
    dead.proc.wait()
    proc = _deploy(lab, pi.host, dead.host, "--bundle", str(bundles["b"].path),
                   "--venv", str(venv))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(pi.host in ln and " ok " in ln for ln in lines)
    assert any(dead.host in ln and "FAILED" in ln for ln in lines)
    assert f"{dead.host}: connect: " in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["pi@x;reboot", "--status"], "bad host 'pi@x;reboot'"),
    (["pi@host", "--rollback", "--status"], "--dry-run, --rollback and --status are exclusive"),
    (["pi@host", "--remote-dir", "a b"], "--remote-dir 'a b'"),
    (["pi@host", "--ssh-config", "/nonexistent/config"], "--ssh-config /nonexistent/config"),
    (["pi@host", "--bundle", "b.tar.gz", "--serve", "0.0.0.0:80"], "--bundle already holds"),
    (["pi@host", "--bundle", "/nonexistent.tar.gz"], "bundle not found"),
])
def test_deploy_bad_input_is_one_error_line(args, message):
    from typer.testing import CliRunner

    from mnist_edge.cli import app

    result = CliRunner().invoke(app, ["deploy", *args])
    assert result.exit_code == 2 and message in result.output, result.output
    proc = subprocess.run([sys.executable, "-m", "mnist_edge", "deploy", *args],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_killed_deploy_leaves_no_ssh_master_and_its_folder_is_swept(lab, pi, first, bundles,
                                                                      venv, tmp_path):
    """Issue 13.8: SIGKILL during a deploy left an orphan ssh ControlMaster and its folder."""
    import shutil
    import signal
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="mx", dir="/tmp"))  # a unix socket path is short
    # the deploy is held at its first step after connecting, so the kill lands mid-deploy (a
    # bundle the host holds already deploys in well under the half second waited below)
    code = (
        "import sys, tempfile, time; tempfile.tempdir = sys.argv[1]\n"
        "from pathlib import Path\n"
        "from mnist_edge.shipping import deploy as dp\n"
        "ssh = dp.Ssh(Path(sys.argv[2]), persist_s=2)\n"
        "opts = dp.DeployOptions(ssh=ssh, install_args=dp.install_args(venv=sys.argv[4]))\n"
        "hold = lambda host, what: what == 'preparing' and time.sleep(120)\n"
        "dp.deploy([dp.parse_host(sys.argv[3])], Path(sys.argv[5]), opts, step=hold)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(root), str(lab.config), pi.host,
                             str(venv), str(bundles["b"].path)], cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(root.glob("mnist-edge-ssh.*/master")):
        time.sleep(0.05)
    assert list(root.glob("mnist-edge-ssh.*/master")), "the deploy never connected"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # The master goes once idle (persist_s), and the next deploy sweeps the folder.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and list(root.glob("mnist-edge-ssh.*/master")):
        time.sleep(0.2)
    assert not list(root.glob("mnist-edge-ssh.*/master"))
    ps = subprocess.run(["pgrep", "-f", f"ControlPath={root}"], capture_output=True, text=True)
    assert ps.stdout.strip() == "", ps.stdout
    removed = dp.sweep_stale_mux_dirs(str(root))
    assert removed and not list(root.glob("mnist-edge-ssh.*"))
    shutil.rmtree(root, ignore_errors=True)
    # the device is left consistent: a later deploy works
    assert _lib_deploy(lab, pi, bundles["a"].path, venv).ok


_INTERRUPTED_DEPLOY = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from mnist_edge.shipping import deploy as dp\n"
    "opts = dp.DeployOptions(ssh=dp.Ssh(Path(sys.argv[1])),\n"
    "                        install_args=dp.install_args(venv=sys.argv[3]))\n"
    "step = lambda host, what: print('step', what, flush=True)\n"
    "r = dp.deploy([dp.parse_host(sys.argv[2])], Path(sys.argv[4]), opts, step=step)[0]\n"
    "print('result', json.dumps({'ok': r.ok, 'step': r.step, 'release': r.release,\n"
    "                            'message': r.message}), flush=True)\n"
)


def _ctrl_c_at(lab, pi, venv, bundle: Path, when: str) -> dict:
    """A deploy in its own process group, sent SIGINT (what Ctrl-C sends the terminal's whole
    foreground group) once it reports the step ``when``; returns its result."""
    import signal

    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_DEPLOY, str(lab.config),
                             pi.host, str(venv), str(bundle)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, start_new_session=True)
    for line in proc.stdout:
        if line.startswith(f"step {when}"):
            # The step is announced just before its ssh/scp is spawned: a signal sent to the
            # group while that child is being forked (still in the group, for microseconds)
            # kills it, as a Ctrl-C at that very instant would. Let it start first.
            time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGINT)
            break
    out, _ = proc.communicate(timeout=300)
    result = [ln for ln in out.splitlines() if ln.startswith("result ")]
    assert proc.returncode == 0 and result, out
    return json.loads(result[0][len("result "):])


def test_ctrl_c_during_the_install_reports_what_the_host_did(lab, pi, first, bundles, venv):
    """Issue 13.8: Ctrl-C reported FAILED for a host that did switch. The install runs to its
    end (its ssh is not killed) and the result is the host's."""
    before = _links(pi.home)
    result = _ctrl_c_at(lab, pi, venv, bundles["b"].path, "installing")
    assert result["ok"], result
    assert _links(pi.home) == (result["release"], before[0])


def test_a_cancel_before_the_install_changes_nothing_and_says_so(lab, pi, first, bundles, venv):
    """What Ctrl-C does once caught (``cancel`` set while the bundle uploads): the host is not
    installed, and the result says so with what it still runs. (In-process: a tiny bundle
    uploads faster than a signal can be aimed at its upload.)"""
    import threading

    before = _links(pi.home)
    cancel = threading.Event()

    def step(host: str, what: str) -> None:
        if what == "uploading":
            cancel.set()

    result = dp.deploy([dp.parse_host(pi.host)], bundles["a"].path, _opts(lab, venv),
                       step=step, cancel=cancel)[0]
    assert not result.ok, result
    assert result.step == "install" and "cancelled (Ctrl-C) before install" in result.message
    assert f"it still runs {before[0]}" in result.message
    assert _links(pi.home) == before
