"""REST API of dispatch: agencies, units, positions, recommendations, assignments and acknowledgements."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from safecity.dispatch import positions, service
from safecity.dispatch.models import UnitStatus
from safecity.dispatch.notifiers import Notifier, NotifyError
from safecity.dispatch.schemas import (
    AgencyOut,
    AssignIn,
    AssignmentOut,
    PositionIn,
    RecommendationOut,
    StatusIn,
    UnitIn,
    UnitOut,
)
from safecity.web.deps import CurrentPrincipal, Db

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["dispatch"])


def get_notifier(request: Request) -> Notifier | None:
    """The notifier this application tells units with (`app.state.dispatch_notifier`), if one is set."""
    notifier: Notifier | None = getattr(request.app.state, "dispatch_notifier", None)
    return notifier


async def notify_or_log(notifier: Notifier | None, call_sign: str, message: dict[str, Any]) -> None:
    """Tell the unit after the commit; a failure is logged: the assignment stands, the dispatcher calls."""
    if notifier is None:
        logger.warning("no notifier configured: unit %s must be told by radio", call_sign)
        return
    try:
        await notifier.send(call_sign=call_sign, message=message)
    except NotifyError as exc:
        logger.warning("unit %s not notified of assignment %s: %s", call_sign, message["assignment_id"], exc)


@router.get("/agencies", response_model=list[AgencyOut])
def list_agencies(principal: CurrentPrincipal, db: Db) -> list[AgencyOut]:
    """The agencies that send units."""
    return [AgencyOut.model_validate(a) for a in service.list_agencies(session=db, principal=principal)]


@router.get("/units", response_model=list[UnitOut])
def list_units(
    principal: CurrentPrincipal,
    db: Db,
    status: UnitStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[UnitOut]:
    """Units within the caller's districts, by call sign."""
    units = service.list_units(session=db, principal=principal, status=status, limit=limit)
    return [UnitOut.model_validate(u) for u in units]


@router.post("/units", response_model=UnitOut, status_code=201)
def create_unit(principal: CurrentPrincipal, db: Db, data: UnitIn) -> UnitOut:
    """Register a unit; a call sign in use is a 409."""
    return UnitOut.model_validate(service.create_unit(session=db, principal=principal, data=data))


@router.get("/units/me", response_model=UnitOut)
def own_unit(principal: CurrentPrincipal, db: Db) -> UnitOut:
    """The caller's own unit (a unit's terminal token, units.self)."""
    return UnitOut.model_validate(service.own_unit(session=db, principal=principal))


@router.post("/units/me/status", response_model=UnitOut)
def set_own_status(principal: CurrentPrincipal, db: Db, data: StatusIn) -> UnitOut:
    """A unit's terminal sets its own status (never another unit's); audited; its incident is told."""
    return UnitOut.model_validate(service.set_own_status(session=db, principal=principal, status=data.status))


@router.post("/units/me/position", status_code=204)
def report_own_position(principal: CurrentPrincipal, db: Db, data: PositionIn) -> Response:
    """A unit's terminal reports where it is; an older report than the stored one is dropped."""
    unit = service.own_unit(session=db, principal=principal)
    # The unit was found through the caller's own account: no district check is left to make.
    positions.report_position(session=db, unit_id=unit.id, lat=data.lat, lon=data.lon, at=data.at)
    return Response(status_code=204)


@router.get("/units/{unit_id}", response_model=UnitOut)
def get_unit(principal: CurrentPrincipal, db: Db, unit_id: uuid.UUID) -> UnitOut:
    """One unit within the caller's districts."""
    return UnitOut.model_validate(service.get_unit(session=db, principal=principal, unit_id=unit_id))


@router.post("/units/{unit_id}/status", response_model=UnitOut)
def set_status(principal: CurrentPrincipal, db: Db, unit_id: uuid.UUID, data: StatusIn) -> UnitOut:
    """Change a unit's status; on_scene records its arrival at the incident it was sent to."""
    unit = service.set_status(session=db, principal=principal, unit_id=unit_id, status=data.status)
    return UnitOut.model_validate(unit)


@router.post("/units/{unit_id}/position", status_code=204)
def report_position(principal: CurrentPrincipal, db: Db, unit_id: uuid.UUID, data: PositionIn) -> Response:
    """Report where a unit is (a token with dispatch.manage); an older report than the stored is dropped."""
    positions.report_position(
        session=db, principal=principal, unit_id=unit_id, lat=data.lat, lon=data.lon, at=data.at
    )
    return Response(status_code=204)


@router.get("/incidents/{incident_id}/recommendations", response_model=list[RecommendationOut])
def recommend(
    principal: CurrentPrincipal,
    db: Db,
    incident_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=service.MAX_RECOMMENDATIONS)] = 5,
    same_district_first: bool = False,
) -> list[RecommendationOut]:
    """The nearest available units suited to the incident's category, with distance and ETA."""
    found = service.recommend(
        session=db,
        principal=principal,
        incident_id=incident_id,
        limit=limit,
        same_district_first=same_district_first,
    )
    return [
        RecommendationOut(unit=UnitOut.model_validate(r.unit), distance_m=r.distance_m, eta_s=r.eta_s)
        for r in found
    ]


@router.get("/incidents/{incident_id}/assignments", response_model=list[AssignmentOut])
def list_assignments(principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID) -> list[AssignmentOut]:
    """The units sent to an incident."""
    found = service.list_assignments(session=db, principal=principal, incident_id=incident_id)
    return [AssignmentOut.model_validate(a) for a in found]


@router.post("/incidents/{incident_id}/assignments", response_model=AssignmentOut, status_code=201)
def assign(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    incident_id: uuid.UUID,
    data: AssignIn,
    background: BackgroundTasks,
) -> AssignmentOut:
    """Send an available unit to the incident; a unit taken meanwhile is a 409 `unit_unavailable`."""
    assignment = service.assign(
        session=db, principal=principal, incident_id=incident_id, unit_id=data.unit_id
    )
    call_sign, message = service.dispatch_message(session=db, assignment=assignment)
    # Background tasks run after the request's commit: a unit is never sent on an assignment not stored.
    background.add_task(notify_or_log, get_notifier(request), call_sign, message)
    return AssignmentOut.model_validate(assignment)


@router.post("/assignments/{assignment_id}/ack", response_model=AssignmentOut)
def acknowledge(principal: CurrentPrincipal, db: Db, assignment_id: uuid.UUID) -> AssignmentOut:
    """The unit acknowledges its dispatch (repeats are harmless); the unit is then en route."""
    assignment = service.acknowledge(session=db, principal=principal, assignment_id=assignment_id)
    return AssignmentOut.model_validate(assignment)
