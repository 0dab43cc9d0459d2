"""The audit log: the chain, its tamper evidence, the append-only guard and scoped search."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from conftest import audit_info, unguard
from safecity import migrations
from safecity.audit import service as audit
from safecity.audit.models import GENESIS_HASH, AuditEntry, AuditHead
from safecity.auth.principal import Principal
from safecity.config import Settings
from safecity.core.db import create_db_engine, create_session_factory, transaction
from safecity.core.errors import InvalidInput, PermissionDenied


def make_principal(
    *,
    permissions: tuple[str, ...] = ("audit.read",),
    districts: tuple[uuid.UUID, ...] | None = None,
    username: str = "inspector",
) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username=username,
        permissions=frozenset(permissions),
        district_ids=None if districts is None else frozenset(districts),
        client_addr="10.20.30.40",
    )


def append(
    session: Session,
    count: int,
    *,
    action: str = "records.person.read",
    outcome: str = "success",
    actor: Principal | None = None,
    district_id: uuid.UUID | None = None,
) -> list[AuditEntry]:
    """Record `count` entries, each naming its index as the object."""
    return [
        audit.record(
            session=session,
            action=action,
            outcome=outcome,
            actor=actor or make_principal(),
            object_type="person",
            object_id=str(index),
            purpose="case 42/2026",
            district_id=district_id,
            detail={"index": index},
        )
        for index in range(count)
    ]


def problem_seqs(session: Session) -> list[int]:
    report = audit.verify(session=session)
    assert not report.ok
    return [problem.seq for problem in report.problems]


# The chain


def test_entries_chain_and_verify(session: Session) -> None:
    start = session.scalars(select(AuditHead.seq)).one()
    entries = append(session, 5)

    assert [entry.seq for entry in entries] == list(range(start + 1, start + 6))
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.hash
    assert session.execute(select(AuditHead.seq, AuditHead.hash)).one() == (entries[-1].seq, entries[-1].hash)
    report = audit.verify(session=session)
    assert report.ok, report.problems
    assert report.checked == entries[-1].seq


def test_the_first_entry_follows_genesis(session: Session) -> None:
    first = session.scalars(select(AuditEntry).where(AuditEntry.seq == 1)).one_or_none()
    entry = first or append(session, 1)[0]
    assert entry.prev_hash == GENESIS_HASH


def test_entry_records_who_what_when_and_why(session: Session) -> None:
    officer = make_principal(username="asi.rehman")
    district = uuid.uuid4()
    entry = audit.record(
        session=session,
        action="records.person.read",
        outcome="success",
        actor=officer,
        object_type="person",
        object_id="P-1001",
        purpose="FIR 311/2026",
        district_id=district,
        detail={"fields": ("name", "cnic")},
    )
    session.expire_all()
    stored = session.get_one(AuditEntry, entry.seq)

    assert (stored.actor_id, stored.actor_name, stored.client_addr) == (
        officer.user_id,
        "asi.rehman",
        "10.20.30.40",
    )
    assert (stored.object_type, stored.object_id, stored.purpose) == ("person", "P-1001", "FIR 311/2026")
    assert stored.district_id == district
    assert stored.detail == {"fields": ["name", "cnic"]}  # stored as JSON gives it back
    assert stored.at.utcoffset() == dt.timedelta(0)
    assert audit.verify(session=session).ok


def test_no_actor_means_the_system(session: Session) -> None:
    entry = audit.record(session=session, action="retention.purge", outcome="success")
    assert (entry.actor_id, entry.actor_name) == (None, "system")


def test_overlong_client_input_is_clipped_not_refused(session: Session) -> None:
    attempt = Principal(
        user_id=None,
        username="x" * 500,
        permissions=frozenset(),
        district_ids=frozenset(),
        client_addr="1" * 100,
    )
    entry = audit.record(
        session=session, action="auth.login", outcome="failure", actor=attempt, object_id="y" * 500
    )
    assert (len(entry.actor_name), len(entry.object_id or ""), len(entry.client_addr or "")) == (64, 128, 64)
    assert audit.verify(session=session).ok


def test_bad_outcome_and_oversized_detail_are_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="outcome"):
        audit.record(session=session, action="auth.login", outcome="maybe")
    with pytest.raises(ValueError, match="characters"):
        audit.record(session=session, action="auth.login", outcome="success", detail={"blob": "z" * 10_000})


def test_a_rolled_back_entry_leaves_no_gap(session: Session) -> None:
    before = append(session, 1)[0]
    savepoint = session.begin_nested()
    append(session, 1)
    savepoint.rollback()
    after = append(session, 1)[0]
    assert after.seq == before.seq + 1
    assert after.prev_hash == before.hash
    assert audit.verify(session=session).ok


@pytest.mark.parametrize("batch_size", [1, 2, 3, 1000])
def test_verify_walks_in_batches(session: Session, batch_size: int) -> None:
    entries = append(session, 7)
    session.flush()
    report = audit.verify(session=session, batch_size=batch_size)
    assert report.ok
    assert report.checked == entries[-1].seq


# Tampering, done with plain SQL by someone who has rights on the database


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor_name = 'someone.else' WHERE seq = :seq",
        "UPDATE audit_log SET outcome = 'failure' WHERE seq = :seq",
        "UPDATE audit_log SET purpose = 'routine' WHERE seq = :seq",
        "UPDATE audit_log SET object_id = 'P-9999' WHERE seq = :seq",
        "UPDATE audit_log SET detail = '{\"index\": 99}' WHERE seq = :seq",
        "UPDATE audit_log SET actor_id = NULL WHERE seq = :seq",
    ],
)
def test_an_edited_entry_is_reported(session: Session, statement: str) -> None:
    entries = append(session, 5)
    unguard(session)
    session.execute(text(statement), {"seq": entries[2].seq})

    report = audit.verify(session=session)
    assert [problem.seq for problem in report.problems] == [entries[2].seq]
    assert "changed after it was written" in report.problems[0].reason


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(session: Session) -> None:
    entries = append(session, 5)
    forged = {name: getattr(entries[2], name) for name in audit.HASHED_FIELDS} | {"outcome": "failure"}
    unguard(session)
    # Even someone who holds the key cannot change one entry without relinking every later one.
    key_holder = audit.chain_of(session)
    session.execute(
        text("UPDATE audit_log SET outcome = 'failure', hash = :hash WHERE seq = :seq"),
        {"hash": audit.entry_hash(key_holder, entries[2].prev_hash, forged), "seq": entries[2].seq},
    )

    report = audit.verify(session=session)
    assert [problem.seq for problem in report.problems] == [entries[3].seq]
    assert "does not link" in report.problems[0].reason


def test_a_deleted_entry_is_reported(session: Session) -> None:
    entries = append(session, 5)
    unguard(session)
    session.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": entries[2].seq})

    report = audit.verify(session=session)
    assert [problem.seq for problem in report.problems] == [entries[2].seq]
    assert f"entry {entries[2].seq} is missing" in report.problems[0].reason


def test_swapped_entries_are_reported(session: Session) -> None:
    entries = append(session, 5)
    first, second = entries[1].seq, entries[3].seq
    unguard(session)
    for old, new in ((first, -1), (second, first), (-1, second)):
        session.execute(text("UPDATE audit_log SET seq = :new WHERE seq = :old"), {"old": old, "new": new})

    seqs = problem_seqs(session)
    assert first in seqs
    assert second in seqs


def test_a_deleted_last_entry_is_reported_as_truncation(session: Session) -> None:
    entries = append(session, 5)
    unguard(session)
    session.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": entries[-1].seq})

    report = audit.verify(session=session)
    assert [problem.seq for problem in report.problems] == [entries[-1].seq]
    assert "truncated" in report.problems[0].reason


def test_an_entry_slipped_in_past_the_head_is_reported(session: Session) -> None:
    entries = append(session, 2)
    unguard(session)
    session.execute(
        text(
            "INSERT INTO audit_log (seq, at, actor_id, actor_name, action, object_type, object_id, outcome,"
            " purpose, client_addr, district_id, detail, prev_hash, hash)"
            " SELECT :new, at, actor_id, actor_name, action, object_type, object_id, outcome,"
            " purpose, client_addr, district_id, detail, prev_hash, hash FROM audit_log WHERE seq = :seq"
        ),
        {"new": entries[-1].seq + 1, "seq": entries[-1].seq},
    )

    report = audit.verify(session=session)
    assert [problem.seq for problem in report.problems] == [entries[-1].seq + 1]
    assert "past the head" in report.problems[0].reason


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET outcome = 'failure' WHERE seq = :seq",
        "DELETE FROM audit_log WHERE seq = :seq",
        "DELETE FROM audit_head",
    ],
)
def test_the_database_refuses_changes(session: Session, statement: str) -> None:
    entry = append(session, 1)[0]
    with pytest.raises(DBAPIError, match=r"append-only|cannot be deleted"), session.begin_nested():
        session.execute(text(statement), {"seq": entry.seq})
    assert audit.verify(session=session).ok


def test_postgresql_refuses_truncate(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    append(session, 1)
    for table in ("audit_log", "audit_head"):
        with pytest.raises(DBAPIError, match=r"append-only|cannot be deleted"), session.begin_nested():
            session.execute(text(f"TRUNCATE {table}"))


# Concurrent writers, committing for real into a database of their own


@pytest.fixture
def own_engine(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of the test's kind that threads may commit into."""
    if engine.dialect.name == "sqlite":
        own = create_db_engine(f"sqlite:///{tmp_path / 'audit.db'}")
        migrations.upgrade(own)
        yield own
        own.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
    own = create_db_engine(url.render_as_string(hide_password=False))
    try:
        migrations.upgrade(own)
        yield own
    finally:
        own.dispose()
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_concurrent_writers_never_fork_the_chain(own_engine: Engine, settings: Settings) -> None:
    factory = create_session_factory(own_engine, info=audit_info(settings))
    writers, per_writer = 4, 15
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            start.wait()
            for _ in range(per_writer):
                with transaction(factory) as session:
                    append(session, 1, actor=make_principal(username=name))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(f"writer{n}",)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with factory() as session:
        report = audit.verify(session=session)
        assert report.ok, report.problems
        assert report.checked == writers * per_writer
        assert session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)).all() == list(
            range(1, writers * per_writer + 1)
        )


# Search


def test_search_needs_the_permission(session: Session) -> None:
    clerk = make_principal(permissions=("cameras.read",), username="clerk")
    with pytest.raises(PermissionDenied):
        audit.search(session=session, principal=clerk, action="auth.login")


def test_district_scope_limits_what_is_seen(session: Session) -> None:
    district_a, district_b = uuid.uuid4(), uuid.uuid4()
    in_a = append(session, 2, action="test.scope", district_id=district_a)
    in_b = append(session, 2, action="test.scope", district_id=district_b)
    nowhere = append(session, 1, action="test.scope")

    scoped = make_principal(districts=(district_a,))
    seen = audit.search(session=session, principal=scoped, action="test.scope")
    assert {entry.seq for entry in seen} == {entry.seq for entry in in_a}

    everything = audit.search(session=session, principal=make_principal(), action="test.scope")
    assert {entry.seq for entry in everything} == {entry.seq for entry in in_a + in_b + nowhere}

    # Without a filter the scoped reader still sees only district A (not even its own audit.read entries).
    assert {entry.district_id for entry in audit.search(session=session, principal=scoped)} == {district_a}


def test_search_pages_newest_first(session: Session) -> None:
    entries = append(session, 7, action="test.page")
    reader = make_principal()
    pages: list[list[int]] = []
    before: int | None = None
    while True:
        page = audit.search(session=session, principal=reader, action="test.page", limit=3, before_seq=before)
        if not page:
            break
        pages.append([entry.seq for entry in page])
        before = page[-1].seq

    newest_first = [entry.seq for entry in reversed(entries)]
    assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:7]]


def test_search_filters(session: Session) -> None:
    alice, bob = make_principal(username="alice"), make_principal(username="bob")
    first = append(session, 1, action="test.filter", actor=alice)[0]
    second = append(session, 1, action="test.filter", actor=bob, outcome="failure")[0]
    third = append(session, 1, action="test.filter", actor=alice)[0]
    reader = make_principal()

    def seqs(**filters: Any) -> list[int]:
        found = audit.search(session=session, principal=reader, action="test.filter", **filters)
        return [entry.seq for entry in found]

    assert seqs(actor=alice.user_id) == [third.seq, first.seq]
    assert seqs(actor="bob") == [second.seq]
    assert seqs(actor=str(bob.user_id)) == [second.seq]
    assert seqs(outcome="failure") == [second.seq]
    assert seqs(since=second.at) == [third.seq, second.seq]
    assert seqs(until=second.at) == [first.seq]


def test_search_records_the_read(session: Session) -> None:
    append(session, 2, action="test.read")
    reader = make_principal(username="auditor")
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    found = audit.search(
        session=session,
        principal=reader,
        action="test.read",
        since=since,
        limit=10,
        purpose="quarterly review",
    )

    last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (last.action, last.outcome, last.actor_id, last.purpose) == (
        "audit.read",
        "success",
        reader.user_id,
        "quarterly review",
    )
    assert last.detail == {
        "action": "test.read",
        "since": since.isoformat(),
        "limit": 10,
        "returned": len(found),
    }
    assert last.seq not in {entry.seq for entry in found}
    assert audit.verify(session=session).ok


@pytest.mark.parametrize(
    "filters",
    [
        {"limit": 0},
        {"limit": audit.MAX_PAGE + 1},
        {"outcome": "maybe"},
        {"since": dt.datetime(2026, 1, 1)},  # noqa: DTZ001
    ],
)
def test_search_refuses_bad_filters(session: Session, filters: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        audit.search(session=session, principal=make_principal(), **filters)
