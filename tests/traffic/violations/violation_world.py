"""A junction for the enforcement tests: a camera with a stop line, a wrong-way zone and a no-parking zone,
a signal, and the analytics events the pipeline would publish about vehicles there.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from sqlalchemy.orm import Session

from safecity.analytics import service as analytics
from safecity.analytics.schemas import rule_adapter
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.events.schemas import EventOut
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import EnforcementRule, Offence, SignalSource
from safecity.traffic.violations.schemas import EnforcementRuleIn, SignalIn

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
OFFICER = Principal(
    None,
    "traffic-officer",
    frozenset({"traffic.read", "traffic.manage", "signals.report", "challans.review"}),
    None,
    via="system",
)
DRAWER = Principal(None, "drawer", frozenset({"analytics.manage", "cameras.read"}), None, via="system")
CARS = ["car", "motorcycle", "bus", "truck"]


@dataclass
class Junction:
    """The camera and what is drawn and enforced on it."""

    camera: Camera
    stop_line: uuid.UUID  # analytics rule ids
    wrong_way: uuid.UUID
    no_parking: uuid.UUID
    signal_id: uuid.UUID
    red_light: EnforcementRule
    wrong_way_rule: EnforcementRule
    no_parking_rule: EnforcementRule


def camera(session: Session, district_id: uuid.UUID, name: str = "Hashtnagri Chowk") -> Camera:
    row = Camera(
        name=f"{name} {uuid.uuid4().hex[:4]}",
        district_id=district_id,
        latitude=34.01,
        longitude=71.57,
        stream_url="rtsp://10.0.0.9/1",
    )
    session.add(row)
    session.flush()
    return row


def draw(session: Session, camera_id: uuid.UUID, config: dict[str, Any]) -> uuid.UUID:
    rule = analytics.create_rule(
        session=session, principal=DRAWER, camera_id=camera_id, config=rule_adapter.validate_python(config)
    )
    return rule.id


def junction(
    session: Session,
    district_id: uuid.UUID,
    *,
    signal_source: SignalSource = SignalSource.CONTROLLER,
    lamp_region: list[tuple[float, float]] | None = None,
) -> Junction:
    """A camera with its stop line (signal-controlled), a wrong-way zone and a no-parking zone, enforced."""
    cam = camera(session, district_id)
    stop_line = draw(
        session,
        cam.id,
        {"kind": "line_crossing", "name": "Stop line", "line": [[0.1, 0.6], [0.9, 0.6]], "classes": CARS},
    )
    wrong_way = draw(
        session,
        cam.id,
        {
            "kind": "wrong_way",
            "name": "One way",
            "zone": [[0, 0], [1, 0], [1, 0.5], [0, 0.5]],
            "direction": [[0.5, 0.4], [0.5, 0.1]],
        },
    )
    no_parking = draw(
        session,
        cam.id,
        {
            "kind": "stopped_vehicle",
            "name": "Bus stop",
            "zone": [[0, 0.7], [0.3, 0.7], [0.3, 1], [0, 1]],
            "dwell_s": 90,
        },
    )
    signal = violations.create_signal(
        session=session,
        principal=OFFICER,
        data=SignalIn(
            name=f"Signal {uuid.uuid4().hex[:6]}",
            source=signal_source,
            camera_id=cam.id,
            lamp_region=lamp_region,
        ),
    )
    rules = [
        violations.create_rule(
            session=session,
            principal=OFFICER,
            data=EnforcementRuleIn(name=name, camera_id=cam.id, offence=offence, **refs),
        )
        for name, offence, refs in (
            ("Red light", Offence.RED_LIGHT, {"analytics_rule_id": stop_line, "signal_id": signal.id}),
            ("Wrong way", Offence.WRONG_WAY, {"analytics_rule_id": wrong_way}),
            ("No parking", Offence.NO_PARKING, {"analytics_rule_id": no_parking}),
        )
    ]
    return Junction(cam, stop_line, wrong_way, no_parking, signal.id, *rules)


def vehicle(track_id: int, box: list[int], cls: str = "car", colour: str = "white") -> dict[str, Any]:
    """An object of an event's payload, as the analytics write it."""
    return {
        "class": cls,
        "score": 0.91,
        "box": box,
        "track_id": track_id,
        "first_seen": None,
        "track": {"colour": colour, "colour_confidence": 0.8},
    }


def event(
    cam: Camera,
    rule_id: uuid.UUID,
    kind: str,
    at: dt.datetime,
    objects: list[dict[str, Any]],
    detail: dict[str, Any] | None = None,
    *,
    snapshot: str | None = None,
    frame_size: tuple[int, int] = (640, 360),
) -> EventOut:
    """An analytics event as the pipeline publishes it on events.analytics.<camera>."""
    return EventOut(
        id=uuid.uuid4(),
        occurred_at=at,
        kind=f"analytics.{kind}",
        source="analytics",
        district_id=cam.district_id,
        camera_id=cam.id,
        severity=3,
        payload={
            "rule_id": str(rule_id),
            "rule_name": kind,
            "rule_kind": kind,
            "camera_name": cam.name,
            "objects": objects,
            "detail": detail or {},
            "snapshot": snapshot,
            "frame_size": list(frame_size),
            "recording": {"camera_id": str(cam.id), "at": at.isoformat()},
        },
    )


# --- a signal head drawn onto a real street picture -----------------------------------------------------

LAMP_REGION = [(0.86, 0.08), (0.95, 0.08), (0.95, 0.46), (0.86, 0.46)]
LAMP_COLOURS = {"red": (30, 30, 235), "amber": (20, 190, 255), "green": (90, 220, 40)}  # BGR, as LEDs look


def with_signal(scene: np.ndarray, light: str, region: list[tuple[float, float]] = LAMP_REGION) -> np.ndarray:
    """The scene with a signal head drawn in `region`: a dark housing with three lamps, `light` lit with a
    glow (or none, "off"), then through JPEG as a camera's picture would be.
    """
    picture = scene.copy()
    height, width = picture.shape[:2]
    x1, y1 = round(region[0][0] * width), round(region[0][1] * height)
    x2, y2 = round(region[2][0] * width), round(region[2][1] * height)
    cv2.rectangle(picture, (x1 + 2, y1 + 2), (x2 - 2, y2 - 2), (35, 35, 35), -1)
    radius = max(3, min(x2 - x1, (y2 - y1) // 3) // 2 - 3)
    centre_x = (x1 + x2) // 2
    for i, name in enumerate(("red", "amber", "green")):
        centre = (centre_x, y1 + (2 * i + 1) * (y2 - y1) // 6)
        if name == light:
            glow = np.zeros_like(picture)
            cv2.circle(glow, centre, radius + 3, LAMP_COLOURS[name], -1)
            glow = cv2.GaussianBlur(glow, (7, 7), 0)
            picture = cv2.max(picture, glow)
            cv2.circle(picture, centre, radius, LAMP_COLOURS[name], -1)
        else:
            dim = tuple(int(c * 0.18) + 20 for c in LAMP_COLOURS[name])
            cv2.circle(picture, centre, radius, dim, -1)
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert decoded is not None
    return decoded
