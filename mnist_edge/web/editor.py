"""The regions page: drag a meter's digit windows on a saved frame, then save the config.

``mnist-edge regions --edit PORT`` serves it. The page gets the frame (PNG) and the proposed
boxes, and posts the boxes back; :class:`RegionEditor` hands them to the save function the
command gave it (checks, then the TOML written atomically) and reports what the regions read,
or the one-line reason they were refused (the page shows it; nothing is written).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from mnist_edge.common.errors import UserError

Box = tuple[int, int, int, int]
MAX_BOXES = 64  # more regions than any meter face has: a bigger post is refused


@dataclass
class RegionEditor:
    """The frame being edited, the current boxes, and what saving them does."""

    frame: np.ndarray
    boxes: list[Box]
    save: Callable[[list[Box]], str]  # writes the config; returns a one-line summary
    saved: threading.Event = field(default_factory=threading.Event)
    summary: str = ""
    _png: bytes = b""

    @property
    def png(self) -> bytes:
        if not self._png:
            ok, data = cv2.imencode(".png", self.frame)
            self._png = data.tobytes() if ok else b""
        return self._png

    def state(self) -> dict[str, Any]:
        h, w = self.frame.shape[:2]
        return {"size": [w, h], "boxes": [list(b) for b in self.boxes],
                "saved": self.saved.is_set(), "summary": self.summary}

    def post(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """A POST of ``{"boxes": [[x, y, w, h], ...]}``: (HTTP status, answer)."""
        try:
            boxes = parse_boxes(body)
            self.summary = self.save(boxes)
        except UserError as exc:
            return 400, {"error": str(exc)}
        self.boxes = boxes
        self.saved.set()
        return 200, {"saved": True, "summary": self.summary}


def parse_boxes(body: bytes) -> list[Box]:
    """The boxes of a POST body; one-line :class:`UserError` for anything else."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError('send JSON: {"boxes": [[x, y, w, h], ...]}') from None
    boxes = data.get("boxes") if isinstance(data, dict) else None
    if not isinstance(boxes, list) or not boxes:
        raise UserError("no regions: drag at least one box around a digit")
    if len(boxes) > MAX_BOXES:
        raise UserError(f"{len(boxes)} regions: at most {MAX_BOXES}")
    out = []
    for b in boxes:
        if (not isinstance(b, list) or len(b) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                        and math.isfinite(v) for v in b)):
            raise UserError(f"a box must be [x, y, w, h] in pixels, got {b!r}"[:120])
        out.append(tuple(int(round(v)) for v in b))
    return out  # type: ignore[return-value]
