"""Recorded video on the web: the timeline, HLS playback, evidence locks and clip export (API and pages)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import Markup
from pydantic import AwareDatetime, Field

from safecity.audit import service as audit
from safecity.config import Settings
from safecity.core.errors import InvalidInput, SafecityError
from safecity.core.schemas import InModel, IsoDateTime, OutModel
from safecity.video import clips, recorder
from safecity.web.deps import CurrentPrincipal, Db, get_services
from safecity.web.pages import CurrentPage, flash, htmx_action, local_time, render

router = APIRouter(prefix="/api/v1", tags=["recordings"])
page_router = APIRouter(include_in_schema=False)

HLS_TYPE = "application/vnd.apple.mpegurl"
# Police video is never kept by browsers or proxies. Chromium's cache also breaks byte-range replays:
# hls.js fetches a segment's init section and media as two ranges of one URL at once, and replaying
# segments partly cached that way gave a truncated media range (the rest never read from the cache),
# which left the player failing with bufferAppendError.
NO_STORE = {"Cache-Control": "no-store"}


def exports_dir(settings: Settings) -> Path:
    """Where exported clips are kept."""
    return settings.data_dir / "exports"


def segment_url(recording_id: uuid.UUID) -> str:
    """The URL of a recorded segment (the whole fMP4 file; HLS fetches its parts by byte range)."""
    return f"/api/v1/recordings/{recording_id}/segment.mp4"


def clip_url(clip_id: uuid.UUID) -> str:
    """The download URL of an exported clip."""
    return f"/api/v1/clips/{clip_id}"


class SpanOut(OutModel):
    kind: Literal["recorded", "gap"]
    start: dt.datetime
    end: dt.datetime
    locked: bool


class ClipIn(InModel):
    t0: AwareDatetime
    t1: AwareDatetime


class ClipOut(OutModel):
    id: uuid.UUID
    camera_id: uuid.UUID
    start: dt.datetime
    end: dt.datetime
    bytes: int
    sha256: str
    download_url: str


class LockIn(InModel):
    since: AwareDatetime
    until: AwareDatetime
    reason: str = Field(min_length=3, max_length=500)


class LockOut(OutModel):
    segments: int


@router.get("/cameras/{camera_id}/timeline", response_model=list[SpanOut])
def get_timeline(
    camera_id: uuid.UUID, since: IsoDateTime, until: IsoDateTime, principal: CurrentPrincipal, db: Db
) -> list[SpanOut]:
    """Recorded spans and gaps of a camera over [since, until)."""
    spans = recorder.timeline(session=db, principal=principal, camera_id=camera_id, since=since, until=until)
    return [SpanOut.model_validate(span) for span in spans]


@router.get("/cameras/{camera_id}/playback.m3u8", response_class=Response)
def get_playlist(
    camera_id: uuid.UUID, since: IsoDateTime, until: IsoDateTime, principal: CurrentPrincipal, db: Db
) -> Response:
    """An HLS playlist of a camera's recordings over [since, until), for hls.js (audited)."""
    text = clips.playlist(
        session=db,
        principal=principal,
        camera_id=camera_id,
        since=since,
        until=until,
        segment_url=segment_url,
    )
    return Response(text, media_type=HLS_TYPE, headers=NO_STORE)


@router.get("/recordings/{recording_id}/segment.mp4", response_class=FileResponse)
def get_segment(recording_id: uuid.UUID, request: Request, principal: CurrentPrincipal, db: Db) -> Response:
    """One recorded segment as stored (byte ranges allowed); its SHA-256 is in X-Content-SHA256."""
    recording, file = clips.recording_file(
        session=db,
        principal=principal,
        recording_id=recording_id,
        recordings_dir=get_services(request).settings.recordings_dir,
    )
    return FileResponse(
        file,
        media_type="video/mp4",
        headers={"X-Content-SHA256": recording.sha256, **NO_STORE},
    )


@router.post("/cameras/{camera_id}/clips", response_model=ClipOut, status_code=201)
def post_clip(
    camera_id: uuid.UUID, body: ClipIn, request: Request, principal: CurrentPrincipal, db: Db
) -> ClipOut:
    """Export [t0, t1) of a camera as one MP4 clip (audited); download it from `download_url`."""
    settings = get_services(request).settings
    clip = clips.export_clip(
        session=db,
        principal=principal,
        camera_id=camera_id,
        t0=body.t0,
        t1=body.t1,
        out_dir=exports_dir(settings),
        recordings_dir=settings.recordings_dir,
    )
    return ClipOut(
        id=clip.id,
        camera_id=camera_id,
        start=clip.start,
        end=clip.end,
        bytes=clip.bytes,
        sha256=clip.sha256,
        download_url=clip_url(clip.id),
    )


@router.get("/clips/{clip_id}", response_class=FileResponse)
def get_clip(clip_id: uuid.UUID, request: Request, principal: CurrentPrincipal, db: Db) -> Response:
    """Download an exported clip (audited); its SHA-256 is in X-Content-SHA256."""
    clip, file = clips.clip_file(
        session=db,
        principal=principal,
        clip_id=clip_id,
        exports_dir=exports_dir(get_services(request).settings),
    )
    name = f"camera-{clip.camera_id}-{clip.start:%Y%m%dT%H%M%SZ}.mp4"
    return FileResponse(
        file, media_type="video/mp4", filename=name, headers={"X-Content-SHA256": clip.sha256, **NO_STORE}
    )


@router.post("/cameras/{camera_id}/recordings/lock", response_model=LockOut)
def post_lock(camera_id: uuid.UUID, body: LockIn, principal: CurrentPrincipal, db: Db) -> LockOut:
    """Lock a camera's recordings in [since, until) as evidence: retention never deletes them."""
    count = recorder.lock(
        session=db,
        principal=principal,
        camera_id=camera_id,
        since=body.since,
        until=body.until,
        reason=body.reason,
    )
    return LockOut(segments=count)


@router.post("/cameras/{camera_id}/recordings/unlock", response_model=LockOut)
def post_unlock(camera_id: uuid.UUID, body: LockIn, principal: CurrentPrincipal, db: Db) -> LockOut:
    """Release the evidence lock of a camera's recordings in [since, until)."""
    count = recorder.unlock(
        session=db,
        principal=principal,
        camera_id=camera_id,
        since=body.since,
        until=body.until,
        reason=body.reason,
    )
    return LockOut(segments=count)


# --- pages ----------------------------------------------------------------------------------------

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


@page_router.get("/cameras/{camera_id}/playback", response_class=HTMLResponse)
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


@page_router.post("/cameras/{camera_id}/playback/clips", response_class=HTMLResponse)
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


@page_router.post("/cameras/{camera_id}/playback/lock")
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
