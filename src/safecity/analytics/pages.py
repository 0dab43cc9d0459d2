"""Analytics pages: the rule editor on a camera's picture, and the live event feed with thumbnails."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from safecity.analytics import service as analytics
from safecity.analytics.schemas import (
    BAG_NAMES,
    PEOPLE,
    RULE_KINDS,
    VEHICLE_NAMES,
    LineDirection,
    Weekday,
)
from safecity.analytics.views import RuleOut
from safecity.cameras import service as cameras
from safecity.events import service as events
from safecity.events.models import Event, Severity
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, Page, render

router = APIRouter(include_in_schema=False)

KIND_PREFIX = "analytics."
PAGE_SIZE = 100
# The classes a rule may watch in the editor: the ones CCTV analytics are asked about in practice.
EDITOR_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck", "backpack", "handbag", "suitcase")
KIND_LABELS = {
    "zone_intrusion": "Zone intrusion",
    "line_crossing": "Line crossing",
    "loitering": "Loitering",
    "crowd": "Crowd",
    "wrong_way": "Wrong way",
    "stopped_vehicle": "Stopped vehicle",
    "object_left_behind": "Object left behind",
}
# What a new rule of each kind watches until the user picks otherwise (as the rule schemas default).
DEFAULT_CLASSES = {
    kind: [c for c in names if c in EDITOR_CLASSES]
    for kind, names in {
        **dict.fromkeys(RULE_KINDS, PEOPLE),
        "wrong_way": VEHICLE_NAMES,
        "stopped_vehicle": VEHICLE_NAMES,
        "object_left_behind": BAG_NAMES,
    }.items()
}
SEVERITY_NAMES = {int(s): s.name.lower() for s in Severity}


@router.get("/cameras/{camera_id}/analytics", response_class=HTMLResponse)
def rule_editor(page: CurrentPage, db: Db, camera_id: uuid.UUID) -> Response:
    """The camera's rules drawn over its picture; users with analytics.manage draw and change them."""
    rules = analytics.list_rules(session=db, principal=page.principal, camera_id=camera_id)
    camera = cameras.get_camera(session=db, principal=page.principal, camera_id=camera_id)
    return render(
        page,
        "analytics/editor.html",
        camera=camera,
        rules=[RuleOut.of(r).model_dump(mode="json") for r in rules],
        can_manage=page.principal.can(analytics.MANAGE),
        can_watch=page.principal.can("video.live"),
        kinds=KIND_LABELS,
        classes=EDITOR_CLASSES,
        default_classes=DEFAULT_CLASSES,
        severities=SEVERITY_NAMES,
        directions=[d.value for d in LineDirection],
        weekdays=[d.value for d in Weekday],
    )


def _local(value: str | None, page: Page) -> dt.datetime | None:
    """A time the user typed (datetime-local, their zone) as an aware datetime; empty means none."""
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=page.timezone)


def event_row(event: Event, page: Page) -> dict[str, Any]:
    """What the feed shows of one event (the same fields analytics.js builds from a live one)."""
    payload = event.payload
    objects: dict[str, int] = {}
    for found in payload.get("objects", []):
        if isinstance(found, dict):
            name = str(found.get("class", "?"))
            objects[name] = objects.get(name, 0) + 1
    return {
        "id": event.id,
        "occurred_at": event.occurred_at,
        "at_local": event.occurred_at.astimezone(page.timezone).isoformat(timespec="seconds"),
        "kind": event.kind.removeprefix(KIND_PREFIX),
        "severity": event.severity,
        "camera_id": event.camera_id,
        "camera_name": payload.get("camera_name") or "—",
        "rule_name": payload.get("rule_name") or "—",
        "objects": ", ".join(f"{n} {name}" for name, n in sorted(objects.items())),
        "has_snapshot": bool(payload.get("snapshot")),
    }


@router.get("/analytics/events", response_class=HTMLResponse)
def event_feed_page(
    request: Request,
    page: CurrentPage,
    db: Db,
    camera_id: uuid.UUID | None = None,
    kind: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Analytics events, newest first, with thumbnails; new ones arrive live when they match the filters."""
    # The feed's position is read before the list, so nothing falls between the list and the live feed.
    position = get_services(request).event_feed.position
    error = None
    try:
        since_at, until_at = _local(since, page), _local(until, page)
    except ValueError:
        since_at = until_at = None
        error = "a time filter is not a date and time"
    if kind and kind not in RULE_KINDS:
        kind, error = "", "unknown event type"
    found = events.search(
        session=db,
        principal=page.principal,
        kind=KIND_PREFIX + kind if kind else None,
        kind_prefix=None if kind else KIND_PREFIX,
        camera_id=camera_id,
        since=since_at,
        until=until_at,
        limit=PAGE_SIZE,
    )
    in_scope = (
        cameras.list_cameras(session=db, principal=page.principal) if page.principal.can(cameras.READ) else []
    )
    return render(
        page,
        "analytics/events.html",
        events=[event_row(e, page) for e in found],
        position=position,
        zone=page.timezone.key,
        cameras=in_scope,
        kinds=KIND_LABELS,
        severity_names=SEVERITY_NAMES,
        filters={
            "camera_id": str(camera_id) if camera_id else "",
            "kind": kind,
            "since": since,
            "until": until,
            "since_utc": since_at.isoformat() if since_at else "",
            "until_utc": until_at.isoformat() if until_at else "",
        },
        error=error,
        can_playback=page.principal.can("video.playback"),
        can_see_status=page.principal.can(analytics.READ),
    )
