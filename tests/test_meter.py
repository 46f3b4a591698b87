"""Regions, alignment and values: a generated meter face under camera shake, and the value rules
on scripted series (no broker, no CLI here: see test_mqtt.py and test_meter_cli.py)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mnist_edge.common.errors import UserError
from mnist_edge.reading.align import AlignConfig, Aligner
from mnist_edge.reading.meter import Meter, config_text, load_config, parse_config
from mnist_edge.reading.reader import make_reader
from mnist_edge.reading.regions import RegionReader, RegionsConfig, propose_regions
from mnist_edge.reading.values import ValueRules, ValueTracker
from mnist_edge.testing.meter import MeterLayout, make_meter_clip, meter_face, meter_frames

LAYOUT = MeterLayout()


@pytest.fixture(scope="module")
def reader(tflite_model):
    return make_reader(tflite_model)


def _text(found) -> str:
    return "".join("N" if d.label is None else str(d.label) for d in found)


def test_regions_read_a_steady_meter(reader):
    config = RegionsConfig.from_dicts([{"box": list(b)} for b in LAYOUT.regions], LAYOUT.size)
    rr = RegionReader(reader, config)
    for f in meter_frames(907, 5, step=111, shift=0, degrees=0):
        assert _text(rr.read(f.image)) == f.reading


def test_regions_are_read_in_one_classifier_call(reader, monkeypatch):
    config = RegionsConfig.from_dicts([{"box": list(b)} for b in LAYOUT.regions], LAYOUT.size)
    rr = RegionReader(reader, config)
    calls = []
    real = reader.classify
    monkeypatch.setattr(reader, "classify", lambda crops: calls.append(len(crops)) or real(crops))
    monkeypatch.setattr(reader, "read", lambda *_: pytest.fail("no blob search with regions"))
    rr.read(meter_face("123456"))
    assert calls == [6]


def test_shaken_clip_reads_only_when_aligned(reader, tmp_path):
    """The same clip of a meter under camera shake (+-16 px, +-3 degrees): fixed regions without
    alignment misread most frames; aligned to the reference they read every frame."""
    clip = make_meter_clip(tmp_path / "meter.mp4", start=123450, count=16, seed=3)
    cap = cv2.VideoCapture(str(clip.path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    assert len(frames) == 16
    config = RegionsConfig.from_dicts([{"box": list(b)} for b in LAYOUT.regions], LAYOUT.size)
    rr = RegionReader(reader, config)
    aligner = Aligner(meter_face("000000"), AlignConfig(area=(40, 40, 560, 400)))
    plain = aligned = 0
    for img, truth in zip(frames, clip.frames, strict=True):
        plain += _text(rr.read(img)) == truth.reading
        a = aligner.align(img)
        assert a.ok, a.reason
        assert np.allclose(a.matrix @ [320, 240, 1], truth.matrix @ [320, 240, 1], atol=1.5)
        aligned += _text(rr.read(img, a.matrix)) == truth.reading
    assert aligned == 16
    assert plain <= 8, f"unaligned regions read {plain}/16: the shake is too small to matter"


def test_a_frame_that_cannot_be_aligned_is_skipped_and_says_why(reader, tmp_path):
    ref = tmp_path / "ref.png"
    cv2.imwrite(str(ref), meter_face("000000"))
    cfg = tmp_path / "m.toml"
    cfg.write_text(config_text(LAYOUT.size, LAYOUT.regions, reference="ref.png",
                               align=AlignConfig()))
    meter = Meter(load_config(cfg), reader)
    blank = np.full((480, 640, 3), 128, np.uint8)
    digits, extra = meter.read(blank)
    assert digits == [] and "values" not in extra
    assert extra["skipped"].startswith("cannot align:")
    # a camera knocked far off (60 degrees) is refused, not read through a wrong transform
    m = cv2.getRotationMatrix2D((320, 240), 60, 1.0)
    turned = cv2.warpAffine(meter_face("123456"), m, (640, 480), borderMode=cv2.BORDER_REPLICATE)
    digits, extra = meter.read(turned)
    assert digits == [] and "skipped" in extra
    digits, extra = meter.read(meter_frames(123456, 1, seed=5)[0].image)
    assert extra["values"]["value"] == {"ok": True, "raw": "123456", "value": 123456.0}
    assert meter.status()["skipped"] == 2


def test_ecc_alignment_on_small_motion():
    ref = meter_face("000000")
    aligner = Aligner(ref, AlignConfig(method="ecc", area=(40, 40, 560, 400)))
    for f in meter_frames(5, 3, seed=11, shift=6, degrees=1.0):
        a = aligner.align(f.image)
        assert a.ok, a.reason
        assert np.allclose(a.matrix @ [320, 240, 1], f.matrix @ [320, 240, 1], atol=1.5)


def test_propose_regions_from_the_digits_the_reader_finds(reader):
    img = meter_face("123456")
    x, y, w, h = 110, 180, 420, 110
    boxes = propose_regions(reader, img[y:y + h, x:x + w])
    assert len(boxes) == 6
    boxes = [(bx + x, by + y, bw, bh) for bx, by, bw, bh in boxes]
    config = RegionsConfig.from_dicts([{"box": list(b)} for b in boxes], LAYOUT.size)
    assert _text(RegionReader(reader, config).read(img)) == "123456"
    for b, truth in zip(boxes, LAYOUT.regions, strict=True):  # each box holds its drum's digit
        cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
        assert truth[0] < cx < truth[0] + truth[2] and truth[1] < cy < truth[1] + truth[3]


# ------------------------------------------------------------------------------- config errors


def _cfg(regions, extra=""):
    lines = ["[reference]", "size = [640, 480]", ""]
    for r in regions:
        lines += ["[[regions]]", f"box = {list(r)}", ""]
    return "\n".join(lines) + extra


@pytest.mark.parametrize("text, message", [
    (_cfg([(600, 10, 80, 60)]), "region d1 [600, 10, 80, 60] is outside the 640x480 reference"),
    (_cfg([(10, 10, 50, 60), (50, 10, 50, 60)]), "regions d1 [10, 10, 50, 60] and d2 "
                                                 "[50, 10, 50, 60] overlap"),
    (_cfg([(10, 10, 4, 60)]), "smaller than 8x8"),
    (_cfg([]), "lists no [[regions]]"),
    (_cfg([(10, 10, 50, 60)], "\n[values.gas]\ndecimals = 1\n"), "no region has value"),
    (_cfg([(10, 10, 50, 60)], "\n[values.value]\nmax_rate = -1\n"), "max_rate must be above"),
    (_cfg([(10, 10, 50, 60)], "\n[values.value]\ndecimal = 1\n"), "unknown key 'decimal'"),
    (_cfg([(10, 10, 50, 60)], "\n[align]\nmethod = \"orb\"\n"), "needs [reference] image"),
    ("[reference\n", "not valid TOML"),
])
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as exc:
        load_config(path)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_written_config_loads_back(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(config_text(LAYOUT.size, LAYOUT.regions, value="gas", decimals=3))
    config = load_config(path)
    assert [r.box for r in config.regions.regions] == LAYOUT.regions
    assert config.rules("gas").decimals == 3 and config.align is None


# ------------------------------------------------------------------------------- value rules


def _digits(text: str, conf: float = 0.99):
    return [(None, 0.0) if c == "N" else (int(c), conf) for c in text]


def test_no_decrease_and_max_rate_on_a_scripted_series():
    t = ValueTracker("gas", ValueRules(decimals=3, no_decrease=True, max_rate=1.0))
    series = [  # (minute, digits, accepted value or the start of the reason)
        (0, "123456", 123.456),
        (1, "123789", 123.789),
        (2, "123700", "decrease from 123.789 to 123.700"),
        (3, "129000", "rises 2.6"),  # 5.211 in 2 minutes since the last good value
        (4, "124100", 124.1),  # 0.311 in 3 minutes
        (5, "124100", 124.1),
    ]
    for minute, digits, want in series:
        r = t.update(_digits(digits), now=minute * 60.0)
        if isinstance(want, float):
            assert r.ok and r.value == want, (digits, r)
        else:
            assert not r.ok and r.reason.startswith(want), (digits, r.reason)
            assert r.value is None
    assert (t.accepted, t.rejected) == (4, 2)


def test_unknown_digits_are_filled_from_the_previous_value_mid_roll():
    rules = ValueRules(unknown_below=0.6, fill_unknown=True, no_decrease=True)
    t = ValueTracker("m", rules)
    r = t.update(_digits("00N9"))
    assert not r.ok and "no previous value" in r.reason
    assert t.update(_digits("0129")).value == 129
    # low confidence counts as unknown: the last drum is between 9 and 0
    r = t.update([(0, 0.99), (1, 0.99), (2, 0.99), (4, 0.3)])
    assert r.ok and r.raw == "012N" and r.value == 129 and r.filled
    # the tens drum is mid-roll after the units wrapped: 0129 -> 01N0 must be 0130, not 0120
    r = t.update(_digits("01N0"))
    assert r.ok and r.value == 130
    # without fill_unknown, unknown digits reject
    plain = ValueTracker("p", ValueRules(unknown_below=0.6))
    assert plain.update(_digits("01N0")).reason == "unknown digits"


def test_last_good_value_survives_a_restart(tmp_path):
    state = tmp_path / "gas.last.json"
    t = ValueTracker("gas", ValueRules(no_decrease=True), state)
    t.update(_digits("000500"), now=100.0)
    assert not t.update(_digits("000400"), now=160.0).ok
    assert json.loads(state.read_text())["value"] == 500
    again = ValueTracker("gas", ValueRules(no_decrease=True), state)
    r = again.update(_digits("000499"), now=200.0)
    assert not r.ok and r.reason == "decrease from 500 to 499"
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files


def test_meter_pipeline_values_in_the_reading(reader, tmp_path):
    data = {"reference": {"size": [640, 480]},
            "regions": [{"box": list(b), "value": "gas"} for b in LAYOUT.regions],
            "values": {"gas": {"decimals": 3, "no_decrease": True}}}
    meter = Meter(parse_config(data), reader)
    frames = meter_frames(123450, 2, shift=0, degrees=0)
    _, extra = meter.read(frames[1].image)
    assert extra["values"]["gas"] == {"ok": True, "raw": "123451", "value": 123.451}
    digits, extra = meter.read(frames[0].image)
    assert [d.label for d in digits] == [1, 2, 3, 4, 5, 0]
    assert extra["values"]["gas"]["reason"] == "decrease from 123.451 to 123.450"
