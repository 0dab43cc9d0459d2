"""The control room's incident pages: the operator console, the list, the call-taker's form, one incident."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.auth.models import UserRole
from safecity.cameras import access
from safecity.cameras import service as cameras
from safecity.cameras.models import Camera
from safecity.core.db import utcnow
from safecity.core.errors import NotFound, SafecityError
from safecity.events.alerts import pages as alerts_pages
from safecity.events.alerts import service as alerts
from safecity.incidents import flows, service
from safecity.incidents.models import TRANSITIONS, Category, Incident, IncidentLink, LinkKind, Status
from safecity.incidents.schemas import MAX_ATTACHMENT_BYTES
from safecity.incidents.sharing import service as sharing
from safecity.org.models import District
from safecity.web.deps import Db, get_services
from safecity.web.i18n import N_
from safecity.web.pages import TEMPLATES, CurrentPage, Page, flash, htmx_action, local_time, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 200
PRIORITY_NAMES = {1: N_("P1 critical"), 2: N_("P2 high"), 3: N_("P3 medium"), 4: N_("P4 low")}
# service.CATEGORY_LABELS, for the translators (the pages show `_(label)`; tests/web/test_i18n.py checks).
CATEGORY_NAMES = (
    N_("Street crime"),
    N_("Vehicle theft"),
    N_("Terrorism threat"),
    N_("Traffic accident"),
    N_("Fire"),
    N_("Medical"),
    N_("Women's safety"),
    N_("Other"),
)
# Shown as `_(value)` on the incident page: the timeline's kinds, where an incident came from, link kinds.
TIMELINE_NAMES = (
    N_("created"),
    N_("dispatch"),
    N_("link"),
    N_("note"),
    N_("panic"),
    N_("position"),
    N_("priority"),
    N_("share"),
    N_("sop"),
    N_("status"),
    N_("call"),
    N_("alert"),
    N_("api"),
    N_("camera"),
    N_("attachment"),
)
Filter = Literal["open", "all", "new", "dispatched", "on_scene", "resolved", "closed"]


@router.get("/console", response_class=HTMLResponse)
def console_page(page: CurrentPage, db: Db, alert: uuid.UUID | None = None) -> Response:
    """The operator console: the ranked alert queue, the selected alert, the map; `?alert=` selects one."""
    page.principal.require(alerts.READ)
    settings = get_services(page.request).settings
    prefs = alerts.get_preferences(
        session=db, principal=page.principal, defaults=list(settings.alerts.attention_severities)
    )
    return render(
        page,
        "incidents/console.html",
        **alerts_pages.feed_context(page, db, "new", order="queue"),
        selected_id=str(alert) if alert else "",
        prefs=prefs,
        my_roles=_roles_of(db, page.principal.user_id),
        escalate_after=settings.alerts.escalate_after_s,
        escalate_to=settings.alerts.escalate_to_role,
    )


@router.get("/console/alerts/{alert_id}", response_class=HTMLResponse)
def console_alert(page: CurrentPage, db: Db, alert_id: uuid.UUID) -> Response:
    """One alert as the console's detail pane (and the pop-out video window) shows it: a fragment."""
    found = alerts.get_alert(session=db, principal=page.principal, alert_id=alert_id)
    incident = None
    if page.principal.can("incidents.read"):
        incident = db.execute(
            select(Incident.id, Incident.number)
            .join(IncidentLink, IncidentLink.incident_id == Incident.id)
            .where(IncidentLink.kind == LinkKind.ALERT, IncidentLink.ref_id == found.id)
            .order_by(Incident.created_at)
        ).first()
    at = found.first_raised_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return TEMPLATES.TemplateResponse(
        page.request,
        "incidents/_console_alert.html",
        {
            "a": found,
            "incident": incident,
            "camera_href": f"/cameras/{found.camera_id}?{urlencode({'at': at})}" if found.camera_id else "",
            "severity_names": alerts_pages.SEVERITY_NAMES,
            "localtime": lambda value: local_time(value, page.timezone),
            "can_handle": page.principal.can(alerts.HANDLE),
            "can_escalate": page.principal.can(service.MANAGE),
            "can_watch": page.principal.can("video.live"),
            "can_read_records": page.principal.can("records.read"),
            "can_read_faces": page.principal.can("faces.read"),
            "categories": [c.value for c in Category],
            "category_labels": {c.value: label for c, label in service.CATEGORY_LABELS.items()},
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/console/video", response_class=HTMLResponse)
def console_video_page(page: CurrentPage) -> Response:
    """The console's second screen: the selected alert's video, following the console's selection."""
    page.principal.require(alerts.READ)
    return render(page, "incidents/console_video.html")


def _roles_of(db: Session, user_id: uuid.UUID | None) -> list[str]:
    if user_id is None:
        return []
    return list(db.scalars(select(UserRole.role_name).where(UserRole.user_id == user_id)))


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(
    page: CurrentPage,
    db: Db,
    status: Filter = "open",
    category: Category | None = None,
    priority: int | None = None,
) -> Response:
    found = service.list_incidents(
        session=db,
        principal=page.principal,
        status=None if status in ("open", "all") else Status(status),
        open_only=status == "open",
        category=category,
        priority=priority if priority in PRIORITY_NAMES else None,
        limit=PAGE_SIZE,
    )
    targets = get_services(page.request).settings.dispatch.dispatch_targets_s
    now = utcnow()
    return render(
        page,
        "incidents/list.html",
        incidents=found,
        overdue={i.id: s for i in found if (s := service.waiting_overdue(i, targets, now)) is not None},
        targets=targets,
        status=status,
        category=category,
        priority=priority,
        categories=service.CATEGORY_LABELS,
        priorities=PRIORITY_NAMES,
        can_manage=page.principal.can(service.MANAGE),
    )


@router.get("/incidents/new", response_class=HTMLResponse)
def new_incident_page(page: CurrentPage, db: Db) -> Response:
    page.principal.require(service.MANAGE)
    query = select(District).where(page.principal.district_filter(District.id)).order_by(District.name)
    districts = list(db.scalars(query))
    return render(
        page,
        "incidents/new.html",
        districts=districts,
        categories=service.CATEGORY_LABELS,
        priorities=PRIORITY_NAMES,
    )


@router.post("/incidents/new")
def new_incident_submit(
    page: CurrentPage,
    db: Db,
    category: Annotated[str, Form()],
    priority: Annotated[int, Form(ge=1, le=4)] = 3,
    district_id: Annotated[str, Form()] = "",
    caller_name: Annotated[str, Form(max_length=120)] = "",
    caller_phone: Annotated[str, Form(max_length=32)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    latitude: Annotated[str, Form(max_length=32)] = "",
    longitude: Annotated[str, Form(max_length=32)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    try:
        data = service.validate_incident(
            category=category,
            priority=priority,
            district_id=district_id or None,
            caller_name=caller_name or None,
            caller_phone=caller_phone or None,
            address=address or None,
            latitude=latitude or None,
            longitude=longitude or None,
            description=description,
        )
        incident = service.create_incident(session=db, principal=page.principal, data=data)
    except SafecityError as exc:
        db.rollback()
        return flash(exc.message, ok=False)
    return Response(status_code=204, headers={"HX-Redirect": f"/incidents/{incident.id}"})


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(
    page: CurrentPage, db: Db, incident_id: uuid.UUID, part: Literal["live"] | None = None
) -> Response:
    """One incident. `part=live` is the page's own refresh after a change: the parts that change (status,
    SOP steps, timeline, forms) without the caller's particulars, so it is not another audited read."""
    # The live feed's position is read before the incident: a change committed after this reaches the page.
    feed = get_services(page.request).incident_feed
    position = feed.position if feed is not None else ""
    refresh = part == "live"
    try:
        incident = (service.get_incident if refresh else service.read_incident)(
            session=db, principal=page.principal, incident_id=incident_id
        )
        in_scope = True
    except NotFound:  # another district's incident may have been shared with the reader's agency
        incident = sharing.read_shared(session=db, principal=page.principal, incident_id=incident_id)
        in_scope = False
    points = []
    nearby: list[tuple[Camera, float]] = []
    if incident.latitude is not None and incident.longitude is not None:
        points.append(
            {"lat": incident.latitude, "lon": incident.longitude, "name": incident.number, "kind": "incident"}
        )
        nearby = _cameras_near(page, db, incident)
        points += [
            {
                "lat": c.latitude,
                "lon": c.longitude,
                "name": c.name,
                "kind": "camera",
                "href": _watch(incident, c.id),
            }
            for c, _ in nearby
        ]
    return render(
        page,
        "incidents/detail.html",
        incident=incident,
        next_statuses=sorted(TRANSITIONS[incident.status], key=list(Status).index),
        categories=service.CATEGORY_LABELS,
        priorities=PRIORITY_NAMES,
        points=points,
        can_manage=in_scope and page.principal.can(service.MANAGE),
        attachment=LinkKind.ATTACHMENT,
        max_mb=MAX_ATTACHMENT_BYTES // (1024 * 1024),
        open_steps=service.open_steps(incident),
        overdue_s=service.waiting_overdue(
            incident, get_services(page.request).settings.dispatch.dispatch_targets_s, utcnow()
        ),
        target_s=get_services(page.request).settings.dispatch.dispatch_targets_s.get(incident.priority),
        position=position,
        refresh=refresh,
        closing=[s.value for s in service.CLOSING],
        nearby=[(c, round(metres)) for c, metres in nearby],
        watch=lambda camera_id: _watch(incident, camera_id),
    )


def _cameras_near(page: Page, db: Db, incident: Incident) -> list[tuple[Camera, float]]:
    """The cameras to pull up around the scene, for those who may watch them (recordings first: the moment
    of the call is what they will want)."""
    kind = next((p for p in (access.PLAYBACK, access.LIVE) if page.principal.can(p)), None)
    if kind is None or incident.latitude is None or incident.longitude is None:
        return []
    return cameras.nearby(
        session=db,
        principal=page.principal,
        latitude=incident.latitude,
        longitude=incident.longitude,
        permission=kind,
    )


def _watch(incident: Incident, camera_id: uuid.UUID) -> str:
    """A camera's page, playing from a minute before the incident was opened."""
    at = (incident.created_at - dt.timedelta(minutes=1)).astimezone(dt.UTC).isoformat()
    return f"/cameras/{camera_id}?{urlencode({'at': at})}#playback"


def _here(incident_id: uuid.UUID) -> str:
    return f"/incidents/{incident_id}"


@router.post("/incidents/{incident_id}/status")
def status_submit(
    page: CurrentPage,
    db: Db,
    incident_id: uuid.UUID,
    status: Annotated[Status, Form()],
    reason: Annotated[str, Form(max_length=500)],
    version: Annotated[int, Form()],
    open_steps_reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return htmx_action(
        db,
        lambda: flows.change_status(
            session=db,
            principal=page.principal,
            incident_id=incident_id,
            status=status,
            reason=reason,
            version=version,
            open_steps_reason=open_steps_reason,
        ),
        _here(incident_id),
    )


@router.post("/incidents/{incident_id}/priority")
def priority_submit(
    page: CurrentPage,
    db: Db,
    incident_id: uuid.UUID,
    priority: Annotated[int, Form(ge=1, le=4)],
    reason: Annotated[str, Form(max_length=500)],
    version: Annotated[int, Form()],
) -> Response:
    return htmx_action(
        db,
        lambda: service.change_priority(
            session=db,
            principal=page.principal,
            incident_id=incident_id,
            priority=priority,
            reason=reason,
            version=version,
        ),
        _here(incident_id),
    )


@router.post("/incidents/{incident_id}/notes")
def note_submit(
    page: CurrentPage, db: Db, incident_id: uuid.UUID, text: Annotated[str, Form(max_length=5000)]
) -> Response:
    return htmx_action(
        db,
        lambda: service.add_note(session=db, principal=page.principal, incident_id=incident_id, text=text),
        _here(incident_id),
    )


@router.post("/incidents/{incident_id}/sop/{item_id}")
def sop_submit(
    page: CurrentPage,
    db: Db,
    incident_id: uuid.UUID,
    item_id: uuid.UUID,
    done: Annotated[bool, Form()] = False,
) -> Response:
    return htmx_action(
        db,
        lambda: service.tick_sop(
            session=db, principal=page.principal, incident_id=incident_id, item_id=item_id, done=done
        ),
        _here(incident_id),
    )


@router.post("/incidents/{incident_id}/attachments")
def attachment_submit(page: CurrentPage, db: Db, incident_id: uuid.UUID, file: UploadFile) -> Response:
    # Read one byte past the limit, so an oversized file is refused without reading all of it.
    data = file.file.read(MAX_ATTACHMENT_BYTES + 1)
    return htmx_action(
        db,
        lambda: service.attach_file(
            session=db,
            principal=page.principal,
            incident_id=incident_id,
            file_name=file.filename or "file",
            content_type=file.content_type or "application/octet-stream",
            data=data,
            root=service.attachments_root(get_services(page.request).settings.data_dir),
        ),
        _here(incident_id),
    )


@router.get("/incidents/{incident_id}/attachments/{link_id}")
def attachment_download(page: CurrentPage, db: Db, incident_id: uuid.UUID, link_id: uuid.UUID) -> Response:
    link, data = service.read_attachment(
        session=db,
        principal=page.principal,
        incident_id=incident_id,
        link_id=link_id,
        root=service.attachments_root(get_services(page.request).settings.data_dir),
    )
    # Always a download, never shown inline: an uploaded HTML file must not run in our origin.
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{link.file_name}"'},
    )
