"""SSD-MobileNet-v2 COCO through OpenCV's DNN module: the default detector for people and vehicles."""

from __future__ import annotations

from typing import ClassVar, Literal

import cv2
import numpy as np
from pydantic import Field

from safecity.analytics import catalog
from safecity.analytics.detectors.base import Detector, DetectorConfig
from safecity.analytics.types import Detections, Image

# The TF model zoo numbers COCO classes 1..90 with gaps; index i of this list is COCO-80 class i.
_COCO90_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32,
    33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,
    60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)  # fmt: skip
_TO_COCO80 = np.full(92, -1, dtype=np.int64)
_TO_COCO80[list(_COCO90_IDS)] = np.arange(len(_COCO90_IDS))


class SsdMobileNetConfig(DetectorConfig):
    """SSD-MobileNet-v2 settings."""

    type: Literal["ssd_mobilenet_v2"] = "ssd_mobilenet_v2"
    input_size: int = Field(default=300, ge=128, le=1024)  # the network was trained at 300x300


class SsdMobileNet(Detector):
    """SSD-MobileNet-v2 (TF model zoo 2018-03-29) run with cv2.dnn; ~50 ms a frame on two cores."""

    name: ClassVar[str] = "ssd_mobilenet_v2"
    config_class: ClassVar[type[DetectorConfig]] = SsdMobileNetConfig

    def __init__(self, config: SsdMobileNetConfig) -> None:
        super().__init__(config)
        self.size = config.input_size
        graph, text = catalog.locate(catalog.spec(self.name))
        self.net = cv2.dnn.readNetFromTensorflow(str(graph), str(text))

    def _infer(self, image: Image, config: DetectorConfig) -> Detections:
        size = config.input_size if isinstance(config, SsdMobileNetConfig) else self.size
        height, width = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, size=(size, size), swapRB=True)
        self.net.setInput(blob)
        out = self.net.forward().reshape(-1, 7)  # [batch, class, score, x1, y1, x2, y2] (fractions)
        classes = _TO_COCO80[np.clip(out[:, 1].astype(np.int64), 0, 91)]
        known = out[classes >= 0]  # classes outside COCO-80 (none expected) are dropped
        boxes = np.clip(known[:, 3:7], 0.0, 1.0) * np.array([width, height, width, height], dtype=np.float32)
        return Detections.of(boxes, known[:, 2], classes[classes >= 0])
