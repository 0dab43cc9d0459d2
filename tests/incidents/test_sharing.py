"""Sharing incidents with another agency: its users see them in any district, other agencies do not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.core.errors import NotFound, PermissionDenied
from safecity.dispatch import service as dispatch
from safecity.incidents import service
from safecity.incidents.models import Incident
from safecity.incidents.sharing import service as sharing

ADMIN = Principal(None, "admin", frozenset({"users.manage"}), None, via="system")


def _incident(session: Session, factory: Factory) -> tuple[Incident, Principal]:
    dispatch.ensure_agencies(session=session)
    district = factory.district()
    dispatcher = factory.principal(factory.user("dispatcher", districts=[district]))
    operator = factory.principal(factory.user("operator", districts=[district]))
    incident = service.create_incident(
        session=session,
        principal=operator,
        data=service.validate_incident(category="traffic_accident", title="Bus overturned on GT Road"),
    )
    return incident, dispatcher


def test_shared_incident_is_seen_by_the_agency_in_another_district_only(
    session: Session, factory: Factory
) -> None:
    incident, dispatcher = _incident(session, factory)
    elsewhere = factory.district()
    rescue_user = factory.user("dispatcher", districts=[elsewhere])
    fire_user = factory.user("dispatcher", districts=[elsewhere])
    sharing.set_user_agency(session=session, actor=ADMIN, user_id=rescue_user.id, agency_code="rescue1122")
    sharing.set_user_agency(session=session, actor=ADMIN, user_id=fire_user.id, agency_code="fire")
    rescue, fire = factory.principal(rescue_user), factory.principal(fire_user)
    assert sharing.shared_with(session=session, principal=rescue) == []

    shared = sharing.share(
        session=session,
        principal=dispatcher,
        incident_id=incident.id,
        agency_code="rescue1122",
        note="Many injured",
    )
    assert (shared.agency_code, shared.shared_by) == ("rescue1122", dispatcher.user_id)
    assert [i.id for i in sharing.shared_with(session=session, principal=rescue)] == [incident.id]
    assert sharing.shared_with(session=session, principal=fire) == []
    # Their district scope still hides it from the ordinary list.
    assert service.list_incidents(session=session, principal=rescue) == []

    line = incident.events[-1]
    assert (line.kind, line.text) == ("share", "Shared with Rescue 1122: Many injured")
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "incidents.share")).one()
    assert entry.object_id == str(incident.id)
    # Sharing again changes nothing.
    again = sharing.share(
        session=session, principal=dispatcher, incident_id=incident.id, agency_code="rescue1122"
    )
    assert again.id == shared.id and [e.kind for e in incident.events].count("share") == 1


def test_sharing_needs_dispatch_rights_scope_and_a_known_agency(session: Session, factory: Factory) -> None:
    incident, dispatcher = _incident(session, factory)
    operator = factory.principal(factory.user("operator"))
    with pytest.raises(PermissionDenied):
        sharing.share(session=session, principal=operator, incident_id=incident.id, agency_code="fire")
    outsider = factory.principal(factory.user("dispatcher", districts=[factory.district()]))
    with pytest.raises(NotFound):
        sharing.share(session=session, principal=outsider, incident_id=incident.id, agency_code="fire")
    with pytest.raises(NotFound) as unknown:
        sharing.share(session=session, principal=dispatcher, incident_id=incident.id, agency_code="navy")
    assert unknown.value.code == "unknown_agency"
    with pytest.raises(PermissionDenied):
        sharing.set_user_agency(
            session=session, actor=operator, user_id=dispatcher.user_id, agency_code="fire"
        )  # type: ignore[arg-type]


def test_api_share_and_list(session: Session, factory: Factory, login_as: Callable[..., TestClient]) -> None:
    incident, _ = _incident(session, factory)
    dispatcher = login_as(factory.user("dispatcher", districts=[factory.district()]))
    boss = login_as(factory.user("dispatcher"))
    rescue_user = factory.user("dispatcher", districts=[factory.district()])
    fire_user = factory.user("dispatcher", districts=[factory.district()])
    sharing.set_user_agency(session=session, actor=ADMIN, user_id=rescue_user.id, agency_code="rescue1122")
    sharing.set_user_agency(session=session, actor=ADMIN, user_id=fire_user.id, agency_code="fire")
    session.commit()

    url = f"/api/v1/incidents/{incident.id}/shares"
    assert dispatcher.post(url, json={"agency_code": "rescue1122"}).status_code == 404  # another district
    shared = boss.post(url, json={"agency_code": "rescue1122", "note": "Send ambulances"})
    assert shared.status_code == 201, shared.text
    assert shared.json()["agency_code"] == "rescue1122"
    assert boss.post(url, json={"agency_code": "Rescue 1122"}).status_code == 422

    seen = login_as(rescue_user).get("/api/v1/shared-incidents")
    assert seen.status_code == 200
    assert [i["number"] for i in seen.json()] == [incident.number]
    assert login_as(fire_user).get("/api/v1/shared-incidents").json() == []
