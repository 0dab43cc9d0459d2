"""Unit statuses that stay true: dispatchers set them, a unit sets its own (and no other), closing an
incident frees its units, and every change is on the incident's timeline and in the audit log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dispatch_world import CANTONMENT, QISSA_KHWANI, SADDAR, incident, unit
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.auth import tokens
from safecity.core.errors import InvalidInput, NotFound, PermissionDenied
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import Assignment, UnitStatus
from safecity.incidents import flows
from safecity.incidents.models import Incident, Status


def _texts(incident_: Incident) -> list[str]:
    return [e.text for e in incident_.events]


def test_a_dispatcher_sets_any_status_but_dispatched_and_the_incident_hears_of_it(
    factory: Factory, session: Session
) -> None:
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher", districts=[district]))
    mobile = unit(session, boss, district.id, at=CANTONMENT, call_sign="PSW-MOB-21")
    crime = incident(session, boss, district.id, SADDAR)
    dispatch.assign(session=session, principal=boss, incident_id=crime.id, unit_id=mobile.id)

    dispatch.set_status(session=session, principal=boss, unit_id=mobile.id, status=UnitStatus.EN_ROUTE)
    assert "PSW-MOB-21 is en route" in _texts(crime)
    with pytest.raises(InvalidInput):  # "dispatched" comes only with an assignment
        dispatch.set_status(session=session, principal=boss, unit_id=mobile.id, status=UnitStatus.DISPATCHED)
    # Out of service takes the unit off its incident, and it is never recommended while so.
    dispatch.set_status(session=session, principal=boss, unit_id=mobile.id, status=UnitStatus.OUT_OF_SERVICE)
    assert "PSW-MOB-21 cleared from the incident: out of service" in _texts(crime)
    other = incident(session, boss, district.id, QISSA_KHWANI)
    assert dispatch.recommend(session=session, principal=boss, incident_id=other.id) == []
    changes = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "dispatch.unit_status", AuditEntry.object_id == str(mobile.id)
        )
    ).all()
    assert [(c.detail["from"], c.detail["to"]) for c in changes][-2:] == [
        ("dispatched", "en_route"),
        ("en_route", "out_of_service"),
    ]
    operator = factory.principal(factory.user("operator", districts=[district]))
    with pytest.raises(PermissionDenied):
        dispatch.set_status(session=session, principal=operator, unit_id=mobile.id, status=UnitStatus.BUSY)


def test_closing_an_incident_frees_its_units_for_the_next_one(factory: Factory, session: Session) -> None:
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher", districts=[district]))
    mobile = unit(session, boss, district.id, at=CANTONMENT, call_sign="PSW-MOB-22")
    crime = incident(session, boss, district.id, SADDAR)
    assignment = dispatch.assign(session=session, principal=boss, incident_id=crime.id, unit_id=mobile.id)
    dispatch.set_status(session=session, principal=boss, unit_id=mobile.id, status=UnitStatus.ON_SCENE)
    other = incident(session, boss, district.id, QISSA_KHWANI)
    assert dispatch.recommend(session=session, principal=boss, incident_id=other.id) == []

    flows.change_status(
        session=session,
        principal=boss,
        incident_id=crime.id,
        status=Status.RESOLVED,
        reason="Suspect arrested",
        version=crime.version,
        open_steps_reason="Handled on scene by the first mobile",
    )

    assert mobile.status == UnitStatus.AVAILABLE and assignment.cleared_at is not None
    assert "PSW-MOB-22 released: available again" in _texts(crime)
    recommended = dispatch.recommend(session=session, principal=boss, incident_id=other.id)
    assert [r.unit.call_sign for r in recommended] == ["PSW-MOB-22"]


def test_a_unit_that_went_busy_stays_busy_when_its_incident_closes(
    factory: Factory, session: Session
) -> None:
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher", districts=[district]))
    sent, idle = (
        unit(session, boss, district.id, at=CANTONMENT, call_sign="PSW-MOB-23"),
        unit(session, boss, district.id, at=CANTONMENT, call_sign="PSW-MOB-24"),
    )
    crime = incident(session, boss, district.id, SADDAR)
    for u in (sent, idle):
        dispatch.assign(session=session, principal=boss, incident_id=crime.id, unit_id=u.id)
    dispatch.set_status(session=session, principal=boss, unit_id=idle.id, status=UnitStatus.BUSY)
    flows.change_status(
        session=session,
        principal=boss,
        incident_id=crime.id,
        status=Status.RESOLVED,
        reason="False alarm",
        version=crime.version,
        open_steps_reason="False alarm: nothing to do",
    )
    assert (sent.status, idle.status) == (UnitStatus.AVAILABLE, UnitStatus.BUSY)


def test_closing_with_open_sop_steps_needs_a_reason_that_is_recorded(
    factory: Factory, session: Session
) -> None:
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher", districts=[district]))
    crime = incident(session, boss, district.id, SADDAR)
    steps = crime.sop_items
    assert len(steps) >= 3
    from safecity.incidents import service as incidents

    incidents.tick_sop(session=session, principal=boss, incident_id=crime.id, item_id=steps[0].id, done=True)
    with pytest.raises(InvalidInput, match=f"{len(steps) - 1} of {len(steps)} SOP steps are not done"):
        flows.change_status(
            session=session,
            principal=boss,
            incident_id=crime.id,
            status=Status.RESOLVED,
            reason="Done",
            version=crime.version,
        )
    assert crime.status == Status.NEW
    flows.change_status(
        session=session,
        principal=boss,
        incident_id=crime.id,
        status=Status.RESOLVED,
        reason="Done",
        version=crime.version,
        open_steps_reason="Caller withdrew the complaint",
    )
    line = crime.events[-1]
    assert line.detail["open_steps"] == [s.position for s in steps[1:]]
    assert "left undone" in line.text and "Caller withdrew the complaint" in line.text
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "incidents.status").order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None and entry.detail["open_steps_reason"] == "Caller withdrew the complaint"
    # Every step done: no reason needed.
    for item in crime.sop_items:
        incidents.tick_sop(session=session, principal=boss, incident_id=crime.id, item_id=item.id, done=True)
    flows.change_status(
        session=session,
        principal=boss,
        incident_id=crime.id,
        status=Status.CLOSED,
        reason="Report filed",
        version=crime.version,
    )
    assert crime.status == Status.CLOSED


def test_a_unit_sets_its_own_status_with_its_token_and_no_other_units(
    client: TestClient, factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    boss_user = factory.user("dispatcher", districts=[district])
    boss = factory.principal(boss_user)
    terminal = factory.user("unit", districts=[district], mfa=False)
    mine = unit(session, boss, district.id, at=CANTONMENT, call_sign="PSW-MOB-25")
    theirs = unit(session, boss, district.id, at=CANTONMENT, call_sign="PSW-MOB-26")
    mine.account_id = terminal.id
    crime = incident(session, boss, district.id, SADDAR)
    dispatch.assign(session=session, principal=boss, incident_id=crime.id, unit_id=mine.id)
    _, secret = tokens.create(
        session=session, actor=factory.principal(terminal), name="MDT PSW-MOB-25", permissions=["units.self"]
    )
    session.commit()
    bearer = {"Authorization": f"Bearer {secret}"}

    assert client.get("/api/v1/units/me", headers=bearer).json()["call_sign"] == "PSW-MOB-25"
    moved = client.post("/api/v1/units/me/status", json={"status": "on_scene"}, headers=bearer)
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "on_scene"
    session.expire_all()
    assert session.get_one(Incident, crime.id).status == Status.ON_SCENE
    assert "PSW-MOB-25 arrived on scene" in _texts(session.get_one(Incident, crime.id))
    sent = session.scalars(select(Assignment).where(Assignment.incident_id == crime.id)).one()
    assert sent.arrived_at is not None and sent.acknowledged_at is not None  # there: it got the call
    refused = client.post("/api/v1/units/me/status", json={"status": "dispatched"}, headers=bearer)
    assert refused.status_code == 422
    # The unit's token cannot touch another unit, nor use the dispatcher's route.
    other = client.post(f"/api/v1/units/{theirs.id}/status", json={"status": "busy"}, headers=bearer)
    assert other.status_code == 403
    at = {"lat": SADDAR[0], "lon": SADDAR[1], "at": "2026-11-22T09:05:00Z"}
    assert client.post("/api/v1/units/me/position", json=at, headers=bearer).status_code == 204
    session.expire_all()
    assert session.get_one(type(theirs), theirs.id).status == UnitStatus.AVAILABLE
    assert session.get_one(type(mine), mine.id).latitude == SADDAR[0]
    # A dispatcher has no unit of their own.
    assert login_as(boss_user).get("/api/v1/units/me").status_code == 403


def test_an_account_with_no_unit_is_told_so(factory: Factory, session: Session) -> None:
    terminal = factory.principal(factory.user("unit", mfa=False))
    with pytest.raises(NotFound):
        dispatch.set_own_status(session=session, principal=terminal, status=UnitStatus.BUSY)
