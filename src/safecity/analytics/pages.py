"""Analytics pages: the rule editor on a camera's picture; the live event feed, with its events over time."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from safecity.analytics import service as analytics
from safecity.analytics.schemas import (
    BAG_NAMES,
    PEOPLE,
    RULE_KINDS,
    VEHICLE_NAMES,
    LineDirection,
    RuleOut,
    Weekday,
)
from safecity.cameras import service as cameras
from safecity.core.db import utcnow
from safecity.events import service as events
from safecity.events.models import Event, Severity
from safecity.web import charts
from safecity.web.charts import Bucket, Chart
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, Page, render

router = APIRouter(include_in_schema=False)

KIND_PREFIX = "analytics."
PAGE_SIZE = 100
HOURLY_UP_TO = dt.timedelta(days=2)  # the chart counts per hour up to this period, per day beyond
CHART_MAX = dt.timedelta(days=366)  # a longer period is charted over its last year
DEFAULT_CHART_HOURS = 24
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


@dataclass(frozen=True)
class EventChart:
    """The events-over-time chart of the feed page and the sentence that says what it covers."""

    chart: Chart
    caption: str


def _bucket(start: dt.datetime, count: int, per: events.Per) -> Bucket:
    """One bar: an hour is labelled by its time (by its date at midnight), a day by its date."""
    noun = "event" if count == 1 else "events"
    if per == "day":
        return Bucket(f"{start:%d %b}", f"{start:%Y-%m-%d}: {count} {noun}", count)
    label = f"{start:%d %b}" if start.hour == 0 else f"{start:%H:%M}"
    return Bucket(label, f"{start:%Y-%m-%d %H:%M}: {count} {noun}", count)


def event_chart(
    db: Session,
    page: Page,
    *,
    camera_id: uuid.UUID | None,
    kind: str | None,
    kind_prefix: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> EventChart | None:
    """Events per local hour (periods up to two days) or day; without a start, the last 24 hours."""
    end = until or utcnow()
    if since is None:
        # The current hour and the 23 before it, so that every bar is a whole local hour but the last.
        hour = end.astimezone(page.timezone).replace(minute=0, second=0, microsecond=0)
        since = hour.astimezone(dt.UTC) - dt.timedelta(hours=DEFAULT_CHART_HOURS - 1)
    start = max(since, end - CHART_MAX)
    if start >= end:
        return None
    per: events.Per = "hour" if end - start <= HOURLY_UP_TO else "day"
    counts = events.count_over_time(
        session=db,
        principal=page.principal,
        since=start,
        until=end,
        per=per,
        timezone=page.timezone,
        kind=kind,
        kind_prefix=kind_prefix,
        camera_id=camera_id,
    )
    total = sum(n for _, n in counts)
    shown = (
        f"{start.astimezone(page.timezone):%Y-%m-%d %H:%M} to {end.astimezone(page.timezone):%Y-%m-%d %H:%M}"
    )
    clipped = f" (the last {CHART_MAX.days} days of the period)" if start > since else ""
    caption = f"{total} {'event' if total == 1 else 'events'} per {per}, {shown} local time{clipped}."
    return EventChart(charts.bar_chart([_bucket(at, n, per) for at, n in counts]), caption)


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
    exact, prefix = (KIND_PREFIX + kind, None) if kind else (None, KIND_PREFIX)
    found = events.search(
        session=db,
        principal=page.principal,
        kind=exact,
        kind_prefix=prefix,
        camera_id=camera_id,
        since=since_at,
        until=until_at,
        limit=PAGE_SIZE,
    )
    over_time = event_chart(
        db, page, camera_id=camera_id, kind=exact, kind_prefix=prefix, since=since_at, until=until_at
    )
    in_scope = (
        cameras.list_cameras(session=db, principal=page.principal) if page.principal.can(cameras.READ) else []
    )
    return render(
        page,
        "analytics/events.html",
        events=[event_row(e, page) for e in found],
        over_time=over_time,
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
