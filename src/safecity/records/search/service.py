"""One search over the records, the name index that serves it, and an officer's quick check.

The query says what it is: a CNIC (exact), a mobile number (+92, exact), an FIR number (123/2026, with its
police station or not), a plate (exact once look-alikes are folded, and one edit away, with the plates'
matcher) or a name (word keys across spellings and scripts, see names.py). Hits are ranked and say why they
matched. A reader sees the hits of their districts and only a count of the others (opening those is a
break-glass read); sensitive persons only with `records.sensitive`; merged-away duplicates never.

The name index (record_search_names) is kept by a flush listener in records/search/models.py: any code
that writes persons or aliases through the ORM keeps it right; loaders that insert with Core call `reindex`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from safecity.analytics.plates.hotlists.models import Hotlist, HotlistEntry
from safecity.analytics.plates.service import SEPARATORS, one_edit_away, require_purpose
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.connectors.vehicles.schemas import plate_key
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput
from safecity.core.identifiers import is_cnic, mobile, normalise_cnic
from safecity.org.models import PoliceStation
from safecity.records.models import (
    Fir,
    FirParty,
    MissingPerson,
    Person,
    PersonPhone,
    Sensitivity,
    StolenVehicle,
    Vehicle,
    Warrant,
)
from safecity.records.search import names
from safecity.records.search.models import NameKey, chunks, reindex
from safecity.records.search.schemas import CheckOut, QueryKind, SearchHit, SearchOut

# reindex is kept with its table (models.py) and offered here to bulk loaders, with the search.
__all__ = ["check", "detect", "reindex", "search"]

READ = "records.read"
SENSITIVE = "records.sensitive"  # juveniles, victims, informants
MAX_QUERY = 200
MAX_LIMIT = 100
# Persons read per name query, times the hits asked for: those that match every word, then the rarest
# word's. A name as common as Muhammad alone matches a fifth of a city; the reader narrows it with a
# second word. Beyond the reader's districts they are counted among these only.
CANDIDATES = 3
RANKED = 3  # times the hits asked for: of the candidates, the best by words matched are ranked by spelling

_FIR = re.compile(
    r"(?:FIR\s*(?:NO\.?)?\s*)?(\d{1,6})\s*/\s*((?:19|20)\d\d)(?:\s+(?:P\.?S\.?\s+)?(\S.{0,79}))?",
    re.IGNORECASE,
)
_FIELD_LABELS = {"name": "name", "father": "father's name", "alias": "alias"}
_FATHER_WEIGHT = 0.5  # a word matched only in the father's name says less about who this is


# --- the search ----------------------------------------------------------------------------------------


@dataclass
class _Hit:
    kind: str
    id: uuid.UUID
    title: str
    subtitle: str
    district_id: uuid.UUID
    score: float
    why: list[str] = field(default_factory=list)


@dataclass
class _Found:
    principal: Principal
    hits: dict[tuple[str, uuid.UUID], _Hit] = field(default_factory=dict)
    elsewhere: set[tuple[str, uuid.UUID]] = field(default_factory=set)

    def add(self, hit: _Hit, why: str) -> None:
        """Keep a hit within scope (its best score, every reason), count one beyond it."""
        ref = (hit.kind, hit.id)
        if not self.principal.sees_district(hit.district_id):
            self.elsewhere.add(ref)
            return
        kept = self.hits.setdefault(ref, hit)
        kept.score = max(kept.score, hit.score)
        if why not in kept.why:
            kept.why.append(why)


def _person_hit(person: Any, score: float) -> _Hit:
    title = f"{person.name} · {person.name_ur}" if person.name_ur else person.name
    subtitle = f"{person.relation} {person.father_name}" if person.father_name else ""
    return _Hit("person", person.id, title, subtitle, person.district_id, score)


def _visible_persons(principal: Principal) -> list[Any]:
    """Persons a reader may find at all (in any district): not merged away, not sensitive without right."""
    conditions: list[Any] = [Person.merged_into_id.is_(None)]
    if not principal.can(SENSITIVE):
        conditions.append(Person.sensitivity == Sensitivity.NONE)
    return conditions


_PERSON_COLUMNS = (
    Person.id,
    Person.name,
    Person.name_ur,
    Person.relation,
    Person.father_name,
    Person.district_id,
)


def detect(q: str) -> list[QueryKind]:
    """What a query is: a CNIC, a mobile number, an FIR number, a plate and/or a name."""
    if is_cnic(q):
        return ["cnic"]
    try:
        mobile(q)
        return ["phone"]
    except ValueError:
        pass
    if _FIR.fullmatch(q):
        return ["fir"]
    kinds: list[QueryKind] = []
    compact = SEPARATORS.sub("", q).upper()
    if compact.isascii() and compact.isalnum() and re.search(r"\d", compact) and 3 <= len(compact) <= 16:
        kinds.append("plate")
    if not kinds and names.keys(q):
        kinds.append("name")
    return kinds


def _by_cnic(session: Session, found: _Found, q: str) -> None:
    statement = select(*_PERSON_COLUMNS).where(
        Person.cnic == normalise_cnic(q), *_visible_persons(found.principal)
    )
    for person in session.execute(statement):
        found.add(_person_hit(person, 100), "CNIC exact")


def _by_phone(session: Session, found: _Found, q: str) -> None:
    statement = (
        select(*_PERSON_COLUMNS)
        .join(PersonPhone, PersonPhone.person_id == Person.id)
        .where(PersonPhone.number == mobile(q), *_visible_persons(found.principal))
    )
    for person in session.execute(statement):
        found.add(_person_hit(person, 90), "phone")


def _by_fir(session: Session, found: _Found, q: str) -> dict[str, str]:
    match = _FIR.fullmatch(q)
    if match is None:  # detect() said it is one
        return {}
    number, year, station = int(match[1]), int(match[2]), match[3]
    statement = (
        select(*_PERSON_COLUMNS, FirParty.role, PoliceStation.name.label("station"))
        .select_from(Fir)
        .join(PoliceStation, PoliceStation.id == Fir.police_station_id)
        .join(FirParty, FirParty.fir_id == Fir.id)
        .join(Person, Person.id == FirParty.person_id)
        .where(Fir.number == number, Fir.year == year, *_visible_persons(found.principal))
    )
    if station:
        statement = statement.where(
            func.lower(PoliceStation.name).contains(station.strip().lower(), autoescape=True)
        )
    for row in session.execute(statement):
        found.add(_person_hit(row, 80), f"FIR {number}/{year} PS {row.station} ({row.role})")
    return {"fir": f"{number}/{year}"}


def _by_plate(session: Session, found: _Found, q: str) -> dict[str, str]:
    try:
        key = plate_key(q)
    except ValueError:  # letters and digits, yet no plate of any layout: no plate hits
        return {}
    written = SEPARATORS.sub("", q).upper()
    statement = select(Vehicle).where(Vehicle.plate_key.in_(sorted(one_edit_away(key))))
    for vehicle in session.scalars(statement):
        registration = SEPARATORS.sub("", vehicle.registration).upper()
        if vehicle.plate_key != key:
            score, why = 60.0, f"plate fuzzy: {q} ~ {vehicle.registration}"
        elif registration == written:
            score, why = 95.0, "plate exact"
        else:
            score, why = 85.0, f"plate look-alike: {q} ~ {vehicle.registration}"
        described = " ".join(part for part in (vehicle.make, vehicle.model, vehicle.colour) if part)
        hit = _Hit("vehicle", vehicle.id, vehicle.registration, described, vehicle.district_id, score)
        found.add(hit, why)
    return {"plate": key}  # folded: what was looked for, as plate searches record it


def _candidates(session: Session, keys: list[str], wanted: int) -> list[uuid.UUID]:
    """Up to `wanted` persons whose names hold the query's words: those with all of them first, then
    those with some, the rarer words first. Each step stops as soon as it has enough (an index walk of a
    common word's rows is what a search costs, so it is never walked further than the page needs)."""
    counts = {
        key: session.scalar(
            select(func.count()).select_from(
                select(NameKey.person_id).where(NameKey.key == key).limit(wanted + 1).subquery()
            )
        )
        or 0
        for key in keys
    }
    rarest = sorted((k for k in keys if counts[k]), key=lambda k: counts[k])
    found: dict[uuid.UUID, None] = {}
    if len(rarest) > 1 and len(rarest) == len(keys):
        first = NameKey.__table__.alias("k0")
        statement = select(first.c.person_id).where(first.c.key == rarest[0])
        for n, key in enumerate(rarest[1:], start=1):
            other = NameKey.__table__.alias(f"k{n}")
            statement = statement.join(
                other, and_(other.c.person_id == first.c.person_id, other.c.key == key)
            )
        found.update(dict.fromkeys(session.scalars(statement.distinct().limit(wanted))))
    for key in rarest:
        if len(found) >= wanted:
            break
        some = select(NameKey.person_id).where(NameKey.key == key).distinct().limit(wanted)
        found.update(dict.fromkeys(session.scalars(some)))
    return list(islice(found, wanted))


def _by_name(session: Session, found: _Found, q: str, limit: int) -> dict[str, Any]:
    keys = names.keys(q)
    candidates = _candidates(session, keys, CANDIDATES * limit)
    matched: dict[uuid.UUID, dict[str, list[tuple[str, str]]]] = {}
    for chunk in chunks(candidates):
        rows = session.execute(
            select(NameKey.person_id, NameKey.key, NameKey.field, NameKey.name).where(
                NameKey.person_id.in_(chunk), NameKey.key.in_(keys)
            )
        )
        for person_id, key, kind, name in rows:
            matched.setdefault(person_id, {}).setdefault(key, []).append((kind, name))

    def words(person_id: uuid.UUID) -> float:
        own = sum(1 for fields in matched[person_id].values() if any(k != "father" for k, _ in fields))
        father = len(matched[person_id]) - own
        return (own + _FATHER_WEIGHT * father) / len(keys)

    ranked = sorted(matched, key=words, reverse=True)
    persons = {}
    for chunk in chunks(ranked):
        statement = select(*_PERSON_COLUMNS).where(Person.id.in_(chunk), *_visible_persons(found.principal))
        persons.update({row.id: row for row in session.execute(statement)})
    shown = 0
    for person_id in ranked:
        person = persons.get(person_id)
        if person is None:
            continue
        share = words(person_id)
        if not found.principal.sees_district(person.district_id):
            if share == 1:  # a partial match beyond one's districts is no news worth breaking glass for
                found.elsewhere.add(("person", person_id))
            continue
        if shown >= RANKED * limit:
            break
        shown += 1
        reasons = sorted(
            {pair for fields in matched[person_id].values() for pair in fields}, key=_reason_order
        )
        best = max(names.similarity(q, name) for _, name in reasons)
        hit = _person_hit(person, round(50 * share + 20 * best, 2))
        for kind, name in reasons:
            script = " (Urdu script)" if names.is_urdu(name) else ""
            found.add(hit, f"{_FIELD_LABELS[kind]} ~ {name}{script}")
    return {"name_keys": keys}


def _reason_order(pair: tuple[str, str]) -> tuple[int, str]:
    return (list(_FIELD_LABELS).index(pair[0]), pair[1])


def search(*, session: Session, principal: Principal, q: str, limit: int = 20) -> SearchOut:
    """Find persons and vehicles by CNIC, phone, FIR number, plate or name; ranked, each with its why.

    Args:
        q: what the reader typed, in Latin letters or Urdu script.
        limit: hits returned (1 to MAX_LIMIT), best first.
    """
    principal.require(READ)
    text = " ".join(q.split())
    if not text:
        raise InvalidInput("type a name, CNIC, phone, plate or FIR number to search for", code="bad_query")
    if len(text) > MAX_QUERY:
        raise InvalidInput(f"a search is at most {MAX_QUERY} characters", code="bad_query")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit is 1 to {MAX_LIMIT}", code="bad_limit")
    kinds = detect(text)
    found = _Found(principal)
    # The audit entry says what kind of search it was and the least that lets a reviewer see what was
    # sought. A CNIC or a phone number is kept as its kind only: a hash of a 13-digit number is reversed
    # by hashing every CNIC, so it would be the number itself; the record opened from the hit is audited
    # with its purpose where it is read. Names are kept as their keys, plates folded, FIRs as numbers.
    detail: dict[str, Any] = {"kinds": kinds}
    if "cnic" in kinds:
        _by_cnic(session, found, text)
    if "phone" in kinds:
        _by_phone(session, found, text)
    if "fir" in kinds:
        detail |= _by_fir(session, found, text)
    if "plate" in kinds:
        detail |= _by_plate(session, found, text)
    if "name" in kinds:
        detail |= _by_name(session, found, text, limit)
    hits = sorted(found.hits.values(), key=lambda h: (-h.score, h.title))[:limit]
    detail |= {"hits": len(hits), "elsewhere": len(found.elsewhere)}
    audit.record(
        session=session,
        actor=principal,
        action="records.search",
        outcome="success",
        object_type="records",
        detail=detail,
    )
    return SearchOut(
        kinds=kinds,
        hits=[
            SearchHit(
                kind="person" if h.kind == "person" else "vehicle",
                id=h.id,
                title=h.title,
                subtitle=h.subtitle,
                district_id=h.district_id,
                score=h.score,
                why=h.why,
                url=f"/records/{h.kind}s/{h.id}",
            )
            for h in hits
        ],
        elsewhere=len(found.elsewhere),
    )


# --- the quick check -----------------------------------------------------------------------------------


def check(
    *, session: Session, principal: Principal, purpose: str, cnic: str | None = None, plate: str | None = None
) -> CheckOut:
    """Whether a CNIC's person is wanted or missing, or a plate's vehicle stolen or on a hotlist.

    The flags are answered province-wide (a warrant of another district matters on any road); the record's
    id only when the checker may open it. Audited with the purpose. One query for a CNIC, two for a plate.
    """
    principal.require(READ)
    purpose = require_purpose(purpose)
    if (cnic is None) == (plate is None):
        raise InvalidInput("check either a cnic or a plate", code="bad_check")
    if cnic is not None:
        out = _check_cnic(session, principal, normalise_cnic(cnic))
    else:
        try:
            key = plate_key(plate or "")
        except ValueError as exc:
            raise InvalidInput(str(exc), code="bad_plate") from None
        out = _check_plate(session, principal, key)
    audit.record(
        session=session,
        actor=principal,
        action="records.check",
        outcome="success",
        object_type="record_person" if out.kind == "cnic" else "record_vehicle",
        object_id=str(out.record_id) if out.record_id else None,
        purpose=purpose,
        detail={"kind": out.kind, "found": out.found},
    )
    return out


def _check_cnic(session: Session, principal: Principal, digits: str) -> CheckOut:
    today = utcnow().date()
    wanted = exists().where(
        Warrant.person_id == Person.id,
        Warrant.executed_at.is_(None),
        or_(Warrant.expires_on.is_(None), Warrant.expires_on >= today),
    )
    missing = exists().where(MissingPerson.person_id == Person.id, MissingPerson.found_at.is_(None))
    row = session.execute(
        select(
            Person.id,
            Person.district_id,
            Person.sensitivity,
            wanted.label("wanted"),
            missing.label("missing"),
        ).where(Person.cnic == digits, Person.merged_into_id.is_(None))
    ).first()
    if row is None:
        return CheckOut(
            kind="cnic", found=False, wanted=False, missing=False, stolen=False, hotlists=[], record_id=None
        )
    opens = principal.sees_district(row.district_id) and (
        row.sensitivity == Sensitivity.NONE or principal.can(SENSITIVE)
    )
    return CheckOut(
        kind="cnic",
        found=True,
        wanted=bool(row.wanted),
        missing=bool(row.missing),
        stolen=False,
        hotlists=[],
        record_id=row.id if opens else None,
    )


def _check_plate(session: Session, principal: Principal, key: str) -> CheckOut:
    stolen = exists().where(StolenVehicle.vehicle_id == Vehicle.id, StolenVehicle.recovered_at.is_(None))
    vehicles = session.execute(
        select(Vehicle.id, Vehicle.district_id, stolen.label("stolen")).where(Vehicle.plate_key == key)
    ).all()
    now = utcnow()
    lists = session.scalars(
        select(Hotlist.kind)
        .join(HotlistEntry, HotlistEntry.hotlist_id == Hotlist.id)
        .where(
            HotlistEntry.folded == key,
            Hotlist.enabled.is_(True),
            or_(Hotlist.expires_at.is_(None), Hotlist.expires_at > now),
            or_(HotlistEntry.expires_at.is_(None), HotlistEntry.expires_at > now),
        )
        .distinct()
    )
    mine = [v.id for v in vehicles if principal.sees_district(v.district_id)]
    return CheckOut(
        kind="plate",
        found=bool(vehicles),
        wanted=False,
        missing=False,
        stolen=any(v.stolen for v in vehicles),
        hotlists=sorted(str(kind) for kind in lists),
        record_id=mine[0] if mine else None,
    )
