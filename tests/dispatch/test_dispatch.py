"""Dispatch: recommending the nearest suitable unit, atomic assignment, positions, statuses and the API."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from dispatch_world import (
    CANTONMENT,
    HAYATABAD,
    QISSA_KHWANI,
    SADDAR,
    UNIVERSITY_TOWN,
    dispatcher,
    incident,
    unit,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory, audit_info, new_database
from safecity.audit.models import AuditEntry
from safecity.config import Settings
from safecity.core.db import create_db_engine, create_session_factory
from safecity.core.errors import Conflict, InvalidInput, NotFound
from safecity.dispatch import positions, views
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import Assignment, Unit, UnitStatus
from safecity.incidents.models import Category, Incident, IncidentEvent, Status
from safecity.org.models import District, Province

T0 = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)


def test_agencies_are_seeded_once_with_the_category_mapping(session: Session) -> None:
    first = dispatch.ensure_agencies(session=session)
    again = dispatch.ensure_agencies(session=session)
    assert {a.code for a in first} == {"police", "rescue1122", "fire", "traffic", "bomb_disposal"}
    assert [a.id for a in first] == [a.id for a in again]
    assert {a.code: a.phone for a in first}["fire"] == "16"
    assert dispatch.suited_agencies("traffic_accident") == ["traffic", "rescue1122"]
    assert dispatch.suited_agencies("terrorism_threat") == ["police", "bomb_disposal"]
    assert dispatch.suited_agencies("medical") == ["rescue1122"]


def test_recommendation_picks_the_nearest_suitable_available_units(
    factory: Factory, session: Session
) -> None:
    district, other = factory.district(), factory.district()
    boss = factory.principal(factory.user("dispatcher"))
    near = unit(session, boss, district.id, at=CANTONMENT)
    middle = unit(session, boss, district.id, at=QISSA_KHWANI)
    far = unit(session, boss, other.id, at=HAYATABAD)
    unit(session, boss, district.id, at=SADDAR, status=UnitStatus.DISPATCHED)  # busy, though closest
    unit(session, boss, district.id, at=SADDAR, status=UnitStatus.OFF_DUTY)
    unit(session, boss, district.id, agency="rescue1122", at=SADDAR)  # not for a street crime
    unit(session, boss, district.id)  # position unknown
    crime = incident(session, boss, district.id, SADDAR)

    found = dispatch.recommend(session=session, principal=boss, incident_id=crime.id)

    assert [r.unit.id for r in found] == [near.id, middle.id, far.id]
    assert 1_100 < found[0].distance_m < 1_400  # Saddar to the Cantonment: about 1.25 km
    assert found[0].eta_s == pytest.approx(found[0].distance_m / (30_000 / 3600))
    assert 10_000 < found[2].distance_m < 12_000
    limited = dispatch.recommend(session=session, principal=boss, incident_id=crime.id, limit=1)
    assert [r.unit.id for r in limited] == [near.id]
    # The incident's own district first: a nearer unit of another district comes after.
    closer_elsewhere = unit(session, boss, other.id, at=(34.0045, 71.5425))
    ranked = dispatch.recommend(
        session=session, principal=boss, incident_id=crime.id, same_district_first=True
    )
    assert [r.unit.id for r in ranked] == [near.id, middle.id, closer_elsewhere.id, far.id]


def test_a_fire_needs_the_fire_brigade_and_rescue_1122(factory: Factory, session: Session) -> None:
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher"))
    engine = unit(session, boss, district.id, agency="fire", at=QISSA_KHWANI)
    ambulance = unit(session, boss, district.id, agency="rescue1122", at=UNIVERSITY_TOWN)
    unit(session, boss, district.id, agency="police", at=SADDAR)
    fire = incident(session, boss, district.id, SADDAR, Category.FIRE)
    found = dispatch.recommend(session=session, principal=boss, incident_id=fire.id)
    assert [r.unit.id for r in found] == [engine.id, ambulance.id]


def test_recommendation_stays_within_the_dispatchers_districts(factory: Factory, session: Session) -> None:
    mine, theirs = factory.district(), factory.district()
    boss = factory.principal(factory.user("dispatcher"))
    local = factory.principal(factory.user("dispatcher", districts=[mine]))
    unit(session, boss, theirs.id, at=SADDAR)
    own = unit(session, boss, mine.id, at=HAYATABAD)
    crime = incident(session, boss, mine.id, SADDAR)
    assert [
        r.unit.id for r in dispatch.recommend(session=session, principal=local, incident_id=crime.id)
    ] == [own.id]
    elsewhere = incident(session, boss, theirs.id, SADDAR)
    with pytest.raises(NotFound):
        dispatch.recommend(session=session, principal=local, incident_id=elsewhere.id)


def test_assignment_dispatches_the_unit_and_the_incident_and_a_second_one_conflicts(
    factory: Factory, session: Session
) -> None:
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher"))
    mobile = unit(session, boss, district.id, at=CANTONMENT)
    crime = incident(session, boss, district.id, SADDAR)
    other = incident(session, boss, district.id, QISSA_KHWANI)

    assignment = dispatch.assign(session=session, principal=boss, incident_id=crime.id, unit_id=mobile.id)

    assert (mobile.status, mobile.version) == (UnitStatus.DISPATCHED, 2)
    assert crime.status == Status.DISPATCHED
    texts = [
        e.text for e in session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == crime.id))
    ]
    assert f"{mobile.call_sign} dispatched" in texts
    assert (
        session.scalars(select(AuditEntry).where(AuditEntry.action == "dispatch.assign")).first() is not None
    )
    with pytest.raises(Conflict) as refused:
        dispatch.assign(session=session, principal=boss, incident_id=other.id, unit_id=mobile.id)
    assert refused.value.code == "unit_unavailable"
    assert other.status == Status.NEW
    # The unit acknowledges (twice: a repeat keeps the first time), arrives, and is cleared.
    acked = dispatch.acknowledge(session=session, principal=boss, assignment_id=assignment.id)
    first = acked.acknowledged_at
    assert (
        dispatch.acknowledge(session=session, principal=boss, assignment_id=assignment.id).acknowledged_at
        == first
    )
    assert mobile.status == UnitStatus.EN_ROUTE
    dispatch.set_status(session=session, principal=boss, unit_id=mobile.id, status=UnitStatus.ON_SCENE)
    assert assignment.arrived_at is not None
    assert session.get_one(Incident, crime.id).status == Status.ON_SCENE
    dispatch.set_status(session=session, principal=boss, unit_id=mobile.id, status=UnitStatus.AVAILABLE)
    assert assignment.cleared_at is not None
    again = dispatch.assign(session=session, principal=boss, incident_id=other.id, unit_id=mobile.id)
    assert again.unit_id == mobile.id


def test_a_stale_position_is_ignored_and_a_wrong_one_refused(factory: Factory, session: Session) -> None:
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher"))
    mobile = unit(session, boss, district.id)
    later = T0 + dt.timedelta(minutes=5)
    assert positions.report_position(
        session=session, unit_id=mobile.id, lat=SADDAR[0], lon=SADDAR[1], at=later
    )
    stale = positions.report_position(
        session=session, call_sign=mobile.call_sign, lat=HAYATABAD[0], lon=HAYATABAD[1], at=T0
    )
    assert stale is False
    session.refresh(mobile)
    assert (mobile.latitude, mobile.longitude, mobile.position_at) == (SADDAR[0], SADDAR[1], later)
    with pytest.raises(InvalidInput):
        positions.report_position(session=session, unit_id=mobile.id, lat=91.0, lon=71.5, at=later)
    with pytest.raises(NotFound):
        positions.report_position(session=session, call_sign="NOBODY", lat=34.0, lon=71.5, at=later)


def _district(session: Session) -> District:
    province = Province(code="KP", name="Khyber Pakhtunkhwa")
    session.add(province)
    session.flush()
    district = District(province_id=province.id, code="PSW", name="Peshawar", latitude=34.0, longitude=71.5)
    session.add(district)
    session.flush()
    return district


def test_two_dispatchers_assigning_one_unit_at_once_one_wins(tmp_path: Path, settings: Settings) -> None:
    """Two real concurrent transactions on PostgreSQL: the second waits, then gets a clear conflict."""
    with new_database("postgresql", tmp_path) as url:
        engine = create_db_engine(url)
        factory = create_session_factory(engine, info=audit_info(settings))
        try:
            with factory.begin() as session:
                district = _district(session)
                mobile = unit(session, dispatcher(), district.id, at=CANTONMENT)
                first = incident(session, dispatcher(), district.id, SADDAR)
                second = incident(session, dispatcher(), district.id, QISSA_KHWANI)
                unit_id, ids = mobile.id, (first.id, second.id)
            outcome: dict[str, object] = {}
            holding, release = threading.Event(), threading.Event()

            def a() -> None:
                with factory.begin() as session:
                    dispatch.assign(
                        session=session, principal=dispatcher("a"), incident_id=ids[0], unit_id=unit_id
                    )
                    holding.set()
                    release.wait(10)
                outcome["a"] = "assigned"

            def b() -> None:
                try:
                    with factory.begin() as session:
                        dispatch.assign(
                            session=session, principal=dispatcher("b"), incident_id=ids[1], unit_id=unit_id
                        )
                    outcome["b"] = "assigned"
                except Conflict as exc:
                    outcome["b"] = exc.code

            ta, tb = threading.Thread(target=a), threading.Thread(target=b)
            ta.start()
            assert holding.wait(10)
            tb.start()
            time.sleep(0.3)
            assert tb.is_alive()  # b waits on a's lock instead of reading a stale "available"
            release.set()
            ta.join(10)
            tb.join(10)
            assert outcome == {"a": "assigned", "b": "unit_unavailable"}
            with factory() as session:
                assert session.get_one(Unit, unit_id).status == UnitStatus.DISPATCHED
                assert session.get_one(Incident, ids[1]).status == Status.NEW
                assert len(session.scalars(select(Assignment)).all()) == 1
        finally:
            engine.dispose()


# --- the API --------------------------------------------------------------------------------------


@pytest.fixture
def api(web_app: FastAPI) -> FastAPI:
    """The application with the dispatch API (until the lead wires it into the shell)."""
    if not any(getattr(r, "path", "") == "/api/v1/units" for r in web_app.routes):
        web_app.include_router(views.router)
    return web_app


def test_the_api_registers_units_recommends_assigns_and_takes_the_ack(
    api: FastAPI, factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    user = factory.user("dispatcher", districts=[district])
    boss = factory.principal(user)
    dispatch.ensure_agencies(session=session)
    crime = incident(session, boss, district.id, SADDAR)
    client = login_as(user)

    assert {a["code"] for a in client.get("/api/v1/agencies").json()} >= {"police", "rescue1122"}
    body = {
        "agency": "police",
        "call_sign": "PSW-MOB-07",
        "vehicle_registration": "LEB-1234",
        "vehicle_type": "Toyota Hilux",
        "crew": [{"name": "Asad Khan", "rank": "ASI"}],
        "district_id": str(district.id),
        "status": "available",
    }
    made = client.post("/api/v1/units", json=body)
    assert made.status_code == 201, made.text
    unit_id = made.json()["id"]
    assert client.post("/api/v1/units", json=body).json()["error"]["code"] == "call_sign_taken"
    at = {"lat": CANTONMENT[0], "lon": CANTONMENT[1], "at": "2026-11-22T09:00:00Z"}
    assert client.post(f"/api/v1/units/{unit_id}/position", json=at).status_code == 204
    bad = client.post(f"/api/v1/units/{unit_id}/position", json={**at, "lat": 123})
    assert bad.status_code == 422

    recommended = client.get(f"/api/v1/incidents/{crime.id}/recommendations").json()
    assert [r["unit"]["call_sign"] for r in recommended] == ["PSW-MOB-07"]
    sent = client.post(f"/api/v1/incidents/{crime.id}/assignments", json={"unit_id": unit_id})
    assert sent.status_code == 201, sent.text
    again = client.post(f"/api/v1/incidents/{crime.id}/assignments", json={"unit_id": unit_id})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "unit_unavailable")
    acked = client.post(f"/api/v1/assignments/{sent.json()['id']}/ack")
    assert acked.status_code == 200 and acked.json()["acknowledged_at"]
    assert client.get(f"/api/v1/units/{unit_id}").json()["status"] == "en_route"
    on_scene = client.post(f"/api/v1/units/{unit_id}/status", json={"status": "on_scene"})
    assert on_scene.status_code == 200
    listed = client.get(f"/api/v1/incidents/{crime.id}/assignments").json()
    assert listed[0]["arrived_at"] is not None
    assert [u["call_sign"] for u in client.get("/api/v1/units").json()] == ["PSW-MOB-07"]


def test_an_operator_may_see_units_but_not_send_them(
    api: FastAPI, factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher"))
    mobile = unit(session, boss, district.id, at=CANTONMENT)
    crime = incident(session, boss, district.id, SADDAR)
    client = login_as(factory.user("operator", districts=[district]))
    assert client.get(f"/api/v1/units/{mobile.id}").status_code == 200
    refused = client.post(f"/api/v1/incidents/{crime.id}/assignments", json={"unit_id": str(mobile.id)})
    assert refused.status_code == 403


def test_the_units_page_lists_units_with_their_status_for_the_map(
    web_app: FastAPI, factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    from safecity.dispatch import pages

    if not any(getattr(r, "path", "") == "/units" for r in web_app.routes):
        web_app.include_router(pages.router)
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher"))
    unit(session, boss, district.id, at=CANTONMENT, call_sign="PSW-MOB-07")
    unit(session, boss, district.id, call_sign="PSW-MOB-08", status=UnitStatus.OFF_DUTY)
    page = login_as(factory.user("operator", districts=[district])).get("/units")
    assert page.status_code == 200
    assert "PSW-MOB-07" in page.text and "PSW-MOB-08" in page.text
    assert 'class="status st-available"' in page.text and 'class="status st-off_duty"' in page.text
    # Only the unit with a known position is on the map.
    assert '"call_sign": "PSW-MOB-07"' in page.text and '"call_sign": "PSW-MOB-08"' not in page.text
