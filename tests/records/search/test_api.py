"""The records search and quick-check API: an officer's mobile client (an API token) checks a CNIC or a
plate during a call and gets the flags, with the least data; every check audited with its purpose."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.analytics.plates.hotlists.models import Hotlist, HotlistEntry, ListKind, MatchMode
from safecity.audit.models import AuditEntry
from safecity.auth.models import User
from safecity.org.models import District
from safecity.records import service as records
from safecity.records.models import MissingPerson, StolenVehicle, Warrant
from safecity.records.schemas import PersonIn, VehicleIn

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def home(factory: Factory) -> District:
    return factory.district()


@pytest.fixture
def away(factory: Factory) -> District:
    return factory.district()


@pytest.fixture
def mobile(
    web_app: FastAPI, factory: Factory, home: District, login_as: Callable[[User], TestClient]
) -> Iterator[TestClient]:
    """The officer's phone: a client holding only an API token (records.read) the officer made."""
    officer = factory.user("investigator", "admin", districts=[home])
    made = login_as(officer).post("/api/v1/tokens", json={"name": "mobile", "permissions": ["records.read"]})
    assert made.status_code == 201, made.text
    with TestClient(web_app) as phone:
        phone.headers["Authorization"] = f"Bearer {made.json()['secret']}"
        yield phone


def person(session: Session, district: District, name: str, cnic: str) -> records.Person:
    row = records.add_person(
        session=session, data=PersonIn(name=name, cnic=cnic), district_id=district.id, source="own:test"
    )
    session.flush()
    return row


def vehicle(session: Session, district: District, registration: str) -> records.Vehicle:
    row = records.add_vehicle(
        session=session, data=VehicleIn(registration=registration), district_id=district.id, source="own:test"
    )
    session.flush()
    return row


def checks(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == "records.check").order_by(AuditEntry.seq)
        )
    )


def test_a_cnic_check_answers_wanted_and_missing_with_the_least_data(
    session: Session, mobile: TestClient, home: District, away: District
) -> None:
    wanted = person(session, home, "Tariq Butt", "35202-1234567-1")
    session.add_all(
        [
            Warrant(
                district_id=home.id, person_id=wanted.id, court="ATC Lahore", issued_on=dt.date(2026, 1, 1)
            ),
            MissingPerson(district_id=home.id, person_id=wanted.id, last_seen_at=NOW),
        ]
    )
    elsewhere = person(session, away, "Sajid Butt", "35202-7654321-3")
    session.add(
        Warrant(
            district_id=away.id,
            person_id=elsewhere.id,
            court="Sessions Court",
            issued_on=dt.date(2025, 1, 1),
            expires_on=dt.date(2025, 6, 1),  # expired: not wanted any more
        )
    )
    cleared = person(session, away, "Kamran Butt", "35202-1111111-1")
    session.add(
        Warrant(
            district_id=away.id,
            person_id=cleared.id,
            court="ATC",
            issued_on=dt.date(2026, 1, 1),
            executed_at=NOW,
            executed_by="si",
        )
    )
    session.commit()

    answer = mobile.get(
        "/api/v1/records/check", params={"cnic": "35202-1234567-1", "purpose": "call 15 #881"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "kind": "cnic",
        "found": True,
        "wanted": True,
        "missing": True,
        "stolen": False,
        "hotlists": [],
        "record_id": str(wanted.id),
    }
    # Beyond the officer's district: the flags, never the record.
    beyond = mobile.get("/api/v1/records/check", params={"cnic": "3520276543213", "purpose": "call 15 #882"})
    assert beyond.json() | {"record_id": None} == beyond.json()
    assert beyond.json()["found"] is True and beyond.json()["wanted"] is False
    assert (
        mobile.get("/api/v1/records/check", params={"cnic": "35202-1111111-1", "purpose": "call"}).json()[
            "wanted"
        ]
        is False
    )
    unknown = mobile.get("/api/v1/records/check", params={"cnic": "35202-9999999-9", "purpose": "call"})
    assert unknown.json()["found"] is False
    entries = checks(session)
    assert [(e.purpose, e.object_type, e.detail) for e in entries[:2]] == [
        ("call 15 #881", "record_person", {"kind": "cnic", "found": True}),
        ("call 15 #882", "record_person", {"kind": "cnic", "found": True}),
    ]
    assert entries[0].object_id == str(wanted.id) and entries[1].object_id is None


def test_a_plate_check_answers_stolen_and_hotlisted(
    session: Session, mobile: TestClient, home: District
) -> None:
    car = vehicle(session, home, "LEB-105")
    session.add(StolenVehicle(district_id=home.id, vehicle_id=car.id, stolen_at=NOW))
    hotlist = Hotlist(
        kind=ListKind.STOLEN, name="Stolen cars", agency="CPO", owner_name="x", match_mode=MatchMode.FUZZY
    )
    session.add(hotlist)
    session.flush()
    session.add_all(
        [
            HotlistEntry(hotlist_id=hotlist.id, plate="LEB105", folded="LE8105", added_by_name="x"),
            HotlistEntry(  # an entry past its date is off the list
                hotlist_id=hotlist.id, plate="ABC123", folded="A8C123", added_by_name="x", expires_at=NOW
            ),
        ]
    )
    recovered = vehicle(session, home, "ABC-123")
    session.add(StolenVehicle(district_id=home.id, vehicle_id=recovered.id, stolen_at=NOW, recovered_at=NOW))
    session.commit()
    answer = mobile.get("/api/v1/records/check", params={"plate": "LE8 1O5", "purpose": "traffic stop"})
    assert answer.json() == {
        "kind": "plate",
        "found": True,
        "wanted": False,
        "missing": False,
        "stolen": True,
        "hotlists": ["stolen"],
        "record_id": str(car.id),
    }
    clean = mobile.get("/api/v1/records/check", params={"plate": "ABC123", "purpose": "traffic stop"}).json()
    assert clean["found"] is True and clean["stolen"] is False and clean["hotlists"] == []
    assert checks(session)[0].detail == {"kind": "plate", "found": True}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cnic": "35202-1234567-1"}, "purpose_required"),
        ({"cnic": "35202-1234567-1", "plate": "LEB105", "purpose": "call"}, "bad_check"),
        ({"purpose": "call"}, "bad_check"),
        ({"cnic": "85202-1234567-1", "purpose": "call"}, "bad_cnic"),
        ({"plate": "??", "purpose": "call"}, "bad_plate"),
    ],
)
def test_a_bad_check_is_a_clear_422(mobile: TestClient, params: dict[str, str], code: str) -> None:
    answer = mobile.get("/api/v1/records/check", params=params)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == code, answer.text


def test_the_search_api_ranks_with_why_and_needs_records_read(
    session: Session,
    mobile: TestClient,
    home: District,
    factory: Factory,
    login_as: Callable[[User], TestClient],
) -> None:
    person(session, home, "Muhammad Hussain", "35202-2222222-2")
    session.commit()
    found = mobile.get("/api/v1/records/search", params={"q": "محمد حسین", "limit": 5})
    assert found.status_code == 200, found.text
    [hit] = found.json()["hits"]
    assert hit["title"] == "Muhammad Hussain" and hit["why"] == ["name ~ Muhammad Hussain"]
    assert mobile.get("/api/v1/records/search", params={"q": "x", "limit": 101}).status_code == 422
    operator = login_as(factory.user("operator", districts=[home]))
    assert operator.get("/api/v1/records/search", params={"q": "Hussain"}).status_code == 403
    assert (
        operator.get("/api/v1/records/check", params={"plate": "LEB105", "purpose": "x"}).status_code == 403
    )


def test_the_results_page_shows_hits_and_needs_records_read(
    session: Session, home: District, factory: Factory, login_as: Callable[[User], TestClient]
) -> None:
    person(session, home, "Robert <script>alert(1)</script>", "35202-3333333-3")
    investigator = login_as(factory.user("investigator", districts=[home]))
    page = investigator.get("/records/search", params={"q": "Robert script alert"})
    assert page.status_code == 200
    assert 'data-testid="records-search"' in page.text  # the header's box, for a holder of records.read
    assert "name ~ Robert &lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # names are text, escaped
    assert "<script>alert" not in page.text
    assert investigator.get("/records/search").status_code == 200  # the empty form
    too_long = investigator.get("/records/search", params={"q": "a" * 250})
    assert too_long.status_code == 422 and "at most 200 characters" in too_long.text
    operator = login_as(factory.user("operator", districts=[home]))
    assert operator.get("/records/search", params={"q": "Robert"}).status_code == 403
    assert 'data-testid="records-search"' not in operator.get("/").text
