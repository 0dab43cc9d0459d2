"""REST API of the event store (/api/v1/events): search, one event, its snapshot, and the live stream."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from safecity.core.schemas import IsoDateTime
from safecity.events import service as events
from safecity.events.feed import SSE_RESPONSES, After, Feed, MaxSeconds, sse_response
from safecity.events.schemas import EventOut
from safecity.runtime import Services
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["events"])

KIND_PREFIX_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]*)*$"  # "analytics." or "analytics.line"


@router.get("/events", response_model=list[EventOut])
def search(
    principal: CurrentPrincipal,
    db: Db,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    kind_prefix: Annotated[str | None, Query(max_length=64, pattern=KIND_PREFIX_PATTERN)] = None,
    district_id: uuid.UUID | None = None,
    camera_id: uuid.UUID | None = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EventOut]:
    """Stored events within the caller's districts, newest first; `kind_prefix` such as "analytics."."""
    found = events.search(
        session=db,
        principal=principal,
        kind=kind,
        kind_prefix=kind_prefix,
        district_id=district_id,
        camera_id=camera_id,
        since=since,
        until=until,
        limit=limit,
    )
    return [EventOut.model_validate(e) for e in found]


def add_stream(
    router: APIRouter, path: str, *, feed: Callable[[Services], Feed[Any]], permission: str, what: str
) -> None:
    """Serve `feed` at GET `path` as Server-Sent Events, live, to callers holding `permission`."""

    async def stream(
        request: Request, principal: CurrentPrincipal, after: After = None, max_seconds: MaxSeconds = 300.0
    ) -> StreamingResponse:
        principal.require(permission)
        return sse_response(
            feed(get_services(request)), principal, request, after=after, max_seconds=max_seconds
        )

    stream.__doc__ = f"""{what} as Server-Sent Events, live, within the caller's districts.

    `after` (or the Last-Event-ID header of a reconnect) resumes from a position already seen; an
    `event: resync` asks the client to reload its list because the gap could not be filled.
    """
    router.add_api_route(
        path,
        stream,
        methods=["GET"],
        response_class=StreamingResponse,
        responses=SSE_RESPONSES,
        name=f"stream_{path.strip('/').split('/')[-2]}",
    )


add_stream(
    router,
    "/events/stream",
    feed=lambda services: services.event_feed,
    permission="alerts.read",
    what="New analytics events (`event: event`, EventOut JSON)",
)


@router.get("/events/{event_id}", response_model=EventOut)
def get_event(principal: CurrentPrincipal, db: Db, event_id: uuid.UUID) -> EventOut:
    """One stored event within the caller's districts."""
    return EventOut.model_validate(events.get_event(session=db, principal=principal, event_id=event_id))


@router.get(
    "/events/{event_id}/snapshot.jpg",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}, "description": "the picture, boxes drawn"}},
)
def snapshot(request: Request, principal: CurrentPrincipal, db: Db, event_id: uuid.UUID) -> FileResponse:
    """The JPEG the analytics saved when the event fired (404 `no_snapshot` when there is none)."""
    path = events.snapshot_file(
        session=db,
        principal=principal,
        event_id=event_id,
        snapshots_dir=get_services(request).settings.snapshots_dir,
    )
    # Snapshots never change once written: the browser may keep them for a day.
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
