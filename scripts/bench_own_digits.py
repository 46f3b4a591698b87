#!/usr/bin/env python3
"""Benchmark: your own digits. The shipped model vs fine-tuned vs trained from scratch, on
synthetic class-folder sets of three kinds (meter counters, printed, seven-segment) and all
three mixed, and accuracy against the number of crops per class.

Real crops cannot ship with the repo, so the sets are rendered by
:mod:`mnist_edge.testing.counter_digits` (light on dark and dark on light, 20x32 colour, blur,
noise, reflections, JPEG; meter sets have an ``N`` class for a wheel between two digits).
Training, conversion and evaluation run through the real CLI (``mnist-edge train --data``,
``convert``, ``evaluate --data``) so the times are what a user waits, start-up included; each
int8 file is measured on a separate test set of its kind. Results go to
``benchmarks/own_digits.json`` and ``benchmarks/own_digits.md`` with the machine and its load,
written after every run (``"complete": false`` until the last), so a stopped run still leaves
its figures.

    python scripts/bench_own_digits.py [--per-class 150] [--curve 50,100,200] [--work /tmp/bod]
    python scripts/bench_own_digits.py --render-only   # own_digits.md again from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.metrics import machine_description  # noqa: E402
from mnist_edge.testing.counter_digits import (  # noqa: E402
    DIGIT_CLASSES,
    KINDS,
    write_class_folders,
)

MIXED = "mixed"
SETS = (*KINDS, MIXED)


def classes_of(kind: str) -> list[str]:
    """Meter sets have the ``N`` class (a wheel between two digits); the others digits only."""
    return [*DIGIT_CLASSES, "N"] if kind in ("meter", MIXED) else list(DIGIT_CLASSES)


def run(cmd: list[str]) -> float:
    """Run ``mnist-edge CMD`` as a user would; its wall time in seconds."""
    full = [sys.executable, "-m", "mnist_edge", *cmd]
    started = time.perf_counter()
    proc = subprocess.run(full, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return round(time.perf_counter() - started, 1)


def train_and_convert(name: str, train_dir: Path, test_dir: Path, work: Path,
                      extra: list[str]) -> dict:
    """``train --data`` then ``convert`` (calibrated on the crops) then int8 accuracy on the
    separate test set; the figures of one row."""
    out = work / f"{name}.h5"
    load = os.getloadavg()[0]
    train_s = run(["train", "--data", str(train_dir), "--out", str(out), "--quiet", *extra])
    metrics = json.loads(out.with_suffix(".json").read_text())
    convert_s = run(["convert", str(out), "--quiet"])
    tflite = work / f"{name}_int8.tflite"
    ev_dir = work / f"{name}_eval"
    run(["evaluate", str(tflite), "--data", str(test_dir), "--out-dir", str(ev_dir), "--quiet"])
    report = json.loads((ev_dir / f"{name}_int8_eval.json").read_text())
    return {
        "train_crops": metrics["train_examples"], "epochs": metrics["epochs"],
        "mode": metrics["mode"], "train_wall_s": train_s, "train_fit_s": metrics["train_seconds"],
        "convert_wall_s": convert_s, "keras_holdout_accuracy": metrics["test_accuracy"],
        "int8_test_accuracy": report["test_accuracy"], "int8_test_crops": report["test_examples"],
        "int8_bytes": tflite.stat().st_size, "int8_kb": round(tflite.stat().st_size / 1024, 1),
        "tflite": tflite.name,  # in --work
        "weakest": min(report["per_class_accuracy"].items(), key=lambda kv: kv[1]),
        "loadavg_before": round(load, 2), "loadavg_after": round(os.getloadavg()[0], 2),
    }


def shipped_accuracy(test_dir: Path, classes: list[str]) -> dict:
    """The shipped int8 model on the test set's digit classes (it has no ``N``), with the same
    crop preparation as a trained model's (grey, polarity normalised, fitted into 28x28)."""
    from mnist_edge.common.paths import default_model
    from mnist_edge.reading.runtime import Classifier
    from mnist_edge.training.folders import load_class_folders

    data = load_class_folders(test_dir, classes=classes, test_only=True)
    digits = data.y_test < 10
    x, y = data.x_test[digits], data.y_test[digits]
    pred = Classifier(default_model()).predict(x).argmax(axis=1)
    return {"test_crops": int(len(y)), "int8_test_accuracy": round(float((pred == y).mean()), 4),
            "int8_bytes": default_model().stat().st_size,
            "int8_kb": round(default_model().stat().st_size / 1024, 1)}


def evaluate_only(tflite: str, test_dir: Path, ev_dir: Path) -> float:
    """int8 accuracy of an already converted model on another test set."""
    run(["evaluate", tflite, "--data", str(test_dir), "--out-dir", str(ev_dir), "--quiet"])
    report = json.loads(next(ev_dir.glob("*_eval.json")).read_text())
    return report["test_accuracy"]


def subset(src: Path, dest: Path, per_class: int, seed: int = 5) -> Path:
    """``per_class`` crops of each class of ``src`` drawn at random (seeded; a mixed set's
    kinds in proportion), copied to ``dest``."""
    rng = np.random.default_rng(seed)
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        (dest / cls.name).mkdir(parents=True, exist_ok=True)
        files = sorted(cls.iterdir())
        for i in sorted(rng.permutation(len(files))[:per_class]):
            shutil.copy2(files[i], dest / cls.name / files[i].name)
    return dest


def merge(sources: dict[str, Path], dest: Path) -> Path:
    """Every kind's class folders in one set (files prefixed by their kind)."""
    for kind, src in sources.items():
        for f in src.glob("*/*"):
            (dest / f.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest / f.parent.name / f"{kind}_{f.name}")
    return dest


def _load_range(runs: dict) -> str:
    loads = [r[k] for r in runs.values() for k in ("loadavg_before", "loadavg_after")]
    return f"{min(loads)}-{max(loads)}" if loads else "-"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def render(results: dict) -> str:
    runs, sets = results["runs"], results["sets"]
    status = [] if results.get("complete") else [
        "**Partial run**: the benchmark was stopped before its last rows (see `complete` in "
        "the JSON); missing cells are `-`.", ""]
    rows = ["| set | model | train crops | epochs | `train` wall s | int8 test accuracy | "
            "int8 bytes | weakest class |", "|---|---|---|---|---|---|---|---|"]
    for kind in SETS:
        if kind not in sets:
            continue
        sh = results["shipped"].get(kind)
        if sh:
            rows.append(f"| {kind} | shipped `edge_int8.tflite` (no training) | 0 | - | - | "
                        f"{_pct(sh['int8_test_accuracy'])} (digits only) | "
                        f"{sh['int8_bytes']:,} | - |")
        for mode, label in (("finetune", "fine-tuned from `edge.h5`"),
                            ("scratch", "from scratch (`--from-scratch`)")):
            r = runs.get(f"{kind}/{mode}/all")
            if r is None:
                rows.append(f"| {kind} | {label} | - | - | - | - | - | - |")
                continue
            w = r["weakest"]
            rows.append(f"| {kind} | {label} | {r['train_crops']:,} | {r['epochs']} | "
                        f"{r['train_wall_s']:.0f} | {_pct(r['int8_test_accuracy'])} | "
                        f"{r['int8_bytes']:,} | {w[0]} ({100 * w[1]:.1f}%) |")
    sizes = [*(str(n) for n in results["curve"]), "all"]
    curve = ["| crops per class (fine-tuned) | " + " | ".join(SETS) + " |",
             "|---|" + "---|" * len(SETS)]
    for n in sizes:
        cells = []
        for kind in SETS:
            r = runs.get(f"{kind}/finetune/{n}")
            if r is None and n != "all" and kind in sets and int(n) >= sets[kind]["per_class"]:
                cells.append("(= all)")
            elif r is None:
                cells.append("-")
            else:
                cells.append(f"{_pct(r['int8_test_accuracy'])} ({r['train_wall_s']:.0f} s)")
        label = n if n != "all" else "all (" + ", ".join(
            f"{sets[k]['per_class']}" for k in SETS if k in sets) + ")"
        curve.append(f"| {label} | " + " | ".join(cells) + " |")
    per_kind = results.get("mixed_model_per_kind") or {}
    mixed_line = ("The fine-tuned mixed model on each kind's test set alone: " + ", ".join(
        f"{k} {_pct(v)}" for k, v in per_kind.items()) + "." if per_kind else "")
    set_lines = ", ".join(
        f"{k}: {v['per_class']}/class, {v['train_files']:,} train and {v['test_files']:,} "
        f"test crops" for k, v in sets.items())
    return "\n".join([
        "# Your own digits: fine-tune vs from scratch vs the shipped model",
        "",
        "Made by `python scripts/bench_own_digits.py` on **synthetic** class-folder sets "
        "rendered by `mnist_edge/testing/counter_digits.py`, 20x32 colour crops, light on dark "
        "and dark on light, blur, noise, reflections, JPEG: **meter** (counter-wheel digits in "
        "OpenCV fonts, and `N`, a wheel between two digits), **printed** (digits in the "
        "installed font families, some dot-matrix), **seven-segment** (DSEG7 faces, LCD and "
        "LED colours, unlit segments faintly visible) and **mixed** (all three in one set). "
        "Real crops were not available here, so these are not the issue's real-crop figures; "
        "they show the loop works, what fine-tuning buys, and how many crops to collect.",
        "",
        *status,
        f"Sets ({set_lines}); each test set is rendered with another seed, the mixed one is "
        "the three together. `train --data`, `convert` (int8, calibrated on the crops) and "
        "`evaluate --data` ran through the CLI; the wall time is the whole `train` command, "
        "start-up included.",
        "",
        *rows,
        "",
        "Train crops are what `train` fitted on: `--val-split 0.2` of each class was held out "
        "and measured by `train` itself; the int8 accuracy is on the separate test set. The "
        "shipped model reads the same prepared crops (grey, polarity normalised, contrast "
        "stretched, fitted into 28x28), digits only, as it has no `N` class.",
        "",
        "Accuracy against the number of crops per class collected (fine-tuned from `edge.h5`, "
        "int8 on the same test sets; in brackets the `train` wall time; 80% of the crops are "
        "fitted, 20% held out; the smaller sets are drawn at random from the full one):",
        "",
        *curve,
        "",
        *([mixed_line, ""] if mixed_line else []),
        "The issue's targets for real meter crops (at least 99% int8 on about 1,500 crops "
        "after fine-tuning on about 1,500, at most 64 KB, `train` at most 180 s on 2 cores) "
        "are checked here on the synthetic stand-ins only: the file size and the time are the "
        "same kind of figure; the accuracy depends on the crops.",
        "",
        "Fine-tuning and training from scratch end within a few crops of each other at these "
        "sizes (the same epochs); the shipped MNIST model reads these crops poorly, so what "
        "the crops per class buy is the curve above. The misread seven-segment crops are "
        "mostly 6/8/9/5 with low contrast and heavy noise, where the contrast stretch makes the "
        "faint unlit segments nearly as bright as the lit ones (some are ambiguous to a person "
        "too); the printed ones are dot-matrix digits (about a fifth of them), low-contrast noisy "
        "crops, and a few clear 3s, 4s and 8s (`evaluate`'s error pictures, one run).",
        "",
        f"Machine: {results['machine']}; load average (1 min) {results['load_start']} at the "
        f"start, {results.get('load_end', '-')} at the end, {_load_range(runs)} before and "
        "after the runs (each in the JSON; the machine is shared with other jobs, so times "
        f"vary by a few tens of percent). Whole benchmark: {results.get('wall_s', '-')} s.",
        "",
    ])


def save(out: Path, results: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / "own_digits.json", results)
    atomic.write_text(out / "own_digits.md", render(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=150,
                        help="train crops per class of printed and seven-segment sets "
                             "(meter: 136, as it has 11 classes); the test sets alike")
    parser.add_argument("--curve", default="50,100,200", help="smaller crops-per-class runs")
    parser.add_argument("--curve-sets", default="mixed,meter,printed,seven-segment",
                        help="the sets the curve is run on, in this order (after all else)")
    parser.add_argument("--no-scratch", action="store_true")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_own_digits"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite own_digits.md from own_digits.json without running")
    args = parser.parse_args()
    if args.render_only:
        return atomic.write_text(args.out / "own_digits.md", render(json.loads(
            (args.out / "own_digits.json").read_text())))
    started = time.perf_counter()
    shutil.rmtree(args.work, ignore_errors=True)
    curve = [int(v) for v in args.curve.split(",") if v]
    results = {"machine": machine_description(), "cores": os.cpu_count(),
               "load_start": round(os.getloadavg()[0], 2), "complete": False, "curve": curve,
               "sets": {}, "shipped": {}, "runs": {}, "mixed_model_per_kind": {}}
    train_dirs, test_dirs = {}, {}
    for i, kind in enumerate(KINDS):
        n = round(args.per_class * 10 / len(classes_of(kind)))
        train_dirs[kind] = write_class_folders(args.work / kind / "train", n, seed=11 + i,
                                               classes=classes_of(kind), kind=kind)
        test_dirs[kind] = write_class_folders(args.work / kind / "test", n, seed=21 + i,
                                              classes=classes_of(kind), kind=kind)
        results["sets"][kind] = {"per_class": n}
    train_dirs[MIXED] = merge({k: train_dirs[k] for k in KINDS}, args.work / MIXED / "train")
    test_dirs[MIXED] = merge({k: test_dirs[k] for k in KINDS}, args.work / MIXED / "test")
    results["sets"][MIXED] = {"per_class": sum(v["per_class"] for v in results["sets"].values())}
    for kind in SETS:
        results["sets"][kind]["train_files"] = len(list(train_dirs[kind].glob("*/*")))
        results["sets"][kind]["test_files"] = len(list(test_dirs[kind].glob("*/*")))
        results["shipped"][kind] = shipped_accuracy(test_dirs[kind], classes_of(kind))
        print("shipped", kind, results["shipped"][kind], flush=True)
    save(args.out, results)
    # headline rows first, then the curve, so a stopped run keeps what matters most
    plan = [(kind, "finetune", "all") for kind in SETS]
    plan += [(kind, "finetune", n) for kind in args.curve_sets.split(",")[:1] for n in curve]
    if not args.no_scratch:
        plan += [(kind, "scratch", "all") for kind in SETS]
    plan += [(kind, "finetune", n) for kind in args.curve_sets.split(",")[1:] for n in curve
             if n < results["sets"][kind]["per_class"]]
    for i, (kind, mode, n) in enumerate(plan):
        folder = train_dirs[kind] if n == "all" else subset(
            train_dirs[kind], args.work / kind / f"sub{n}", n)
        extra = ["--from-scratch"] if mode == "scratch" else []
        key = f"{kind}/{mode}/{n}"
        row = train_and_convert(f"m{i}", folder, test_dirs[kind], args.work, extra)
        results["runs"][key] = {"set": kind, "mode": mode, "per_class": n, **row}
        print(key, results["runs"][key], flush=True)
        if key == f"{MIXED}/finetune/all":
            for k in KINDS:
                results["mixed_model_per_kind"][k] = evaluate_only(
                    str(args.work / row["tflite"]), test_dirs[k], args.work / f"mixed_on_{k}")
        save(args.out, results)
    results.update(complete=True, load_end=round(os.getloadavg()[0], 2),
                   wall_s=round(time.perf_counter() - started))
    save(args.out, results)
    print(render(results))


if __name__ == "__main__":
    main()
