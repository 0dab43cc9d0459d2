"""REST API of forensics: search across cameras, an object's picture and look-alikes, routes and their
recordings strung into one playlist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from safecity.core.errors import InvalidInput
from safecity.forensics import service
from safecity.forensics.schemas import MAX_PERIOD, HitOut, RouteIn, RouteOut, SearchIn, SearchOut
from safecity.video import clips
from safecity.video.playback.views import HLS_TYPE, NO_STORE, segment_url
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/forensics", tags=["forensics"])

MAX_WINDOW_S = 6 * 3600


@router.post("/search", response_model=SearchOut)
def search(principal: CurrentPrincipal, db: Db, body: SearchIn) -> SearchOut:
    """Objects, events or plate reads across cameras by what, where and when (forensics.investigate);
    newest first, paged by `next`; audited with the purpose.
    """
    return service.search(session=db, principal=principal, query=body)


@router.get("/objects/{object_id}/snapshot.jpg", response_class=FileResponse)
def snapshot(request: Request, principal: CurrentPrincipal, db: Db, object_id: uuid.UUID) -> FileResponse:
    """An object's best view (404 `no_picture` when none was kept)."""
    path = service.snapshot_file(
        session=db,
        principal=principal,
        object_id=object_id,
        snapshots_dir=get_services(request).settings.snapshots_dir,
    )
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@router.get("/objects/{object_id}/similar", response_model=list[HitOut])
def similar(
    principal: CurrentPrincipal,
    db: Db,
    object_id: uuid.UUID,
    window_s: Annotated[int, Query(ge=60, le=MAX_WINDOW_S)] = 1800,
) -> list[HitOut]:
    """Objects of the same class and colour at one's other cameras around the same time: candidates for
    following this one across cameras.
    """
    window = dt.timedelta(seconds=window_s)
    return service.similar(session=db, principal=principal, object_id=object_id, window=window)


@router.post("/routes", response_model=RouteOut)
def route(principal: CurrentPrincipal, db: Db, body: RouteIn) -> RouteOut:
    """Sightings across cameras in time order, with one playlist of their recordings (audited)."""
    return service.route(
        session=db,
        principal=principal,
        purpose=body.purpose,
        object_ids=body.object_ids,
        faces=body.faces,
        authorisation_id=body.authorisation_id,
        plate=body.plate,
        since=body.since,
        until=body.until,
    )


def parse_span(text: str) -> clips.Span:
    """`camera_id,since,until` (ISO 8601 with zone) as a span of recordings; InvalidInput otherwise."""
    try:
        camera, since, until = text.split(",")
        span = clips.Span(
            uuid.UUID(camera), dt.datetime.fromisoformat(since), dt.datetime.fromisoformat(until)
        )
    except ValueError:
        raise InvalidInput("a span is camera_id,since,until", code="bad_span", field="span") from None
    if span.since.utcoffset() is None or span.until.utcoffset() is None or span.until <= span.since:
        raise InvalidInput("a span runs forward, its times with their zone", code="bad_span", field="span")
    return span


@router.get("/route.m3u8", response_class=Response)
def route_playlist(
    principal: CurrentPrincipal,
    db: Db,
    span: Annotated[list[str], Query(max_length=service.MAX_ROUTE_STOPS)],
) -> Response:
    """One HLS playlist of several cameras' recordings one after another: a route played as one video."""
    spans = [parse_span(s[:200]) for s in span]
    if spans[-1].until - spans[0].since > MAX_PERIOD:
        raise InvalidInput(f"a route spans {MAX_PERIOD.days} days at most", code="bad_span", field="span")
    text = clips.spans_playlist(session=db, principal=principal, spans=spans, segment_url=segment_url)
    return Response(text, media_type=HLS_TYPE, headers=NO_STORE)
