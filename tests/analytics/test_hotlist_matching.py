"""Matching sightings against hotlists: exact and look-alike plates, one edit, expiry, disabled lists and
districts; and end to end, a sighting published on the bus becomes a hit with an alert, crop and all, that an
operator confirms or dismisses and opens as an incident.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Literal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hotlist_data import message, sighting_in, store
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory, login, wait_until, wait_until_async
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.hotlists import service as hotlists
from safecity.analytics.plates.hotlists.flows import HotlistMatcher
from safecity.analytics.plates.hotlists.models import HitStatus, HotlistHit, ListKind, MatchMode
from safecity.analytics.plates.hotlists.schemas import EntryIn, HotlistIn, HotlistUpdate
from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import SightingOut
from safecity.app import create_app
from safecity.auth.models import User
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.bus.memory import MemoryBus
from safecity.core.crypto import SecretBox
from safecity.events.alerts.models import Alert, AlertStatus
from safecity.incidents.models import Incident
from safecity.org.models import District
from safecity.runtime import build_services

NOW = dt.datetime.now(dt.UTC)


@dataclass
class Place:
    here: District
    there: District
    camera: Camera
    keeper: Principal


def make_place(session: Session, factory: Factory) -> Place:
    """Two districts, a camera in the first, and a province-wide keeper of lists."""
    here, there = factory.district(), factory.district()
    camera = Camera(
        name="Chowk Yadgar",
        district_id=here.id,
        latitude=34.008,
        longitude=71.578,
        stream_url="rtsp://10.1.1.1/1",
    )
    session.add(camera)
    session.flush()
    keeper = factory.principal(factory.user("supervisor"))  # province-wide: keeps lists anywhere
    return Place(here, there, camera, keeper)


@pytest.fixture
def place(session: Session, factory: Factory) -> Place:
    return make_place(session, factory)


@dataclass
class Live:
    """The application (lifespan and all) on a database of its own, and a session and factory on it."""

    app: FastAPI
    client: TestClient
    session: Session
    factory: Factory
    place: Place

    def login(self, user: User) -> TestClient:
        """A client of the user's own (the lifespan runs on `client` only)."""
        return login(TestClient(self.app), self.factory, user, self.session)


@pytest.fixture
def live(own_db: tuple[str, sessionmaker[Session]], settings: Settings) -> Iterator[Live]:
    _, session_factory = own_db
    services = build_services(settings, session_factory=session_factory)
    app = create_app(services=services)
    with session_factory() as session, TestClient(app) as client:
        factory = Factory(session, services.mfa_box)
        place = make_place(session, factory)
        session.commit()
        yield Live(app, client, session, factory, place)


def _list(
    session: Session,
    place: Place,
    plates: list[str],
    *,
    mode: MatchMode = MatchMode.EXACT,
    edits: int = 0,
    districts: list[uuid.UUID] | Literal["here"] | None = "here",
    name: str = "Stolen cars",
    **entry: object,
) -> uuid.UUID:
    hotlist = hotlists.create_hotlist(
        session=session,
        principal=place.keeper,
        data=HotlistIn(
            kind=ListKind.STOLEN,
            name=name,
            agency="CPO Peshawar AVLS",
            instructions="Do not stop alone; inform PS Gulberg",
            match_mode=mode,
            max_edits=edits,
            district_ids=[place.here.id] if districts == "here" else districts,  # None: province-wide
        ),
    )
    for plate in plates:
        data = EntryIn.model_validate({"plate": plate, "reason": "stolen at gunpoint", **entry})
        hotlists.add_entry(session=session, principal=place.keeper, hotlist_id=hotlist.id, data=data)
    return hotlist.id


def _matches(session: Session, plate: str, district: District, at: dt.datetime = NOW) -> set[tuple[str, str]]:
    index = hotlists.load_index(session=session)
    return {(m.listed.plate, m.how) for m in index.match(plate, district_id=district.id, at=at)}


def test_exact_lists_match_the_same_characters_only(session: Session, place: Place) -> None:
    _list(session, place, ["LEB1234", "ABO123"])
    assert _matches(session, "LEB1234", place.here) == {("LEB1234", "exact")}
    assert _matches(session, "LE81234", place.here) == set()  # a look-alike is not enough for an exact list
    assert _matches(session, "AB0123", place.here) == set()


def test_fuzzy_lists_match_look_alikes_and_one_edit_when_asked(session: Session, place: Place) -> None:
    _list(session, place, ["LEB1234", "ABO123"], mode=MatchMode.FUZZY, name="Folded")
    assert _matches(session, "LE81234", place.here) == {("LEB1234", "folded")}  # B read as 8
    assert _matches(session, "AB0123", place.here) == {("ABO123", "folded")}  # O read as 0
    assert _matches(session, "LEB1235", place.here) == set()  # one edit is not allowed on this list

    _list(session, place, ["PSW4567"], mode=MatchMode.FUZZY, edits=1, name="One edit")
    assert _matches(session, "PSW4568", place.here) == {("PSW4567", "one_edit")}  # a character misread
    assert _matches(session, "PSW457", place.here) == {("PSW4567", "one_edit")}  # a character missed
    assert _matches(session, "PSW45677", place.here) == {("PSW4567", "one_edit")}  # a character added
    assert _matches(session, "P5W4567", place.here) == {("PSW4567", "folded")}
    assert _matches(session, "PSW4599", place.here) == set()  # two edits
    assert _matches(session, "PSW4567", place.here) == {("PSW4567", "exact")}


def test_expired_entries_disabled_lists_and_other_districts_do_not_match(
    session: Session, place: Place
) -> None:
    _list(session, place, ["OLD111"], expires_at=NOW - dt.timedelta(days=1), name="Expired entry")
    disabled = _list(session, place, ["OFF222"], name="Disabled")
    hotlists.update_hotlist(
        session=session, principal=place.keeper, hotlist_id=disabled, data=HotlistUpdate(enabled=False)
    )
    lapsed = _list(session, place, ["LAPSE33"], name="Lapsed list")
    hotlists.update_hotlist(
        session=session,
        principal=place.keeper,
        hotlist_id=lapsed,
        data=HotlistUpdate(expires_at=NOW - dt.timedelta(minutes=1)),
    )
    _list(session, place, ["THERE44"], districts=[place.there.id], name="Elsewhere")
    _list(session, place, ["EVERY55"], districts=None, name="Province-wide")  # the keeper is province-wide

    assert _matches(session, "OLD111", place.here) == set()
    assert _matches(session, "OLD111", place.here, at=NOW - dt.timedelta(days=2)) == {("OLD111", "exact")}
    assert _matches(session, "OFF222", place.here) == set()
    assert _matches(session, "LAPSE33", place.here) == set()
    assert _matches(session, "THERE44", place.here) == set()
    assert _matches(session, "THERE44", place.there) == {("THERE44", "exact")}
    assert (
        _matches(session, "EVERY55", place.here)
        == _matches(session, "EVERY55", place.there)
        == {("EVERY55", "exact")}
    )


def test_a_changed_list_is_reindexed_alone(session: Session, place: Place) -> None:
    big = _list(
        session, place, [f"BIG{i:04d}" for i in range(300)], mode=MatchMode.FUZZY, edits=1, name="Big"
    )
    small = _list(session, place, ["SML1"], name="Small")
    before = hotlists.load_index(session=session)
    hotlists.add_entry(session=session, principal=place.keeper, hotlist_id=small, data=EntryIn(plate="SML2"))
    after = hotlists.load_index(session=session, previous=before)
    assert after.parts[big] is before.parts[big]  # unchanged: kept, not read again
    assert after.parts[small] is not before.parts[small] and after.size == 302
    assert _matches(session, "SML2", place.here) == {("SML2", "exact")}
    found = after.match("BIG0O12", district_id=place.here.id, at=NOW)
    assert (found[0].listed.plate, found[0].how) == ("BIG0012", "folded")  # the best way first
    assert len(found) == hotlists.MAX_HITS_PER_SIGHTING  # its one-edit neighbours, capped


def _hits(session: Session, sighting_id: uuid.UUID) -> list[HotlistHit]:
    query = select(HotlistHit).where(HotlistHit.sighting_id == sighting_id)
    found = list(session.scalars(query.execution_options(populate_existing=True)))
    session.commit()  # SQLite: a session in a transaction holds the write lock the matcher needs
    return found


def test_a_published_sighting_becomes_a_hit_with_an_alert_that_is_judged_and_opened(
    live: Live, settings: Settings
) -> None:
    session, factory, place, client = live.session, live.factory, live.place, live.client
    list_id = _list(session, place, ["LEB1234"], mode=MatchMode.FUZZY, reference="FIR 77/2026")
    session.commit()
    operator = factory.user("operator", districts=[place.here])
    desk = login(client, factory, operator, session)
    bus = client.app.state.services.bus  # type: ignore[attr-defined]

    def publish(plate: str | None, district: District | None = None) -> uuid.UUID:
        district = district or place.here
        camera_id = place.camera.id if district == place.here else None
        stored = store(
            session, sighting_in(plate, camera_id=camera_id, district_id=district.id), settings.snapshots_dir
        )
        subject, data, msg_id = message(stored)
        client.portal.call(partial(bus.publish, subject, data, msg_id=msg_id))  # type: ignore[union-attr]
        return stored.id

    def publish_until_hit(plate: str) -> uuid.UUID:
        """Publish sightings of `plate` until one hits: the running matcher loads a new list within ~1 s."""
        sent: list[uuid.UUID] = []

        def hit_yet() -> bool:
            sent.append(publish(plate))
            return wait_for(lambda: any(_hits(session, s) for s in sent), 0.5) is not None

        wait_until(hit_yet, within=8, message=f"no sighting of {plate} was matched")
        return next(s for s in sent if _hits(session, s))

    seen = publish_until_hit("LE81234")  # B read as 8
    (hit,) = _hits(session, seen)
    assert (hit.read_plate, hit.listed_plate, hit.matched, hit.status) == (
        "LE81234",
        "LEB1234",
        "folded",
        HitStatus.PENDING,
    )
    assert session.get(Sighting, seen, populate_existing=True).hold == "hotlist"  # type: ignore[union-attr]
    alert = session.get(Alert, hit.alert_id)
    session.commit()
    assert alert is not None and alert.kind == "hotlist.stolen" and alert.camera_id == place.camera.id
    assert alert.detail["instructions"] == "Do not stop alone; inform PS Gulberg"
    assert (alert.detail["list_name"], alert.detail["entry_reason"]) == ("Stolen cars", "stolen at gunpoint")
    crop = desk.get(alert.detail["crop_url"])
    vehicle = desk.get(alert.detail["snapshot_url"])
    assert crop.headers["content-type"] == vehicle.headers["content-type"] == "image/jpeg"
    assert crop.content[:2] == vehicle.content[:2] == b"\xff\xd8" and len(vehicle.content) > len(crop.content)
    # Another district's operator sees neither the hit nor its pictures.
    outsider = live.login(factory.user("operator", districts=[place.there]))
    assert outsider.get(alert.detail["crop_url"]).status_code == 404
    assert outsider.post(f"/api/v1/hotlists/hits/{hit.id}/confirm").status_code == 404

    # Unreadable, unlisted, and listed-elsewhere sightings make no hit.
    quiet = [publish(None), publish("KHI9999"), publish("LEB1234", place.there)]
    follow = publish("LEB1234")
    wait_until(lambda: _hits(session, follow), within=5)
    assert all(not _hits(session, s) for s in quiet)

    # The operator confirms the first; it is acknowledged, audited and opens an incident in one step.
    assert (
        desk.post(f"/api/v1/hotlists/hits/{hit.id}/incident", json={}).json()["error"]["code"]
        == "hit_not_confirmed"
    )
    confirmed = desk.post(f"/api/v1/hotlists/hits/{hit.id}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert desk.post(f"/api/v1/hotlists/hits/{hit.id}/confirm").json()["error"]["code"] == "already_confirmed"
    assert session.get(Alert, hit.alert_id, populate_existing=True).status == AlertStatus.ACKNOWLEDGED  # type: ignore[union-attr]
    session.commit()
    opened = desk.post(f"/api/v1/hotlists/hits/{hit.id}/incident", json={"priority": 1})
    assert opened.status_code == 201, opened.text
    incident = session.get(Incident, uuid.UUID(opened.json()["id"]))
    session.commit()
    assert incident is not None and incident.category.value == "vehicle_theft"
    assert "LEB1234" in incident.title and "Chowk Yadgar" in incident.title
    assert "Stolen cars" in incident.description and f"/hotlists/hits/{hit.id}" in incident.description
    assert "FIR 77/2026" in incident.description and incident.latitude == place.camera.latitude
    assert (
        desk.post(f"/api/v1/hotlists/hits/{hit.id}/incident", json={}).json()["error"]["code"]
        == "already_opened"
    )

    # The second is dismissed, with its reason; precision is now one in two, for the list and the camera.
    (second,) = _hits(session, follow)
    no_reason = desk.post(f"/api/v1/hotlists/hits/{second.id}/dismiss", json={"reason": "other"})
    assert no_reason.json()["error"]["code"] == "reason_required"
    dismissed = desk.post(f"/api/v1/hotlists/hits/{second.id}/dismiss", json={"reason": "misread"})
    assert dismissed.json()["status"] == "dismissed" and dismissed.json()["reason"] == "misread"
    supervisor = live.login(factory.user("supervisor", districts=[place.here]))
    by_list = supervisor.get("/api/v1/hotlists/precision", params={"by": "list"}).json()
    assert [(p["key"], p["confirmed"], p["dismissed"], p["precision"]) for p in by_list] == [
        (str(list_id), 1, 1, 0.5)
    ]
    by_camera = supervisor.get("/api/v1/hotlists/precision", params={"by": "camera"}).json()
    assert [(p["name"], p["precision"]) for p in by_camera] == [("Chowk Yadgar", 0.5)]
    page = supervisor.get(f"/hotlists/{list_id}")
    assert "50%" in page.text
    # A plate added now is matched within a couple of seconds, without a restart.
    hotlists.add_entry(
        session=session, principal=place.keeper, hotlist_id=list_id, data=EntryIn(plate="NEW777")
    )
    session.commit()
    publish_until_hit("NEW777")


def wait_for(condition: Callable[[], object], within: float) -> object:
    """`condition`'s value once truthy, or None after `within` seconds."""
    try:
        wait_until(condition, within=within)
    except AssertionError:
        return None
    return condition()


@pytest.mark.anyio
async def test_the_matcher_survives_bad_messages_and_stores_a_redelivered_hit_once(
    own_db: tuple[str, sessionmaker[Session]],
) -> None:
    _, session_factory = own_db
    with session_factory() as session:
        place = make_place(session, Factory(session, SecretBox("k" * 40, "mfa")))
        _list(session, place, ["LEB1234", "KHI5678"])
        session.commit()
        first = store(session, sighting_in("LEB1234", camera_id=place.camera.id, district_id=place.here.id))
        last = store(session, sighting_in("KHI5678", camera_id=place.camera.id, district_id=place.here.id))
        # Published, not stored yet (on NATS the sighting store may be behind): the matcher stores it.
        only_published = SightingOut.model_validate(
            {**sighting_in("LEB1234", camera_id=None, district_id=place.here.id).model_dump(), "hold": None}
        )
    bus = MemoryBus()
    await bus.start()
    matcher = HotlistMatcher(session_factory, bus)
    stop = asyncio.Event()
    running = asyncio.create_task(matcher.run(stop=stop))
    subject = plates.subject(place.camera.id)
    try:
        await bus.publish(subject, b"{not json", msg_id="garbage")
        await bus.publish(subject, b'{"id": "x"}', msg_id="wrong shape")
        subject_, data, msg_id = message(only_published)
        await bus.publish(subject_, data, msg_id=msg_id)
        subject_, data, msg_id = message(first)
        await bus.publish(subject_, data, msg_id=msg_id)
        await bus.publish(subject, message(first)[1], msg_id="the same sighting again")
        subject_, data, msg_id = message(last)
        await bus.publish(subject_, data, msg_id=msg_id)

        def count(sighting_id: uuid.UUID) -> int:
            with session_factory() as s:
                return len(s.scalars(select(HotlistHit).where(HotlistHit.sighting_id == sighting_id)).all())

        await wait_until_async(lambda: count(last.id) == 1, within=10)
        await wait_until_async(lambda: count(only_published.id) == 1, within=10)
        assert count(first.id) == 1
        with session_factory() as s:
            titles = s.scalars(select(Alert.title).where(Alert.source == "hotlists")).all()
            assert s.get(Sighting, only_published.id) is not None
        assert sorted(t.split(" at ")[0] for t in titles) == [
            "Stolen vehicle KHI5678",
            "Stolen vehicle LEB1234",
            "Stolen vehicle LEB1234 (Stolen cars)",  # no camera: no " at " in its title
        ]
        assert not running.done()  # nothing above stopped it
    finally:
        stop.set()
        await running
        await bus.close()
