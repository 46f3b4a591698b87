"""The vision pipeline's tunables in one place: :class:`VisionParams` and its defaults.

Each step of :mod:`mnist_edge.reading.pipeline` takes the same ``params``; constants a user never
tunes live beside the step that uses them, named.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VisionParams:
    """Tunables of the detector; the defaults suit a phone or Pi camera looking at paper.

    Sizes are fractions of the (working) frame's shorter side, so they hold at any resolution.
    """

    work_size: int = 800  # frames are shrunk so their longest side is at most this (px)
    background: float = 0.25  # closing window for the paper estimate (> the widest stroke)
    low: float = 0.25  # a pixel is ink if it is this much darker than its paper (relative)
    high: float = 0.40  # ...and its blob must somewhere be this much darker (hysteresis)
    min_height: float = 0.025  # a digit is at least this tall (and at least 8 px)
    max_aspect: float = 1.6  # width / height above this is not one digit
    min_fill: float = 0.06  # ink share of the blob's box: below this it is a scribble or frame
    max_fill: float = 0.92  # ...above this a solid block (a thin "1" may be fuller)
    line_aspect: float = 12.0  # a blob this elongated is a ruled line or a paper edge


DEFAULT_PARAMS = VisionParams()
