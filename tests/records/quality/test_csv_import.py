"""Importing persons and vehicles from CSV: every bad row reported with every problem and nothing stored,
then the fixed file stored whole; a dry run stores nothing; a person matched by CNIC is updated without
overwriting what someone entered by hand (the import's differing value becomes a conflict)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import Factory
from records.quality.people import add_person
from safecity.audit.models import AuditEntry
from safecity.org.models import District
from safecity.records import service as records
from safecity.records.models import Fact, Person, PersonPhone, Vehicle

HEADER = "cnic,name,name_ur,father_name,date_of_birth,phones,aliases"
URL = "/api/v1/records/quality/imports"


def good_row(n: int) -> str:
    return f"1730{n:09d},Person {n},,Father {n},1990-01-{n % 28 + 1:02d},0300 {1000000 + n},Alias {n}"


def people(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Person)) or 0


@pytest.fixture
def district(factory: Factory) -> District:
    return factory.district()


@pytest.fixture
def admin(factory: Factory, login_as: Callable[..., TestClient]) -> TestClient:
    """An administrator: imports (records.import), province-wide."""
    return login_as(factory.user("admin"))


def send(
    client: TestClient, district: District, text: str, *, dry_run: bool, kind: str = "persons"
) -> dict[str, Any]:
    response = client.post(
        f"{URL}?dry_run={str(dry_run).lower()}",
        json={"kind": kind, "district_id": str(district.id), "csv": text, "file_name": "prisons-kp.csv"},
    )
    assert response.status_code == (422 if not dry_run and response.json()["errors"] else 200), response.text
    return dict(response.json())


def test_five_percent_bad_rows_are_all_reported_none_stored_then_the_fixed_file_is_stored_whole(
    admin: TestClient, district: District, session: Session
) -> None:
    rows = [good_row(n) for n in range(1, 61)]
    # Three bad rows of sixty (5 %): a short CNIC with a name not in Urdu script, a landline, an empty name.
    rows[9] = "1730112345,Person 10,Person Ten,Father 10,1990-01-11,0300 1000010,"
    rows[29] = "17301000000030,Person 30,,Father 30,1990-01-03,042 1234567,"
    rows[49] = "1730100000050,,,Father 50,1990-01-23,,"
    # Injection-shaped names in either script are names like any other.
    rows[0] = "1730100000001,Robert'); DROP TABLE record_persons;--,علی' -- ',Father 1,1990-01-02,,"
    text = "\n".join((HEADER, *rows)) + "\n"

    checked = send(admin, district, text, dry_run=True)
    assert (checked["rows"], checked["errors"], checked["new"], checked["imported"]) == (60, 3, 57, 0)
    problems = {r["line"]: r["problems"] for r in checked["results"]}
    assert set(problems) == {11, 31, 51}
    assert any("cnic: a CNIC is 13 digits" in p for p in problems[11])
    assert any("name_ur: write this in Urdu script" in p for p in problems[11])  # every problem of the row
    assert any("phones" in p and "mobile number" in p for p in problems[31])
    assert any(p.startswith("cnic:") for p in problems[31])  # 14 digits
    assert any(p.startswith("name:") for p in problems[51])
    assert people(session) == 0

    refused = send(admin, district, text, dry_run=False)
    assert refused["errors"] == 3 and refused["imported"] == 0
    assert people(session) == 0

    rows[9] = "1730100000010,Person 10,پرسن,Father 10,1990-01-11,0300 1000010,"
    rows[29] = "1730100000030,Person 30,,Father 30,1990-01-03,0321 1234567,"
    rows[49] = "1730100000050,Person 50,,Father 50,1990-01-23,,"
    stored = send(admin, district, "\n".join((HEADER, *rows)) + "\n", dry_run=False)
    assert (stored["errors"], stored["new"], stored["imported"], stored["source"]) == (
        0,
        60,
        60,
        "import:prisons-kp.csv",
    )
    assert people(session) == 60
    robert = session.scalars(select(Person).where(Person.cnic == "1730100000001")).one()
    assert robert.name == "Robert'); DROP TABLE record_persons;--" and robert.name_ur == "علی' -- '"
    assert session.scalar(select(PersonPhone.number).where(PersonPhone.number == "+923211234567"))
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "records.import")).one()
    assert entry.detail["rows"] == 60 and entry.detail["source"] == "import:prisons-kp.csv"


def test_a_dry_run_stores_nothing(admin: TestClient, district: District, session: Session) -> None:
    report = send(admin, district, "\n".join((HEADER, good_row(1), good_row(2))), dry_run=True)
    assert (report["dry_run"], report["new"], report["imported"]) == (True, 2, 0)
    session.expire_all()
    assert people(session) == 0
    assert session.scalar(select(func.count()).select_from(Fact)) == 0
    assert session.scalar(select(func.count()).where(AuditEntry.action == "records.import")) == 0


def test_a_person_matched_by_cnic_keeps_hand_entered_values_and_the_difference_is_a_conflict(
    admin: TestClient,
    district: District,
    session: Session,
    factory: Factory,
    login_as: Callable[..., TestClient],
) -> None:
    bilal = add_person(
        session, district.id, cnic="17301-1234567-1", name="Bilal Ahmed", father_name="Ahmed Khan"
    )
    text = (
        "cnic,name,father_name,phones,date_of_birth\n"
        "17301-1234567-1,Bilal Ahmad,Ahmed Khan,0300 7654321,1988-05-04\n"
    )
    checked = send(admin, district, text, dry_run=True)
    assert (checked["new"], checked["updated"]) == (0, 1)
    send(admin, district, text, dry_run=False)
    session.expire_all()
    assert people(session) == 1
    assert bilal.name == "Bilal Ahmed"  # entered by hand: kept
    assert str(bilal.date_of_birth) == "1988-05-04"  # unknown before: the import tells it
    assert (
        session.scalar(select(PersonPhone.number).where(PersonPhone.person_id == bilal.id)) == "+923007654321"
    )
    other = session.scalars(
        select(Fact).where(Fact.entity_id == bilal.id, Fact.field == "name", Fact.current.is_(False))
    ).one()
    assert (other.value, other.source) == ("Bilal Ahmad", "import:prisons-kp.csv")

    investigator = login_as(factory.user("investigator"))
    url = f"/api/v1/records/quality/persons/{bilal.id}/conflicts"
    assert investigator.get(url).json()["error"]["code"] == "purpose_required"
    found = investigator.get(url, params={"purpose": "FIR 12/2026 PS Saddar"}).json()
    assert [c["field"] for c in found] == ["name"]
    values = {v["value"]: v for v in found[0]["values"]}
    assert values["Bilal Ahmed"]["in_force"] and values["Bilal Ahmed"]["sources"][0][0] == "own:clerk"
    assert not values["Bilal Ahmad"]["in_force"]

    chosen = investigator.post(url, json={"field": "name", "fact_id": values["Bilal Ahmad"]["fact_id"]})
    assert chosen.status_code == 200 and chosen.json() == ["name"]
    session.expire_all()
    assert bilal.name == "Bilal Ahmad"
    in_force = session.scalars(
        select(Fact.source).where(Fact.entity_id == bilal.id, Fact.field == "name", Fact.current.is_(True))
    ).one()
    assert in_force.startswith("own:u")  # the investigator's own choice now
    assert session.scalar(select(func.count()).where(AuditEntry.action == "records.conflict_resolve")) == 1


def test_vehicles_are_imported_with_their_owner_by_cnic(
    admin: TestClient, district: District, session: Session
) -> None:
    owner = add_person(session, district.id, cnic="17301-7654321-1", name="Sana Gul")
    text = (
        "registration,make,colour,owner_cnic\n"
        "LEA-1234,Honda,white,17301-7654321-1\n"
        "PSW 777,Suzuki,red,35202-0000000-1\n"  # nobody holds this CNIC
        "not a plate!!,Toyota,blue,\n"
    )
    report = send(admin, district, text, dry_run=False, kind="vehicles")
    problems = {r["line"]: " ".join(r["problems"]) for r in report["results"]}
    assert "owner_cnic: no person with this CNIC" in problems[3] and "registration" in problems[4]
    assert session.scalar(select(func.count()).select_from(Vehicle)) == 0
    report = send(admin, district, "\n".join(text.splitlines()[:2]) + "\n", dry_run=False, kind="vehicles")
    assert report["imported"] == 1
    session.expire_all()
    assert session.scalars(select(Vehicle)).one().owner_id == owner.id


def test_unknown_columns_and_an_empty_file_are_refused_and_a_short_row_reported(
    admin: TestClient, district: District
) -> None:
    unknown = admin.post(
        URL, json={"kind": "persons", "district_id": str(district.id), "csv": "name,salary\nA,1\n"}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "bad_import_header"
    empty = admin.post(URL, json={"kind": "persons", "district_id": str(district.id), "csv": "name\n"})
    assert empty.json()["error"]["code"] == "empty_import"
    short = admin.post(
        URL, json={"kind": "persons", "district_id": str(district.id), "csv": "name,cnic\nA\n"}
    ).json()
    assert short["results"][0]["problems"] == ["has 1 cells; expected 2 (name,cnic)"]


def test_the_conflicts_page_shows_both_values_with_their_sources_and_puts_the_chosen_one_in_force(
    district: District, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    gul = add_person(session, district.id, name="Gul Khan", father_name="Sher Khan")
    # A connector says otherwise: kept beside the hand-entered value, not applied.
    records.set_fields(
        session=session,
        entity="person",
        row=gul,
        values={"father_name": "Sher Ali Khan"},
        source="connector:nadra",
        overwrite=False,
    )
    session.flush()
    investigator = login_as(factory.user("investigator"))
    url = f"/records/quality/persons/{gul.id}/conflicts"
    asked = investigator.get(url)
    assert asked.status_code == 200 and 'data-testid="purpose-form"' in asked.text
    assert 'data-testid="conflict"' not in asked.text  # nothing shown before a purpose is given
    shown = investigator.get(url, params={"purpose": "FIR 7/2026 PS Saddar"})
    assert shown.text.count('data-testid="conflict"') == 1
    assert "Sher Ali Khan" in shown.text and "connector:nadra" in shown.text and "own:clerk" in shown.text
    fact = session.scalars(
        select(Fact).where(Fact.entity_id == gul.id, Fact.field == "father_name", Fact.current.is_(False))
    ).one()
    chosen = investigator.post(
        url, data={"field": "father_name", "fact_id": str(fact.id), "purpose": "FIR 7/2026"}
    )
    assert chosen.status_code == 204 and chosen.headers["HX-Redirect"].startswith(url)
    session.expire_all()
    assert gul.father_name == "Sher Ali Khan"
    operator = login_as(factory.user("operator"))
    assert operator.post(url, data={"field": "father_name", "fact_id": str(fact.id)}).status_code != 204
