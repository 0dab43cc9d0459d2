"""REST API of incidents (/api/v1/incidents): log, list, read, move through the lifecycle, link, attach."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.events.views import add_stream
from safecity.incidents import flows, service
from safecity.incidents.feed import IncidentFeed
from safecity.incidents.models import Category, Status
from safecity.incidents.schemas import (
    AttachmentIn,
    AttachmentOut,
    EscalateIn,
    IncidentDetailOut,
    IncidentIn,
    IncidentOut,
    LinkIn,
    LinkOut,
    NoteIn,
    PriorityIn,
    SopItemOut,
    SopTickIn,
    StatusIn,
    TimelineOut,
)
from safecity.runtime import Services
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["incidents"])


def _incident_feed(services: Services) -> IncidentFeed:
    if services.incident_feed is None:  # every process built by build_services has one
        raise RuntimeError("this process has no incident feed")
    return services.incident_feed


add_stream(
    router,
    "/incidents/stream",
    feed=_incident_feed,
    permission=service.READ,
    what="Changes of incidents (`event: incident`, IncidentChange JSON: reload what shows the incident)",
)


def _root(request: Request) -> Path:
    return service.attachments_root(get_services(request).settings.data_dir)


@router.get("/incidents", response_model=list[IncidentOut])
def list_incidents(
    principal: CurrentPrincipal,
    db: Db,
    status: Status | None = None,
    category: Category | None = None,
    district_id: uuid.UUID | None = None,
    priority: Annotated[int | None, Query(ge=1, le=4)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 100,
) -> list[IncidentOut]:
    """Incidents within the caller's districts, most urgent first, then newest."""
    found = service.list_incidents(
        session=db,
        principal=principal,
        status=status,
        category=category,
        district_id=district_id,
        priority=priority,
        limit=limit,
    )
    return [IncidentOut.model_validate(i) for i in found]


@router.post("/incidents", response_model=IncidentDetailOut, status_code=201)
def create_incident(principal: CurrentPrincipal, db: Db, data: IncidentIn) -> IncidentDetailOut:
    """Log an incident (caller, phone, location, category, priority); it starts with its category's SOPs."""
    incident = service.create_incident(session=db, principal=principal, data=data)
    return IncidentDetailOut.model_validate(incident)


@router.get("/incidents/{incident_id}", response_model=IncidentDetailOut)
def get_incident(principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID) -> IncidentDetailOut:
    """One incident with caller, timeline, SOP checklist and links; the read is audited."""
    incident = service.read_incident(session=db, principal=principal, incident_id=incident_id)
    return IncidentDetailOut.model_validate(incident)


@router.post("/incidents/{incident_id}/status", response_model=IncidentOut)
def change_status(principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID, data: StatusIn) -> IncidentOut:
    """Move the incident's status with a reason; 409 on a move not allowed or a stale version.

    Resolving or closing with SOP steps not done needs `open_steps_reason` (422 without); the units still
    working the incident are freed (available again).
    """
    incident = flows.change_status(
        session=db,
        principal=principal,
        incident_id=incident_id,
        status=data.status,
        reason=data.reason,
        version=data.version,
        open_steps_reason=data.open_steps_reason,
    )
    return IncidentOut.model_validate(incident)


@router.post("/incidents/{incident_id}/priority", response_model=IncidentOut)
def change_priority(
    principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID, data: PriorityIn
) -> IncidentOut:
    """Set the priority (1 = highest … 4) with a reason; 409 on a stale version."""
    incident = service.change_priority(
        session=db,
        principal=principal,
        incident_id=incident_id,
        priority=data.priority,
        reason=data.reason,
        version=data.version,
    )
    return IncidentOut.model_validate(incident)


@router.post("/incidents/{incident_id}/notes", response_model=TimelineOut, status_code=201)
def add_note(principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID, data: NoteIn) -> TimelineOut:
    """Add a note to the incident's timeline."""
    event = service.add_note(session=db, principal=principal, incident_id=incident_id, text=data.text)
    return TimelineOut.model_validate(event)


@router.post("/incidents/{incident_id}/sop/{item_id}", response_model=SopItemOut)
def tick_sop(
    principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID, item_id: uuid.UUID, data: SopTickIn
) -> SopItemOut:
    """Tick or untick an SOP step; recorded on the timeline."""
    item = service.tick_sop(
        session=db, principal=principal, incident_id=incident_id, item_id=item_id, done=data.done
    )
    return SopItemOut.model_validate(item)


@router.post("/incidents/{incident_id}/links", response_model=LinkOut, status_code=201)
def add_link(principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID, data: LinkIn) -> LinkOut:
    """Link a camera or an alert to the incident."""
    link = service.link(
        session=db, principal=principal, incident_id=incident_id, kind=data.kind, ref_id=data.ref_id
    )
    return LinkOut.model_validate(link)


@router.post("/incidents/{incident_id}/attachments", response_model=LinkOut, status_code=201)
def attach(
    request: Request, principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID, data: AttachmentIn
) -> LinkOut:
    """Attach a file (≤ 10 MB, base64 in JSON); stored with its SHA-256."""
    link = service.attach_file(
        session=db,
        principal=principal,
        incident_id=incident_id,
        file_name=data.file_name,
        content_type=data.content_type,
        data=service.decode_base64(data.data_base64),
        root=_root(request),
    )
    return LinkOut.model_validate(link)


@router.get("/incidents/{incident_id}/attachments/{link_id}", response_model=AttachmentOut)
def download(
    request: Request, principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID, link_id: uuid.UUID
) -> AttachmentOut:
    """An attached file, base64 in JSON, checked against its SHA-256; the download is audited."""
    link, data = service.read_attachment(
        session=db, principal=principal, incident_id=incident_id, link_id=link_id, root=_root(request)
    )
    return AttachmentOut(
        file_name=link.file_name or "file",
        content_type=link.content_type or "application/octet-stream",
        sha256=link.sha256 or "",
        data_base64=base64.b64encode(data).decode("ascii"),
    )


@router.post("/alerts/{alert_id}/escalate", response_model=IncidentDetailOut, status_code=201)
def escalate(principal: CurrentPrincipal, db: Db, alert_id: uuid.UUID, data: EscalateIn) -> IncidentDetailOut:
    """Open an incident from an alert: linked to the alert and its camera; the alert is acknowledged."""
    incident = service.escalate_alert(
        session=db,
        principal=principal,
        alert_id=alert_id,
        category=data.category,
        priority=data.priority,
        title=data.title,
    )
    return IncidentDetailOut.model_validate(incident)
