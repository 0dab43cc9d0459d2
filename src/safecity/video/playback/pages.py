"""The playback page: a camera's day of recordings on a timeline, the player, clip export and locks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from safecity.audit import service as audit
from safecity.core.errors import InvalidInput, SafecityError
from safecity.core.schemas import IsoDateTime
from safecity.video import clips, recorder
from safecity.video.playback.views import clip_url, exports_dir
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, flash, htmx_action, local_time, render

router = APIRouter(include_in_schema=False)

DAY = 86_400
MIN_WIDTH = {"recorded": 300.0, "gap": 1.0}


def _local(value: str, page: CurrentPage) -> dt.datetime:
    """A `datetime-local` form value, read in the display time zone, as UTC."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"not a date and time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=page.timezone)
    return moment.astimezone(dt.UTC)


def _strip(spans: list[recorder.Span], since: dt.datetime, until: dt.datetime) -> list[dict[str, object]]:
    """Spans as rectangles of an SVG strip 86400 units wide (one per second of a 24-hour day)."""
    scale = DAY / (until - since).total_seconds()
    return [
        {
            "span": span,
            "x": round((span.start - since).total_seconds() * scale, 1),
            # Short recordings stay visible: at least a few pixels of a screen-wide strip.
            "width": round(max((span.end - span.start).total_seconds() * scale, MIN_WIDTH[span.kind]), 1),
        }
        for span in spans
    ]


@router.get("/cameras/{camera_id}/playback", response_class=HTMLResponse)
def playback_page(
    camera_id: uuid.UUID,
    page: CurrentPage,
    db: Db,
    day: dt.date | None = None,
    at: IsoDateTime | None = None,
) -> Response:
    """A camera's recordings of one day (local time): timeline, player and clip export.

    `at` (e.g. an alert's time) opens its day and starts playing from that moment.
    """
    camera = recorder.camera_in_scope(
        session=db, principal=page.principal, camera_id=camera_id, permission=recorder.PLAYBACK_PERMISSION
    )
    day = day or (at.astimezone(page.timezone).date() if at else dt.datetime.now(page.timezone).date())
    since = dt.datetime.combine(day, dt.time(), tzinfo=page.timezone).astimezone(dt.UTC)
    until = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=page.timezone).astimezone(
        dt.UTC
    )
    spans = recorder.timeline(
        session=db, principal=page.principal, camera_id=camera_id, since=since, until=until
    )
    audit.record(
        session=db,
        action="video.playback",
        outcome="success",
        actor=page.principal,
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={"day": day.isoformat(), "view": "timeline"},
    )
    return render(
        page,
        "video/playback.html",
        camera=camera,
        day=day,
        previous_day=day - dt.timedelta(days=1),
        next_day=day + dt.timedelta(days=1),
        since=since,
        until=until,
        spans=spans,
        strip=_strip(spans, since, until),
        recorded=[s for s in spans if s.kind == "recorded"],
        hours=[(h, round(h * 3600 * DAY / (until - since).total_seconds())) for h in range(0, 25, 3)],
        can_export=page.principal.can(recorder.EXPORT_PERMISSION),
        timezone=str(page.timezone),
        at=at.astimezone(dt.UTC).isoformat() if at else "",
    )


@router.post("/cameras/{camera_id}/playback/clips", response_class=HTMLResponse)
def export_submit(
    camera_id: uuid.UUID,
    page: CurrentPage,
    db: Db,
    request: Request,
    t0: Annotated[str, Form(max_length=40)],
    t1: Annotated[str, Form(max_length=40)],
) -> Response:
    """Export a clip from the page; answers with its SHA-256 and download link."""
    settings = get_services(request).settings
    try:
        clip = clips.export_clip(
            session=db,
            principal=page.principal,
            camera_id=camera_id,
            t0=_local(t0, page),
            t1=_local(t1, page),
            out_dir=exports_dir(settings),
            recordings_dir=settings.recordings_dir,
        )
    except SafecityError as exc:
        db.rollback()
        return flash(exc.message, ok=False)
    message = Markup(
        'Clip exported: {} to {}. <a href="{}" download data-testid="clip-download">Download</a> '
        'SHA-256 <code data-testid="clip-sha256">{}</code>'
    ).format(
        local_time(clip.start, page.timezone),
        local_time(clip.end, page.timezone),
        clip_url(clip.id),
        clip.sha256,
    )
    return flash(message)


@router.post("/cameras/{camera_id}/playback/lock")
def lock_submit(
    camera_id: uuid.UUID,
    page: CurrentPage,
    db: Db,
    since: Annotated[str, Form(max_length=40)],
    until: Annotated[str, Form(max_length=40)],
    reason: Annotated[str, Form(max_length=500)],
    action: Annotated[Literal["lock", "unlock"], Form()] = "lock",
) -> Response:
    """Lock (or release) recordings as evidence from the page, then show the day again."""
    change = recorder.lock if action == "lock" else recorder.unlock

    def run() -> None:
        change(
            session=db,
            principal=page.principal,
            camera_id=camera_id,
            since=_local(since, page),
            until=_local(until, page),
            reason=reason,
        )

    try:
        day = f"?day={_local(since, page).astimezone(page.timezone).date()}"
    except InvalidInput:
        day = ""  # run() reports the bad value
    return htmx_action(db, run, f"/cameras/{camera_id}/playback{day}")
