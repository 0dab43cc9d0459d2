"""REST API of the province centre over its district centres (/api/v1/federation): the centres and their
links, and the districts' alerts, incidents, hotlist hits and plate reads.

Hits and plate reads need `plates.read` and a stated `purpose`, and are audited with it, as in a district.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from safecity.analytics.plates.schemas import SearchMode
from safecity.analytics.plates.views import PlateQuery, Purpose
from safecity.federation import service as federation
from safecity.federation.schemas import (
    CentreOut,
    FederatedAlertOut,
    FederatedHitOut,
    FederatedIncidentOut,
    FederatedPlateReadOut,
)
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/federation", tags=["federation"])

Centre = Annotated[str | None, Query(max_length=32, description="one district centre's code")]
Limit = Annotated[int, Query(ge=1, le=federation.MAX_LIMIT)]


def _centre(request: Request, centre: str | None) -> str | None:
    return federation.require_centre(get_services(request).settings.federation.centres, centre)


@router.get("/centres", response_model=list[CentreOut])
def list_centres(request: Request, principal: CurrentPrincipal, db: Db) -> list[CentreOut]:
    """The district centres with their link's health: last message, its lag, messages received, refused."""
    configured = get_services(request).settings.federation.centres
    return federation.centres(session=db, principal=principal, configured=configured)


@router.get("/alerts", response_model=list[FederatedAlertOut])
def list_alerts(
    request: Request, principal: CurrentPrincipal, db: Db, centre: Centre = None, limit: Limit = 100
) -> list[FederatedAlertOut]:
    """The districts' alerts in the caller's districts, newest first."""
    rows = federation.alerts(session=db, principal=principal, centre=_centre(request, centre), limit=limit)
    return [FederatedAlertOut.model_validate(row) for row in rows]


@router.get("/incidents", response_model=list[FederatedIncidentOut])
def list_incidents(
    request: Request, principal: CurrentPrincipal, db: Db, centre: Centre = None, limit: Limit = 100
) -> list[FederatedIncidentOut]:
    """The districts' incidents in the caller's districts, newest first."""
    rows = federation.incidents(session=db, principal=principal, centre=_centre(request, centre), limit=limit)
    return [FederatedIncidentOut.model_validate(row) for row in rows]


@router.get("/hits", response_model=list[FederatedHitOut])
def list_hits(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    purpose: Purpose = "",
    centre: Centre = None,
    limit: Limit = 100,
) -> list[FederatedHitOut]:
    """The districts' hotlist hits in the caller's districts, newest first; `purpose` required, audited."""
    rows = federation.hits(
        session=db, principal=principal, purpose=purpose, centre=_centre(request, centre), limit=limit
    )
    return [FederatedHitOut.model_validate(row) for row in rows]


@router.get("/plates", response_model=list[FederatedPlateReadOut])
def search_plates(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    q: PlateQuery,
    purpose: Purpose = "",
    mode: SearchMode = "exact",
    centre: Centre = None,
    limit: Limit = 100,
) -> list[FederatedPlateReadOut]:
    """Plate reads across the districts, newest first: exact, prefix, wildcard or fuzzy as in a district's
    plate search; `purpose` required, audited."""
    rows = federation.search_plates(
        session=db,
        principal=principal,
        q=q,
        purpose=purpose,
        mode=mode,
        centre=_centre(request, centre),
        limit=limit,
    )
    return [FederatedPlateReadOut.model_validate(row) for row in rows]
