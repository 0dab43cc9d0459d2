"""Importing FIRs from CSV: police stations matched by name within the district, sections of law checked,
parties named by the CNICs of persons on record; every bad row reported and nothing stored, an FIR already
registered never overwritten, then the fixed file registered whole with its parties; also from the page."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import Factory
from records.quality.people import add_person
from records.quality.test_csv_import import send
from safecity.audit.models import AuditEntry
from safecity.org.models import District, PoliceStation
from safecity.records import service as records
from safecity.records.models import Fir, FirParty, FirStatusChange, PartyRole, Sensitivity
from safecity.records.quality import service as quality
from safecity.records.schemas import FirIn

HEADER = "police_station,number,year,registered_on,occurred_at,sections,summary,property,complainants,accused"


@dataclass
class Desk:
    district: District
    saddar: PoliceStation
    complainant: str  # CNICs of persons on record
    accused: str
    informant: str  # sensitive: not known to those without records.sensitive


@pytest.fixture
def desk(session: Session, factory: Factory) -> Desk:
    district = factory.district()
    saddar = PoliceStation(district_id=district.id, name="PS Saddar", latitude=34.0, longitude=71.5)
    gulberg = PoliceStation(district_id=district.id, name="PS Gulberg", latitude=34.0, longitude=71.6)
    elsewhere = factory.district()
    session.add_all(
        [
            saddar,
            gulberg,
            PoliceStation(district_id=elsewhere.id, name="PS Cantt", latitude=33.0, longitude=73.0),
        ]
    )
    add_person(session, district.id, cnic="1730100000001", name="Asif Khan")
    add_person(session, district.id, cnic="1730100000002", name="Bilal Ahmed")
    add_person(session, district.id, cnic="1730100000003", name="Zahid", sensitivity=Sensitivity.INFORMANT)
    records.register_fir(  # FIR 12/2025 of PS Saddar, entered by hand earlier
        session=session,
        station=saddar,
        year=2025,
        number=12,
        data=FirIn(police_station_id=saddar.id, registered_on=dt.date(2025, 1, 5), sections=["PPC 379"]),
        by="clerk",
    )
    session.commit()
    return Desk(district, saddar, "1730100000001", "1730100000002", "1730100000003")


@pytest.fixture
def admin(factory: Factory, login_as: Callable[..., TestClient]) -> TestClient:
    """An administrator: imports (records.import), province-wide, without records.sensitive."""
    return login_as(factory.user("admin"))


def firs(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Fir)) or 0


def test_bad_fir_rows_are_all_reported_none_stored_then_the_fixed_file_is_registered_with_its_parties(
    admin: TestClient, desk: Desk, session: Session
) -> None:
    good = [
        f"PS Saddar,101,,2025-03-01,2025-02-28T22:15:00+05:00,PPC 392;PPC 411,Snatching at the chowk,"
        f"A mobile phone,{desk.complainant},{desk.accused}",
        "ps  GULBERG,7,2024,2024-12-30,,PPC 379,Motorcycle stolen,,,",  # case and spacing aside
    ]
    bad = [
        "PS Nowhere,5,,2025-03-02,,PPC 379,,,,",  # 4: no such police station in the district
        "PS Cantt,6,,2025-03-02,,PPC 379,,,,",  # 5: a police station of another district
        "PS Saddar,102,,2025-03-02,,PPC 999,,,,",  # 6: not a listed section of law
        "PS Saddar,101,2025,2025-03-03,,PPC 392,,,,",  # 7: also on line 2
        "PS Saddar,12,,2025-04-01,,PPC 379,,,,",  # 8: registered already
        f"PS Saddar,103,,2025-03-04,,PPC 392,,,{desk.informant},1730199999999",  # 9: parties unknown
        "PS Saddar,,,2025-03-04,,PPC 392,,,,",  # 10: no number
    ]
    text = "\n".join((HEADER, *good, *bad)) + "\n"

    checked = send(admin, desk.district, text, dry_run=True, kind="firs")
    assert (checked["rows"], checked["errors"], checked["new"], checked["imported"]) == (9, 7, 2, 0)
    problems = {r["line"]: " | ".join(r["problems"]) for r in checked["results"]}
    assert sorted(problems) == [4, 5, 6, 7, 8, 9, 10]
    assert "no police station 'PS Nowhere'" in problems[4] and "no police station" in problems[5]
    assert "not a listed section of law: PPC 999" in problems[6]
    assert "also on line 2" in problems[7]
    assert "FIR 12/2025 of this police station is registered already" in problems[8]
    assert "complainants: no person with this CNIC" in problems[9]  # the informant stays unknown
    assert "accused: no person with this CNIC" in problems[9]
    assert problems[10].startswith("number:")
    assert firs(session) == 1

    refused = send(admin, desk.district, text, dry_run=False, kind="firs")
    assert refused["errors"] == 7 and refused["imported"] == 0 and firs(session) == 1

    stored = send(admin, desk.district, "\n".join((HEADER, *good)) + "\n", dry_run=False, kind="firs")
    assert (stored["errors"], stored["new"], stored["imported"], stored["kind"]) == (0, 2, 2, "firs")
    assert firs(session) == 3
    fir = session.scalars(select(Fir).where(Fir.police_station_id == desk.saddar.id, Fir.number == 101)).one()
    assert (fir.year, fir.registered_on, fir.sections) == (2025, dt.date(2025, 3, 1), ["PPC 392", "PPC 411"])
    assert fir.occurred_at is not None and fir.occurred_at.astimezone(dt.UTC).hour == 17
    parties = session.execute(
        select(FirParty.role, FirParty.person_id).where(FirParty.fir_id == fir.id)
    ).all()
    assert sorted(role for role, _ in parties) == [PartyRole.ACCUSED, PartyRole.COMPLAINANT]
    assert session.scalars(select(FirStatusChange.status).where(FirStatusChange.fir_id == fir.id)).one() == (
        "registered"
    )
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "records.import")).one()
    assert entry.object_type == "record_firs" and entry.detail["new"] == 2

    again = send(admin, desk.district, "\n".join((HEADER, *good)) + "\n", dry_run=True, kind="firs")
    assert again["errors"] == 2 and again["new"] == 0  # never registered twice


def test_the_import_page_takes_a_file_of_firs(admin: TestClient, desk: Desk, session: Session) -> None:
    page = admin.get("/records/quality/imports")
    assert page.status_code == 200 and 'value="firs"' in page.text and "police_station,number" in page.text
    text = "\n".join((HEADER, "PS Saddar,201,,2025-05-01,,PPC 406,Cheque fraud,,,")) + "\n"
    answer = admin.post(
        "/records/quality/imports",
        data={"kind": "firs", "district_id": str(desk.district.id)},
        files={"file": ("firs-saddar.csv", text.encode(), "text/csv")},
    )
    assert answer.status_code == 200 and "1 firs imported (1 new" in answer.text
    assert firs(session) == 2


def test_firs_are_imported_from_a_police_stations_own_database(
    admin: TestClient, desk: Desk, session: Session, tmp_path: Path
) -> None:
    register = tmp_path / "register.db"
    with sqlite3.connect(register) as db:
        db.execute("CREATE TABLE fir (ps TEXT, fir_no INTEGER, fir_year INTEGER, reg_date TEXT, ppc TEXT)")
        db.executemany(
            "INSERT INTO fir VALUES (?, ?, ?, ?, ?)",
            [
                ("PS Saddar", 301, 2024, "2024-06-01", "PPC 379;PPC 411"),
                ("PS Gulberg", 9, 2024, "2024-06-02", "PPC 420"),
            ],
        )
    db.close()
    query = (
        "SELECT ps AS police_station, fir_no AS number, fir_year AS year, reg_date AS registered_on,"
        " ppc AS sections FROM fir"
    )
    added = admin.post(
        "/api/v1/records/quality/sources",
        json={
            "name": "register-saddar",
            "kind": "firs",
            "district_id": str(desk.district.id),
            "url": f"sqlite:///{register}",
            "query": query,
        },
    )
    assert added.status_code == 201, added.text
    run = f"/api/v1/records/quality/sources/{added.json()['id']}/run"
    checked = admin.post(f"{run}?dry_run=true").json()
    assert (checked["kind"], checked["rows"], checked["new"], checked["errors"]) == ("firs", 2, 2, 0)
    assert firs(session) == 1
    stored = admin.post(f"{run}?dry_run=false")
    assert stored.status_code == 200 and stored.json()["imported"] == 2, stored.text
    fir = session.scalars(select(Fir).where(Fir.number == 301)).one()
    assert (fir.year, fir.registered_on, fir.sections) == (2024, dt.date(2024, 6, 1), ["PPC 379", "PPC 411"])


def test_an_import_past_the_row_limit_is_refused_whole(
    admin: TestClient, desk: Desk, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quality, "MAX_IMPORT_ROWS", 2)
    rows = [f"PS Saddar,{400 + n},,2025-06-01,,PPC 379,,,," for n in range(3)]
    for kind, text in (("firs", "\n".join((HEADER, *rows))), ("persons", "name\nA\nB\nC")):
        answer = admin.post(
            "/api/v1/records/quality/imports?dry_run=true",
            json={"kind": kind, "district_id": str(desk.district.id), "csv": text},
        )
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "import_too_large", answer.text
    assert firs(session) == 1
