"""The quality gate: a face too small, blurred, turned away or badly exposed is refused, with the reason.

Recognising such faces gives scores that mean little, so they are never matched or enrolled; the reasons
are stable codes the enrolment report and the live statistics show.
"""

from __future__ import annotations

import cv2
import numpy as np

from safecity.analytics.faces.types import Point, Quality
from safecity.analytics.types import Image
from safecity.config import FaceQualitySettings


def yaw_of(eyes: tuple[Point, Point], nose: Point) -> float:
    """How far a face is turned, from where the nose sits between the eyes: 0 frontal, 1 in profile."""
    (x1, y1), (x2, y2) = eyes
    half = max(np.hypot(x2 - x1, y2 - y1) / 2, 1e-6)
    offset = abs(nose[0] - (x1 + x2) / 2)
    return float(min(1.0, offset / half))


def assess(chip: Image, *, size: int, yaw: float, settings: FaceQualitySettings) -> Quality:
    """The quality of one aligned face; `size` is its width in the original picture."""
    grey = cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    brightness = float(grey.mean())
    reasons = []
    if size < settings.min_size:
        reasons.append("too_small")
    if sharpness < settings.min_sharpness:
        reasons.append("blurred")
    if yaw > settings.max_yaw:
        reasons.append("turned_away")
    if brightness < settings.min_brightness:
        reasons.append("too_dark")
    if brightness > settings.max_brightness:
        reasons.append("too_bright")
    return Quality(size=size, sharpness=sharpness, yaw=yaw, brightness=brightness, reasons=tuple(reasons))
