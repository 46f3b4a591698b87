"""The meter from the command line: `regions` writes a config, `webcam --config --mqtt` reads a
shaken meter clip and publishes to a real broker, mistakes are one error line, and `bundle`
carries the config and the publishing options into the service."""

from __future__ import annotations

import json
import tarfile
import time

import cv2
import pytest
from cli_helpers import REPO, run_cli
from mqtt_harness import Broker, Subscriber

from mnist_edge.reading.meter import config_text, load_config
from mnist_edge.testing.meter import MeterLayout, make_meter_clip, meter_face

LAYOUT = MeterLayout()


def _one_error(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.fixture()
def meter_config(tmp_path):
    """A config with the layout's regions as value "gas" (3 decimals, no decrease), aligned
    to a reference frame showing another reading."""
    cv2.imwrite(str(tmp_path / "ref.png"), meter_face("000000"))
    text = config_text(LAYOUT.size, LAYOUT.regions, reference="ref.png", value="gas",
                       decimals=3)
    text = text.replace("[read]", "[align]\nmethod = \"orb\"\narea = [40, 40, 560, 400]\n\n"
                                  "[read]")
    text += ('\n[values.gas]\ndecimals = 3\nno_decrease = true\nunit = "m³"\n'
             'state_class = "total_increasing"\nstate_file = "gas.last.json"\n'
             '\n[mqtt]\nnode = "testmeter"\nheartbeat = 0\n')
    text = text.replace("[values.gas]\ndecimals = 3\nno_decrease = false\n", "", 1)
    path = tmp_path / "meter.toml"
    path.write_text(text)
    load_config(path)
    return path


def test_regions_command_writes_a_config_that_reads_the_frame(env, tmp_path):
    cv2.imwrite(str(tmp_path / "frame.png"), meter_face("123456"))
    out = tmp_path / "cfg" / "meter.toml"
    proc = run_cli("regions", "--source", str(tmp_path / "frame.png"), "--area",
                   "110,180,420,110", "--out", str(out), "--value", "water", "--decimals", "2",
                   "--draw", str(tmp_path / "drawn.png"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "6 regions, reading 123456, reference meter-reference.png" in proc.stdout
    config = load_config(out)
    assert len(config.regions.regions) == 6 and config.rules("water").decimals == 2
    assert config.align is not None and config.reference_image == out.parent / \
        "meter-reference.png"
    assert cv2.imread(str(tmp_path / "drawn.png")).shape == (480, 640, 3)


def test_regions_command_mistakes(env, tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), meter_face("123456")[:60, :60])
    assert "no digits found" in _one_error(run_cli("regions", "--source", str(blank), "--out",
                                                   str(tmp_path / "m.toml"), env=env))
    assert "outside the 60x60 frame" in _one_error(run_cli(
        "regions", "--source", str(blank), "--area", "0,0,100,100", env=env))
    assert "no such file" in _one_error(run_cli("regions", "--source", "nope.png", env=env))


def test_webcam_reads_a_shaken_meter_clip_and_publishes_values(env, tmp_path, meter_config):
    clip = make_meter_clip(tmp_path / "meter.mp4", start=123450, count=10, seed=4)
    broker = Broker(tmp_path / "broker").start()
    sub = Subscriber(broker.port, ["homeassistant/#", "house/#"])
    try:
        proc = run_cli("webcam", "--source", str(clip.path), "--config", str(meter_config),
                       "--headless", "--jsonl", "-", "--mqtt", broker.url("house"),
                       "--state-dir", str(tmp_path), env=env)
        assert proc.returncode == 0, proc.stderr
        assert sub.wait_for(lambda m: sub.on("house/testmeter/availability")[-1:] ==
                            [b"offline"])
    finally:
        sub.close()
        broker.stop()
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(lines) == 10
    values = [x["values"]["gas"] for x in lines]
    assert all(v["ok"] for v in values), values
    assert [v["value"] for v in values] == [int(f.reading) / 1000 for f in clip.frames]
    assert all(x["align"]["aligned"] for x in lines)
    published = [json.loads(p)["value"] for p in sub.on("house/testmeter/gas")]
    assert published == [v["value"] for v in values]
    discovery = json.loads(sub.on("homeassistant/sensor/testmeter/gas/config")[0])
    assert discovery["unit_of_measurement"] == "m³"
    assert json.loads((tmp_path / "gas.last.json").read_text())["value"] == 123.459
    assert "value gas: last good 123.459, 10 accepted, 0 rejected" in proc.stderr
    assert "mqtt: 10 sent, 0 queued, 0 dropped" in proc.stderr


def test_bad_meter_options_are_one_error_line(env, tmp_path, meter_config):
    bad = tmp_path / "overlap.toml"
    bad.write_text(config_text(LAYOUT.size, [(10, 10, 50, 60), (40, 10, 50, 60)]))
    src = tmp_path / "f.png"
    cv2.imwrite(str(src), meter_face("000001"))
    assert "overlap" in _one_error(run_cli("webcam", "--source", str(src), "--headless",
                                           "--config", str(bad), env=env))
    outside = tmp_path / "outside.toml"
    outside.write_text(config_text(LAYOUT.size, [(600, 10, 50, 60)]))
    assert "outside the 640x480 reference frame" in _one_error(run_cli(
        "webcam", "--source", str(src), "--headless", "--config", str(outside), env=env))
    assert "must start with mqtt://" in _one_error(run_cli(
        "webcam", "--source", str(src), "--headless", "--mqtt", "http://broker", env=env))
    assert "--post must be an http" in _one_error(run_cli(
        "webcam", "--source", str(src), "--headless", "--post", "ftp://x", env=env))
    broker = Broker(tmp_path / "auth", users={"meter": "right"}).start()
    try:
        line = _one_error(run_cli("webcam", "--source", str(src), "--headless", "--config",
                                  str(meter_config), "--mqtt",
                                  broker.url(auth="meter:wrong"), env=env))
    finally:
        broker.stop()
    assert "refused the login" in line and "wrong" not in line
    assert not (tmp_path / "gas.last.json").exists()  # nothing read before the error


def test_bundle_carries_config_and_publishing_into_the_service(env, tmp_path, meter_config):
    from mnist_edge.shipping.bundle import BUNDLE_ROOT

    out = tmp_path / "pi.tar.gz"
    proc = run_cli("bundle", "--out", str(out), "--model", str(REPO / "models" /
                                                              "edge_int8.tflite"),
                   "--config", str(meter_config), "--mqtt", "mqtt://ha:secret@broker.lan/home",
                   "--post", "http://hub.lan/hook", "--no-verify", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(out) as tar:
        names = tar.getnames()
        unit = tar.extractfile(f"{BUNDLE_ROOT}/mnist-edge.service").read().decode()
        manifest = json.loads(tar.extractfile(f"{BUNDLE_ROOT}/manifest.json").read())
        shipped = tar.extractfile(f"{BUNDLE_ROOT}/config/meter.toml").read().decode()
    assert f"{BUNDLE_ROOT}/config/ref.png" in names
    assert 'image = "ref.png"' in shipped
    assert ("--mqtt mqtt://ha:secret@broker.lan/home --post http://hub.lan/hook --config "
            "@PREFIX@/current/config/meter.toml --state-dir @PREFIX@") in unit
    assert "secret" not in json.dumps(manifest)
    assert "mqtt://ha:***@broker.lan/home" in manifest["service"]["webcam_args"]
    bad = run_cli("bundle", "--out", str(tmp_path / "x.tar.gz"), "--mqtt", "mqtt://", env=env)
    assert "names no host" in _one_error(bad)
    assert not (tmp_path / "x.tar.gz").exists()


def test_status_shows_the_meter_and_the_broker_connection(tflite_model, tmp_path,
                                                          meter_config):
    """What /status gets with --serve: the hub's status with the meter's and MQTT's state."""
    from mnist_edge.cli.meter import meter_run
    from mnist_edge.reading.reader import make_reader
    from mnist_edge.testing.meter import meter_frames
    from mnist_edge.web.hub import LiveHub

    broker = Broker(tmp_path / "broker").start()
    hub = LiveHub()
    try:
        with meter_run(make_reader(tflite_model), meter_config, broker.url(), None, tmp_path,
                       lambda _t: None) as hooks:
            hooks.add_status_to(hub)  # as webcam --serve does
            digits, extra = hooks.read_frame(meter_frames(123456, 1, seed=1)[0].image)
            hooks.on_reading({"frame": 0, "time": 0.0, "digits": [], **extra})
            status = hub.status()
            broker.stop()
            pub = hooks.status()["publish"]["mqtt"]
            for _ in range(100):
                if not pub["connected"]:
                    break
                time.sleep(0.05)
                pub = hooks.status()["publish"]["mqtt"]
    finally:
        hub.close()
        broker.stop()
    assert status["meter"]["values"]["gas"]["last_good"] == 123.456
    assert status["publish"]["mqtt"]["connected"] is True
    assert pub["connected"] is False and "connection lost" in pub["last_error"]


def _post(url: str, body: bytes) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_regions_edit_page_saves_what_is_posted_and_refuses_bad_boxes(env, tmp_path):
    """`regions --edit`: the real command serves the page; bad boxes are refused with the
    reason and nothing is written; good ones write the config and end the command."""
    import subprocess
    import sys
    import urllib.request

    cv2.imwrite(str(tmp_path / "frame.png"), meter_face("123456"))
    out = tmp_path / "meter.toml"
    proc = subprocess.Popen([sys.executable, "-m", "mnist_edge", "regions", "--source",
                             str(tmp_path / "frame.png"), "--out", str(out), "--no-align",
                             "--area", "110,180,420,110", "--edit", "127.0.0.1:0"],
                            cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        line = proc.stderr.readline()
        assert "drag the regions on http://" in line, line
        page = line.split(" on ", 1)[1].split()[0]  # http://127.0.0.1:PORT/regions
        base = page.rsplit("/", 1)[0]
        with urllib.request.urlopen(f"{base}/regions/state", timeout=30) as answer:
            state = json.loads(answer.read())
        assert state["size"] == [640, 480] and len(state["boxes"]) == 6  # proposed
        with urllib.request.urlopen(f"{base}/regions/frame.png", timeout=30) as answer:
            assert answer.read()[:4] == b"\x89PNG"
        html = urllib.request.urlopen(page, timeout=30).read().decode()
        assert "regions.js" in html
        boxes = [list(b) for b in LAYOUT.regions]
        status, answer = _post(f"{base}/regions", json.dumps(
            {"boxes": [boxes[0], [b + 4 for b in boxes[0]]]}).encode())
        assert status == 400 and "overlap" in answer["error"]
        assert not out.exists()
        status, answer = _post(f"{base}/regions", b"not json")
        assert status == 400 and "JSON" in answer["error"]
        status, answer = _post(f"{base}/regions", json.dumps({"boxes": boxes[:4]}).encode())
        assert status == 200 and "4 regions, reading 1234" in answer["summary"], answer
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "4 regions, reading 1234" in stdout
    assert [r.box for r in load_config(out).regions.regions] == LAYOUT.regions[:4]


def test_serve_with_a_config_answers_posted_frames_with_values(env, tmp_path, meter_config):
    """`serve --config`: a camera board that pushes snapshots gets the meter's values back,
    with the rules applied across posts (a reading that goes down is rejected)."""
    import subprocess
    import sys

    from mnist_edge.testing.meter import meter_frames

    proc = subprocess.Popen([sys.executable, "-m", "mnist_edge", "serve", "127.0.0.1:0",
                             "--config", str(meter_config), "--state-dir", str(tmp_path)],
                            cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        url = ""
        while "serving" not in url:
            url = proc.stderr.readline()
            assert url, proc.stderr.read()
        base = url.split(" on ", 1)[1].split()[0].rsplit("/", 1)[0]
        answers = []
        for frame in meter_frames(123450, 3, seed=2):
            ok, png = cv2.imencode(".png", frame.image)
            status, answer = _post(f"{base}/predict", png.tobytes())
            assert status == 200, answer
            answers.append(answer)
        ok, png = cv2.imencode(".png", meter_face("123000"))
        status, down = _post(f"{base}/predict", png.tobytes())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert [a["values"]["gas"]["value"] for a in answers] == [123.45, 123.451, 123.452]
    assert all(len(a["digits"]) == 6 for a in answers)
    assert status == 200 and not down["values"]["gas"]["ok"]
    assert "decrease" in json.dumps(down["values"]["gas"]) or "down" in \
        json.dumps(down["values"]["gas"])
    assert json.loads((tmp_path / "gas.last.json").read_text())["value"] == 123.452
