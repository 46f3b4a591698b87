#!/usr/bin/env python3
"""Benchmark reading digits among ruled lines: real grid photos, synthetic grids, speed.

    python scripts/bench_grids.py [--model models/edge_int8.tflite] [--scenes 24]
                                  [--photos ../shared/data/grid_photos] [--core auto]
                                  [--odd "NAME=MODEL.tflite" ...]

Measured in one run, pinned to one CPU core, for the reader as it is and for the **previous
pipeline** (the same model with the ruled-line step, the ink-colour channel, the ink-following
thresholds, touching-digit splits, the words step, the second look at empty cells and the
reader's second look at unsure crops turned off, and the previous ``min_height`` of 0.035):

1. **Real photos**: the development split of the grid photos (``../shared/data/grid_photos``,
   wichtounet/sudoku_dataset, CC-BY-4.0; never copied here), printed (``v2``) and completed by
   hand (``mixed``): digits of grid cells read right, found, false digits per 100 digits,
   whole grids with no error, digits placed in the right cell by the reader itself.
2. **Synthetic scenes** (``mnist_edge/testing/grids.py``): grids, tables and form boxes, printed
   and handwritten (MNIST *test* digits) in black, blue and red pen, 640x480 and 1280x960, easy
   and hard; the same also turned 8, 12 and 15 degrees (``TURNS``); and the plain pages of
   ``bench_reader.py`` (no step back on open paper).
3. **Speed**: ms per decoded frame for a blank page, a plain page, a 640x480 grid and a 1280x960
   grid (read cell by cell, as the figures above), the reader as it is and the previous
   pipeline timed in interleaved rounds; and frames per second of ``mnist-edge
   webcam --headless --jsonl`` (and with ``--cells``) as a whole process on one core,
   decoding included, on an MJPEG clip of a grid page.

4. **Odd-numbered photos only**, read by the reader as it is with the model and with each
   ``--odd`` model: the shipped model is trained on every development photo's cells, so the
   honest figure for photos it never saw comes from the same recipe trained on the
   even-numbered photos only, read on the odd ones.

Run alone, it prints its results; ``scripts/bench_reader.py`` runs it too and records it in
``benchmarks/reader.md`` and ``benchmarks/reader.json``, beside the reader's other figures.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_reader import (  # noqa: E402
    _cpu_times,
    _pick_core,
    _steal_percent,
    interleaved,
    named_file,
    positive,
)

from mnist_edge.common.metrics import machine_description, package_versions  # noqa: E402
from mnist_edge.common.paths import portable, portable_args  # noqa: E402
from mnist_edge.reading import blobs, normalise, pipeline  # noqa: E402
from mnist_edge.reading import reader as reader_module  # noqa: E402
from mnist_edge.reading.lines import Rules  # noqa: E402
from mnist_edge.reading.reader import DigitReader  # noqa: E402
from mnist_edge.testing import grid_photos, synth  # noqa: E402
from mnist_edge.testing.grids import LAYOUTS, make_grid_scene, turned  # noqa: E402

SIZES = ((640, 480), (1280, 960))


def main() -> None:
    """The ruled-lines part alone, printed (``bench_reader.py`` records it in reader.md)."""
    print(markdown(measure(_parse(), sys.argv[1:]), level=1))


def measure(args: argparse.Namespace, argv: list[str], script: str = "scripts/bench_grids.py"
            ) -> dict:
    """Every figure of this benchmark (``args`` as :func:`_parse` gives them; ``argv`` and
    ``script``: the command that ran it, as recorded)."""
    cv2.setNumThreads(1)
    load_before, steal_before = os.getloadavg(), _cpu_times()
    mnist = np.load(args.data)
    test = (mnist["x_test"], mnist["y_test"])
    reader = DigitReader(args.model, threads=1, cells=True)
    scenes = _grid_scenes(args.scenes, test)
    slanted = _turned(scenes)
    probe = _pick_core(reader, [s.frame for s in scenes[:12]], args.core)
    results = {"machine": machine_description(),
               "load_average_before": [round(v, 2) for v in load_before],
               "versions": package_versions(),
               "model": portable(args.model), "runtime": reader.runtime_name,
               "core": probe["core"]}
    for name, context in PIPELINES.items():
        with context():
            reader = DigitReader(args.model, threads=1, cells=True,
                                 params=_params(name == "previous"))
            results[name] = {"photos": _photos(reader, Path(args.photos)),
                             "synthetic": _synthetic(reader, scenes + slanted),
                             "plain": _plain(reader, test, args.plain)}
    for name, speed in _speed(args.model, scenes).items():
        results[name]["speed"] = speed
    results["odd"] = {name: _photos(DigitReader(path, threads=1, cells=True),
                                    Path(args.photos), odd=True)
                      for name, path in [(portable(args.model), args.model), *args.odd]}
    results["whole_process"] = _whole_process(scenes, probe["core"], args.model)
    results["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    results["cpu_steal_percent"] = _steal_percent(steal_before, _cpu_times())
    results["command"] = " ".join(["python", script,
                                   *(shlex.quote(a) for a in portable_args(argv))])
    return results


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "models" / "edge_int8.tflite"))
    ap.add_argument("--data", default=os.environ.get("MNIST_EDGE_DATA")
                    or str(REPO.parent / "shared" / "data" / "mnist.npz"))
    ap.add_argument("--core", default="auto")
    add_arguments(ap)
    return ap.parse_args(argv)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """This benchmark's own options (``bench_reader.py`` takes them too)."""
    ap.add_argument("--photos", default=str(grid_photos.root()))
    ap.add_argument("--scenes", type=positive, default=24,
                    help="synthetic grid scenes per layout, size and difficulty")
    ap.add_argument("--plain", type=int, default=200, help="plain pages per kind (grids part)")
    ap.add_argument("--odd", action="append", default=[], type=named_file,
                    help="NAME=MODEL.tflite: also read the odd-numbered photos with this model")


def _params(previous: bool) -> pipeline.VisionParams:
    return dataclasses.replace(pipeline.DEFAULT_PARAMS, min_height=0.035) if previous \
        else pipeline.DEFAULT_PARAMS


@contextlib.contextmanager
def previous_pipeline():
    """The steps this issue added, turned off (the same model reads the crops)."""
    saved = (pipeline.find_rules, pipeline.ink_thresholds, pipeline.parts_for,
             normalise.to_gray, blobs.in_words, pipeline.faint_digits, blobs._without_walls,
             reader_module.second_look)
    gray = normalise.to_gray
    pipeline.find_rules = lambda faint, ink=None: Rules(None, None)
    blobs.in_words = lambda boxes, x_height=None, slope=0.0: set()
    blobs._without_walls = lambda pieces, height: pieces
    pipeline.faint_digits = lambda *a: []
    pipeline.ink_thresholds = lambda work, paper, params: params
    pipeline.parts_for = lambda box: []
    normalise.to_gray = lambda frame, ink=False, light=False: gray(frame)
    reader_module.second_look = lambda probs, crops, classify: probs
    try:
        yield
    finally:
        (pipeline.find_rules, pipeline.ink_thresholds, pipeline.parts_for,
         normalise.to_gray, blobs.in_words, pipeline.faint_digits, blobs._without_walls,
         reader_module.second_look) = saved


PIPELINES = {"now": contextlib.nullcontext, "previous": previous_pipeline}


def _grid_scenes(n: int, mnist) -> list:
    rng = np.random.default_rng(2024)
    return [make_grid_scene(rng, layout, size=size, mnist=mnist, hard=hard)
            for layout in LAYOUTS for size in SIZES for hard in (False, True)
            for _ in range(n)]


TURNS = (8, 12, 15)  # degrees: the scenes turned so, one way or the other in turn


def _turned(scenes: list) -> list:
    """The scenes turned by each of ``TURNS`` degrees (alternately either way): rules tilted
    up to about 15 degrees must still be found (a page held at a slant)."""
    return [turned(s, degrees if k % 2 else -degrees) for degrees in TURNS
            for k, s in enumerate(scenes)]


def _photos(reader: DigitReader, folder: Path, odd: bool = False) -> dict:
    if not (folder / "corners.csv").is_file():
        return {"skipped": f"no grid photos at {folder.name}"}
    out = {}
    for kind in grid_photos.KINDS:
        total = grid_photos.PhotoScore()
        for photo in grid_photos.photos(kind, folder):
            if odd and grid_photos.number(photo.path) % 2 == 0:
                continue
            total.add(grid_photos.score_photo(photo, reader.read(cv2.imread(str(photo.path)))))
        out[kind] = total.summary()
    return out


def _synthetic(reader: DigitReader, scenes: list) -> dict:
    out: dict[str, dict] = {}
    for s in scenes:
        key = f"{s.layout} {s.frame.shape[1]}x{s.frame.shape[0]}"
        digits = reader.read(s.frame)
        score = synth.score(s.digits, [(d.label, d.box) for d in digits])
        cell = sum(_in_cell(t, digits) for t in s.digits)
        acc = out.setdefault(key, {"digits": 0, "right": 0, "extra": 0, "cells": 0})
        acc["digits"] += score.total
        acc["right"] += score.right
        acc["extra"] += score.extra
        acc["cells"] += cell
    return {k: {"digits": v["digits"], "read": round(v["right"] / max(1, v["digits"]), 4),
                "false_per_100": round(100 * v["extra"] / max(1, v["digits"]), 2),
                "cells": round(v["cells"] / max(1, v["digits"]), 4)} for k, v in out.items()}


def _in_cell(truth, digits) -> bool:
    x, y, w, h = truth.box
    for d in digits:
        cx, cy = d.box[0] + d.box[2] / 2, d.box[1] + d.box[3] / 2
        if x <= cx <= x + w and y <= cy <= y + h:
            return d.label == truth.label and d.cell is not None and d.cell[1:] == truth.cell
    return False


def _plain(reader: DigitReader, mnist, n: int) -> dict:
    out = {}
    for kind in ("handwritten", "printed"):
        rng = np.random.default_rng(7 if kind == "printed" else 8)
        total = synth.Score()
        for _ in range(n):
            s = synth.make_scene(rng, kind, mnist=mnist)
            total.add(synth.score(s.digits, [(d.label, d.box) for d in reader.read(s.frame)]))
        out[kind] = {"digits": total.total, "read": round(total.accuracy, 4),
                     "false_per_100": round(100 * total.extra / max(1, total.total), 2)}
    return out


SPEED_ROUNDS = 3


def _speed(model: str, scenes: list) -> dict[str, dict]:
    """ms per decoded frame of each kind for each of :data:`PIPELINES`, timed in interleaved
    rounds (a core that slows for a while slows both alike, so their ratio holds), the median
    round kept."""
    rng = np.random.default_rng(11)
    frames = {"blank 640x480": [np.full((480, 640, 3), 200, np.uint8)] * 30,
              "plain 640x480": [synth.make_scene(rng, "printed").frame for _ in range(30)]}
    for w, h in SIZES:
        frames[f"grid {w}x{h}"] = [s.frame for s in scenes
                                   if s.layout == "grid" and s.frame.shape[1] == w]
    readers = {name: DigitReader(model, threads=1, cells=True, params=_params(name == "previous"))
               for name in PIPELINES}
    runs = interleaved({(name, kind): (readers[name].read, items, context)
                        for kind, items in frames.items()
                        for name, context in PIPELINES.items()}, SPEED_ROUNDS)
    out: dict[str, dict] = {name: {} for name in PIPELINES}
    for (name, kind), rounds in runs.items():
        ms = [r["frame_ms"] for r in rounds]
        with PIPELINES[name]():
            digits = np.mean([len(readers[name].read(f)) for f in frames[kind][:10]])
        wall = statistics.median(ms)
        out[name][kind] = {"frame_ms": round(wall, 3), "fps": round(1000 / wall, 1),
                           "rounds_ms": ms, "digits_per_frame": round(float(digits), 1)}
    return out


def _whole_process(scenes: list, core: int, model: str) -> dict:
    """FPS of ``webcam --headless --jsonl`` on one core, on an MJPEG clip of grid pages, as it
    runs by default and with ``--cells`` (grids read cell by cell, as ``predict`` reads them
    and as this benchmark's accuracy figures are measured)."""
    out = {}
    for size in SIZES:
        frames = [s.frame for s in scenes if s.layout == "grid" and s.frame.shape[1] == size[0]]
        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp) / "grid.avi"
            writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
            for i in range(300):
                writer.write(frames[i % len(frames)])
            writer.release()
            for flags in ([], ["--cells"]):
                one = _run_webcam(clip, 1, core, model, Path(tmp), flags)
                many = _run_webcam(clip, 300, core, model, Path(tmp), flags)
                key = f"{size[0]}x{size[1]}" + "".join(f" {f}" for f in flags)
                out[key] = {"frames": 299, "seconds": round(many - one, 3),
                            "fps": round(299 / max(many - one, 1e-6), 1)}
    return out


def _run_webcam(clip: Path, n: int, core: int, model: str, tmp: Path,
                flags: list[str]) -> float:
    cmd = [sys.executable, "-m", "mnist_edge", "webcam", "--source", str(clip), "--headless",
           "--jsonl", str(tmp / "r.jsonl"), "--max-frames", str(n), "--model", model,
           "--threads", "1", *flags]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True,
                   preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    return time.perf_counter() - t0


def markdown(r: dict, level: int = 2) -> str:
    """The results as markdown, headings at ``level`` (2: a section of reader.md)."""
    h1, h2 = "#" * level, "#" * (level + 1)
    lines = [f"{h1} Digits among ruled lines: grid photos, synthetic grids, speed", "",
             f"Machine: {r['machine']}; load average {r['load_average_before']} before, "
             f"{r.get('load_average_after')} after; CPU steal {r.get('cpu_steal_percent')}%; "
             f"one core (#{r['core']}); model `{r['model']}` on {r['runtime']}.",
             f"Command: `{r.get('command')}`. \"previous\" is the same model with the steps "
             "of issue 10 turned off (ruled lines, ink channel, ink-following thresholds, "
             "splits, words, empty cells; min_height 0.035), measured in the same run.", "",
             f"{h2} Real photos (development split; wichtounet/sudoku_dataset, CC-BY-4.0)", "",
             "| photos | pipeline | read right | printed | handwritten | found | "
             "false / 100 | whole grids right | in the right cell |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind in grid_photos.KINDS:
        for name in ("previous", "now"):
            p = r[name]["photos"].get(kind)
            if p:
                lines.append(f"| {kind} ({p['digits']} digits, {p['grids']} grids) | {name} | "
                             f"{_pc(p['read'])} | {_pc(p['printed'])} | "
                             f"{_pc(p['handwritten'])} | {_pc(p['found'])} | "
                             f"{p['false_per_100']} | {_pc(p['grids_perfect'])} | "
                             f"{_pc(p['cells'])} |")
    if r.get("odd"):
        lines += ["", f"{h2} Real photos, odd-numbered only (never trained on by a model trained "
                  "on the even half)", "",
                  "| photos | model | read right | printed | handwritten | found | "
                  "false / 100 | whole grids right | in the right cell |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for kind in grid_photos.KINDS:
            for name, res in r["odd"].items():
                p = res.get(kind)
                if p:
                    lines.append(f"| {kind} ({p['digits']} digits, {p['grids']} grids) | "
                                 f"{name} | {_pc(p['read'])} | {_pc(p['printed'])} | "
                                 f"{_pc(p['handwritten'])} | {_pc(p['found'])} | "
                                 f"{p['false_per_100']} | {_pc(p['grids_perfect'])} | "
                                 f"{_pc(p['cells'])} |")
    lines += ["", f"{h2} Synthetic scenes", "",
              "| scenes | digits | read right (previous -> now) | false / 100 | "
              "in the right cell |", "|---|---|---|---|---|"]
    for key, v in r["now"]["synthetic"].items():
        old = r["previous"]["synthetic"][key]
        lines.append(f"| {key} | {v['digits']} | {_pc(old['read'])} -> {_pc(v['read'])} | "
                     f"{old['false_per_100']} -> {v['false_per_100']} | {_pc(v['cells'])} |")
    for kind, v in r["now"]["plain"].items():
        old = r["previous"]["plain"][kind]
        lines.append(f"| plain pages, {kind} | {v['digits']} | {_pc(old['read'])} -> "
                     f"{_pc(v['read'])} | {old['false_per_100']} -> {v['false_per_100']} | - |")
    lines += ["", f"{h2} Speed (one core, decoded frames; ms per frame, now vs previous)", "",
              "| frames | digits / frame | previous | now | now / previous |",
              "|---|---|---|---|---|"]
    for key, v in r["now"]["speed"].items():
        old = r["previous"]["speed"][key]
        lines.append(f"| {key} | {v['digits_per_frame']} | {old['frame_ms']} ms | "
                     f"{v['frame_ms']} ms ({v['fps']} FPS) | "
                     f"{round(v['frame_ms'] / old['frame_ms'], 2)}x |")
    lines += ["", "Whole process (`webcam --headless --jsonl`, MJPEG decoding included, grid "
              "pages, start-up subtracted; `--cells`: grids read cell by cell, as `predict` "
              "and the figures above read them):", ""]
    for key, v in r["whole_process"].items():
        lines.append(f"- {key}: {v['fps']} frames/s ({v['frames']} frames in {v['seconds']} s)")
    return "\n".join(lines) + "\n"


def _pc(v: float) -> str:
    return f"{100 * v:.1f}%"


if __name__ == "__main__":
    main()
