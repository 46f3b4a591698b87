"""Make the samples in ``samples/``: a few images and a short clip to read without a camera.

    python scripts/make_samples.py             # writes samples/, then reads them back
    python scripts/make_samples.py --no-check  # no model needed

The digits are drawn with fonts (OpenCV's and, with Pillow, matplotlib's TrueType faces) on
synthetic paper: the project never commits MNIST pixels. Written:

* ``labels.json``: ``{"image name": "expected digits, left to right"}`` for every image (the
  format ``mnist-edge selftest`` reads);
* ``clip.json``: the clip's file, frame count, FPS and the reading every frame shows;
* the images (a tight crop of one digit, a ruled note, a two-row card, a marker sticker) and
  ``digits.mp4`` (MPEG-4 Part 2: decodes wherever OpenCV's FFmpeg does, the Pi included).

With a model (the shipped ``models/edge_int8.tflite`` or ``--model``), every image and every
clip frame is read back and the script fails if any reads wrong, so the README's demo works.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mnist_edge.common import atomic  # noqa: E402
from mnist_edge.common.errors import UserError  # noqa: E402
from mnist_edge.testing import synth  # noqa: E402

CLIP_NAME = "digits.mp4"
CLIP_LABELS = [5, 3, 8, 6]
# upright faces a reader of handwriting should manage (the script faces' looped 2 reads as 8)
PLAIN_FONTS = ["cv-simplex", "cv-duplex", "cv-italic", "cv-plain"]


def tight_digit(label: int, font: str, seed: int) -> np.ndarray:
    """One digit cropped close, dark ink on slightly uneven paper (a phone snapshot)."""
    rng = np.random.default_rng(seed)
    glyph = synth.printed_glyph(label, font, 0.07, 110)
    h, w = glyph.shape
    canvas = np.zeros((h + 30, max(w + 30, 100)), np.float32)
    y, x = 15, (canvas.shape[1] - w) // 2
    canvas[y:y + h, x:x + w] = glyph
    ramp = np.linspace(0.92, 1.0, canvas.shape[1], dtype=np.float32)[None, :]
    paper = 228 * ramp
    img = paper * (1 - canvas) + 35 * canvas
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    return cv2.cvtColor(np.clip(img + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def scene(labels: list[int], seed: int, **overrides) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return synth.make_scene(rng, "printed", labels=labels, overrides=overrides).frame


def write_image(path: Path, image: np.ndarray) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, 88] if path.suffix == ".jpg" else []
    ok, buf = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise SystemExit(f"could not encode {path}")
    atomic.write_bytes(path, buf.tobytes())


def make(out: Path) -> tuple[dict[str, str], dict]:
    calm = {"edge": False, "shadow": False, "blur": 0.6, "noise": 2.5, "jpeg": 0,
            "fonts": PLAIN_FONTS}
    images = {
        "one_7.png": (tight_digit(7, "cv-script-simplex", seed=7), "7"),
        "note_2026.jpg": (scene([2, 0, 2, 6], 11, **{**calm, "lines": True,
                                                     "line_contrast": 0.12, "rows": 1}), "2026"),
        "card_3815.jpg": (scene([3, 8, 1, 5], 12, **{**calm, "shadow": True, "rows": 2}),
                          "3815"),
        "marker_49.jpg": (scene([4, 9], 13, **{**calm, "gradient": 0.3}), "49"),
    }
    labels = {}
    for name, (image, reading) in images.items():
        write_image(out / name, image)
        labels[name] = reading
    atomic.write_json(out / "labels.json", labels)
    clip = synth.make_clip(out / CLIP_NAME, CLIP_LABELS, frames=48, fps=12.0, seed=5,
                           overrides={"fonts": PLAIN_FONTS})
    info = {"file": CLIP_NAME, "frames": clip.frames, "fps": clip.fps, "reading": clip.reading}
    atomic.write_json(out / "clip.json", info)
    return labels, info


def check(out: Path, labels: dict[str, str], clip: dict, model: str | None) -> int:
    """Read everything back with the model; the number of images/frames read wrong."""
    from mnist_edge.reading.camera import open_source
    from mnist_edge.reading.reader import DigitReader

    try:
        reader = DigitReader(model)
    except UserError as exc:
        print(f"not checked: {exc}")
        return 0
    wrong = 0
    for name, expected in labels.items():
        got = "".join(str(d.label) for d in reader.read(cv2.imread(str(out / name))))
        verdict = "ok" if got == expected else "WRONG"
        print(f"{name:16s} expected {expected:6s} read {got:6s} {verdict}")
        wrong += got != expected
    frames = bad = 0
    with open_source(out / clip["file"]) as src:
        for frame in src:
            frames += 1
            bad += "".join(str(d.label) for d in reader.read(frame.image)) != clip["reading"]
    print(f"{clip['file']:16s} {frames} frames (expected {clip['frames']}), "
          f"{frames - bad} read {clip['reading']}")
    return wrong + bad + (frames != clip["frames"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "samples")
    ap.add_argument("--model", default=None, help="model to check with [default: shipped]")
    ap.add_argument("--no-check", action="store_true", help="don't read the samples back")
    args = ap.parse_args()
    labels, clip = make(args.out)
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1024
    print(f"wrote {len(labels)} images and {clip['file']} to {args.out} ({size:.0f} KB)")
    if not args.no_check and check(args.out, labels, clip, args.model):
        raise SystemExit("some samples were read wrong: change the seeds or the model")


if __name__ == "__main__":
    main()
