"""The records search on the database: the name index follows every write, hits are ranked with their why,
scoped to the reader's districts, sensitive and merged persons kept out, every search audited."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.core.errors import InvalidInput, PermissionDenied
from safecity.org.models import District, PoliceStation
from safecity.records import service as records
from safecity.records.models import Fir, FirParty, PartyRole, Person, PersonName, Sensitivity
from safecity.records.schemas import PersonIn, VehicleIn
from safecity.records.search import service as search
from safecity.records.search.models import NameKey
from safecity.records.search.schemas import SearchOut


def add(session: Session, district: District, **fields: Any) -> Person:
    person = records.add_person(
        session=session, data=PersonIn(**fields), district_id=district.id, source="own:test"
    )
    session.flush()
    return person


def reader(*districts: District, sensitive: bool = False) -> Principal:
    permissions = {search.READ} | ({search.SENSITIVE} if sensitive else set())
    return Principal(uuid.uuid4(), "reader", frozenset(permissions), frozenset(d.id for d in districts))


def find(session: Session, principal: Principal, q: str) -> SearchOut:
    return search.search(session=session, principal=principal, q=q)


def titles(out: SearchOut) -> list[str]:
    return [hit.title for hit in out.hits]


def last_search(session: Session) -> AuditEntry:
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "records.search").order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None
    return entry


@pytest.fixture
def home(factory: Factory) -> District:
    return factory.district()


@pytest.fixture
def away(factory: Factory) -> District:
    return factory.district()


def test_the_index_follows_every_write_through_the_orm(session: Session, home: District) -> None:
    person = add(session, home, name="Muhammad Ali", name_ur="محمد علی", father_name="Ghulam Rasool")
    me = reader(home)
    out = find(session, me, "محمد علی")
    assert titles(out) == ["Muhammad Ali · محمد علی"]
    assert out.hits[0].why == ["name ~ Muhammad Ali", "name ~ محمد علی (Urdu script)"]
    assert out.hits[0].url == f"/records/persons/{person.id}"

    person.name = "Imran Khan"  # a renamed record is found by its new name, not its old one
    session.flush()
    assert titles(find(session, me, "Imran Khan")) == ["Imran Khan · محمد علی"]
    assert find(session, me, "Muhammad Ali").hits[0].why == ["name ~ محمد علی (Urdu script)"]

    session.add(PersonName(person_id=person.id, name="Billa"))
    session.flush()
    assert find(session, me, "Billa").hits[0].why == ["alias ~ Billa"]
    session.execute(delete(PersonName).where(PersonName.person_id == person.id))
    session.expire_all()
    alias = PersonName(person_id=person.id, name="Kala")
    session.add(alias)
    session.flush()
    session.delete(alias)
    session.flush()
    assert find(session, me, "Kala").hits == []

    session.delete(person)
    session.flush()
    assert (
        session.scalar(select(func.count()).select_from(NameKey).where(NameKey.person_id == person.id)) == 0
    )


def test_a_core_bulk_load_is_found_after_reindex(session: Session, home: District) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    now = dt.datetime.now(dt.UTC)
    rows = [
        {"id": ids[0], "district_id": home.id, "name": "Zahoor Ahmed", "name_ur": "", "created_at": now},
        {"id": ids[1], "district_id": home.id, "name": "", "name_ur": "ظہور احمد", "created_at": now},
    ]
    defaults = {"father_name": "", "father_name_ur": "", "relation": "s/o", "gender": "", "notes": ""}
    session.execute(
        insert(Person),
        [r | defaults | {"identifying_marks": "", "sensitivity": "none", "updated_at": now} for r in rows],
    )
    assert find(session, reader(home), "Zahur Ahmad").hits == []
    assert search.reindex(session=session, person_ids=ids) == 4
    assert len(find(session, reader(home), "Zahur Ahmad").hits) == 2


def test_hits_are_ranked_by_words_matched_then_spelling(session: Session, home: District) -> None:
    for name in ("Muhammad Imran", "Ali Raza", "Muhammad Ali", "Muhammad Ali Khan", "Aliya Bibi"):
        add(session, home, name=name)
    add(session, home, name="Usman Tariq", father_name="Muhammad Ali Khan")
    out = find(session, reader(home), "Mohammad Ali Khan")
    assert titles(out)[:3] == ["Muhammad Ali Khan", "Muhammad Ali", "Usman Tariq"]
    assert out.hits[2].why == ["father's name ~ Muhammad Ali Khan"]
    assert "Aliya Bibi" not in titles(out)  # Ali is not Aliya
    assert out.kinds == ["name"]
    scores = [hit.score for hit in out.hits]
    assert scores == sorted(scores, reverse=True)
    # The audit keeps what kind of search it was and the name's keys, not the text typed.
    detail = last_search(session).detail
    assert detail["kinds"] == ["name"] and detail["name_keys"] == ["mhmd", "AlI", "xn"]
    assert "Mohammad" not in json.dumps(detail)


def test_a_reader_sees_their_districts_and_only_a_count_of_the_rest(
    session: Session, home: District, away: District
) -> None:
    add(session, home, name="Shahid Afridi")
    add(session, away, name="Shahid Afreedi", cnic="35202-1234567-1")
    add(session, away, name="Shahid Mehmood")  # one word of two: no news worth breaking glass for
    out = find(session, reader(home), "Shahid Afridi")
    assert titles(out) == ["Shahid Afridi"]
    assert out.elsewhere == 1
    assert "Afreedi" not in out.model_dump_json()
    by_cnic = find(session, reader(home), "35202-1234567-1")
    assert by_cnic.hits == [] and by_cnic.elsewhere == 1
    assert len(find(session, reader(home, away), "Shahid Afridi").hits) == 3
    province = Principal(uuid.uuid4(), "chief", frozenset({search.READ}), None)
    assert find(session, province, "Shahid Afridi").elsewhere == 0


def test_sensitive_persons_need_the_permission_and_merged_ones_never_appear(
    session: Session, home: District, away: District
) -> None:
    add(session, home, name="Bilal Ahmed", sensitivity=Sensitivity.JUVENILE, cnic="35202-7654321-3")
    add(session, away, name="Bilal Ahmad", sensitivity=Sensitivity.INFORMANT)
    kept = add(session, home, name="Bilal Ahmed Qureshi", cnic="35202-1111111-1")
    merged = add(session, home, name="Bilal Ahmed Kureshi")
    merged.merged_into_id = kept.id
    session.flush()
    plain = find(session, reader(home), "Bilal Ahmed")
    assert titles(plain) == ["Bilal Ahmed Qureshi"]
    assert plain.elsewhere == 0  # not even the existence of an informant elsewhere
    assert find(session, reader(home), "35202-7654321-3").hits == []
    allowed = find(session, reader(home, sensitive=True), "Bilal Ahmed")
    assert titles(allowed) == ["Bilal Ahmed", "Bilal Ahmed Qureshi"]
    assert allowed.elsewhere == 1


def test_a_cnic_is_found_exactly_and_never_written_to_the_audit(session: Session, home: District) -> None:
    add(session, home, name="Kashif Mehmood", cnic="35202-1234567-1")
    add(session, home, name="Kashif Mehmood Jr", cnic="35202-1234567-9")
    out = find(session, reader(home), "3520212345671")
    assert titles(out) == ["Kashif Mehmood"] and out.hits[0].why == ["CNIC exact"]
    entry = last_search(session)
    assert entry.detail == {"kinds": ["cnic"], "hits": 1, "elsewhere": 0}
    assert "1234567" not in json.dumps(entry.detail) and entry.actor_name == "reader"


def test_a_phone_is_found_in_any_way_it_is_written(session: Session, home: District) -> None:
    add(session, home, name="Nadia Perveen", phones=["+92 300 1234567"])
    for written in ("0300-1234567", "+923001234567", "00923001234567"):
        out = find(session, reader(home), written)
        assert titles(out) == ["Nadia Perveen"] and out.hits[0].why == ["phone"], written
    assert "1234567" not in json.dumps(last_search(session).detail)


def test_an_fir_number_finds_its_parties(session: Session, home: District) -> None:
    saddar = PoliceStation(district_id=home.id, name="Saddar", latitude=31.5, longitude=74.3)
    gulberg = PoliceStation(district_id=home.id, name="Gulberg", latitude=31.5, longitude=74.3)
    session.add_all([saddar, gulberg])
    session.flush()
    accused = add(session, home, name="Naeem Butt")
    complainant = add(session, home, name="Asif Javed")
    other = add(session, home, name="Someone Else")
    for station, person, role in (
        (saddar, accused, PartyRole.ACCUSED),
        (saddar, complainant, PartyRole.COMPLAINANT),
        (gulberg, other, PartyRole.ACCUSED),
    ):
        fir = session.scalar(select(Fir).where(Fir.police_station_id == station.id))
        if fir is None:
            fir = Fir(
                district_id=home.id,
                police_station_id=station.id,
                year=2026,
                number=123,
                registered_on=dt.date(2026, 3, 1),
            )
            session.add(fir)
            session.flush()
        session.add(FirParty(fir_id=fir.id, person_id=person.id, role=role))
    session.flush()
    out = find(session, reader(home), "FIR 123/2026 PS Saddar")
    assert out.kinds == ["fir"]
    assert {(h.title, tuple(h.why)) for h in out.hits} == {
        ("Naeem Butt", ("FIR 123/2026 PS Saddar (accused)",)),
        ("Asif Javed", ("FIR 123/2026 PS Saddar (complainant)",)),
    }
    assert len(find(session, reader(home), "123/2026").hits) == 3
    assert find(session, reader(home), "123/2025").hits == []
    assert last_search(session).detail["fir"] == "123/2025"


def test_plates_exact_look_alike_and_one_edit_away(session: Session, home: District) -> None:
    for registration in ("LEB-105", "LEB-106", "ABC-999"):
        records.add_vehicle(
            session=session,
            data=VehicleIn(registration=registration, make="Honda", model="City", colour="White"),
            district_id=home.id,
            source="own:test",
        )
    session.flush()
    exact = find(session, reader(home), "leb 105")
    assert exact.kinds == ["plate"]
    assert [(h.title, h.why, h.kind) for h in exact.hits] == [
        ("LEB-105", ["plate exact"], "vehicle"),
        ("LEB-106", ["plate fuzzy: leb 105 ~ LEB-106"], "vehicle"),
    ]
    assert exact.hits[0].subtitle == "Honda City White"
    alike = find(session, reader(home), "LE8-1O5")
    assert alike.hits[0].why == ["plate look-alike: LE8-1O5 ~ LEB-105"]
    assert last_search(session).detail["plate"] == "LE8105"


def test_injection_shaped_names_are_only_text(session: Session, home: District) -> None:
    add(session, home, name="Robert'); DROP TABLE record_persons;--", name_ur="علی' -- ؛")
    out = find(session, reader(home), "Robert'); DROP TABLE record_persons;--")
    assert titles(out) == ["Robert'); DROP TABLE record_persons;-- · علی' -- ؛"]
    assert len(find(session, reader(home), "علی' OR '1'='1").hits) == 1
    assert session.scalar(select(func.count()).select_from(Person)) == 1


def test_bad_queries_and_missing_permission(session: Session, home: District) -> None:
    with pytest.raises(InvalidInput, match="type a name"):
        find(session, reader(home), "   ")
    with pytest.raises(InvalidInput, match="at most"):
        find(session, reader(home), "a" * 201)
    with pytest.raises(InvalidInput, match="limit"):
        search.search(session=session, principal=reader(home), q="Ali", limit=0)
    with pytest.raises(PermissionDenied):
        find(session, Principal(uuid.uuid4(), "nobody", frozenset(), None), "Ali")
    assert find(session, reader(home), "?!").kinds == []
