"""REST API of appeals (/api/v1/traffic/appeals): the adjudicator's queue, one appeal, its attachment and
the decision (appeals.decide, within the adjudicator's districts).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import Response

from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut
from safecity.traffic.appeals import flows, service
from safecity.traffic.appeals.models import AppealStatus
from safecity.traffic.appeals.schemas import AppealOut, DecisionIn
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/traffic/appeals", tags=["appeals"])
FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}}, "description": "the file"}
}


@router.get("", response_model=list[AppealOut])
def list_appeals(
    principal: CurrentPrincipal,
    db: Db,
    status: AppealStatus | None = AppealStatus.PENDING,
    limit: Annotated[int, Query(ge=1, le=service.MAX_QUEUE)] = 200,
) -> list[AppealOut]:
    """Appeals in your districts, oldest deadline first (`overdue`: pending past the deadline)."""
    return service.list_appeals(session=db, principal=principal, status=status, limit=limit)


@router.get("/{appeal_id}", response_model=AppealOut)
def get_appeal(appeal_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> AppealOut:
    """One appeal with its challan and evidence roles; the read is audited."""
    return service.get_appeal(session=db, principal=principal, appeal_id=appeal_id)


def attachment_response(data: bytes, media_type: str, appeal_id: uuid.UUID) -> Response:
    """A citizen's upload served inert: a picture shown in place, a PDF downloaded; sandboxed, not sniffed."""
    extension = {"image/jpeg": "jpg", "image/png": "png"}.get(media_type, "pdf")
    disposition = "inline" if media_type.startswith("image/") else "attachment"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="appeal-{appeal_id}.{extension}"',
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/{appeal_id}/attachment", response_class=Response, responses=FILE)
def attachment(request: Request, appeal_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """The appeal's attachment (checked against its SHA-256); every download is audited."""
    appeal, data = service.read_attachment(
        session=db,
        principal=principal,
        appeal_id=appeal_id,
        challans_dir=get_services(request).settings.challans_dir,
    )
    return attachment_response(data, appeal.attachment_type or "application/octet-stream", appeal.id)


@router.post("/{appeal_id}/decision", response_model=AppealOut)
def decide(
    request: Request,
    background: BackgroundTasks,
    appeal_id: uuid.UUID,
    body: DecisionIn,
    principal: CurrentPrincipal,
    db: Db,
) -> AppealOut:
    """Uphold or cancel with reasons (409 `already_decided` if another adjudicator was first); the decision
    is sent to the citizen by SMS and e-mail once committed.
    """
    services = get_services(request)
    appeal, _, alert = service.decide(
        session=db, principal=principal, appeal_id=appeal_id, data=body, policy=services.settings.challans
    )
    if alert is not None:  # after the commit: the consoles see the camera suspended
        background.add_task(alerts.publish_or_log, services.bus, AlertOut.model_validate(alert))
    background.add_task(
        flows.send_decision,
        session_factory=services.session_factory,
        settings=services.settings.challans,
        appeal_id=appeal.id,
    )
    return service.out(db, appeal)
