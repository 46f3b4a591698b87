"""Your own digits: class-folder sets train, convert, evaluate and are read by predict, webcam
and collect with the sidecar's preprocessing; every bad input gives one clear line.

The sets are rendered by :mod:`mnist_edge.testing.counter_digits` (meter-like crops, light and
dark, colour and grey, two sizes, an ``N`` and a ``blank`` class; printed and seven-segment
kinds checked to render) and kept small: a few hundred crops and a few epochs, so the whole
file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import run_cli
from typer.testing import CliRunner

from mnist_edge.cli import app
from mnist_edge.common.errors import UserError
from mnist_edge.reading.model_input import prepare_crop
from mnist_edge.reading.sidecar import load_model_info
from mnist_edge.testing.counter_digits import (
    DIGIT_CLASSES,
    counter_strip,
    render_crop,
    write_class_folders,
)
from mnist_edge.training.folders import is_class_folder, load_class_folders, warn_skipped

CLASSES = [*DIGIT_CLASSES, "N", "blank"]


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """24 crops per class: 20x32 colour PNG and 28x28 grey JPEG mixed in one set."""
    root = tmp_path_factory.mktemp("crops") / "set"
    write_class_folders(root, 16, seed=1, classes=CLASSES)
    more = tmp_path_factory.mktemp("more")
    write_class_folders(more, 8, seed=2, classes=CLASSES, size=(28, 28), colour=False,
                        ext=".jpg")
    for f in more.rglob("*.jpg"):
        f.rename(root / f.parent.name / f"g_{f.name}")
    return root


# ------------------------------------------------------------------------------ data, no TF

def test_classes_come_from_folder_names_digits_first(crops):
    data = load_class_folders(crops, val_split=0.25, seed=3)
    assert data.classes == CLASSES
    assert data.x_train.shape[1:] == (28, 28) and data.x_train.dtype == np.uint8
    # stratified: every class holds out a quarter of its 24 crops
    assert np.bincount(data.y_test).tolist() == [6] * len(CLASSES)
    again = load_class_folders(crops, val_split=0.25, seed=3)
    assert again.test_files == data.test_files  # seeded
    assert load_class_folders(crops, val_split=0.25, seed=4).test_files != data.test_files
    assert is_class_folder(crops) and not is_class_folder(crops / "0")


def test_unsure_and_discarded_folders_are_not_classes(tmp_path):
    """What `collect` and the label page leave beside the classes (crops still to sort, an
    emptied unsure/, thrown-out crops) is never learnt as a class."""
    write_class_folders(tmp_path, 3, classes=["1", "7", "unsure", "_discarded"])
    (tmp_path / ".hidden").mkdir()  # an empty folder that is a class would be an error
    assert load_class_folders(tmp_path, val_split=0.3).classes == ["1", "7"]
    only = tmp_path / "only"
    write_class_folders(only, 2, classes=["unsure"])
    assert not is_class_folder(only)


def test_train_test_layout_is_used_as_given(tmp_path):
    write_class_folders(tmp_path / "s", 5, seed=0, classes=["1", "7"], split=3)
    data = load_class_folders(tmp_path / "s")
    assert data.layout == "train/test" and data.classes == ["1", "7"]
    assert len(data.x_train) == 10 and len(data.x_test) == 6


def test_polarity_is_normalised_light_ink_on_black():
    dark = np.full((32, 20), 220, np.uint8)
    cv2.putText(dark, "7", (2, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 30, 2)
    light = 255 - dark
    a, b = prepare_crop(dark), prepare_crop(cv2.cvtColor(light, cv2.COLOR_GRAY2BGR))
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 3
    assert a[0, 0] < 30 and a.max() > 200  # background black, ink bright, like MNIST


@pytest.mark.parametrize("kind", ["printed", "seven-segment"])
def test_printed_and_seven_segment_sets_render_in_both_polarities(tmp_path, kind):
    root = write_class_folders(tmp_path / kind, 2, seed=1, kind=kind)
    assert sorted(p.name for p in root.iterdir()) == DIGIT_CLASSES
    crops = [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in sorted(root.glob("*/*.png"))]
    assert len(crops) == 20 and all(c.shape == (32, 20, 3) for c in crops)
    rng = np.random.default_rng(2)
    light_ink = 0
    for _ in range(30):  # grey: the ink is the tail of the histogram away from the paper
        g = render_crop(str(rng.integers(10)), rng, colour=False, kind=kind).astype(float)
        lo, med, hi = np.percentile(g, [3, 50, 97])
        light_ink += hi - med > med - lo
    assert 5 <= light_ink <= 25
    with pytest.raises(ValueError, match="kind"):
        render_crop("1", rng, kind="lcd")


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    write_class_folders(tmp_path / "s", 3, seed=0, classes=["0", "1"])
    (tmp_path / "s" / "1" / "broken.png").write_bytes(b"not a png")
    data = load_class_folders(tmp_path / "s", val_split=0.3)
    assert len(data.skipped) == 1 and len(data.y_train) + len(data.y_test) == 6
    assert "skipped 1 unreadable image(s): broken.png" in warn_skipped(data)


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "0").mkdir(parents=True), "holds no images"),
    (lambda d: d.mkdir(), "no class folders"),
    (lambda d: write_class_folders(d, 3, classes=["5"]), "only one class"),
])
def test_bad_sets_are_one_clear_error(tmp_path, make, message):
    root = tmp_path / "bad"
    write_class_folders(root, 3, classes=["1", "2"]) if message == "holds no images" else None
    make(root)
    with pytest.raises(UserError, match=message):
        load_class_folders(root)


def test_sidecar_mismatch_is_refused(tmp_path):
    (tmp_path / "m_int8.json").write_text(json.dumps({"labels": ["a", "b", "c"]}))
    with pytest.raises(UserError, match="model/sidecar mismatch"):
        load_model_info(tmp_path / "m_int8.tflite", 10)
    assert load_model_info(tmp_path / "m_int8.tflite", 3).labels == ["a", "b", "c"]


def test_cli_errors_are_one_line_without_tensorflow(tmp_path):
    write_class_folders(tmp_path / "one", 2, classes=["4"])
    (tmp_path / "afile").write_text("a file, not a folder")
    cases = [
        (["train", "--data", str(tmp_path / "one"), "--out", str(tmp_path / "m.h5")],
         "only one class"),
        (["train", "--data", str(tmp_path / "one"), "--from", str(tmp_path / "no.h5"),
          "--out", str(tmp_path / "m.h5")], "base model not found"),
        (["collect", "--source", str(tmp_path / "one" / "4"), "--out",
          str(tmp_path / "afile" / "sub")], "cannot create"),
    ]
    for args, message in cases:
        proc = run_cli(*args)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


# ------------------------------------------------------------------------------- collect

def test_collect_sorts_crops_skips_duplicates_and_caps(tflite_model, tmp_path):
    from mnist_edge.reading.collect import collect
    from mnist_edge.reading.reader import make_reader

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(6):  # an unchanged scene, then one digit changes
        cv2.imwrite(str(frames / f"{i:02d}.png"), counter_strip("2580" if i < 4 else "2581"))
    reader = make_reader(tflite_model, min_confidence=0.0)
    summary = collect(frames, reader, tmp_path / "out", unsure_below=0.5)
    saved = sorted(p.relative_to(tmp_path / "out").parts[0] for p in
                   (tmp_path / "out").rglob("*.png"))
    assert summary.frames == 6 and summary.found == 24
    assert len(saved) == 5 and summary.duplicates == 19  # 4 crops, then the changed one
    assert set(saved) <= {"0", "1", "2", "5", "8", "unsure"}
    assert saved.count("1") + saved.count("unsure") >= 1
    capped = collect(frames, reader, tmp_path / "capped", max_crops=2)
    assert sum(capped.saved.values()) == 2 and "--max 2" in capped.stopped


def _meter_config(folder: Path, align: bool = True) -> Path:
    """A config of the synthetic meter's six drums, aligned to a reference frame (ORB)."""
    from mnist_edge.reading.meter import config_text
    from mnist_edge.testing.meter import MeterLayout, meter_face

    layout = MeterLayout()
    cv2.imwrite(str(folder / "ref.png"), meter_face("000000"))
    text = config_text(layout.size, layout.regions, reference="ref.png" if align else None)
    if align:
        text = text.replace("[read]", '[align]\nmethod = "orb"\narea = [40, 40, 560, 400]\n\n'
                                      "[read]")
    path = folder / "meter.toml"
    path.write_text(text)
    return path


def test_collect_with_a_config_saves_each_aligned_region(tflite_model, tmp_path):
    """`collect --config`: the crops are the regions' windows cut through the alignment (the
    drum's size, the drum's digit), one folder per guess, near-duplicates found per region;
    a frame that cannot be aligned is skipped and counted, not cut."""
    from mnist_edge.reading.collect import collect
    from mnist_edge.reading.meter import load_config
    from mnist_edge.reading.reader import make_reader
    from mnist_edge.testing.meter import MeterLayout, meter_frames

    frames = tmp_path / "frames"
    frames.mkdir()
    shaken = meter_frames(123457, 3, seed=4)  # 123457, 123458, 123459: only the last drum moves
    for i, f in enumerate(shaken):
        cv2.imwrite(str(frames / f"{i:02d}.png"), f.image)
    cv2.imwrite(str(frames / "99_blank.png"), np.full((480, 640, 3), 90, np.uint8))
    config = load_config(_meter_config(tmp_path))
    reader = make_reader(tflite_model, min_confidence=0.0)
    out = tmp_path / "out"
    summary = collect(frames, reader, out, config=config, unsure_below=0.0)
    assert summary.frames == 4 and summary.found == 18
    assert summary.skipped == 1 and "cannot align" in summary.last_skip
    assert summary.duplicates == 10  # drums 1-5 unchanged in the 2nd and 3rd frames
    saved = sorted(out.rglob("*.png"))
    assert len(saved) == 8
    w, h = MeterLayout().drum
    assert {cv2.imread(str(f), cv2.IMREAD_UNCHANGED).shape for f in saved} == {(h, w)}
    by_region = {int(f.stem.rsplit("_", 1)[1]): f.parent.name for f in saved
                 if f.stem.split("_")[1] == "000000"}
    assert "".join(by_region[i] for i in range(6)) == "123457"  # the drums, in config order
    last = sorted(f.parent.name for f in saved if f.stem.endswith("_5"))
    assert last == ["7", "8", "9"]
    assert any("frame(s) skipped (last: cannot align" in line for line in summary.lines())


def test_collect_config_mistakes_are_one_line(tmp_path):
    (tmp_path / "bad.toml").write_text("[[regions]\n")
    _meter_config(tmp_path)
    frames = tmp_path / "frames"
    frames.mkdir()
    cases = [
        (["--config", str(tmp_path / "none.toml")], "no such config file"),
        (["--config", str(tmp_path / "bad.toml")], "not valid TOML"),
        (["--config", str(tmp_path / "meter.toml"), "--invert"], "[read] invert"),
    ]
    for extra, message in cases:
        proc = run_cli("collect", "--source", str(frames), "--out", str(tmp_path / "out"),
                       *extra)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "out").exists()  # checked before anything was made


# ------------------------------------------------------------- train -> convert -> read

@pytest.fixture(scope="module")
def trained(crops, tmp_path_factory):
    """Fine-tuned from the shipped model for a few epochs, then converted to int8: one
    training for the tests below (about 20 s on 2 cores)."""
    out = tmp_path_factory.mktemp("trained") / "meter.h5"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", str(crops), "--out", str(out),
                                 "--epochs", "20", "--batch-size", "16", "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["convert", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_train_records_classes_and_preprocessing(trained):
    metrics = json.loads(trained.with_suffix(".json").read_text())
    assert metrics["labels"] == CLASSES and metrics["mode"] == "finetune"
    assert metrics["preprocessing"]["kind"] == "crop"
    assert metrics["val_split"] == 0.2 and sum(metrics["test_per_class"]) == 60
    assert metrics["test_accuracy"] > 0.5, metrics["per_class_accuracy"]
    assert set(metrics["per_class_accuracy"]) == set(CLASSES)
    import h5py

    with h5py.File(trained) as f:
        assert json.loads(f.attrs["mnist_edge"])["labels"] == CLASSES


def test_convert_calibrates_on_the_crops_and_names_the_classes(trained):
    side = json.loads((trained.parent / "meter_int8.json").read_text())
    assert side["labels"] == CLASSES and side["preprocessing"]["kind"] == "crop"
    assert side["calibration"]["from"] == "class folders"
    assert sum(side["calibration"]["per_class"]) == side["calibration"]["images"]
    assert side["test_examples"] == 60 and side["test_accuracy"] > 0.5
    assert side["input"]["shape"][1:] == [28, 28, 1]


def test_evaluate_on_class_folders_reports_by_name(trained, crops, tmp_path):
    model = trained.parent / "meter_int8.tflite"
    result = CliRunner().invoke(app, ["evaluate", str(model), "--data", str(crops),
                                      "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "meter_int8_eval.json").read_text())
    assert report["labels"] == CLASSES and report["test_examples"] == 60  # its own hold-out
    assert len(report["confusion_matrix"]) == len(CLASSES)
    assert all(isinstance(m["true"], str) and "file" in m for m in report["misclassified"])
    assert (tmp_path / "meter_int8_errors.png").stat().st_size > 1000
    assert "blank" in result.output


def test_predict_and_webcam_read_with_the_sidecar(trained, crops, tmp_path):
    from mnist_edge.reading import live
    from mnist_edge.reading.predict import image_files, predict_files
    from mnist_edge.reading.reader import make_reader

    model = trained.parent / "meter_int8.tflite"
    reader = make_reader(model)
    assert reader.info.whole_crops and reader.info.labels == CLASSES
    files = image_files([crops])  # recursive: the whole class-folder set
    assert len(files) == 24 * len(CLASSES)
    results = list(predict_files(reader, files[:: 12]))
    right = sum(r.digits[0].label == _value(Path(r.path).parent.name) for r in results)
    assert right >= len(results) // 2
    assert all(len(r.digits) == 1 for r in results)
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), counter_strip("2580"))
    out = tmp_path / "read.jsonl"
    live.run(frame, reader, headless=True, jsonl=out)
    labels = [d["label"] for d in json.loads(out.read_text().splitlines()[0])["digits"]]
    assert labels and set(labels) <= set(reader.info.values)


def _value(name: str) -> int | str:
    return int(name) if name.isdigit() else name


def test_selftest_and_bundle_samples_use_the_crops(trained, crops, tmp_path):
    from mnist_edge.shipping.bundle import collect_samples
    from mnist_edge.shipping.selftest import run_selftest

    model = trained.parent / "meter_int8.tflite"
    labels = collect_samples(tmp_path / "samples", None, None, model)  # its own class folders
    assert sorted(set(labels.values())) == sorted(CLASSES) and len(labels) == 2 * len(CLASSES)
    report = run_selftest(model, tmp_path / "samples")
    assert len(report.checks) == len(labels)
    assert {c.got for c in report.checks} <= set(CLASSES)
    assert sum(c.expected == c.got for c in report.checks) >= len(labels) // 2


def test_predict_upload_reads_one_crop_and_names_the_classes(trained, crops):
    from mnist_edge.reading.reader import make_reader
    from mnist_edge.web.uploads import Predictor, model_info

    model = trained.parent / "meter_int8.tflite"
    crop = cv2.imread(str(next((crops / "N").iterdir())))
    answer = Predictor(make_reader(model)).predict(cv2.imencode(".png", crop)[1].tobytes())
    assert answer["labels"] == [*range(10), "N", "blank"] and len(answer["digits"]) == 1
    assert len(answer["digits"][0]["probabilities"]) == len(CLASSES)
    assert model_info(model)["labels"] == CLASSES


def test_meter_regions_read_with_a_crop_model(trained, crops):
    from mnist_edge.reading.reader import make_reader
    from mnist_edge.reading.regions import RegionReader, RegionsConfig

    reader = make_reader(trained.parent / "meter_int8.tflite")
    names = ["3", "N", "7"]
    tiles = [cv2.imread(str(sorted((crops / n).glob("*.png"))[0])) for n in names]
    frame = np.hstack(tiles)  # three 20x32 counter windows side by side
    boxes = [[20 * i, 0, 20, 32] for i in range(3)]
    config = RegionsConfig.from_dicts([{"box": b} for b in boxes], (60, 32))
    calls = []
    real = reader.classify
    reader.classify = lambda c: calls.append(c) or real(c)
    found = RegionReader(reader, config).read(frame)
    assert len(calls) == 1 and np.array_equal(calls[0][1], prepare_crop(tiles[1]))
    assert all(d.label is None or isinstance(d.label, int) for d in found)  # N, blank: unknown
