#!/usr/bin/env python3
"""Check that our .tflite files load and predict under the interpreters users actually have.

Why: the converter in a new TensorFlow can emit op versions an older interpreter does not know
("Didn't find op for builtin opcode ... version ..."), and a Raspberry Pi without a LiteRT wheel
runs ``tflite-runtime`` 2.14, which also needs numpy<2. The test suite can only use what is
installed in *its* environment, so this script builds throwaway virtual environments:

* ``tflite-runtime==2.14.*`` with ``numpy<2`` (the old runtime a Pi may have);
* ``ai-edge-litert`` at the oldest version ``pyproject.toml`` allows, and at the newest;

and in each one runs mnist_edge's own :class:`~mnist_edge.reading.runtime.Classifier` (the checkout
is put on ``PYTHONPATH``; the device side needs only numpy) on MNIST test digits with every
model. The predictions are compared with LiteRT's in this environment, and ``tf.lite`` here is
checked too.

Results: ``benchmarks/runtimes.md`` and ``benchmarks/runtimes.json``. Exit status 1 if any model
fails to load or disagrees anywhere.

    python scripts/check_runtimes.py [MODEL.tflite ...] [--data mnist.npz] [--images 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.metrics import dist_version, machine_description  # noqa: E402
from mnist_edge.common.paths import portable  # noqa: E402
from mnist_edge.reading.runtime import Classifier, available_runtimes  # noqa: E402


def environments() -> list[tuple[str, str, list[str]]]:
    """(name, runtime to force, pip requirements) of each throwaway venv.

    The oldest LiteRT is read from pyproject.toml, so raising the floor there moves the check.
    """
    match = re.search(r"[\"']ai-edge-litert\s*>=\s*([\d.]+)",
                      (REPO / "pyproject.toml").read_text())
    floor = match.group(1) if match else None
    envs = [("tflite-runtime 2.14 + numpy<2", "tflite_runtime",
             ["tflite-runtime==2.14.*", "numpy<2"])]
    if floor:
        envs.append((f"LiteRT {floor} (oldest allowed)", "litert", [f"ai-edge-litert=={floor}"]))
    envs.append(("LiteRT latest", "litert", ["ai-edge-litert"]))
    return envs


# Run in the venv once per model, so that a runtime crashing on one model (a segfault or heap
# corruption kills the process) is pinned on that model. It predicts one digit, then the whole
# batch (a resize), then frees the interpreter while it holds the big batch: LiteRT 1.2 corrupts
# its heap exactly there with dynamic-range models.
PROBE = r"""
import json, sys, importlib.metadata as md
import numpy as np
from mnist_edge.reading.runtime import Classifier
data = np.load(sys.argv[1])
out = {"numpy": np.__version__, "python": sys.version.split()[0]}
for name in ("tflite-runtime", "ai-edge-litert"):
    try:
        out[name] = md.version(name)
    except md.PackageNotFoundError:
        pass
try:
    clf = Classifier(sys.argv[3], runtime=sys.argv[2])
    single = clf.predict(data["x"][:1])
    probs = clf.predict(data["x"])
    out.update(ok=True, runtime=clf.runtime.name, pred=probs.argmax(axis=1).tolist(),
               single_matches=bool(single.argmax() == probs[0].argmax()))
    del clf
except Exception as exc:
    out.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
print(json.dumps(out), flush=True)
"""


def main() -> int:
    args = _parse()
    models = [Path(m) for m in args.models] or sorted((REPO / "models").glob("*.tflite"))
    if not models:
        print("no .tflite models given and none in models/", file=sys.stderr)
        return 2
    with np.load(args.data) as npz:
        x, y = npz["x_test"][: args.images], npz["y_test"][: args.images]
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="mnist-edge-runtimes-"))
    work.mkdir(parents=True, exist_ok=True)
    digits = work / "digits.npz"
    np.savez(digits, x=x, y=y)

    # results name a model by its path in the repo, else its file name
    reference = {portable(m): Classifier(m, runtime="litert").predict(x).argmax(axis=1)
                 for m in models}
    rows = []
    for name in available_runtimes():
        rows.append(_here(name, models, x, y, reference))
    for i, (name, runtime, requirements) in enumerate(environments()):
        rows.append(_in_venv(work / f"venv-{i}", name, runtime, requirements, models, digits, y,
                             reference))
    report = {
        "machine": machine_description(),
        "python": platform.python_version(),
        "test_images": int(len(y)),
        "reference": "LiteRT in the project's environment (ai-edge-litert "
                     f"{dist_version('ai-edge-litert')}, numpy {np.__version__})",
        "converted_with": _converter_versions(models),
        "environments": rows,
        "ok": all(r["ok"] for r in rows),
        "notes": args.note,
    }
    out = Path(args.out)
    atomic.write_json(out.with_suffix(".json"), report)
    atomic.write_text(out.with_suffix(".md"), _markdown(report))
    print(_markdown(report))
    return 0 if report["ok"] else 1


def _here(name, models, x, y, reference) -> dict:
    """A runtime installed in this environment (LiteRT, tf.lite)."""
    results = {}
    for m in models:
        key = portable(m)
        try:
            pred = Classifier(m, runtime=name).predict(x).argmax(axis=1)
            results[key] = _score(pred, y, reference[key])
        except Exception as exc:
            results[key] = {"ok": False, "error": str(exc)[:500]}
    version = dist_version("ai-edge-litert") if name == "litert" else dist_version(
        "tensorflow" if name == "tensorflow" else "tflite-runtime")
    return {"environment": f"this environment: {name}", "runtime": name,
            "versions": {"runtime": version, "numpy": np.__version__},
            "models": results, "ok": all(r["ok"] for r in results.values())}


def _in_venv(venv, name, runtime, requirements, models, digits, y, reference) -> dict:
    """Build a venv with ``requirements``, run the probe there, score it against the reference."""
    row = {"environment": name, "runtime": runtime, "requirements": requirements}
    started = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                       capture_output=True, text=True)
        py = venv / "bin" / "python"
        subprocess.run([str(py), "-m", "pip", "install", "-q", *requirements], check=True,
                       capture_output=True, text=True, timeout=900)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
        return {**row, "ok": False, "error": "install failed: " + " | ".join(tail)}
    row["install_seconds"] = round(time.perf_counter() - started, 1)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    results, versions = {}, {}
    for m in models:
        key = portable(m)
        done = subprocess.run([str(py), "-c", PROBE, str(digits), runtime, str(m)],
                              capture_output=True, text=True, env=env, timeout=600)
        lines = done.stdout.strip().splitlines()
        got = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
        if got:
            versions = {k: got[k] for k in ("tflite-runtime", "ai-edge-litert", "numpy",
                                            "python") if k in got}
        if done.returncode != 0:
            tail = [ln for ln in done.stderr.strip().splitlines() if "INFO:" not in ln][-2:]
            stage = " after predicting" if got and got["ok"] else ""
            detail = ": " + " / ".join(tail) if tail else ""
            status = _status(done.returncode)
            results[key] = {"ok": False, "error": f"process died ({status}){stage}{detail}"}
        elif got["ok"]:
            results[key] = _score(np.array(got["pred"]), y, reference[key])
            results[key]["ok"] &= got["single_matches"]
        else:
            results[key] = {"ok": False, "error": got["error"]}
    return {**row, "versions": versions, "models": results,
            "ok": all(r["ok"] for r in results.values())}


def _status(code: int) -> str:
    """``-11`` -> ``SIGSEGV``: a negative status is the signal that killed the process."""
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            pass
    return f"exit status {code}"


def _score(pred: np.ndarray, y: np.ndarray, reference: np.ndarray) -> dict:
    agreement = float((pred == reference).mean())
    return {"ok": agreement == 1.0, "accuracy": round(float((pred == y).mean()), 6),
            "agreement_with_reference": round(agreement, 6)}


def _markdown(report: dict) -> str:
    lines = [
        "# Runtime compatibility of the converted models",
        "",
        "Made by `python scripts/check_runtimes.py`: each environment below is a throwaway venv "
        "(except \"this environment\") running `mnist_edge.reading.runtime.Classifier` on the "
        "first "
        f"{report['test_images']:,} MNIST test digits. *Agreement* is the share of digits whose "
        f"predicted label equals the reference: {report['reference']}.",
        "",
        f"- machine: {report['machine']}, Python {report['python']}",
        f"- models converted with: {report['converted_with']}",
        f"- overall: **{'all load and agree' if report['ok'] else 'FAILURES, see below'}**",
        "",
        "| environment | versions | model | loads | accuracy | agreement |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["environments"]:
        versions = ", ".join(f"{k} {v}" for k, v in row.get("versions", {}).items())
        if "models" not in row:
            lines.append(f"| {row['environment']} | {versions} | all | **no**: {row['error']} "
                         "| | |")
            continue
        for model, r in row["models"].items():
            name = Path(model).name
            if r["ok"] or "accuracy" in r:
                lines.append(f"| {row['environment']} | {versions} | {name} | yes | "
                             f"{100 * r['accuracy']:.2f}% | "
                             f"{100 * r['agreement_with_reference']:.2f}% |")
            else:
                lines.append(f"| {row['environment']} | {versions} | {name} | **no**: "
                             f"{r['error'].replace('|', '/')} | | |")
    if report.get("notes"):
        lines += ["", "## Notes", "", *[f"- {note}" for note in report["notes"]]]
    return "\n".join(lines) + "\n"


def _converter_versions(models) -> str:
    found = set()
    for m in models:
        sidecar = Path(m).with_suffix(".json")
        if sidecar.is_file():
            v = json.loads(sidecar.read_text()).get("versions", {})
            found.add(f"TensorFlow {v.get('tensorflow', '?')}")
    return ", ".join(sorted(found)) or "unknown (no sidecar JSON)"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="the .tflite files [default: models/*.tflite]")
    parser.add_argument("--data", default=os.environ.get("MNIST_EDGE_DATA")
                        or str(REPO.parent / "shared" / "data" / "mnist.npz"))
    parser.add_argument("--images", type=int, default=1000, help="test digits per model")
    parser.add_argument("--work-dir", help="where the venvs go [default: a new temp folder]")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "runtimes.md"))
    parser.add_argument("--note", action="append", default=[],
                        help="a sentence for the report's Notes section (repeatable)")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
