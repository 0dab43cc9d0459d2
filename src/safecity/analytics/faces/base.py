"""The face-detector plugin contract: a config with a `type` key, a detector class, a registry.

A plugin only implements `_find` on one RGB picture; `FaceDetector.detect` checks the picture, scales
large ones down to the model's working size and maps the boxes back, so every detector is fed the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from safecity.analytics.detectors.base import check_image
from safecity.analytics.faces.types import Face
from safecity.analytics.types import Image
from safecity.core.plugins import Registry

PLUGIN_MODULES = ("safecity.analytics.faces.retinaface", "safecity.analytics.faces.mtcnn")


class FaceDetectorConfig(BaseModel):
    """Settings every face detector takes; each plugin narrows `type` to its own literal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    min_score: float = Field(default=0.8, gt=0, lt=1)
    max_side: int = Field(default=1280, ge=160, le=4096)  # larger pictures are scaled down to this first


class FaceDetector(ABC):
    """Finds faces in BGR pictures; instances are used by one thread at a time."""

    name: ClassVar[str]
    config_class: ClassVar[type[FaceDetectorConfig]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        DETECTORS.add(cls.name, cls)

    def __init__(self, config: FaceDetectorConfig) -> None:
        self.config = config

    def detect(self, image: Image) -> list[Face]:
        """Every face in a BGR picture (InvalidFrame for anything else), best score first."""
        picture = check_image(image)
        height, width = picture.shape[:2]
        scale = min(1.0, self.config.max_side / max(height, width))
        if scale < 1.0:
            size = (round(width * scale), round(height * scale))
            picture = np.asarray(cv2.resize(picture, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        rgb = np.ascontiguousarray(picture[:, :, ::-1])
        found = [f for f in self._find(rgb) if f.score >= self.config.min_score]
        if scale < 1.0:
            found = [_scaled(f, 1 / scale) for f in found]
        return sorted(found, key=lambda f: -f.score)

    @abstractmethod
    def _find(self, rgb: Image) -> list[Face]:
        """The faces the model finds in an RGB picture, any score."""


def _scaled(face: Face, factor: float) -> Face:
    x, y, w, h = face.box
    box = (round(x * factor), round(y * factor), round(w * factor), round(h * factor))
    return Face(box, face.score, tuple((px * factor, py * factor) for px, py in face.landmarks))


def build_detector(config: dict[str, Any] | FaceDetectorConfig) -> FaceDetector:
    """A face detector from its config (a dict with `type`, or a config object)."""
    kind = config.type if isinstance(config, FaceDetectorConfig) else config.get("type")
    cls = DETECTORS.get(kind)
    data = config.model_dump() if isinstance(config, FaceDetectorConfig) else config
    return cls(cls.config_class.model_validate(data))


DETECTORS: Registry[FaceDetector] = Registry("face detector", PLUGIN_MODULES)
