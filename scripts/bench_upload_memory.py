#!/usr/bin/env python3
"""Benchmark the memory of ``mnist-edge serve`` under concurrent image-bomb uploads (issue 13.1).

``mnist-edge serve`` runs as a subprocess (the command users run). Each case POSTs the same
upload ``--clients`` times at once (one thread and connection per upload) and records the
server's resident memory: ``VmRSS`` before, ``VmHWM`` (the peak since start) after, from
``/proc/PID/status``; every case gets a fresh server, so each peak is that case's own.

Cases:

- ``rgba16_4096``: a 4096x4096 16-bit RGBA PNG of one colour (about 138 KB; 128 MB decoded) -
  the issue's reproduction. Target: the peak stays under 300 MB.
- ``rgba8_4096``: a 4096x4096 8-bit RGBA PNG (64 MB decoded): the largest transparent image
  the server accepts.
- ``rgb16_4096``: a 4096x4096 16-bit RGB PNG (no alpha: decoded straight to 8-bit grey).

Results: ``benchmarks/upload_memory.json`` and ``benchmarks/upload_memory.md``.

    python scripts/bench_upload_memory.py [--clients 8] [--model models/edge_int8.tflite]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.metrics import cpu_model  # noqa: E402
from mnist_edge.common.paths import default_model, portable  # noqa: E402

TARGET_MB = 300


def machine() -> dict:
    model = cpu_model()
    mem_kb = 0
    with contextlib.suppress(OSError, TypeError):
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    return {"cpu": model, "cpus": os.cpu_count(), "memory_mb": round(mem_kb / 1024),
            "python": platform.python_version(), "platform": platform.platform(),
            "opencv": cv2.__version__, "numpy": np.__version__}


def images() -> dict[str, np.ndarray]:
    return {
        "rgba16_4096": np.full((4096, 4096, 4), 65535, np.uint16),
        "rgba8_4096": np.full((4096, 4096, 4), 255, np.uint8),
        "rgb16_4096": np.full((4096, 4096, 3), 65535, np.uint16),
    }


def status_mb(pid: int) -> dict[str, float]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {key: round(int(re.search(rf"{key}:\s+(\d+) kB", text)[1]) / 1024, 1)
            for key in ("VmRSS", "VmHWM")}


def start_server(model: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "mnist_edge", "serve", "127.0.0.1:0",
                             "--model", str(model), "--threads", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stderr.readline()
    match = re.search(r"http://[^:]+:(\d+)/", line)
    if not match:
        proc.kill()
        sys.exit(f"error: serve did not start: {line!r}")
    return proc, int(match[1])


def post_all(port: int, body: bytes, clients: int) -> list[tuple[int, str, float]]:
    results: list[tuple[int, str, float]] = [(0, "", 0.0)] * clients
    barrier = threading.Barrier(clients)

    def one(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            barrier.wait()
            started = time.perf_counter()
            conn.request("POST", "/predict", body=body, headers={"Content-Type": "image/png"})
            response = conn.getresponse()
            answer = response.read().decode(errors="replace").strip()
            results[i] = (response.status, answer[:120], time.perf_counter() - started)
        except OSError as exc:
            results[i] = (0, f"{type(exc).__name__}: {exc}", 0.0)
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def run_case(model: Path, name: str, body: bytes, clients: int) -> dict:
    proc, port = start_server(model)
    try:
        time.sleep(0.5)
        before = status_mb(proc.pid)
        answers = post_all(port, body, clients)
        time.sleep(0.2)
        after = status_mb(proc.pid)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    statuses: dict[str, int] = {}
    for status, _, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"case": name, "upload_bytes": len(body), "clients": clients,
            "rss_before_mb": before["VmRSS"], "peak_rss_mb": after["VmHWM"],
            "rss_after_mb": after["VmRSS"], "statuses": statuses,
            "answers": sorted({text for _, text, _ in answers}),
            "slowest_s": round(max(t for _, _, t in answers), 2)}


def render(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# serve memory under concurrent image-bomb uploads",
        "",
        f"Run {results['when']} on {m['cpu']} ({m['cpus']} CPUs, {m['memory_mb']:,} MB), "
        f"Python {m['python']}, OpenCV {m['opencv']}; model `{results['model']}`. Load average "
        f"(1 min) before/after: {results['load_before']}/{results['load_after']} (the 2 cores "
        "were shared with other engineers' jobs; memory does not depend on that, time does). "
        f"Command: `{results['command']}`.",
        "",
        f"Each case: a fresh `mnist-edge serve`, {results['clients']} POSTs of the same upload "
        "at once; peak = the server's `VmHWM` (peak resident set) after the burst. "
        f"Target: peak under {TARGET_MB} MB for the 16-bit RGBA case.",
        "",
        "| case | upload bytes | RSS before MB | peak RSS MB | RSS after MB | answers "
        "| slowest s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["cases"]:
        answers = ", ".join(f"{n}x {s}" for s, n in sorted(r["statuses"].items()))
        lines.append(f"| {r['case']} | {r['upload_bytes']:,} | {r['rss_before_mb']} | "
                     f"**{r['peak_rss_mb']}** | {r['rss_after_mb']} | {answers} | "
                     f"{r['slowest_s']} |")
    lines += ["", "Answers seen:", ""]
    for r in results["cases"]:
        for text in r["answers"]:
            lines.append(f"- {r['case']}: `{text}`")
    if results.get("note"):
        lines += ["", results["note"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--cases", default="rgba16_4096,rgba8_4096,rgb16_4096")
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "upload_memory.json")
    args = parser.parse_args()
    model = args.model or default_model()
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "machine": machine(), "model": portable(model), "clients": args.clients,
                     "load_before": round(os.getloadavg()[0], 2), "note": args.note,
                     "command": "python " + " ".join(["scripts/bench_upload_memory.py",
                                                      *sys.argv[1:]]),
                     "cases": []}
    wanted = args.cases.split(",")
    with tempfile.TemporaryDirectory():
        for name, image in images().items():
            if name not in wanted:
                continue
            ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
            assert ok
            case = run_case(model, name, buf.tobytes(), args.clients)
            print(case, flush=True)
            results["cases"].append(case)
    results["load_after"] = round(os.getloadavg()[0], 2)
    atomic.write_json(args.out.with_suffix(".json"), results)
    atomic.write_text(args.out.with_suffix(".md"), render(results))
    print(render(results))


if __name__ == "__main__":
    main()
