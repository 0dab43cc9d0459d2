"""REST API of number plates: how each camera reads plates, and the sightings (/api/v1/plates): search, one
sighting, its pictures, CSV export, journeys.

Every call that shows plates needs `plates.read` and a stated `purpose`, and is audited with it.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, Response

from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import (
    JourneyOut,
    PlateSettings,
    PlateSettingsOut,
    SearchMode,
    SightingHit,
    SightingPage,
    SightingSearch,
)
from safecity.core.errors import InvalidInput
from safecity.core.schemas import IsoDateTime
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["plates"])

Purpose = Annotated[str, Query(max_length=plates.MAX_PURPOSE * 2, description="why: a case, FIR or incident")]
PlateQuery = Annotated[str, Query(max_length=40, description="the plate; separators are ignored")]
CameraIds = Annotated[list[uuid.UUID], Query(max_length=50, description="one or more cameras")]
Bbox = Annotated[str, Query(max_length=100, description="west,south,east,north in degrees")]
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}, "description": "the picture"}}
CSV_COLUMNS = (
    "id",
    "seen_at",
    "plate",
    "confidence",
    "layout",
    "vehicle_class",
    "colour",
    "direction",
    "camera_id",
    "camera_name",
    "latitude",
    "longitude",
    "district_id",
    "hold",
)


def parse_bbox(text: str) -> tuple[float, float, float, float] | None:
    """A map box from `west,south,east,north`; None when empty."""
    if not text:
        return None
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput("bbox is four numbers: west,south,east,north", code="bad_bbox") from None
    return west, south, east, north


def _search(
    q: str,
    mode: SearchMode,
    camera_id: list[uuid.UUID],
    district_id: uuid.UUID | None,
    since: IsoDateTime | None,
    until: IsoDateTime | None,
    bbox: str,
) -> SightingSearch:
    return SightingSearch(
        q=q,
        mode=mode,
        camera_ids=tuple(camera_id),
        district_id=district_id,
        since=since,
        until=until,
        bbox=parse_bbox(bbox),
    )


@router.get("/plates/sightings", response_model=SightingPage)
def search(
    principal: CurrentPrincipal,
    db: Db,
    purpose: Purpose = "",
    q: PlateQuery = "",
    mode: SearchMode = "exact",
    camera_id: CameraIds = [],  # noqa: B006 - FastAPI copies the default per request
    district_id: uuid.UUID | None = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    bbox: Bbox = "",
    limit: Annotated[int, Query(ge=1, le=plates.MAX_LIMIT)] = 100,
    before: Annotated[str | None, Query(max_length=80)] = None,
) -> SightingPage:
    """Plate sightings in the caller's districts, newest first: exact, prefix, wildcard (`LE?-12*`) or fuzzy
    (one edit or look-alike characters away); by cameras, district, map box and period. `purpose` is
    required and audited. `before`: the `next_before` of the previous page."""
    return plates.search(
        session=db,
        principal=principal,
        search=_search(q, mode, camera_id, district_id, since, until, bbox),
        purpose=purpose,
        limit=limit,
        before=before,
    )


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: never a formula (a camera's name is typed by people)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/plates/sightings.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_csv(
    principal: CurrentPrincipal,
    db: Db,
    purpose: Purpose = "",
    q: PlateQuery = "",
    mode: SearchMode = "exact",
    camera_id: CameraIds = [],  # noqa: B006 - FastAPI copies the default per request
    district_id: uuid.UUID | None = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    bbox: Bbox = "",
    limit: Annotated[int, Query(ge=1, le=plates.MAX_EXPORT)] = plates.MAX_EXPORT,
) -> Response:
    """The search's sightings as CSV (UTC times), newest first, at most 10,000; audited as an export."""
    found = plates.export(
        session=db,
        principal=principal,
        search=_search(q, mode, camera_id, district_id, since, until, bbox),
        purpose=purpose,
        limit=limit,
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for hit in found:
        row = hit.model_dump(mode="json")
        writer.writerow([_cell(row[name]) for name in CSV_COLUMNS])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="plate-sightings.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/plates/sightings/{sighting_id}", response_model=SightingHit)
def get_sighting(
    principal: CurrentPrincipal, db: Db, sighting_id: uuid.UUID, purpose: Purpose = ""
) -> SightingHit:
    """One sighting in the caller's districts, with its camera; `purpose` required and audited."""
    return plates.view(session=db, principal=principal, sighting_id=sighting_id, purpose=purpose)


def _picture(
    request: Request, principal: CurrentPrincipal, db: Db, sighting_id: uuid.UUID, part: plates.Part
) -> FileResponse:
    path = plates.picture_file(
        session=db,
        principal=principal,
        sighting_id=sighting_id,
        part=part,
        snapshots_dir=get_services(request).settings.snapshots_dir,
    )
    # Pictures never change once written; kept by the browser only, and not for long (personal data).
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/plates/sightings/{sighting_id}/crop.jpg", response_class=FileResponse, responses=JPEG)
def crop(request: Request, principal: CurrentPrincipal, db: Db, sighting_id: uuid.UUID) -> FileResponse:
    """The plate as cut from the frame (404 `no_picture` when there is none)."""
    return _picture(request, principal, db, sighting_id, "crop")


@router.get("/plates/sightings/{sighting_id}/vehicle.jpg", response_class=FileResponse, responses=JPEG)
def vehicle(request: Request, principal: CurrentPrincipal, db: Db, sighting_id: uuid.UUID) -> FileResponse:
    """The vehicle the plate was read on (404 `no_picture` when there is none)."""
    return _picture(request, principal, db, sighting_id, "vehicle")


@router.get("/plates/journeys/{plate}", response_model=JourneyOut)
def journey(
    principal: CurrentPrincipal,
    db: Db,
    plate: Annotated[str, Path(max_length=40)],
    since: IsoDateTime,
    until: IsoDateTime,
    purpose: Purpose = "",
    window_s: Annotated[int, Query(ge=1, le=plates.MAX_WINDOW_S)] = plates.DEFAULT_WINDOW_S,
) -> JourneyOut:
    """A vehicle's sightings over a period (at most 31 days) in time order, and the plates travelling with
    it (seen within `window_s` at 3 or more of the same cameras); `purpose` required and audited."""
    return plates.journey(
        session=db,
        principal=principal,
        plate=plate,
        since=since,
        until=until,
        purpose=purpose,
        window_s=window_s,
    )


@router.get("/cameras/{camera_id}/plates", response_model=PlateSettingsOut)
def get_settings(camera_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> PlateSettingsOut:
    """How the camera reads number plates (mode `off` when never set)."""
    return plates.get_settings(session=db, principal=principal, camera_id=camera_id)


@router.put("/cameras/{camera_id}/plates", response_model=PlateSettingsOut)
def set_settings(
    camera_id: uuid.UUID, body: PlateSettings, principal: CurrentPrincipal, db: Db
) -> PlateSettingsOut:
    """Change how the camera reads plates (analytics.manage); applies within seconds, no restart."""
    return plates.set_settings(session=db, principal=principal, camera_id=camera_id, settings=body)
