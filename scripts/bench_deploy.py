"""Benchmark: how long does deploying a new model to an already provisioned device take?

Against a real OpenSSH server on 127.0.0.1 (the "Pi", same harness as tests/test_deploy.py):

* baseline, same run: one plain ``ssh host true`` (a fresh connection), and the *first* deploy
  to an empty device (creates the venv and installs the dependencies from a local wheelhouse);
* the target: model-only deploys (two models alternating, venv present), each phase timed:
  connect (one shared ssh connection), prepare, upload, install (sha256 check, unpack, reuse
  of the current release's code, self-test, switch);
* the whole command a user types, ``mnist-edge deploy HOST --model M`` (bundling included),
  and ``--rollback``.

Writes ``benchmarks/deploy.md`` and ``benchmarks/deploy.json`` (atomically) with the machine.

    python scripts/bench_deploy.py                      # models/edge_int8 + seed_int8 if present
    python scripts/bench_deploy.py --models a.tflite b.tflite --runs 8
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from bench_reader import positive  # noqa: E402
from sshd_harness import SshLab, bundle_wheel_requirements, ensure_wheelhouse  # noqa: E402

from mnist_edge import __version__  # noqa: E402
from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.metrics import cpu_model  # noqa: E402
from mnist_edge.shipping import deploy as dp  # noqa: E402
from mnist_edge.shipping.bundle import build_bundle  # noqa: E402


def machine() -> dict:
    """Describe this machine without TensorFlow (device-side benchmark)."""
    model = cpu_model()
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    return {"cpu": model, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "openssh": ssh_version,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def pick_models(given: list[Path] | None, work: Path, data: Path | None) -> list[Path]:
    """Two models to alternate: given, the shipped pair, or a tiny pair trained here."""
    if given:
        return given
    shipped = [REPO / "models" / n for n in ("edge_int8.tflite", "seed_int8.tflite")]
    if all(p.is_file() for p in shipped):
        return shipped
    print("no shipped models in models/: training a tiny pair (TensorFlow, ~30 s)")
    import tensorflow as tf

    from mnist_edge.training.data import load_mnist
    from mnist_edge.training.train import train

    result = train(load_mnist(data).subset(5000, 500), arch="seed", out=work / "tiny.h5",
                   epochs=3, batch_size=64, seed=1)
    out = []
    for name, optimize in (("float", False), ("dynamic", True)):
        conv = tf.lite.TFLiteConverter.from_keras_model(result.model)
        if optimize:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        path = work / f"tiny_{name}.tflite"
        path.write_bytes(conv.convert())
        out.append(path)
    return out


def make_samples(models: list[Path], work: Path, data: Path | None) -> Path:
    """20 MNIST test digits (2 per class) that every benchmarked model reads right."""
    import numpy as np

    from mnist_edge.reading.runtime import Classifier
    from mnist_edge.shipping.selftest import write_mnist_samples
    from mnist_edge.training.data import load_mnist

    mnist = load_mnist(data)
    x, y = mnist.x_test[:1000], mnist.y_test[:1000]
    right = np.ones(len(y), dtype=bool)
    for model in models:
        right &= Classifier(model).predict(x).argmax(axis=1) == y
    pick = np.concatenate([np.flatnonzero(right & (y == d))[:2] for d in range(10)])
    write_mnist_samples(work / "samples", x[pick], y[pick])
    return work / "samples"


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-deploy."))
    info = machine()
    models = pick_models(args.models, work, args.data)
    samples = args.samples or make_samples(models, work, args.data)
    bundle_s, bundles = [], []
    for i, model in enumerate(models):
        seconds, b = timed(lambda m=model, i=i: build_bundle(work / f"b{i}.tar.gz", model=m,
                                                             samples=samples))
        bundle_s.append(seconds)
        bundles.append(b)
    house = ensure_wheelhouse(bundle_wheel_requirements(bundles[0].path), args.wheelhouse)
    lab = SshLab(work / "lab")
    try:
        server = lab.start()
        host = dp.parse_host(server.host)
        opts = dp.DeployOptions(ssh=dp.Ssh(lab.config))
        ssh_true = [timed(lambda: lab.ssh(server, "true"))[0] for _ in range(5)]
        first_s, first = timed(lambda: dp.deploy([host], bundles[0].path, dp.DeployOptions(
            ssh=opts.ssh, install_args=dp.install_args(wheelhouse=str(house))))[0])
        assert first.ok, first.output
        runs = []
        for i in range(args.runs):
            bundle = bundles[(i + 1) % len(bundles)]
            seconds, result = timed(lambda b=bundle: dp.deploy([host], b.path, opts)[0])
            assert result.ok, result.output
            runs.append({"seconds": seconds, **{k: round(v, 3) for k, v in
                                                result.timings.items()}})
        cli = []
        for i in range(args.cli_runs):
            model = models[i % len(models)]
            cmd = [sys.executable, "-m", "mnist_edge", "deploy", server.host, "--ssh-config",
                   str(lab.config), "--model", str(model), "--samples", str(samples)]
            seconds, proc = timed(lambda c=cmd: subprocess.run(c, capture_output=True, text=True))
            assert proc.returncode == 0, proc.stdout + proc.stderr
            cli.append(seconds)
        rollback = [timed(lambda: dp.rollback_host(host, opts))[0] for _ in range(3)]
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    median = statistics.median(r["seconds"] for r in runs)
    phases = {k: statistics.median(r[k] for r in runs)
              for k in ("connect", "prepare", "upload", "install")}
    return {
        "benchmark": "deploy", "mnist_edge_version": __version__, "machine": info,
        "shared_machine_note": "measured on a 2-core machine shared with other jobs (see load "
                               "averages); absolute times vary, ratios are from the same run",
        "models": [m.name for m in models],
        "bundle_bytes": [b.size for b in bundles],
        "bundle_build_seconds": [round(s, 3) for s in bundle_s],
        "ssh_true_seconds_median": round(statistics.median(ssh_true), 3),
        "first_deploy_seconds": round(first_s, 3),
        "first_deploy_phases": {k: round(v, 3) for k, v in first.timings.items()},
        "model_update_runs": runs,
        "model_update_seconds_median": round(median, 3),
        "model_update_phases_median": {k: round(v, 3) for k, v in phases.items()},
        "cli_deploy_with_bundling_seconds": [round(s, 3) for s in cli],
        "rollback_seconds": [round(s, 3) for s in rollback],
        "ratios": {
            "first_deploy_over_model_update": round(first_s / median, 1),
            "model_update_over_ssh_true": round(median / statistics.median(ssh_true), 1),
        },
    }


def markdown(r: dict) -> str:
    m = r["machine"]
    rows = "\n".join(
        f"| {i + 1} | {x['seconds']:.2f} | {x['connect']:.2f} | {x['prepare']:.2f} | "
        f"{x['upload']:.2f} | {x['install']:.2f} |" for i, x in enumerate(r["model_update_runs"]))
    ph = r["model_update_phases_median"]
    first, n = r["first_deploy_seconds"], len(r["model_update_runs"])
    median = r["model_update_seconds_median"]
    phases = " / ".join(f"{ph[k]:.2f}" for k in ("connect", "prepare", "upload", "install"))
    cli, builds, rollbacks = (", ".join(f"{s:.2f}" for s in r[k]) for k in (
        "cli_deploy_with_bundling_seconds", "bundle_build_seconds", "rollback_seconds"))
    return f"""# Deploy benchmark: a new model to an already provisioned device

Produced by `python scripts/bench_deploy.py`. Target: a real OpenSSH server on 127.0.0.1 (the
"device"), so network time is near zero and what remains is mnist-edge's own work.

Machine: {m['cpu']}, {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']},
{m['openssh']}. Load average {m['load_average_at_start']} at start, {m['load_average_at_end']}
at end: {r['shared_machine_note']}.

Models alternated: {', '.join(r['models'])} (bundles of {', '.join(f'{b / 1024:.0f} KiB'
                                                                   for b in r['bundle_bytes'])}).

| what | seconds |
| --- | --- |
| `ssh host true`, a fresh connection (median of 5) | {r['ssh_true_seconds_median']:.2f} |
| first deploy to an empty device (venv + dependencies from a wheelhouse) | {first:.2f} |
| **model-only update, venv present (median of {n})** | **{median:.2f}** |
| ... connect / prepare / upload / install (medians) | {phases} |
| `mnist-edge deploy HOST --model M` end to end, bundling included | {cli} |
| bundle build alone | {builds} |
| `--rollback` | {rollbacks} |

Ratios (same run): the first deploy takes **{r['ratios']['first_deploy_over_model_update']}x**
as long as a model-only update; a model-only update costs
**{r['ratios']['model_update_over_ssh_true']}x** one bare ssh connection.

Why an update is quick: one shared ssh connection (ControlMaster) carries all steps; the venv's
dependencies are skipped when `requirements.txt` is unchanged (a stamp in the venv); the
release's code is copied from the current release when the wheel's sha256 is the same; most of
what is left is the self-test (a Python start importing numpy, OpenCV and LiteRT).

## Model-only updates

| run | total | connect | prepare | upload | install + self-test + switch |
| --- | --- | --- | --- | --- | --- |
{rows}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs=2, type=Path, help="two .tflite models to alternate")
    parser.add_argument("--samples", type=Path, help="self-test samples folder (labels.json)")
    parser.add_argument("--data", type=Path, help="MNIST .npz (default: $MNIST_EDGE_DATA)")
    parser.add_argument("--wheelhouse", type=Path, help="cached device wheels")
    parser.add_argument("--runs", type=positive, default=6, help="model updates timed (1 or more)")
    parser.add_argument("--cli-runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "deploy")
    args = parser.parse_args()
    if args.data is None and not os.environ.get("MNIST_EDGE_DATA"):
        default = REPO.parent / "shared" / "data" / "mnist.npz"
        args.data = default if default.is_file() else None
    result = run(args)
    atomic.write_json(args.out.with_suffix(".json"), result)
    atomic.write_text(args.out.with_suffix(".md"), markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
