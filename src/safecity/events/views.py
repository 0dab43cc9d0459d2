"""REST API of the event store (/api/v1/events)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from safecity.events import service as events
from safecity.events.schemas import EventOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get("/events", response_model=list[EventOut])
def search(
    principal: CurrentPrincipal,
    db: Db,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    district_id: uuid.UUID | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EventOut]:
    """Stored events within the caller's districts, newest first."""
    found = events.search(
        session=db,
        principal=principal,
        kind=kind,
        district_id=district_id,
        since=since,
        until=until,
        limit=limit,
    )
    return [EventOut.model_validate(e) for e in found]
