"""What an audit entry's object and actor are called: camera names, incident and challan numbers, usernames.

The log keeps ids (it must outlive what it names); the auditor reads names. Labels are looked up in
batches, one query per kind of object on a page, never one per entry. An object that no longer exists
keeps its id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Table, func, or_, select
from sqlalchemy.orm import Session

from safecity import tables
from safecity.audit.models import AuditEntry


@dataclass(frozen=True)
class Kind:
    """A kind of audited object: its name for people, its table, the columns that name one, its page."""

    noun: str
    table: str
    columns: tuple[str, ...]
    href: str | None = None  # with "{}" for the id


KINDS: dict[str, Kind] = {
    "camera": Kind("Camera", "cameras", ("name",), "/cameras/{}"),
    "user": Kind("User", "users", ("username", "full_name")),
    "incident": Kind("Incident", "incidents", ("number",), "/incidents/{}"),
    "challan": Kind("Challan", "traffic_challans", ("number",)),
    "alert": Kind("Alert", "alerts", ("title",), "/console?alert={}"),
    "unit": Kind("Unit", "units", ("call_sign",)),
    "site": Kind("Site", "sites", ("name",)),
    "police_station": Kind("Police station", "police_stations", ("name",)),
    "district": Kind("District", "districts", ("name",)),
    "premises": Kind("Premises", "premises", ("name",)),
    "hotlist_entry": Kind("Hotlist entry", "hotlist_entries", ("plate",)),
    "hotlist_hit": Kind("Hotlist hit", "hotlist_hits", ("read_plate",)),
    "api_token": Kind("API token", "api_tokens", ("name",)),
    "traffic_violations": Kind("Violation", "traffic_violations", ("plate",)),
    "payment": Kind("Payment", "traffic_payments", ("transaction_id",)),
    "role": Kind("Role", "roles", ()),
}
MAX_FOUND = 200  # objects one label search may match


@dataclass(frozen=True)
class Label:
    """How an entry's object reads: its kind, its name (or a shortened id), the full id, and a link."""

    noun: str
    name: str
    full: str  # the kind and the whole id, for the tooltip
    href: str | None = None


def noun(object_type: str) -> str:
    """The kind of object as people say it."""
    kind = KINDS.get(object_type)
    return kind.noun if kind else object_type.replace("_", " ").capitalize()


def _table(kind: Kind) -> Table | None:
    table = tables.metadata.tables.get(kind.table)
    if table is None or "id" not in table.c or any(c not in table.c for c in kind.columns):
        return None
    return table


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _names(session: Session, kind: Kind, ids: Iterable[uuid.UUID]) -> dict[str, str]:
    table = _table(kind)
    wanted = sorted(set(ids))
    if table is None or not kind.columns or not wanted:
        return {}
    names: dict[str, str] = {}
    columns = [table.c[c] for c in kind.columns]
    for row in session.execute(select(table.c.id, *columns).where(table.c.id.in_(wanted))):
        values = [str(v) for v in row[1:] if v]
        if values:
            names[str(row[0])] = f"{values[0]} ({', '.join(values[1:])})" if values[1:] else values[0]
    return names


def describe(*, session: Session, entries: Iterable[AuditEntry]) -> dict[int, Label]:
    """The label of each entry's object (by seq), one query per kind of object."""
    typed = [(e.object_type, e) for e in entries if e.object_type]
    wanted: dict[str, set[uuid.UUID]] = {}
    for object_type, entry in typed:
        as_uuid = _as_uuid(entry.object_id or "")
        if as_uuid is not None and object_type in KINDS:
            wanted.setdefault(object_type, set()).add(as_uuid)
    names = {kind: _names(session, KINDS[kind], ids) for kind, ids in wanted.items()}
    labels: dict[int, Label] = {}
    for object_type, entry in typed:
        object_id = entry.object_id or ""
        kind = KINDS.get(object_type)
        found = names.get(object_type, {}).get(object_id)
        is_uuid = _as_uuid(object_id) is not None
        name = found or (object_id[:8] + "…" if is_uuid else object_id)
        href = kind.href.format(object_id) if kind and kind.href and found else None
        labels[entry.seq] = Label(noun(object_type), name, f"{object_type} {object_id}".strip(), href)
    return labels


def actor_names(*, session: Session, entries: Iterable[AuditEntry]) -> dict[uuid.UUID, str]:
    """Each acting user's full name (where the account still exists and has one), in one query."""
    ids = {e.actor_id for e in entries if e.actor_id is not None}
    users = tables.metadata.tables["users"]
    if not ids:
        return {}
    rows = session.execute(select(users.c.id, users.c.full_name).where(users.c.id.in_(sorted(ids))))
    return {row[0]: row[1] for row in rows if row[1]}


def find(*, session: Session, text: str) -> dict[str, list[str]]:
    """The ids (as the log stores them) of objects whose name is `text`, by kind (case-insensitive)."""
    text = text.strip().lower()
    found: dict[str, list[str]] = {}
    if not text:
        return found
    for name, kind in KINDS.items():
        table = _table(kind)
        if table is None or not kind.columns:
            continue
        matches = or_(*(func.lower(table.c[c]) == text for c in kind.columns))
        ids = [str(i) for i in session.scalars(select(table.c.id).where(matches).limit(MAX_FOUND))]
        if ids:
            found[name] = ids
    return found
