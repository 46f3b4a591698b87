#!/usr/bin/env python3
"""Benchmark: render the default recipe's crop sets in one process and in one worker per core.

The crop sets (printed digits, MNIST on paper, grid-photo cells; ``mnist_edge/training/crops.py``)
are what a first ``mnist-edge train`` spends most of its time on before fitting. Each set is
rendered here twice in the same run, at ``--scale`` of its training size: once in this process
(the baseline) and once split among workers (what ``train`` does). Both must give the same crops;
the times, their ratio, the machine and its load go to ``benchmarks/crops.json`` and
``benchmarks/crops.md``. With ``--first-train``, a user's first ``mnist-edge train --photos`` is
timed too, as a whole command with an empty crop cache.

    python scripts/bench_crops.py --data ../shared/data/mnist.npz \
        --photos ../shared/data/grid_photos --first-train
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.metrics import machine_description  # noqa: E402
from mnist_edge.training.crops import cores  # noqa: E402


def makers(data: str, photos: str | None, scale: float) -> dict:
    """Each set's maker, taking ``workers``: the recipe's own sizes and seeds, scaled."""
    from mnist_edge.testing import grid_photos
    from mnist_edge.training import crops, fonts
    from mnist_edge.training.train import MIX_SEEDS, MIX_SIZES

    faces, _ = fonts.split()
    with np.load(data) as d:
        x, y = d["x_train"], d["y_train"]
    n = {k: max(10, round(v * scale)) for k, v in MIX_SIZES.items()}
    out = {
        "fonts": lambda w: crops.font_crops(faces, n["fonts"], MIX_SEEDS["fonts"], workers=w),
        "mnist_paper": lambda w: crops.mnist_paper_crops(x, y, n["mnist_paper"],
                                                         MIX_SEEDS["mnist_paper"], workers=w),
    }
    # warm this process's font caches first, so that the baseline is not charged for them
    crops.font_crops(faces, 500, 0, workers=1)
    if photos:
        chosen = [p for kind in grid_photos.KINDS for p in grid_photos.photos(kind, Path(photos))]
        chosen = chosen[::max(1, round(1 / scale))]
        out["photos"] = lambda w: crops.photo_crops(chosen, workers=w)
    return out


def measure(make) -> dict:
    """One process, then workers; the two sets must be equal."""
    one, many = make(1), make(None)
    if not (np.array_equal(one.x, many.x) and np.array_equal(one.y, many.y)):
        sys.exit("error: the workers' crops differ from one process's")
    return {"cells": int(len(one.y) + one.dropped), "one_process_s": round(one.seconds, 1),
            "workers_s": round(many.seconds, 1), "speedup": round(one.seconds / many.seconds, 2)}


def first_train(data: str, photos: str) -> dict:
    """``mnist-edge train --photos`` as a user's first run: empty crop cache, whole command."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "first.h5"
        cmd = [sys.executable, "-m", "mnist_edge", "train", "--data", data, "--photos", photos,
               "--out", str(out), "--quiet"]
        env = {**os.environ, "MNIST_EDGE_CACHE": str(Path(tmp) / "cache")}
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"error: mnist-edge train failed:\n{proc.stderr[-2000:]}")
        m = json.loads(out.with_suffix(".json").read_text())
    render = sum(v["render_seconds"] for v in m["sources"].values()
                 if isinstance(v, dict) and "render_seconds" in v)
    return {"command": "mnist-edge train --photos <grid_photos> (empty crop cache)",
            "wall_seconds": round(wall, 1), "render_seconds": round(render, 1),
            "fit_seconds": m["train_seconds"], "test_accuracy": m["test_accuracy"],
            "load_1min": m["load_average_1min"]}


def render_markdown(r: dict) -> str:
    rows = ["| crop set | cells | one process s | workers s | speed-up |", "|---|---|---|---|---|"]
    for name, m in r["sets"].items():
        rows.append(f"| {name} | {m['cells']:,} | {m['one_process_s']} | {m['workers_s']} | "
                    f"{m['speedup']:.2f}x |")
    return "\n".join([
        "# Crop-set rendering: one process vs one worker per core",
        "",
        f"Run {r['date']} on {r['machine']} ({r['cores']} usable), load average (1 min) "
        f"{r['load_before']} before, {r['load_after']} after. Command: `{r['command']}`.",
        f"Each set at {r['scale']:g} of its training size, rendered both ways in the same run; "
        "the crops were identical.",
        "",
        *rows,
        "",
        *_first_train_lines(r.get("first_train")),
    ])


def _first_train_lines(f: dict | None) -> list[str]:
    if not f:
        return []
    return [f"A first `{f['command']}`, whole command: **{f['wall_seconds']:.0f} s**, of which "
            f"{f['render_seconds']:.0f} s rendering the crop sets in workers and "
            f"{f['fit_seconds']:.0f} s fitting (load {f['load_1min']['before']} -> "
            f"{f['load_1min']['after']}); MNIST test accuracy {f['test_accuracy']:.4f}.", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    default_data = str(REPO.parent / "shared" / "data" / "mnist.npz")
    parser.add_argument("--data", default=os.environ.get("MNIST_EDGE_DATA", default_data))
    parser.add_argument("--photos", default=None, help="a grid-photo folder (optional)")
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--first-train", action="store_true",
                        help="also time a first `mnist-edge train --photos` (needs --photos)")
    parser.add_argument("--out-dir", default=str(REPO / "benchmarks"))
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    sets = {}
    for name, make in makers(args.data, args.photos, args.scale).items():
        sets[name] = measure(make)
        print(name, sets[name], flush=True)
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_description(), "cores": cores(),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
        "command": "python scripts/bench_crops.py " + " ".join(sys.argv[1:]),
        "scale": args.scale, "sets": sets,
    }
    if args.first_train and args.photos:
        results["first_train"] = first_train(args.data, args.photos)
    out = Path(args.out_dir)
    atomic.write_json(out / "crops.json", results)
    atomic.write_text(out / "crops.md", render_markdown(results))
    print(render_markdown(results))


if __name__ == "__main__":
    main()
