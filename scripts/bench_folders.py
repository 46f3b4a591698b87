#!/usr/bin/env python3
"""Benchmark: your own digits. The shipped model vs fine-tuned vs trained from scratch, on a
synthetic meter-counter class-folder set, and accuracy against the number of crops per class.

Real meter crops cannot ship with the repo, so the set is rendered by
:mod:`mnist_edge.testing.counter_digits` (printed counter digits in several fonts, light on dark
and dark on light, 20x32 colour, blur, noise, reflections, JPEG; plus an ``N`` class for a wheel
between two digits). Training and conversion run through the real CLI (``mnist-edge train
--data``, ``mnist-edge convert``) so the times are what a user waits, start-up included; the
int8 file is measured on a separate test set of the same kind. Results go to
``benchmarks/folders.json`` and ``benchmarks/folders.md`` with the machine and its load.

    python scripts/bench_folders.py [--per-class 136] [--test-per-class 136] [--work /tmp/bf]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.metrics import machine_description  # noqa: E402
from mnist_edge.testing.counter_digits import DIGIT_CLASSES, write_class_folders  # noqa: E402

CLASSES = [*DIGIT_CLASSES, "N"]


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
        "int8_kb": round(tflite.stat().st_size / 1024, 1),
        "weakest": min(report["per_class_accuracy"].items(), key=lambda kv: kv[1]),
        "loadavg_before": round(load, 2), "loadavg_after": round(os.getloadavg()[0], 2),
    }


def shipped_accuracy(test_dir: Path) -> dict:
    """The shipped int8 model on the test set's digit classes (it has no ``N``), with the same
    crop preparation (polarity normalised), and without (the raw grey crop, as ``--invert``
    would need choosing by hand)."""
    from mnist_edge.common.paths import default_model
    from mnist_edge.reading.runtime import Classifier
    from mnist_edge.training.folders import load_class_folders

    data = load_class_folders(test_dir, classes=CLASSES, test_only=True)
    digits = data.y_test < 10
    x, y = data.x_test[digits], data.y_test[digits]
    pred = Classifier(default_model()).predict(x).argmax(axis=1)
    return {"test_crops": int(len(y)), "accuracy": round(float((pred == y).mean()), 4),
            "kb": round(default_model().stat().st_size / 1024, 1)}


def subset(src: Path, dest: Path, per_class: int) -> Path:
    """The first ``per_class`` crops of each class of ``src``, copied to ``dest``."""
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        (dest / cls.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(cls.iterdir())[:per_class]:
            shutil.copy2(f, dest / cls.name / f.name)
    return dest


def render(results: dict) -> str:
    rows = ["| model | train crops | epochs | `train` wall s | int8 test accuracy | int8 KB | "
            "weakest class |", "|---|---|---|---|---|---|---|"]
    s = results["shipped"]
    rows.append(f"| shipped `edge_int8.tflite` (no training) | 0 | - | - | "
                f"{100 * s['accuracy']:.2f}% (digits only) | {s.get('kb', '-')} | - |")
    for name, r in results["runs"].items():
        w = r["weakest"]
        rows.append(f"| {name} | {r['train_crops']} | {r['epochs']} | {r['train_wall_s']:.0f} | "
                    f"{100 * r['int8_test_accuracy']:.2f}% | {r['int8_kb']} | "
                    f"{w[0]} ({100 * w[1]:.1f}%) |")
    runs = results["runs"]
    pairs = [(k.split(", ")[-1], runs[k], runs[k.replace("fine-tuned", "from scratch")
                                                 .replace(" from edge.h5", " (edge)")])
             for k in runs if k.startswith("fine-tuned")]
    gaps = ", ".join(f"{size}: {100 * (f['int8_test_accuracy'] - sc['int8_test_accuracy']):+.2f}"
                     for size, f, sc in pairs
                     if sc is not None)
    return "\n".join([
        "# Your own digits: fine-tune vs from scratch vs the shipped model",
        "",
        "Made by `python scripts/bench_folders.py` on a **synthetic** meter-counter set "
        "(`mnist_edge/testing/counter_digits.py`: printed digits in 5 OpenCV fonts, light on "
        "dark and dark on light, 20x32 colour, blur, noise, reflections, JPEG; classes 0-9 and "
        "`N`, a wheel between two digits). Real meter crops were not available here, so these "
        "figures are not the issue's real-crop figure; they show the loop works and what "
        "fine-tuning buys.",
        "",
        f"Train set: {results['per_class']} crops per class; test set: "
        f"{results['test_per_class']} other crops per class ({results['test_crops']} crops), "
        "rendered with another seed. `train` and `convert` ran through the CLI; the wall time "
        "is the whole `train` command, start-up included.",
        "",
        *rows,
        "",
        "Train crops are what `train` fitted on: `--val-split 0.2` of each class was held out "
        "and measured by `train` itself; the int8 accuracy is on the separate test set. The "
        "shipped model reads the same prepared crops (grey, polarity normalised, contrast "
        "stretched, fitted into 28x28), digits only, as it has no `N` class.",
        "",
        f"Fine-tuned minus from scratch, int8 test accuracy in percentage points: {gaps} "
        f"(one crop is {100 / results['test_crops']:.2f} pp). On these printed digits, far "
        "from MNIST's handwriting, fine-tuning pays with the fewest crops; with more, both "
        "reach the same accuracy within a few crops (the same epochs; the time differences "
        "are the shared machine's load).",
        "",
        "The issue's targets for real meter crops (at least 99% int8, at most 64 KB, `train` "
        "at most 180 s) are checked here on the synthetic stand-in only: the int8 file size "
        "and the time are the same kind of figure; the accuracy depends on the crops.",
        "",
        f"Machine: {results['machine']}; load average (1 min) {results['load_start']} at the "
        "start (the machine is shared with other jobs).",
        "",
    ])


def rerender(out: Path) -> None:
    """Write ``folders.md`` again from ``folders.json`` (after a change of wording)."""
    atomic.write_text(out / "folders.md", render(json.loads((out / "folders.json").read_text())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=136)
    parser.add_argument("--test-per-class", type=int, default=136)
    parser.add_argument("--curve", default="25,50,100", help="smaller crops-per-class runs")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_folders"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite folders.md from folders.json without running anything")
    args = parser.parse_args()
    if args.render_only:
        return rerender(args.out)
    shutil.rmtree(args.work, ignore_errors=True)
    train_dir = write_class_folders(args.work / "train", args.per_class, seed=11,
                                    classes=CLASSES)
    test_dir = write_class_folders(args.work / "test", args.test_per_class, seed=12,
                                   classes=CLASSES)
    results = {"machine": machine_description(), "load_start": round(os.getloadavg()[0], 2),
               "per_class": args.per_class, "test_per_class": args.test_per_class,
               "test_crops": args.test_per_class * len(CLASSES),
               "shipped": shipped_accuracy(test_dir), "runs": {}}
    print("shipped", results["shipped"], flush=True)
    runs = [(f"fine-tuned from edge.h5, {args.per_class}/class", train_dir, []),
            (f"from scratch (edge), {args.per_class}/class", train_dir, ["--from-scratch"])]
    for n in (int(v) for v in args.curve.split(",") if v):
        small = subset(train_dir, args.work / f"sub{n}", n)
        runs.append((f"fine-tuned, {n}/class", small, []))
        runs.append((f"from scratch, {n}/class", small, ["--from-scratch"]))
    for i, (name, folder, extra) in enumerate(runs):
        results["runs"][name] = train_and_convert(f"m{i}", folder, test_dir, args.work, extra)
        print(name, results["runs"][name], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(args.out / "folders.json", results)
    atomic.write_text(args.out / "folders.md", render(results))
    print(render(results))


if __name__ == "__main__":
    main()
