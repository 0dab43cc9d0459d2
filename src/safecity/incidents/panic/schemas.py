"""The panic button in and out of the API: registrations, presses, positions."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import AwareDatetime, Field

from safecity.core.schemas import InModel, OutModel
from safecity.incidents.schemas import LINE


class RegistrationIn(InModel):
    """A citizen registering for the panic button."""

    phone: str = Field(min_length=1, max_length=32, pattern=LINE)
    name: str = Field(min_length=1, max_length=120, pattern=LINE)
    cnic: str | None = Field(default=None, max_length=15, pattern=LINE)
    emergency_contact_name: str | None = Field(default=None, max_length=120, pattern=LINE)
    emergency_contact_phone: str | None = Field(default=None, max_length=32, pattern=LINE)


class RegistrationOut(OutModel):
    """A registration (the CNIC is not echoed back)."""

    id: uuid.UUID
    phone: str
    name: str
    emergency_contact_name: str | None
    emergency_contact_phone: str | None
    created_at: dt.datetime
    active: bool


class PressIn(InModel):
    """A press of the panic button: who (phone) and where."""

    phone: str = Field(min_length=1, max_length=32, pattern=LINE)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    at: AwareDatetime | None = None


class PositionIn(InModel):
    """The caller's live position."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    at: AwareDatetime


class PanicOut(OutModel):
    """The incident that the press opened or joined."""

    incident_id: uuid.UUID
    number: str
    created: bool
