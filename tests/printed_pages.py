"""Pages of printed digits drawn for the reader tests, shared by the tests that read them."""

from __future__ import annotations

import cv2
import numpy as np

PAPER, INK = 225, 25


def touching(text: str, width: int = 480, x: int = 60) -> np.ndarray:
    """A grey page with ``text`` printed large, its glyphs set closer than their width so
    that neighbours touch: one blob the reader must cut apart."""
    page = np.full((240, width), PAPER, np.uint8)
    for ch in text:
        cv2.putText(page, ch, (x, 170), cv2.FONT_HERSHEY_DUPLEX, 4, INK, 10)
        x += 56  # narrower than a glyph: neighbours touch
    return page
