"""Pages of the organisation: districts on a map, with their police stations and camera sites."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from safecity.org import service as org
from safecity.org.models import District, PoliceStation, Site
from safecity.org.schemas import PlaceIn
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, htmx_action, render

router = APIRouter(include_in_schema=False)


def map_points(places: Iterable[District | PoliceStation | Site], kind: str) -> list[dict[str, object]]:
    """Places as markers for the page's Leaflet map."""
    return [{"name": p.name, "lat": p.latitude, "lon": p.longitude, "kind": kind} for p in places]


@router.get("/org/districts", response_class=HTMLResponse)
def districts_page(page: CurrentPage, db: Db) -> Response:
    districts = org.list_districts(session=db, actor=page.principal)
    stations = org.list_stations(session=db, actor=page.principal)
    sites = org.list_sites(session=db, actor=page.principal)
    points = map_points(districts, "district") + map_points(stations, "station") + map_points(sites, "site")
    return render(
        page,
        "org/districts.html",
        districts=districts,
        stations=stations,
        sites=sites,
        points=points,
        names={d.id: d.name for d in districts},
    )


@router.post("/org/{kind}")
def add_place_submit(
    page: CurrentPage,
    db: Db,
    kind: str,
    district_id: Annotated[uuid.UUID, Form()],
    name: Annotated[str, Form(min_length=2, max_length=120)],
    latitude: Annotated[float, Form(ge=-90, le=90)],
    longitude: Annotated[float, Form(ge=-180, le=180)],
) -> Response:
    data = PlaceIn(district_id=district_id, name=name, latitude=latitude, longitude=longitude)
    adders = {"stations": org.add_station, "sites": org.add_site}
    if kind not in adders:
        return Response(status_code=404)
    return htmx_action(
        db, lambda: adders[kind](session=db, actor=page.principal, data=data), "/org/districts"
    )
