"""The UTC column type and the database settings that protect acknowledged writes."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from safecity.auth.models import User
from safecity.core.db import claim, utcnow


def test_naive_datetime_is_refused(session: Session) -> None:
    user = User(username="naive", password_hash="x", created_at=dt.datetime(2026, 1, 1))  # noqa: DTZ001
    session.add(user)
    with pytest.raises(Exception, match="naive datetime refused"):
        session.flush()


def test_aware_datetime_reads_back_as_utc(session: Session) -> None:
    karachi = dt.timezone(dt.timedelta(hours=5))
    session.add(
        User(username="aware", password_hash="x", created_at=dt.datetime(2026, 3, 4, 10, 0, tzinfo=karachi))
    )
    session.flush()
    session.expire_all()
    created = session.scalars(select(User.created_at).where(User.username == "aware")).one()
    assert created == dt.datetime(2026, 3, 4, 5, 0, tzinfo=dt.UTC)
    assert created.utcoffset() == dt.timedelta(0)


def test_utcnow_is_aware() -> None:
    assert utcnow().tzinfo is dt.UTC


def test_sqlite_protects_acknowledged_writes(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_postgres_commits_synchronously(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL setting")
    with engine.connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"


def test_a_claim_is_held_by_one_transaction_at_a_time(engine: Engine) -> None:
    """Two web nodes' loops: while one transaction holds a claim the other is refused it, not kept waiting."""
    name = f"test:{uuid.uuid4()}"
    with Session(engine) as first, Session(engine) as second:
        assert claim(first, name)
        postgres = engine.dialect.name == "postgresql"
        assert claim(second, name) is not postgres  # SQLite: one machine, every claim granted
        second.rollback()
        first.commit()  # the claim ends with its transaction
        assert claim(second, name)
        assert claim(second, f"{name}:other")
        second.commit()
