"""The records through the API, as an investigator uses them: persons with their sources, FIRs, warrants,
stolen vehicles on the hotlist, missing persons, links, photos; every read with a purpose, break glass
beyond one's districts, sensitive records hidden."""

from __future__ import annotations

import base64
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
from safecity.records.models import BreakGlass

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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


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


def test_an_fir_runs_its_course_and_shows_on_each_partys_record(
    investigator: TestClient, district: District, session: Session
) -> None:
    station = _station(session, district)
    accused = _person(investigator, district)
    complainant = _person(investigator, district, cnic="35202-7654321-3", name="Bashir Ahmed", aliases=[])
    body = {
        "police_station_id": str(station.id),
        "registered_on": "2026-11-02",
        "sections": ["ppc 392", "AO 13"],
    }
    first = investigator.post("/api/v1/records/firs", json=body)
    second = investigator.post("/api/v1/records/firs", json=body)
    assert (first.status_code, second.status_code) == (201, 201), first.text
    assert (first.json()["number"], second.json()["number"], first.json()["year"]) == (1, 2, 2026)
    assert first.json()["sections"] == ["PPC 392", "AO 13"]
    unknown = investigator.post("/api/v1/records/firs", json={**body, "sections": ["PPC 9999"]})
    assert unknown.status_code == 422
    again = investigator.post("/api/v1/records/firs", json={**body, "number": 1})
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_fir"
    fir_id = first.json()["id"]
    for person_id, role in ((accused, "accused"), (complainant, "complainant")):
        named = investigator.post(
            f"/api/v1/records/firs/{fir_id}/parties", json={"person_id": person_id, "role": role}
        )
        assert named.status_code == 201, named.text
    moved = investigator.post(f"/api/v1/records/firs/{fir_id}/status", json={"status": "under_investigation"})
    assert moved.status_code == 200 and moved.json()["status"] == "under_investigation"
    record = investigator.get(f"/api/v1/records/persons/{accused}?purpose=FIR 1/2026").json()
    assert [(f["number"], f["role"], f["status"]) for f in record["firs"]] == [
        (1, "accused", "under_investigation")
    ]


def test_warrants_are_active_until_executed_or_expired(investigator: TestClient, district: District) -> None:
    person_id = _person(investigator, district)
    today = dt.datetime.now(dt.UTC).date()
    active = investigator.post(
        f"/api/v1/records/persons/{person_id}/warrants",
        json={
            "court": "Judicial Magistrate Lahore",
            "issued_on": str(today - dt.timedelta(days=3)),
            "expires_on": str(today + dt.timedelta(days=30)),
        },
    )
    expired = investigator.post(
        f"/api/v1/records/persons/{person_id}/warrants",
        json={"court": "Sessions Court Lahore", "issued_on": "2025-01-01", "expires_on": "2025-03-01"},
    )
    assert (active.json()["state"], expired.json()["state"]) == ("active", "expired")
    done = investigator.post(f"/api/v1/records/warrants/{active.json()['id']}/execute")
    assert done.status_code == 200 and done.json()["state"] == "executed" and done.json()["executed_by"]
    late = investigator.post(f"/api/v1/records/warrants/{expired.json()['id']}/execute")
    assert late.status_code == 409 and late.json()["error"]["code"] == "warrant_expired"


def test_a_stolen_vehicle_is_on_the_hotlist_until_recovered(
    investigator: TestClient, district: District, session: Session
) -> None:
    owner = _person(investigator, district)
    vehicle = investigator.post(
        "/api/v1/records/vehicles",
        json={
            "registration": "leb-1234",
            "make": "Honda",
            "model": "City",
            "colour": "white",
            "district_id": str(district.id),
            "owner_id": owner,
        },
    )
    assert vehicle.status_code == 201, vehicle.text
    assert (vehicle.json()["registration"], vehicle.json()["plate_key"]) == ("LEB-1234", "LE81234")
    stolen = investigator.post(
        f"/api/v1/records/vehicles/{vehicle.json()['id']}/stolen",
        json={"stolen_at": "2026-11-30T18:00:00+05:00", "place": "Liberty Market"},
    )
    assert stolen.status_code == 201, stolen.text
    entry = session.get(HotlistEntry, uuid.UUID(stolen.json()["hotlist_entry_id"]))
    assert entry is not None and entry.plate == "LEB1234"
    twice = investigator.post(
        f"/api/v1/records/vehicles/{vehicle.json()['id']}/stolen", json={"stolen_at": "2026-11-30T18:00:00Z"}
    )
    assert twice.status_code == 409
    recovered = investigator.post(f"/api/v1/records/stolen/{stolen.json()['id']}/recover")
    assert recovered.status_code == 200 and recovered.json()["recovered_at"]
    session.expire_all()
    assert session.scalars(select(HotlistEntry).where(HotlistEntry.plate == "LEB1234")).all() == []
    linked = investigator.get("/api/v1/records/linked", params={"plate": "LEB 1234"}).json()
    assert [p[0] for p in linked["persons"]] == [owner] and linked["persons"][0][2] == "owner of LEB-1234"


def test_missing_persons_are_closed_when_found_and_links_read_from_both_sides(
    investigator: TestClient, district: District
) -> None:
    child = _person(investigator, district, cnic=None, name="Ali Raza", aliases=[], phones=[])
    uncle = _person(investigator, district, cnic="35202-1111111-1", name="Karim Bux", aliases=[], phones=[])
    bad = investigator.post(
        f"/api/v1/records/persons/{child}/missing",
        json={"last_seen_at": "2026-12-01T16:00:00+05:00", "reporter_phone": "999"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_phone"
    report = investigator.post(
        f"/api/v1/records/persons/{child}/missing",
        json={
            "last_seen_at": "2026-12-01T16:00:00+05:00",
            "last_seen_place": "Data Darbar",
            "reporter_name": "Mother",
            "reporter_phone": "0321-7654321",
        },
    )
    assert report.status_code == 201 and report.json()["reporter_phone"] == "+923217654321"
    found = investigator.post(f"/api/v1/records/missing/{report.json()['id']}/found")
    assert found.status_code == 200 and found.json()["found_at"]
    assert investigator.post(f"/api/v1/records/missing/{report.json()['id']}/found").status_code == 409
    link = investigator.post(
        f"/api/v1/records/persons/{child}/links", json={"other_id": uncle, "kind": "relative"}
    )
    assert link.status_code == 201
    seen_from_uncle = investigator.get(f"/api/v1/records/persons/{uncle}?purpose=missing child").json()
    assert [(x["other_id"], x["kind"]) for x in seen_from_uncle["links"]] == [(child, "relative")]
    assert (
        investigator.post(
            f"/api/v1/records/persons/{uncle}/links", json={"other_id": child, "kind": "relative"}
        ).status_code
        == 409
    )


def test_a_photo_is_a_decoded_picture_stored_by_its_hash(
    investigator: TestClient, district: District, dog_image: np.ndarray
) -> None:
    person_id = _person(investigator, district)
    ok, jpeg = cv2.imencode(".jpg", dog_image)
    assert ok
    added = investigator.post(
        f"/api/v1/records/persons/{person_id}/photos",
        json={"data_base64": _b64(jpeg.tobytes())},
    )
    assert added.status_code == 201, added.text
    served = investigator.get(f"/api/v1/records/photos/{added.json()['id']}")
    assert served.status_code == 200 and served.content == jpeg.tobytes()
    html = b"<html><script>alert(1)</script></html>"
    refused = investigator.post(
        f"/api/v1/records/persons/{person_id}/photos", json={"data_base64": _b64(html)}
    )
    assert refused.status_code == 422
    truncated = investigator.post(
        f"/api/v1/records/persons/{person_id}/photos",
        json={"data_base64": _b64(jpeg.tobytes()[: len(jpeg) // 2])},
    )
    assert truncated.status_code == 422 and truncated.json()["error"]["code"].startswith("attachment_")


def test_each_district_reports_stolen_vehicles_onto_a_list_it_keeps(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    entries = []
    for plate in ("LEB-1234", "PSA-5678"):
        district = factory.district()
        investigator = login_as(factory.user("investigator", districts=[district]))
        vehicle = investigator.post(
            "/api/v1/records/vehicles", json={"registration": plate, "district_id": str(district.id)}
        )
        stolen = investigator.post(
            f"/api/v1/records/vehicles/{vehicle.json()['id']}/stolen",
            json={"stolen_at": "2026-11-30T18:00:00Z"},
        )
        assert stolen.status_code == 201, stolen.text
        entry = session.get(HotlistEntry, uuid.UUID(stolen.json()["hotlist_entry_id"]))
        assert entry is not None
        entries.append(entry)
    assert entries[0].hotlist_id != entries[1].hotlist_id  # neither district changes the other's list
