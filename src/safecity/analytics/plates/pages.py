"""Plate pages: search sightings (table with crops, map, CSV), a vehicle's journey with its companions, and
the Number plates panel of a camera's rule editor (how the camera reads plates, htmx form).

Search and journey state a purpose before anything is shown, and each is audited by the service like the
API's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from safecity.analytics import service as analytics
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
from safecity.cameras import service as cameras
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, SafecityError
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, Page, refuse, render, typed_moment

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
SEARCH_MODES: dict[str, str] = {
    "exact": "Exact",
    "prefix": "Starts with",
    "wildcard": "Wildcard (? one, * any)",
    "fuzzy": "Fuzzy (one misread)",
}
Text = Annotated[str, Query(max_length=200)]


def _camera(value: str) -> uuid.UUID | None:
    """The camera picked in the form ("": every camera)."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        raise InvalidInput("no such camera") from None


def _typed(moment: dt.datetime, page: Page) -> str:
    """A moment as a datetime-local field shows it."""
    return moment.astimezone(page.timezone).strftime("%Y-%m-%dT%H:%M")


def _points(items: list[SightingHit], page: Page) -> list[dict[str, Any]]:
    """What the map draws of each sighting with a placed camera (plates.js puts it in as text)."""
    return [
        {
            "lat": hit.latitude,
            "lon": hit.longitude,
            "label": f"{hit.plate or 'unreadable'} · {hit.camera_name} · {page_time(hit.seen_at, page)}",
        }
        for hit in items
        if hit.latitude is not None and hit.longitude is not None
    ]


def page_time(value: dt.datetime, page: Page) -> str:
    return value.astimezone(page.timezone).strftime("%Y-%m-%d %H:%M:%S")


@router.get("/plates", response_class=HTMLResponse)
def search_page(
    page: CurrentPage,
    db: Db,
    q: Annotated[str, Query(max_length=40)] = "",
    mode: SearchMode = "exact",
    camera: Annotated[str, Query(max_length=36)] = "",
    since: Text = "",
    until: Text = "",
    purpose: Text = "",
    before: Annotated[str, Query(max_length=80)] = "",
    go: str = "",
) -> Response:
    """The plate search form; with `go`, the sightings that match, newest first, on a table and a map."""
    page.principal.require(plates.READ)
    result: SightingPage | None = None
    error = None
    query: dict[str, str] = {}
    # A journey link covers the search's period, or the week before now without one.
    journey_until = utcnow()
    journey_since = journey_until - dt.timedelta(days=7)
    if go:
        try:
            camera_id = _camera(camera)
            search = SightingSearch(
                q=q,
                mode=mode,
                camera_ids=(camera_id,) if camera_id else (),
                since=typed_moment(since, page, "from"),
                until=typed_moment(until, page, "until"),
            )
            result = plates.search(
                session=db,
                principal=page.principal,
                search=search,
                purpose=purpose,
                limit=PAGE_SIZE,
                before=before or None,
            )
            query = {"q": q, "mode": mode, "purpose": purpose}
            if camera_id:
                query["camera_id"] = str(camera_id)
            for name, moment in (("since", search.since), ("until", search.until)):
                if moment is not None:
                    query[name] = moment.isoformat()
            journey_until = search.until or journey_until
            journey_since = max(
                search.since or journey_until - dt.timedelta(days=7),
                journey_until - plates.MAX_JOURNEY_PERIOD,
            )
        except SafecityError as exc:
            db.rollback()
            error = exc.message
    in_scope = (
        cameras.list_cameras(session=db, principal=page.principal) if page.principal.can(cameras.READ) else []
    )
    items = result.items if result else []
    form = {
        "q": q,
        "mode": mode,
        "camera": camera,
        "since": since,
        "until": until,
        "purpose": purpose,
        "go": "1",
    }
    return render(
        page,
        "plates/search.html",
        modes=SEARCH_MODES,
        cameras=in_scope,
        filters=form,
        purpose=purpose,
        searched=result is not None,
        items=items,
        points=_points(items, page),
        csv_url=f"/api/v1/plates/sightings.csv?{urlencode(query)}" if result is not None else "",
        next_url=(
            "/plates?" + urlencode({**form, "before": result.next_before})
            if result and result.next_before
            else ""
        ),
        journey_query=urlencode(
            {
                "since": _typed(journey_since, page),
                "until": _typed(journey_until, page),
                "purpose": purpose,
                "go": "1",
            }
        ),
        error=error,
    )


@router.get("/plates/journey", response_class=HTMLResponse)
def journey_page(
    page: CurrentPage,
    db: Db,
    plate: Annotated[str, Query(max_length=40)] = "",
    since: Text = "",
    until: Text = "",
    window_s: Annotated[int, Query(ge=1, le=plates.MAX_WINDOW_S)] = plates.DEFAULT_WINDOW_S,
    purpose: Text = "",
    go: str = "",
) -> Response:
    """A vehicle's journey over a period: its route on a map, its sightings in order, its companions."""
    page.principal.require(plates.READ)
    result: JourneyOut | None = None
    error = None
    if go:
        try:
            since_at, until_at = typed_moment(since, page, "from"), typed_moment(until, page, "until")
            if since_at is None or until_at is None:
                raise InvalidInput("give the period: from and until")
            result = plates.journey(
                session=db,
                principal=page.principal,
                plate=plate,
                since=since_at,
                until=until_at,
                purpose=purpose,
                window_s=window_s,
            )
        except SafecityError as exc:
            db.rollback()
            error = exc.message
    stops = result.stops if result else []
    return render(
        page,
        "plates/journey.html",
        filters={"plate": plate, "since": since, "until": until, "window_s": window_s},
        purpose=purpose,
        journey=result,
        route=_points(stops, page),
        error=error,
    )


READING_MODES = {
    "off": "Off",
    "vehicles": "Read plates of tracked vehicles",
    "dedicated": "ANPR camera on a lane (read every frame that moves, no vehicle detector)",
}
REGIONS = ("PK", "IN", "AR", "DZ", "ANY")


def panel_context(page: Page, current: PlateSettingsOut, saved: str | None = None) -> dict[str, Any]:
    """What the panel (plates/_camera_settings.html) shows."""
    return {
        "plates": current,
        "plate_modes": READING_MODES,
        "plate_regions": REGIONS,
        "plates_can_manage": page.principal.can(analytics.MANAGE),
        "plates_saved": saved,
    }


@router.post("/cameras/{camera_id}/analytics/plates", response_class=HTMLResponse)
def save(
    page: CurrentPage,
    db: Db,
    camera_id: uuid.UUID,
    mode: Annotated[str, Form(max_length=16)],
    region: Annotated[str, Form(max_length=8)] = "PK",
    min_plate_px: Annotated[str, Form(max_length=8)] = "",
    min_vehicle_px: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save how the camera reads plates; answers the panel as it now is, or a flash saying what is wrong."""
    try:
        try:
            settings = PlateSettings.model_validate(
                {
                    "mode": mode,
                    "region": region,
                    **({"min_plate_px": min_plate_px} if min_plate_px.strip() else {}),
                    **({"min_vehicle_px": min_vehicle_px} if min_vehicle_px.strip() else {}),
                }
            )
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"these plate settings are not valid: {problems}", code="bad_plates") from exc
        current = plates.set_settings(
            session=db, principal=page.principal, camera_id=camera_id, settings=settings
        )
    except SafecityError as exc:
        return refuse(db, exc, page)  # a refused permission is audited, as in the API
    saved = (
        "Saved: applies within seconds." if settings.mode != "off" else "Saved: this camera reads no plates."
    )
    return render(page, "plates/_camera_settings.html", **panel_context(page, current, saved))
