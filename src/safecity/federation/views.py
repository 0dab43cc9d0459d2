"""REST API of the province centre over its district centres (/api/v1/federation): the centres and their
links, and the districts' alerts, incidents, hotlist hits and plate reads.

Hits and plate reads need `plates.read` and a stated `purpose`, and are audited with it, as in a district.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

import httpx
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from safecity.analytics.plates.schemas import SearchMode
from safecity.analytics.plates.views import PlateQuery, Purpose
from safecity.core.schemas import IsoDateTime
from safecity.federation import service as federation
from safecity.federation.schemas import (
    CentreOut,
    FederatedAlertOut,
    FederatedHitOut,
    FederatedIncidentOut,
    FederatedPlateReadOut,
)
from safecity.video.playback.views import HLS_TYPE, segment_url
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/federation", tags=["federation"])

Centre = Annotated[str | None, Query(max_length=32, description="one district centre's code")]
Limit = Annotated[int, Query(ge=1, le=federation.MAX_LIMIT)]
Width = Annotated[int | None, Query(ge=64, le=3840)]
TIMEOUT = httpx.Timeout(10.0)
# What the district said is passed on as it said it (its error's JSON too); anything else is its absence.
PASSED_ON = {200, 206, 400, 403, 404, 409, 416, 422, 423, 503}
NO_STORE = {"Cache-Control": "no-store"}


def _centre(request: Request, centre: str | None) -> str | None:
    return federation.require_centre(get_services(request).settings.federation.centres, centre)


@router.get("/centres", response_model=list[CentreOut])
def list_centres(request: Request, principal: CurrentPrincipal, db: Db) -> list[CentreOut]:
    """The district centres with their link's health: last message, its lag, messages received, refused."""
    configured = get_services(request).settings.federation.centres
    return federation.centres(session=db, principal=principal, configured=configured)


@router.get("/alerts", response_model=list[FederatedAlertOut])
def list_alerts(
    request: Request, principal: CurrentPrincipal, db: Db, centre: Centre = None, limit: Limit = 100
) -> list[FederatedAlertOut]:
    """The districts' alerts in the caller's districts, newest first."""
    rows = federation.alerts(session=db, principal=principal, centre=_centre(request, centre), limit=limit)
    return [FederatedAlertOut.model_validate(row) for row in rows]


@router.get("/incidents", response_model=list[FederatedIncidentOut])
def list_incidents(
    request: Request, principal: CurrentPrincipal, db: Db, centre: Centre = None, limit: Limit = 100
) -> list[FederatedIncidentOut]:
    """The districts' incidents in the caller's districts, newest first."""
    rows = federation.incidents(session=db, principal=principal, centre=_centre(request, centre), limit=limit)
    return [FederatedIncidentOut.model_validate(row) for row in rows]


@router.get("/hits", response_model=list[FederatedHitOut])
def list_hits(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    purpose: Purpose = "",
    centre: Centre = None,
    limit: Limit = 100,
) -> list[FederatedHitOut]:
    """The districts' hotlist hits in the caller's districts, newest first; `purpose` required, audited."""
    rows = federation.hits(
        session=db, principal=principal, purpose=purpose, centre=_centre(request, centre), limit=limit
    )
    return [FederatedHitOut.model_validate(row) for row in rows]


@router.get("/plates", response_model=list[FederatedPlateReadOut])
def search_plates(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    q: PlateQuery,
    purpose: Purpose = "",
    mode: SearchMode = "exact",
    centre: Centre = None,
    limit: Limit = 100,
) -> list[FederatedPlateReadOut]:
    """Plate reads across the districts, newest first: exact, prefix, wildcard or fuzzy as in a district's
    plate search; `purpose` required, audited."""
    rows = federation.search_plates(
        session=db,
        principal=principal,
        q=q,
        purpose=purpose,
        mode=mode,
        centre=_centre(request, centre),
        limit=limit,
    )
    return [FederatedPlateReadOut.model_validate(row) for row in rows]


def _district_video(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    centre: str,
    camera_id: uuid.UUID,
    kind: federation.VideoKind,
    purpose: str,
) -> federation.DistrictVideo:
    configured = get_services(request).settings.federation.centres
    return federation.open_district_camera(
        session=db,
        principal=principal,
        configured=configured,
        centre=centre,
        camera_id=camera_id,
        kind=kind,
        purpose=purpose,
    )


@router.get("/centres/{centre}/cameras/{camera_id}/snapshot.jpg", response_class=Response)
async def district_snapshot(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    centre: Annotated[str, Path(max_length=32)],
    camera_id: uuid.UUID,
    purpose: Purpose = "",
    width: Width = None,
) -> Response:
    """A district camera's newest frame, fetched from that district's stack; audited here with the
    `purpose`, and there as the province's token."""
    # The checks and the audit entry read and write the database: off the event loop.
    video = await run_in_threadpool(
        _district_video, request, principal, db, centre, camera_id, "snapshot.jpg", purpose
    )
    params = {"width": str(width)} if width else {}
    return _passed_on(await _get(video, params=params, headers={}), headers=NO_STORE)


@router.get("/centres/{centre}/cameras/{camera_id}/live.mjpeg", response_class=StreamingResponse)
async def district_live(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    centre: Annotated[str, Path(max_length=32)],
    camera_id: uuid.UUID,
    purpose: Purpose = "",
    width: Width = None,
    fps: Annotated[float, Query(gt=0, le=25)] = 10.0,
) -> Response:
    """A district camera live (MJPEG), relayed from that district's stack as it sends it; audited here
    with the `purpose`, and there as the province's token."""
    video = await run_in_threadpool(
        _district_video, request, principal, db, centre, camera_id, "live.mjpeg", purpose
    )
    params: dict[str, float | int] = {"fps": fps, **({"width": width} if width else {})}
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))
    try:
        answer = await client.send(
            client.build_request("GET", video.url, params=params, headers=_bearer(video)), stream=True
        )
    except httpx.HTTPError as exc:
        await client.aclose()
        raise federation.DistrictUnreachable(
            f"the district centre did not answer ({type(exc).__name__})"
        ) from None
    if answer.status_code != 200:
        await answer.aread()
        await answer.aclose()
        await client.aclose()
        return _passed_on(answer, headers=NO_STORE)

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in answer.aiter_raw():
                yield chunk
        finally:
            await answer.aclose()
            await client.aclose()

    media_type = answer.headers.get("content-type", "multipart/x-mixed-replace")
    return StreamingResponse(relay(), media_type=media_type, headers=NO_STORE)


@router.get("/centres/{centre}/cameras/{camera_id}/playback.m3u8", response_class=Response)
async def district_playlist(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    centre: Annotated[str, Path(max_length=32)],
    camera_id: uuid.UUID,
    since: IsoDateTime,
    until: IsoDateTime,
    purpose: Purpose = "",
) -> Response:
    """An HLS playlist of a district camera's recordings over [since, until), from that district's stack,
    its segments fetched through here; audited here with the `purpose`, and there as the province's token."""
    video = await run_in_threadpool(
        _district_video, request, principal, db, centre, camera_id, "playback.m3u8", purpose
    )
    params = {"since": since.isoformat(), "until": until.isoformat()}
    answer = await _get(video, params=params, headers={})
    if answer.status_code != 200:
        return _passed_on(answer, headers=NO_STORE)
    playlist = federation.relayed_playlist(answer.text, centre=centre)
    return Response(playlist, media_type=HLS_TYPE, headers=NO_STORE)


@router.get("/centres/{centre}/recordings/{recording_id}/segment.mp4", response_class=Response)
async def district_segment(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    centre: Annotated[str, Path(max_length=32)],
    recording_id: uuid.UUID,
) -> Response:
    """One recorded segment of a district camera, from that district's stack (byte ranges passed on), as a
    playlist from `playback.m3u8` names it; the district checks the token's scope and the segment."""
    configured = get_services(request).settings.federation.centres
    video = await run_in_threadpool(
        partial(
            federation.open_district,
            session=db,
            principal=principal,
            configured=configured,
            centre=centre,
            path=segment_url(recording_id),
            permission=federation.PLAYBACK,
            purpose=None,  # the playlist that names it was audited with its purpose
        )
    )
    wanted = {"Range": request.headers["range"]} if "range" in request.headers else {}
    answer = await _get(video, params={}, headers=wanted)
    kept = ("content-range", "accept-ranges", "x-content-sha256")
    return _passed_on(answer, headers={**NO_STORE, **{k: v for k, v in answer.headers.items() if k in kept}})


async def _get(
    video: federation.DistrictVideo, *, params: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return await client.get(video.url, params=params, headers={**_bearer(video), **headers})
    except httpx.HTTPError as exc:
        raise federation.DistrictUnreachable(
            f"the district centre did not answer ({type(exc).__name__})"
        ) from None


def _bearer(video: federation.DistrictVideo) -> dict[str, str]:
    return {"Authorization": f"Bearer {video.token}"}


def _passed_on(answer: httpx.Response, *, headers: dict[str, str]) -> Response:
    if answer.status_code not in PASSED_ON:
        # A 401 there means the province's token is wrong or revoked: the province's configuration's fault.
        raise federation.DistrictUnreachable(f"the district centre answered {answer.status_code}")
    media_type = answer.headers.get("content-type")
    return Response(answer.content, status_code=answer.status_code, media_type=media_type, headers=headers)
