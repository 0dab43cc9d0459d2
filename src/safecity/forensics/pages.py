"""Forensic pages: search across cameras (a form, hits as pictures on a timeline and a map, each opening the
recording at that moment) and routes (sightings across cameras on a map, their recordings in one player).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from safecity.analytics.attributes import COLOURS, DIRECTIONS
from safecity.analytics.types import COCO_CLASSES, PIPELINE_CLASSES
from safecity.core.errors import InvalidInput, SafecityError
from safecity.core.schemas import Area
from safecity.evidence import pages as evidence_pages
from safecity.forensics import service
from safecity.forensics.schemas import HitOut, RouteOut, SearchIn, SearchOut
from safecity.video import recorder
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, Page, render, typed_moment

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=500)]
Choice = Annotated[list[str] | None, Form(max_length=40)]
CLASSES = [name for i, name in enumerate(COCO_CLASSES) if i in PIPELINE_CLASSES]


def _problem(exc: ValueError | ValidationError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return str(exc)


def _form(page: Page, db: Db, **context: Any) -> HTMLResponse:
    page.principal.require(service.INVESTIGATE)
    cameras = recorder.playable_cameras(session=db, principal=page.principal)
    values: dict[str, Any] = {
        "what": "objects",
        "cameras": [],
        "classes": [],
        "colours": [],
        "directions": [],
        "since": "",
        "until": "",
        "purpose": "",
        "plate": "",
        "plate_mode": "exact",
        "event_kinds": "",
        "area": "",
    } | context.pop("values", {})
    return render(
        page,
        "forensics/search.html",
        **evidence_pages.add_to_case_context(page, db),
        cameras=cameras,
        camera_points=[
            {"lat": c.latitude, "lon": c.longitude, "label": c.name}
            for c in cameras
            if c.latitude is not None
        ],
        classes=CLASSES,
        colours=COLOURS,
        directions=DIRECTIONS,
        values=values,
        **context,
    )


@router.get("/forensics", response_class=HTMLResponse)
def search_page(page: CurrentPage, db: Db) -> HTMLResponse:
    """The search form (forensics.investigate)."""
    return _form(page, db)


@router.post("/forensics", response_class=HTMLResponse)
def search_submit(
    page: CurrentPage,
    db: Db,
    since: Text,
    until: Text,
    purpose: Text,
    what: Annotated[str, Form(max_length=10)] = "objects",
    camera: Choice = None,
    cls: Choice = None,
    colour: Choice = None,
    direction: Choice = None,
    plate: Annotated[str, Form(max_length=40)] = "",
    plate_mode: Annotated[str, Form(max_length=10)] = "exact",
    event_kinds: Annotated[str, Form(max_length=500)] = "",
    area: Annotated[str, Form(max_length=120)] = "",
    before: Annotated[str, Form(max_length=80)] = "",
) -> HTMLResponse:
    """Run the search; the hits on a timeline, a map and as pictures (always a 200 page, htmx swaps the
    results in; a refusal says why in their place).
    """
    values = {
        "what": what,
        "cameras": camera or [],
        "classes": cls or [],
        "colours": colour or [],
        "directions": direction or [],
        "since": since,
        "until": until,
        "purpose": purpose,
        "plate": plate,
        "plate_mode": plate_mode,
        "event_kinds": event_kinds,
        "area": area,
    }
    result: SearchOut | None = None
    error = None
    span: tuple[float, float] | None = None
    try:
        try:
            query = SearchIn.model_validate(
                {
                    "purpose": purpose,
                    "since": typed_moment(since, page, "from"),
                    "until": typed_moment(until, page, "until"),
                    "camera_ids": [uuid.UUID(c) for c in camera or []],
                    "area": Area.from_text(area),
                    "what": what,
                    "classes": cls or [],
                    "colours": colour or [],
                    "directions": direction or [],
                    "event_kinds": [k.strip() for k in event_kinds.split(",") if k.strip()],
                    "plate": plate or None,
                    "plate_mode": plate_mode,
                    "before": before or None,
                }
            )
        except (ValueError, ValidationError) as exc:
            raise InvalidInput(_problem(exc), code="invalid_search") from None
        result = service.search(session=db, principal=page.principal, query=query)
        span = (query.since.timestamp(), query.until.timestamp())
    except SafecityError as exc:  # refused before anything was written
        error = exc.message
    hits = result.hits if result else []
    return _form(
        page,
        db,
        values=values,
        error=error,
        result=result,
        timeline=_timeline(hits, span),
        points=[
            {"lat": h.latitude, "lon": h.longitude, "label": f"{h.camera_name}: {h.label}"} for h in hits
        ],
    )


def _point(lat: float, lon: float, label: str) -> dict[str, Any]:
    """A labelled dot for the map (forensics.js puts labels in as text)."""
    return {"lat": lat, "lon": lon, "label": label}


def _timeline(hits: list[HitOut], span: tuple[float, float] | None) -> list[dict[str, Any]]:
    """Where each hit sits on the period's timeline, in percent from its start."""
    if span is None:
        return []
    start, end = span
    return [
        {"hit": h, "left": round(100 * (h.at.timestamp() - start) / max(1.0, end - start), 2)}
        for h in sorted(hits, key=lambda h: h.at)
    ]


# --- routes -------------------------------------------------------------------------------------------


def _route_page(page: Page, db: Db, **context: Any) -> HTMLResponse:
    page.principal.require(service.INVESTIGATE)
    values = {
        "plate": "",
        "since": "",
        "until": "",
        "purpose": "",
        "objects": [],
        "faces": [],
        "authorisation": "",
    }
    values |= context.pop("values", {})
    return render(page, "forensics/route.html", values=values, **context)


@router.get("/forensics/routes", response_class=HTMLResponse)
def route_page(
    page: CurrentPage,
    db: Db,
    objects: Annotated[list[uuid.UUID] | None, Query(max_length=100)] = None,
    faces: Annotated[list[uuid.UUID] | None, Query(max_length=100)] = None,
    authorisation: uuid.UUID | None = None,
) -> HTMLResponse:
    """The route form: a plate and a period, or the objects (or faces, with the authorisation they were
    found under) chosen from a search (forensics.investigate).
    """
    values = {
        "objects": [str(o) for o in objects or []],
        "faces": [str(f) for f in faces or []],
        "authorisation": str(authorisation or ""),
    }
    return _route_page(page, db, values=values)


@router.post("/forensics/routes", response_class=HTMLResponse)
def route_submit(
    page: CurrentPage,
    db: Db,
    purpose: Text,
    plate: Annotated[str, Form(max_length=40)] = "",
    since: Annotated[str, Form(max_length=40)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
    objects: Annotated[list[str] | None, Form(max_length=100)] = None,
    faces: Annotated[list[str] | None, Form(max_length=100)] = None,
    authorisation: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse:
    """Rebuild the route: its stops on a map and a list, the recordings of all of them in one player."""
    values = {
        "plate": plate,
        "since": since,
        "until": until,
        "purpose": purpose,
        "objects": objects or [],
        "faces": faces or [],
        "authorisation": authorisation,
    }
    result: RouteOut | None = None
    error = None
    try:
        try:
            object_ids = [uuid.UUID(o) for o in objects or []]
            face_ids = [uuid.UUID(f) for f in faces or []]
            authorisation_id = uuid.UUID(authorisation) if authorisation else None
        except ValueError:
            raise InvalidInput("an object or face chosen is not valid", code="bad_object") from None
        result = service.route(
            session=db,
            principal=page.principal,
            purpose=purpose,
            object_ids=object_ids,
            faces=face_ids,
            authorisation_id=authorisation_id,
            plate=plate or None,
            since=typed_moment(since, page, "from"),
            until=typed_moment(until, page, "until"),
        )
    except SafecityError as exc:  # refused before anything was written
        error = exc.message
    stops = result.stops if result else []
    return _route_page(
        page,
        db,
        values=values,
        error=error,
        result=result,
        points=[
            _point(s.hit.latitude, s.hit.longitude, f"{n}. {s.hit.camera_name}")
            for n, s in enumerate(stops, start=1)
        ],
    )
