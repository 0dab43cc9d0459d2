"""Video on the camera page: live view, instant replay, a timeline with event markers, export and locks.

The camera page itself is served by the camera registry (`safecity.cameras.pages`), which asks
`camera_view` for the video part; the old /cameras/{id}/playback address sends people there.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.cameras import access
from safecity.cameras.models import Camera
from safecity.core.errors import InvalidInput, SafecityError
from safecity.core.schemas import IsoDateTime
from safecity.video import clips, live, recorder
from safecity.video.playback.views import clip_url, exports_dir
from safecity.video.status import CameraStatus, scoped_statuses
from safecity.video.views import supervisor_of
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, Page, flash, htmx_action, local_time, render

router = APIRouter(include_in_schema=False)

DAY = 86_400
PICKER_LIMIT = 200


def statuses_of(page: Page, db: Session, camera_ids: list[uuid.UUID]) -> dict[uuid.UUID, CameraStatus]:
    """The live status (online, offline, stopped) of these cameras, by id."""
    if not camera_ids or not page.principal.can("cameras.read"):
        return {}
    supervisor = supervisor_of(get_services(page.request))
    found = scoped_statuses(
        session=db,
        principal=page.principal,
        live=supervisor.statuses() if supervisor is not None else {},
        camera_ids=camera_ids,
    )
    return {s.camera_id: s for s in found}


def _local(value: str, page: Page) -> dt.datetime:
    """A `datetime-local` form value, read in the display time zone, as UTC."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"not a date and time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=page.timezone)
    return moment.astimezone(dt.UTC)


KINDS = (live.LIVE_PERMISSION, recorder.PLAYBACK_PERMISSION)  # the two kinds of video a camera page shows
ZOOMS = {"day": DAY, "hour": 3600, "10min": 600, "minute": 60}


def camera_view(
    page: Page,
    db: Session,
    camera: Camera,
    *,
    at: dt.datetime | None = None,
    day: dt.date | None = None,
) -> dict[str, Any]:
    """What the camera page needs for its live view, instant replay, timeline and export.

    `at` opens playback at that moment (an hour of timeline around it); `day` shows that local day;
    otherwise the last hour, live. Looking at the timeline is audited, as every playback is.
    """

    def may(permission: str) -> bool:  # an on-request camera: only under a current grant
        return page.principal.can(permission) and bool(
            access.viewable(session=db, principal=page.principal, cameras=[camera], permission=permission)
        )

    can_live, can_playback = may(live.LIVE_PERMISSION), may(recorder.PLAYBACK_PERMISSION)
    now = dt.datetime.now(dt.UTC)
    if at is not None:
        zoom, since = "hour", at.astimezone(dt.UTC) - dt.timedelta(minutes=30)
    elif day is not None:
        zoom = "day"
        since = dt.datetime.combine(day, dt.time(), tzinfo=page.timezone).astimezone(dt.UTC)
    else:
        zoom, since = "hour", now - dt.timedelta(minutes=55)
    if can_playback:
        audit.record(
            session=db,
            action="video.playback",
            outcome="success",
            actor=page.principal,
            object_type="camera",
            object_id=str(camera.id),
            district_id=camera.district_id,
            detail={"view": "camera page", "at": at.isoformat() if at else None},
        )
    return {
        "can_live": can_live,
        "can_playback": can_playback,
        "can_export": can_playback and page.principal.can(recorder.EXPORT_PERMISSION),
        # Shared on request and no grant for one kind of video or both: the page says where to ask.
        "request_access": access.request_needed(camera)
        and any(page.principal.can(p) and not may(p) for p in KINDS),
        "timezone": str(page.timezone),
        "at": at.astimezone(dt.UTC).isoformat() if at else "",
        "since": since.isoformat(),
        "zoom": zoom,
        "zooms": ZOOMS,
    }


@router.get("/cameras/{camera_id}/playback")
def playback_page(
    camera_id: uuid.UUID,
    page: CurrentPage,
    db: Db,
    day: dt.date | None = None,
    at: IsoDateTime | None = None,
) -> Response:
    """The old playback address: playback now lives on the camera page, at the same moment."""
    recorder.camera_in_scope(
        session=db, principal=page.principal, camera_id=camera_id, permission=recorder.PLAYBACK_PERMISSION
    )
    query = urlencode({k: v for k, v in {"at": at.isoformat() if at else "", "day": day or ""}.items() if v})
    return RedirectResponse(f"/cameras/{camera_id}{'?' + query if query else ''}#playback", status_code=303)


@router.get("/playback", response_class=HTMLResponse)
def playback_picker(page: CurrentPage, db: Db, q: str = "", at: str = "") -> Response:
    """Pick a camera of one's districts (by name, tag or site) to play back, optionally at a moment."""
    page.principal.require(recorder.PLAYBACK_PERMISSION)
    query = " ".join(q.split())[:120]
    found = recorder.playable_cameras(session=db, principal=page.principal, search=query or None)
    moment = ""
    if at:
        try:
            moment = _local(at[:40], page).isoformat()
        except InvalidInput:
            moment = ""
    return render(
        page,
        "video/picker.html",
        cameras=found[:PICKER_LIMIT],
        more=max(0, len(found) - PICKER_LIMIT),
        q=query,
        at_local=at[:40] if moment else "",
        at=moment,
        statuses=statuses_of(page, db, [c.id for c in found[:PICKER_LIMIT]]),
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
        at = "?" + urlencode({"at": _local(since, page).isoformat()})
    except InvalidInput:
        at = ""  # run() reports the bad value
    return htmx_action(db, run, f"/cameras/{camera_id}{at}#playback")
