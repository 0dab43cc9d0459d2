"""REST API of sharing incidents with another agency, and of what other agencies shared with one's own."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter
from pydantic import Field

from safecity.core.schemas import InModel, OutModel
from safecity.incidents import sharing
from safecity.incidents.schemas import TEXT, IncidentOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["incidents"])


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


@router.post("/incidents/{incident_id}/shares", response_model=ShareOut, status_code=201)
def share(principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID, data: ShareIn) -> ShareOut:
    """Share the incident with another agency; recorded on its timeline."""
    shared = sharing.share(
        session=db, principal=principal, incident_id=incident_id, agency_code=data.agency_code, note=data.note
    )
    return ShareOut.model_validate(shared)


@router.get("/shared-incidents", response_model=list[IncidentOut])
def shared_incidents(principal: CurrentPrincipal, db: Db) -> list[IncidentOut]:
    """Incidents shared with the caller's agencies, in any district."""
    return [IncidentOut.model_validate(i) for i in sharing.shared_with(session=db, principal=principal)]
