"""Benchmark the meter pipeline and MQTT publishing.

Writes benchmarks/meter.md and .json (``--out`` elsewhere).

1. Region read of a 6-digit meter face in a 640x480 frame on one core (OpenCV and the
   interpreter single-threaded): crops, the one classify call, the whole
   read; alignment (ORB) on its own; the blob search of the same frame as the baseline.
2. Publishing cost: the real live loop (``live.run`` on a shaken meter clip, regions + ORB
   alignment + values) without publishing vs publishing every reading (heartbeat 0) to a real
   Mosquitto on loopback; runs alternate A/B to spread the machine's load evenly.
3. Broker outage: the loop publishes every reading while the broker is stopped for
   ``--outage`` s (20 s by default, not a minute, to keep the run short) and restarted; FPS
   before/during/after, and how many values the subscriber got of those published.

    python scripts/bench_meter.py [--outage 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from mqtt_harness import Broker, Subscriber  # noqa: E402

from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.publish.mqtt import MqttPublisher, Sensor, parse_mqtt_url  # noqa: E402
from mnist_edge.reading import live  # noqa: E402
from mnist_edge.reading.meter import Meter, config_text, load_config  # noqa: E402
from mnist_edge.reading.reader import DigitReader, make_reader  # noqa: E402
from mnist_edge.reading.regions import RegionReader  # noqa: E402
from mnist_edge.testing.meter import (  # noqa: E402
    MeterLayout,
    make_meter_clip,
    meter_face,
    meter_frames,
)

LAYOUT = MeterLayout()


def _times(fn, n: int) -> dict[str, float]:
    fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return {"median_ms": round(1000 * statistics.median(ts), 3),
            "p90_ms": round(1000 * ts[int(0.9 * len(ts))], 3),
            "min_ms": round(1000 * ts[0], 3)}


def bench_regions(reader: DigitReader, tmp: Path, n: int) -> dict:
    cfg = tmp / "m.toml"
    cv2.imwrite(str(tmp / "ref.png"), meter_face("000000"))
    cfg.write_text(config_text(LAYOUT.size, LAYOUT.regions, reference="ref.png")
                   .replace("[read]", "[align]\nmethod = \"orb\"\n\n[read]"))
    config = load_config(cfg)
    rr = RegionReader(reader, config.regions)
    frame = meter_frames(123456, 1, shift=0, degrees=0)[0].image
    shaken = meter_frames(123456, 1, seed=2)[0].image
    crops, _, _ = rr.crops(frame)
    meter = Meter(config, reader)
    assert "".join(str(d.label) for d in rr.read(frame)) == "123456"
    seed = RegionReader(make_reader(REPO / "models" / "seed_int8.tflite", threads=1),
                        config.regions)
    return {
        "region_read": _times(lambda: rr.read(frame), n),
        "region_read_seed_model": _times(lambda: seed.read(frame), n),
        "region_crops_only": _times(lambda: rr.crops(frame), n),
        "classify_6_crops": _times(lambda: reader.classify(crops), n),
        "align_orb": _times(lambda: meter.aligner.align(shaken), max(20, n // 5)),
        "baseline_blob_search_read": _times(lambda: reader.read(frame), max(20, n // 5)),
    }


def _loop(clip: Path, meter: Meter, reader, seconds: float, on_reading=None,
          windows: list | None = None) -> live.RunSummary:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    marks = []

    def tick(reading):
        marks.append((time.monotonic(), time.process_time()))
        if on_reading is not None:
            on_reading(reading)

    cpu = time.process_time()
    s = live.run(str(clip), reader, headless=True, loop=True, stop=stop,
                 read_frame=meter.read, on_reading=tick)
    s.cpu_seconds = time.process_time() - cpu  # every thread of the process: paho's too
    timer.cancel()
    if windows is not None:
        windows.extend(marks)
    return s


def bench_publish(reader, tmp: Path, clip: Path, config, runs: int, seconds: float) -> dict:
    broker = Broker(tmp / "broker").start()
    sub = Subscriber(broker.port, ["bench/#"])
    target = parse_mqtt_url(broker.url("bench"))
    fps: dict[str, list[float]] = {"off": [], "mqtt": []}
    cpu: dict[str, list[float]] = {"off": [], "mqtt": []}
    sent = 0
    try:
        for _ in range(runs):
            for mode in ("off", "mqtt"):
                meter = Meter(config, reader)
                if mode == "off":
                    s = _loop(clip, meter, reader, seconds)
                else:
                    pub = MqttPublisher(target, [Sensor("value")], node="bench", heartbeat=0,
                                        client_id=f"bench-{time.monotonic_ns()}").start()
                    s = _loop(clip, meter, reader, seconds, pub.on_reading)
                    pub.stop()
                    sent += pub.status()["sent"]
                fps[mode].append(s.fps)
                cpu[mode].append(1000 * s.cpu_seconds / max(s.frames, 1))
    finally:
        sub.close()
        broker.stop()
    off, on = statistics.median(fps["off"]), statistics.median(fps["mqtt"])
    c_off, c_on = statistics.median(cpu["off"]), statistics.median(cpu["mqtt"])
    return {"cpu_ms_per_frame_without": [round(v, 2) for v in cpu["off"]],
            "cpu_ms_per_frame_with_mqtt": [round(v, 2) for v in cpu["mqtt"]],
            "cpu_cost_percent": round(100 * (c_on / c_off - 1), 2),
            "fps_without": [round(v, 2) for v in fps["off"]],
            "fps_with_mqtt": [round(v, 2) for v in fps["mqtt"]],
            "median_without": round(off, 2), "median_with": round(on, 2),
            "cost_percent": round(100 * (1 - on / off), 2), "messages_sent": sent}


def bench_outage(reader, tmp: Path, clip: Path, config, outage: float, queue: int) -> dict:
    broker = Broker(tmp / "broker2").start()
    sub = Subscriber(broker.port, ["out/#"], client_id="outage-sub")
    pub = MqttPublisher(parse_mqtt_url(broker.url("out")), [Sensor("value")], node="o",
                        heartbeat=0, queue_size=queue).start()
    published = []
    marks: list[float] = []
    before = 10.0
    after = 10.0

    def on_reading(r):
        published.append(r["frame"])
        pub.on_reading(r)

    events = {}

    def outage_thread():
        time.sleep(before)
        events["down"] = time.monotonic()
        broker.stop()
        time.sleep(outage)
        broker.start()
        events["up"] = time.monotonic()

    th = threading.Thread(target=outage_thread)
    th.start()
    # values repeat as the clip loops: make every reading distinct for counting
    n = iter(range(10 ** 9))
    s = _loop(clip, Meter(config, reader), reader, before + outage + after,
              lambda r: on_reading({**r, "values": {"value": {
                  "ok": True, "raw": str(next(n)), "value": float(r["frame"])}},
                  "frame": len(published)}),
              marks)
    th.join()
    max_queued = pub.status()["queued"]
    ok = sub.wait_for(lambda m: len(sub.on("out/o/value")) >= len(published) -
                      pub.status()["dropped"], timeout=60)
    pub.stop()
    got = {json.loads(p)["frame"] for p in sub.on("out/o/value")}
    sub.close()
    broker.stop()

    def rate(t0, t1):
        k = [t for t, _ in marks if t0 <= t < t1]
        return round(len(k) / (t1 - t0), 2) if t1 > t0 else 0.0

    def cpu(t0, t1):
        k = [c for t, c in marks if t0 <= t < t1]
        return round(1000 * (k[-1] - k[0]) / (len(k) - 1), 2) if len(k) > 1 else 0.0

    start = marks[0][0]
    end = marks[-1][0]
    return {"outage_s": outage, "queue_size": queue, "frames": s.frames,
            "published": len(published), "received": len(got),
            "lost": len(published) - len(got), "dropped_by_outbox": pub.status()["dropped"],
            "all_arrived": ok, "queued_at_end_of_loop": max_queued,
            "fps_before": rate(start, events["down"]),
            "fps_during": rate(events["down"], events["up"]),
            "fps_after": rate(events["up"], end),
            "cpu_ms_per_frame_before": cpu(start, events["down"]),
            "cpu_ms_per_frame_during": cpu(events["down"], events["up"]),
            "cpu_ms_per_frame_after": cpu(events["up"], end)}


def markdown(r: dict) -> str:
    m, g, p, o = r["machine"], r["regions"], r["publish"], r["outage"]
    base = g["baseline_blob_search_read"]["median_ms"]
    rr = g["region_read"]["median_ms"]
    lines = [
        "# Meter pipeline: regions, alignment, MQTT publishing",
        "",
        f"`python scripts/bench_meter.py` on {r['when']}: {m['cpu']}, {m['cores']} cores shared "
        f"with other jobs (load average {m['load_avg_at_start']} at the start), OpenCV and the "
        f"interpreter single-threaded ({m['runtime']}, `{m['model']}`), Python {m['python']}, "
        f"OpenCV {m['opencv']}. The machine was busy: medians are the figure to read, minimums "
        "show what an idle core does.",
        "",
        "## A 6-digit meter face (640x480) read through a region config",
        "",
        "| step | median ms | p90 ms | min ms |",
        "|---|---|---|---|",
    ]
    names = {"region_read": "regions: 6 crops + one classify call (the whole read)",
             "region_crops_only": "  of which the 6 crops",
             "classify_6_crops": "  of which the one classify call (6 crops)",
             "region_read_seed_model": "regions, the whole read with the smaller `seed` model",
             "align_orb": "alignment to the reference (ORB + RANSAC), per frame",
             "baseline_blob_search_read": "baseline: blob search of the same frame (`reader.read`)"}
    for k, label in names.items():
        if k not in g:
            continue
        t = g[k]
        lines.append(f"| {label} | {t['median_ms']} | {t['p90_ms']} | {t['min_ms']} |")
    lines += [
        "",
        f"Region read vs the blob search of the same frame: {base / rr:.1f}x faster (medians).",
        f"Target under 1 ms: **not met here** (median {rr} ms, best {g['region_read']['min_ms']}"
        " ms on this loaded machine); the classify call of the shipped `edge` model alone is"
        f" {g['classify_6_crops']['min_ms']} ms at best for 6 crops"
        + (f"; with the smaller `seed` model the whole read is "
           f"{g['region_read_seed_model']['median_ms']} ms median, "
           f"{g['region_read_seed_model']['min_ms']} ms best."
           if "region_read_seed_model" in g else "."),
        "",
        "## Publishing cost in the live loop",
        "",
        "`live.run` on a shaken meter clip with regions + ORB alignment + values, without "
        "publishing vs publishing every reading (heartbeat 0) with QoS 1 to a real Mosquitto on "
        f"loopback; {len(p['fps_without'])} alternating runs each.",
        "",
        "| | without MQTT | with MQTT |",
        "|---|---|---|",
        f"| FPS per run | {p['fps_without']} | {p['fps_with_mqtt']} |",
        f"| median FPS | {p['median_without']} | {p['median_with']} |",
    ]
    if "cpu_ms_per_frame_without" in p:
        lines += [f"| CPU ms per frame (all threads) | {p['cpu_ms_per_frame_without']} | "
                  f"{p['cpu_ms_per_frame_with_mqtt']} |",
                  "",
                  f"CPU cost of publishing: {p['cpu_cost_percent']:+.1f}% per frame "
                  f"(median of runs); median FPS {-p['cost_percent']:+.1f}% with MQTT (FPS on this "
                  "shared machine swings more between runs than publishing costs; the CPU "
                  "time per frame is the steadier measure)."]
    lines += [
        f"Messages acknowledged by the broker: {p['messages_sent']}.",
        "",
        f"## Broker down for {o['outage_s']:g} s mid-run",
        "",
        f"The issue asks for a minute; this run stops the broker for {o['outage_s']:g} s to "
        "keep the benchmark short (`--outage 60` runs the minute). Every reading is published "
        f"(heartbeat 0) into an outbox of {o['queue_size']}.",
        "",
        "| | |",
        "|---|---|",
        f"| frames read | {o['frames']} |",
        f"| values published / received by the subscriber | {o['published']} / "
        f"{o['received']} (lost {o['lost']}, dropped by the outbox {o['dropped_by_outbox']}) |",
        f"| FPS before / during / after the outage | {o['fps_before']} / {o['fps_during']} / "
        f"{o['fps_after']} |",
        f"| CPU ms per frame before / during / after | {o.get('cpu_ms_per_frame_before')} / "
        f"{o.get('cpu_ms_per_frame_during')} / {o.get('cpu_ms_per_frame_after')} |",
        "",
        "The loop never waits for the network: `on_reading` only appends to the outbox; a "
        "full outbox would drop its oldest messages and count them.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown-only", action="store_true",
                    help="rewrite OUT.md from OUT.json")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "meter"),
                    help="write OUT.md and OUT.json")
    ap.add_argument("--outage", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each A/B run")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--queue", type=int, default=2000)
    args = ap.parse_args()
    out = Path(args.out)
    if args.markdown_only:
        result = json.loads(out.with_suffix(".json").read_text())
        atomic.write_text(out.with_suffix(".md"), markdown(result))
        return
    cv2.setNumThreads(1)  # one core's worth: OpenCV and the interpreter single-threaded
    reader = make_reader(threads=1)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        regions = bench_regions(reader, tmp, args.n)
        clip = make_meter_clip(tmp / "clip.mp4", start=123450, count=40, seed=1).path
        config = load_config(tmp / "m.toml")
        publish = bench_publish(reader, tmp, clip, config, args.runs, args.seconds)
        outage = bench_outage(reader, tmp, clip, config, args.outage, args.queue)
    result = {"machine": {"cpu": platform.processor() or platform.machine(),
                          "threads": 1, "cores": os.cpu_count(),
                          "load_avg_at_start": [round(v, 2) for v in os.getloadavg()],
                          "python": platform.python_version(), "opencv": cv2.__version__,
                          "runtime": reader.runtime_name, "model": reader.model_path.name},
              "regions": regions, "publish": publish, "outage": outage,
              "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    atomic.write_json(out.with_suffix(".json"), result)
    atomic.write_text(out.with_suffix(".md"), markdown(result))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
