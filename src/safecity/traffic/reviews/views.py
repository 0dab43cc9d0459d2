"""REST API of the review of violations (/api/v1/traffic): the queue and search, one violation, its
evidence files, decisions, precision per camera and rule, and lifting a camera's suspension."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import FileResponse

from safecity.core.schemas import IsoDateTime
from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut
from safecity.traffic.reviews import service
from safecity.traffic.reviews.schemas import (
    DecisionIn,
    DecisionOut,
    PrecisionOut,
    ReasonOut,
    ReviewOut,
    SuspensionOut,
    ViolationDetail,
    ViolationOut,
)
from safecity.traffic.violations.models import ViolationStatus
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/traffic", tags=["traffic reviews"])

EvidenceRole = Literal["before", "at", "after", "plate", "clip"]
FILES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "video/mp4": {}}, "description": "the evidence file"}
}


@router.get("/violations", response_model=list[ViolationOut])
def list_violations(
    principal: CurrentPrincipal,
    db: Db,
    queue: bool = False,
    status: ViolationStatus | None = None,
    camera_id: uuid.UUID | None = None,
    plate: Annotated[str | None, Query(max_length=40)] = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST)] = 100,
) -> list[ViolationOut]:
    """With `queue=true` the caller's review queue, oldest first (challans.review); otherwise a search of
    the caller's districts by status, camera, plate and time, newest first (challans.read)."""
    if queue:
        return service.queue(session=db, principal=principal, limit=limit)
    return service.search(
        session=db,
        principal=principal,
        status=status,
        camera_id=camera_id,
        plate=plate,
        since=since,
        until=until,
        limit=limit,
    )


@router.get("/review-reasons", response_model=list[ReasonOut])
def review_reasons(principal: CurrentPrincipal) -> list[ReasonOut]:
    """The reason codes a rejection may give (challans.review)."""
    principal.require(service.REVIEW)
    return service.reason_list()


@router.get("/violations/{violation_id}", response_model=ViolationDetail)
def get_violation(
    request: Request, violation_id: uuid.UUID, principal: CurrentPrincipal, db: Db
) -> ViolationDetail:
    """One violation with its evidence manifest, measurements, reviews and registry check; audited."""
    policy = get_services(request).settings.challans
    return service.detail(session=db, principal=principal, violation_id=violation_id, policy=policy)


@router.get("/violations/{violation_id}/evidence/{role}", response_class=FileResponse, responses=FILES)
def evidence(
    request: Request, violation_id: uuid.UUID, role: EvidenceRole, principal: CurrentPrincipal, db: Db
) -> FileResponse:
    """One file of the evidence packet (frames, plate crop, clip); audited. 404 `no_evidence_file`."""
    # A <video> fetches its clip in byte ranges: the read is audited once, at its first byte.
    wanted = request.headers.get("range", "").replace(" ", "")
    path, media = service.evidence_file(
        session=db,
        principal=principal,
        violation_id=violation_id,
        role=role,
        evidence_dir=get_services(request).settings.evidence_dir,
        audited=not wanted or wanted.startswith("bytes=0-"),
    )
    return FileResponse(path, media_type=media, headers={"Cache-Control": "private, max-age=3600"})


@router.post(
    "/violations/{violation_id}/decisions",
    response_model=DecisionOut,
    responses={
        409: {"description": "already_decided, already_reviewed"},
        503: {"description": "registry down"},
    },
)
def decide(
    request: Request,
    background: BackgroundTasks,
    violation_id: uuid.UUID,
    body: DecisionIn,
    principal: CurrentPrincipal,
    db: Db,
) -> DecisionOut:
    """Confirm or reject the violation as it was at `version` (challans.review); 409 `already_decided` when
    another officer decided first."""
    services = get_services(request)
    decided = service.decide(
        session=db,
        principal=principal,
        violation_id=violation_id,
        decision=body.decision,
        version=body.version,
        plate=body.plate,
        reason_code=body.reason_code,
        note=body.note,
        registry=services.vehicle_registry,
        policy=services.settings.challans,
    )
    if decided.alert is not None:  # after the commit: the consoles see the camera suspended
        background.add_task(alerts.publish_or_log, services.bus, AlertOut.model_validate(decided.alert))
    return DecisionOut(
        violation=service.detail(
            session=db,
            principal=principal,
            violation_id=violation_id,
            policy=services.settings.challans,
            audited=False,
        ),
        review=ReviewOut.model_validate(decided.review),
    )


@router.get("/precision", response_model=PrecisionOut)
def precision(request: Request, principal: CurrentPrincipal, db: Db) -> PrecisionOut:
    """Precision per camera and per enforcement rule in the caller's districts (traffic.read)."""
    return service.precision(session=db, principal=principal, policy=get_services(request).settings.challans)


@router.post("/suspensions/{suspension_id}/lift", response_model=SuspensionOut)
def lift(
    suspension_id: uuid.UUID, principal: CurrentPrincipal, db: Db, release_withheld: bool = True
) -> SuspensionOut:
    """Lift a camera's suspension (traffic.manage); the violations it withheld go to the review queue
    unless release_withheld is false; audited."""
    return SuspensionOut.model_validate(
        service.lift(
            session=db, principal=principal, suspension_id=suspension_id, release_withheld=release_withheld
        )
    )
