"""API schemas of the organisation."""

from __future__ import annotations

import uuid

from pydantic import Field

from safecity.core.schemas import InModel, OutModel


class PlaceIn(InModel):
    district_id: uuid.UUID
    name: str = Field(min_length=2, max_length=120)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    police_station_id: uuid.UUID | None = None


class DistrictOut(OutModel):
    id: uuid.UUID
    code: str
    name: str
    latitude: float
    longitude: float


class StationOut(OutModel):
    id: uuid.UUID
    district_id: uuid.UUID
    name: str
    latitude: float
    longitude: float


class SiteOut(StationOut):
    police_station_id: uuid.UUID | None


class PlaceHit(OutModel):
    """A named place a map search found: a district, a police station or a camera site."""

    kind: str  # district, station or site
    id: uuid.UUID
    name: str
    district_id: uuid.UUID
    district_name: str
    latitude: float
    longitude: float
