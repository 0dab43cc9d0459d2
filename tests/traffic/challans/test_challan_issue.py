"""Issuing: a confirmed violation gets exactly one challan, numbered per district and year, fined by the
schedule's line in force on the day of the offence, with the registry's owner and a checkable payment
reference; replayed or concurrent issues (threads, each with its own connection) give one challan.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from challan_data import OWNER, confirmed_violation
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory, audit_info, new_database
from safecity.audit.models import AuditEntry
from safecity.config import Settings
from safecity.core.db import create_db_engine, create_session_factory, transaction
from safecity.core.errors import Conflict, InvalidInput, NotFound
from safecity.org.models import District, Province
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Challan, ChallanStatus, Counter, Fine
from safecity.traffic.violations.models import Offence, ViolationStatus

KARACHI = ZoneInfo("Asia/Karachi")
NUMBER = re.compile(r"^(?P<district>[A-Z0-9]+)-(?P<year>\d{4})-(?P<n>\d{6})$")


@pytest.fixture
def seeded(session: Session) -> Session:
    challans.ensure_fines(session=session)
    return session


def test_numbers_run_per_district_and_year(seeded: Session, factory: Factory, settings: Settings) -> None:
    psw, dik = factory.district("PSW"), factory.district("DIK")
    march = dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)
    numbers = []
    for district, now in (
        (psw, march),
        (psw, march),
        (dik, march),
        (psw, march),
        (psw, march.replace(year=2027)),
    ):
        violation = confirmed_violation(seeded, settings, district, occurred_at=now - dt.timedelta(hours=3))
        challan, created = challans.issue(
            session=seeded, settings=settings, violation_id=violation.id, now=now
        )
        assert created
        numbers.append(challan.number)
    assert numbers == [
        "PSW-2026-000001",
        "PSW-2026-000002",
        "DIK-2026-000001",
        "PSW-2026-000003",
        "PSW-2027-000001",
    ]
    assert all(NUMBER.match(n) for n in numbers)


def test_a_challan_carries_the_fine_owner_reference_and_due_date(
    seeded: Session, factory: Factory, settings: Settings
) -> None:
    district = factory.district("PSW")
    occurred = dt.datetime(2026, 3, 4, 9, 12, tzinfo=dt.UTC)
    now = dt.datetime(2026, 3, 5, 20, 30, tzinfo=dt.UTC)  # 01:30 on 6 March in Peshawar
    violation = confirmed_violation(
        seeded, settings, district, offence=Offence.WRONG_WAY, occurred_at=occurred, seen_class="sedan"
    )
    challan, created = challans.issue(session=seeded, settings=settings, violation_id=violation.id, now=now)
    assert created
    # KP, July 2021: wrong side by a small car 2,000.
    assert (challan.vehicle_class, challan.amount_pkr, challan.status) == ("car", 2000, ChallanStatus.ISSUED)
    fine = seeded.get(Fine, challan.fine_id)
    assert fine is not None and fine.province_code == "KP" and fine.effective_from == dt.date(2021, 7, 1)
    assert (challan.owner_name, challan.owner_cnic, challan.owner_phone) == (
        OWNER["name"],
        OWNER["cnic"],
        OWNER["phone"],
    )
    assert (challan.owner_email, challan.owner_address) == (OWNER["email"], OWNER["address"])
    assert challan.plate == "LEA1234" and challan.offence == Offence.WRONG_WAY
    # Due at the end of the tenth local day after issue (issued on 6 March, Peshawar time).
    assert challan.due_at.astimezone(KARACHI) == dt.datetime(2026, 3, 16, 23, 59, 59, tzinfo=KARACHI)
    assert len(challan.payment_ref) == 18 and challan.payment_ref.isdigit()
    assert challans.payment_ref_valid(challan.payment_ref)
    wrong = challan.payment_ref[:-1] + str((int(challan.payment_ref[-1]) + 1) % 10)
    assert not challans.payment_ref_valid(wrong)
    assert len(challan.verify_code) >= 20
    entry = seeded.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "challans.issue", AuditEntry.object_id == str(challan.id)
        )
    ).one()
    assert entry.detail["number"] == challan.number and entry.detail["amount_pkr"] == 2000
    assert entry.detail["evidence_sha256"] == violation.evidence_sha256


def test_the_registered_class_wins_over_the_seen_one(
    seeded: Session, factory: Factory, settings: Settings
) -> None:
    district = factory.district("PSW")
    registered_bus = confirmed_violation(seeded, settings, district, seen_class="car", registered_class="bus")
    unregistered = confirmed_violation(
        seeded, settings, district, seen_class="motorbike", registered_class=None
    )
    first, _ = challans.issue(session=seeded, settings=settings, violation_id=registered_bus.id)
    second, _ = challans.issue(session=seeded, settings=settings, violation_id=unregistered.id)
    assert (first.vehicle_class, first.amount_pkr) == (
        "large",
        1000,
    )  # KP red light: up to 1,000, every class
    assert second.vehicle_class == "motorcycle"
    unknown = confirmed_violation(
        seeded, settings, district, seen_class="person", registered_class="spaceship"
    )
    with pytest.raises(InvalidInput) as refused:
        challans.issue(session=seeded, settings=settings, violation_id=unknown.id)
    assert refused.value.code == "unknown_vehicle_class"


def test_the_fine_in_force_on_the_offence_day_applies(
    seeded: Session, factory: Factory, settings: Settings
) -> None:
    punjab = Province(code="PB", name="Punjab")
    seeded.add(punjab)
    seeded.flush()
    lahore = District(province_id=punjab.id, code="LHR", name="Lahore", latitude=31.55, longitude=74.34)
    seeded.add(lahore)
    seeded.flush()
    # A later version of Punjab's red-light fine for cars, from 1 June 2026.
    seeded.add(
        Fine(
            province_code="PB",
            vehicle_class="car",
            offence=Offence.RED_LIGHT,
            amount_pkr=7500,
            effective_from=dt.date(2026, 6, 1),
            legal_reference="Punjab amendment June 2026 (test)",
        )
    )
    seeded.flush()
    now = dt.datetime(2026, 6, 10, 8, tzinfo=dt.UTC)
    before = confirmed_violation(
        seeded, settings, lahore, occurred_at=dt.datetime(2026, 5, 31, 18, 30, tzinfo=dt.UTC)
    )
    after = confirmed_violation(
        seeded, settings, lahore, occurred_at=dt.datetime(2026, 5, 31, 19, 30, tzinfo=dt.UTC)
    )
    old, _ = challans.issue(session=seeded, settings=settings, violation_id=before.id, now=now)
    new, _ = challans.issue(session=seeded, settings=settings, violation_id=after.id, now=now)
    # 23:30 on 31 May in Lahore is under the Nov 2025 schedule; 00:30 on 1 June under the new line.
    assert (old.amount_pkr, new.amount_pkr) == (5000, 7500)
    assert old.number.startswith("LHR-2026-")
    older_line = seeded.get(Fine, old.fine_id)
    assert older_line is not None and older_line.effective_from == dt.date(2025, 11, 1)

    # What fine_for answers for any day, and for a day before any schedule.
    def pb_car_red_light(on: dt.date) -> int:
        return challans.fine_for(
            session=seeded, province_code="PB", vehicle_class="car", offence=Offence.RED_LIGHT, on=on
        ).amount_pkr

    assert (pb_car_red_light(dt.date(2026, 5, 31)), pb_car_red_light(dt.date(2027, 1, 1))) == (5000, 7500)
    with pytest.raises(NotFound) as missing:
        pb_car_red_light(dt.date(2020, 1, 1))
    assert missing.value.code == "no_fine"


def test_only_a_confirmed_violation_with_evidence_is_ticketed(
    seeded: Session, factory: Factory, settings: Settings
) -> None:
    district = factory.district("PSW")
    pending = confirmed_violation(seeded, settings, district, status=ViolationStatus.PENDING)
    with pytest.raises(Conflict) as refused:
        challans.issue(session=seeded, settings=settings, violation_id=pending.id)
    assert refused.value.code == "not_confirmed"
    bare = confirmed_violation(seeded, settings, district)
    bare.evidence_sha256 = None
    seeded.flush()
    with pytest.raises(Conflict) as refused:
        challans.issue(session=seeded, settings=settings, violation_id=bare.id)
    assert refused.value.code == "no_evidence"
    helmet = confirmed_violation(
        seeded, settings, district, offence=Offence.NO_HELMET, seen_class="motorcycle"
    )
    with pytest.raises(NotFound) as no_line:  # KP's 2021 schedule as reported has no helmet figure
        challans.issue(session=seeded, settings=settings, violation_id=helmet.id)
    assert no_line.value.code == "no_fine"
    assert seeded.scalar(select(func.count()).select_from(Challan)) == 0


def test_a_replayed_issue_gives_the_same_challan(
    seeded: Session, factory: Factory, settings: Settings
) -> None:
    district = factory.district("PSW")
    violation = confirmed_violation(seeded, settings, district)
    outcomes = [
        challans.issue(session=seeded, settings=settings, violation_id=violation.id) for _ in range(100)
    ]
    assert sum(created for _, created in outcomes) == 1
    assert len({c.id for c, _ in outcomes}) == 1
    assert seeded.scalar(select(func.count()).select_from(Challan)) == 1


def _world(factory_session: sessionmaker[Session], settings: Settings) -> uuid.UUID:
    from conftest import Factory as _Factory
    from safecity.core.crypto import SecretBox

    with transaction(factory_session) as session:
        challans.ensure_fines(session=session)
        district = _Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district("PSW")
        return confirmed_violation(session, settings, district).id


def test_a_hundred_concurrent_issues_give_one_challan(
    db_url: str, tmp_path: Path, settings: Settings
) -> None:
    """100 threads, each on its own connection, issue the same violation at once: one challan, one number."""
    with new_database(make_url(db_url).get_backend_name(), tmp_path) as url:
        # 40 connections at a time (PostgreSQL allows 100 in all): the rest of the threads queue for them.
        engine = create_db_engine(url, pool_size=40, max_overflow=0, pool_timeout=120)
        factory_session = create_session_factory(engine, info=audit_info(settings))
        violation_id = _world(factory_session, settings)
        start = threading.Barrier(100)
        outcomes: list[tuple[str, bool]] = []
        errors: list[BaseException] = []

        def issue() -> None:
            start.wait()
            try:
                with transaction(factory_session) as session:
                    challan, created = challans.issue(
                        session=session, settings=settings, violation_id=violation_id
                    )
                    outcomes.append((challan.number, created))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=issue) for _ in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        try:
            assert not errors, errors[:3]
            assert len(outcomes) == 100
            assert sum(created for _, created in outcomes) == 1
            assert len({number for number, _ in outcomes}) == 1 and outcomes[0][0].endswith("-000001")
            with factory_session() as session:
                assert session.scalar(select(func.count()).select_from(Challan)) == 1
                issued = session.scalars(
                    select(AuditEntry).where(AuditEntry.action == "challans.issue")
                ).all()
                assert len(issued) == 1
                assert session.scalar(select(Counter.last)) == 1  # no number was used up by the replays
        finally:
            engine.dispose()
