"""A folder of generated grid photos laid out like ``../shared/data/grid_photos`` (for the
tests of ``train --photos``)."""

from __future__ import annotations

import cv2
import numpy as np


def grid_photo_folder(root, n: int = 2):
    """A folder laid out like ../shared/data/grid_photos: printed digits in a ruled 9x9 grid
    (every other cell), their truth and the grid's corners."""
    rng = np.random.default_rng(0)
    (root / "v2").mkdir(parents=True)
    rows = ["filepath,p1_x,p1_y,p2_x,p2_y,p3_x,p3_y,p4_x,p4_y"]
    for k in range(1, n + 1):
        page = np.full((480, 640), 215, np.uint8)
        x0, y0, side = 110, 30, 46
        truth = np.where(rng.random((9, 9)) < 0.5, rng.integers(1, 10, (9, 9)), 0)
        for i in range(10):
            cv2.line(page, (x0, y0 + i * side), (x0 + 9 * side, y0 + i * side), 60, 2)
            cv2.line(page, (x0 + i * side, y0), (x0 + i * side, y0 + 9 * side), 60, 2)
        for (r, c), t in np.ndenumerate(truth):
            if t:
                cv2.putText(page, str(t), (x0 + c * side + 13, y0 + r * side + 36),
                            cv2.FONT_HERSHEY_SIMPLEX, 1.0, 30, 2)
        cv2.imwrite(str(root / "v2" / f"image{k}.jpg"), page)
        lines = ["test", "640x480"] + [" ".join(str(v) for v in row) for row in truth]
        (root / "v2" / f"image{k}.dat").write_text("\n".join(lines) + "\n")
        e = 9 * side
        rows.append(f"image{k}.jpg,{x0},{y0},{x0 + e},{y0},{x0 + e},{y0 + e},{x0},{y0 + e}")
    (root / "corners.csv").write_text("\n".join(rows) + "\n")
    return root
