"""REST API of the organisation (/api/v1/districts, /stations, /sites, and /places: a map's search)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from safecity.org import service as org
from safecity.org.schemas import DistrictOut, PlaceHit, PlaceIn, SiteOut, StationOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["organisation"])


@router.get("/districts", response_model=list[DistrictOut])
def list_districts(principal: CurrentPrincipal, db: Db) -> list[DistrictOut]:
    """Districts within the caller's scope."""
    return [DistrictOut.model_validate(d) for d in org.list_districts(session=db, actor=principal)]


@router.get("/districts/{district_id}", response_model=DistrictOut)
def get_district(district_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> DistrictOut:
    """One district."""
    return DistrictOut.model_validate(org.get_district(session=db, actor=principal, district_id=district_id))


@router.get("/stations", response_model=list[StationOut])
def list_stations(
    principal: CurrentPrincipal, db: Db, district_id: uuid.UUID | None = None
) -> list[StationOut]:
    """Police stations within scope."""
    stations = org.list_stations(session=db, actor=principal, district_id=district_id)
    return [StationOut.model_validate(s) for s in stations]


@router.post("/stations", response_model=StationOut, status_code=201)
def add_station(body: PlaceIn, principal: CurrentPrincipal, db: Db) -> StationOut:
    """Add a police station."""
    return StationOut.model_validate(org.add_station(session=db, actor=principal, data=body))


@router.get("/sites", response_model=list[SiteOut])
def list_sites(principal: CurrentPrincipal, db: Db, district_id: uuid.UUID | None = None) -> list[SiteOut]:
    """Camera sites within scope."""
    return [
        SiteOut.model_validate(s)
        for s in org.list_sites(session=db, actor=principal, district_id=district_id)
    ]


@router.post("/sites", response_model=SiteOut, status_code=201)
def add_site(body: PlaceIn, principal: CurrentPrincipal, db: Db) -> SiteOut:
    """Add a camera site."""
    return SiteOut.model_validate(org.add_site(session=db, actor=principal, data=body))


@router.get("/places", response_model=list[PlaceHit])
def search_places(
    principal: CurrentPrincipal,
    db: Db,
    q: Annotated[str, Query(max_length=120)] = "",
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[PlaceHit]:
    """Districts, police stations and sites within scope whose name holds `q`: a map's place search."""
    return org.search_places(session=db, actor=principal, text=q, limit=limit)
