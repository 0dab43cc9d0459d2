"""Analytics pages: the rule editor on a camera's picture; the live event feed, with its events over time."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from safecity.analytics import replay as replays
from safecity.analytics import service as analytics
from safecity.analytics.counting import bucket_start
from safecity.analytics.flows import replay_recordings
from safecity.analytics.models import AnalyticsReplay
from safecity.analytics.pipeline import CameraInfo
from safecity.analytics.plates import pages as plates_pages
from safecity.analytics.plates import service as plates
from safecity.analytics.schemas import (
    BAG_NAMES,
    PEOPLE,
    PIPELINE_NAMES,
    RULE_KINDS,
    VEHICLE_NAMES,
    CountingLine,
    DetectionOut,
    DetectionSettings,
    LineDirection,
    RuleOut,
    Weekday,
)
from safecity.audit import service as audit
from safecity.cameras import service as cameras
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotFound, SafecityError
from safecity.events import service as events
from safecity.events.models import Event, Severity
from safecity.video import recorder
from safecity.web import charts
from safecity.web.charts import Bucket, Chart
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, Page, flash, local_time, refuse, render

router = APIRouter(include_in_schema=False)

KIND_PREFIX = "analytics."
PAGE_SIZE = 50  # events per page of the feed
HOURLY_UP_TO = dt.timedelta(days=2)  # the chart counts per hour up to this period, per day beyond
CHART_MAX = dt.timedelta(days=366)  # a longer period is charted over its last year
DEFAULT_CHART_HOURS = 24
# The classes a rule may watch in the editor: the ones CCTV analytics are asked about in practice.
EDITOR_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck", "backpack", "handbag", "suitcase")
KIND_LABELS = {
    "zone_intrusion": "Zone intrusion",
    "line_crossing": "Line crossing",
    "counting_line": "Counting line",
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
        "counting_line": VEHICLE_NAMES,
        "stopped_vehicle": VEHICLE_NAMES,
        "object_left_behind": BAG_NAMES,
    }.items()
}
SEVERITY_NAMES = {int(s): s.name.lower() for s in Severity}
# The counts chart shows this many buckets of the chosen interval: an hour of minutes … a week of hours.
COUNT_BUCKETS = {1: 60, 5: 72, 15: 96, 60: 168}
CLASS_COLOURS = ("#1f6fb5", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#ad1457")


@dataclass(frozen=True)
class CountChart:
    """One counting line's crossings in one direction over time, a line per class."""

    rule_name: str
    direction: str
    chart: Chart
    caption: str


def count_charts(
    db: Session, page: Page, *, camera_id: uuid.UUID, rules: list[RuleOut], interval: int
) -> list[CountChart]:
    """Per counting line and direction, the crossings per class in the latest COUNT_BUCKETS buckets."""
    lines = [(r, r.config) for r in rules if isinstance(r.config, CountingLine)]
    if not lines or not page.principal.can(analytics.COUNTS_READ):
        return []
    step = dt.timedelta(minutes=interval)
    end = bucket_start(utcnow(), interval) + step
    starts = [end - step * (COUNT_BUCKETS[interval] - i) for i in range(COUNT_BUCKETS[interval])]
    rows = analytics.line_counts(
        session=db,
        principal=page.principal,
        camera_id=camera_id,
        interval=interval,
        since=starts[0],
        until=end,
    )
    labels = [f"{s.astimezone(page.timezone):%H:%M}" for s in starts]
    found = []
    period = f"{starts[0].astimezone(page.timezone):%Y-%m-%d %H:%M} to {end.astimezone(page.timezone):%H:%M}"
    for rule, config in lines:
        directions = [LineDirection.LEFT_TO_RIGHT, LineDirection.RIGHT_TO_LEFT]
        if config.direction != LineDirection.BOTH:
            directions = [config.direction]
        for direction in directions:
            by_class: dict[str, dict[dt.datetime, int]] = {}
            for row in rows:
                if row.rule_id == rule.id and row.direction == direction.value:
                    by_class.setdefault(row.class_name, {})[row.bucket_start] = row.count
            series = [
                charts.Line(
                    f"class-{i}",
                    CLASS_COLOURS[i % len(CLASS_COLOURS)],
                    [counts.get(s, 0) for s in starts],
                    [f"{label}: {counts.get(s, 0)} {name}" for s, label in zip(starts, labels, strict=True)],
                )
                for i, (name, counts) in enumerate(sorted(by_class.items()))
            ]
            totals = ", ".join(f"{sum(c.values())} {name}" for name, c in sorted(by_class.items()))
            caption = (
                f"{direction.value.replace('_', ' ')}, per {interval} min, "
                f"{period} local time: {totals or 'nothing counted'}."
            )
            found.append(CountChart(rule.name, direction.value, charts.line_chart(labels, series), caption))
    return found


@router.get("/cameras/{camera_id}/analytics", response_class=HTMLResponse)
def rule_editor(page: CurrentPage, db: Db, camera_id: uuid.UUID, interval: int = 15) -> Response:
    """The camera's rules drawn over its picture; users with analytics.manage draw and change them.

    Below, each counting line's counts per class over time, in `interval`-minute buckets.
    """
    if interval not in COUNT_BUCKETS:
        raise InvalidInput(f"interval must be one of {', '.join(map(str, COUNT_BUCKETS))} minutes")
    stored = analytics.list_rules(session=db, principal=page.principal, camera_id=camera_id)
    rules = [RuleOut.of(r) for r in stored]
    camera = cameras.get_camera(session=db, principal=page.principal, camera_id=camera_id)
    detection = analytics.get_detection(
        session=db,
        principal=page.principal,
        camera_id=camera.id,
        defaults=get_services(page.request).settings.analytics,
    )
    return render(
        page,
        "analytics/editor.html",
        **_detection_context(page, detection),
        **plates_pages.panel_context(
            page, plates.get_settings(session=db, principal=page.principal, camera_id=camera.id)
        ),
        camera=camera,
        rules=[r.model_dump(mode="json") for r in rules],
        count_charts=count_charts(db, page, camera_id=camera.id, rules=rules, interval=interval),
        interval=interval,
        intervals=list(COUNT_BUCKETS),
        can_replay=page.principal.can("video.playback"),
        can_watch=page.principal.can("video.live"),
        kinds=KIND_LABELS,
        classes=EDITOR_CLASSES,
        default_classes=DEFAULT_CLASSES,
        severities=SEVERITY_NAMES,
        directions=[d.value for d in LineDirection],
        weekdays=[d.value for d in Weekday],
    )


# --- the camera's detector settings -----------------------------------------------------------------


def _detection_context(page: Page, detection: DetectionOut, saved: str | None = None) -> dict[str, Any]:
    """What the Detection panel (analytics/_detection.html) shows."""
    model = detection.defaults.detector_config(detection.detector)
    return {
        "detection": detection,
        "detection_classes": PIPELINE_NAMES,
        # The model's own input size where it has one (None: the panel offers no input size).
        "default_input_size": getattr(model, "input_size", None),
        "can_manage": page.principal.can(analytics.MANAGE),
        "detection_saved": saved,
    }


def _form_number(text: str, label: str) -> float | None:
    """A number typed into the panel; empty means none (automatic, or the default)."""
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{label} must be a number, not {text[:20]!r}", code="bad_detection") from None


def _whole(text: str, label: str) -> int | None:
    value = _form_number(text, label)
    if value is not None and not value.is_integer():
        raise InvalidInput(f"{label} must be a whole number", code="bad_detection")
    return None if value is None else int(value)


def _detection_from_form(
    *,
    tiling: bool,
    whole_frame: bool,
    tile_columns: str,
    tile_rows: str,
    input_size: str,
    classes: list[str],
    min_score: str,
    score_class: list[str],
    score: list[str],
) -> DetectionSettings:
    """The settings the panel's form describes; InvalidInput saying what is wrong where they are not valid."""
    columns, rows = _whole(tile_columns, "Tile columns"), _whole(tile_rows, "Tile rows")
    if (columns is None) != (rows is None):
        raise InvalidInput(
            "give both the tile columns and rows, or neither (automatic)", code="bad_detection"
        )
    if len(score_class) != len(score):
        raise InvalidInput("the class scores do not match their classes", code="bad_detection")
    typed = {c: _form_number(s, f"The {c} score") for c, s in zip(score_class, score, strict=True)}
    scores = {c: v for c, v in typed.items() if v is not None}  # empty: the camera's score applies
    try:
        return DetectionSettings.model_validate(
            {
                "tiling": tiling,
                "whole_frame": whole_frame,
                "tile_grid": None if columns is None else (columns, rows),
                "input_size": _whole(input_size, "The input size"),
                "classes": classes,
                "min_score": _form_number(min_score, "The score"),
                "class_scores": scores,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidInput(
            f"these detector settings are not valid: {problems}", code="bad_detection"
        ) from exc


@router.post("/cameras/{camera_id}/analytics/detection", response_class=HTMLResponse)
def detection_save(
    page: CurrentPage,
    db: Db,
    camera_id: uuid.UUID,
    own: Annotated[bool, Form()] = False,
    tiling: Annotated[bool, Form()] = False,
    whole_frame: Annotated[bool, Form()] = False,
    tile_columns: Annotated[str, Form(max_length=8)] = "",
    tile_rows: Annotated[str, Form(max_length=8)] = "",
    input_size: Annotated[str, Form(max_length=8)] = "",
    classes: Annotated[list[str] | None, Form(max_length=len(PIPELINE_NAMES))] = None,
    min_score: Annotated[str, Form(max_length=16)] = "",
    score_class: Annotated[list[str] | None, Form(max_length=len(PIPELINE_NAMES))] = None,
    score: Annotated[list[str] | None, Form(max_length=len(PIPELINE_NAMES))] = None,
    expected_updated_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Save the camera's own detector settings, or (`own` off) return it to the global ones; answers the
    panel as it now stands, or a flash saying what is wrong.
    """
    defaults = get_services(page.request).settings.analytics
    try:
        try:
            expected = dt.datetime.fromisoformat(expected_updated_at) if expected_updated_at else None
        except ValueError as exc:
            raise InvalidInput("the page's version of the settings is not a time: reload it") from exc
        if own:
            settings = _detection_from_form(
                tiling=tiling,
                whole_frame=whole_frame,
                tile_columns=tile_columns,
                tile_rows=tile_rows,
                input_size=input_size,
                classes=classes or [],
                min_score=min_score,
                score_class=score_class or [],
                score=score or [],
            )
            detection = analytics.set_detection(
                session=db,
                principal=page.principal,
                camera_id=camera_id,
                settings=settings,
                defaults=defaults,
                expected_updated_at=expected,
                expect_global=expected is None,  # the page showed the global settings
            )
            saved = "Saved: this camera's own settings apply within seconds."
        else:
            detection = analytics.reset_detection(
                session=db,
                principal=page.principal,
                camera_id=camera_id,
                defaults=defaults,
                expected_updated_at=expected,
            )
            saved = "Saved: this camera follows the global settings."
    except SafecityError as exc:
        return refuse(db, exc, page)  # a refused permission is audited, as in the API
    return render(page, "analytics/_detection.html", **_detection_context(page, detection, saved))


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


def _cursor(event: Event) -> str:
    """Where a page starts or ends: the event's time and id (the feed's order)."""
    return f"{event.occurred_at.isoformat()},{event.id}"


def _parse_cursor(value: str) -> tuple[dt.datetime, uuid.UUID] | None:
    """A cursor from a page link; anything unreadable means the newest page."""
    at, _, event_id = value.rpartition(",")
    try:
        moment, parsed_id = dt.datetime.fromisoformat(at), uuid.UUID(event_id)
    except ValueError:
        return None
    return (moment, parsed_id) if moment.tzinfo is not None else None


@dataclass(frozen=True)
class FeedPage:
    """One page of the feed, newest first, and the cursors of its neighbours (None at either end)."""

    events: list[Event]
    older: str | None
    newer: str | None


def _feed_page(db: Session, page: Page, before: str, after: str, **search: Any) -> FeedPage:
    """The page of events before or after a cursor (keyset on time and id), or the newest page."""
    older_than, newer_than = _parse_cursor(before), _parse_cursor(after)
    if newer_than is not None and older_than is None:
        found = events.search(
            session=db, principal=page.principal, after=newer_than, limit=PAGE_SIZE + 1, **search
        )
        if found:
            shown = found[-PAGE_SIZE:]
            more_newer = len(found) > PAGE_SIZE
            return FeedPage(shown, _cursor(shown[-1]), _cursor(shown[0]) if more_newer else None)
    found = events.search(
        session=db, principal=page.principal, before=older_than, limit=PAGE_SIZE + 1, **search
    )
    shown = found[:PAGE_SIZE]
    older = _cursor(shown[-1]) if len(found) > PAGE_SIZE else None
    return FeedPage(shown, older, _cursor(shown[0]) if older_than is not None and shown else None)


@router.get("/analytics/events", response_class=HTMLResponse)
def event_feed_page(
    request: Request,
    page: CurrentPage,
    db: Db,
    camera_id: uuid.UUID | None = None,
    kind: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
    before: Annotated[str, Query(max_length=100)] = "",
    after: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """Analytics events, newest first, 50 a page with thumbnails; on the newest page new ones arrive live
    when they match the filters."""
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
    feed = _feed_page(
        db,
        page,
        before,
        after,
        kind=exact,
        kind_prefix=prefix,
        camera_id=camera_id,
        since=since_at,
        until=until_at,
    )
    kept = {
        name: value
        for name, value in (
            ("camera_id", str(camera_id) if camera_id else ""),
            ("kind", kind),
            ("since", since),
            ("until", until),
        )
        if value
    }
    over_time = event_chart(
        db, page, camera_id=camera_id, kind=exact, kind_prefix=prefix, since=since_at, until=until_at
    )
    in_scope = (
        cameras.list_cameras(session=db, principal=page.principal) if page.principal.can(cameras.READ) else []
    )
    return render(
        page,
        "analytics/events.html",
        events=[event_row(e, page) for e in feed.events],
        feed=feed,
        kept=kept,
        newest_page=not (feed.newer or before),
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


# --- replaying the rules over recorded footage --------------------------------------------------------

MAX_REPLAY = dt.timedelta(minutes=5)  # of footage per replay: it runs the detector on every sampled frame


def _replay_view(page: Page, job: AnalyticsReplay) -> Response:
    """The replay's progress and events (an htmx fragment that polls itself while the replay runs)."""
    return render(
        page,
        "analytics/_replay.html",
        job=job,
        events=[
            {**e, "at_local": local_time(dt.datetime.fromisoformat(e["at"]), page.timezone)}
            for e in job.events
        ],
        counts=job.counts,
    )


@router.post("/cameras/{camera_id}/analytics/replay", response_class=HTMLResponse)
def replay_start(
    request: Request,
    page: CurrentPage,
    db: Db,
    camera_id: uuid.UUID,
    since: Annotated[str, Form(max_length=40)],
    until: Annotated[str, Form(max_length=40)],
) -> Response:
    """Replay the camera's rules over up to MAX_REPLAY of its recordings (audited as a playback)."""
    services = get_services(request)
    try:
        camera = recorder.camera_in_scope(
            session=db, principal=page.principal, camera_id=camera_id, permission=recorder.PLAYBACK_PERMISSION
        )
        analytics.list_rules(session=db, principal=page.principal, camera_id=camera.id)  # may see its rules
        try:
            start, end = _local(since, page), _local(until, page)
        except ValueError as exc:
            raise InvalidInput("a time is not a date and time") from exc
        if start is None or end is None:
            raise InvalidInput("choose the start and the end of the footage to replay")
        recorder.check_range(start, end, limit=MAX_REPLAY)
        rules = analytics.rules_for_camera(session=db, camera_id=camera.id)
        if not rules:
            raise InvalidInput("this camera has no enabled rules to replay", code="no_rules")
        rows = recorder.segments(session=db, camera_id=camera.id, since=start, until=end)
        files = [
            (f, row.start)
            for row in rows
            if (f := recorder.segment_file(services.settings.recordings_dir, row.path)) is not None
            and f.is_file()
        ]
        if not files:
            raise NotFound("no recordings of this camera in that time range")
        job = replays.start_job(
            session=db,
            camera_id=camera.id,
            user_id=page.principal.user_id,
            since=start.astimezone(dt.UTC),
            until=end.astimezone(dt.UTC),
        )
        info = CameraInfo(camera.id, camera.name, camera.district_id)
        defaults = services.settings.analytics
        detection = analytics.detection_configs(session=db, camera_ids={camera.id}, defaults=defaults)
    except SafecityError as exc:
        db.rollback()
        return flash(exc.message, ok=False)
    audit.record(
        session=db,
        action="video.playback",
        outcome="success",
        actor=page.principal,
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={"view": "analytics_replay", "since": job.since.isoformat(), "until": job.until.isoformat()},
    )
    db.commit()  # the row is there before its work writes to it
    work = replays.ReplayJob(job.id, job.since, job.until, rules, services.session_factory)
    work.start(
        functools.partial(
            replay_recordings,
            settings=services.settings,
            camera=info,
            segments=files,
            detection=detection[camera.id],
        )
    )
    return _replay_view(page, job)


def _job(db: Session, page: Page, camera_id: uuid.UUID, job_id: uuid.UUID) -> AnalyticsReplay:
    job = replays.get_job(session=db, job_id=job_id, user_id=page.principal.user_id)
    if job is None or job.camera_id != camera_id:
        raise NotFound("no such replay")
    return job


@router.get("/cameras/{camera_id}/analytics/replay/{job_id}", response_class=HTMLResponse)
def replay_status(page: CurrentPage, db: Db, camera_id: uuid.UUID, job_id: uuid.UUID) -> Response:
    """How far the replay has come and what fired so far (only for the user who started it)."""
    return _replay_view(page, _job(db, page, camera_id, job_id))


@router.post("/cameras/{camera_id}/analytics/replay/{job_id}/cancel", response_class=HTMLResponse)
def replay_cancel(page: CurrentPage, db: Db, camera_id: uuid.UUID, job_id: uuid.UUID) -> Response:
    """Stop the replay after the frame in hand."""
    job = _job(db, page, camera_id, job_id)
    replays.cancel_job(session=db, job=job)
    return _replay_view(page, job)
