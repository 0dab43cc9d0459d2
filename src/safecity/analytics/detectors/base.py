"""The detector plugin contract: a typed config with a `type` key, a class that runs it, a registry.

Detector modules register themselves when imported; `build_detector` imports the known modules and
logs, rather than raises, when one of them cannot be imported, so a broken optional plugin never stops
the default one.
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from safecity.analytics.types import Detections, Image, non_max_suppression

logger = logging.getLogger(__name__)

PLUGIN_MODULES = ("safecity.analytics.detectors.ssd", "safecity.analytics.detectors.yolo")
MIN_SIDE = 16  # pixels: anything smaller is not a camera picture
MAX_SIDE = 8192


class InvalidFrame(ValueError):
    """What was handed over as a frame is not a picture the detector can read."""


def check_image(image: object) -> Image:
    """The image if it is a height x width x 3 uint8 picture of a sane size; raises InvalidFrame otherwise."""
    if not isinstance(image, np.ndarray):
        raise InvalidFrame(f"a frame must be a numpy array, not {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidFrame(f"a frame must hold uint8 pixels, not {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidFrame(f"a frame must be height x width x 3 (BGR), not {image.shape}")
    height, width = image.shape[:2]
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise InvalidFrame(f"a frame of {width}x{height} pixels is not a camera picture")
    return image


class DetectorConfig(BaseModel):
    """Settings every detector takes; each plugin's config narrows `type` to its own literal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    min_score: float = Field(default=0.45, gt=0, lt=1)
    nms_iou: float = Field(default=0.45, gt=0, lt=1)


class Detector(ABC):
    """Finds objects in one BGR picture; instances are used by one thread at a time."""

    name: ClassVar[str]  # the config's `type`
    config_class: ClassVar[type[DetectorConfig]]
    _registry: ClassVar[dict[str, type[Detector]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Detector._registry[cls.name] = cls

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config

    def detect(self, image: Image) -> Detections:
        """Objects in the picture, scored at least min_score, duplicates merged (vehicle classes as one)."""
        raw = self._infer(check_image(image))
        return non_max_suppression(raw.take(raw.scores >= self.config.min_score), iou=self.config.nms_iou)

    @abstractmethod
    def _infer(self, image: Image) -> Detections:
        """Run the model: boxes in the image's pixels, classes as COCO-80 indices, before NMS."""


def _load_plugins() -> None:
    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except Exception:  # an optional plugin that cannot load must not take the others down
            logger.exception("detector plugin %s could not be loaded", module)


def detector_types() -> list[str]:
    """The `type` of every detector that could be loaded."""
    _load_plugins()
    return sorted(Detector._registry)


def build_detector(config: dict[str, Any] | DetectorConfig) -> Detector:
    """A detector from its config (a dict with `type`, or a config object)."""
    _load_plugins()
    kind = config.type if isinstance(config, DetectorConfig) else config.get("type")
    cls = Detector._registry.get(str(kind))
    if cls is None:
        raise ValueError(f"no detector of type {kind!r}; known: {', '.join(detector_types())}")
    settings = cls.config_class.model_validate(
        config.model_dump() if isinstance(config, DetectorConfig) else config
    )
    return cls(settings)
