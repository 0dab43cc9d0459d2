"""The search index of person names: one row per word key of each name a person is known by, and what
keeps it current.

The index is rewritten for every person a flush writes (a listener on every Session, registered when this
module is imported: tables.py imports it, so every process that uses the schema has it), so any code that
writes persons or aliases through the ORM keeps it right. Loaders that insert with Core call `reindex`.
The listener lives here, with its table, rather than in service.py: tables.py is imported while the
domains that the search uses (plates, audit) are still loading, and the search's imports would close
that circle.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from itertools import chain, islice
from typing import Any

from sqlalchemy import ForeignKey, Index, String, delete, event, insert, select
from sqlalchemy import inspect as orm_inspect
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from safecity.core.db import Base
from safecity.records.models import Person, PersonName
from safecity.records.search import names

CHUNK = 500  # persons per statement (well under SQLite's bound-parameter limit)
# The person columns that hold names, and what the index calls each.
NAME_FIELDS = (
    ("name", "name"),
    ("name_ur", "name"),
    ("father_name", "father"),
    ("father_name_ur", "father"),
)


class NameKey(Base):
    """A word key (names.keys) of one of a person's names, and which name it came from (for the "why")."""

    __tablename__ = "record_search_names"
    __table_args__ = (
        # Candidates of a key: answered from this index alone.
        Index("ix_record_search_names_key", "key", "person_id"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    field: Mapped[str] = mapped_column(String(12), primary_key=True)  # name, father, alias
    name: Mapped[str] = mapped_column(String(120), primary_key=True)  # the name as written


def chunks(ids: Collection[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    """`ids` in lists of at most CHUNK."""
    it = iter(ids)
    while chunk := list(islice(it, CHUNK)):
        yield chunk


def index_rows(person_id: uuid.UUID, named: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The index rows of a person's names, given as (field, name) pairs; field: name, father, alias."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for kind, text in named:
        written = text[:120]
        for key in names.keys(text):
            rows[(key, kind, written)] = {"person_id": person_id, "key": key, "field": kind, "name": written}
    return list(rows.values())


def reindex(*, session: Session, person_ids: Collection[uuid.UUID]) -> int:
    """Rewrite the name index of these persons from their rows (after a Core bulk load); rows written.

    Runs on the session's connection, not through the ORM: it is also called from inside a flush.
    """
    connection = session.connection()
    written = 0
    columns = [getattr(Person, column) for column, _ in NAME_FIELDS]
    for chunk in chunks(person_ids):
        connection.execute(delete(NameKey).where(NameKey.person_id.in_(chunk)))
        named: dict[uuid.UUID, list[tuple[str, str]]] = {}
        for row in connection.execute(select(Person.id, *columns).where(Person.id.in_(chunk))):
            named[row[0]] = [
                (kind, text) for (_, kind), text in zip(NAME_FIELDS, row[1:], strict=True) if text
            ]
        aliases = select(PersonName.person_id, PersonName.name).where(PersonName.person_id.in_(chunk))
        for person_id, alias in connection.execute(aliases):
            named.setdefault(person_id, []).append(("alias", alias))
        rows = [r for person_id, pairs in named.items() for r in index_rows(person_id, pairs)]
        if rows:
            connection.execute(insert(NameKey), rows)
            written += len(rows)
    return written


def _touched(session: Session) -> set[uuid.UUID]:
    """The persons whose names a flush wrote: new or deleted ones, changed names, any alias touched."""
    touched: set[uuid.UUID] = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        state = orm_inspect(obj)
        if isinstance(obj, Person):
            if obj in session.dirty and not any(
                state.attrs[column].history.has_changes() for column, _ in NAME_FIELDS
            ):
                continue
            person_id = state.dict.get("id")
        elif isinstance(obj, PersonName):
            person_id = state.dict.get("person_id")
            # An alias moved to another person (a merge): the one it left is re-indexed too.
            touched.update(p for p in state.attrs.person_id.history.deleted if p is not None)
        else:
            continue
        if person_id is not None:
            touched.add(person_id)
    return touched


@event.listens_for(Session, "after_flush")
def _keep_index(session: Session, _context: UOWTransaction) -> None:
    """Re-index the persons a flush wrote (in after_flush, new/dirty/deleted still show what it wrote)."""
    touched = _touched(session)
    if touched:
        reindex(session=session, person_ids=touched)
