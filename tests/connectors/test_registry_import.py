"""Importing an Excise extract: a dry run reports every bad row and stores nothing; a real run stores all rows
or, with any bad row, none; CNICs, phones, plates and classes are stored in one form; uploads are limited.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.connectors.vehicles import service as vehicles
from safecity.connectors.vehicles.models import Registration
from safecity.connectors.vehicles.schemas import CSV_HEADER

HEADER = ",".join(CSV_HEADER)
GOOD = [
    "LEA-1234,PB,Bilal Ahmed,35202-1234567-1,0300-1234567,bilal@example.pk,"
    '"12 Mall Road, Lahore",Honda,Civic,Silver,Motor Car,registered,2021-06-30',
    "PSW 777,KP,Sana Gul,1730198765432,+92 321 7654321,,Hayatabad Peshawar,Honda,CD70,red,motorcycle,,"
    "14/02/2018",
    "BKM123,SD,Karachi Transport Co,42101-7654321-3,,,Korangi,Hino,Bus,white,bus,expired,",
]
BAD = [
    "LEA-9999,PB,No Cnic,3520212345,,,,Suzuki,Mehran,white,car,,",  # CNIC too short
    "LEB-555,PB,Bad Phone,35202-1234567-1,042-1234567,,,Suzuki,Alto,white,car,,",  # a landline, not a mobile
    "LEC-111,PB,Odd Class,35202-1234567-1,,,,Unknown,Thing,blue,spaceship,,",
    "LEA 1234,PB,Twice,35202-1234567-1,,,,Toyota,Corolla,white,car,,",  # the first row's plate again
    "LED-222,PB,Short Row,35202-1234567-1",
    ",PB,No Plate,35202-1234567-1,,,,Toyota,Corolla,white,car,,",
    "LEE-333,PB,Bad Date,35202-1234567-1,,,,Toyota,Corolla,white,car,,2021-13-45",
]


def extract(*rows: str) -> str:
    return "\n".join((HEADER, *rows)) + "\n"


def count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Registration)) or 0


@pytest.fixture
def admin(factory: Factory, login_as: Callable[..., TestClient]) -> TestClient:
    return login_as(factory.user("admin"))


def test_a_dry_run_reports_every_bad_row_and_stores_nothing(admin: TestClient, session: Session) -> None:
    response = admin.post("/api/v1/registry/imports?dry_run=true", json={"csv": extract(*GOOD, *BAD)})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["dry_run"], report["rows"], report["errors"], report["new"], report["imported"]) == (
        True,
        10,
        7,
        3,
        0,
    )
    problems = {r["row"]: " ".join(r["problems"]) for r in report["results"]}
    assert "owner_cnic: a CNIC is 13 digits" in problems[5]
    assert "owner_phone: give a Pakistani mobile number" in problems[6]
    assert "class: 'spaceship' is no vehicle class" in problems[7]
    assert "plate: LEA1234 is also on row 2" in problems[8]
    assert "has 4 cells; expected 13" in problems[9]
    assert "plate: the plate is empty" in problems[10]
    assert "registered_on:" in problems[11]
    assert count(session) == 0


def test_a_real_run_with_a_bad_row_stores_none(admin: TestClient, session: Session) -> None:
    response = admin.post("/api/v1/registry/imports?dry_run=false", json={"csv": extract(*GOOD, BAD[0])})
    assert response.status_code == 422
    assert response.json()["errors"] == 1 and response.json()["imported"] == 0
    assert count(session) == 0


def test_a_clean_extract_is_stored_in_one_form_and_a_later_one_replaces_it(
    admin: TestClient, session: Session
) -> None:
    response = admin.post("/api/v1/registry/imports?dry_run=false", json={"csv": extract(*GOOD)})
    assert response.status_code == 200, response.text
    assert (response.json()["imported"], response.json()["new"], response.json()["updated"]) == (3, 3, 0)
    session.expire_all()
    lahore = session.get(Registration, "LEA1234")
    assert lahore is not None
    assert (lahore.owner_cnic, lahore.owner_phone, lahore.vehicle_class, lahore.colour) == (
        "35202-1234567-1",
        "+923001234567",
        "car",
        "silver",
    )
    assert lahore.owner_address == "12 Mall Road, Lahore" and lahore.source == "import:extract.csv"
    peshawar = session.get(Registration, "P5W777")  # kept under the folded key: S -> 5
    assert peshawar is not None and peshawar.owner_cnic == "17301-9876543-2"
    assert peshawar.owner_phone == "+923217654321" and str(peshawar.registered_on) == "2018-02-14"
    bus = session.get(Registration, "8KM123")
    assert bus is not None and (bus.vehicle_class, bus.status) == ("large", "expired")

    sold = GOOD[0].replace("Bilal Ahmed", "Hamza Tariq")
    again = admin.post("/api/v1/registry/imports?dry_run=false", json={"csv": extract(sold)})
    assert (again.json()["new"], again.json()["updated"], again.json()["imported"]) == (0, 1, 1)
    session.expire_all()
    assert session.get(Registration, "LEA1234").owner_name == "Hamza Tariq"  # type: ignore[union-attr]
    assert count(session) == 3
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "registry.import")).all()
    assert [e.detail["new"] for e in entries] == [3, 0]


def test_the_header_and_the_file_itself_are_checked(admin: TestClient) -> None:
    wrong = admin.post("/api/v1/registry/imports?dry_run=true", json={"csv": "plate,owner\nLEA1,x\n"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "bad_csv_header"
    empty = admin.post("/api/v1/registry/imports?dry_run=true", json={"csv": HEADER + "\n"})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_import"


def test_only_registry_import_holders_import(factory: Factory, login_as: Callable[..., TestClient]) -> None:
    officer = login_as(factory.user("traffic_officer"))
    response = officer.post("/api/v1/registry/imports?dry_run=true", json={"csv": extract(*GOOD)})
    assert response.status_code == 403


def test_the_page_uploads_an_extract_dry_run_first(
    admin: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = admin.get("/registry")
    assert page.status_code == 200 and 'data-testid="import-form"' in page.text
    assert 'data-testid="lookup-form"' not in page.text  # an administrator imports, but looks no owner up
    body = extract(*GOOD, BAD[2]).encode()
    checked = admin.post(
        "/registry/imports", files={"file": ("excise-kp.csv", body, "text/csv")}, data={"dry_run": "1"}
    )
    assert checked.status_code == 200
    assert (
        "4 rows checked: 3 good (3 new, 0 to replace), 1 bad" in checked.text and "spaceship" in checked.text
    )
    refused = admin.post("/registry/imports", files={"file": ("excise-kp.csv", body, "text/csv")})
    assert "Nothing was imported: 1 bad rows of 4" in refused.text
    assert count(session) == 0
    clean = extract(*GOOD).encode()
    stored = admin.post("/registry/imports", files={"file": ("excise-kp.csv", clean, "text/csv")})
    assert "3 registrations imported (3 new, 0 replaced)" in stored.text
    session.expire_all()
    assert session.get(Registration, "LEA1234").source == "import:excise-kp.csv"  # type: ignore[union-attr]
    health = admin.get("/registry")
    assert (
        'data-testid="health-rows">3<' in health.text
        and 'data-testid="health-type">vehicles.extract<' in health.text
    )

    # An oversize file or one that is not text is refused with a plain message, nothing stored.
    monkeypatch.setattr(vehicles, "MAX_IMPORT_BYTES", 1024)
    big = admin.post("/registry/imports", files={"file": ("big.csv", clean * 20, "text/csv")})
    assert big.headers["HX-Retarget"] == "#flash" and "larger than" in big.text
    binary = admin.post("/registry/imports", files={"file": ("x.csv", b"\xff\xfe\x00\x01", "text/csv")})
    assert "not UTF-8" in binary.text
