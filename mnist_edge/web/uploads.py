"""``POST /predict``: an uploaded PNG/JPEG -> its digits; and what the page shows of the model.

The image's size, bit depth and transparency are read from its header before anything is
decoded (a tiny PNG can claim 60000x60000 pixels, and a 138 KB 16-bit RGBA PNG decodes to
128 MB): an upload whose decode would need more than ``MAX_DECODE_BYTES`` is refused (413), and
all decodes at once share that same budget (a semaphore counted in bytes; a request that cannot
get its share within ``DECODE_WAIT_S`` is answered 503 with ``Retry-After``). Images are decoded
straight to 8-bit grey where the codec can (no transparency), else laid on white row band by
row band, so no full-size float copy is ever made. One
:class:`~mnist_edge.reading.reader.DigitReader` answers every request, behind a lock.
"""

from __future__ import annotations

import contextlib
import json
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # a phone photo fits; a canvas PNG is ~10 KB
MAX_IMAGE_PIXELS = 4096 * 4096  # a tiny PNG can claim 60000x60000: refuse before decoding
# How the draw pad's reader reads: dark ink on white (what the canvas sends), every digit kept
# (arguments of reading.reader.make_reader).
DRAW_PAD_READING: dict[str, Any] = {"invert": False, "min_confidence": 0.0}
# Memory the decodes in flight may take together (and so one decode at most): 4096x4096 8-bit
# RGBA fits; the same in 16 bits does not. Sized for a 1 GB Pi.
MAX_DECODE_BYTES = 96 * 1024 * 1024
DECODE_WAIT_S = 2.0  # how long a request waits for its share of the budget before a 503
RETRY_AFTER_S = 1
_BAND = 256  # rows blended at a time when laying a transparent image on white


class BadUpload(Exception):
    """An upload the server refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


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
    width, height, _ = _jpeg_frame(data)
    return width, height


def _jpeg_frame(data: bytes) -> tuple[int, int, int]:
    """(width, height, SOF marker) of the first frame header."""
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
            return width, height, marker
        i += 2 + length
    raise BadUpload(400, "the JPEG is truncated or has no frame header")


def _png_transparent(data: bytes) -> bool:
    """Whether a PNG has an alpha channel (colour type 4/6) or a ``tRNS`` chunk before its data."""
    if data[25] in (4, 6):
        return True
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        if kind == b"tRNS":
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        i += 12 + length
    return False


def decode_cost(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS,
                max_bytes: int = MAX_DECODE_BYTES) -> int:
    """The bytes that decoding ``data`` takes, from its header; :class:`BadUpload` (413) beyond
    ``max_pixels`` or ``max_bytes``, (400) for anything but a PNG or JPEG.

    Without transparency the codec decodes straight to 8-bit grey: 1 byte a pixel (a progressive
    JPEG also holds its coefficients: counted as 6 more). With transparency the image is decoded
    whole (4 channels of 8 or 16 bits) and laid on white into 1 byte a pixel.
    """
    width, height = image_size(data)
    pixels = width * height
    if pixels > max_pixels:
        raise BadUpload(413, f"the image is {width}x{height}; the limit is {max_pixels:,} pixels")
    if data.startswith(b"\x89PNG") and _png_transparent(data):
        sample = 2 if data[24] == 16 else 1
        cost = pixels * (4 * sample + 1)
    elif data.startswith(b"\xff\xd8") and _jpeg_frame(data)[2] in (0xC2, 0xC6, 0xCA, 0xCE):
        cost = pixels * 7
    else:
        cost = pixels
    if cost > max_bytes:
        raise BadUpload(413, f"the image is {width}x{height}; decoding it would take "
                             f"{cost / 2**20:.0f} MB, the limit is {max_bytes / 2**20:.0f} MB: "
                             "send a smaller or 8-bit image")
    return cost


def decode_upload(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS,
                  max_bytes: int = MAX_DECODE_BYTES) -> np.ndarray:
    """A PNG/JPEG body as an 8-bit grey image; transparency is laid on white paper.

    The header is checked first (:func:`decode_cost`); use :class:`Predictor` to also bound the
    decodes that run at once.
    """
    decode_cost(data, max_pixels, max_bytes)
    return _decode(data)


def _decode(data: bytes) -> np.ndarray:
    import cv2

    buffer = np.frombuffer(data, np.uint8)
    transparent = data.startswith(b"\x89PNG") and _png_transparent(data)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED if transparent else cv2.IMREAD_GRAYSCALE)
    if image is None or image.size == 0:
        raise BadUpload(400, "the image could not be decoded (corrupt or unsupported PNG/JPEG)")
    if image.ndim == 3 and image.shape[2] in (2, 4):
        return _lay_on_white(image)
    if image.dtype == np.uint16:  # a transparent PNG whose alpha the codec dropped (tRNS)
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def _lay_on_white(image: np.ndarray) -> np.ndarray:
    """(H, W, 2 or 4) grey/BGR + alpha, 8 or 16 bits -> (H, W) uint8 grey on white paper.

    A canvas PNG is transparent where nothing was drawn: that is paper, i.e. white. Integer
    arithmetic a band of rows at a time: no full-size float copy.
    """
    import cv2

    out = np.empty(image.shape[:2], np.uint8)
    for top in range(0, image.shape[0], _BAND):
        band = image[top : top + _BAND]
        if band.dtype == np.uint16:
            band = (band >> 8).astype(np.uint8)
        colour = np.ascontiguousarray(band[..., :-1])
        grey = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY) if colour.shape[2] == 3 else colour[..., 0]
        alpha = band[..., -1].astype(np.uint16)
        blended = (grey.astype(np.uint16) * alpha + 255 * (255 - alpha) + 127) // 255
        out[top : top + _BAND] = blended.astype(np.uint8)
    return out


class DecodeBudget:
    """A semaphore counted in bytes: decodes take their cost from ``capacity`` while they run."""

    def __init__(self, capacity: int = MAX_DECODE_BYTES, wait_s: float = DECODE_WAIT_S) -> None:
        self.capacity = capacity
        self.wait_s = wait_s
        self.used = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, cost: int) -> Any:
        """Hold ``cost`` bytes for the block; :class:`BadUpload` 503 if they are not free in
        time."""
        cost = min(cost, self.capacity)
        with self._cond:
            if not self._cond.wait_for(lambda: self.used + cost <= self.capacity, self.wait_s):
                raise BadUpload(503, "the server is busy decoding other images: try again",
                                {"Retry-After": str(RETRY_AFTER_S)})
            self.used += cost
        try:
            yield
        finally:
            with self._cond:
                self.used -= cost
                self._cond.notify_all()


class Predictor:
    """``POST /predict``: one :class:`~mnist_edge.reading.reader.DigitReader`, shared behind a lock.

    The interpreter is not thread-safe and a request takes a few milliseconds, so requests take
    turns instead of each building its own interpreter.
    """

    def __init__(self, reader: Any, max_pixels: int = MAX_IMAGE_PIXELS,
                 budget: DecodeBudget | None = None,
                 read_frame: Callable[[np.ndarray], tuple[list[Any], dict[str, Any]]] | None
                 = None) -> None:
        self.reader = reader
        # ``serve --config``: a meter's regions and values instead of the blob search
        self.read_frame = read_frame
        self.max_pixels = max_pixels
        self.budget = budget or DecodeBudget()
        self.failing: str | None = None  # why the last read failed (a bug or a broken model)
        self._lock = threading.Lock()

    def predict(self, data: bytes) -> dict[str, Any]:
        """The JSON answer for an uploaded image: ``{"digits": [{label, confidence, box,
        probabilities}], "labels": [...]}``, plus a meter's ``values`` (or ``skipped``) with
        ``read_frame``; ``labels`` names the probabilities' classes.

        A model trained on class folders reads the upload as one crop, as ``predict`` does."""
        cost = decode_cost(data, self.max_pixels, self.budget.capacity)
        with self.budget.hold(cost):
            image = _decode(data)
        info = getattr(self.reader, "info", None)
        with self._lock:
            try:
                if self.read_frame is not None:
                    digits, extra = self.read_frame(image)
                elif info is not None and info.whole_crops:
                    digits, extra = [self.reader.read_whole(image)], {}
                else:
                    digits, extra = self.reader.read(image), {}
            except Exception as exc:
                first = str(exc).splitlines()[0] if str(exc) else ""
                self.failing = f"{type(exc).__name__}: {first}"
                raise
            self.failing = None
        answer: dict[str, Any] = {"digits": [d.to_dict(probabilities=True) for d in digits],
                                  **extra}
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
