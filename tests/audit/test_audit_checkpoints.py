"""Rewrites by someone who controls the database: the keyed chain and the signed checkpoints kept outside
it catch a truncated log with a rewound head, a chain recomputed without the key, and a forged checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from conftest import PlainSha256, audit_info, new_database, rewrite_chain, unguard
from safecity import migrations
from safecity.audit import service as audit
from safecity.audit.chain import AuditChain, chain_key
from safecity.audit.models import AuditEntry, AuditHead
from safecity.config import AuditSettings, Settings
from safecity.core.db import create_db_engine, create_session_factory

EVERY = 3  # a checkpoint after every third entry


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No timer during a test: checkpoints come from the entry count and from verify only.
    audit_settings = AuditSettings(checkpoint_every_entries=EVERY, checkpoint_every_seconds=3600)
    return settings.model_copy(update={"audit": audit_settings})


def committed_entries(session: Session, count: int) -> list[AuditEntry]:
    """Entries committed one by one, as requests do (a checkpoint covers committed entries only)."""
    entries = []
    for n in range(count):
        entries.append(
            audit.record(session=session, action="records.person.read", outcome="success", detail={"n": n})
        )
        session.commit()
    return entries


def checkpoint_lines(settings: Settings) -> list[dict[str, object]]:
    lines = settings.audit_checkpoint_path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_an_untouched_chain_verifies_against_its_checkpoints(session: Session, settings: Settings) -> None:
    entries = committed_entries(session, 2 * EVERY)
    written = checkpoint_lines(settings)
    assert [line["seq"] for line in written] == [entries[EVERY - 1].seq, entries[-1].seq]
    assert written[-1]["hash"] == entries[-1].hash and len(str(written[-1]["sig"])) == 64

    report = audit.verify(session=session)
    assert report.ok, report.problems
    assert report.checkpoints == 2
    assert len(checkpoint_lines(settings)) == 3  # an intact chain's head is checkpointed at verify


def test_an_uncommitted_entry_is_never_checkpointed(session: Session, settings: Settings) -> None:
    committed_entries(session, 1)
    for n in range(EVERY):
        audit.record(session=session, action="records.person.read", outcome="success", detail={"n": n})
    session.rollback()
    assert not settings.audit_checkpoint_path.exists()
    assert audit.verify(session=session).ok


def test_deleting_the_last_entries_and_rewinding_the_head_is_caught(session: Session) -> None:
    entries = committed_entries(session, EVERY)
    kept = entries[0]
    unguard(session)
    session.execute(text("DELETE FROM audit_log WHERE seq > :seq"), {"seq": kept.seq})
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=kept.seq, hash=kept.hash))

    report = audit.verify(session=session)
    assert not report.ok
    assert "the head rewound" in report.problems[-1].reason
    assert f"reached entry {entries[-1].seq}" in report.problems[-1].reason


def test_an_edit_with_every_later_hash_recomputed_without_the_key_is_caught(session: Session) -> None:
    entries = committed_entries(session, EVERY + 1)
    rewrite_chain(session, entries[1].seq, PlainSha256.unkeyed())

    report = audit.verify(session=session)
    reasons = " ".join(problem.reason for problem in report.problems)
    assert {problem.seq for problem in report.problems} >= {entry.seq for entry in entries[1:]}
    assert "changed after it was written" in reasons
    assert f"entry {entries[EVERY - 1].seq} is not the one checkpointed" in reasons


def test_a_rewrite_by_someone_holding_the_key_is_caught_by_a_checkpoint(session: Session) -> None:
    entries = committed_entries(session, EVERY)
    rewrite_chain(session, entries[0].seq, audit.chain_of(session))

    report = audit.verify(session=session)
    assert [problem.seq for problem in report.problems] == [entries[-1].seq]
    assert "is not the one checkpointed" in report.problems[0].reason


def test_a_forged_checkpoint_line_is_reported(session: Session, settings: Settings) -> None:
    entries = committed_entries(session, EVERY)
    forged = {
        "seq": entries[0].seq,
        "hash": entries[0].hash,
        "at": "2026-01-01T00:00:00+00:00",
        "sig": "0" * 64,
    }
    with settings.audit_checkpoint_path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(forged) + "\n")
        out.write("not json\n")

    report = audit.verify(session=session)
    reasons = [problem.reason for problem in report.problems]
    assert len(reasons) == 2
    assert "line 2" in reasons[0] and "forged" in reasons[0]
    assert "line 3" in reasons[1] and "not a checkpoint" in reasons[1]


def test_a_checkpoint_signed_with_another_key_is_forged(session: Session, settings: Settings) -> None:
    committed_entries(session, EVERY)
    other = settings.model_copy(
        update={"secret_key": settings.secret_key.__class__("another-key-" + "x" * 32)}
    )
    AuditChain.from_settings(other).checkpoint(1, "0" * 64)
    assert "forged" in audit.verify(session=session).problems[0].reason


def test_migrate_rechains_an_older_log_under_the_key(db_url: str, tmp_path: Path, settings: Settings) -> None:
    """A log written before keying (plain SHA-256) is verified and re-chained; a tampered one is refused."""
    with new_database(make_url(db_url).get_backend_name(), tmp_path) as url:
        engine = create_db_engine(url)
        factory = create_session_factory(engine, info=audit_info(settings))
        key = chain_key(settings)
        try:
            with factory.begin() as session:
                for n in range(4):
                    audit.record(session=session, action="auth.login", outcome="success", detail={"n": n})
            migrations.downgrade(engine, "0012", audit_key=key)  # back to the plain chain
            with factory() as session:
                assert not audit.verify(session=session).ok  # plain hashes fail under the key

            with pytest.raises(RuntimeError, match="safecity migrate"):
                migrations.upgrade(engine)  # Alembic alone has no key
            migrations.upgrade(engine, audit_key=key)
            with factory() as session:
                report = audit.verify(session=session)
                assert report.ok and report.checked == 4, report.problems

            migrations.downgrade(engine, "0012", audit_key=key)
            with factory.begin() as session:
                unguard(session)
                session.execute(text("UPDATE audit_log SET outcome = 'failure' WHERE seq = 2"))
            with pytest.raises(RuntimeError, match="entry 2 does not verify"):
                migrations.upgrade(engine, audit_key=key)
        finally:
            engine.dispose()
