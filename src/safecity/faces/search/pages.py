"""The retrospective face search page: a photo, an authorisation, cameras or an area drawn on the map, a
period and a purpose; the faces found on a timeline and a map, each with its picture, score and a link to
the video.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from safecity.cameras import service as cameras
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, SafecityError
from safecity.core.schemas import Area
from safecity.faces import service as faces
from safecity.faces.models import Authorisation, AuthorisationKind
from safecity.faces.schemas import MAX_ENROL_PHOTO_BYTES
from safecity.faces.search import service
from safecity.faces.search.schemas import FaceFoundOut, SearchIn, SearchOut
from safecity.faces.search.views import ENGINE
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, Page, render, typed_moment

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=500)]


def _authorisations(page: Page, db: Db) -> list[Authorisation]:
    """The retrospective authorisations in force now in the searcher's districts."""
    current = faces.current_authorisations(
        session=db, kind=AuthorisationKind.RETROSPECTIVE, camera_id=None, at=utcnow()
    )
    return [a for a in current if page.principal.sees_district(a.district_id)]


def _form(page: Page, db: Db, **context: Any) -> HTMLResponse:
    page.principal.require(service.SEARCH)
    in_scope = (
        cameras.list_cameras(session=db, principal=page.principal) if page.principal.can(cameras.READ) else []
    )
    values = {
        "authorisation": "",
        "cameras": [],
        "area": "",
        "since": "",
        "until": "",
        "purpose": "",
    } | context.pop("values", {})
    return render(
        page,
        "faces/search.html",
        authorisations=_authorisations(page, db),
        cameras=in_scope,
        camera_points=[
            {"lat": c.latitude, "lon": c.longitude, "label": c.name}
            for c in in_scope
            if c.latitude is not None and c.longitude is not None
        ],
        values=values,
        can_route=page.principal.can("forensics.investigate"),
        **context,
    )


@router.get("/faces/search", response_class=HTMLResponse)
def search_page(page: CurrentPage, db: Db) -> HTMLResponse:
    """The search form (faces.search)."""
    return _form(page, db)


@router.post("/faces/search", response_class=HTMLResponse)
def search_submit(
    page: CurrentPage,
    db: Db,
    photo: Annotated[UploadFile, File()],
    authorisation: Annotated[str, Form(max_length=36)],
    since: Text,
    until: Text,
    purpose: Text,
    camera: Annotated[list[str] | None, Form(max_length=36)] = None,
    area: Annotated[str, Form(max_length=120)] = "",
) -> HTMLResponse:
    """Run the search and show the faces found on a timeline and a map; a refusal says why (audited).

    Always a 200 page (htmx swaps the results part in), a refusal shown in place of the results.
    """
    values = {
        "authorisation": authorisation,
        "cameras": camera or [],
        "area": area,
        "since": since,
        "until": until,
        "purpose": purpose,
    }
    result: SearchOut | None = None
    error = None
    try:
        data = photo.file.read(MAX_ENROL_PHOTO_BYTES + 1)
        try:
            authorisation_id = uuid.UUID(authorisation)
            query = SearchIn(
                purpose=purpose,
                since=typed_moment(since, page, "from"),
                until=typed_moment(until, page, "until"),
                camera_ids=[uuid.UUID(c) for c in camera or []],
                area=Area.from_text(area),
            )
        except (ValueError, ValidationError) as exc:
            raise InvalidInput(_first_problem(exc), code="invalid_search") from None
        settings = get_services(page.request).settings
        with ENGINE.use(settings.faces) as engine:
            result = service.search_by_photo(
                session=db,
                principal=page.principal,
                engine=engine,
                box=faces.biometric_box(settings),
                authorisation_id=authorisation_id,
                photo=data,
                query=query,
            )
    except SafecityError as exc:
        db.rollback()
        error = exc.message
    found = result.results if result else []
    return _form(
        page,
        db,
        values=values,
        error=error,
        result=result,
        timeline=sorted(found, key=lambda r: r.seen_at),
        points=_points(found, page),
    )


def _first_problem(exc: ValueError | ValidationError) -> str:
    """What is wrong with the form, in words."""
    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return "choose an authorisation and cameras from the lists"


def _points(found: list[FaceFoundOut], page: Page) -> list[dict[str, Any]]:
    """What the map draws: one dot per face found at a placed camera (face_search.js puts labels as text)."""
    return [
        {
            "lat": r.latitude,
            "lon": r.longitude,
            "label": f"{r.camera_name} · {_local(r.seen_at, page)} · {r.score:.3f}",
        }
        for r in found
        if r.latitude is not None and r.longitude is not None
    ]


def _local(value: dt.datetime, page: Page) -> str:
    return value.astimezone(page.timezone).strftime("%Y-%m-%d %H:%M:%S")
