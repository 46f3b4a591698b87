#!/usr/bin/env python3
"""Benchmark the web view: does streaming slow the recognition loop, and how fast is /predict?

1. **Loop FPS, 0 vs 4 viewers.** The real camera loop (``mnist_edge.reading.live.run``) reads a
   clip of
   synthetic 640x480 scenes as fast as it can (no pacing), publishing every annotated frame to a
   :class:`~mnist_edge.web.hub.LiveHub` served on localhost. Rounds alternate: no viewer, then 4
   viewers of ``/stream.mjpg`` (a separate process, as browsers would be), several times; the
   loop's FPS in each round is measured over the same window. Target: with 4 viewers within 10%
   of the FPS with none.
2. **/predict latency.** ``mnist-edge serve`` runs as a subprocess (the command users run); a
   client POSTs a few hundred 280x280 PNGs of MNIST test digits drawn dark on white (what the
   draw pad sends) over one keep-alive connection, and also over a new connection each time.
   Median and 99th percentile; target < 20 ms. The baseline measured in the same run is the
   reader alone on the decoded image (no HTTP, no PNG), so the ratio is the web's overhead.

Results: ``benchmarks/web.json`` and ``benchmarks/web.md``.

    python scripts/bench_web.py [--model models/edge_int8.tflite] [--rounds 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import select
import signal
import socket
import statistics
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
from mnist_edge.common.paths import default_model  # noqa: E402
from mnist_edge.web import hub as web_hub  # noqa: E402
from mnist_edge.web import server as web  # noqa: E402
from mnist_edge.web import uploads  # noqa: E402

VIEWERS = 4
PAD = 280


# ---------------------------------------------------------------------------------------------
# the machine


def machine() -> dict:
    """This machine, described without TensorFlow (a device-side benchmark)."""
    model = cpu_model()
    return {"cpu": model, "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "opencv": cv2.__version__,
            "numpy": np.__version__}


def load() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------------------------------------
# part 1: loop FPS with and without viewers


def make_clip(path: Path, mnist: Path | None, frames: int = 90) -> Path:
    """A clip of synthetic scenes (printed digits; MNIST test digits too if MNIST is given)."""
    from mnist_edge.testing import synth

    rng = np.random.default_rng(0)
    digits = None
    if mnist is not None and mnist.exists():
        with np.load(mnist) as data:
            digits = (data["x_test"][:500], data["y_test"][:500])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, synth.FRAME_SIZE)
    if not writer.isOpened():
        sys.exit(f"error: cannot write the benchmark clip {path}")
    for i in range(frames):
        kind = "handwritten" if digits is not None and i % 2 else "printed"
        scene = synth.make_scene(rng, kind=kind, mnist=digits)
        writer.write(scene.frame)
    writer.release()
    return path


def _viewer_process(url: str, n: int) -> subprocess.Popen:
    """``n`` stream viewers in another process: they read and count JPEG parts, nothing more."""
    code = (
        "import socket, sys, threading, time\n"
        "host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
        "seen = [[] for _ in range(n)]\n"
        "def view(i):\n"
        "    s = socket.create_connection((host, port))\n"
        "    s.sendall(b'GET /stream.mjpg HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
        "    tail = b''\n"
        "    while True:\n"
        "        data = s.recv(1 << 16)\n"
        "        if not data: return\n"
        "        both = tail + data; tail = both[-8:]\n"
        "        seen[i] += [time.monotonic()] * both.count(b'--frame\\r\\n')\n"
        "for i in range(n):\n"
        "    threading.Thread(target=view, args=(i,), daemon=True).start()\n"
        "sys.stdin.read()\n"
        "rates = [(len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0 for t in seen]\n"
        "print(' '.join(f'{r:.2f}' for r in rates), flush=True)\n"
    )
    host, port = re.match(r"http://([^:/]+):(\d+)/", url).groups()
    return subprocess.Popen([sys.executable, "-c", code, host, port, str(n)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


class Counter:
    """Counts the loop's frames (its on_frame), then hands each on to the hub.

    It runs in the loop's thread, so it also reads that thread's CPU time: CPU ms per frame is
    immune to other jobs on a shared machine, where FPS is not.
    """

    def __init__(self, hub: web_hub.LiveHub) -> None:
        self.hub = hub
        self.frames = 0
        self.cpu = 0.0

    def __call__(self, frame: np.ndarray, reading: dict) -> None:
        self.frames += 1
        self.cpu = time.thread_time()
        self.hub.publish(frame, reading)


def loop_fps(model: Path, clip: Path, rounds: int, seconds: float, threads: int) -> dict:
    """Alternate rounds of 0 and 4 viewers while the real loop runs; FPS of each round."""
    from mnist_edge.reading import live as webcam
    from mnist_edge.reading.reader import DigitReader

    reader = DigitReader(model, threads=threads)
    hub = web_hub.LiveHub(uploads.reader_model_info(reader, model))
    server = web.build_server("127.0.0.1:0", hub=hub).start()
    counter = Counter(hub)
    stop = threading.Event()
    loop = threading.Thread(target=webcam.run, args=(str(clip), reader), kwargs=dict(
        headless=True, loop=True, realtime=False, on_frame=counter, stop=stop), daemon=True)
    loop.start()
    time.sleep(2.0)  # warm-up: interpreter, decoder, caches
    results: dict[str, list] = {"0": [], str(VIEWERS): []}
    cpu_ms: dict[str, list] = {"0": [], str(VIEWERS): []}
    delivered, encoded = [], []
    for r in range(2 * rounds):
        n = 0 if r % 2 == 0 else VIEWERS
        viewers = _viewer_process(server.url, n) if n else None
        if viewers:
            deadline = time.monotonic() + 10
            while hub.viewers < n and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # let the encoder settle
        enc0, f0, c0, t0 = hub.encoded_frames, counter.frames, counter.cpu, time.perf_counter()
        time.sleep(seconds)
        frames, cpu = counter.frames - f0, counter.cpu - c0
        elapsed = time.perf_counter() - t0
        results[str(n)].append(round(frames / elapsed, 1))
        cpu_ms[str(n)].append(round(1000 * cpu / max(frames, 1), 2))
        if viewers:
            encoded.append(round((hub.encoded_frames - enc0) / elapsed, 1))
            out, _ = viewers.communicate("", timeout=10)
            rates = [float(c) for c in out.split()]
            delivered.append(round(sum(rates) / len(rates), 1))
            deadline = time.monotonic() + 5
            while hub.viewers and time.monotonic() < deadline:
                time.sleep(0.05)
        print(f"  round {r + 1}: {n} viewers, loop {results[str(n)][-1]} FPS, "
              f"{cpu_ms[str(n)][-1]} CPU ms/frame", flush=True)
    stop.set()
    loop.join(timeout=10)
    server.close()
    jpeg = hub.latest_jpeg()
    fps0 = statistics.median(results["0"])
    fps4 = statistics.median(results[str(VIEWERS)])
    return {
        "fps_by_round": results,
        "median_fps_0_viewers": fps0,
        f"median_fps_{VIEWERS}_viewers": fps4,
        "ratio_4_vs_0": round(fps4 / fps0, 3),
        "loop_cpu_ms_per_frame_by_round": cpu_ms,
        "median_cpu_ms_0_viewers": round(statistics.median(cpu_ms["0"]), 2),
        f"median_cpu_ms_{VIEWERS}_viewers": round(statistics.median(cpu_ms[str(VIEWERS)]), 2),
        "cpu_ratio_4_vs_0": round(statistics.median(cpu_ms[str(VIEWERS)])
                                  / statistics.median(cpu_ms["0"]), 3),
        "stream_fps_per_viewer": delivered,
        "jpeg_encodes_per_s": encoded,
        "jpeg_bytes": len(jpeg) if jpeg else None,
        "max_stream_fps": round(1 / hub.min_interval, 1) if hub.min_interval else None,
        "seconds_per_round": seconds,
        "threads": threads,
    }


# ---------------------------------------------------------------------------------------------
# part 2: /predict latency


def drawn_digits(mnist: Path | None, n: int) -> tuple[list[bytes], list[np.ndarray], list[int]]:
    """``n`` pad-like PNGs: MNIST test digits, dark on white, scaled to a 280x280 canvas."""
    if mnist is not None and mnist.exists():
        with np.load(mnist) as data:
            images, labels = data["x_test"][:n], data["y_test"][:n]
    else:
        from web_helpers import STROKES, draw_digit  # the test strokes, if there is no MNIST

        keys = sorted(STROKES)
        labels = np.array([keys[i % len(keys)] for i in range(n)])
        images = np.array([255 - cv2.resize(draw_digit(k), (28, 28)) for k in labels])
    pngs, pads = [], []
    for img in images:
        pad = np.full((PAD, PAD), 255, np.uint8)
        pad[28:252, 28:252] = 255 - cv2.resize(img, (224, 224), interpolation=cv2.INTER_LINEAR)
        pads.append(pad)
        pngs.append(cv2.imencode(".png", pad)[1].tobytes())
    return pngs, pads, [int(v) for v in labels]


def start_serve(model: Path, threads: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_edge", "serve", "127.0.0.1:0", "--model", str(model),
         "--threads", str(threads)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([proc.stderr], [], [], 0.5)[0]:
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", proc.stderr.readline())
            if match:
                return proc, int(match.group(1))
        if proc.poll() is not None:
            break
    proc.kill()
    sys.exit("error: mnist-edge serve did not start")


def percentiles(times: list[float]) -> dict:
    ms = np.array(times) * 1000
    return {"median_ms": round(float(np.median(ms)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(ms.mean()), 2), "max_ms": round(float(ms.max()), 2),
            "requests": len(ms)}


def predict_latency(model: Path, mnist: Path | None, requests: int, threads: int) -> dict:
    from mnist_edge.reading.reader import DigitReader

    pngs, pads, labels = drawn_digits(mnist, requests)
    # Baseline: the reader alone, in this process, on the already-decoded images.
    reader = DigitReader(model, threads=threads, min_confidence=0.0)
    for pad in pads[:20]:
        reader.read(pad)
    direct = []
    for pad in pads:
        t = time.perf_counter()
        reader.read(pad)
        direct.append(time.perf_counter() - t)

    proc, port = start_serve(model, threads)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for body in pngs[:20]:  # warm-up
            conn.request("POST", "/predict", body=body, headers={"Content-Type": "image/png"})
            conn.getresponse().read()
        keep_alive, server, right = [], [], 0
        for body, label in zip(pngs, labels, strict=True):
            t = time.perf_counter()
            conn.request("POST", "/predict", body=body, headers={"Content-Type": "image/png"})
            response = conn.getresponse()
            answer = json.loads(response.read())
            keep_alive.append(time.perf_counter() - t)
            server.append(float(response.getheader("Server-Timing").split("dur=")[1]) / 1000)
            digits = answer["digits"]
            right += len(digits) == 1 and digits[0]["label"] == label
        conn.close()
        fresh = []
        for body in pngs[:100]:
            t = time.perf_counter()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/predict", body=body, headers={"Content-Type": "image/png"})
            c.getresponse().read()
            c.close()
            fresh.append(time.perf_counter() - t)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    ka, base = percentiles(keep_alive), percentiles(direct)
    return {
        "keep_alive": ka,
        "server_side_decode_and_read": percentiles(server),
        "new_connection_each": percentiles(fresh),
        "reader_alone_baseline": base,
        "ratio_http_vs_reader_median": round(ka["median_ms"] / base["median_ms"], 2),
        "read_right": right, "png_bytes_mean": int(np.mean([len(p) for p in pngs])),
        "serve_exit_code": proc.returncode,
    }


# ---------------------------------------------------------------------------------------------
# report


def spread(values: list[float]) -> float:
    """(max - min) / median, in percent: how much rounds of the same condition disagree."""
    return 100 * (max(values) - min(values)) / statistics.median(values)


def render(results: dict) -> str:
    lf, pl = results["loop"], results["predict"]
    ka, nc, base = pl["keep_alive"], pl["new_connection_each"], pl["reader_alone_baseline"]
    sv = pl["server_side_decode_and_read"]
    ok_fps = "meets" if lf["ratio_4_vs_0"] >= 0.9 else "MISSES"
    ok_lat = "meets" if ka["median_ms"] < 20 and ka["p99_ms"] < 20 else "MISSES"
    m = results["machine"]
    return "\n".join([
        "# Web view benchmark: stream viewers vs the recognition loop, and /predict latency",
        "",
        f"Run {results['date']} on {m['cpu']} ({m['cpus']} CPUs), Python {m['python']}, "
        f"OpenCV {m['opencv']}; model `{results['model']}` ({results['runtime']}), "
        f"interpreter threads {results['threads']}. Load average (1 min) before/after: "
        f"{results['load_before']}/{results['load_after']}. "
        + (results["note"] + " " if results.get("note") else "")
        + "Command: `" + results["command"] + "`.",
        "",
        f"## Recognition loop FPS with 0 vs {VIEWERS} MJPEG viewers ({ok_fps} the 10% target)",
        "",
        f"The real loop (`webcam.run`, unpaced) on a clip of synthetic 640x480 scenes; rounds of "
        f"{lf['seconds_per_round']} s alternate between no viewer and {VIEWERS} viewers (another "
        "process reading `/stream.mjpg`).",
        "",
        "| viewers | FPS per round | median FPS | loop-thread CPU ms/frame per round | median |",
        "|---|---|---|---|---|",
        *[f"| {n} | {', '.join(map(str, lf['fps_by_round'][n]))} | "
          f"{lf[f'median_fps_{n}_viewers']} | "
          f"{', '.join(map(str, lf['loop_cpu_ms_per_frame_by_round'][n]))} | "
          f"{lf[f'median_cpu_ms_{n}_viewers']} |" for n in ("0", str(VIEWERS))],
        "",
        f"- FPS with {VIEWERS} viewers / FPS with none: **{lf['ratio_4_vs_0']:.3f}** "
        "(target >= 0.90). Loop-thread CPU per frame with / without viewers: "
        f"{lf['cpu_ratio_4_vs_0']:.3f} (this one does not depend on the other jobs' load).",
        f"- Noise floor: with no viewer at all, FPS ranged {min(lf['fps_by_round']['0'])}-"
        f"{max(lf['fps_by_round']['0'])} between rounds "
        f"({spread(lf['fps_by_round']['0']):.0f}% of the median), so the FPS ratio is only as "
        "precise as that; the CPU-per-frame ratio is the sharper measure.",
        f"- Each viewer received {', '.join(map(str, lf['stream_fps_per_viewer']))} frames/s "
        "(mean over the 4, per round); "
        f"the hub encoded {', '.join(map(str, lf['jpeg_encodes_per_s']))} JPEGs/s in total "
        f"(once per frame for all viewers, capped at {lf['max_stream_fps']} FPS), about "
        f"{lf['jpeg_bytes'] or 0:,} bytes each.",
        "",
        f"## POST /predict latency ({ok_lat} the 20 ms target)",
        "",
        f"`mnist-edge serve` in its own process; {ka['requests']} requests, each a "
        f"{PAD}x{PAD} PNG (~{pl['png_bytes_mean']:,} bytes) of an MNIST test digit drawn dark "
        "on white, like the draw pad sends; client-side wall time per request.",
        "",
        "| path | median ms | p99 ms | mean ms | max ms |",
        "|---|---|---|---|---|",
        f"| HTTP, one keep-alive connection | {ka['median_ms']} | {ka['p99_ms']} | "
        f"{ka['mean_ms']} | {ka['max_ms']} |",
        f"| HTTP, new connection per request | {nc['median_ms']} | {nc['p99_ms']} | "
        f"{nc['mean_ms']} | {nc['max_ms']} |",
        f"| server side only (PNG decode + reader, `Server-Timing`) | {sv['median_ms']} | "
        f"{sv['p99_ms']} | {sv['mean_ms']} | {sv['max_ms']} |",
        f"| baseline: reader alone on the decoded image | {base['median_ms']} | "
        f"{base['p99_ms']} | {base['mean_ms']} | {base['max_ms']} |",
        "",
        f"- HTTP / reader-alone median: **{pl['ratio_http_vs_reader_median']:.2f}x** (PNG decode, "
        "HTTP parsing and JSON on top of the reader).",
        f"- Read right: {pl['read_right']} of {ka['requests']} drawn digits.",
        "",
    ])


def _args_without_note() -> list[str]:
    """The command line as typed, with the free-text ``--note`` left out (it is in the report)."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg.startswith("--note="):
            skip = False
            continue
        if arg == "--note":
            skip = True
            continue
        args.append(arg)
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "MNIST_EDGE_DATA", REPO.parent / "shared" / "data" / "mnist.npz")))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--note", default="", help="A sentence for the report (e.g. machine load).")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "web")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    model = (args.model or default_model()).resolve()
    from mnist_edge.reading.runtime import find_runtime

    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
               "model": str(model.relative_to(REPO) if model.is_relative_to(REPO) else model),
               "runtime": find_runtime("auto").name, "threads": args.threads,
               "command": "python scripts/bench_web.py " + " ".join(_args_without_note()),
               "note": args.note, "load_before": load()}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.avi", args.data)
        print("loop FPS, 0 vs 4 viewers:", flush=True)
        results["loop"] = loop_fps(model, clip, args.rounds, args.seconds, args.threads)
    print("/predict latency:", flush=True)
    results["predict"] = predict_latency(model, args.data, args.requests, args.threads)
    results["load_after"] = load()
    atomic.write_json(args.out.with_suffix(".json"), results)
    atomic.write_text(args.out.with_suffix(".md"), render(results))
    print(render(results))


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
