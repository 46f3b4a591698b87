"""What a model's outputs are called and what its input is, from its sidecar: json only.

The sidecar (``<model>.json`` beside the ``.tflite`` or the ``.h5``, written by ``train`` and
``convert``) records ``"labels"`` (the class names) and ``"preprocessing"`` (how a crop becomes
the model's input: :mod:`mnist_edge.reading.model_input`). Kept apart from the crop code, which
needs OpenCV, so that :class:`~mnist_edge.reading.runtime.Classifier` runs with numpy and an
interpreter alone (``scripts/check_runtimes.py`` runs it so in bare virtual environments).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_edge.common.errors import UserError

DIGITS = [str(d) for d in range(10)]


def label_value(name: str) -> int | str:
    """A class name as a reading reports it: digits stay ints (what every MNIST caller
    expects), other classes (``N``, ``blank``) are their names."""
    return int(name) if name in DIGITS else name


@dataclass(frozen=True)
class ModelInfo:
    """A model's class names and input recipe, as its sidecar gives them."""

    labels: list[str] = field(default_factory=lambda: list(DIGITS))
    preprocessing: dict[str, Any] = field(default_factory=lambda: {"kind": "mnist"})
    sidecar: Path | None = None

    @property
    def whole_crops(self) -> bool:
        """True for a model trained on whole crops: an image is one symbol, not a page."""
        return self.preprocessing.get("kind") == "crop"

    @property
    def values(self) -> list[int | str]:
        """Class names as readings report them (see :func:`label_value`)."""
        return [label_value(n) for n in self.labels]


def sidecar_path(model_path: str | os.PathLike[str]) -> Path:
    """``model_int8.tflite`` -> ``model_int8.json`` (convert's and train's sidecar)."""
    return Path(model_path).with_suffix(".json")


def load_model_info(model_path: str | os.PathLike[str], num_outputs: int | None = None
                    ) -> ModelInfo:
    """The sidecar's labels and preprocessing; a model without a sidecar is an MNIST model.

    ``num_outputs`` (the model's class count) is checked against the sidecar's labels: a sidecar
    copied beside the wrong model would otherwise name every class wrongly, silently.
    """
    path = sidecar_path(model_path)
    info = ModelInfo()
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: unreadable sidecar ({exc})")
        labels = data.get("labels") if isinstance(data, dict) else None
        if labels is not None:
            prep = data.get("preprocessing") or {"kind": "mnist"}
            info = ModelInfo([str(v) for v in labels], dict(prep), path)
    if num_outputs is not None and num_outputs != len(info.labels):
        where = f"its sidecar {info.sidecar}" if info.sidecar else "no sidecar (digits 0-9)"
        raise UserError(f"{model_path}: model/sidecar mismatch: the model has {num_outputs} "
                        f"outputs but {where} names {len(info.labels)} classes")
    return info
