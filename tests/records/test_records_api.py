"""The records through the API, as an investigator uses them: persons with their sources, FIRs, warrants,
stolen vehicles on the hotlist, missing persons, links, photos; every read with a purpose, break glass
beyond one's districts, sensitive records hidden."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.analytics.plates.hotlists.models import HotlistEntry
from safecity.audit.models import AuditEntry
from safecity.auth.models import Role, RolePermission
from safecity.events.alerts.models import Alert
from safecity.org.models import District, PoliceStation
from safecity.records.models import BreakGlass, Person

PERSON: dict[str, Any] = {
    "cnic": "35202-1234567-1",
    "name": "Muhammad Aslam",
    "name_ur": "محمد اسلم",
    "father_name": "Ghulam Rasool",
    "relation": "s/o",
    "date_of_birth": "1985-03-14",
    "aliases": ["Aslam Kala"],
    "phones": ["0300 1234567"],
    "addresses": ["House 12, Street 4, Gulberg, Lahore"],
    "identifying_marks": "Scar above the left eye",
}


def _station(session: Session, district: District) -> PoliceStation:
    station = PoliceStation(district_id=district.id, name="Gulberg", latitude=31.52, longitude=74.35)
    session.add(station)
    session.flush()
    return station


@pytest.fixture
def district(factory: Factory) -> District:
    return factory.district()


@pytest.fixture
def investigator(factory: Factory, district: District, login_as: Callable[..., TestClient]) -> TestClient:
    return login_as(factory.user("investigator", districts=[district], username="inv.aslam"))


def _person(client: TestClient, district: District, **changes: Any) -> str:
    response = client.post(
        "/api/v1/records/persons", json={**PERSON, "district_id": str(district.id), **changes}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_malformed_cnic_or_phone_is_a_clear_422(investigator: TestClient, district: District) -> None:
    bad_cnic = investigator.post(
        "/api/v1/records/persons", json={**PERSON, "cnic": "35202-123", "district_id": str(district.id)}
    )
    assert bad_cnic.status_code == 422 and bad_cnic.json()["error"]["code"] == "bad_cnic"
    bad_phone = investigator.post(
        "/api/v1/records/persons", json={**PERSON, "phones": ["12345"], "district_id": str(district.id)}
    )
    assert bad_phone.status_code == 422 and bad_phone.json()["error"]["code"] == "bad_phone"
    latin_in_urdu = investigator.post(
        "/api/v1/records/persons", json={**PERSON, "name_ur": "Aslam", "district_id": str(district.id)}
    )
    assert latin_in_urdu.status_code == 422


def test_a_read_needs_a_purpose_and_is_audited_with_it(
    investigator: TestClient, district: District, session: Session
) -> None:
    person_id = _person(investigator, district)
    refused = investigator.get(f"/api/v1/records/persons/{person_id}")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "purpose_required"
    read = investigator.get(
        f"/api/v1/records/persons/{person_id}", params={"purpose": "FIR 12/2026 PS Gulberg"}
    )
    assert read.status_code == 200, read.text
    record = read.json()
    assert record["person"]["cnic"] == "35202-1234567-1"  # shown NNNNN-NNNNNNN-N
    assert record["person"]["phones"] == ["+923001234567"]
    sources = {(f["field"], f["source"]) for f in record["facts"]}
    assert ("name", "own:inv.aslam") in sources and ("phone", "own:inv.aslam") in sources
    entries = list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == "records.read", AuditEntry.object_id == person_id)
        )
    )
    assert [(e.object_type, e.purpose, e.actor_name) for e in entries] == [
        ("record_person", "FIR 12/2026 PS Gulberg", "inv.aslam")
    ]
    assert investigator.get(f"/api/v1/records/persons/{uuid.uuid4()}?purpose=case 1").status_code == 404


def test_a_changed_value_keeps_the_old_one_with_its_source(
    investigator: TestClient, district: District
) -> None:
    person_id = _person(investigator, district)
    changed = investigator.put(
        f"/api/v1/records/persons/{person_id}", json={**PERSON, "identifying_marks": "Scar on the chin"}
    )
    assert changed.status_code == 200, changed.text
    record = investigator.get(f"/api/v1/records/persons/{person_id}?purpose=case 7").json()
    marks = [(f["value"], f["current"]) for f in record["facts"] if f["field"] == "identifying_marks"]
    assert sorted(marks) == [("Scar above the left eye", False), ("Scar on the chin", True)]


def test_another_districts_record_is_read_only_by_breaking_glass_and_reviewed(
    factory: Factory, district: District, login_as: Callable[..., TestClient], session: Session
) -> None:
    keeper = login_as(factory.user("investigator", districts=[district]))
    person_id = _person(keeper, district)
    elsewhere = factory.district()
    outsider_user = factory.user("investigator", districts=[elsewhere], username="inv.elsewhere")
    outsider = login_as(outsider_user)
    refused = outsider.get(f"/api/v1/records/persons/{person_id}?purpose=case 9")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "break_glass_required"
    read = outsider.get(
        f"/api/v1/records/persons/{person_id}",
        params={"purpose": "case 9", "reason": "Suspect fled across the district line tonight"},
    )
    assert read.status_code == 200, read.text
    glass = session.scalars(select(BreakGlass).where(BreakGlass.person_id == uuid.UUID(person_id))).one()
    assert glass.username == "inv.elsewhere" and glass.district_id == district.id
    alert = session.scalars(select(Alert).where(Alert.kind == "records.break_glass")).one()
    assert alert.district_id == district.id and alert.detail["break_glass_id"] == str(glass.id)
    # The record's district's supervisor reviews it; the reader cannot review their own.
    supervisor = login_as(factory.user("supervisor", districts=[district]))
    pending = supervisor.get("/api/v1/records/break-glass")
    assert [g["id"] for g in pending.json()] == [str(glass.id)]
    review = supervisor.post(
        f"/api/v1/records/break-glass/{glass.id}/review", json={"verdict": "justified", "note": "Hot pursuit"}
    )
    assert review.status_code == 200 and review.json()["reviewed_by"]
    assert supervisor.get("/api/v1/records/break-glass").json() == []
    other_supervisor = login_as(factory.user("supervisor", districts=[elsewhere]))
    assert (
        other_supervisor.post(
            f"/api/v1/records/break-glass/{glass.id}/review", json={"verdict": "unjustified"}
        ).status_code
        == 404
    )
    reviewed = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "records.break_glass.review")
    ).one()
    assert reviewed.detail["verdict"] == "justified"


def test_a_sensitive_record_is_absent_without_the_extra_permission(
    factory: Factory, district: District, login_as: Callable[..., TestClient], session: Session
) -> None:
    investigator = login_as(factory.user("investigator", districts=[district]))
    refused = investigator.post(
        "/api/v1/records/persons",
        json={**PERSON, "cnic": None, "sensitivity": "juvenile", "district_id": str(district.id)},
    )
    assert refused.status_code == 403
    # A role that holds the extra permission (as an administrator would grant it) enters one.
    session.add(Role(name="juvenile_desk", description="Juvenile desk"))
    session.flush()
    session.add_all(
        RolePermission(role_name="juvenile_desk", permission=p)
        for p in ("records.read", "records.manage", "records.sensitive")
    )
    desk = login_as(factory.user("juvenile_desk", districts=[district]))
    person_id = _person(desk, district, cnic=None, name="Juvenile Witness", sensitivity="juvenile")
    assert desk.get(f"/api/v1/records/persons/{person_id}?purpose=case 3").status_code == 200
    assert [p["id"] for p in desk.get("/api/v1/records/persons", params={"q": "Juvenile"}).json()] == [
        person_id
    ]
    # Without it the record is not there at all: 404 as for an absent one, and left out of lists.
    hidden = investigator.get(f"/api/v1/records/persons/{person_id}?purpose=case 3")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    assert investigator.get("/api/v1/records/persons", params={"q": "Juvenile"}).json() == []
