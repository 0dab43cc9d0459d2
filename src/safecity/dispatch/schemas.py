"""API schemas of dispatch: agencies, units, positions, recommendations and assignments."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import AwareDatetime, Field

from safecity.core.schemas import InModel, OutModel
from safecity.dispatch.models import UnitStatus

LINE = r"^[^\x00-\x1f\x7f]*$"  # one line of text: no control characters
CALL_SIGN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"  # also an MQTT topic level: no '/', '+' or '#'


class AgencyOut(OutModel):
    """An agency that sends units."""

    id: uuid.UUID
    code: str
    name: str
    phone: str


class CrewMember(InModel):
    """One person on a unit."""

    name: str = Field(min_length=1, max_length=120, pattern=LINE)
    rank: str = Field(default="", max_length=40, pattern=LINE)


class UnitIn(InModel):
    """A unit as a manager registers it."""

    agency: str = Field(min_length=1, max_length=32, examples=["police"])  # the agency's code
    call_sign: str = Field(min_length=2, max_length=32, pattern=CALL_SIGN, examples=["PSW-MOB-07"])
    vehicle_registration: str = Field(min_length=1, max_length=20, pattern=LINE, examples=["LEB-1234"])
    vehicle_type: str = Field(min_length=1, max_length=40, pattern=LINE, examples=["Toyota Hilux"])
    crew: list[CrewMember] = Field(default_factory=list, max_length=12)
    home_station_id: uuid.UUID | None = None
    district_id: uuid.UUID
    status: UnitStatus = UnitStatus.OFF_DUTY
    account_id: uuid.UUID | None = None  # the account its own terminal signs in as (role "unit")


class StatusIn(InModel):
    """A change of a unit's status."""

    status: UnitStatus


class PositionIn(InModel):
    """Where a unit is, and when it was there."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    at: AwareDatetime


class UnitOut(OutModel):
    """A unit as API clients see it."""

    id: uuid.UUID
    agency_id: uuid.UUID
    call_sign: str
    vehicle_registration: str
    vehicle_type: str
    crew: list[CrewMember]
    home_station_id: uuid.UUID | None
    district_id: uuid.UUID
    status: UnitStatus
    latitude: float | None
    longitude: float | None
    position_at: dt.datetime | None
    account_id: uuid.UUID | None
    version: int


class RecommendationOut(OutModel):
    """A unit suggested for an incident, with its straight-line distance and estimated travel time."""

    unit: UnitOut
    distance_m: float
    eta_s: float


class AssignIn(InModel):
    """The unit to send."""

    unit_id: uuid.UUID


class AssignmentOut(OutModel):
    """A unit sent to an incident."""

    id: uuid.UUID
    incident_id: uuid.UUID
    unit_id: uuid.UUID
    assigned_by: uuid.UUID | None
    assigned_at: dt.datetime
    acknowledged_at: dt.datetime | None
    arrived_at: dt.datetime | None
    cleared_at: dt.datetime | None
