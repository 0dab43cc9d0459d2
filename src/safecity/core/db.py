"""Database engine, sessions and shared column types (SQLite embedded, PostgreSQL by URL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names are stable across SQLite and PostgreSQL."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """The current time as a timezone-aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC that refuses naive datetimes and always reads back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: give a timezone-aware datetime")
        value = value.astimezone(dt.UTC)
        # SQLite has no time zone type: store naive UTC text; PostgreSQL keeps timestamptz.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Execution options of a connection that only reads: on SQLite its transaction takes no write lock.
READ_ONLY = {"safecity_read_only": True}


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get("safecity_read_only"):
        conn.exec_driver_sql("BEGIN")  # deferred: a read neither takes nor waits for the write lock
        return
    # pysqlite's own transaction handling is disabled (isolation_level=None below), so SQLAlchemy's
    # BEGIN is emitted here; savepoints then work as they do on PostgreSQL. IMMEDIATE takes the write
    # lock up front: a WAL transaction that read first and then writes after another connection's commit
    # fails at once ("database is locked", which busy_timeout cannot help); this way it waits its turn.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and synchronous=FULL on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "isolation_level": None}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    return create_engine(url, pool_pre_ping=True, **kwargs)


def create_session_factory(engine: Engine, *, info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit; `info` is copied into each session's."""
    return sessionmaker(bind=engine, expire_on_commit=False, info=info or {})


def ping(factory: sessionmaker[Session]) -> None:
    """Ask the database for SELECT 1 in a read-only transaction, so that it waits for no writer."""
    with factory() as session:
        session.connection(execution_options=READ_ONLY).exec_driver_sql("SELECT 1")


def claim(session: Session, name: str) -> bool:
    """Whether this transaction may do the work called `name` now, no other process doing it meanwhile.

    PostgreSQL: a transaction-scoped advisory lock, taken without waiting (False: another process holds
    it; do it on a later turn). Several web nodes run the same background loops, and work with outside
    effects (a delivery to another agency) must run in one of them at a time. SQLite: True (one machine,
    and its writers already take turns).
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"), {"name": name}))


def insert_new(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], *, key: str = "id"
) -> list[Any]:
    """Insert rows of `model` (keyed by `key`: `id`, or another unique column), skipping keys already
    stored; the ids of the new ones.

    Replayed or redelivered records (the bus delivers at least once) are stored once. Core, on the
    session's connection: one multi-row INSERT … RETURNING; the caller commits.
    """
    if not rows:
        return []
    session.flush()  # rows the caller added (a camera, say) must exist before these refer to them
    table: Any = model.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
    else:
        raise NotImplementedError(f"safecity stores on SQLite or PostgreSQL, not {dialect}")
    return list(session.connection().scalars(statement.returning(table.c.id), list(rows)))


def next_in_sequence(session: Session, counters: type[Base], district_id: Any, year: int) -> int:
    """The next number of a district's yearly sequence (incidents, challans, cases), taken in this
    transaction from `counters` (a table of district_id, year, last).

    The counter row is created if missing (a concurrent creator's row wins quietly), then incremented with
    UPDATE … RETURNING: its row lock (SQLite: the write lock) holds a second creator until the first
    commits, so no two records share a number, and a rolled-back one gives its number back.
    """
    table: Any = counters.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    row = {"district_id": district_id, "year": year, "last": 0}
    session.execute(dialect.insert(table).values(row).on_conflict_do_nothing())
    return int(
        session.execute(
            update(table)
            .where(table.c.district_id == district_id, table.c.year == year)
            .values(last=table.c.last + 1)
            .returning(table.c.last)
        ).scalar_one()
    )


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session committed at the end of the block, rolled back if it raises."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
