"""Benchmark: an Ansible rollout (``bundle --ansible``) to 4 loopback hosts with ``serial: 2``.

The same steps as tests/test_ansible.py, timed, against real OpenSSH servers on 127.0.0.1 (the
"Pis", tests/sshd_harness.py) and the real ``ansible-playbook``:

* bundle A (models/seed_int8.tflite) and bundle B (models/edge_int8.tflite);
* A on all 4 hosts with ``mnist-edge deploy``'s library call (one shared venv, a wheelhouse);
* the playbook written for B with ``serial: 2``, host 4 made to fail (its install gets a venv
  that cannot be made, as in the test): ``--check`` (must change nothing), the rollout (hosts
  1-3 update, host 4 keeps A current), and a re-run on hosts 1-3 (must change nothing);
* baseline, same run: ``deploy`` of B to hosts 1-3 in parallel (``dp.deploy``).

Writes ``benchmarks/fleet.md`` and ``benchmarks/fleet.json`` (atomically) with the machine.

    PYTHONPATH=. python scripts/bench_fleet.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from sshd_harness import (  # noqa: E402
    SshLab,
    ansible_inventory,
    bundle_wheel_requirements,
    ensure_wheelhouse,
)

from mnist_edge import __version__  # noqa: E402
from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.metrics import cpu_model  # noqa: E402
from mnist_edge.shipping import deploy as dp  # noqa: E402
from mnist_edge.shipping.ansible import write_ansible  # noqa: E402
from mnist_edge.shipping.bundle import build_bundle  # noqa: E402

PLAYBOOK = shutil.which("ansible-playbook")
NAMES = ["pi1", "pi2", "pi3", "pi4"]
FAIL_ARGS = "--venv /proc/no-venv-here --no-service"  # host 4: no venv can be made here
RECAP = re.compile(r"^(pi\d)\s*:\s*(.*)$", re.M)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def ansible_version() -> str:
    proc = subprocess.run([PLAYBOOK, "--version"], capture_output=True, text=True)
    first = (proc.stdout.splitlines() or [""])[0]  # ansible-playbook [core 2.19.14]
    found = re.search(r"core ([\w.]+)", first)
    return found.group(1) if found else first


def machine() -> dict:
    """Describe this machine (no TensorFlow: the device side only)."""
    model = cpu_model()
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    return {"cpu": model, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "openssh": ssh_version,
            "ansible_core": ansible_version(), "load_average_at_start": loadavg()}


def links(home: Path) -> dict[str, str]:
    """The host's current and previous release, as its own symlinks say."""
    root = home / "mnist-edge"
    return {n: os.readlink(root / n).removeprefix("releases/") if (root / n).is_symlink()
            else "" for n in ("current", "previous")}


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def playbook(fleet: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(fleet / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(fleet / ".ansible-tmp")}
    return subprocess.run([PLAYBOOK, *args], cwd=fleet, capture_output=True, text=True, env=env,
                          timeout=900)


def recap(out: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP: per host ok/changed/failed/... counts."""
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", rest)}
            for host, rest in RECAP.findall(out)}


def failures(out: str) -> dict[str, dict[str, object]]:
    """For each host that failed: the task it failed in and install.sh's exit status."""
    found: dict[str, dict[str, object]] = {}
    task = ""
    for line in out.splitlines():
        if line.startswith("TASK ["):
            task = line[6:line.find("]")]
        hit = re.match(r"fatal: \[(\w+)\]: FAILED!", line)
        if hit:
            rc = re.search(r'"rc": (\d+)', line)
            found[hit.group(1)] = {"task": task, "rc": int(rc.group(1)) if rc else None}
    return found


def scenario(work: Path, bundles: dict, house: Path) -> dict:
    """One whole run in fresh hosts: A everywhere, check, rollout of B, re-run, baseline."""
    lab = SshLab(work / "lab")
    try:
        pis = [lab.start() for _ in range(4)]
        venv = lab.root / "shared-venv"
        opts = dp.DeployOptions(ssh=dp.Ssh(lab.config), install_args=dp.install_args(
            venv=str(venv), wheelhouse=str(house), service=False))
        hosts = [dp.parse_host(p.host) for p in pis]
        # A everywhere: host 1 first (it makes the shared venv), then the other three
        seed_s, seeded = timed(lambda: dp.deploy(hosts[:1], bundles["a"].path, opts)
                               + dp.deploy(hosts[1:], bundles["a"].path, opts))
        assert all(r.ok for r in seeded), [r.message for r in seeded]
        before = [links(p.home) for p in pis]

        b = bundles["b"]
        b_id = b.manifest["id"]  # the release id the playbook installs
        fleet = work / "fleet"
        write_ansible(fleet, b.path, b.manifest, b.sha256, serial=2,
                      install_args=f"--venv {venv} --wheelhouse {house} --no-service")
        (fleet / "inventory.ini").write_text(ansible_inventory(
            lab, pis, {3: f"mnist_edge_install_args='{FAIL_ARGS}'"}))

        check_s, check = timed(lambda: playbook(fleet, "playbook.yml", "--check"))
        assert check.returncode == 0, check.stdout + check.stderr
        after_check = [links(p.home) for p in pis]
        assert after_check == before, "check mode changed a host"

        roll_s, roll = timed(lambda: playbook(fleet, "playbook.yml"))
        out = roll.stdout
        assert roll.returncode != 0, out  # host 4 failed
        batches = out.count("PLAY [Roll out mnist-edge")
        assert batches == 2, out
        after = [links(p.home) for p in pis]
        for i in range(3):
            assert after[i] == {"current": b_id, "previous": before[i]["current"]}, (i, out)
        assert after[3] == before[3], out
        st4 = lab.ssh(pis[3], "~/mnist-edge/current/bin/mnist-edge selftest")
        assert st4.returncode == 0, st4.stdout + st4.stderr
        selftest_line = next((ln for ln in st4.stdout.splitlines()
                              if ln.startswith("self-test")), "")

        again_s, again = timed(lambda: playbook(fleet, "playbook.yml", "--limit", "pi1:pi2:pi3"))
        assert again.returncode == 0, again.stdout + again.stderr
        again_recap = recap(again.stdout)
        assert all(r.get("changed") == 0 for r in again_recap.values()), again.stdout

        # baseline, same run: deploy B to hosts 1-3 in parallel (a new release id: a full
        # upload + unpack + install + self-test + switch on each, like the rollout's)
        deploy_s, deployed = timed(lambda: dp.deploy(hosts[:3], b.path, opts))
        assert all(r.ok for r in deployed), [r.message for r in deployed]
    finally:
        lab.stop()
    roll_recap, failed = recap(out), failures(out)
    per_host = []
    for i, name in enumerate(NAMES):
        per_host.append({
            "host": name, "batch": i // 2 + 1, "before": before[i], "after": after[i],
            "result": ("updated" if after[i]["current"] == b_id
                       else "kept previous release" if after[i] == before[i] else "other"),
            "recap": roll_recap.get(name, {}),
            **({"failed": failed[name]} if name in failed else {}),
        })
    return {
        "seed_a_with_deploy_seconds": round(seed_s, 2),
        "check_seconds": round(check_s, 2),
        "check_hosts_changed": sum(x != y for x, y in zip(after_check, before, strict=True)),
        "rollout_seconds": round(roll_s, 2), "rollout_returncode": roll.returncode,
        "rollout_batches": batches,
        "updated": [h["host"] for h in per_host if h["result"] == "updated"],
        "kept_previous": [h["host"] for h in per_host if h["result"] == "kept previous release"],
        "failing_host_selftest_after": {"returncode": st4.returncode, "line": selftest_line},
        "rerun_seconds": round(again_s, 2), "rerun_recap": again_recap,
        "deploy_seconds": round(deploy_s, 2),
        "deploy_per_host": [{"host": NAMES[i], "seconds": round(r.seconds, 2),
                             "release": r.release, "message": r.message,
                             **{k: round(v, 2) for k, v in r.timings.items()}}
                            for i, r in enumerate(deployed)],
        "rollout_over_deploy": round(roll_s / deploy_s, 2),
        "per_host": per_host,
    }


def run(args: argparse.Namespace) -> dict:
    if PLAYBOOK is None:
        raise SystemExit("ansible-playbook not found: pip install ansible-core")
    work = Path(tempfile.mkdtemp(prefix="bench-fleet."))
    info = machine()
    models = {"a": REPO / "models" / "seed_int8.tflite", "b": REPO / "models" / "edge_int8.tflite"}
    try:
        bundles = {k: build_bundle(work / f"{k}.tar.gz", model=m) for k, m in models.items()}
        house = ensure_wheelhouse(bundle_wheel_requirements(bundles["a"].path), args.wheelhouse)
        runs = []
        for i in range(args.runs):
            runs.append(scenario(work / f"run{i + 1}", bundles, house))
            print(f"run {i + 1}/{args.runs}: rollout {runs[-1]['rollout_seconds']:.1f} s, "
                  f"deploy {runs[-1]['deploy_seconds']:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info["load_average_at_end"] = loadavg()

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 2)

    medians = {k: med(k) for k in ("check_seconds", "rollout_seconds", "rerun_seconds",
                                   "deploy_seconds", "seed_a_with_deploy_seconds")}
    result = {
        "benchmark": "fleet", "mnist_edge_version": __version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": info,
        "shared_machine_note": "measured on a 2-core machine shared with other jobs (see load "
                               "averages); absolute times vary, ratios are from the same run",
        "bundles": {k: {"model": f"models/{m.name}", "bytes": bundles[k].size,
                        "release_id_in_playbook": bundles[k].manifest["id"]}
                    for k, m in models.items()},
        "hosts": 4, "serial": 2, "failing_host": "pi4",
        "failing_host_how": f"mnist_edge_install_args='{FAIL_ARGS}' in the inventory: "
                            "install.sh cannot make the venv and stops before its self-test "
                            "and switch",
        "runs": len(runs),
        "passed_every_run": all(
            r["check_hosts_changed"] == 0 and r["updated"] == NAMES[:3]
            and r["kept_previous"] == ["pi4"] and r["rollout_batches"] == 2
            and r["failing_host_selftest_after"]["returncode"] == 0
            and all(x.get("changed") == 0 for x in r["rerun_recap"].values()) for r in runs),
        "median_seconds": medians,
        "ratios_of_medians": {
            "rollout_over_deploy": round(medians["rollout_seconds"] / medians["deploy_seconds"], 1),
            "check_over_deploy": round(medians["check_seconds"] / medians["deploy_seconds"], 1),
            "rerun_over_deploy": round(medians["rerun_seconds"] / medians["deploy_seconds"], 1),
        },
        "per_run": runs,
    }
    text = json.dumps(result)
    for local in {str(work), str(REPO), str(Path.home()), tempfile.gettempdir() + "/"}:
        assert local not in text, f"an absolute path of this machine in the result: {local}"
    return result


def markdown(r: dict) -> str:
    m, med, ratio, runs = r["machine"], r["median_seconds"], r["ratios_of_medians"], r["per_run"]
    last = runs[-1]
    rows = "\n".join(
        f"| {h['host']} | {h['batch']} | `{h['before']['current']}` | `{h['after']['current']}` "
        f"| `{h['after']['previous'] or '-'}` | {h['result']} | "
        f"{h['recap'].get('changed', '-')} / {h['recap'].get('failed', '-')} |"
        for h in last["per_host"])
    why = next(h for h in last["per_host"] if h["host"] == r["failing_host"]).get("failed", {})
    run_rows = "\n".join(
        f"| {i + 1} | {x['check_seconds']:.1f} | {x['rollout_seconds']:.1f} | "
        f"{x['rerun_seconds']:.1f} | {x['deploy_seconds']:.1f} | {x['rollout_over_deploy']:.1f} "
        f"| {', '.join(x['updated'])} | {', '.join(x['kept_previous'])} |"
        for i, x in enumerate(runs))
    dep_rows = "\n".join(
        f"| {h['host']} | {h['seconds']:.2f} | {h.get('connect', 0):.2f} | "
        f"{h.get('prepare', 0):.2f} | {h.get('upload', 0):.2f} | {h.get('install', 0):.2f} |"
        for h in last["deploy_per_host"])
    a, b, n = r["bundles"]["a"], r["bundles"]["b"], r["runs"]
    t = {k: f"{v:.1f}" for k, v in med.items()}
    verdict = "PASS in every run" if r["passed_every_run"] else "FAIL"
    return f"""# Fleet benchmark: an Ansible rollout to 4 hosts with `serial: 2`

Produced by `python scripts/bench_fleet.py` ({r['date']}). The playbook is the one
`mnist-edge bundle --ansible DIR` writes (`mnist_edge.shipping.ansible.write_ansible`), run by
the real `ansible-playbook` (ansible-core {m['ansible_core']}) against 4 real OpenSSH servers
on 127.0.0.1 (the "Pis", `tests/sshd_harness.py`): the steps of
`tests/test_ansible.py::test_rolling_update_of_four_hosts_with_a_failing_one`, timed, {n} times
(fresh hosts each time).

Machine: {m['cpu']}, {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']},
{m['openssh']}. Load average {m['load_average_at_start']} at start,
{m['load_average_at_end']} at end: {r['shared_machine_note']}.

- Bundle A: `{a['model']}` ({a['bytes'] / 1024:.0f} KiB), put on all 4 hosts first with
  `deploy` (one shared venv, dependencies from a local wheelhouse, no service).
- Bundle B: `{b['model']}` ({b['bytes'] / 1024:.0f} KiB), rolled out by the playbook as
  release `{b['release_id_in_playbook']}`, `serial: 2` (batches pi1+pi2, then pi3+pi4).
- Host {r['failing_host']} is made to fail: `{r['failing_host_how'].split(' in the ')[0]}` in
  the inventory, so its `install.sh` cannot make the venv and exits (status
  {why.get('rc', '?')}) before its self-test and switch.

**Result: {verdict}.** Check mode changed no host; the rollout ran 2 batches, updated
pi1-pi3 to B and left pi4 on its previous release (A), failing in the task
"{why.get('task', '?')}" (`ansible-playbook` exit status {last['rollout_returncode']});
pi4's current release still passes its self-test afterwards
(`{last['failing_host_selftest_after']['line']}`); the re-run on pi1-pi3 changed nothing.

| median of {n} runs | seconds |
| --- | --- |
| `ansible-playbook playbook.yml --check` (4 hosts) | {t['check_seconds']} |
| **`ansible-playbook playbook.yml`: rollout (4 hosts, serial 2)** | **{t['rollout_seconds']}** |
| `ansible-playbook playbook.yml --limit pi1:pi2:pi3` (re-run) | {t['rerun_seconds']} |
| baseline: `deploy` of B to pi1-pi3 in parallel (`dp.deploy`) | {t['deploy_seconds']} |
| (setup: `deploy` of A to the 4 hosts, the shared venv made) | {t['seed_a_with_deploy_seconds']} |

Ratios (medians, same runs): the rollout takes **{ratio['rollout_over_deploy']}x** as long
as `deploy` of the same bundle to pi1-pi3; check mode {ratio['check_over_deploy']}x, the
idempotent re-run {ratio['rerun_over_deploy']}x. The rollout does more than the baseline: a
fourth host, two batches one after the other instead of one parallel batch, and Ansible's
per-task ssh sessions and module transfers instead of one shared ssh connection per host.
The baseline runs after the rollout and installs B again as a new release (deploy's release
ids carry a time stamp), so each host does the full upload, sha256 check, unpack, install,
self-test and switch.

## Every run

| run | check | rollout | re-run | deploy (baseline) | rollout / deploy | updated | kept previous |
| --- | --- | --- | --- | --- | --- | --- | --- |
{run_rows}

## Per host, last run's rollout

| host | batch | current before | current after | previous after | result | changed / failed tasks |
| --- | --- | --- | --- | --- | --- | --- |
{rows}

## Baseline, last run: `deploy` of B to pi1-pi3

| host | total | connect | prepare | upload | install + self-test + switch |
| --- | --- | --- | --- | --- | --- |
{dep_rows}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheelhouse", type=Path, help="cached device wheels")
    parser.add_argument("--runs", type=int, default=3, help="whole runs, fresh hosts each")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "fleet")
    args = parser.parse_args()
    result = run(args)
    atomic.write_json(args.out.with_suffix(".json"), result)
    atomic.write_text(args.out.with_suffix(".md"), markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
