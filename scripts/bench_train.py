#!/usr/bin/env python3
"""Benchmark: train the three recipes that start from scratch, in one run: the seed recipe,
edge-mnist (the edge network on MNIST alone) and edge-base (the edge network on MNIST and
rendered print: the default model's start).

Each model is trained by the real CLI (``mnist-edge train``), so the shipped ``models/seed.h5``,
``models/edge_mnist.h5`` and ``models/edge_base.h5`` are exactly what a user's command makes,
and the exact command is recorded. Results (accuracy, error, training seconds, parameters, with
the machine and its load) go to ``benchmarks/train.json`` and ``benchmarks/train.md``; each edge
recipe is reported as ratios against the seed recipe measured in the same run. The default
``edge`` model is not trained here: it is edge-base fine-tuned on rendered print and photo cells
(``train --photos``), timed as a whole first command by ``bench_crops.py --first-train`` and
measured by ``bench_model.py``. With the default ``--models-dir`` the shipped files are
overwritten: training is deterministic (``--seed 0``: ``edge_base.h5`` comes out byte for byte
the same), but ``seed.h5`` and ``edge_mnist.h5`` were trained by an earlier run whose weights
differ (a test digit apart); those two were kept (``git checkout models/`` after the run).

    python scripts/bench_train.py --data ../shared/data/mnist.npz [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.paths import portable_args, shipped_model  # noqa: E402

RUNS = ["seed", "edge-mnist", "edge-base"]  # the recipes that start from scratch


def train_one(arch: str, out: Path, data: str, seed: int) -> dict:
    """Run ``mnist-edge train`` as a user would and return its metrics JSON."""
    cmd = [sys.executable, "-m", "mnist_edge", "train", "--arch", arch, "--data", data,
           "--seed", str(seed), "--out", str(out), "--quiet"]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    print(proc.stdout.strip(), flush=True)
    metrics = json.loads(out.with_suffix(".json").read_text())
    metrics["wall_seconds"] = round(wall, 1)
    metrics["niceness"] = os.nice(0)
    metrics["loadavg_1min_before"] = round(load_before, 2)
    metrics["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
    metrics["command"] = "mnist-edge " + " ".join(portable_args(cmd[3:]))
    return metrics


def render_markdown(results: dict) -> str:
    rows = [
        "| model | test accuracy | test error % | train s | wall s | trainable params | epochs |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in results["runs"].items():
        rows.append(f"| {name} | {m['test_accuracy']:.4f} | {m['test_error_percent']:.2f} | "
                    f"{m['train_seconds']:.0f} | {m['wall_seconds']:.0f} | "
                    f"{m['trainable_params']:,} | {m['epochs']} |")
    others = [name for name in results["runs"] if name != "seed"]
    return "\n".join([
        f"# Training benchmark: seed recipe vs {' and '.join(others)}",
        "",
        f"Run {results['date']} on {results['machine']}.",
        f"Command: `{results['command']}`. Load average (1 min) before/after: "
        + ", ".join(f"{k} {m['loadavg_1min_before']}/{m['loadavg_1min_after']}"
                    for k, m in results["runs"].items())
        + ". When the load is above 2, other jobs shared the 2 cores (the benchmark then ran at "
        "raised priority, `nice -n -15`), so absolute seconds are an upper bound; the ratios "
        "compare runs made the same way in the same session.",
        "",
        *rows,
        "",
        *(f"- {name} / seed test error: {r['error']:.2f}x; training time: "
          f"{r['train_seconds']:.2f}x; parameters: {r['params']:.2f}x"
          for name, r in results["ratios_vs_seed"].items()),
        "- The default `edge` model (edge-base fine-tuned on print and photo cells) is timed "
        "by `scripts/bench_crops.py --first-train` (`benchmarks/crops.md`) and measured by "
        "`scripts/bench_model.py` (`benchmarks/model.md`).",
        "- Commands: " + "; ".join(f"`{m['command']}`" for m in results["runs"].values()),
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    default_data = str(REPO.parent / "shared" / "data" / "mnist.npz")
    parser.add_argument("--data", default=os.environ.get("MNIST_EDGE_DATA", default_data))
    parser.add_argument("--models-dir", default=str(REPO / "models"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=str(REPO / "benchmarks"))
    parser.add_argument("--render", action="store_true",
                        help="only re-render train.md from an existing train.json")
    args = parser.parse_args()
    out_dir = Path(args.out_dir)
    if args.render:
        atomic.write_text(out_dir / "train.md",
                          render_markdown(json.loads((out_dir / "train.json").read_text())))
        return
    models_dir = Path(args.models_dir)
    runs = {arch: train_one(arch, models_dir / shipped_model(arch), args.data, args.seed)
            for arch in RUNS}
    seed = runs["seed"]
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": seed["machine"],
        "command": "python scripts/bench_train.py " + " ".join(portable_args(sys.argv[1:])),
        "runs": runs,
        "ratios_vs_seed": {name: {
            "error": m["test_error_percent"] / seed["test_error_percent"],
            "train_seconds": m["train_seconds"] / seed["train_seconds"],
            "params": m["trainable_params"] / seed["trainable_params"],
        } for name, m in runs.items() if name != "seed"},
    }
    atomic.write_json(out_dir / "train.json", results)
    atomic.write_text(out_dir / "train.md", render_markdown(results))
    print(render_markdown(results))


if __name__ == "__main__":
    main()
