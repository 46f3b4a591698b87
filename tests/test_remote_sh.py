"""The device-side deploy driver (``shipping/files/remote.sh``) run directly with ``sh``: what
it says when a device is short of space or an install stops without a word (issue 13.8)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

from mnist_edge.shipping.deploy import remote_script


def _remote(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-s", "--", *args], input=remote_script(), text=True,
                          capture_output=True, env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
                          timeout=60)


def _bundle(path: Path, install_sh: str) -> str:
    """A tarball holding only ``bundle/install.sh``; returns its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        data = install_sh.encode()
        member = tarfile.TarInfo("bundle/install.sh")
        member.size, member.mode = len(data), 0o755
        tar.addfile(member, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_prepare_refuses_a_device_without_room_for_the_bundle(tmp_path):
    done = _remote(tmp_path, "prepare", str(tmp_path / "d"), "r1", str(10**9))
    assert done.returncode == 1
    assert done.stderr.startswith("error: only ") and "MB free in" in done.stderr
    assert "needs about 1000000000 MB" in done.stderr
    ok = _remote(tmp_path, "prepare", str(tmp_path / "d"), "r1", "1")
    assert ok.returncode == 0, ok.stderr
    assert f"dir={tmp_path / 'd'}" in ok.stdout


def test_an_install_that_stops_without_a_word_is_named_with_the_free_space(tmp_path):
    """A full disk kills install.sh in the middle of a step (the shell's own error, no
    'error:' line): the driver says which step it got to and how much room is left."""
    folder = tmp_path / "d"
    assert _remote(tmp_path, "prepare", str(folder), "r1").returncode == 0
    sha = _bundle(folder / "incoming" / "r1.tar.gz",
                  "echo 'install: installing device dependencies'\nexit 7\n")
    done = _remote(tmp_path, "install", str(folder), "r1", sha)
    assert done.returncode == 7
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "install.sh stopped (exit 7) after: install: installing device dependencies" \
        in errors[0]
    assert "MB free in" in errors[0]
    assert not (folder / "releases" / "r1").exists()  # the half-installed release is gone
    assert "current=" in done.stdout


def test_an_install_with_its_own_error_line_keeps_it(tmp_path):
    folder = tmp_path / "d"
    assert _remote(tmp_path, "prepare", str(folder), "r1").returncode == 0
    sha = _bundle(folder / "incoming" / "r1.tar.gz",
                  "echo 'error: self-test failed: release r1 not activated' >&2\nexit 5\n")
    done = _remote(tmp_path, "install", str(folder), "r1", sha)
    assert done.returncode == 5
    assert "install.sh stopped" not in done.stderr
    assert "error: self-test failed" in done.stdout + done.stderr
