"""The detector plugin contract: a typed config with a `type` key, a class that runs it, a registry.

Detector modules register themselves when imported; `build_detector` imports the known modules and
logs, rather than raises, when one of them cannot be imported, so a broken optional plugin never stops
the default one.

Every detector is run the same way (`Detector.detect`): on regions of the frame at close to native
resolution (tiles, see `regions.py`), the region results merged by NMS, then riders merged into their
two-wheelers and each object's colour measured. A plugin only implements `_infer` on one picture.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from safecity.analytics import attributes, regions
from safecity.analytics.riders import merge_riders
from safecity.analytics.types import CLASS_IDS, Detections, Image, nms_indices
from safecity.core.plugins import Registry

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
    """Settings every detector takes; each plugin's config narrows `type` to its own literal.

    Some of the same fields can be set per camera (`DetectionSettings`, stored as `CameraDetection`): the
    model is shared, the way it is fed is not.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    min_score: float = Field(default=0.45, gt=0, lt=1)
    nms_iou: float = Field(default=0.45, gt=0, lt=1)
    # Only these classes are reported (None: every class the model knows). Choosing them here, not
    # relabelling afterwards, is how a "cell phone" on a road is kept out of the results.
    classes: list[str] | None = None
    class_scores: dict[str, float] = Field(default_factory=dict)  # min_score per class, where different
    tiling: bool = True  # run the model on overlapping tiles of the frame, near native resolution
    # Tile columns x rows; None: tiles about square (2 x 1 for 16:9, 1 x 2 for 9:16, 1 x 1 for 4:3).
    tile_grid: tuple[int, int] | None = None
    tile_overlap: float = Field(default=0.1, ge=0, le=0.5)  # fraction of a tile shared with its neighbour
    whole_frame: bool = False  # also one pass on the whole frame (big, close objects cut by the tiles)
    merge_riders: bool = True  # a person on a motorcycle or bicycle becomes that vehicle's rider
    colour: bool = True  # measure each vehicle's and person's dominant colour

    @property
    def lowest_score(self) -> float:
        """The lowest score any class is reported at."""
        return min([self.min_score, *self.class_scores.values()])

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str] | None) -> list[str] | None:
        unknown = [c for c in value or [] if c not in CLASS_IDS]
        if unknown:
            raise ValueError(f"unknown classes {unknown}; use COCO names such as person, car, truck")
        return value

    @field_validator("class_scores")
    @classmethod
    def _known_scores(cls, value: dict[str, float]) -> dict[str, float]:
        cls._known_classes(list(value))
        if any(not 0 < v < 1 for v in value.values()):
            raise ValueError("a class score must lie between 0 and 1")
        return value

    @field_validator("tile_grid")
    @classmethod
    def _sane_grid(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not (1 <= value[0] <= 6 and 1 <= value[1] <= 6):
            raise ValueError("a tile grid has 1 to 6 columns and 1 to 6 rows")
        return value


class Detector(ABC):
    """Finds objects in one BGR picture; instances are used by one thread at a time."""

    name: ClassVar[str]  # the config's `type`
    config_class: ClassVar[type[DetectorConfig]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        DETECTORS.add(cls.name, cls)

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config

    def detect(self, image: Image, config: DetectorConfig | None = None) -> Detections:
        """Objects in the picture: found on its regions, filtered by class and score, merged, described.

        Args:
            image: a BGR picture (anything else raises InvalidFrame).
            config: how to feed the model for this picture (a camera's own settings); default: the
                detector's.

        Returns:
            One detection per object, best score first: duplicates merged (vehicle classes as one, tile
            fragments into the whole), riders folded into their vehicle, colours measured.
        """
        picture = check_image(image)
        cfg = config or self.config
        height, width = picture.shape[:2]
        found: list[Detections] = []
        cut: list[npt.NDArray[np.bool_]] = []
        for region in regions.plan(width, height, cfg):
            x1, y1, x2, y2 = region
            part = self._infer(picture[y1:y2, x1:x2], cfg)
            part = part.take(part.scores >= cfg.lowest_score)
            found.append(part.shifted(x1, y1))
            cut.append(regions.touches_inner_edge(part.boxes, region, width, height))
        merged = Detections.concatenate(found)
        wanted = _wanted(merged, cfg)
        merged, cuts = merged.take(wanted), np.concatenate(cut)[wanted]
        keep = nms_indices(merged, iou=cfg.nms_iou)
        kept = regions.drop_fragments(merged.take(keep), cuts[keep])
        if cfg.merge_riders:
            kept = merge_riders(kept)
        if cfg.colour:
            kept = attributes.with_colours(picture, kept)
        return kept

    @abstractmethod
    def _infer(self, image: Image, config: DetectorConfig) -> Detections:
        """Run the model on one region: boxes in its pixels, classes as COCO-80 indices, before NMS."""


def _wanted(found: Detections, config: DetectorConfig) -> npt.NDArray[np.bool_]:
    """Which detections are of a wanted class and score at least that class's threshold."""
    thresholds = np.full(len(found), config.min_score, dtype=np.float32)
    for name, score in config.class_scores.items():
        thresholds[found.classes == CLASS_IDS[name]] = score
    wanted = found.scores >= thresholds
    if config.classes is not None:
        wanted &= np.isin(found.classes, [CLASS_IDS[c] for c in config.classes])
    return wanted


def detector_types() -> list[str]:
    """The `type` of every detector that could be loaded."""
    return DETECTORS.types()


def detector_config(config: dict[str, Any] | DetectorConfig) -> DetectorConfig:
    """The config validated as its detector's own config class (pydantic's ValidationError if it is not);
    loads no model, so a camera's settings can be checked and prepared before any detector runs.
    """
    kind = config.type if isinstance(config, DetectorConfig) else config.get("type")
    return DETECTORS.get(kind).config_class.model_validate(
        config.model_dump() if isinstance(config, DetectorConfig) else config
    )


def build_detector(config: dict[str, Any] | DetectorConfig) -> Detector:
    """A detector from its config (a dict with `type`, or a config object)."""
    settings = detector_config(config)
    return DETECTORS.get(settings.type)(settings)


DETECTORS: Registry[Detector] = Registry("detector", PLUGIN_MODULES)
