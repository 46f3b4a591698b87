#!/usr/bin/env python3
"""Benchmark the models on every kind of digit: one row per kind, int8 beside Keras.

    python scripts/bench_model.py [--data ../shared/data/mnist.npz] [--every 2] [--no-photos]
                                  [--models seed edge-mnist edge] [--photos odd|all]
                                  [--extra "NAME=FILE.h5" ...]

Models (columns): ``seed`` (``models/seed.h5`` / ``seed_int8.tflite``), ``edge-mnist`` (the
default model before issue 14, MNIST only: ``models/edge_mnist.h5``, converted to int8 here
exactly as ``mnist-edge convert`` does) and ``edge`` (the default model:
``models/edge.h5`` / ``edge_int8.tflite``, trained with the development photos' cells), and
any ``--extra`` Keras files (named by file name and sha256, converted here): the same recipe
without photos, and with the even-numbered photos only. Rows:

1. **MNIST test** (10,000 images).
2. **held-out fonts, sharp**: digits rendered from the font families kept out of training
   (``mnist_edge.training.fonts.HELD_OUT_GROUPS``, text weights), 24-32 px, no blur; 3000
   cells, cropped by the reader's crop function on the digit's true box (no detection; a cell
   the crop rejects as too faint counts as wrong).
3. **held-out fonts, blurred 16 px**: the same families 16 px tall, Gaussian blur sigma 1 px,
   contrast 0.45-0.6, noise, JPEG 75.
3b. **thick-stroke scans**: MNIST *test* digits fitted to a 16 px box with strokes grown by a
   pixel there (as scanned envelope digits are: thick strokes filling their box), scaled up,
   on white paper, found and cropped by the reader (no such scan is trained on).
4. **photos, printed / handwritten** (int8 only: what the reader runs): every digit of the
   development grid photos (``../shared/data/grid_photos``, wichtounet/sudoku_dataset,
   CC-BY-4.0) cut out of its cell through the true grid and read by the whole reader
   (find + crop + classify + ``min_confidence`` 0.5); the report nearest the cell's centre
   counts. Right / missed / misread, and cells with a second report. ``--photos odd`` (the
   default) reads the odd-numbered photos only: the ones a model trained on the even half
   never saw. ``--every N`` uses every N-th photo of those.

Writes ``benchmarks/model.md`` and ``benchmarks/model.json`` (atomically) with the machine and
its load average; other engineers' jobs may share the cores, so times are upper bounds.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_reader import named_file  # noqa: E402

from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.checksum import sha256_file  # noqa: E402
from mnist_edge.common.metrics import machine_description, package_versions  # noqa: E402
from mnist_edge.common.paths import portable, portable_args  # noqa: E402
from mnist_edge.reading.reader import DigitReader  # noqa: E402
from mnist_edge.reading.runtime import Classifier  # noqa: E402
from mnist_edge.testing import grid_photos  # noqa: E402
from mnist_edge.training import convert, crops, fonts  # noqa: E402
from mnist_edge.training.data import load_mnist  # noqa: E402

MODELS = {  # name -> (Keras file, int8 file or None: converted here)
    "seed": ("models/seed.h5", "models/seed_int8.tflite"),
    "edge-mnist": ("models/edge_mnist.h5", None),
    "edge": ("models/edge.h5", "models/edge_int8.tflite"),
}
HELD_OUT_CELLS = 3000
HELD_OUT_SEEDS = {"heldout_sharp": 5, "heldout_blur16": 6}
STYLES = {"heldout_sharp": fonts.SHARP_STYLE, "heldout_blur16": fonts.BLURRED16_STYLE}


THICK_CELLS = 3000  # MNIST test digits made into thick-stroke "scans"
THICK_SIDE = 16  # ...squeezed to fill a box this many pixels square, as envelope scans are
KEEP = ("<!-- Written by hand from here on (experiments tried and not shipped): "
        "scripts/bench_model.py keeps it when it writes the table above anew. -->")


def thick_scan(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit as a scanned form's digit: cut to its ink, its longer side fitted to
    a 16 px box and its strokes grown by a pixel there (thick strokes filling the box, as on
    envelope scans), scaled up smoothly, dark on white paper with a margin."""
    ys, xs = np.nonzero(digit > 25)
    tight = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    f = THICK_SIDE / max(tight.shape)
    w, h = max(1, round(tight.shape[1] * f)), max(1, round(tight.shape[0] * f))
    box = np.zeros((THICK_SIDE, THICK_SIDE), np.uint8)
    x0, y0 = (THICK_SIDE - w) // 2, (THICK_SIDE - h) // 2
    box[y0:y0 + h, x0:x0 + w] = cv2.resize(tight, (w, h), interpolation=cv2.INTER_AREA)
    box = cv2.dilate(box, np.ones((2, 2), np.uint8))
    big = cv2.resize(box, (64, 64), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    page = np.full((128, 128), 245.0, np.float32)
    page[32:96, 32:96] -= 225.0 * big
    return page.astype(np.uint8)


def thick_set(data) -> crops.CropSet:
    """The thick-stroke set: the whole reader's crop of each scan (None = dropped)."""
    return crops.cached("thick_scans", lambda: _thick_crops(data), n=THICK_CELLS,
                        mnist=data.sha256, scan=inspect.getsource(thick_scan))


def _thick_crops(data) -> crops.CropSet:
    return crops.cell_crops(SimpleNamespace(image=thick_scan(digit), label=int(label))
                            for digit, label in zip(data.x_test[:THICK_CELLS],
                                                    data.y_test[:THICK_CELLS], strict=True))


def held_out_sets() -> dict[str, crops.CropSet]:
    """The two held-out font sets (cached like the training crops)."""
    _, held = fonts.split()
    faces = fonts.text_weights(held)
    key = crops.faces_key(faces)
    return {name: crops.cached(
        name, lambda n=name: crops.font_crops(faces, HELD_OUT_CELLS, HELD_OUT_SEEDS[n],
                                              STYLES[n], mode="truth", dot_matrix=0.0),
        n=HELD_OUT_CELLS, seed=HELD_OUT_SEEDS[name], faces=key, mode="truth")
        for name in HELD_OUT_SEEDS}


def accuracy(probs: np.ndarray, labels: np.ndarray, dropped: int = 0) -> float:
    return round(float((probs.argmax(1) == labels).sum()) / (len(labels) + dropped), 5)


def photo_rows(tflite: Path, every: int, half: str) -> dict:
    """Printed and handwritten tallies of the whole reader on the cut-out photo cells."""
    photos = [p for kind in grid_photos.KINDS for p in grid_photos.photos(kind)
              if half == "all" or grid_photos.number(p.path) % 2 == 1][::every]
    reader = DigitReader(tflite, min_confidence=0.5)

    def read(image):
        return [(d.label, d.box) for d in reader.read(image)]

    started = time.perf_counter()
    tallies = grid_photos.evaluate(read, grid_photos.cells(photos))
    out = {"photos": len(photos), "seconds": round(time.perf_counter() - started, 1)}
    for kind, t in tallies.items():
        out[kind] = {**t.row(), "top_confusions": [
            f"{a}->{b}: {n}" for (a, b), n in sorted(t.confusions.items(),
                                                      key=lambda kv: -kv[1])[:5]]}
    return out


def measure(name: str, h5: Path, tflite: Path | None, data, sets, every: int | None,
            tmp: Path, half: str = "odd") -> dict:
    started, load = time.perf_counter(), round(os.getloadavg()[0], 2)
    model = convert.load_keras_model(h5)
    row: dict = {"keras": portable(h5), "keras_sha256": sha256_file(h5)}
    metrics = h5.with_suffix(".json")
    if metrics.is_file():
        trained = json.loads(metrics.read_text())
        row["trained_on_photos"] = (trained.get("sources") or {}).get("photos")
    if tflite is None:
        calib = convert.calibration_indices(data, convert.DEFAULT_CALIBRATION, 0)
        tflite = tmp / f"{h5.stem}_int8.tflite"
        tflite.write_bytes(convert.to_tflite(model, "int8",
                                             convert.to_model_input(data.x_train[calib])))
        row["int8"] = f"{h5.name} converted as mnist-edge convert does"
    else:
        row["int8"] = portable(tflite)
    row["int8_bytes"] = tflite.stat().st_size
    clf = Classifier(tflite)
    for tag, predict in (("keras", lambda x: convert.keras_predict(model, x)),
                         ("int8", lambda x: convert.tflite_predict(clf, x))):
        row[f"mnist_{tag}"] = accuracy(predict(data.x_test), data.y_test)
        for set_name, s in sets.items():
            row[f"{set_name}_{tag}"] = accuracy(predict(s.x), s.y, s.dropped)
    if every:
        row["photos"] = photo_rows(tflite, every, half)
    row["measured"] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       "load_1min_before_after": [load, round(os.getloadavg()[0], 2)],
                       "seconds": round(time.perf_counter() - started, 1)}
    print(name, row, flush=True)
    return row


def pct(v: float) -> str:
    return f"{100 * v:.2f}"


def markdown(result: dict) -> str:
    names = list(result["models"])
    head = "| digits | " + " | ".join(f"{n} int8 (Keras)" for n in names) + " |"
    lines = [
        "# Model benchmark: every kind of digit, seed vs edge-mnist vs edge (with and without "
        "photos)",
        "",
        f"Run {result['when']} on {result['machine']}; load average (1 min) before / after: "
        f"{result['load_before']} / {result['load_after']} (other engineers' jobs shared the 2 "
        f"cores). Command: `{result['command']}`. {result['seconds']:.0f} s in all.",
        "",
        "Each model's own run (time, load before / after): " + "; ".join(
            f"{n} {result['models'][n]['measured']['when']}, "
            f"{result['models'][n]['measured']['load_1min_before_after']}" for n in names) + ".",
        "",
        head, "|---|" + "---|" * len(names)]
    rows = [("MNIST test (10,000)", "mnist"),
            (f"held-out fonts, sharp 24-32 px ({HELD_OUT_CELLS})", "heldout_sharp"),
            (f"held-out fonts, blurred 16 px ({HELD_OUT_CELLS})", "heldout_blur16"),
            (f"thick-stroke scans, MNIST test digits filling a {THICK_SIDE} px box "
             f"({THICK_CELLS})", "thick")]
    for label, key in rows:
        cells = [f"{pct(result['models'][n][key + '_int8'])} "
                 f"({pct(result['models'][n][key + '_keras'])})" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    first = result["models"][names[0]].get("photos")
    if first:
        for kind in grid_photos.DIGIT_KINDS:
            cells = []
            for n in names:
                r = result["models"][n]["photos"][kind]
                cells.append(f"{pct(r['right'])} right / {pct(r['missed'])} missed / "
                             f"{pct(r['misread'])} misread; {r['extra']} cells with a 2nd "
                             f"report")
            which = "odd-numbered " if result.get("photo_half", "odd") == "odd" else ""
            lines.append(f"| photos, {kind} ({first[kind]['n']} digits, "
                         f"{first['photos']} {which}photos; int8 only) | " + " | ".join(cells)
                         + " |")
    lines.append("| int8 file (bytes) | " + " | ".join(
        f"{result['models'][n]['int8_bytes']:,}" for n in names) + " |")
    lines += [
        "",
        "- Held-out fonts: families never trained on (" +
        ", ".join(sorted(fonts.HELD_OUT_GROUPS)) + "; text weights), cropped by the reader's "
        "crop on the digit's true box; a cell the crop rejects counts as wrong.",
        "- Photos: " + grid_photos.CREDIT + "; every digit cut out through the true grid "
        "(margin 0.1, padded with its paper), read by the whole reader with min_confidence "
        "0.5, the soft crop of issue 14 for every model (the crop is the reader's, not the "
        "model's).",
        "- Which photos each model was trained on: " + "; ".join(
            f"{n}: {_photos_note(result['models'][n])}" for n in names) + ".",
        "- Models: " + "; ".join(
            f"{n}: `{result['models'][n]['keras']}` (sha256 "
            f"{result['models'][n].get('keras_sha256', '?')[:12]})" for n in names) + ".",
    ]
    for n in names:
        if "photos" in result["models"][n]:
            conf = "; ".join(f"{k}: " + ", ".join(result["models"][n]["photos"][k]
                                                  ["top_confusions"])
                             for k in grid_photos.DIGIT_KINDS)
            lines.append(f"- {n} top confusions (truth->read): {conf}")
    return "\n".join(lines) + "\n"


def _photos_note(row: dict) -> str:
    photos = row.get("trained_on_photos")
    if not photos:
        return "none"
    return (f"{photos['photos']} photos ({photos['which']} of folder `{photos['folder']}`), "
            f"{photos['crops']} cells")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="mnist.npz [default: $MNIST_EDGE_DATA]")
    ap.add_argument("--every", type=int, default=1, help="use every N-th grid photo")
    ap.add_argument("--no-photos", action="store_true")
    ap.add_argument("--photos", choices=("odd", "all"), default="odd",
                    help="which development photos to read [default: the odd-numbered ones, "
                         "which a model trained on the even half never saw]")
    ap.add_argument("--extra", action="append", default=[], type=named_file,
                    help="NAME=FILE.h5: also measure this Keras model (converted here)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "model"),
                    help="write OUT.md and OUT.json")
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                    help="measure only these; the others are kept from OUT.json")
    args = ap.parse_args()
    load_before = round(os.getloadavg()[0], 2)
    started = time.perf_counter()
    data = load_mnist(args.data)
    sets = {**held_out_sets(), "thick": thick_set(data)}
    result = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine_description(), "versions": package_versions(),
              "command": "python scripts/bench_model.py " + " ".join(
                  shlex.quote(a) for a in portable_args(sys.argv[1:])),
              "load_before": load_before, "held_out_dropped": {k: s.dropped
                                                               for k, s in sets.items()},
              "photo_credit": grid_photos.CREDIT, "photo_half": args.photos, "models": {}}
    out = Path(args.out)
    if out.with_suffix(".json").is_file() and set(args.models) != set(MODELS):
        kept = json.loads(out.with_suffix(".json").read_text())["models"]
        result["models"] = {n: kept[n] for n in MODELS if n in kept}
    todo = [(n, REPO / MODELS[n][0], MODELS[n][1] and REPO / MODELS[n][1]) for n in args.models]
    todo += [(n, h5, None) for n, h5 in args.extra]
    with tempfile.TemporaryDirectory() as tmp:
        for name, h5, tfl in todo:
            result["models"][name] = measure(name, h5, tfl or None, data, sets,
                                             None if args.no_photos else args.every,
                                             Path(tmp), args.photos)
    result["load_after"] = round(os.getloadavg()[0], 2)
    result["seconds"] = round(time.perf_counter() - started, 1)
    atomic.write_json(out.with_suffix(".json"), result)
    table, md = markdown(result), out.with_suffix(".md")
    atomic.write_text(md, table + hand_notes(md))
    print(table)


def hand_notes(md: Path) -> str:
    """What ``md`` holds from :data:`KEEP` on (notes of experiments written by hand under the
    measured table), to be written again after the new table; "" if none."""
    text = md.read_text(encoding="utf-8") if md.is_file() else ""
    at = text.find(KEEP)
    return "" if at < 0 else "\n" + text[at:]


if __name__ == "__main__":
    main()
