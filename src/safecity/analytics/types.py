"""The one shape detections take between detector, tracker and rules: parallel arrays, not objects.

Boxes are pixel corners (x1, y1, x2, y2) of the frame they were found in; classes are COCO-80 indices
(whatever numbering a model uses is mapped to these by its detector); track ids are -1 until a tracker
assigns them; `attributes` are what was measured of each object (riders, colour), JSON-ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]  # a BGR picture, height x width x 3
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# COCO-80, in the order darknet's coco.names and every COCO-80 model use.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
CLASS_IDS: dict[str, int] = {name: i for i, name in enumerate(COCO_CLASSES)}

PERSON = CLASS_IDS["person"]
# Motor vehicles: a detector often calls one vehicle both car and truck, so these are merged by NMS.
VEHICLES: frozenset[int] = frozenset(CLASS_IDS[n] for n in ("car", "motorcycle", "bus", "truck"))
# Road users a rule may name; bicycles are not merged with motor vehicles (a rider is not a car).
ROAD_USERS: frozenset[int] = VEHICLES | {PERSON, CLASS_IDS["bicycle"]}
# Things people leave behind.
BAGGAGE: frozenset[int] = frozenset(CLASS_IDS[n] for n in ("backpack", "handbag", "suitcase"))
# What the configured pipeline reports: what a street camera's rules are about. Other COCO classes are
# what a street-trained eye mistakes road users for (a car seen from above as a "cell phone").
PIPELINE_CLASSES: frozenset[int] = ROAD_USERS | BAGGAGE


def class_name(class_id: int) -> str:
    """The COCO name of a class index ("class 91" for an index outside COCO-80)."""
    return COCO_CLASSES[class_id] if 0 <= class_id < len(COCO_CLASSES) else f"class {class_id}"


@dataclass(frozen=True, slots=True)
class Detections:
    """N objects in one frame: `boxes` (N, 4) float32 pixels; `scores`, `classes`, `track_ids` (N,).

    `attributes` holds one dict per object (empty ones when given none).
    """

    boxes: FloatArray
    scores: FloatArray
    classes: IntArray
    track_ids: IntArray
    attributes: tuple[dict[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.boxes.shape != (n, 4):
            raise ValueError(f"boxes must be (N, 4), not {self.boxes.shape}")
        for name in ("scores", "classes", "track_ids"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must be ({n},), not {getattr(self, name).shape}")
        if not self.attributes:
            object.__setattr__(self, "attributes", tuple({} for _ in range(n)))
        elif len(self.attributes) != n:
            raise ValueError(f"attributes must be {n} dicts, not {len(self.attributes)}")

    @classmethod
    def of(
        cls,
        boxes: npt.ArrayLike,
        scores: npt.ArrayLike,
        classes: npt.ArrayLike,
        track_ids: npt.ArrayLike | None = None,
    ) -> Detections:
        """Detections from any array-likes, converted to the canonical dtypes."""
        box_array = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        n = len(box_array)
        ids = np.full(n, -1, dtype=np.int64) if track_ids is None else np.asarray(track_ids, dtype=np.int64)
        return cls(
            box_array,
            np.asarray(scores, dtype=np.float32).reshape(n),
            np.asarray(classes, dtype=np.int64).reshape(n),
            ids.reshape(n),
        )

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls.of(np.empty((0, 4)), [], [])

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, index: npt.ArrayLike) -> Detections:
        """The detections at these indices (or where this boolean mask is true), in that order."""
        i = np.asarray(index)
        positions = np.flatnonzero(i) if i.dtype == np.bool_ else i.reshape(-1)
        kept = tuple(self.attributes[int(k)] for k in positions)
        return Detections(self.boxes[i], self.scores[i], self.classes[i], self.track_ids[i], kept)

    def with_attributes(self, attributes: tuple[dict[str, Any], ...]) -> Detections:
        """The same detections with these attributes (one dict per object)."""
        return Detections(self.boxes, self.scores, self.classes, self.track_ids, attributes)

    def with_track_ids(self, track_ids: IntArray) -> Detections:
        """The same detections with these track ids."""
        return Detections(self.boxes, self.scores, self.classes, track_ids, self.attributes)

    def shifted(self, dx: float, dy: float) -> Detections:
        """The same detections with boxes moved by (dx, dy): from a region's pixels to the frame's."""
        offset = np.array([dx, dy, dx, dy], dtype=np.float32)
        return Detections(self.boxes + offset, self.scores, self.classes, self.track_ids, self.attributes)

    @classmethod
    def concatenate(cls, parts: list[Detections]) -> Detections:
        """All detections of these parts, in order."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.classes for p in parts]),
            np.concatenate([p.track_ids for p in parts]),
            tuple(a for p in parts for a in p.attributes),
        )

    def of_classes(self, classes: frozenset[int] | set[int]) -> Detections:
        """Only the detections of these classes."""
        return self.take(np.isin(self.classes, list(classes)))

    def as_dicts(self) -> list[dict[str, Any]]:
        """JSON-ready objects (class name, score, box rounded to whole pixels, track id, attributes)."""
        return [
            {
                "class": class_name(int(c)),
                "score": round(float(s), 3),
                "box": [round(float(v)) for v in b],
                "track_id": int(t) if t >= 0 else None,
                **a,
            }
            for b, s, c, t, a in zip(
                self.boxes, self.scores, self.classes, self.track_ids, self.attributes, strict=True
            )
        ]


def non_max_suppression(detections: Detections, *, iou: float = 0.45) -> Detections:
    """Drop overlapping duplicates, best score first: per class, but across all motor-vehicle classes.

    A model may report one vehicle as a car and as a truck; treating the vehicle classes as one group
    keeps only the more confident of the two, while a person on a motorcycle keeps both boxes.
    """
    return detections.take(nms_indices(detections, iou=iou))


def nms_indices(detections: Detections, *, iou: float = 0.45) -> IntArray:
    """The indices `non_max_suppression` keeps, best score first."""
    if len(detections) < 2:
        return np.arange(len(detections), dtype=np.int64)
    groups = np.where(np.isin(detections.classes, list(VEHICLES)), -1, detections.classes)
    keep: list[int] = []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        boxes = detections.boxes[members]
        xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        kept = cv2.dnn.NMSBoxes(xywh.tolist(), detections.scores[members].tolist(), 0.0, iou)
        keep.extend(int(members[k]) for k in np.asarray(kept).reshape(-1))
    keep.sort(key=lambda k: -float(detections.scores[k]))
    return np.asarray(keep, dtype=np.int64)
