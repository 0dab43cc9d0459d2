"""The picture kept with each analytics event: the frame, every object boxed, the ones that fired in red.

Snapshots are JPEG files under the snapshots directory, at `<camera>/<day>/<event id>.jpg`; events hold
that relative path, so the directory can move without rewriting them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from safecity.analytics.schemas import LineCrossing, RuleConfig, WrongWay, ZoneRule
from safecity.analytics.types import Detections, Image, class_name

JPEG_QUALITY = 85
FIRED = (0, 0, 255)  # BGR red: the objects that made the rule fire
OTHER = (80, 200, 80)  # green: everything else tracked in the frame
RULE = (0, 215, 255)  # amber: the rule's zone, line or direction


def draw(image: Image, detections: Detections, fired: Collection[int], rule: RuleConfig) -> Image:
    """A copy of the frame with the rule's geometry and every detection drawn; `fired` are track ids."""
    canvas = np.ascontiguousarray(image).copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(width / 480))

    def pixels(points: Collection[tuple[float, float]]) -> npt.NDArray[np.int32]:
        return np.array([[round(x * width), round(y * height)] for x, y in points], dtype=np.int32)

    if isinstance(rule, ZoneRule):
        cv2.polylines(canvas, [pixels(rule.zone)], isClosed=True, color=RULE, thickness=thickness)
    if isinstance(rule, LineCrossing):
        a, b = pixels(rule.line)
        cv2.line(canvas, tuple(a), tuple(b), RULE, thickness + 1)
    if isinstance(rule, WrongWay):
        a, b = pixels(rule.direction)
        cv2.arrowedLine(canvas, tuple(a), tuple(b), RULE, thickness + 1, tipLength=0.2)
    for box, cls, track in zip(detections.boxes, detections.classes, detections.track_ids, strict=True):
        hit = int(track) in fired
        colour = FIRED if hit else OTHER
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness * (2 if hit else 1))
        label = class_name(int(cls)) + (f" #{int(track)}" if track >= 0 else "")
        cv2.putText(
            canvas, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, colour, thickness
        )
    return canvas


def relative_path(camera_id: uuid.UUID, event_id: uuid.UUID, at: dt.datetime) -> str:
    """Where an event's snapshot lives, relative to the snapshots directory."""
    return f"{camera_id}/{at.astimezone(dt.UTC):%Y-%m-%d}/{event_id}.jpg"


def save(picture: Image, root: Path, relative: str) -> int:
    """Write the picture as JPEG at root/relative (atomically: a reader never sees half a file); its size."""
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("the snapshot could not be encoded as JPEG")
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data.tobytes())
    partial.replace(target)
    return int(data.size)
