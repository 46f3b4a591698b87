"""``POST /predict``: an uploaded PNG/JPEG -> its digits; and what the page shows of the model.

The image's size is read from its header before anything is decoded (a tiny PNG can claim
60000x60000 pixels); one :class:`~mnist_edge.reading.reader.DigitReader` answers every request,
behind a lock.
"""

from __future__ import annotations

import contextlib
import json
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np

MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # a phone photo fits; a canvas PNG is ~10 KB
MAX_IMAGE_PIXELS = 4096 * 4096  # a tiny PNG can claim 60000x60000: refuse before decoding
# How the draw pad's reader reads: dark ink on white (what the canvas sends), every digit kept
# (arguments of reading.reader.make_reader).
DRAW_PAD_READING: dict[str, Any] = {"invert": False, "min_confidence": 0.0}


class BadUpload(Exception):
    """An upload the server refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG or JPEG header, read before decoding anything.

    Raises :class:`BadUpload` (400) for anything that is not a PNG or JPEG.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg_size(data)
    raise BadUpload(400, "the body is not a PNG or JPEG image")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk the JPEG markers to the first start-of-frame (SOFn) and read its size."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise BadUpload(400, "the JPEG is truncated or has no frame header")


def decode_upload(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """A PNG/JPEG body as a BGR (or gray) uint8 image; transparency is laid on white paper."""
    import cv2

    width, height = image_size(data)
    if width * height > max_pixels:
        raise BadUpload(413, f"the image is {width}x{height}; the limit is {max_pixels:,} pixels")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise BadUpload(400, "the image could not be decoded (corrupt or unsupported PNG/JPEG)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        # A canvas PNG is transparent where nothing was drawn: that is paper, i.e. white.
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        image = (image[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return image


class Predictor:
    """``POST /predict``: one :class:`~mnist_edge.reading.reader.DigitReader`, shared behind a lock.

    The interpreter is not thread-safe and a request takes a few milliseconds, so requests take
    turns instead of each building its own interpreter.
    """

    def __init__(self, reader: Any, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
        self.reader = reader
        self.max_pixels = max_pixels
        self._lock = threading.Lock()

    def predict(self, data: bytes) -> dict[str, Any]:
        """The JSON answer for an uploaded image: ``{"digits": [{label, confidence, box,
        probabilities}], "labels": [...]}`` (``labels`` names the probabilities' classes).

        A model trained on class folders reads the upload as one crop, as ``predict`` does."""
        image = decode_upload(data, self.max_pixels)
        info = getattr(self.reader, "info", None)
        with self._lock:
            if info is not None and info.whole_crops:
                digits = [self.reader.read_whole(image)]
            else:
                digits = self.reader.read(image)
        answer: dict[str, Any] = {"digits": [d.to_dict(probabilities=True) for d in digits]}
        if info is not None:
            answer["labels"] = info.values
        return answer


def model_info(model_path: str | Path, runtime: str | None = None) -> dict[str, Any]:
    """What the page shows about the model: file name, size, runtime, and the sidecar's facts.

    ``convert`` writes ``<model>.json`` next to a ``.tflite``; its accuracy is shown when there.
    """
    path = Path(model_path)
    info: dict[str, Any] = {"name": path.name}
    with contextlib.suppress(OSError):
        info["bytes"] = path.stat().st_size
    if runtime:
        info["runtime"] = runtime
    with contextlib.suppress(OSError, ValueError):
        sidecar = json.loads(path.with_suffix(".json").read_text())
        for key in ("test_accuracy", "accuracy", "quantization", "arch"):
            if key in sidecar and isinstance(sidecar[key], str | int | float):
                info[key] = sidecar[key]
        if isinstance(sidecar.get("labels"), list):  # the class names the page shows
            info["labels"] = [str(v) for v in sidecar["labels"]]
    return info


def reader_model_info(reader: Any, model_path: str | Path | None) -> dict[str, Any]:
    """:func:`model_info` for a :class:`~mnist_edge.reading.reader.DigitReader` (``model_path``,
    if given, names the file as the user wrote it)."""
    return model_info(model_path or reader.model_path, reader.runtime_name)
