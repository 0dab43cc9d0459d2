"""REST API of face-match leads (/api/v1/faces/matches): list, read, the faces side by side, decide, open."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import Response

from safecity.core.errors import NotFound
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert
from safecity.events.alerts.schemas import AlertOut
from safecity.faces import service as faces
from safecity.faces.matches import flows, service
from safecity.faces.matches.models import MatchStatus
from safecity.faces.matches.schemas import DecisionIn, MatchDetailOut, MatchOut, OpenIncidentIn, ReasonOut
from safecity.incidents.schemas import IncidentDetailOut
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/faces/matches", tags=["faces"])
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}, "description": "the face"}}
PRIVATE = {"Cache-Control": "no-store"}  # biometric pictures are never cached


@router.get("", response_model=list[MatchOut])
def list_matches(
    principal: CurrentPrincipal,
    db: Db,
    status: MatchStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 100,
) -> list[MatchOut]:
    """Leads in the caller's districts (faces.read), pending first."""
    found = service.list_matches(session=db, principal=principal, status=status, limit=limit)
    return [MatchOut.model_validate(m) for m in found]


@router.get("/reasons", response_model=list[ReasonOut])
def reasons(principal: CurrentPrincipal) -> list[ReasonOut]:
    """The reason codes for rejecting a lead."""
    principal.require(service.READ)
    return service.reason_list()


@router.get("/{match_id}", response_model=MatchDetailOut)
def get_match(principal: CurrentPrincipal, db: Db, match_id: uuid.UUID) -> MatchDetailOut:
    """One lead with the decisions taken on it (the read is audited)."""
    return service.view_match(session=db, principal=principal, match_id=match_id)


@router.get("/{match_id}/face.jpg", response_class=Response, responses=JPEG)
def live_face(request: Request, principal: CurrentPrincipal, db: Db, match_id: uuid.UUID) -> Response:
    """The face the camera saw, aligned (decrypted for the caller; never cached)."""
    box = faces.biometric_box(get_services(request).settings)
    data = service.live_chip(session=db, principal=principal, box=box, match_id=match_id)
    return Response(data, media_type="image/jpeg", headers=PRIVATE)


@router.get("/{match_id}/enrolled/{enrolment_id}.jpg", response_class=Response, responses=JPEG)
def enrolled_face(
    request: Request, principal: CurrentPrincipal, db: Db, match_id: uuid.UUID, enrolment_id: uuid.UUID
) -> Response:
    """One enrolled photo (aligned face) of the person the lead may be."""
    for found, data in enrolled(request, principal, db, match_id):
        if found == enrolment_id:
            return Response(data, media_type="image/jpeg", headers=PRIVATE)
    raise NotFound("no such enrolled photo of this match's person")


def enrolled(
    request: Request, principal: CurrentPrincipal, db: Db, match_id: uuid.UUID
) -> list[tuple[uuid.UUID, bytes]]:
    """The enrolled photos of the entry a lead matched (what the pages show beside the live face)."""
    match = service.get_match(session=db, principal=principal, match_id=match_id)
    if match.entry_id is None:
        return []
    box = faces.biometric_box(get_services(request).settings)
    return faces.enrolled_chips(session=db, box=box, entry_id=match.entry_id)


def publish_alert(request: Request, background: BackgroundTasks, alert: Alert | None) -> None:
    """Let the consoles see a lead's alert change (after the commit)."""
    if alert is not None:
        out = AlertOut.model_validate(alert)
        background.add_task(alerts.publish_or_log, get_services(request).bus, out)


@router.post("/{match_id}/decisions", response_model=MatchDetailOut)
def decide(principal: CurrentPrincipal, db: Db, match_id: uuid.UUID, body: DecisionIn) -> MatchDetailOut:
    """Confirm or reject a lead (faces.confirm); two different examiners confirm, one rejection ends it.

    The same examiner twice is a 409 `same_examiner`; a lead decided already a 409 `already_decided`.
    """
    match = flows.decide(session=db, principal=principal, match_id=match_id, data=body)
    return service.detail(session=db, match=match)


@router.post("/{match_id}/incident", response_model=IncidentDetailOut, status_code=201)
def open_incident(
    request: Request,
    background: BackgroundTasks,
    principal: CurrentPrincipal,
    db: Db,
    match_id: uuid.UUID,
    body: OpenIncidentIn,
) -> IncidentDetailOut:
    """Open an incident from a confirmed lead (409 `match_not_confirmed` before two examiners confirmed)."""
    incident = flows.open_incident(session=db, principal=principal, match_id=match_id, priority=body.priority)
    publish_alert(request, background, service.alert_of(session=db, match_id=match_id))
    return IncidentDetailOut.model_validate(incident)
