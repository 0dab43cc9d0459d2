"""Append to, verify and search the hash-chained audit log."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Table,
    and_,
    bindparam,
    event,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from safecity.audit import labels
from safecity.audit.chain import SESSION_INFO_KEY, AuditChain, BadLine, Checkpoint
from safecity.audit.models import GENESIS_HASH, OUTCOMES, AuditEntry, AuditHead
from safecity.auth.models import User, UserDistrict
from safecity.auth.principal import SYSTEM, Principal
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput

logger = logging.getLogger(__name__)

HEAD_ID = 1
READ_PERMISSION = "audit.read"
MAX_PAGE = 1000
MAX_DETAIL_CHARS = 4096  # the log records that something happened, it is not a store of the data itself
VERIFY_BATCH = 5000
# Every field the hash covers; the hash also covers the previous entry's hash, which chains them.
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "purpose",
    "client_addr",
    "district_id",
    "detail",
)

# Core statements on the head, built once: the ORM's bulk UPDATE path costs ten times more per append.
_HEAD = cast(Table, AuditHead.__table__)
_ADVANCE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=_HEAD.c.seq + 1)
    .returning(_HEAD.c.seq, _HEAD.c.hash)
)
_SEAL_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(hash=bindparam("hash"))


@dataclass(frozen=True)
class Problem:
    """One sign of tampering, at the entry where it shows."""

    seq: int
    reason: str


@dataclass
class VerifyReport:
    """The outcome of walking the whole chain."""

    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    checkpoints: int = 0  # checkpoint lines found (0: nothing outside the database vouches for the end)

    @property
    def ok(self) -> bool:
        """Whether the chain is intact."""
        return not self.problems


def _canonical_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def entry_hash(chain: AuditChain, prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The chain's keyed hash of the previous hash followed by the canonical JSON of an entry's fields."""
    canonical = {name: _canonical_value(fields[name]) for name in HASHED_FIELDS}
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return chain.seal(prev_hash, payload)


def chain_of(session: Session) -> AuditChain:
    """The audit chain (key and checkpoints) the session's factory was built with."""
    chain = session.info.get(SESSION_INFO_KEY)
    if not isinstance(chain, AuditChain):
        # Never fall back to an unkeyed or default key: that is the very rewrite the key prevents.
        raise RuntimeError(
            "this database session has no audit key: build its session factory with "
            "info=AuditChain.from_settings(settings).session_info()"
        )
    return chain


# Checkpoints of committed heads only: an entry rolled back after `record` must never be checkpointed.
_APPENDED = "safecity.audit.appended"
_HEAD_AT_COMMIT = "safecity.audit.head_at_commit"


@event.listens_for(Session, "before_commit")
def _read_head_before_commit(session: Session) -> None:
    if session.info.get(_APPENDED):
        # Read inside the transaction that moved the head (it holds the head's lock): exactly what commits.
        head = session.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)).one_or_none()
        session.info[_HEAD_AT_COMMIT] = None if head is None else (head.seq, head.hash)


@event.listens_for(Session, "after_commit")
def _checkpoint_after_commit(session: Session) -> None:
    session.info.pop(_APPENDED, None)
    head = session.info.pop(_HEAD_AT_COMMIT, None)
    if head is not None:
        chain_of(session).committed(*head)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_APPENDED, None)
    session.info.pop(_HEAD_AT_COMMIT, None)


def _normalise_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    # A JSON round trip makes what is hashed now equal to what the database gives back later
    # (tuples become lists, keys become strings).
    text = json.dumps(dict(detail or {}), allow_nan=False)
    if len(text) > MAX_DETAIL_CHARS:
        raise ValueError(f"audit detail is {len(text)} characters; keep it under {MAX_DETAIL_CHARS}")
    normalised: dict[str, Any] = json.loads(text)
    return normalised


def _clip(text: str | None, limit: int) -> str | None:
    # Some fields carry what a client sent (an attempted username, an address): an overlong one must
    # still be recorded, not make the write fail.
    return None if text is None else text[:limit]


def record(
    *,
    session: Session,
    action: str,
    outcome: str,
    actor: Principal | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    purpose: str | None = None,
    district_id: uuid.UUID | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (not committed here); no actor means the system."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    who = actor or SYSTEM
    chain = chain_of(session)
    # Moving the head first takes the write lock (SQLite) or the head row's lock (PostgreSQL) until the
    # transaction ends, so concurrent writers queue here and can never extend the same entry twice.
    head = session.execute(_ADVANCE_HEAD).one_or_none()
    if head is None:
        raise RuntimeError("the audit head row is missing: the log was tampered with or never migrated")
    seq, prev_hash = head
    entry = AuditEntry(
        seq=seq,
        at=utcnow(),
        actor_id=who.user_id,
        actor_name=_clip(who.username, 64),
        action=action,
        object_type=object_type,
        object_id=_clip(object_id, 128),
        outcome=outcome,
        purpose=purpose,
        client_addr=_clip(who.client_addr, 64),
        district_id=district_id,
        detail=_normalise_detail(detail),
        prev_hash=prev_hash,
    )
    entry.hash = entry_hash(chain, prev_hash, {name: getattr(entry, name) for name in HASHED_FIELDS})
    session.add(entry)
    session.flush()
    session.execute(_SEAL_HEAD, {"hash": entry.hash})
    session.info[_APPENDED] = True
    return entry


def purged(
    *,
    session_factory: sessionmaker[Session],
    purge_batch: Callable[[Session], int],
    batch: int,
    action: str,
    object_type: str,
    detail: Mapping[str, Any],
) -> int:
    """Run a retention purge: `purge_batch` deletes up to `batch` rows in the session given, and is called in
    a transaction of its own until a batch comes back short, so no transaction (nor SQLite's write lock)
    lasts long; one audit entry (`action`, with `detail` and the total) when any went. Returns the total.
    """
    deleted = 0
    while True:
        with session_factory() as session:
            n = purge_batch(session)
            if n < batch and deleted + n:
                record(
                    session=session,
                    action=action,
                    outcome="success",
                    object_type=object_type,
                    detail={"deleted": deleted + n, **detail},
                )
            session.commit()
        deleted += n
        if n < batch:
            return deleted


def _missing(first: int, last: int) -> str:
    return f"entry {first} is missing" if first == last else f"entries {first} to {last} are missing"


def _check(chain: AuditChain, row: RowMapping, prev_seq: int, prev_hash: str) -> list[Problem]:
    seq: int = row["seq"]
    problems = []
    if seq != prev_seq + 1:
        problems.append(Problem(prev_seq + 1, f"{_missing(prev_seq + 1, seq - 1)}: deleted from the log"))
    elif row["prev_hash"] != prev_hash:
        problems.append(
            Problem(seq, f"entry {seq} does not link to entry {prev_seq}: entries were replaced or reordered")
        )
    if entry_hash(chain, row["prev_hash"], {name: row[name] for name in HASHED_FIELDS}) != row["hash"]:
        problems.append(
            Problem(seq, f"entry {seq} was changed after it was written: it no longer matches its hash")
        )
    return problems


def verify(*, session: Session, batch_size: int = VERIFY_BATCH) -> VerifyReport:
    """Walk the whole chain in seq order, in batches, under the key, and check it against every checkpoint.

    Reports every edit, deletion, reordering and truncation, a rewrite made without the key, a rewind of
    the head below a checkpoint, and a forged checkpoint line. An intact chain's head is checkpointed.
    """
    report = VerifyReport()
    chain = chain_of(session)
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)).one_or_none()
    if head is None:
        report.problems.append(Problem(0, "the head row is missing: the end of the log cannot be checked"))
        logger.warning("audit chain: the head row is missing")
        return report
    checkpoints = _read_checkpoints(chain, report)
    prev_seq, prev_hash = 0, GENESIS_HASH
    table = AuditEntry.__table__
    while True:
        # Keyset batches keep memory flat; entries appended after the head was read are left for next time.
        batch = (
            session.execute(
                select(table)
                .where(AuditEntry.seq > prev_seq, AuditEntry.seq <= head.seq)
                .order_by(AuditEntry.seq)
                .limit(batch_size)
            )
            .mappings()
            .all()
        )
        if not batch:
            break
        for row in batch:
            report.problems.extend(_check(chain, row, prev_seq, prev_hash))
            for checkpoint in checkpoints.pop(row["seq"], ()):
                if checkpoint.hash != row["hash"]:
                    report.problems.append(
                        Problem(
                            row["seq"],
                            f"entry {row['seq']} is not the one checkpointed at {_when(checkpoint)}: "
                            "the log was rewritten",
                        )
                    )
            prev_seq, prev_hash = row["seq"], row["hash"]
        report.checked += len(batch)
    if prev_seq < head.seq:
        report.problems.append(
            Problem(prev_seq + 1, f"{_missing(prev_seq + 1, head.seq)} from the end: the log was truncated")
        )
    elif prev_hash != head.hash:
        report.problems.append(
            Problem(prev_seq, f"entry {prev_seq} does not match the head: the end was rewritten")
        )
    # Checkpoints left over name entries past the head: the end was cut off and the head moved back.
    beyond = [c for seq in sorted(checkpoints) for c in checkpoints[seq] if seq > head.seq]
    if beyond:
        last = beyond[-1]
        report.problems.append(
            Problem(
                head.seq + 1,
                f"the log ends at entry {head.seq}, but it reached entry {last.seq} at {_when(last)}: "
                "entries were removed from the end and the head rewound "
                "(or the checkpoint file belongs to another database)",
            )
        )
    # Read the last entry before the head: a writer moves the head first and commits both together,
    # so a committed entry past the head this reads was not written by `record`.
    last_seq = session.scalar(select(func.max(AuditEntry.seq)))
    head_seq = session.scalar(select(AuditHead.seq).where(AuditHead.id == HEAD_ID))
    if last_seq is not None and head_seq is not None and last_seq > head_seq:
        report.problems.append(
            Problem(
                head_seq + 1,
                f"entries {head_seq + 1} to {last_seq} lie past the head: inserted behind the log's back",
            )
        )
    if report.problems:
        logger.warning("audit chain: %d problems in %d entries", len(report.problems), report.checked)
    elif head.seq:
        chain.checkpoint(head.seq, head.hash)
    return report


def _read_checkpoints(chain: AuditChain, report: VerifyReport) -> dict[int, list[Checkpoint]]:
    """The signed checkpoints by seq; a line that is not genuine is itself a problem."""
    by_seq: dict[int, list[Checkpoint]] = {}
    for item in chain.read_checkpoints():
        report.checkpoints += 1
        if isinstance(item, BadLine):
            report.problems.append(
                Problem(0, f"checkpoint line {item.line} of {chain.checkpoint_path}: {item.reason}")
            )
        else:
            by_seq.setdefault(item.seq, []).append(item)
    return by_seq


def _when(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.at.isoformat(timespec='seconds')} (checkpoint line {checkpoint.line})"


def recent_times(
    *, session: Session, action: str, outcome: str, client_addr: str, since: dt.datetime, limit: int
) -> list[dt.datetime]:
    """When the latest `limit` entries of this action and outcome from one address since `since` were made."""
    return list(
        session.scalars(
            select(AuditEntry.at)
            .where(
                AuditEntry.client_addr == client_addr,
                AuditEntry.at >= since,
                AuditEntry.action == action,
                AuditEntry.outcome == outcome,
            )
            .order_by(AuditEntry.at.desc())
            .limit(limit)
        )
    )


def _actor_clause(actor: uuid.UUID | str) -> ColumnElement[bool]:
    if isinstance(actor, uuid.UUID):
        return AuditEntry.actor_id == actor
    try:  # a user id typed into a search box arrives as text
        user_id = uuid.UUID(actor)
    except ValueError:
        return func.lower(AuditEntry.actor_name) == actor.strip().lower()
    return or_(AuditEntry.actor_id == user_id, AuditEntry.actor_name == actor)


def users_within(*, session: Session, district_ids: frozenset[uuid.UUID]) -> list[uuid.UUID]:
    """Users whose every district lies within `district_ids` (province-wide users never do)."""
    if not district_ids:
        return []
    outside = select(UserDistrict.user_id).where(UserDistrict.district_id.not_in(district_ids))
    return list(
        session.scalars(
            select(UserDistrict.user_id)
            .join(User, User.id == UserDistrict.user_id)
            .where(
                User.province_wide.is_(False),
                UserDistrict.district_id.in_(district_ids),
                UserDistrict.user_id.not_in(outside),
            )
            .distinct()
        )
    )


def _scope_clause(session: Session, principal: Principal) -> ColumnElement[bool]:
    """The entries a principal may read: those of their districts, and the district-less entries (logins,
    password changes, account changes) by or about the users of their districts."""
    if principal.district_ids is None:
        return true()
    in_districts = principal.district_filter(AuditEntry.district_id)
    user_ids = users_within(session=session, district_ids=principal.district_ids)
    if not user_ids:
        return in_districts
    about_them = and_(AuditEntry.object_type == "user", AuditEntry.object_id.in_([str(u) for u in user_ids]))
    return or_(
        in_districts,
        and_(AuditEntry.district_id.is_(None), or_(AuditEntry.actor_id.in_(user_ids), about_them)),
    )


@dataclass(frozen=True)
class Filters:
    """What an auditor narrows the log to; every field optional (None or empty: not filtered)."""

    actor: uuid.UUID | str | None = None
    action: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    object: str | None = None  # an object type ("camera"), an object id, or objects found by their label
    purpose: str | None = None  # words in the recorded purpose

    def as_detail(self) -> dict[str, Any]:
        """The filters as recorded in the audit entry of the read itself."""
        values = {
            "actor": str(self.actor) if self.actor is not None else None,
            "action": self.action,
            "outcome": self.outcome,
            "since": self.since.isoformat() if self.since is not None else None,
            "until": self.until.isoformat() if self.until is not None else None,
            "object": self.object,
            "purpose_contains": self.purpose,
        }
        return {name: value for name, value in values.items() if value}


def _conditions(session: Session, principal: Principal, filters: Filters) -> list[ColumnElement[bool]]:
    """Check the reader and the filters; the WHERE clauses of their search."""
    principal.require(READ_PERMISSION)  # a refusal is audited by the caller's error handling (web/deps.py)
    if filters.outcome is not None and filters.outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
    for name, moment in (("since", filters.since), ("until", filters.until)):
        if moment is not None and moment.utcoffset() is None:
            raise InvalidInput("since and until need a time zone", field=name)
    conditions = [_scope_clause(session, principal)]
    if filters.actor is not None:
        conditions.append(_actor_clause(filters.actor))
    if filters.action:
        conditions.append(AuditEntry.action == filters.action)
    if filters.outcome:
        conditions.append(AuditEntry.outcome == filters.outcome)
    if filters.since is not None:
        conditions.append(AuditEntry.at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEntry.at < filters.until)
    if filters.object:
        conditions.append(_object_clause(session, filters.object))
    if filters.purpose:
        conditions.append(AuditEntry.purpose.icontains(filters.purpose, autoescape=True))
    return conditions


def _object_clause(session: Session, text: str) -> ColumnElement[bool]:
    text = text.strip()
    found = labels.find(session=session, text=text)
    return or_(
        AuditEntry.object_type == text,
        AuditEntry.object_id == text,
        *(
            and_(AuditEntry.object_type == kind, AuditEntry.object_id.in_(ids))
            for kind, ids in found.items()
            if ids
        ),
    )


def search(
    *,
    session: Session,
    principal: Principal,
    actor: uuid.UUID | str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    before_seq: int | None = None,
    purpose: str | None = None,
    object_text: str | None = None,
    purpose_contains: str | None = None,
) -> list[AuditEntry]:
    """Entries newest first within the principal's districts; `actor` is a user id (or as text) or username.

    `object_text` is an object type, id, or name (a camera's, an incident number …); `purpose_contains`
    words of the recorded purpose. Pages by keyset: pass the last entry's seq as `before_seq` for the next
    page. The read is itself recorded (action "audit.read", the filters in its detail); `purpose` is why.
    """
    filters = Filters(
        actor=actor,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        object=object_text or None,
        purpose=purpose_contains or None,
    )
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    query = select(AuditEntry).where(*_conditions(session, principal, filters))
    if before_seq is not None:
        query = query.where(AuditEntry.seq < before_seq)
    entries = list(session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit)))
    detail: dict[str, Any] = {**filters.as_detail(), "limit": limit}
    if before_seq is not None:
        detail["before_seq"] = before_seq
    _record_read(session, principal, purpose, {**detail, "returned": len(entries)})
    return entries


def _record_read(session: Session, principal: Principal, purpose: str | None, detail: dict[str, Any]) -> None:
    record(
        session=session,
        action="audit.read",
        outcome="success",
        actor=principal,
        purpose=purpose,
        detail=detail,
    )


@dataclass(frozen=True)
class AuditPage:
    """One page of the log, newest first, and where it lies among every matching entry."""

    entries: list[AuditEntry]
    total: int  # entries matching the filters
    first: int  # the position of the first entry shown among them, from 1 (0 when none)
    older: int | None  # pass as `before_seq` for the next (older) page
    newer: int | None  # pass as `after_seq` for the previous (newer) page


def browse(
    *,
    session: Session,
    principal: Principal,
    filters: Filters,
    limit: int,
    before_seq: int | None = None,
    after_seq: int | None = None,
    purpose: str | None = None,
) -> AuditPage:
    """A page of matching entries, by keyset either way, with counts; the read is recorded like `search`."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    conditions = _conditions(session, principal, filters)
    query = select(AuditEntry).where(*conditions)
    if after_seq is not None:  # the page just newer than `after_seq`: read upwards, shown newest first
        rows = session.scalars(query.where(AuditEntry.seq > after_seq).order_by(AuditEntry.seq).limit(limit))
        entries = sorted(rows, key=lambda e: e.seq, reverse=True)
    else:
        if before_seq is not None:
            query = query.where(AuditEntry.seq < before_seq)
        entries = list(session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit)))
    count = select(func.count()).select_from(AuditEntry).where(*conditions)
    total = session.scalar(count) or 0
    newer_count = (session.scalar(count.where(AuditEntry.seq > entries[0].seq)) or 0) if entries else 0
    older_exists = bool(entries) and newer_count + len(entries) < total
    page = AuditPage(
        entries=entries,
        total=total,
        first=newer_count + 1 if entries else 0,
        older=entries[-1].seq if older_exists else None,
        newer=entries[0].seq if entries and newer_count else None,
    )
    detail = {**filters.as_detail(), "limit": limit, "returned": len(entries)}
    if before_seq is not None or after_seq is not None:
        detail["position"] = page.first
    _record_read(session, principal, purpose, detail)
    return page


def export(
    *, session: Session, principal: Principal, filters: Filters, limit: int, purpose: str | None = None
) -> list[AuditEntry]:
    """The newest `limit` matching entries for a file; recorded as an export (action "audit.export")."""
    entries = list(
        session.scalars(
            select(AuditEntry)
            .where(*_conditions(session, principal, filters))
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
        )
    )
    record(
        session=session,
        action="audit.export",
        outcome="success",
        actor=principal,
        purpose=purpose,
        detail={**filters.as_detail(), "returned": len(entries)},
    )
    return entries
