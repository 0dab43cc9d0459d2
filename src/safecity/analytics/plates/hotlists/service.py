"""Hotlists: lists of sought plates kept by hand, by API or by CSV; matching sightings; judging hits.

Reading a list or a hit needs `plates.read` (hits also `alerts.read`, as operators see them on the console);
changing a list needs `hotlists.manage`; judging a hit needs `alerts.handle`. A list covers some districts
(or the whole province): a district account sees the lists that apply in its districts and changes only
lists that lie wholly within them. Every change is audited.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.orm import Session

from safecity.analytics.plates import service as plates
from safecity.analytics.plates.hotlists.models import (
    HitStatus,
    Hotlist,
    HotlistDistrict,
    HotlistEntry,
    HotlistHit,
    ListKind,
    MatchMode,
)
from safecity.analytics.plates.hotlists.schemas import (
    DismissHitIn,
    EntryIn,
    HotlistIn,
    HotlistOut,
    HotlistUpdate,
    ImportReport,
    PrecisionOut,
    RowResult,
    normalise_plate,
)
from safecity.analytics.plates.models import Sighting
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.core.storage import contained
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert, AlertStatus
from safecity.org.models import District

logger = logging.getLogger(__name__)

READ = plates.READ
MANAGE = "hotlists.manage"
HOLD = "hotlist"  # the sighting's hold: a hit keeps it past the retention period
KIND_LABELS = {
    ListKind.STOLEN: "Stolen",
    ListKind.WANTED: "Wanted",
    ListKind.EXPIRED_REGISTRATION: "Expired registration",
    ListKind.UNPAID_CHALLANS: "Unpaid challans",
    ListKind.WATCH: "Watch",
}
DISMISS_LABELS = {
    "misread": "Misread: the crop shows another plate",
    "different_vehicle": "Different vehicle (cloned or wrong plate)",
    "list_out_of_date": "The list is out of date (vehicle recovered, case closed)",
    "other": "Other",
}
CSV_HEADER = ("plate", "reason", "reference", "description", "expires_at")
MAX_IMPORT_BYTES = 4 * 1024 * 1024  # about 60,000 rows of a usual width
MAX_IMPORT_ROWS = 50_000
MAX_ENTRY_LIST = 1000
MAX_HITS_PER_SIGHTING = 10  # a fuzzy read matching more is noise, not ten stolen cars
MIN_ONE_EDIT_LENGTH = 5  # shorter plates one edit apart are too many to mean anything
_FIELD_LIMITS = {"reason": 500, "reference": 120, "description": 200}


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


# --- lists ------------------------------------------------------------------------------------------


def _districts_of(session: Session, hotlist_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    ids = list(hotlist_ids)
    if ids:
        query = select(HotlistDistrict.hotlist_id, HotlistDistrict.district_id).where(
            HotlistDistrict.hotlist_id.in_(ids)
        )
        for hotlist_id, district_id in session.execute(query):
            found[hotlist_id].append(district_id)
    return found


def _sees(principal: Principal, hotlist: Hotlist, districts: Sequence[uuid.UUID]) -> bool:
    """A list is visible where it applies: in the province, or in one of the principal's districts."""
    return principal.province_wide or hotlist.province_wide or any(map(principal.sees_district, districts))


def _may_change(principal: Principal, hotlist: Hotlist, districts: Sequence[uuid.UUID]) -> bool:
    """A list may be changed by one whose districts hold every district it covers."""
    if principal.province_wide:
        return True
    return not hotlist.province_wide and all(map(principal.sees_district, districts))


def out(session: Session, hotlist: Hotlist) -> HotlistOut:
    """The API's view of a list, with its districts and how many plates it holds."""
    districts = _districts_of(session, [hotlist.id])[hotlist.id]
    count = session.scalar(select(func.count()).where(HotlistEntry.hotlist_id == hotlist.id)) or 0
    return HotlistOut.model_validate(
        {**{c: getattr(hotlist, c) for c in HotlistOut.model_fields if hasattr(hotlist, c)}}
        | {"district_ids": sorted(districts), "entries": count}
    )


def list_hotlists(*, session: Session, principal: Principal) -> list[HotlistOut]:
    """The lists that apply in the principal's districts, by name."""
    principal.require(READ)
    found = list(session.scalars(select(Hotlist).order_by(Hotlist.name, Hotlist.id)))
    districts = _districts_of(session, [h.id for h in found])
    query = select(HotlistEntry.hotlist_id, func.count()).group_by(HotlistEntry.hotlist_id)
    counts: dict[uuid.UUID, int] = {row[0]: row[1] for row in session.execute(query)}
    result = []
    for hotlist in found:
        if _sees(principal, hotlist, districts[hotlist.id]):
            data = {c: getattr(hotlist, c) for c in HotlistOut.model_fields if hasattr(hotlist, c)}
            data |= {"district_ids": sorted(districts[hotlist.id]), "entries": counts.get(hotlist.id, 0)}
            result.append(HotlistOut.model_validate(data))
    return result


def get_hotlist(
    *, session: Session, principal: Principal, hotlist_id: uuid.UUID, permission: str = READ
) -> Hotlist:
    """One list the principal sees (NotFound otherwise); with `MANAGE`, one they may also change."""
    principal.require(permission)
    hotlist = session.get(Hotlist, hotlist_id)
    districts = _districts_of(session, [hotlist_id])[hotlist_id]
    if hotlist is None or not _sees(principal, hotlist, districts):
        raise NotFound("no hotlist with that id")
    if permission == MANAGE and not _may_change(principal, hotlist, districts):
        raise PermissionDenied("this list covers districts beyond yours: its keepers there may change it")
    return hotlist


def _set_districts(
    session: Session, principal: Principal, hotlist: Hotlist, district_ids: list[uuid.UUID] | None
) -> list[uuid.UUID]:
    if district_ids is None:
        hotlist.province_wide = principal.province_wide
        wanted = set() if principal.province_wide else set(principal.district_ids or ())
    else:
        if not district_ids:
            raise InvalidInput("name at least one district, or none at all for all of yours")
        wanted = set(district_ids)
        refused = [d for d in wanted if not principal.sees_district(d)]
        if refused:
            raise PermissionDenied("you may cover only your own districts")
        known = set(session.scalars(select(District.id).where(District.id.in_(wanted))))
        if known != wanted:
            raise NotFound("no district with that id", code="unknown_district")
        hotlist.province_wide = False
    session.execute(delete(HotlistDistrict).where(HotlistDistrict.hotlist_id == hotlist.id))
    session.add_all(HotlistDistrict(hotlist_id=hotlist.id, district_id=d) for d in sorted(wanted))
    return sorted(wanted)


def districts_in_scope(*, session: Session, principal: Principal) -> list[District]:
    """The districts a list of this principal may cover, by name."""
    query = select(District).where(principal.district_filter(District.id)).order_by(District.name)
    return list(session.scalars(query))


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    hotlist: Hotlist | None,
    detail: dict[str, Any],
    *,
    object_type: str = "hotlist",
    object_id: uuid.UUID | None = None,
    district_id: uuid.UUID | None = None,
) -> None:
    audit.record(
        session=session,
        action=action,
        outcome="success",
        actor=principal,
        object_type=object_type,
        object_id=str(object_id or (hotlist.id if hotlist else "")),
        district_id=district_id,
        detail=detail,
    )


def _touch(hotlist: Hotlist) -> None:
    """Mark the list changed, so every matcher reloads it."""
    hotlist.updated_at = utcnow()


def create_hotlist(*, session: Session, principal: Principal, data: HotlistIn) -> Hotlist:
    """Start a list kept by the principal's agency; audited."""
    principal.require(MANAGE)
    hotlist = Hotlist(
        id=uuid.uuid4(),
        kind=data.kind,
        name=data.name,
        agency=data.agency,
        owner_id=principal.user_id,
        owner_name=principal.username[:64],
        reason=data.reason,
        legal_reference=data.legal_reference,
        instructions=data.instructions,
        expires_at=data.expires_at,
        match_mode=data.match_mode,
        max_edits=data.max_edits,
        severity=data.severity,
        enabled=data.enabled,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(hotlist)
    session.flush()
    districts = _set_districts(session, principal, hotlist, data.district_ids)
    session.flush()
    _audit(
        session,
        principal,
        "hotlists.create",
        hotlist,
        {"name": hotlist.name, "kind": hotlist.kind.value, "districts": [str(d) for d in districts]},
    )
    return hotlist


def update_hotlist(
    *, session: Session, principal: Principal, hotlist_id: uuid.UUID, data: HotlistUpdate
) -> Hotlist:
    """Change some of a list's settings (enable, disable, expiry, districts …); audited with what changed."""
    hotlist = get_hotlist(session=session, principal=principal, hotlist_id=hotlist_id, permission=MANAGE)
    changes = data.model_dump(exclude_unset=True, exclude={"district_ids", "clear_expiry"})
    for name, value in changes.items():
        if value is not None:
            setattr(hotlist, name, value)
    if data.clear_expiry:
        hotlist.expires_at = None
    if hotlist.max_edits and hotlist.match_mode != MatchMode.FUZZY:
        raise InvalidInput("one edit apart is a fuzzy match: set match_mode to fuzzy")
    detail: dict[str, Any] = {k: str(v) for k, v in changes.items() if v is not None}
    if data.clear_expiry:
        detail["expires_at"] = None
    if "district_ids" in data.model_fields_set:
        detail["districts"] = [str(d) for d in _set_districts(session, principal, hotlist, data.district_ids)]
    _touch(hotlist)
    session.flush()
    _audit(session, principal, "hotlists.update", hotlist, detail)
    return hotlist


def delete_hotlist(*, session: Session, principal: Principal, hotlist_id: uuid.UUID) -> None:
    """Remove a list and its plates; a list with hits stays (disable it) so the hits keep their list."""
    hotlist = get_hotlist(session=session, principal=principal, hotlist_id=hotlist_id, permission=MANAGE)
    if session.scalar(select(HotlistHit.id).where(HotlistHit.hotlist_id == hotlist.id).limit(1)):
        raise Conflict("this list has hits on record: disable it instead", code="hotlist_has_hits")
    _audit(session, principal, "hotlists.delete", hotlist, {"name": hotlist.name})
    session.delete(hotlist)
    session.flush()


# --- entries ----------------------------------------------------------------------------------------


def list_entries(
    *,
    session: Session,
    principal: Principal,
    hotlist_id: uuid.UUID,
    plate: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[HotlistEntry]:
    """A list's plates (those starting with `plate` if given), by plate; the read is audited."""
    hotlist = get_hotlist(session=session, principal=principal, hotlist_id=hotlist_id)
    if not 1 <= limit <= MAX_ENTRY_LIST or offset < 0:
        raise InvalidInput(f"limit must be between 1 and {MAX_ENTRY_LIST}, offset not negative")
    query = select(HotlistEntry).where(HotlistEntry.hotlist_id == hotlist.id)
    if plate:
        query = query.where(HotlistEntry.plate.startswith(plate.upper(), autoescape=True))
    found = list(session.scalars(query.order_by(HotlistEntry.plate).limit(limit).offset(offset)))
    _audit(session, principal, "hotlists.entries.read", hotlist, {"plate": plate, "shown": len(found)})
    return found


def add_entry(
    *, session: Session, principal: Principal, hotlist_id: uuid.UUID, data: EntryIn
) -> HotlistEntry:
    """Put a plate on a list (once per list); audited."""
    hotlist = get_hotlist(session=session, principal=principal, hotlist_id=hotlist_id, permission=MANAGE)
    exists = select(HotlistEntry.id).where(
        HotlistEntry.hotlist_id == hotlist.id, HotlistEntry.plate == data.plate
    )
    if session.scalar(exists) is not None:
        raise Conflict(f"{data.plate} is on this list already", code="duplicate_plate")
    entry = HotlistEntry(
        id=uuid.uuid4(),
        hotlist_id=hotlist.id,
        plate=data.plate,
        folded=plates.fold(data.plate),
        reason=data.reason,
        reference=data.reference,
        description=data.description,
        added_by=principal.user_id,
        added_by_name=principal.username[:64],
        expires_at=data.expires_at,
        created_at=utcnow(),
    )
    session.add(entry)
    _touch(hotlist)
    session.flush()
    _audit(
        session,
        principal,
        "hotlists.entry.add",
        hotlist,
        {"plate": entry.plate, "reference": entry.reference},
        object_type="hotlist_entry",
        object_id=entry.id,
    )
    return entry


def remove_entry(
    *, session: Session, principal: Principal, hotlist_id: uuid.UUID, entry_id: uuid.UUID
) -> None:
    """Take a plate off a list (its hits keep the plate they matched); audited."""
    hotlist = get_hotlist(session=session, principal=principal, hotlist_id=hotlist_id, permission=MANAGE)
    entry = session.get(HotlistEntry, entry_id)
    if entry is None or entry.hotlist_id != hotlist.id:
        raise NotFound("no such plate on this list")
    _audit(
        session,
        principal,
        "hotlists.entry.remove",
        hotlist,
        {"plate": entry.plate},
        object_type="hotlist_entry",
        object_id=entry.id,
    )
    session.delete(entry)
    _touch(hotlist)
    session.flush()


# --- CSV import -------------------------------------------------------------------------------------


def decode_csv(raw: bytes) -> str:
    """An uploaded CSV as text: UTF-8 (a byte-order mark dropped) within the size limit, or a refusal."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB", code="import_too_large"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the file is not UTF-8 text (byte {exc.start + 1}): save it as 'CSV UTF-8'", code="bad_encoding"
        ) from None


def _parse_expiry(text: str) -> dt.datetime:
    """A date (end of that day, UTC) or an ISO date and time with its zone."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(text.upper())
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a date such as 2027-01-31") from None
    if moment.utcoffset() is None:
        raise ValueError("give the time zone with the time, or a date alone")
    return moment


def _check_row(
    cells: list[str], line: int, seen: dict[str, int], listed: set[str]
) -> tuple[RowResult, dict[str, Any]]:
    problems: list[str] = []
    values: dict[str, Any] = {}
    raw_plate = cells[0].strip()
    try:
        plate = normalise_plate(raw_plate)
    except ValueError as exc:
        problems.append(f"plate: {exc}")
        plate = ""
    if plate:
        if plate in seen:
            problems.append(f"plate: {plate} is also on row {seen[plate]} of this file")
        elif plate in listed:
            problems.append(f"plate: {plate} is on this list already")
        else:
            seen[plate] = line
    for name, text in zip(CSV_HEADER[1:4], cells[1:4], strict=True):
        value = text.strip()
        if len(value) > _FIELD_LIMITS[name]:
            problems.append(f"{name}: too long ({len(value)} characters; at most {_FIELD_LIMITS[name]})")
        elif any(ord(c) < 32 for c in value):
            problems.append(f"{name}: holds control characters")
        values[name] = value
    expiry = cells[4].strip()
    values["expires_at"] = None
    if expiry:
        try:
            values["expires_at"] = _parse_expiry(expiry)
        except ValueError as exc:
            problems.append(f"expires_at: {exc}")
    values["plate"] = plate
    shown = plate or raw_plate[:20]
    return RowResult(row=line, plate=shown, ok=not problems, problems=problems), values


def import_csv(
    *, session: Session, principal: Principal, hotlist_id: uuid.UUID, text: str, dry_run: bool
) -> ImportReport:
    """Check every row of a CSV of plates; unless `dry_run`, add them all in one go, but only if none is bad.

    Rows are inserted in bulk (20,000 in well under a second); the import is one audit entry with the count.
    """
    hotlist = get_hotlist(session=session, principal=principal, hotlist_id=hotlist_id, permission=MANAGE)
    if len(text) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB", code="import_too_large"
        )
    if "\x00" in text:
        raise InvalidInput(
            "the file holds NUL bytes: is it a spreadsheet rather than CSV?", code="bad_encoding"
        )
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise InvalidInput(f"line 1 is not valid CSV: {exc}", code="bad_csv") from None
    if header != list(CSV_HEADER):
        raise InvalidInput(f"the header must be {','.join(CSV_HEADER)}", code="bad_csv_header")
    listed = set(session.scalars(select(HotlistEntry.plate).where(HotlistEntry.hotlist_id == hotlist.id)))
    seen: dict[str, int] = {}
    results: list[RowResult] = []
    good: list[dict[str, Any]] = []
    rows = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # The csv module's field limit (128 KiB) stops a huge field here; the rest is not read.
            problem = "a field is too long" if "field limit" in str(exc) else f"not valid CSV: {exc}"
            results.append(RowResult(row=reader.line_num, plate="", ok=False, problems=[problem]))
            break
        if not any(c.strip() for c in cells):
            continue
        rows += 1
        if rows > MAX_IMPORT_ROWS:
            raise InvalidInput(f"import at most {MAX_IMPORT_ROWS} plates at a time", code="import_too_large")
        if len(cells) != len(CSV_HEADER):
            problem = f"has {len(cells)} cells; expected {len(CSV_HEADER)} ({','.join(CSV_HEADER)})"
            results.append(RowResult(row=reader.line_num, plate=cells[0][:20], ok=False, problems=[problem]))
            continue
        result, values = _check_row(cells, reader.line_num, seen, listed)
        results.append(result)
        if result.ok:
            good.append(values)
    errors = sum(not r.ok for r in results)
    if rows == 0 and not errors:
        raise InvalidInput("the file has no plates", code="empty_import")
    if dry_run or errors:
        shown = results if dry_run else [r for r in results if not r.ok]
        return ImportReport(dry_run=dry_run, rows=rows, imported=0, errors=errors, results=shown)
    now = utcnow()
    session.execute(
        insert(HotlistEntry),
        [
            {
                "id": uuid.uuid4(),
                "hotlist_id": hotlist.id,
                "plate": v["plate"],
                "folded": plates.fold(v["plate"]),
                "reason": v["reason"],
                "reference": v["reference"],
                "description": v["description"],
                "added_by": principal.user_id,
                "added_by_name": principal.username[:64],
                "expires_at": v["expires_at"],
                "created_at": now,
            }
            for v in good
        ],
    )
    _touch(hotlist)
    session.flush()
    _audit(session, principal, "hotlists.import", hotlist, {"imported": len(good)})
    logger.info("hotlist %s: imported %d plates", hotlist.id, len(good))
    return ImportReport(dry_run=False, rows=rows, imported=len(good), errors=0, results=[])


# --- the matching index -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListRule:
    """What a matcher needs of a list."""

    id: uuid.UUID
    name: str
    kind: ListKind
    instructions: str
    severity: int
    mode: MatchMode
    max_edits: int
    districts: frozenset[uuid.UUID] | None  # None: the whole province
    expires_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Listed:
    """One listed plate, as a matcher holds it."""

    entry_id: uuid.UUID
    rule: ListRule
    plate: str
    folded: str
    reason: str
    reference: str
    description: str
    expires_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Match:
    """A listed plate a read plate matched, and how."""

    listed: Listed
    how: Literal["exact", "folded", "one_edit"]


def _deletions(key: str) -> set[str]:
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


def _one_edit(a: str, b: str) -> bool:
    """Whether `a` and `b` are at most one insertion, deletion or substitution apart."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


class _ListIndex:
    """One list's plates in memory: exact plates, folded keys, and (one edit allowed) one-deletion keys.

    A lookup costs a few dictionary probes whatever the list's size: for one edit apart, the read's folded
    key and its one-character deletions are looked up among the listed keys and their deletions (the
    symmetric-deletion method), and each candidate is checked.
    """

    def __init__(self, entries: Iterable[Listed]) -> None:
        self.exact: dict[str, list[Listed]] = defaultdict(list)
        self.folded: dict[str, list[Listed]] = defaultdict(list)
        self.deleted: dict[str, list[Listed]] = defaultdict(list)
        self.size = 0
        for listed in entries:
            self.size += 1
            self.exact[listed.plate].append(listed)
            if listed.rule.mode == MatchMode.FUZZY:
                self.folded[listed.folded].append(listed)
                if listed.rule.max_edits and len(listed.folded) >= MIN_ONE_EDIT_LENGTH:
                    for key in _deletions(listed.folded):
                        self.deleted[key].append(listed)

    def match(self, plate: str, key: str) -> list[Match]:
        """`plate`'s matches here (`key`: its folded form), best way first."""
        found = [Match(listed, "exact") for listed in self.exact.get(plate, ())]
        if not self.folded:
            return found
        found.extend(Match(listed, "folded") for listed in self.folded.get(key, ()))
        if self.deleted and len(key) >= MIN_ONE_EDIT_LENGTH - 1:
            near: list[Listed] = list(self.deleted.get(key, ()))  # a character the read missed
            for variant in _deletions(key):
                near.extend(self.folded.get(variant, ()))  # a character the read added
                near.extend(self.deleted.get(variant, ()))  # a character the read got wrong
            found.extend(Match(listed, "one_edit") for listed in near if _one_edit(key, listed.folded))
        return found


class HotlistIndex:
    """The enabled lists' plates in memory, one part per list, each kept while its list is unchanged.

    A change to one list (a plate added, a setting changed) rebuilds that list's part only: a keeper
    adding plates to a small list never makes the matcher re-read a list of 100,000.
    """

    def __init__(self, entries: Iterable[Listed] = ()) -> None:
        grouped: dict[uuid.UUID, list[Listed]] = defaultdict(list)
        for listed in entries:
            grouped[listed.rule.id].append(listed)
        self.parts: dict[uuid.UUID, tuple[object, _ListIndex]] = {
            list_id: (None, _ListIndex(items)) for list_id, items in grouped.items()
        }

    @property
    def size(self) -> int:
        """How many plates the index holds."""
        return sum(part.size for _, part in self.parts.values())

    def match(self, plate: str, *, district_id: uuid.UUID | None, at: dt.datetime) -> list[Match]:
        """The listed plates that `plate`, read in `district_id` at `at`, matches: best way first."""
        key = plates.fold(plate)
        rank = {"exact": 0, "folded": 1, "one_edit": 2}
        found: dict[uuid.UUID, Match] = {}
        candidates = [m for _, part in self.parts.values() for m in part.match(plate, key)]
        for match in sorted(candidates, key=lambda m: rank[m.how]):
            if match.listed.entry_id not in found and _applies(match.listed, district_id, at):
                found[match.listed.entry_id] = match
        return list(found.values())[:MAX_HITS_PER_SIGHTING]


def _applies(listed: Listed, district_id: uuid.UUID | None, at: dt.datetime) -> bool:
    rule = listed.rule
    if rule.districts is not None and district_id not in rule.districts:
        return False
    if rule.expires_at is not None and rule.expires_at <= at:
        return False
    return listed.expires_at is None or listed.expires_at > at


def index_version(*, session: Session) -> tuple[int, dt.datetime | None]:
    """What moves whenever a list or its plates change: how many lists there are and the latest change."""
    count, latest = session.execute(select(func.count(), func.max(Hotlist.updated_at))).one()
    return int(count), latest


def load_index(*, session: Session, previous: HotlistIndex | None = None) -> HotlistIndex:
    """The enabled lists' plates; the parts of `previous` whose lists did not change are kept as they are.

    (100,000 plates take a few seconds to read and index on a small machine: a worker thread's work.)
    """
    lists = list(session.scalars(select(Hotlist).where(Hotlist.enabled.is_(True))))
    districts = _districts_of(session, [h.id for h in lists if not h.province_wide])
    kept = previous.parts if previous is not None else {}
    index = HotlistIndex()
    for hotlist in lists:
        if hotlist.id in kept and kept[hotlist.id][0] == hotlist.updated_at:
            index.parts[hotlist.id] = kept[hotlist.id]
            continue
        rule = ListRule(
            id=hotlist.id,
            name=hotlist.name,
            kind=hotlist.kind,
            instructions=hotlist.instructions,
            severity=hotlist.severity,
            mode=hotlist.match_mode,
            max_edits=hotlist.max_edits,
            districts=None if hotlist.province_wide else frozenset(districts[hotlist.id]),
            expires_at=hotlist.expires_at,
        )
        columns = (
            HotlistEntry.id,
            HotlistEntry.plate,
            HotlistEntry.folded,
            HotlistEntry.reason,
            HotlistEntry.reference,
            HotlistEntry.description,
            HotlistEntry.expires_at,
        )
        rows = session.execute(select(*columns).where(HotlistEntry.hotlist_id == hotlist.id))
        part = _ListIndex(
            Listed(entry_id, rule, plate, folded, reason, reference, description, expires_at)
            for entry_id, plate, folded, reason, reference, description, expires_at in rows
        )
        index.parts[hotlist.id] = (hotlist.updated_at, part)
    return index


# --- hits -------------------------------------------------------------------------------------------


def hit_detail(hit: HotlistHit, listed: Listed) -> dict[str, Any]:
    """What the alert of a hit carries for the operator: pictures, the list's instructions, the entry."""
    return {
        "hit_id": str(hit.id),
        "hit_url": f"/hotlists/hits/{hit.id}",
        "crop_url": f"/api/v1/hotlists/hits/{hit.id}/crop.jpg",
        "snapshot_url": f"/api/v1/hotlists/hits/{hit.id}/vehicle.jpg",
        "sighting_id": str(hit.sighting_id),
        "read_plate": hit.read_plate,
        "listed_plate": hit.listed_plate,
        "matched": hit.matched,
        "list_id": str(listed.rule.id),
        "list_name": listed.rule.name,
        "list_kind": listed.rule.kind.value,
        "instructions": listed.rule.instructions,
        "entry_reason": listed.reason,
        "reference": listed.reference,
        "description": listed.description,
    }


def record_hits(*, session: Session, sighting_id: uuid.UUID, matches: Sequence[Match]) -> list[HotlistHit]:
    """Store the hits of a stored sighting and hold the sighting; a hit already stored is not stored again.

    Raises NotFound when the sighting is not (yet) in the database. The caller commits.
    """
    sighting = session.get(Sighting, sighting_id, with_for_update=True)
    if sighting is None or sighting.plate is None:
        raise NotFound("no readable sighting with that id", code="no_sighting")
    known = set(session.scalars(select(HotlistHit.entry_id).where(HotlistHit.sighting_id == sighting.id)))
    hits = []
    for match in matches:
        if match.listed.entry_id in known:
            continue
        rule = match.listed.rule
        hit = HotlistHit(
            id=uuid.uuid4(),
            sighting_id=sighting.id,
            entry_id=match.listed.entry_id,
            hotlist_id=rule.id,
            hotlist_name=rule.name,
            hotlist_kind=rule.kind.value,
            read_plate=sighting.plate,
            listed_plate=match.listed.plate,
            matched=match.how,
            camera_id=sighting.camera_id,
            district_id=sighting.district_id,
            seen_at=sighting.seen_at,
            status=HitStatus.PENDING,
            created_at=utcnow(),
        )
        session.add(hit)
        hits.append(hit)
    if hits:
        sighting.hold = HOLD
        session.flush()
    return hits


def get_hit(*, session: Session, principal: Principal, hit_id: uuid.UUID, lock: bool = False) -> HotlistHit:
    """One hit within the principal's districts (NotFound otherwise)."""
    principal.require(alerts.READ)
    hit = session.get(HotlistHit, hit_id, with_for_update=lock, populate_existing=lock)
    if hit is None or not principal.sees_district(hit.district_id):
        raise NotFound("no hit with that id")
    return hit


def list_hits(
    *,
    session: Session,
    principal: Principal,
    status: HitStatus | None = None,
    hotlist_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[HotlistHit]:
    """Hits within the principal's districts, latest first."""
    principal.require(alerts.READ)
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500")
    query = select(HotlistHit).where(principal.district_filter(HotlistHit.district_id))
    if status is not None:
        query = query.where(HotlistHit.status == status)
    if hotlist_id is not None:
        query = query.where(HotlistHit.hotlist_id == hotlist_id)
    return list(session.scalars(query.order_by(HotlistHit.seen_at.desc(), HotlistHit.id).limit(limit)))


def hit_picture(
    *,
    session: Session,
    principal: Principal,
    hit_id: uuid.UUID,
    part: Literal["crop", "vehicle"],
    snapshots_dir: Path,
) -> Path:
    """The plate crop or vehicle picture of a hit's sighting, inside `snapshots_dir` only."""
    hit = get_hit(session=session, principal=principal, hit_id=hit_id)
    sighting = session.get(Sighting, hit.sighting_id)
    relative = None if sighting is None else (sighting.crop if part == "crop" else sighting.snapshot)
    path = contained(snapshots_dir, relative) if relative else None
    if path is None or not path.is_file():
        raise NotFound(f"the sighting's {part} picture is not there", code="no_picture")
    return path


def sighting_of(*, session: Session, hit: HotlistHit) -> Sighting | None:
    """The sighting a hit was made on (for its confidence, layout and the like)."""
    return session.get(Sighting, hit.sighting_id)


def _judge(
    session: Session, principal: Principal, hit_id: uuid.UUID, status: HitStatus, reason: str | None
) -> tuple[HotlistHit, Alert | None]:
    principal.require(alerts.HANDLE)
    hit = get_hit(session=session, principal=principal, hit_id=hit_id, lock=True)
    if hit.status != HitStatus.PENDING:
        when = f"{hit.handled_at:%Y-%m-%d %H:%M:%S} UTC" if hit.handled_at else "an unknown time"
        raise Conflict(
            f"this hit was {hit.status.value} already, by {hit.handled_by_name} at {when}",
            code=f"already_{hit.status.value}",
        )
    hit.status = status
    hit.handled_by = principal.user_id
    hit.handled_by_name = principal.username[:64]
    hit.handled_at = utcnow()
    hit.reason = reason
    session.flush()
    alert = session.get(Alert, hit.alert_id) if hit.alert_id else None
    if alert is not None and alert.status == AlertStatus.NEW:
        if status == HitStatus.CONFIRMED:
            alert = alerts.acknowledge(
                session=session, principal=principal, alert_id=alert.id, note="hotlist hit confirmed"
            )
        else:
            alert = alerts.dismiss(
                session=session,
                principal=principal,
                alert_id=alert.id,
                reason=f"hotlist hit dismissed: {reason}",
            )
    else:
        alert = None  # its state did not change: nothing to publish
    _audit(
        session,
        principal,
        f"hotlists.hit.{'confirm' if status == HitStatus.CONFIRMED else 'dismiss'}",
        None,
        {"plate": hit.read_plate, "listed_plate": hit.listed_plate, "reason": reason},
        object_type="hotlist_hit",
        object_id=hit.id,
        district_id=hit.district_id,
    )
    return hit, alert


def confirm_hit(
    *, session: Session, principal: Principal, hit_id: uuid.UUID
) -> tuple[HotlistHit, Alert | None]:
    """Record that the crop shows the listed plate; the hit's alert is acknowledged (returned to publish)."""
    return _judge(session, principal, hit_id, HitStatus.CONFIRMED, None)


def dismiss_hit(
    *, session: Session, principal: Principal, hit_id: uuid.UUID, data: DismissHitIn
) -> tuple[HotlistHit, Alert | None]:
    """Record that the hit is not the listed vehicle, and why; the alert is dismissed with that reason."""
    if data.reason == "other" and not data.note:
        raise InvalidInput("say why the hit is dismissed", code="reason_required")
    reason = data.reason + (f": {data.note}" if data.note else "")
    return _judge(session, principal, hit_id, HitStatus.DISMISSED, reason)


def precision(
    *,
    session: Session,
    principal: Principal,
    by: Literal["list", "camera"],
    hotlist_id: uuid.UUID | None = None,
) -> list[PrecisionOut]:
    """Per list or camera: confirmed / (confirmed + dismissed) of the hits in the principal's districts."""
    principal.require(READ)
    key = HotlistHit.hotlist_id if by == "list" else HotlistHit.camera_id
    name = func.max(HotlistHit.hotlist_name) if by == "list" else func.max(Camera.name)

    def count(status: HitStatus) -> Any:
        return func.sum(case((HotlistHit.status == status, 1), else_=0))

    query = select(
        key, name, count(HitStatus.CONFIRMED), count(HitStatus.DISMISSED), count(HitStatus.PENDING)
    ).where(principal.district_filter(HotlistHit.district_id))
    if by == "camera":
        query = query.outerjoin(Camera, Camera.id == HotlistHit.camera_id)
    if hotlist_id is not None:
        query = query.where(HotlistHit.hotlist_id == hotlist_id)
    result = []
    for ident, label, confirmed, dismissed, pending in session.execute(query.group_by(key)):
        judged = int(confirmed or 0) + int(dismissed or 0)
        result.append(
            PrecisionOut(
                key=ident,
                name=label or "—",
                confirmed=int(confirmed or 0),
                dismissed=int(dismissed or 0),
                pending=int(pending or 0),
                precision=round(int(confirmed or 0) / judged, 4) if judged else None,
            )
        )
    return sorted(result, key=lambda p: p.name)
