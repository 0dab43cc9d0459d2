"""Shares of incidents in and out of the API."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from safecity.core.schemas import InModel, OutModel
from safecity.incidents.schemas import TEXT


class ShareIn(InModel):
    """Share an incident with an agency (its code, such as rescue1122), with a note for them."""

    agency_code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    note: str = Field(default="", max_length=1000, pattern=TEXT)


class ShareOut(OutModel):
    """A share of an incident with an agency."""

    id: uuid.UUID
    incident_id: uuid.UUID
    agency_code: str
    shared_by: uuid.UUID | None
    shared_at: dt.datetime
    note: str
