"""Duplicate persons: proposed, merged by a holder of records.merge (everything of the merged record moves
to the kept one, which is then the only one listed), and undone exactly; refused across districts and for
sensitive records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from records.quality.people import add_person
from safecity.audit.models import AuditEntry
from safecity.org.models import District, PoliceStation
from safecity.records.models import (
    Fact,
    Fir,
    FirParty,
    LinkKind,
    MissingPerson,
    PartyRole,
    Person,
    PersonAddress,
    PersonLink,
    PersonName,
    PersonPhone,
    PersonPhoto,
    Sensitivity,
    Sighting,
    Vehicle,
    Warrant,
)

API = "/api/v1/records/quality"
TABLES = (
    Person, PersonName, PersonPhone, PersonAddress, PersonPhoto, FirParty, Warrant, MissingPerson, Sighting,
    PersonLink, Vehicle, Fact,
)  # fmt: skip


def snapshot(session: Session) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table that points at persons, as values (times of the last change aside)."""
    session.expire_all()
    out = {}
    for model in TABLES:
        columns = [c for c in model.__table__.columns if c.name != "updated_at"]
        out[model.__tablename__] = {
            tuple(str(getattr(row, c.key)) for c in columns) for row in session.scalars(select(model))
        }
    return out


def fir(session: Session, district: District, number: int, *parties: Person) -> Fir:
    station = PoliceStation(district_id=district.id, name=f"PS {number}", latitude=34.0, longitude=71.5)
    session.add(station)
    session.flush()
    row = Fir(
        district_id=district.id,
        police_station_id=station.id,
        year=2026,
        number=number,
        registered_on=dt.date(2026, 1, number),
    )
    session.add(row)
    session.flush()
    session.add_all(FirParty(fir_id=row.id, person_id=p.id, role=PartyRole.ACCUSED) for p in parties)
    session.flush()
    return row


@pytest.fixture
def district(factory: Factory) -> District:
    return factory.district()


@pytest.fixture
def pair(session: Session, district: District) -> tuple[Person, Person]:
    """A record entered by hand, and the same man as a connector gave him, with much hanging on each."""
    kept = add_person(
        session,
        district.id,
        cnic="17301-1234567-1",
        name="Bilal Ahmed",
        father_name="Ahmed Khan",
        date_of_birth="1990-02-03",
        phones=["0300 1111111"],
    )
    dup = add_person(
        session,
        district.id,
        source="connector:nadra",
        name="bilal   AHMED",
        father_name="ahmed khan",
        date_of_birth="1990-02-03",
        identifying_marks="scar on the left hand",
        phones=["0300 1111111", "0300 2222222"],
        aliases=["Billu"],
        addresses=["House 1, Street 2, Hayatabad, Peshawar"],
    )
    third = add_person(session, district.id, name="Zahid Shah")
    fir(session, district, 1, dup)
    fir(session, district, 2, kept, dup)  # both accused in one FIR: the kept one's part stays
    now = dt.datetime.now(dt.UTC)
    session.add_all(
        [
            Warrant(
                district_id=district.id,
                person_id=dup.id,
                court="Sessions Court Peshawar",
                issued_on=now.date(),
            ),
            MissingPerson(district_id=district.id, person_id=dup.id, last_seen_at=now),
            Sighting(kind="face", ref="match-1", person_id=dup.id, at=now),
            PersonPhoto(person_id=dup.id, path="ab/cd.jpg", sha256="0" * 64, source="connector:nadra"),
            PersonLink(person_a_id=dup.id, person_b_id=third.id, kind=LinkKind.ASSOCIATE, source="own:clerk"),
            PersonLink(person_a_id=kept.id, person_b_id=dup.id, kind=LinkKind.RELATIVE, source="own:clerk"),
            Vehicle(district_id=district.id, registration="LEA-1234", plate_key="LEA1234", owner_id=dup.id),
        ]
    )
    session.flush()
    return kept, dup


def test_a_proposed_duplicate_is_merged_then_the_undo_restores_exactly(
    factory: Factory,
    district: District,
    login_as: Callable[..., TestClient],
    session: Session,
    pair: tuple[Person, Person],
) -> None:
    kept, dup = pair
    investigator = login_as(factory.user("investigator", districts=[district]))
    before = snapshot(session)

    proposals = investigator.get(f"{API}/duplicates").json()
    assert len(proposals) == 1 and proposals[0]["reason"] == "same_name_father_birth"
    sides = {proposals[0]["left"]["id"], proposals[0]["right"]["id"]}
    assert sides == {str(kept.id), str(dup.id)}
    marks = next(f for f in proposals[0]["fields"] if f["field"] == "identifying_marks")
    assert not marks["same"] and "connector:nadra" in marks["left_sources"] + marks["right_sources"]

    merged = investigator.post(
        f"{API}/merges",
        json={"kept_id": str(kept.id), "merged_id": str(dup.id), "reason": "same man, same FIRs"},
    )
    assert merged.status_code == 201, merged.text
    session.expire_all()
    assert dup.merged_into_id == kept.id
    assert investigator.get(f"{API}/duplicates").json() == []
    assert set(session.scalars(select(PersonPhone.number).where(PersonPhone.person_id == kept.id))) == {
        "+923001111111",
        "+923002222222",
    }
    firs = set(session.scalars(select(Fir.number).join(FirParty).where(FirParty.person_id == kept.id)))
    assert firs == {1, 2}
    assert session.scalars(select(Vehicle.owner_id)).one() == kept.id
    assert session.scalars(select(Warrant.person_id)).one() == kept.id
    assert "Billu" in set(session.scalars(select(PersonName.name).where(PersonName.person_id == kept.id)))
    assert session.scalar(select(Sighting.person_id)) == kept.id
    # The search follows the move: the merged one's alias finds the kept record.
    found = investigator.get("/api/v1/records/search", params={"q": "Billu"}).json()["hits"]
    assert [h["id"] for h in found if h["kind"] == "person"] == [str(kept.id)]
    # The merged record's values are other sources' values on the kept record: a conflict, not in force.
    conflicts = investigator.get(
        f"{API}/persons/{kept.id}/conflicts", params={"purpose": "merge check"}
    ).json()
    assert "identifying_marks" in [c["field"] for c in conflicts]
    # The merged person is no longer a record of its own.
    assert (
        investigator.get(f"{API}/persons/{dup.id}/conflicts", params={"purpose": "merge check"}).status_code
        == 404
    )

    merge_id = merged.json()["id"]
    undone = investigator.post(f"{API}/merges/{merge_id}/undo", json={"reason": "two brothers after all"})
    assert undone.status_code == 200, undone.text
    assert snapshot(session) == before
    found = investigator.get("/api/v1/records/search", params={"q": "Billu"}).json()["hits"]
    assert [h["id"] for h in found if h["kind"] == "person"] == [str(dup.id)]
    again = investigator.post(f"{API}/merges/{merge_id}/undo", json={"reason": "twice"})
    assert again.status_code == 409
    actions = [
        e.purpose
        for e in session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(("records.merge", "records.merge_undo")))
            .order_by(AuditEntry.at)
        )
    ]
    assert actions == ["same man, same FIRs", "two brothers after all"]


def test_a_different_name_becomes_an_alias_and_goes_again_on_undo(
    factory: Factory, district: District, login_as: Callable[..., TestClient], session: Session
) -> None:
    kept = add_person(session, district.id, name="Muhammad Ali")
    dup = add_person(session, district.id, name="Mohammad Ali")
    investigator = login_as(factory.user("investigator"))
    merged = investigator.post(
        f"{API}/merges", json={"kept_id": str(kept.id), "merged_id": str(dup.id), "reason": "spelling"}
    )
    session.expire_all()
    assert list(session.scalars(select(PersonName.name).where(PersonName.person_id == kept.id))) == [
        "Mohammad Ali"
    ]
    investigator.post(f"{API}/merges/{merged.json()['id']}/undo", json={"reason": "not him"})
    session.expire_all()
    assert list(session.scalars(select(PersonName.name).where(PersonName.person_id == kept.id))) == []


def test_merges_are_refused_across_districts_and_for_sensitive_records_and_to_those_without_the_right(
    factory: Factory,
    district: District,
    login_as: Callable[..., TestClient],
    session: Session,
    pair: tuple[Person, Person],
) -> None:
    kept, dup = pair
    body = {"kept_id": str(kept.id), "merged_id": str(dup.id), "reason": "looks the same"}
    elsewhere = login_as(factory.user("investigator", districts=[factory.district()]))
    assert elsewhere.get(f"{API}/duplicates").json() == []
    outside = elsewhere.post(f"{API}/merges", json=body)
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "other_district"
    operator = login_as(factory.user("operator"))
    assert operator.post(f"{API}/merges", json=body).status_code == 403

    dup.sensitivity = Sensitivity.VICTIM
    session.flush()
    investigator = login_as(factory.user("investigator"))
    assert investigator.get(f"{API}/duplicates").json() == []  # a sensitive record is not proposed either
    refused = investigator.post(f"{API}/merges", json=body)
    assert refused.status_code == 403 and "records.sensitive" in refused.json()["error"]["message"]
    session.expire_all()
    assert dup.merged_into_id is None
