"""Pipeline step "align": register each frame to a reference image of the meter.

A camera on a meter gets knocked, sags or warms up, and moves a few pixels or degrees; fixed
regions then read the edge of a drum instead of its digit. :class:`Aligner` finds the
similarity transform (shift, rotation, uniform scale) that maps the reference frame onto the
current frame, and the region step samples each region through it.

Two methods (``[align] method`` in the config):

* ``orb`` (default): ORB features of the reference (optionally only inside ``area``, the meter's
  static body) matched to the frame's, then ``cv2.estimateAffinePartial2D`` with RANSAC. Copes
  with large shifts; 15-30 ms a frame at 640x480 on one busy core (benchmarks/meter.md).
* ``ecc``: OpenCV's enhanced-correlation-coefficient maximisation (``cv2.findTransformECC``,
  affine motion) on a half-size image of ``area``. Precise for small motions; a large jump
  can converge to a wrong optimum, so ``orb`` is the default.

A frame that cannot be aligned (too few matches, or a transform outside ``max_shift`` /
``max_angle`` / ``max_scale``) is reported with the reason and must be skipped, never read
through a wrong transform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mnist_edge.common.errors import UserError
from mnist_edge.reading.normalise import to_gray

METHODS = ("orb", "ecc", "none")
ORB_FEATURES = 1000
RATIO = 0.8  # Lowe's ratio test for a match to count
RANSAC_PX = 3.0
ECC_SCALE = 0.5
ECC_ITERATIONS = 60
ECC_EPS = 1e-4


@dataclass(frozen=True)
class AlignConfig:
    """The ``[align]`` section of a meter config."""

    method: str = "orb"
    area: tuple[int, int, int, int] | None = None  # x, y, w, h of the reference to match
    max_shift: float = 80.0  # px in the reference frame
    max_angle: float = 15.0  # degrees
    max_scale: float = 0.15  # |scale - 1|
    min_inliers: int = 15  # orb: RANSAC inliers needed
    min_correlation: float = 0.6  # ecc: correlation coefficient needed

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "[align]") -> AlignConfig:
        known = {"method", "area", "max_shift", "max_angle", "max_scale", "min_inliers",
                 "min_correlation"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"{where}: unknown key {unknown[0]!r} (known: "
                            f"{', '.join(sorted(known))})")
        method = str(d.get("method", "orb"))
        if method not in METHODS:
            raise UserError(f"{where} method must be one of {', '.join(METHODS)}, got {method!r}")
        area = d.get("area")
        if area is not None:
            area = _box(area, f"{where} area")
        try:
            return cls(method=method, area=area,
                       max_shift=float(d.get("max_shift", cls.max_shift)),
                       max_angle=float(d.get("max_angle", cls.max_angle)),
                       max_scale=float(d.get("max_scale", cls.max_scale)),
                       min_inliers=int(d.get("min_inliers", cls.min_inliers)),
                       min_correlation=float(d.get("min_correlation", cls.min_correlation)))
        except (TypeError, ValueError) as exc:
            raise UserError(f"{where}: {exc}")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method}
        if self.area is not None:
            d["area"] = list(self.area)
        d.update(max_shift=self.max_shift, max_angle=self.max_angle, max_scale=self.max_scale,
                 min_inliers=self.min_inliers, min_correlation=self.min_correlation)
        return d


def _box(value: Any, what: str) -> tuple[int, int, int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise UserError(f"{what} must be [x, y, w, h] in whole pixels, got {value!r}")
    x, y, w, h = value
    if w <= 0 or h <= 0:
        raise UserError(f"{what} must have a positive width and height, got {list(value)}")
    return int(x), int(y), int(w), int(h)


@dataclass(frozen=True)
class Alignment:
    """The result for one frame: ``matrix`` (2x3, reference -> frame) when ``ok``, else the
    ``reason`` the frame cannot be aligned."""

    ok: bool
    matrix: np.ndarray | None
    reason: str = ""
    inliers: int = 0
    shift: float = 0.0
    angle: float = 0.0
    scale: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        if not self.ok:
            return {"aligned": False, "reason": self.reason}
        return {"aligned": True, "shift": round(self.shift, 1), "angle": round(self.angle, 2),
                "scale": round(self.scale, 4), "inliers": self.inliers}


IDENTITY = np.eye(2, 3, dtype=np.float64)


class Aligner:
    """Registers frames to ``reference`` (an image of the meter in the reference frame)."""

    def __init__(self, reference: np.ndarray, config: AlignConfig | None = None) -> None:
        self.config = config or AlignConfig()
        self.reference = to_gray(reference)
        h, w = self.reference.shape
        self.size = (w, h)
        area = self.config.area or (0, 0, w, h)
        ax, ay, aw, ah = area
        if ax < 0 or ay < 0 or ax + aw > w or ay + ah > h:
            raise UserError(f"[align] area {list(area)} is outside the {w}x{h} reference image")
        self.area = area
        self._mask = np.zeros((h, w), np.uint8)
        self._mask[ay:ay + ah, ax:ax + aw] = 255
        if self.config.method == "orb":
            self._orb = cv2.ORB_create(nfeatures=ORB_FEATURES)
            self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
            self._ref_kp, self._ref_des = self._orb.detectAndCompute(self.reference, self._mask)
            if self._ref_des is None or len(self._ref_kp) < self.config.min_inliers:
                raise UserError(f"the reference image has too few features to align to "
                                f"({len(self._ref_kp)}); choose a larger [align] area or "
                                "method = \"ecc\"")
        elif self.config.method == "ecc":
            small = cv2.resize(self.reference[ay:ay + ah, ax:ax + aw], None, fx=ECC_SCALE,
                               fy=ECC_SCALE, interpolation=cv2.INTER_AREA)
            self._ecc_ref = small.astype(np.float32)

    def align(self, frame: np.ndarray) -> Alignment:
        """The transform of ``frame`` relative to the reference, or why there is none."""
        gray = to_gray(frame)
        if (gray.shape[1], gray.shape[0]) != self.size:
            return Alignment(False, None, f"frame is {gray.shape[1]}x{gray.shape[0]}, the "
                             f"reference {self.size[0]}x{self.size[1]}")
        if self.config.method == "none":
            return Alignment(True, IDENTITY.copy())
        if self.config.method == "ecc":
            return self._ecc(gray)
        return self._orb_align(gray)

    def _orb_align(self, gray: np.ndarray) -> Alignment:
        kp, des = self._orb.detectAndCompute(gray, None)
        if des is None or len(kp) < 4:
            return Alignment(False, None, f"too few features in the frame ({len(kp or ())})")
        pairs = self._matcher.knnMatch(self._ref_des, des, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
        if len(good) < self.config.min_inliers:
            return Alignment(False, None, f"only {len(good)} feature matches "
                             f"(need {self.config.min_inliers})")
        src = np.float32([self._ref_kp[m.queryIdx].pt for m in good])
        dst = np.float32([kp[m.trainIdx].pt for m in good])
        matrix, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                                  ransacReprojThreshold=RANSAC_PX)
        inliers = int(inl.sum()) if inl is not None else 0
        if matrix is None or inliers < self.config.min_inliers:
            return Alignment(False, None, f"only {inliers} consistent matches "
                             f"(need {self.config.min_inliers})", inliers)
        return self._checked(matrix.astype(np.float64), inliers)

    def _ecc(self, gray: np.ndarray) -> Alignment:
        ax, ay, aw, ah = self.area
        s = ECC_SCALE
        frame = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        # warp maps template (area, half size) coordinates to frame (half size) coordinates
        warp = np.array([[1, 0, ax * s], [0, 1, ay * s]], np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPS)
        try:
            cc, warp = cv2.findTransformECC(self._ecc_ref, frame.astype(np.float32), warp,
                                            cv2.MOTION_AFFINE, criteria, None, 5)
        except cv2.error:
            return Alignment(False, None, "ECC did not converge")
        if cc < self.config.min_correlation:
            return Alignment(False, None, f"correlation {cc:.2f} below "
                             f"{self.config.min_correlation}")
        # full-size reference -> frame: undo the area offset and the half scale
        w3 = np.vstack([warp.astype(np.float64), [0, 0, 1]])
        to_t = np.array([[s, 0, -ax * s], [0, s, -ay * s], [0, 0, 1]])
        up = np.array([[1 / s, 0, 0], [0, 1 / s, 0], [0, 0, 1]])
        matrix = (up @ w3 @ to_t)[:2]
        return self._checked(matrix, 0)

    def _checked(self, matrix: np.ndarray, inliers: int) -> Alignment:
        scale = math.hypot(matrix[0, 0], matrix[1, 0])
        angle = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
        w, h = self.size
        cx, cy = w / 2, h / 2
        moved = matrix @ np.array([cx, cy, 1.0])
        shift = math.hypot(moved[0] - cx, moved[1] - cy)
        c = self.config
        if shift > c.max_shift:
            reason = f"moved {shift:.0f} px (max {c.max_shift:g})"
        elif abs(angle) > c.max_angle:
            reason = f"turned {angle:.1f} degrees (max {c.max_angle:g})"
        elif abs(scale - 1) > c.max_scale:
            reason = f"scaled {scale:.2f}x (max +-{c.max_scale:g})"
        else:
            return Alignment(True, matrix, "", inliers, shift, angle, scale)
        return Alignment(False, None, reason, inliers, shift, angle, scale)
