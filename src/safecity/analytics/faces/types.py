"""What the face engine returns: faces found, their quality, and their embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from safecity.analytics.types import Image

Embedding = npt.NDArray[np.float32]  # one face, L2-normalised: the score of two is their dot product
Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    """A face found in a picture: its box (x, y, width, height), the detector's score, five landmarks.

    The landmarks are the eyes, the nose tip and the mouth corners, in that order, in picture pixels
    (empty when the detector gives none). A face cut by the picture's edge has a box reaching past it.
    """

    box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[Point, ...] = ()

    @property
    def area(self) -> int:
        """The box's area in pixels."""
        return self.box[2] * self.box[3]


@dataclass(frozen=True)
class Quality:
    """How usable a face is for recognition, and why not when it is not.

    `reasons` holds stable codes: too_small, blurred, turned_away, too_dark, too_bright.
    """

    size: int  # the face's width in pixels
    sharpness: float  # variance of the Laplacian of the aligned face
    yaw: float  # 0 frontal, 1 in profile (from the landmarks)
    brightness: float  # mean grey level of the aligned face, 0-255
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the face passed every check."""
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        """The quality report of one face, as stored and shown."""
        return {
            "ok": self.ok,
            "reasons": list(self.reasons),
            "size": self.size,
            "sharpness": round(self.sharpness, 1),
            "yaw": round(self.yaw, 2),
            "brightness": round(self.brightness, 1),
        }


@dataclass(frozen=True)
class FaceSeen:
    """One face analysed: where it is, how good it is, its aligned crop and (when good enough) embedding."""

    face: Face
    quality: Quality
    chip: Image  # the aligned face, BGR, what is stored and shown beside a match
    embedding: Embedding | None  # None when the quality gate refused the face


@dataclass(frozen=True)
class Comparison:
    """Two pictures compared: the best face of each, their score against the same-person threshold."""

    score: float | None  # None when either picture has no usable face
    threshold: float
    faces_found: tuple[int, int]

    @property
    def same_person(self) -> bool:
        """True when both faces were found and score at least the threshold."""
        return self.score is not None and self.score >= self.threshold
