"""Forensic search across cameras, as an investigator uses it through the API: objects by colour, class
and direction in an area and a period, events by kind, plates fuzzy; paged, audited with the purpose,
scoped to one's districts; and routes whose recordings play as one playlist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory, login
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import SightingIn
from safecity.audit.models import AuditEntry
from safecity.auth.models import User
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.events import service as events
from safecity.events.schemas import EventIn
from safecity.forensics import service as forensics
from safecity.forensics.schemas import TrackIn
from safecity.video.models import Recording

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PURPOSE = "FIR 77/2026: the red car seen leaving the bank"
PATH = [(0.0, 0.1, 0.5, 0.3, 0.8), (2.0, 0.6, 0.5, 0.8, 0.8)]


@dataclass(frozen=True)
class Town:
    investigator: User
    stranger: User  # an investigator of another district
    gate: Camera
    market: Camera
    far: Camera  # same district, outside the area drawn
    red_at_gate: uuid.UUID
    red_at_market: uuid.UUID


def _track(
    session: Session,
    camera: Camera,
    at: dt.datetime,
    colour: str,
    cls: str = "car",
    snapshot: str | None = None,
) -> uuid.UUID:
    track = TrackIn(
        id=uuid.uuid4(),
        camera_id=camera.id,
        district_id=camera.district_id,
        track_id=1,
        class_name=cls,
        colour=colour,
        colour_share=0.9,
        first_seen=at,
        last_seen=at + dt.timedelta(seconds=2),
        direction="right",
        path=PATH,
        frame_width=640,
        frame_height=480,
        snapshot=snapshot,
    )
    assert forensics.record_tracks(session=session, tracks=[track, track]) == 1  # a replay is stored once
    return track.id


@pytest.fixture
def town(session: Session, factory: Factory, settings: Settings) -> Town:
    district, other = factory.district(), factory.district()

    def camera(name: str, lat: float, lon: float, district_id: uuid.UUID = district.id) -> Camera:
        row = Camera(name=name, district_id=district_id, latitude=lat, longitude=lon, stream_url="")
        session.add(row)
        session.flush()
        return row

    gate, market, far = (
        camera("Gate", 34.01, 71.51),
        camera("Market", 34.02, 71.52),
        camera("Ring", 34.5, 72.0),
    )
    elsewhere = camera("Elsewhere", 34.015, 71.515, other.id)
    picture = np.full((60, 90, 3), (30, 30, 200), np.uint8)
    snapshot = forensics.snapshot_path(gate.id, uuid.uuid4(), NOW)
    (settings.snapshots_dir / snapshot).parent.mkdir(parents=True)
    cv2.imwrite(str(settings.snapshots_dir / snapshot), picture)
    red_at_gate = _track(session, gate, NOW - dt.timedelta(minutes=30), "red", snapshot=snapshot)
    red_at_market = _track(session, market, NOW - dt.timedelta(minutes=20), "red")
    _track(session, market, NOW - dt.timedelta(minutes=25), "white")
    _track(session, market, NOW - dt.timedelta(minutes=24), "red", cls="person")
    _track(session, far, NOW - dt.timedelta(minutes=20), "red")  # outside the area
    _track(session, elsewhere, NOW - dt.timedelta(minutes=20), "red")  # another district's
    _track(session, gate, NOW - dt.timedelta(days=3), "red")  # before the period
    return Town(
        factory.user("investigator", districts=[district]),
        factory.user("investigator", districts=[other]),
        gate,
        market,
        far,
        red_at_gate,
        red_at_market,
    )


def _search(client: TestClient, **body: object) -> dict[str, object]:
    query = {
        "purpose": PURPOSE,
        "since": (NOW - dt.timedelta(hours=2)).isoformat(),
        "until": NOW.isoformat(),
        "area": {"south": 34.0, "west": 71.5, "north": 34.03, "east": 71.53},
    } | body
    response = client.post("/api/v1/forensics/search", json=query)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_red_cars_in_the_area_are_found_across_cameras_newest_first_and_the_search_is_audited(
    client: TestClient, factory: Factory, session: Session, town: Town
) -> None:
    login(client, factory, town.investigator, session)
    found = _search(client, classes=["car"], colours=["red"])
    hits = found["hits"]
    assert isinstance(hits, list)
    assert [h["id"] for h in hits] == [str(town.red_at_market), str(town.red_at_gate)]
    assert found["cameras"] == 2  # the gate and the market: the ring road is outside the area
    gate_hit = hits[1]
    assert gate_hit["camera_name"] == "Gate" and gate_hit["label"] == "car, red, moving right"
    assert gate_hit["playback_url"].startswith(f"/cameras/{town.gate.id}?at=")
    picture = client.get(gate_hit["picture_url"])
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert hits[0]["picture_url"] is None  # no view was kept of that one

    # Paged: one at a time, the cursor leads to the older one and then ends.
    first = _search(client, classes=["car"], colours=["red"], limit=1)
    assert [h["id"] for h in first["hits"]] == [str(town.red_at_market)]  # type: ignore[index]
    second = _search(client, classes=["car"], colours=["red"], limit=1, before=first["next"])
    assert [h["id"] for h in second["hits"]] == [str(town.red_at_gate)]  # type: ignore[index]
    assert second["next"] is None

    session.expire_all()
    audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "forensics.search")).all()
    assert len(audited) == 3 and all(a.purpose == PURPOSE for a in audited)
    assert audited[0].detail["colours"] == ["red"] and audited[0].detail["hits"] == 2


def test_events_by_kind_and_plates_one_character_off_are_searched_the_same_way(
    client: TestClient, factory: Factory, session: Session, town: Town
) -> None:
    at = NOW - dt.timedelta(minutes=10)
    event = EventIn(
        id=uuid.uuid4(),
        occurred_at=at,
        kind="analytics.line_crossing",
        source="analytics",
        district_id=town.gate.district_id,
        camera_id=town.gate.id,
        severity=2,
        payload={"rule_name": "Bank gate", "objects": [{"class": "person"}]},
    )
    events.record_many(session=session, events=[event])
    sighting = SightingIn(
        camera_id=town.market.id,
        district_id=town.market.district_id,
        seen_at=at,
        first_seen=at,
        last_seen=at,
        plate="LEB1234",
        confidence=0.93,
        layout="PK-PB",
        jurisdiction="Punjab",
        colour="red",
        vehicle_class="car",
    )
    plates.record_many(session=session, sightings=[sighting])
    login(client, factory, town.investigator, session)
    crossing = _search(client, what="events", event_kinds=["analytics.line_crossing"])
    assert [(h["kind"], h["label"]) for h in crossing["hits"]] == [("event", "Bank gate person")]  # type: ignore[union-attr]
    misread = _search(client, what="plates", plate="LE81234", plate_mode="fuzzy")
    assert [(h["plate"], h["camera_name"]) for h in misread["hits"]] == [("LEB1234", "Market")]  # type: ignore[union-attr]
    assert _search(client, what="plates", plate="LEB9999")["hits"] == []


def test_absurd_or_unexplained_searches_are_refused_and_other_districts_stay_unseen(
    client: TestClient,
    factory: Factory,
    session: Session,
    town: Town,
    login_as: Callable[[User], TestClient],
) -> None:
    login(client, factory, town.stranger, session)
    base = {"purpose": PURPOSE, "since": (NOW - dt.timedelta(hours=2)).isoformat(), "until": NOW.isoformat()}
    year = client.post(
        "/api/v1/forensics/search", json=base | {"since": (NOW - dt.timedelta(days=400)).isoformat()}
    )
    assert year.status_code == 422 and "31 days" in year.text
    backwards = client.post(
        "/api/v1/forensics/search", json=base | {"until": base["since"], "since": base["until"]}
    )
    assert backwards.status_code == 422
    assert client.post("/api/v1/forensics/search", json=base | {"purpose": "x"}).status_code == 422
    # The stranger's own district has a red car at the same place and time; the town's are not theirs.
    found = client.post("/api/v1/forensics/search", json=base | {"colours": ["red"]}).json()
    assert [h["camera_name"] for h in found["hits"]] == ["Elsewhere"]
    named = client.post("/api/v1/forensics/search", json=base | {"camera_ids": [str(town.gate.id)]})
    assert named.status_code == 404
    assert client.get(f"/api/v1/forensics/objects/{town.red_at_gate}/snapshot.jpg").status_code == 404
    operator = factory.user("operator", districts=None)  # in a browser of their own
    assert login_as(operator).post("/api/v1/forensics/search", json=base).status_code == 403


def _segment(session: Session, settings: Settings, camera: Camera, start: dt.datetime) -> Recording:
    relative = f"{camera.id}/{start:%Y%m%dT%H%M%S}.mp4"
    file = settings.recordings_dir / relative
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b"\0" * 2048)
    row = Recording(
        camera_id=camera.id,
        start=start,
        end=start + dt.timedelta(seconds=10),
        path=relative,
        bytes=2048,
        init_bytes=512,
        sha256="0" * 64,
    )
    session.add(row)
    session.flush()
    return row


def test_a_route_of_chosen_objects_plays_their_cameras_recordings_one_after_another(
    client: TestClient, factory: Factory, session: Session, town: Town, settings: Settings
) -> None:
    at_gate = _segment(session, settings, town.gate, NOW - dt.timedelta(minutes=30, seconds=5))
    at_market = _segment(session, settings, town.market, NOW - dt.timedelta(minutes=20, seconds=5))
    login(client, factory, town.investigator, session)
    similar = client.get(f"/api/v1/forensics/objects/{town.red_at_gate}/similar?window_s=3600").json()
    # Red cars at the district's other cameras within the hour: not the white one, nor the red person.
    assert sorted(h["camera_name"] for h in similar) == ["Market", "Ring"]
    assert str(town.red_at_market) in {h["id"] for h in similar}
    body = {"purpose": PURPOSE, "object_ids": [str(town.red_at_market), str(town.red_at_gate)]}
    route = client.post("/api/v1/forensics/routes", json=body).json()
    assert [s["hit"]["camera_name"] for s in route["stops"]] == ["Gate", "Market"]  # in time order
    playlist = client.get(route["playlist_url"])
    assert playlist.status_code == 200, playlist.text
    text = playlist.text
    assert text.index(str(at_gate.id)) < text.index(str(at_market.id))
    assert text.count("#EXT-X-DISCONTINUITY") == 1
    assert client.get("/api/v1/forensics/route.m3u8?span=nonsense").status_code == 422
    session.expire_all()
    audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "forensics.route")).one()
    assert audited.purpose == PURPOSE and audited.detail["stops"] == 2


def test_the_search_page_shows_hits_on_a_timeline_and_a_map(
    client: TestClient, factory: Factory, session: Session, town: Town
) -> None:
    login(client, factory, town.investigator, session)
    assert client.get("/forensics").status_code == 200
    local = (NOW - dt.timedelta(hours=2)).astimezone(dt.timezone(dt.timedelta(hours=5)))
    form = {
        "what": "objects",
        "since": local.strftime("%Y-%m-%dT%H:%M:%S"),
        "until": (local + dt.timedelta(hours=2, minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "purpose": PURPOSE,
        "colour": "red",
        "cls": "car",
        "area": "34.0,71.5,34.03,71.53",
    }
    case = client.post("/api/v1/cases", json={"title": "Bank robbery of 6 December"})
    assert case.status_code in {200, 201}, case.text
    page = client.post("/forensics", data=form)
    assert page.status_code == 200
    # Each hit can be added to one's open case from the results.
    assert page.text.count('data-testid="add-to-case"') == 2 and "Bank robbery of 6 December" in page.text
    assert page.text.count('class="tick tick-object"') == 2
    assert "car, red, moving right" in page.text and "data-forensic-map" in page.text
    refused = client.post("/forensics", data=form | {"area": "north"})
    assert "the area drawn is not valid" in refused.text
