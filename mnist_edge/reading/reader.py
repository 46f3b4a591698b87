"""Read every digit in a camera frame: :class:`DigitReader` (TensorFlow-free).

>>> reader = DigitReader()                       # the shipped int8 model
>>> [d.label for d in reader.read(frame)]        # frame: BGR or gray, any size
[4, 2]

The work per frame is :func:`mnist_edge.reading.pipeline.find_digits` (MNIST-like crops of every
digit-like blob) and **one** interpreter call for all crops of the frame, plus one more for the
crops the model is unsure of (:mod:`.second_look`), when there are any. The batch is exactly the
number of crops: measured here, re-allocating the tensors when the count changes (~0.1 ms) is
cheaper than padding the batch to a fixed size (each padded crop costs a full inference, ~0.25 ms).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_edge.common.paths import default_model
from mnist_edge.reading.fragments import drop_fragments
from mnist_edge.reading.model_input import prepare_crops
from mnist_edge.reading.pipeline import (
    DEFAULT_PARAMS,
    VisionParams,
    find_digits,
    reading_order,
)
from mnist_edge.reading.runtime import Classifier
from mnist_edge.reading.second_look import second_look
from mnist_edge.reading.sidecar import load_model_info
from mnist_edge.reading.split import SPLIT_ASPECT, without_stubs

WIDE_WHOLE = 0.05  # nats per unit of aspect beyond SPLIT_ASPECT charged to a blob read whole
SURE_TIE = 0.01  # nats: a blob read whole this close to the surest cut ties with it...
WHOLE_ASPECT = 1.3  # ...and is kept whole when narrower than this times its height
WIDE_PART = 1.0  # nats per unit of aspect beyond SPLIT_ASPECT charged to each part of a cut


@dataclass(frozen=True)
class Digit:
    """One digit read from a frame."""

    label: int | str  # a digit as int; a class such as "N" or "blank" by its name
    confidence: float
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    probabilities: tuple[float, ...]  # one float per class (10 for an MNIST model)
    cell: tuple[int, int, int] | None = None  # (grid, row, column) when cells are read

    def to_dict(self, probabilities: bool = False) -> dict[str, Any]:
        """JSON-ready: ``{"label", "confidence", "box": [x, y, w, h]}`` (+ ``"probabilities"``)."""
        d: dict[str, Any] = {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "box": list(self.box),
        }
        if probabilities:
            d["probabilities"] = [round(p, 4) for p in self.probabilities]
        if self.cell is not None:
            d["cell"] = list(self.cell)
        return d


def best_reading(options: list[list[int]], probs: np.ndarray,
                 boxes: list[tuple[int, int, int, int]]) -> list[int]:
    """The alternative (crop indices) whose digits the model is surest of, on average: a blob
    read whole, or cut into touching digits. Ties go to the first (the blob whole).

    A blob read whole must also explain its width: one digit is rarely wider than
    ``SPLIT_ASPECT`` times its height, so each unit of aspect beyond that costs the whole
    reading ``WIDE_WHOLE`` nats (a model sure of one half of "52" as a "2" should not beat two
    digits it is nearly as sure of). Unless the two tie (:data:`SURE_TIE`; an int8 model's
    output stops at 255/256, so a digit and both halves of it often read at that cap) and
    the blob is no wider than a wide single digit (:data:`WHOLE_ASPECT`: a slanted 4, a
    sprawling 5): then nothing says it is two, and it is read whole, not as "4" + "1".
    Each part of a cut wider than a blob that is offered whole pays :data:`WIDE_PART` the
    same way (a model taught that a stroke at a crop's edge is a box's, not a digit's, reads
    "71" of a touching "714" as a sure 7: the cut in three explains it better)."""
    if len(options) == 1:
        return options[0]
    options = [without_stubs(idx, boxes) for idx in options]

    def sureness(idx: list[int]) -> float:
        logs = np.log(probs[idx].max(axis=1) + 1e-6)
        if len(idx) > 1:
            logs = logs - WIDE_PART * _beyond_one_digit(boxes, idx)
        return float(np.mean(logs))

    sure = [sureness(idx) for idx in options]
    surest = max(sure)
    for k, idx in enumerate(options):
        if len(idx) == 1:
            _, _, w, h = boxes[idx[0]]
            if w / max(h, 1) < WHOLE_ASPECT and surest - sure[k] <= SURE_TIE:
                return idx
            sure[k] -= WIDE_WHOLE * float(_beyond_one_digit(boxes, idx)[0])
    return options[int(np.argmax(sure))]


def _beyond_one_digit(boxes: list[tuple[int, int, int, int]], idx: list[int]) -> np.ndarray:
    """How far each crop of ``idx`` is wider than one digit may be (aspect beyond
    ``SPLIT_ASPECT``): what a blob read whole, or a part of a cut that could itself be cut
    again ("71" of "714"), pays for in :func:`best_reading`."""
    return np.array([max(0.0, boxes[i][2] / max(boxes[i][3], 1) - SPLIT_ASPECT) for i in idx])


MIN_CONFIDENCE = 0.5  # digits the model is less sure of than this are dropped


class DigitReader:
    """Finds, crops and classifies the digits of frames with a ``.tflite`` model.

    ``invert=False`` reads dark ink on light paper; ``True`` light ink on a dark surface (chalk,
    a whiteboard shown reversed). Digits whose best class scores below ``min_confidence`` are
    dropped: a blob the model is unsure of is more often a smudge than a digit. ``cells=True``
    also reports each digit's cell in the grid or table it sits in (:mod:`.cells`).
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        runtime: str = "auto",
        threads: int | None = None,
        invert: bool = False,
        min_confidence: float = MIN_CONFIDENCE,
        params: VisionParams = DEFAULT_PARAMS,
        cells: bool = False,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else default_model()
        self.classifier = Classifier(self.model_path, runtime=runtime, threads=threads)
        # class names and input recipe from the sidecar: a model trained on a class folder
        # reads whole crops and may name classes "N" or "blank"
        self.info = load_model_info(self.model_path, self.classifier.num_classes)
        self.invert = invert
        self.min_confidence = float(min_confidence)
        self.params = params
        self.cells = cells

    @property
    def runtime_name(self) -> str:
        """The interpreter in use (``litert``, ``tflite_runtime`` or ``tensorflow``)."""
        return self.classifier.runtime.name

    def read(self, frame: np.ndarray) -> list[Digit]:
        """The digits in ``frame``, left to right (rows top to bottom).

        ``frame``: (H, W) gray or (H, W, 3/4) BGR(A), uint8 or float; any size. A blank,
        tiny or otherwise digit-free frame gives ``[]``; an array that is not an image shape
        raises ``ValueError``.
        """
        return self.read_grids(frame)[0]

    def read_grids(self, frame: np.ndarray) -> tuple[list[Digit], list[tuple[int, int]]]:
        """The digits in ``frame`` (as :meth:`read`) and the (rows, columns) of each grid found
        (none unless the reader was made with ``cells=True``)."""
        found = find_digits(frame, invert=self.invert, params=self.params, cells=self.cells)
        if not found.boxes:
            return [], found.grids
        if self.info.whole_crops:
            # the model was trained on whole crops: give it the frame's own pixels around each
            # blob, prepared as in training, not the MNIST-style crop
            probs = self.classify(prepare_crops(
                [region(frame, b) for b in found.boxes], self.info.preprocessing))
        else:
            probs = self.classify(found.crops)
        picks = [best_reading(options, probs, found.boxes) for options in found.readings]
        chosen = [i for pick in picks for i in pick]
        if not self.info.whole_crops:
            # blobs read whole only: the pieces of a cut stand or fall with the cut, which was
            # chosen on the first readings of them all
            whole = [pick[0] for pick in picks if len(pick) == 1]
            probs[whole] = second_look(probs[whole], found.crops[whole], self.classify)
        digits = []
        values = self.info.values
        for k in reading_order([found.boxes[i] for i in chosen]):
            i = chosen[k]
            p = probs[i]
            label = int(p.argmax())
            if p[label] >= self.min_confidence:
                digits.append(Digit(values[label], float(p[label]), found.boxes[i],
                                    tuple(float(v) for v in p), found.cells[i]))
        return drop_fragments(digits), found.grids

    def read_whole(self, image: np.ndarray) -> Digit:
        """``image`` read as one crop (a crop model's own input: a file of a class folder).

        Reported whatever its confidence: the caller asked about this crop, and a low
        confidence is an answer too."""
        probs = self.classify(prepare_crops([image], self.info.preprocessing))[0]
        label = int(probs.argmax())
        h, w = image.shape[:2]
        return Digit(self.info.values[label], float(probs[label]), (0, 0, int(w), int(h)),
                     tuple(float(v) for v in probs))

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, classes) for prepared crops (N, 28, 28) uint8, in one invoke."""
        if len(crops) == 0:
            return np.zeros((0, self.classifier.num_classes), np.float32)
        return self.classifier.predict(crops)


REGION_MARGIN = 0.15  # share of a blob's height added around it: crops are cut with a margin


def region(frame: np.ndarray, box: tuple[int, int, int, int],
           margin: float = REGION_MARGIN) -> np.ndarray:
    """The frame's pixels around ``box``, with a margin like a hand-cut crop has (also what
    ``collect`` saves, so collected crops look like what the reader classifies)."""
    x, y, w, h = box
    m = int(round(margin * max(w, h)))
    fh, fw = frame.shape[:2]
    x0, y0 = max(0, x - m), max(0, y - m)
    x1, y1 = min(fw, x + w + m), min(fh, y + h + m)
    return frame[y0:y1, x0:x1]


def make_reader(model_path: str | os.PathLike[str] | None = None, runtime: str = "auto",
                threads: int | None = None, **how: Any) -> DigitReader:
    """The one place a :class:`DigitReader` is built for a command, the web server or the
    self-test: model, interpreter and threads as the command line gives them (``None`` model:
    the shipped one), then how to read as :class:`DigitReader`'s keywords (``invert``,
    ``min_confidence``, ``cells``)."""
    return DigitReader(model_path, runtime=runtime, threads=threads, **how)
