"""The default model's training data beyond MNIST, made through the reader's own crop path.

Every rendered cell (:mod:`mnist_edge.training.fonts`) goes through
:func:`~mnist_edge.reading.pipeline.find_digits`, exactly as a frame does in the reader, and the
crop of the blob that overlaps the digit's true box is kept: the model learns what it will see.
Where the reader finds no such blob, the crop function is applied to the true box instead
(``mode="both"``); a cell the crop rejects as too faint is skipped (counted in ``dropped``).

Sources (each deterministic from its seed; see :func:`cached`):

* :func:`font_crops`: printed digits in a set of font faces (training or held-out families);
* :func:`mnist_paper_crops`: MNIST training digits laid on photographed paper, same
  degradations (the handwriting a camera sees);
* :func:`photo_crops`: cells cut from the grid photos
  (:mod:`mnist_edge.testing.grid_photos`; wichtounet/sudoku_dataset, CC-BY-4.0: credit it).

Rendering costs minutes, so large sets are made in one worker process per core
(:func:`in_chunks`; cell ``i`` depends only on ``(seed, i)``, so the crops are the same as in
one process), and :func:`cached` keeps each set as an ``.npz`` under the user's cache folder
(``$MNIST_EDGE_CACHE`` or ``~/.cache/mnist-edge/crops``), keyed by its parameters and by the
source of the code that makes it (this module, the font renderer, the reader's crop) plus the
font files found: the same key always means the same crops.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mnist_edge.common.boxes import iou
from mnist_edge.reading import crop as reading_crop
from mnist_edge.reading.binarise import above
from mnist_edge.reading.blobs import Blob
from mnist_edge.reading.normalise import to_gray
from mnist_edge.reading.paper import Paper
from mnist_edge.reading.pipeline import find_digits
from mnist_edge.training import fonts

CACHE_ENV_VAR = "MNIST_EDGE_CACHE"
MIN_IOU = 0.5  # a found blob overlapping the true digit less than this is not that digit
# below this many cells a set is made in this process: starting workers costs about a second
PARALLEL_FROM = 2000
CHUNKS_PER_WORKER = 4  # smaller chunks even out workers whose cells happen to cost more


@dataclass
class CropSet:
    """Crops (N, 28, 28) uint8, labels (N,), how many cells gave no crop, seconds to make."""

    x: np.ndarray
    y: np.ndarray
    dropped: int = 0
    seconds: float = 0.0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, x=self.x, y=self.y, dropped=self.dropped, seconds=self.seconds)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> CropSet:
        with np.load(path) as d:
            return cls(d["x"], d["y"], int(d["dropped"]), float(d["seconds"]))


def reader_crop(cell: fonts.RenderedCell) -> np.ndarray | None:
    """The reader's crop of the rendered digit: the found blob overlapping its true box best,
    if by at least :data:`MIN_IOU` (else the reader cut a box edge or a fragment: no label)."""
    found = find_digits(cell.image)
    if not found.boxes:
        return None
    scores = [iou(b, cell.box) for b in found.boxes]
    best = int(np.argmax(scores))
    return found.crops[best] if scores[best] >= MIN_IOU else None


def truth_crop(cell: fonts.RenderedCell) -> np.ndarray | None:
    """The reader's crop function on the digit's true box and shape (no detection: what the
    crop and the model make of a digit the finder got right); None if too faint."""
    gray = to_gray(cell.image, ink=True)
    x, y, w, h = cell.box
    if w == 0 or h == 0:
        return None
    own = above(cv2.dilate(cell.alpha, np.ones((3, 3), np.uint8)), 0.25)
    blob = Blob((x, y, w, h), np.ascontiguousarray(own[y:y + h, x:x + w]))
    return reading_crop.blob_crop(gray, Paper(gray), blob)


def central_crop(image: np.ndarray) -> np.ndarray | None:
    """The reader's crop of the blob nearest the image's centre (None if it finds none)."""
    found = find_digits(image)
    if not found.boxes:
        return None
    h, w = image.shape[:2]
    d = [abs(x + bw / 2 - w / 2) + abs(y + bh / 2 - h / 2) for x, y, bw, bh in found.boxes]
    return found.crops[int(np.argmin(d))]


def _crop(cell: fonts.RenderedCell, mode: str) -> np.ndarray | None:
    crop = reader_crop(cell) if mode in ("reader", "both") else None
    if crop is None and mode in ("truth", "both"):
        crop = truth_crop(cell)
    return crop


def font_crops(faces: tuple[fonts.Face, ...], n: int, seed: int,
               style: fonts.CellStyle = fonts.TRAIN_STYLE, mode: str = "both",
               dot_matrix: float = 0.04, labels: tuple[int, ...] = tuple(range(10)),
               workers: int | None = None) -> CropSet:
    """``n`` cells of printed digits (``labels`` cycling, 0-9 by default) in ``faces``, cropped.

    ``mode``: ``reader`` (find + crop, as a frame), ``truth`` (the crop function on the true
    box, no detection) or ``both`` (the reader's crop where it finds the digit, else truth).
    Cell ``i`` depends only on ``(seed, i)``; ``workers``: see :func:`in_chunks`.
    """
    task = functools.partial(_font_cells, faces, seed, style, mode, dot_matrix, labels)
    return in_chunks(task, range(n), n, workers)


def _font_cells(faces: tuple[fonts.Face, ...], seed: int, style: fonts.CellStyle, mode: str,
                dot_matrix: float, labels: tuple[int, ...], indices: range) -> CropSet:
    started = time.perf_counter()
    xs, ys, dropped = [], [], 0
    for i in indices:
        rng = np.random.default_rng([seed, i])
        label = labels[i % len(labels)]
        alpha, _ = fonts.sample_glyph(faces, label, rng, dot_matrix)
        crop = _crop(fonts.render_cell(alpha, rng, style), mode)
        if crop is None:
            dropped += 1
            continue
        xs.append(crop)
        ys.append(label)
    return _set(xs, ys, dropped, started)


def mnist_paper_crops(images: np.ndarray, labels: np.ndarray, n: int, seed: int,
                      style: fonts.CellStyle = fonts.TRAIN_STYLE, mode: str = "both",
                      workers: int | None = None) -> CropSet:
    """``n`` MNIST digits (drawn at random from ``images``) photographed on paper, cropped.

    Cell ``i`` draws its digit first from ``(seed, i)``; the draw is made here so that each
    worker is sent its own digits, not all of MNIST."""
    drawn = [int(np.random.default_rng([seed, i]).integers(len(images))) for i in range(n)]
    items = [(i, images[k], int(labels[k])) for i, k in enumerate(drawn)]
    task = functools.partial(_mnist_paper_cells, len(images), seed, style, mode)
    return in_chunks(task, items, n, workers)


def _mnist_paper_cells(n_images: int, seed: int, style: fonts.CellStyle, mode: str,
                       items: Sequence[tuple[int, np.ndarray, int]]) -> CropSet:
    started = time.perf_counter()
    xs, ys, dropped = [], [], 0
    for i, image, label in items:
        rng = np.random.default_rng([seed, i])
        rng.integers(n_images)  # the draw of the digit (made by the caller), as one process did
        big = cv2.resize(image, (84, 84), interpolation=cv2.INTER_CUBIC)
        alpha = reading_crop.tight(np.clip(big.astype(np.float32) / 255.0, 0, 1))
        crop = _crop(fonts.render_cell(alpha, rng, style), mode)
        if crop is None:
            dropped += 1
            continue
        xs.append(crop)
        ys.append(label)
    return _set(xs, ys, dropped, started)


def cell_crops(cells: Iterable) -> CropSet:
    """The reader's crops of digits standing alone in their images (objects with ``.image``
    and ``.label``): grid-photo cells, the model benchmark's thick-stroke scans."""
    started = time.perf_counter()
    xs, ys, dropped = [], [], 0
    for cell in cells:
        crop = central_crop(cell.image)
        if crop is None:
            dropped += 1
            continue
        xs.append(crop)
        ys.append(cell.label)
    return _set(xs, ys, dropped, started)


def photo_crops(photos: Sequence, workers: int | None = None) -> CropSet:
    """:func:`cell_crops` of every digit cell of grid photos
    (:class:`~mnist_edge.testing.grid_photos.GridPhoto`), photo by photo in workers."""
    cells = sum(int((p.truth > 0).sum()) for p in photos)
    return in_chunks(_photo_cells, list(photos), cells, workers)


def _photo_cells(photos: Sequence) -> CropSet:
    from mnist_edge.testing import grid_photos

    return cell_crops(grid_photos.cells(photos))


# ---------------------------------------------------------------------------------------------
# workers


def in_chunks(task: Callable[[Sequence], CropSet], items: Sequence, cells: int,
              workers: int | None = None) -> CropSet:
    """``task`` over consecutive chunks of ``items``, joined in order: the same set as
    ``task(items)``, made in ``workers`` processes (default: one per core the process may use,
    or just this one below :data:`PARALLEL_FROM` ``cells``).

    Workers are spawned, not forked: the training process has TensorFlow's threads running.
    A spawned worker imports the main script again; one whose code is not under
    ``if __name__ == "__main__":`` stops them, and the set is then made in this process."""
    started = time.perf_counter()
    if workers is None:
        workers = cores() if cells >= PARALLEL_FROM else 1
    chunks = _split(items, workers * CHUNKS_PER_WORKER) if workers > 1 else [items]
    if len(chunks) <= 1:
        return _join([task(items)], started)
    try:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=spawn, initializer=_one_thread) as pool:
            parts = list(pool.map(task, chunks))
    except BrokenProcessPool:
        warnings.warn("crop-set workers stopped (is the main script's code under "
                      "`if __name__ == \"__main__\":`?); rendering in this process", stacklevel=2)
        parts = [task(items)]
    return _join(parts, started)


def cores() -> int:
    """Cores this process may run on (all of the machine's where the OS cannot say)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _split(items: Sequence, n: int) -> list[Sequence]:
    size = max(1, -(-len(items) // max(n, 1)))
    return [items[i:i + size] for i in range(0, len(items), size)]


def _one_thread() -> None:
    """One OpenCV thread per worker: the workers already fill the cores."""
    cv2.setNumThreads(1)


def _join(parts: list[CropSet], started: float) -> CropSet:
    """The chunks' sets as one (there is always at least one chunk, if an empty one)."""
    return CropSet(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
                   sum(p.dropped for p in parts), time.perf_counter() - started)


def _set(xs: list, ys: list, dropped: int, started: float) -> CropSet:
    x = np.stack(xs) if xs else np.zeros((0, 28, 28), np.uint8)
    return CropSet(x, np.array(ys, np.uint8), dropped, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------
# cache


def cache_dir() -> Path:
    """Where crop sets are cached: ``$MNIST_EDGE_CACHE`` or ``~/.cache/mnist-edge/crops``."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mnist-edge" / "crops"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the code that decides what a crop looks like (renderer, crop, finder)."""
    from mnist_edge.reading import binarise, blobs, level, normalise, paper, pipeline, split

    h = hashlib.sha256()
    for module in (fonts, reading_crop, binarise, blobs, level, normalise, paper, pipeline,
                   split):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


def cache_key(name: str, **params: object) -> str:
    """A file name for the set ``name`` made with ``params`` by this code."""
    blob = json.dumps({"name": name, "params": params, "code": code_fingerprint()},
                      sort_keys=True, default=str)
    return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.npz"


def cached(name: str, make: Callable[[], CropSet], folder: Path | None = None,
           **params: object) -> CropSet:
    """``make()`` once, then the cached ``.npz`` (``params`` must say everything ``make``
    depends on besides the code; font files found are added by the callers)."""
    path = (folder or cache_dir()) / cache_key(name, **params)
    if path.is_file():
        try:
            return CropSet.load(path)
        except (OSError, ValueError, KeyError):
            pass  # a broken cache file is made again
    s = make()
    with contextlib.suppress(OSError):  # a read-only cache only costs the time to render again
        s.save(path)
    return s


def faces_key(faces: tuple[fonts.Face, ...]) -> list[str]:
    """What the font files contribute to a cache key: their names and sizes."""
    return [f"{Path(f.path).name}:{os.path.getsize(f.path)}" for f in faces]
