"""What happened at a camera over a time range, as markers on its playback timeline.

Markers come from other domains (analytics events, alerts, plate reads), so they are gathered here. Each
kind is shown only to those who may read it elsewhere: events and alerts need `alerts.read` (as the events
page and the console), plate reads need `plates.read` and never show the plate itself (reading plate
history needs a stated purpose: the plate search asks for one).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.analytics.plates.models import Sighting
from safecity.auth.principal import Principal
from safecity.events.alerts.models import Alert
from safecity.events.models import Event
from safecity.video.recorder import PLAYBACK_PERMISSION, camera_in_scope, check_range

MAX_MARKERS = 500  # per kind: a busy camera's day still draws; narrower ranges show the rest
MarkerKind = Literal["event", "alert", "plate"]
SEVERITY_NAMES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Marker:
    """Something at a moment of a camera's footage."""

    kind: MarkerKind
    at: dt.datetime
    label: str
    severity: str
    href: str | None = None


def _words(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def _severity(value: int) -> str:
    return SEVERITY_NAMES[value] if 0 <= value < len(SEVERITY_NAMES) else str(value)


def markers(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[Marker]:
    """Events, alerts and plate reads of a camera in [since, until) that the principal may see, by time."""
    camera_in_scope(session=session, principal=principal, camera_id=camera_id, permission=PLAYBACK_PERMISSION)
    check_range(since, until)
    found: list[Marker] = []
    if principal.can("alerts.read"):
        events = session.scalars(
            select(Event)
            .where(Event.camera_id == camera_id, Event.occurred_at >= since, Event.occurred_at < until)
            .order_by(Event.occurred_at)
            .limit(MAX_MARKERS)
        )
        found += [Marker("event", e.occurred_at, _words(e.kind), _severity(e.severity)) for e in events]
        alerts = session.scalars(
            select(Alert)
            .where(Alert.camera_id == camera_id, Alert.raised_at >= since, Alert.raised_at < until)
            .order_by(Alert.raised_at)
            .limit(MAX_MARKERS)
        )
        found += [
            Marker("alert", a.raised_at, a.title, _severity(a.severity), f"/console?alert={a.id}")
            for a in alerts
        ]
    if principal.can("plates.read"):
        reads = session.scalars(
            select(Sighting)
            .where(Sighting.camera_id == camera_id, Sighting.seen_at >= since, Sighting.seen_at < until)
            .order_by(Sighting.seen_at)
            .limit(MAX_MARKERS)
        )
        found += [
            Marker(
                "plate",
                s.seen_at,
                " ".join(x for x in ("Plate read:", s.colour, s.vehicle_class) if x)
                if s.plate
                else "Unreadable plate",
                "info",
            )
            for s in reads
        ]
    return sorted(found, key=lambda m: m.at)
