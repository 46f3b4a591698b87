#!/usr/bin/env python3
"""Benchmark the digit reader: speed on one core, accuracy on synthetic camera frames, start-up.

    python scripts/bench_reader.py [--model models/edge_int8.tflite] [--keras models/edge.h5]
                                   [--speed-frames 300] [--baseline-frames 40]
                                   [--accuracy-frames 600] [--core auto] [--no-grids]
                                   [--scenes 24] [--odd "NAME=MODEL.tflite" ...]

Measured, in one run, pinned to one CPU core (``os.sched_setaffinity``; interpreter threads 1,
OpenCV threads 1, TensorFlow intra/inter-op threads 1):

1. **Speed**: 640x480 synthetic frames holding 1-4 digits (half MNIST test digits, half
   printed), the whole per-frame path of :meth:`DigitReader.read` (preprocess + detect + one
   batched interpreter call), with the frame already decoded, and with JPEG decoding included
   (to BGR, and straight to gray, which is all the reader needs). Wall time and CPU time of the
   thread, medians over interleaved rounds.
2. **The common approach** on the same frames: grey, Gaussian blur, Otsu threshold, external
   contours, each blob resized to 28x28 and sent to Keras ``model.predict`` one by one (the same
   network, ``models/edge.h5``), as most webcam-MNIST tutorials do. Its accuracy is reported too.
3. **Accuracy**: share of true digits found (box overlap) and read right, on fresh synthetic
   frames: handwritten (MNIST *test* digits), printed (several fonts) and inverted chalk scenes,
   with paper edges, ruled lines, shadows, gradients, blur, noise, rotation, perspective and
   JPEG; plus false detections on blank pages.
4. **Start-up**: ``python -m mnist_edge webcam --source samples/digits.mp4 --headless --jsonl -
   --max-frames 1`` until its first JSON line, against a bare ``python -c pass``; and whether
   TensorFlow was imported on that path (``-X importtime``).
5. **Digits among ruled lines** (issue 10; ``scripts/bench_grids.py``, unless ``--no-grids``):
   the real grid photos, synthetic grids, tables and form boxes, and speed on grid pages,
   against the pipeline without the ruled-lines steps; its options (``--photos``, ``--scenes``,
   ``--plain``, ``--odd``) are taken here too.

Results: ``benchmarks/reader.md`` and ``benchmarks/reader.json`` (written atomically; ``--out``
elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.metrics import machine_description, package_versions  # noqa: E402
from mnist_edge.common.paths import portable_args  # noqa: E402
from mnist_edge.reading.binarise import binarise  # noqa: E402
from mnist_edge.reading.blobs import find_blobs  # noqa: E402
from mnist_edge.reading.crop import blob_crop  # noqa: E402
from mnist_edge.reading.normalise import to_gray  # noqa: E402
from mnist_edge.reading.paper import estimate_paper  # noqa: E402
from mnist_edge.reading.reader import DigitReader  # noqa: E402
from mnist_edge.testing import synth  # noqa: E402


def main() -> None:
    args = _parse()
    cv2.setNumThreads(1)
    load_before = os.getloadavg()
    steal_before = _cpu_times()
    mnist = np.load(args.data)
    test = (mnist["x_test"], mnist["y_test"])
    reader = DigitReader(args.model, threads=1)

    speed_scenes = _scenes(args.speed_frames, seed=1000, mnist=test)
    probe = _pick_core(reader, [s.frame for s in speed_scenes[:40]], args.core)
    args.core = probe["core"]
    speed = _speed(reader, speed_scenes, args.rounds)
    accuracy = _accuracy(args.model, test, args.accuracy_frames)
    startup = _startup(args.core, args.startup_runs)
    variant = _float_variant(args.keras, reader, speed_scenes, args.rounds)
    baseline = _baseline(args.keras, speed_scenes[:args.baseline_frames], args.rounds_baseline)
    ours_same = _ours_on(reader, speed_scenes[:args.baseline_frames], args.rounds)

    results = {
        "machine": machine_description(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "cpu_steal_percent": _steal_percent(steal_before, _cpu_times()),
        "versions": package_versions(),
        "model": str(Path(args.model).relative_to(REPO) if Path(args.model).is_relative_to(REPO)
                     else args.model),
        "runtime": reader.runtime_name,
        "core": args.core,
        "core_probe_ms": probe["probe_ms"],
        "speed": speed,
        "baseline": {**baseline, "ours_same_frames": ours_same,
                     "speedup": round(baseline["frame_ms"] / ours_same["frame_ms"], 1)},
        "accuracy": accuracy,
        "model_variant": variant,
        "startup": startup,
        "command": " ".join(["python", "scripts/bench_reader.py",
                             *(shlex.quote(a) for a in portable_args(sys.argv[1:]))]),
    }
    text = _markdown(results)
    if not args.no_grids:  # issue 10's figures: grids, tables and boxes, real grid photos
        import bench_grids
        results["grids"] = bench_grids.measure(args, sys.argv[1:], "scripts/bench_reader.py")
        text += "\n" + bench_grids.markdown(results["grids"])
    out = Path(args.out)
    atomic.write_json(out.with_suffix(".json"), results)
    atomic.write_text(out.with_suffix(".md"), text)
    print(text)


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "models" / "edge_int8.tflite"))
    ap.add_argument("--keras", default=str(REPO / "models" / "edge.h5"))
    ap.add_argument("--data", default=os.environ.get("MNIST_EDGE_DATA")
                    or str(REPO.parent / "shared" / "data" / "mnist.npz"))
    ap.add_argument("--speed-frames", type=int, default=300)
    ap.add_argument("--baseline-frames", type=int, default=40)
    ap.add_argument("--accuracy-frames", type=int, default=600,
                    help="per kind (handwritten, printed); a third as many inverted and blank")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rounds-baseline", type=int, default=2)
    ap.add_argument("--startup-runs", type=int, default=7)
    ap.add_argument("--core", default="auto",
                    help="CPU core to pin to; auto: the one that reads a probe set fastest "
                         "(on a shared machine, the one other jobs load least)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "reader"),
                    help="write OUT.md and OUT.json")
    ap.add_argument("--no-grids", action="store_true",
                    help="leave out the ruled-lines part (scripts/bench_grids.py)")
    import bench_grids  # (it imports this module's helpers: imported here, not at the top)
    bench_grids.add_arguments(ap)
    return ap.parse_args()


def positive(text: str) -> int:
    """A count on a benchmark's command line that must be 1 or more (of nothing there is no
    median, no rate)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def named_file(spec: str) -> tuple[str, Path]:
    """``NAME=FILE`` on a benchmark's command line (an extra model to measure), checked."""
    name, _, path = spec.partition("=")
    if not name or not path or not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"want NAME=FILE of an existing file, got {spec!r}")
    return name, Path(path)


def _cpu_times() -> list[int]:
    """The machine's aggregate CPU times from /proc/stat (user ... steal), or [] elsewhere."""
    try:
        with open("/proc/stat") as fh:
            return [int(v) for v in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def _steal_percent(before: list[int], after: list[int]) -> float | None:
    """Share of CPU time the hypervisor gave to other machines while we ran (VM contention)."""
    if len(before) < 8 or len(after) < 8:
        return None
    delta = [b - a for a, b in zip(before, after, strict=True)]
    return round(100.0 * delta[7] / max(sum(delta), 1), 1)


def _pick_core(reader: DigitReader, frames: list[np.ndarray], core: str) -> dict:
    """Pin this process to one core: the given one, or the fastest on a probe (ms / frame)."""
    cores = sorted(os.sched_getaffinity(0)) if core == "auto" else [int(core)]
    probe = {}
    for c in cores:
        os.sched_setaffinity(0, {c})
        probe[c] = _per_frame(lambda f: reader.read(f), frames, 3)["cpu_ms"]
    best = min(probe, key=probe.get)
    os.sched_setaffinity(0, {best})
    return {"core": best, "probe_ms": {str(c): v for c, v in probe.items()}}


def _scenes(n: int, seed: int, mnist) -> list[synth.Scene]:
    rng = np.random.default_rng(seed)
    return [synth.make_scene(rng, "handwritten" if i % 2 == 0 else "printed", mnist=mnist)
            for i in range(n)]


# ---------------------------------------------------------------------------------- speed


def _per_frame(fn, items, rounds: int) -> dict:
    """Median over rounds of the mean wall and thread-CPU time per item (ms)."""
    for item in items[:10]:
        fn(item)  # warm-up: allocations, caches
    walls, cpus = [], []
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.thread_time()
        for item in items:
            fn(item)
        walls.append((time.perf_counter() - w0) / len(items) * 1000)
        cpus.append((time.thread_time() - c0) / len(items) * 1000)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {"frame_ms": round(wall, 3), "fps": round(1000 / wall, 1),
            "cpu_ms": round(cpu, 3), "fps_cpu": round(1000 / cpu, 1),
            "rounds_ms": [round(v, 3) for v in walls]}


def interleaved(configs: dict, rounds: int) -> dict:
    """:func:`_per_frame` of each configuration (key -> ``(fn, items)``, or ``(fn, items,
    context)`` with a context-manager factory each of its turns runs in), ``rounds`` times,
    the configurations taking turns within each round: load that drifts during the run hits
    every configuration alike, so their ratios hold. Key -> one result per round."""
    runs: dict = {key: [] for key in configs}
    for _ in range(rounds):
        for key, (fn, items, *context) in configs.items():
            with (context[0] if context else contextlib.nullcontext)():
                runs[key].append(_per_frame(fn, items, 1))
    return runs


def _speed(reader: DigitReader, scenes: list[synth.Scene], rounds: int) -> dict:
    frames = [s.frame for s in scenes]
    jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1] for f in frames]
    out = {
        "frames": len(frames),
        "digits_per_frame": round(float(np.mean([len(s.digits) for s in scenes])), 2),
        "jpeg_kb": round(float(np.mean([len(j) for j in jpegs])) / 1024, 1),
    }
    configs = {
        "decoded": (lambda f: reader.read(f), frames),
        "jpeg_to_bgr": (lambda j: reader.read(cv2.imdecode(j, cv2.IMREAD_COLOR)), jpegs),
        "jpeg_to_gray": (lambda j: reader.read(cv2.imdecode(j, cv2.IMREAD_GRAYSCALE)), jpegs),
        "decode_only": (lambda j: cv2.imdecode(j, cv2.IMREAD_COLOR), jpegs),
    }
    for name, runs in interleaved(configs, rounds).items():
        wall = statistics.median(r["frame_ms"] for r in runs)
        cpu = statistics.median(r["cpu_ms"] for r in runs)
        best = min(r["frame_ms"] for r in runs)
        out[name] = {"frame_ms": round(wall, 3), "fps": round(1000 / wall, 1),
                     "cpu_ms": round(cpu, 3), "fps_cpu": round(1000 / cpu, 1),
                     "best_round_ms": best, "fps_best_round": round(1000 / best, 1),
                     "rounds_ms": [r["frame_ms"] for r in runs]}
    out["stages_cpu_ms"] = _stages(reader, frames)
    return out


def _stages(reader: DigitReader, frames: list[np.ndarray]) -> dict:
    """Where the time goes (thread CPU, ms per frame)."""
    p = reader.params
    t = dict.fromkeys(("grey", "paper+threshold", "blobs", "crops", "inference"), 0.0)
    for f in frames:
        c0 = time.thread_time()
        g = to_gray(f)
        c1 = time.thread_time()
        paper = estimate_paper(g, p)
        mask = binarise(g, paper, p)
        c2 = time.thread_time()
        blobs = find_blobs(mask, p)
        c3 = time.thread_time()
        crops = [c for c in (blob_crop(g, paper, b, p) for b in blobs) if c is not None]
        c4 = time.thread_time()
        if crops:
            reader.classify(np.stack(crops))
        c5 = time.thread_time()
        for key, a, b in (("grey", c0, c1), ("paper+threshold", c1, c2), ("blobs", c2, c3),
                          ("crops", c3, c4), ("inference", c4, c5)):
            t[key] += b - a
    return {k: round(v / len(frames) * 1000, 3) for k, v in t.items()}


# ------------------------------------------------------------------------- model variant


def _tensorflow_one_thread():
    """Import TensorFlow limited to one intra-op and one inter-op thread (once per process)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised by an earlier call: the setting holds
        pass
    return tf


def _float_variant(keras_path: str, reader: DigitReader, scenes: list[synth.Scene],
                   rounds: int) -> dict:
    """The same network converted with dynamic-range quantization (float activations), next to
    the shipped full-int8 file: which one an x86 core runs faster is not which one a Pi does."""
    import tempfile

    _tensorflow_one_thread()
    from mnist_edge.training.convert import load_keras_model, to_tflite

    path = Path(tempfile.mkdtemp(prefix="bench-reader-")) / "edge_dynamic.tflite"
    path.write_bytes(to_tflite(load_keras_model(keras_path), "dynamic"))
    other = DigitReader(path, threads=1)
    frames = [s.frame for s in scenes]
    runs = interleaved({"int8": (reader.read, frames), "dynamic": (other.read, frames)}, rounds)
    out = {}
    for name, rd in (("int8", reader), ("dynamic", other)):
        score = synth.Score()
        for s in scenes:
            score.add(synth.score(s.digits, [(d.label, d.box) for d in rd.read(s.frame)]))
        wall = statistics.median(r["frame_ms"] for r in runs[name])
        out[name] = {"frame_ms": round(wall, 3), "fps": round(1000 / wall, 1),
                     "accuracy": round(score.accuracy, 4),
                     "size_kb": round(rd.model_path.stat().st_size / 1024, 1)}
    return out


# ------------------------------------------------------------------------------- baseline


def _ours_on(reader: DigitReader, scenes: list[synth.Scene], rounds: int) -> dict:
    r = _per_frame(lambda f: reader.read(f), [s.frame for s in scenes], rounds)
    score = synth.Score()
    for s in scenes:
        score.add(synth.score(s.digits, [(d.label, d.box) for d in reader.read(s.frame)]))
    return {**r, "accuracy": round(score.accuracy, 4)}


def _baseline(keras_path: str, scenes: list[synth.Scene], rounds: int) -> dict:
    """The tutorial pipeline, with Keras ``model.predict`` per blob (TensorFlow on one thread)."""
    tf = _tensorflow_one_thread()
    import keras

    model = keras.models.load_model(keras_path, compile=False)

    def read(frame: np.ndarray) -> list[tuple[int, tuple[int, int, int, int]]]:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        blur = cv2.GaussianBlur(gray, (5, 5), 0)
        _, binary = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        found = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if h < 15 or w > 4 * h:
                continue
            roi = cv2.resize(binary[y:y + h, x:x + w], (28, 28), interpolation=cv2.INTER_AREA)
            x_in = (roi.astype(np.float32) / 255.0)[np.newaxis, ..., np.newaxis]
            probs = model.predict(x_in, verbose=0)
            found.append((int(probs.argmax()), (x, y, w, h)))
        return found

    timing = _per_frame(read, [s.frame for s in scenes], rounds)
    score = synth.Score()
    blobs = 0
    for s in scenes:
        found = read(s.frame)
        blobs += len(found)
        score.add(synth.score(s.digits, found))
    return {**timing, "frames": len(scenes), "blobs_per_frame": round(blobs / len(scenes), 2),
            "accuracy": round(score.accuracy, 4), "keras_model": Path(keras_path).name,
            "tensorflow": tf.__version__}


# ------------------------------------------------------------------------------- accuracy


def _accuracy(model: str, mnist, n: int) -> dict:
    out = {}
    plain = DigitReader(model, threads=1)
    chalk = DigitReader(model, threads=1, invert=True)
    sets = [("handwritten", "handwritten", False, n, 1), ("printed", "printed", False, n, 2),
            ("inverted chalk (printed)", "printed", True, max(1, n // 3), 3)]
    for name, kind, invert, count, seed in sets:
        reader = chalk if invert else plain
        rng = np.random.default_rng(seed)
        total, by_condition = synth.Score(), {}
        for _ in range(count):
            scene = synth.make_scene(rng, kind, mnist=mnist, invert=invert)
            s = synth.score(scene.digits, [(d.label, d.box) for d in reader.read(scene.frame)])
            total.add(s)
            for cond in ("edge", "lines", "shadow"):
                if scene.conditions[cond]:
                    by_condition.setdefault(cond, synth.Score()).add(s)
        out[name] = {"frames": count, "digits": total.total, "right": total.right,
                     "wrong": total.wrong, "missed": total.missed, "extra": total.extra,
                     "accuracy": round(total.accuracy, 4),
                     "by_condition": {c: round(v.accuracy, 4) for c, v in by_condition.items()}}
    rng = np.random.default_rng(4)
    blank_pages, false_digits, pages_with_false = max(1, n // 3), 0, 0
    for i in range(blank_pages):
        scene = synth.make_scene(rng, "printed", labels=[])
        found = plain.read(scene.frame)
        false_digits += len(found)
        pages_with_false += bool(found)
        del i
    out["blank pages"] = {"frames": blank_pages, "false_digits": false_digits,
                          "pages_with_false_digits": pages_with_false}
    out["fonts"] = list(synth.printed_fonts())
    return out


# -------------------------------------------------------------------------------- startup


def _startup(core: int, runs: int) -> dict:
    clip = REPO / "samples" / "digits.mp4"
    cmd = [sys.executable, "-m", "mnist_edge", "webcam", "--source", str(clip), "--headless",
           "--jsonl", "-", "--max-frames", "1"]
    env = {k: v for k, v in os.environ.items() if k != "MNIST_EDGE_MODEL"}

    def pin() -> None:
        os.sched_setaffinity(0, {core})

    def first_line(argv: list[str]) -> tuple[float, str]:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             cwd=REPO, env=env, preexec_fn=pin)
        line = p.stdout.readline()
        elapsed = time.perf_counter() - t0
        p.communicate()
        return elapsed, line

    bare, first = [], []
    for _ in range(runs):  # interleaved with the bare interpreter's start
        bare.append(first_line([sys.executable, "-c", "print('x')"])[0])
        elapsed, line = first_line(cmd)
        json.loads(line)
        first.append(elapsed)
    trace = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True,
                           text=True, cwd=REPO, env=env, preexec_fn=pin)
    imported = {ln.split("|")[-1].strip().split(".")[0] for ln in trace.stderr.splitlines()
                if ln.startswith("import time:")}
    return {"runs": runs, "first_reading_s": round(statistics.median(first), 3),
            "python_alone_s": round(statistics.median(bare), 3),
            "after_python_starts_s": round(statistics.median(first) - statistics.median(bare), 3),
            "all_first_reading_s": [round(v, 3) for v in first],
            "tensorflow_imported": "tensorflow" in imported or "keras" in imported,
            "command": " ".join(["python", *cmd[1:]]).replace(str(REPO) + "/", "")}


# -------------------------------------------------------------------------------- report


def _markdown(r: dict) -> str:
    s, b, a, st = r["speed"], r["baseline"], r["accuracy"], r["startup"]
    ours = b["ours_same_frames"]
    lines = [
        "# Digit reader benchmark",
        "",
        "Made by `python scripts/bench_reader.py` (see its docstring for the method). "
        f"Model `{r['model']}` with the `{r['runtime']}` runtime, 1 interpreter thread, "
        f"the process pinned to CPU core {r['core']} (of the cores, the one that read a "
        "40-frame probe fastest, i.e. the one other jobs loaded least; probe CPU ms / frame: "
        + ", ".join(f"core {c}: {v:.2f}" for c, v in r["core_probe_ms"].items()) + ").",
        "",
        f"- machine: {r['machine']}; load average {r['load_average_before'][0]} before, "
        f"{r['load_average_after'][0]} after; CPU steal (time the hypervisor gave other "
        f"machines) {r['cpu_steal_percent']}% during the run. **Shared machine**: other jobs "
        "(training, other helpers' tests and benchmarks) ran on the same 2 cores and the VM "
        "shares its host, so times vary from run to run (this benchmark measured 2.6 to 5 ms "
        "per decoded frame on different runs of the same code); CPU time of the thread is given "
        "next to wall time, and configurations were timed in interleaved rounds.",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()),
        "",
        f"## Speed: 640x480 frames, {s['digits_per_frame']} digits per frame on average "
        f"({s['frames']} frames, median of rounds)",
        "",
        "| per-frame path | ms / frame (wall) | **frames / s** | ms / frame (CPU) | "
        "frames / s (CPU) | frames / s, best round |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    names = {"decoded": "**read, frame already decoded**",
             "jpeg_to_bgr": f"JPEG decode to BGR ({s['jpeg_kb']} KB) + read",
             "jpeg_to_gray": "JPEG decode straight to grey + read",
             "decode_only": "JPEG decode to BGR alone"}
    for key, label in names.items():
        v = s[key]
        lines.append(f"| {label} | {v['frame_ms']:.2f} | **{v['fps']:.0f}** | {v['cpu_ms']:.2f} | "
                     f"{v['fps_cpu']:.0f} | {v['fps_best_round']:.0f} |")
    lines += ["", "Where the CPU time of a decoded frame goes (ms, timed stage by stage in a "
              "separate pass): " + ", ".join(f"{k} {v:.2f}" for k, v in
                                            s["stages_cpu_ms"].items()) + ".", ""]
    v = r["model_variant"]
    lines += [
        "The model's file format matters on this CPU: the same network converted with "
        "dynamic-range quantization (float activations, int8 weights) instead of full int8, "
        "read on the same frames in interleaved rounds:",
        "",
        "| model file | size | ms / frame | **frames / s** | digits found and read right |",
        "| --- | --- | --- | --- | --- |",
        f"| full int8 (`models/edge_int8.tflite`, shipped) | {v['int8']['size_kb']} KB | "
        f"{v['int8']['frame_ms']:.2f} | **{v['int8']['fps']:.0f}** | "
        f"{100 * v['int8']['accuracy']:.1f}% |",
        f"| dynamic range (converted from `models/edge.h5` by the benchmark) | "
        f"{v['dynamic']['size_kb']} KB | {v['dynamic']['frame_ms']:.2f} | "
        f"**{v['dynamic']['fps']:.0f}** | {100 * v['dynamic']['accuracy']:.1f}% |",
        "",
        "(`benchmarks/convert.md` shows the same on single calls: on this x86 CPU LiteRT runs "
        "the int8 file about 3x slower than the float ones. int8 is the format meant for the "
        "Pi's ARM cores; that was not measured here.)",
        "",
    ]
    lines += [
        f"## Against the common approach ({b['frames']} of the same frames)",
        "",
        "Grey, Gaussian blur, Otsu threshold, external contours, every blob resized to 28x28 "
        f"and passed to Keras `model.predict` one at a time (`{b['keras_model']}`, the same "
        f"network; TensorFlow {b['tensorflow']}, 1 thread).",
        "",
        "| | ms / frame (wall) | ms / frame (CPU) | digits found and read right |",
        "| --- | --- | --- | --- |",
        f"| common approach ({b['blobs_per_frame']} blobs / frame) | {b['frame_ms']:.1f} | "
        f"{b['cpu_ms']:.1f} | {100 * b['accuracy']:.1f}% |",
        f"| DigitReader | {ours['frame_ms']:.2f} | {ours['cpu_ms']:.2f} | "
        f"{100 * ours['accuracy']:.1f}% |",
        "",
        f"**DigitReader is {b['speedup']}x faster** (wall time, same frames, same core, same "
        "run).",
        "",
        "## Accuracy on synthetic camera frames",
        "",
        "Digits found (box overlap with the true digit) and read right, among all true digits. "
        "Frames: 1-4 digits on paper with random paper edges, ruled lines, shadows, light "
        "gradients, blur, sensor noise, rotation, perspective and JPEG. Handwritten digits are "
        "MNIST *test* digits; printed ones use the fonts listed below.",
        "",
        "| frames | digits | right | misread | missed | extra | **found and read right** | "
        "with paper edge / ruled lines / shadow |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in a.items():
        if name in ("blank pages", "fonts"):
            continue
        cond = " / ".join(f"{100 * v['by_condition'].get(c, 0):.1f}%"
                          for c in ("edge", "lines", "shadow"))
        lines.append(f"| {name} ({v['frames']}) | {v['digits']} | {v['right']} | {v['wrong']} | "
                     f"{v['missed']} | {v['extra']} | **{100 * v['accuracy']:.2f}%** | {cond} |")
    bp = a["blank pages"]
    lines += [
        "",
        f"Blank pages (same conditions, no digits): {bp['false_digits']} false digits on "
        f"{bp['pages_with_false_digits']} of {bp['frames']} pages.",
        "",
        "Fonts: " + ", ".join(a["fonts"]) + ".",
        "",
        "## Start-up",
        "",
        f"`{st['command']}` until its first JSON line, pinned to one core (median of "
        f"{st['runs']}): **{st['first_reading_s']:.2f} s** from spawning the process; a bare "
        f"`python -c` takes {st['python_alone_s']:.2f} s, so **{st['after_python_starts_s']:.2f}"
        f" s after Python starts**. TensorFlow imported on this path: "
        f"{'**yes**' if st['tensorflow_imported'] else 'no'} (`-X importtime`).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
