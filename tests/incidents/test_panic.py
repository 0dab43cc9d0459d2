"""The panic button: registration, a press opens one top-priority incident, live positions follow it."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import safecity.auth
from conftest import Factory
from safecity.auth import tokens
from safecity.auth.permissions import BY_NAME
from safecity.auth.principal import Principal
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.incidents import service
from safecity.incidents.models import Category, Source, Status
from safecity.incidents.panic import service as panic
from safecity.incidents.panic.models import PanicRegistration
from safecity.org.models import District

APP = Principal(None, "panic-app", frozenset({"panic.report"}), None, via="token")
PHONE = "0300 1234567"


@pytest.fixture
def peshawar_mardan(factory: Factory, session: Session) -> tuple[District, District]:
    """Two districts with their headquarters ~50 km apart."""
    pesh, mardan = factory.district(), factory.district()
    pesh.latitude, pesh.longitude = 34.0151, 71.5249
    mardan.latitude, mardan.longitude = 34.1986, 72.0404
    session.flush()
    return pesh, mardan


def _register(session: Session, factory: Factory, phone: str = PHONE) -> PanicRegistration:
    operator = factory.principal(factory.user("operator"))
    return panic.register(
        session=session,
        principal=operator,
        phone=phone,
        name="Ayesha Khan",
        cnic="17301-1234567-8",
        emergency_contact_name="Bilal Khan",
        emergency_contact_phone="+92 321 7654321",
    )


def test_registration_normalises_phone_and_cnic_and_refuses_duplicates(
    session: Session, factory: Factory
) -> None:
    registration = _register(session, factory)
    assert (registration.phone, registration.cnic) == ("+923001234567", "1730112345678")
    assert registration.emergency_contact_phone == "+923217654321" and registration.active
    with pytest.raises(Conflict):
        _register(session, factory, phone="+92 300 1234567")
    operator = factory.principal(factory.user("operator"))
    with pytest.raises(InvalidInput):
        panic.register(session=session, principal=operator, phone="03009999999", name="X", cnic="1234-567")
    with pytest.raises(InvalidInput):
        panic.register(session=session, principal=operator, phone="12345", name="X")
    with pytest.raises(PermissionDenied):
        panic.register(session=session, principal=APP, phone="03009999999", name="X")


def test_a_press_opens_a_top_priority_incident_in_the_nearest_district(
    session: Session, factory: Factory, peshawar_mardan: tuple[District, District]
) -> None:
    _, mardan = peshawar_mardan
    _register(session, factory)
    incident, created = panic.press(
        session=session, principal=APP, phone=PHONE, latitude=34.20, longitude=72.03
    )
    assert created
    assert (incident.district_id, incident.priority) == (mardan.id, 1)
    assert (incident.category, incident.source, incident.status) == (
        Category.WOMENS_SAFETY,
        Source.PANIC,
        Status.NEW,
    )
    assert incident.title == "Panic button: Ayesha Khan"
    assert incident.caller_phone == "+923001234567"
    assert incident.number.startswith(f"{mardan.code}-")
    assert "Emergency contact: Bilal Khan +923217654321" in [e.text for e in incident.events]
    # The control room sees it among its incidents, most urgent first.
    dispatcher = factory.principal(factory.user("dispatcher", districts=[mardan]))
    assert service.list_incidents(session=session, principal=dispatcher)[0].id == incident.id


def test_repeated_presses_join_the_open_incident_until_it_is_resolved(
    session: Session, factory: Factory, peshawar_mardan: tuple[District, District]
) -> None:
    pesh, _ = peshawar_mardan
    _register(session, factory)
    first, _ = panic.press(session=session, principal=APP, phone=PHONE, latitude=34.01, longitude=71.52)
    again, created = panic.press(session=session, principal=APP, phone=PHONE, latitude=34.02, longitude=71.53)
    assert (again.id, created) == (first.id, False)
    assert (again.latitude, again.longitude) == (34.02, 71.53)
    assert [e.kind for e in again.events].count("position") == 2

    supervisor = factory.principal(factory.user("supervisor", districts=[pesh]))
    service.change_status(
        session=session,
        principal=supervisor,
        incident_id=first.id,
        status=Status.RESOLVED,
        reason="Caller safe",
        version=first.version,
        open_steps_reason="The caller was safe before any step was needed",
    )
    later, created = panic.press(session=session, principal=APP, phone=PHONE, latitude=34.01, longitude=71.52)
    assert created and later.id != first.id


def test_unregistered_or_inactive_phones_are_refused(session: Session, factory: Factory) -> None:
    factory.district()
    with pytest.raises(NotFound) as refused:
        panic.press(session=session, principal=APP, phone=PHONE, latitude=34.0, longitude=71.5)
    assert refused.value.code == "not_registered"
    registration = _register(session, factory)
    registration.active = False
    session.flush()
    with pytest.raises(NotFound):
        panic.press(session=session, principal=APP, phone=PHONE, latitude=34.0, longitude=71.5)
    operator = factory.principal(factory.user("operator"))
    with pytest.raises(PermissionDenied):
        panic.press(session=session, principal=operator, phone=PHONE, latitude=34.0, longitude=71.5)


def test_live_position_follows_the_caller_and_ignores_stale_reports(
    session: Session, factory: Factory
) -> None:
    factory.district()
    _register(session, factory)
    now = dt.datetime.now(dt.UTC)
    incident, _ = panic.press(
        session=session,
        principal=APP,
        phone=PHONE,
        latitude=34.0,
        longitude=71.5,
        at=now - dt.timedelta(seconds=60),
    )
    panic.follow(
        session=session, principal=APP, incident_id=incident.id, latitude=34.1, longitude=71.6, at=now
    )
    stale = now - dt.timedelta(seconds=30)
    panic.follow(
        session=session, principal=APP, incident_id=incident.id, latitude=33.0, longitude=70.0, at=stale
    )
    assert (incident.latitude, incident.longitude) == (34.1, 71.6)
    trail = [e for e in incident.events if e.kind == "position"]
    assert [e.detail["applied"] for e in trail] == [True, True, False]
    with pytest.raises(InvalidInput):
        panic.follow(
            session=session,
            principal=APP,
            incident_id=incident.id,
            latitude=34.0,
            longitude=71.5,
            at=now + dt.timedelta(hours=1),
        )
    # Only panic incidents can be followed: a token cannot move other incidents.
    operator = factory.principal(factory.user("operator"))
    other = service.create_incident(
        session=session,
        principal=operator,
        data=service.validate_incident(category="fire", district_id=incident.district_id),
    )
    with pytest.raises(NotFound):
        panic.follow(
            session=session, principal=APP, incident_id=other.id, latitude=34.0, longitude=71.5, at=now
        )


def test_api_registration(factory: Factory, login_as: Callable[..., TestClient]) -> None:
    operator = login_as(factory.user("operator"))
    body = {"phone": PHONE, "name": "Ayesha Khan", "cnic": "1730112345678"}
    created = operator.post("/api/v1/panic/registrations", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["phone"] == "+923001234567" and "cnic" not in created.json()
    assert operator.post("/api/v1/panic/registrations", json=body).status_code == 409
    bad = operator.post("/api/v1/panic/registrations", json={**body, "phone": "03007777777", "cnic": "12"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "bad_cnic")
    investigator = login_as(factory.user("investigator"))
    assert investigator.post("/api/v1/panic/registrations", json=body).status_code == 403


def _panic_role() -> str | None:
    roles = tomllib.loads((Path(safecity.auth.__file__).parent / "roles.toml").read_text(encoding="utf-8"))
    return next((name for name, role in roles.items() if "panic.report" in role["permissions"]), None)


def test_api_mobile_app_presses_and_follows(
    factory: Factory, session: Session, client: TestClient, web_app: FastAPI
) -> None:
    role = _panic_role()
    if "panic.report" not in BY_NAME or role is None:
        pytest.skip("panic.report is not in the permission catalogue and roles yet")
    factory.district()
    _register(session, factory)
    owner = factory.principal(factory.user(role))
    _, secret = tokens.create(session=session, actor=owner, name="panic app", permissions=["panic.report"])
    session.commit()
    app = TestClient(web_app, headers={"Authorization": f"Bearer {secret}"})
    missing = app.post("/api/v1/panic", json={"phone": "03110000000", "lat": 34.0, "lon": 71.5})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_registered")
    first = app.post("/api/v1/panic", json={"phone": PHONE, "lat": 34.0, "lon": 71.5})
    assert first.status_code == 201 and first.json()["created"], first.text
    again = app.post("/api/v1/panic", json={"phone": PHONE, "lat": 34.001, "lon": 71.5})
    assert again.status_code == 200 and again.json()["incident_id"] == first.json()["incident_id"]
    at = dt.datetime.now(dt.UTC).isoformat()
    moved = app.post(
        f"/api/v1/panic/{first.json()['incident_id']}/position", json={"lat": 34.002, "lon": 71.501, "at": at}
    )
    assert moved.status_code == 200, moved.text
    naive = app.post(
        f"/api/v1/panic/{first.json()['incident_id']}/position",
        json={"lat": 34.0, "lon": 71.5, "at": "2026-11-22T10:00:00"},
    )
    assert naive.status_code == 422
