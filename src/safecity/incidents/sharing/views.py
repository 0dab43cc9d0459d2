"""REST API of sharing incidents with another agency, and of what other agencies shared with one's own."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from safecity.incidents.schemas import IncidentOut
from safecity.incidents.sharing import service as sharing
from safecity.incidents.sharing.schemas import ShareIn, ShareOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["incidents"])


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
