"""`mnist-edge bundle --ansible DIR`: the playbook it writes, run by the real ansible-playbook
against 4 loopback sshd "devices" (tests/sshd_harness.py) with serial: 2."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sshd_harness import (
    SshLab,
    ansible_inventory,
    bundle_wheel_requirements,
    ensure_wheelhouse,
    find_sshd,
)

from mnist_edge.shipping import deploy as dp
from mnist_edge.shipping.ansible import write_ansible
from mnist_edge.shipping.bundle import build_bundle, read_manifest

REPO = Path(__file__).resolve().parents[1]
PLAYBOOK = shutil.which("ansible-playbook")

pytestmark = [
    pytest.mark.skipif(PLAYBOOK is None, reason="ansible-core not installed (pip install "
                                                "ansible-core; it is in the dev extra)"),
    pytest.mark.skipif(find_sshd() is None, reason="openssh-server not installed"),
]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    out = tmp_path_factory.mktemp("ansible-bundles")
    a = build_bundle(out / "a.tar.gz", model=REPO / "models" / "seed_int8.tflite")
    b = build_bundle(out / "b.tar.gz", model=REPO / "models" / "edge_int8.tflite")
    return {"a": a, "b": b}


def _links(home: Path) -> tuple[str, str]:
    root = home / "mnist-edge"
    return tuple(os.readlink(root / n).removeprefix("releases/") if (root / n).is_symlink()
                 else "" for n in ("current", "previous"))


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(cwd / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(cwd / ".ansible-tmp")}
    return subprocess.run([PLAYBOOK, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=900)


def test_written_playbook_passes_syntax_check(bundles, tmp_path):
    b = bundles["b"]
    write_ansible(tmp_path / "fleet", b.path, b.manifest, b.sha256, serial=3)
    fleet = tmp_path / "fleet"
    proc = _run(fleet, "-i", "inventory.example.ini", "playbook.yml", "--syntax-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _run(fleet, "-i", "inventory.example.ini", "playbook.yml", "--list-hosts")
    assert "kitchen-pi" in proc.stdout and "garage-pi" in proc.stdout
    text = (fleet / "playbook.yml").read_text()
    assert b.manifest["id"] in text and b.sha256 in text and "default(3)" in text
    assert (fleet / "files" / b.path.name).read_bytes() == b.path.read_bytes()


def test_rolling_update_of_four_hosts_with_a_failing_one(bundles, tmp_path):
    """Bundle A on 4 hosts (deployed with `deploy`); the playbook rolls bundle B out two hosts
    at a time. --check changes nothing; then hosts 1-3 update, host 4 (whose install fails:
    its venv cannot be made) keeps A current and running, and the rollout reports it."""
    lab = SshLab(tmp_path / "lab")
    try:
        pis = [lab.start() for _ in range(4)]
        venv = lab.root / "shared-venv"
        house = ensure_wheelhouse(bundle_wheel_requirements(bundles["a"].path))
        opts = dp.DeployOptions(ssh=dp.Ssh(lab.config), install_args=dp.install_args(
            venv=str(venv), wheelhouse=str(house), service=False))
        hosts = [dp.parse_host(p.host) for p in pis]
        first = dp.deploy(hosts[:1], bundles["a"].path, opts)  # makes the shared venv
        rest = dp.deploy(hosts[1:], bundles["a"].path, opts)
        assert all(r.ok for r in first + rest), [r.message for r in first + rest]
        before = [_links(p.home)[0] for p in pis]  # deploy's release ids (A everywhere)
        assert all(before)
        b_id = read_manifest(bundles["b"].path)["id"]  # the playbook's release id

        b = bundles["b"]
        fleet = tmp_path / "fleet"
        write_ansible(fleet, b.path, b.manifest, b.sha256, serial=2,
                      install_args=f"--venv {venv} --wheelhouse {house} --no-service")
        (fleet / "inventory.ini").write_text(ansible_inventory(lab, pis, {
            3: "mnist_edge_install_args='--venv /proc/no-venv-here --no-service'"}))

        check = _run(fleet, "playbook.yml", "--check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert [_links(p.home)[0] for p in pis] == before  # check mode changed nothing

        proc = _run(fleet, "playbook.yml")
        out = proc.stdout
        assert proc.returncode != 0, out  # one host failed
        assert out.count("PLAY [Roll out mnist-edge") == 2, out  # two batches of two
        for i in (0, 1, 2):
            assert _links(pis[i].home) == (b_id, before[i]), (i, out)
        assert _links(pis[3].home) == (before[3], ""), out
        assert "pi4" in out and "failed=1" in out
        # what the failed host runs is still A, and it still reads digits
        st = lab.ssh(pis[3], "~/mnist-edge/current/bin/mnist-edge selftest")
        assert st.returncode == 0, st.stdout + st.stderr

        again = _run(fleet, "playbook.yml", "--limit", "pi1:pi2:pi3")
        assert again.returncode == 0, again.stdout
        assert "changed=0" in again.stdout and "changed=1" not in again.stdout  # idempotent
    finally:
        lab.stop()
