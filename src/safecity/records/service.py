"""Keeping the records: persons and vehicles written with where each value came from.

Every write names its source (`own:<username>`, `connector:<name>`, `import:<file>`); `set_fields` keeps
one fact per value a source gave, so the record shows each field's origin and a disagreement between two
sources stays visible instead of being overwritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, func, or_, select, true, update
from sqlalchemy.orm import Session

from safecity.analytics.plates.hotlists import service as hotlists
from safecity.analytics.plates.hotlists.models import Hotlist, HotlistEntry, HotlistHit, ListKind
from safecity.analytics.plates.hotlists.schemas import EntryIn, HotlistIn
from safecity.analytics.plates.service import require_purpose
from safecity.audit import service as audit
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.connectors.base import ConnectorBadResponse
from safecity.connectors.ctlist import service as ctlist
from safecity.connectors.ctlist.models import Listing
from safecity.connectors.identity.services import IdentityService
from safecity.connectors.prisons import service as prisons
from safecity.connectors.prisons.models import PrisonEvent
from safecity.connectors.vehicles.schemas import plate_key
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.core.identifiers import format_cnic
from safecity.core.storage import contained
from safecity.events.alerts import service as alerts
from safecity.incidents import service as incidents
from safecity.org.models import PoliceStation
from safecity.records import flows
from safecity.records.models import (
    BreakGlass,
    Fact,
    Fir,
    FirParty,
    FirStatus,
    FirStatusChange,
    MissingPerson,
    PartyRole,
    Person,
    PersonAddress,
    PersonLink,
    PersonName,
    PersonPhone,
    PersonPhoto,
    Sensitivity,
    Sighting,
    StolenVehicle,
    Vehicle,
    Warrant,
)
from safecity.records.schemas import (
    MAX_PHOTO_BYTES,
    CtListingOut,
    FirIn,
    FirOut,
    FirRoleOut,
    LinkIn,
    LinkOut,
    MissingIn,
    MissingOut,
    PersonIn,
    PersonNew,
    PersonOut,
    PersonRecordOut,
    PrisonEventOut,
    SightingOut,
    SourcedOut,
    StolenIn,
    VehicleIn,
    VehicleNew,
    VehicleOut,
    WarrantIn,
    WarrantOut,
)
from safecity.traffic.appeals.service import check_attachment

# The person fields whose origin is kept (lists have their own rows and their own source in the facts).
PERSON_FIELDS = (
    "cnic",
    "name",
    "name_ur",
    "father_name",
    "father_name_ur",
    "relation",
    "gender",
    "date_of_birth",
    "identifying_marks",
    "sensitivity",
    "notes",
)
VEHICLE_FIELDS = ("registration", "chassis_no", "engine_no", "make", "model", "colour", "vehicle_class")


def own(username: str) -> str:
    """The source name of what a user entered by hand."""
    return f"own:{username}"


def _json(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def set_fields(
    *,
    session: Session,
    entity: str,
    row: Person | Vehicle,
    values: Mapping[str, Any],
    source: str,
    overwrite: bool = True,
) -> list[str]:
    """Give `row` the `values` a source asserted, keeping a fact per value; returns the fields changed.

    Args:
        entity: "person" or "vehicle" (how facts name the record).
        overwrite: False for a connector or import that must not replace a value someone entered by hand:
            its differing value is kept as a fact (a conflict shown side by side), not applied.
    """
    now = utcnow()
    changed: list[str] = []
    for field, value in values.items():
        stored = _json(value)
        current = getattr(row, field)
        if value in (None, "") and current in (None, ""):
            continue  # nothing said about it
        if _json(current) == stored:
            same = session.scalar(
                select(Fact.id).where(
                    Fact.entity == entity,
                    Fact.entity_id == row.id,
                    Fact.field == field,
                    Fact.source == source,
                    Fact.current.is_(True),
                )
            )
            if same is None:  # a second source confirms the value: it is known from both
                session.add(
                    Fact(entity=entity, entity_id=row.id, field=field, value=stored, source=source, at=now)
                )
            continue
        apply = overwrite or current in (None, "") or not _hand_entered(session, entity, row.id, field)
        if apply:
            session.execute(
                update(Fact)
                .where(Fact.entity == entity, Fact.entity_id == row.id, Fact.field == field)
                .values(current=False)
            )
            setattr(row, field, value)
            changed.append(field)
        session.add(
            Fact(
                entity=entity,
                entity_id=row.id,
                field=field,
                value=stored,
                source=source,
                at=now,
                current=apply,
            )
        )
    if changed:
        row.updated_at = now
    return changed


def _hand_entered(session: Session, entity: str, entity_id: uuid.UUID, field: str) -> bool:
    sources = session.scalars(
        select(Fact.source).where(
            Fact.entity == entity, Fact.entity_id == entity_id, Fact.field == field, Fact.current.is_(True)
        )
    )
    return any(s.startswith("own:") for s in sources)


def add_person(*, session: Session, data: PersonIn, district_id: uuid.UUID, source: str) -> Person:
    """A new person's record with aliases, phones and addresses, each value's source kept (not committed)."""
    person = Person(id=uuid.uuid4(), district_id=district_id, name=data.name)
    session.add(person)
    set_fields(
        session=session,
        entity="person",
        row=person,
        values=data.model_dump(include=set(PERSON_FIELDS)),
        source=source,
    )
    add_details(session=session, person=person, data=data, source=source)
    return person


def add_details(*, session: Session, person: Person, data: PersonIn, source: str) -> None:
    """The aliases, phones and addresses of `data` that the person's record lacks, with their source."""
    now = utcnow()
    lists: tuple[tuple[str, list[str], type[PersonName | PersonPhone | PersonAddress], str], ...] = (
        ("alias", [a for a in data.aliases if a != person.name], PersonName, "name"),
        ("phone", data.phones, PersonPhone, "number"),
        ("address", data.addresses, PersonAddress, "address"),
    )
    for field, items, table, column in lists:
        known = set(session.scalars(select(getattr(table, column)).where(table.person_id == person.id)))
        for item in items:
            if item not in known:
                known.add(item)
                session.add(table(person_id=person.id, **{column: item}))
                session.add(
                    Fact(entity="person", entity_id=person.id, field=field, value=item, source=source, at=now)
                )


def add_vehicle(
    *,
    session: Session,
    data: VehicleIn,
    district_id: uuid.UUID,
    source: str,
    owner_id: uuid.UUID | None = None,
) -> Vehicle:
    """A new vehicle's record, keyed by its folded plate as plate sightings are (not committed)."""
    vehicle = Vehicle(
        id=uuid.uuid4(),
        district_id=district_id,
        registration=data.registration,
        plate_key=plate_key(data.registration),
        owner_id=owner_id,
    )
    session.add(vehicle)
    set_fields(
        session=session,
        entity="vehicle",
        row=vehicle,
        values=data.model_dump(include=set(VEHICLE_FIELDS)),
        source=source,
    )
    return vehicle


def facts(*, session: Session, entity: str, entity_id: uuid.UUID) -> list[Fact]:
    """Every value sources gave for a record's fields, newest first (provenance, and conflicts to show)."""
    return list(
        session.scalars(
            select(Fact)
            .where(Fact.entity == entity, Fact.entity_id == entity_id)
            .order_by(Fact.at.desc(), Fact.field)
        )
    )


# --- who may do what -------------------------------------------------------------------------------

READ = "records.read"
MANAGE = "records.manage"
SENSITIVE = "records.sensitive"  # juveniles, victims, informants
REVIEW = "records.review"  # break-glass reads
AUDIT_READ = "audit.read"
MIN_REASON = 10  # a break-glass reason says why, not "x"
ALERT_SOURCE = "records"
STOLEN_LIST = "Stolen vehicles (records)"

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], raw: Mapping[str, Any]) -> M:
    """`raw` validated as `model`; InvalidInput (422 bad_cnic, bad_phone or invalid_input) saying what."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        fields = [str(e["loc"][0]) for e in errors if e["loc"]]
        code = (
            "bad_cnic"
            if "cnic" in fields
            else "bad_phone"
            if {"phones", "reporter_phone"} & set(fields)
            else None
        )
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in errors)
        raise InvalidInput(problems, code=code, field=fields[0] if fields else None) from None


def shown(principal: Principal, person: Person) -> bool:
    """Whether the principal may know the person's record exists (sensitive ones need records.sensitive)."""
    return person.sensitivity == Sensitivity.NONE or principal.can(SENSITIVE)


def shown_clause(principal: Principal) -> ColumnElement[bool]:
    """Sensitive records left out of a list unless the principal holds records.sensitive."""
    return true() if principal.can(SENSITIVE) else Person.sensitivity == Sensitivity.NONE


def get_person(*, session: Session, principal: Principal, person_id: uuid.UUID) -> Person:
    """A person's record row (records.read), NotFound alike for an absent and a hidden sensitive record.

    Not a read of the record: the caller shows nothing of it but what a list shows, or reads it through
    `read_person` with a purpose.
    """
    principal.require(READ)
    person = session.get(Person, person_id)
    while person is not None and person.merged_into_id is not None:  # an old link leads to the kept record
        person = session.get(Person, person.merged_into_id)
    if person is None or not shown(principal, person):
        raise NotFound("no such person in the records")
    return person


def _district_for(principal: Principal, district_id: uuid.UUID | None) -> uuid.UUID:
    """The district a new record belongs to: the one given (within scope) or the writer's only one."""
    if district_id is None:
        if principal.district_ids is None or len(principal.district_ids) != 1:
            raise InvalidInput("choose the district that keeps this record", field="district_id")
        return next(iter(principal.district_ids))
    if not principal.sees_district(district_id):
        raise PermissionDenied("you cannot keep records of that district")
    return district_id


def _writable(principal: Principal, district_id: uuid.UUID) -> None:
    principal.require(MANAGE)
    if not principal.sees_district(district_id):
        raise PermissionDenied("this record is kept by a district outside yours")


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    object_type: str,
    object_id: uuid.UUID | str,
    district_id: uuid.UUID | None,
    detail: Mapping[str, Any] | None = None,
    purpose: str | None = None,
) -> None:
    audit.record(
        session=session,
        action=action,
        outcome="success",
        actor=principal,
        object_type=object_type,
        object_id=str(object_id),
        purpose=purpose,
        district_id=district_id,
        detail=detail,
    )


# --- persons ---------------------------------------------------------------------------------------


def create_person(*, session: Session, principal: Principal, data: PersonNew) -> Person:
    """A new person's record entered by hand (records.manage; sensitive ones need records.sensitive)."""
    principal.require(MANAGE)
    if data.sensitivity != Sensitivity.NONE:
        principal.require(SENSITIVE)
    district_id = _district_for(principal, data.district_id)
    if data.cnic and session.scalar(
        select(Person.id).where(Person.cnic == data.cnic, Person.merged_into_id.is_(None))
    ):
        raise Conflict("a record with this CNIC exists already", code="duplicate_cnic")
    person = add_person(session=session, data=data, district_id=district_id, source=own(principal.username))
    session.flush()
    _audit(session, principal, "records.person.add", "record_person", person.id, district_id)
    return person


def update_person(*, session: Session, principal: Principal, person_id: uuid.UUID, data: PersonIn) -> Person:
    """Change a person's record by hand: each changed value is a new fact; lists gain what they lack."""
    principal.require(MANAGE)
    person = get_person(session=session, principal=principal, person_id=person_id)
    _writable(principal, person.district_id)
    if data.sensitivity != person.sensitivity:
        principal.require(SENSITIVE)
    if (
        data.cnic
        and data.cnic != person.cnic
        and session.scalar(
            select(Person.id).where(
                Person.cnic == data.cnic, Person.merged_into_id.is_(None), Person.id != person.id
            )
        )
    ):
        raise Conflict("another record has this CNIC", code="duplicate_cnic")
    changed = set_fields(
        session=session,
        entity="person",
        row=person,
        values=data.model_dump(include=set(PERSON_FIELDS)),
        source=own(principal.username),
    )
    add_details(session=session, person=person, data=data, source=own(principal.username))
    session.flush()
    _audit(
        session,
        principal,
        "records.person.update",
        "record_person",
        person.id,
        person.district_id,
        {"changed": changed},
    )
    return person


def list_persons(*, session: Session, principal: Principal, text: str = "", limit: int = 50) -> list[Person]:
    """Persons within scope whose name, Urdu name or CNIC starts with `text` (sensitive ones left out)."""
    principal.require(READ)
    query = select(Person).where(
        Person.merged_into_id.is_(None),
        principal.district_filter(Person.district_id),
        shown_clause(principal),
    )
    words = " ".join(text.split())
    if words:
        digits = "".join(c for c in words if c.isdigit())
        clauses = [
            Person.name.istartswith(words, autoescape=True),
            Person.name_ur.startswith(words, autoescape=True),
        ]
        if len(digits) >= 5:
            clauses.append(Person.cnic.startswith(digits))
        query = query.where(or_(*clauses))
    return list(session.scalars(query.order_by(Person.name).limit(limit)))


@dataclass
class PersonRecord:
    """A person's whole record as read with a purpose."""

    person: Person
    aliases: list[str]
    phones: list[str]
    addresses: list[PersonAddress]
    photos: list[PersonPhoto]
    facts: list[Fact]
    firs: list[tuple[Fir, PartyRole, str]]  # the FIR, the person's role, the police station's name
    warrants: list[Warrant]
    vehicles: list[Vehicle]
    links: list[tuple[PersonLink, Person]]  # the link, the other person
    missing: list[MissingPerson]
    sightings: list[Sighting]
    break_glass: BreakGlass | None
    sources: dict[str, list[Fact]]  # field -> its facts, current first
    prison_events: list[PrisonEvent]  # what the prisons said of this CNIC (released, escaped …)
    ct_listing: Listing | None  # the counter-terrorism schedule's entry of this CNIC, current or past


def read_person(
    *, session: Session, principal: Principal, person_id: uuid.UUID, purpose: str, reason: str = ""
) -> PersonRecord:
    """A person's record, read for a stated purpose and audited with it ("records.read").

    A record of a district outside the reader's needs a break-glass `reason`: the read is written down,
    the record's district's supervisors are alerted, and a reviewer judges it later. Without one the
    refusal is PermissionDenied with code `break_glass_required`.
    """
    person = get_person(session=session, principal=principal, person_id=person_id)
    stated = require_purpose(purpose)
    glass = None
    if not principal.sees_district(person.district_id):
        glass = _break_glass(session, principal, person, reason)
    _audit(
        session,
        principal,
        "records.read",
        "record_person",
        person.id,
        person.district_id,
        {"break_glass": str(glass.id)} if glass else {},
        purpose=stated,
    )
    return _assemble(session, principal, person, glass)


def _break_glass(session: Session, principal: Principal, person: Person, reason: str) -> BreakGlass:
    text = " ".join(reason.split())
    if len(text) < MIN_REASON:
        raise PermissionDenied(
            "this record is kept by another district: break the glass with a reason "
            f"(at least {MIN_REASON} characters); your supervisor will review the read",
            code="break_glass_required",
        )
    glass = BreakGlass(
        id=uuid.uuid4(),
        person_id=person.id,
        district_id=person.district_id,
        user_id=principal.user_id,
        username=principal.username[:64],
        reason=text[:2000],
        at=utcnow(),
    )
    session.add(glass)
    session.flush()
    alerts.raise_alert(
        session=session,
        kind="records.break_glass",
        severity=3,
        title=f"Break-glass read of a record of this district by {principal.username}"[:200],
        source=ALERT_SOURCE,
        district_id=person.district_id,
        detail={
            "break_glass_id": str(glass.id),
            "review_url": f"/records/break-glass/{glass.id}",
            "reader": principal.username,
            "reason": glass.reason,
        },
    )
    _audit(
        session,
        principal,
        "records.break_glass",
        "record_person",
        person.id,
        person.district_id,
        {"break_glass": str(glass.id), "reason": glass.reason},
    )
    return glass


def _assemble(
    session: Session, principal: Principal, person: Person, glass: BreakGlass | None
) -> PersonRecord:
    pid = person.id
    firs = [
        (fir, role, station)
        for fir, role, station in session.execute(
            select(Fir, FirParty.role, PoliceStation.name)
            .join(FirParty, FirParty.fir_id == Fir.id)
            .join(PoliceStation, PoliceStation.id == Fir.police_station_id)
            .where(FirParty.person_id == pid)
            .order_by(Fir.registered_on.desc())
        )
    ]
    links = [
        (link, other)
        for link, other in session.execute(
            select(PersonLink, Person)
            .join(
                Person,
                or_(
                    (PersonLink.person_a_id == pid) & (Person.id == PersonLink.person_b_id),
                    (PersonLink.person_b_id == pid) & (Person.id == PersonLink.person_a_id),
                ),
            )
            .order_by(PersonLink.created_at)
        )
        if shown(principal, other)
    ]
    vehicles = list(
        session.scalars(select(Vehicle).where(Vehicle.owner_id == pid).order_by(Vehicle.registration))
    )
    vehicle_ids = [v.id for v in vehicles]
    sightings = list(
        session.scalars(
            select(Sighting)
            .where(or_(Sighting.person_id == pid, Sighting.vehicle_id.in_(vehicle_ids)))
            .order_by(Sighting.at.desc())
            .limit(200)
        )
    )
    found = facts(session=session, entity="person", entity_id=pid)
    sources: dict[str, list[Fact]] = {}
    for fact in sorted(found, key=lambda f: not f.current):
        sources.setdefault(fact.field, []).append(fact)
    return PersonRecord(
        person=person,
        aliases=list(session.scalars(select(PersonName.name).where(PersonName.person_id == pid))),
        phones=list(session.scalars(select(PersonPhone.number).where(PersonPhone.person_id == pid))),
        addresses=list(session.scalars(select(PersonAddress).where(PersonAddress.person_id == pid))),
        photos=list(
            session.scalars(
                select(PersonPhoto).where(PersonPhoto.person_id == pid).order_by(PersonPhoto.added_at)
            )
        ),
        facts=found,
        firs=firs,
        warrants=list(
            session.scalars(
                select(Warrant).where(Warrant.person_id == pid).order_by(Warrant.issued_on.desc())
            )
        ),
        vehicles=vehicles,
        links=links,
        missing=list(
            session.scalars(
                select(MissingPerson)
                .where(MissingPerson.person_id == pid)
                .order_by(MissingPerson.reported_at.desc())
            )
        ),
        sightings=sightings,
        break_glass=glass,
        sources=sources,
        prison_events=prisons.events_for(session=session, cnic=person.cnic) if person.cnic else [],
        ct_listing=ctlist.listing_for(session=session, cnic=person.cnic) if person.cnic else None,
    )


def readers(
    *, session: Session, principal: Principal, person_id: uuid.UUID, limit: int = 100
) -> list[AuditEntry]:
    """Who read a person's record, when and why (audit.read); the look is audited as any audit read."""
    principal.require(AUDIT_READ)
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("no such person in the records")
    return audit.search(
        session=session,
        principal=principal,
        action="records.read",
        object_text=str(person.id),
        limit=limit,
        purpose=f"who read record {person.id}",
    )


# --- photos ----------------------------------------------------------------------------------------


def add_photo(
    *, session: Session, principal: Principal, person_id: uuid.UUID, data: bytes, photos_dir: Path
) -> PersonPhoto:
    """A photo of a person: a JPEG or PNG checked by decoding it, stored once under its SHA-256."""
    principal.require(MANAGE)
    person = get_person(session=session, principal=principal, person_id=person_id)
    _writable(principal, person.district_id)
    photo = _store_photo(session, person, data, photos_dir, own(principal.username))
    _audit(
        session,
        principal,
        "records.photo.add",
        "record_person",
        person.id,
        person.district_id,
        {"sha256": photo.sha256},
    )
    return photo


def _store_photo(session: Session, person: Person, data: bytes, photos_dir: Path, source: str) -> PersonPhoto:
    checked = check_attachment(data, max_bytes=MAX_PHOTO_BYTES)
    if not checked.mime.startswith("image/"):
        raise InvalidInput(
            "a photo must be a JPEG or PNG picture", code="attachment_not_allowed", field="photo"
        )
    relative = f"{checked.sha256[:2]}/{checked.sha256}{checked.extension}"
    path = contained(photos_dir, relative)
    if path is None:  # a hex digest never leads out; kept as the one check every stored path passes
        raise InvalidInput("the photo cannot be stored")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(checked.data)
    photo = PersonPhoto(
        id=uuid.uuid4(), person_id=person.id, path=relative, sha256=checked.sha256, source=source
    )
    session.add(photo)
    session.add(
        Fact(entity="person", entity_id=person.id, field="photo", value=checked.sha256, source=source)
    )
    session.flush()
    return photo


_RELATION = {("father", "f"): "d/o", ("father", "m"): "s/o", ("husband", "f"): "w/o"}


def verify_identity(
    *,
    session: Session,
    principal: Principal,
    person_id: uuid.UUID,
    identity: IdentityService | None,
    purpose: str,
    photos_dir: Path,
) -> tuple[list[str], list[str]]:
    """Ask the identity service (NADRA-like) about a person's CNIC and keep what it says as its facts.

    Nothing entered by hand is overwritten: a differing value from the service is kept beside it, as a
    conflict for someone to resolve. Returns the fields the answer filled in or changed, and those where it
    differs from a hand-entered value. Audited with the purpose ("records.identity").

    Raises:
        InvalidInput: no purpose, no CNIC on the record, or no identity service configured.
        NotFound: the service knows no one with this CNIC.
        ConnectorError: the service timed out, is unavailable or answered garbage (nothing is stored).
    """
    principal.require(MANAGE)
    stated = require_purpose(purpose)
    person = get_person(session=session, principal=principal, person_id=person_id)
    _writable(principal, person.district_id)
    if identity is None:
        raise InvalidInput(
            "no identity service is configured (Administration → Connectors)", code="no_identity"
        )
    if not person.cnic:
        raise InvalidInput("the record has no CNIC to verify", code="no_cnic")
    found = identity.verify(cnic=person.cnic)
    if found is None:
        raise NotFound(
            f"{identity.name} knows no one with CNIC {format_cnic(person.cnic)}", code="identity_not_found"
        )
    gender = {"male": "m", "female": "f", "transgender": "x"}.get(found.gender.lower(), "")
    try:
        said = PersonIn(
            name=found.name_en,
            name_ur=found.name_ur,
            father_name=found.guardian_name,
            relation=_RELATION.get((found.guardian_relation, gender), "s/o"),
            gender=gender,
            date_of_birth=found.date_of_birth,
            addresses=found.addresses,
        )
    except ValidationError as exc:
        raise ConnectorBadResponse(f"{identity.name} answered a record that does not hold together") from exc
    source = f"connector:{identity.name}"[:64]
    fields = {"name", "name_ur", "father_name", "gender", "date_of_birth"}
    if found.guardian_relation:
        fields.add("relation")
    values = {f: v for f, v in said.model_dump(include=fields).items() if v not in (None, "")}
    changed = set_fields(
        session=session, entity="person", row=person, values=values, source=source, overwrite=False
    )
    differ = [f for f, v in values.items() if _json(getattr(person, f)) != _json(v)]
    add_details(session=session, person=person, data=said, source=source)
    known = set(session.scalars(select(PersonPhoto.sha256).where(PersonPhoto.person_id == person.id)))
    if found.photo is not None and hashlib.sha256(found.photo).hexdigest() not in known:
        _store_photo(session, person, found.photo, photos_dir, source)
        changed.append("photo")
    _audit(
        session,
        principal,
        "records.identity",
        "record_person",
        person.id,
        person.district_id,
        {"connector": identity.name, "changed": changed, "differ": differ},
        purpose=stated,
    )
    return changed, differ


def photo_bytes(
    *, session: Session, principal: Principal, photo_id: uuid.UUID, photos_dir: Path
) -> tuple[bytes, str]:
    """A stored photo and its media type, for one who may read its person's record; checked by SHA-256."""
    principal.require(READ)
    photo = session.get(PersonPhoto, photo_id)
    if photo is None:
        raise NotFound("no such photo")
    person = get_person(session=session, principal=principal, person_id=photo.person_id)
    if (
        not principal.sees_district(person.district_id)
        and session.scalar(
            select(BreakGlass.id).where(
                BreakGlass.person_id == person.id, BreakGlass.user_id == principal.user_id
            )
        )
        is None
    ):
        raise NotFound("no such photo")
    path = contained(photos_dir, photo.path)
    try:
        data = path.read_bytes() if path is not None else b""
    except OSError:
        data = b""
    if not data or hashlib.sha256(data).hexdigest() != photo.sha256:
        raise NotFound("no such photo")
    return data, "image/png" if photo.path.endswith(".png") else "image/jpeg"


# --- vehicles --------------------------------------------------------------------------------------


def create_vehicle(*, session: Session, principal: Principal, data: VehicleNew) -> Vehicle:
    """A new vehicle's record entered by hand, with its owner's record when known."""
    principal.require(MANAGE)
    district_id = _district_for(principal, data.district_id)
    if data.owner_id is not None:
        get_person(session=session, principal=principal, person_id=data.owner_id)
    vehicle = add_vehicle(
        session=session,
        data=data,
        district_id=district_id,
        source=own(principal.username),
        owner_id=data.owner_id,
    )
    session.flush()
    flows.attach_past_sightings(session=session, vehicle=vehicle)
    _audit(
        session,
        principal,
        "records.vehicle.add",
        "record_vehicle",
        vehicle.id,
        district_id,
        {"plate": vehicle.plate_key},
    )
    return vehicle


def get_vehicle(*, session: Session, principal: Principal, vehicle_id: uuid.UUID) -> Vehicle:
    """A vehicle's record (records.read; vehicles are shared across districts, as hotlists are)."""
    principal.require(READ)
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise NotFound("no such vehicle in the records")
    return vehicle


def update_vehicle(
    *, session: Session, principal: Principal, vehicle_id: uuid.UUID, data: VehicleNew
) -> Vehicle:
    """Change a vehicle's record by hand (its owner too); each changed value is a new fact."""
    principal.require(MANAGE)
    vehicle = get_vehicle(session=session, principal=principal, vehicle_id=vehicle_id)
    _writable(principal, vehicle.district_id)
    if data.owner_id is not None:
        get_person(session=session, principal=principal, person_id=data.owner_id)
    values: dict[str, Any] = data.model_dump(include=set(VEHICLE_FIELDS))
    changed = set_fields(
        session=session, entity="vehicle", row=vehicle, values=values, source=own(principal.username)
    )
    vehicle.plate_key = plate_key(vehicle.registration)
    if data.owner_id != vehicle.owner_id:
        vehicle.owner_id = data.owner_id
        session.add(
            Fact(
                entity="vehicle",
                entity_id=vehicle.id,
                field="owner_id",
                value=str(data.owner_id) if data.owner_id else None,
                source=own(principal.username),
            )
        )
        changed.append("owner_id")
    session.flush()
    _audit(
        session,
        principal,
        "records.vehicle.update",
        "record_vehicle",
        vehicle.id,
        vehicle.district_id,
        {"changed": changed},
    )
    return vehicle


def vehicles_of_plate(*, session: Session, principal: Principal, plate: str) -> list[Vehicle]:
    """The vehicles of the records with this plate, folded as plate reads are."""
    principal.require(READ)
    try:
        key = plate_key(plate)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_plate", field="plate") from None
    return list(session.scalars(select(Vehicle).where(Vehicle.plate_key == key).order_by(Vehicle.created_at)))


def list_vehicles(*, session: Session, principal: Principal, limit: int = 50) -> list[Vehicle]:
    """The latest vehicles of the records within scope."""
    principal.require(READ)
    query = select(Vehicle).where(principal.district_filter(Vehicle.district_id))
    return list(session.scalars(query.order_by(Vehicle.created_at.desc()).limit(limit)))


def vehicle_sightings(*, session: Session, vehicle_id: uuid.UUID, limit: int = 200) -> list[Sighting]:
    """A vehicle's sightings by cameras, newest first."""
    query = select(Sighting).where(Sighting.vehicle_id == vehicle_id)
    return list(session.scalars(query.order_by(Sighting.at.desc()).limit(limit)))


# --- stolen vehicles: on the stolen-vehicles hotlist until recovered ----------------------------------


def _stolen_list(session: Session, principal: Principal, district_id: uuid.UUID) -> Hotlist:
    """The records' stolen-vehicles hotlist this principal keeps: the first one they may change, else a new
    one covering the vehicle's district (a province-wide account's covers the province)."""
    query = select(Hotlist.id).where(Hotlist.kind == ListKind.STOLEN, Hotlist.name == STOLEN_LIST)
    for hotlist_id in session.scalars(query.order_by(Hotlist.created_at)):
        try:
            return hotlists.get_hotlist(
                session=session, principal=principal, hotlist_id=hotlist_id, permission=hotlists.MANAGE
            )
        except (NotFound, PermissionDenied):
            continue  # another district's list
    return hotlists.create_hotlist(
        session=session,
        principal=principal,
        data=HotlistIn(
            kind=ListKind.STOLEN,
            name=STOLEN_LIST,
            agency="Police records",
            reason="Vehicles reported stolen in the records",
            instructions="Stolen vehicle: stop it safely and check the records before approaching",
            district_ids=None if principal.province_wide else [district_id],
            severity=3,
        ),
    )


def report_stolen(
    *, session: Session, principal: Principal, vehicle_id: uuid.UUID, data: StolenIn
) -> StolenVehicle:
    """Report a vehicle stolen: its plate goes on the stolen-vehicles hotlist (hotlists.manage too)."""
    principal.require(MANAGE)
    vehicle = get_vehicle(session=session, principal=principal, vehicle_id=vehicle_id)
    _writable(principal, vehicle.district_id)
    if session.scalar(
        select(StolenVehicle.id).where(
            StolenVehicle.vehicle_id == vehicle.id, StolenVehicle.recovered_at.is_(None)
        )
    ):
        raise Conflict("this vehicle is reported stolen already", code="already_stolen")
    if data.fir_id is not None and session.get(Fir, data.fir_id) is None:
        raise NotFound("no such FIR")
    hotlist = _stolen_list(session, principal, vehicle.district_id)
    entry_id = session.scalar(
        select(HotlistEntry.id).where(
            HotlistEntry.hotlist_id == hotlist.id, HotlistEntry.folded == vehicle.plate_key
        )
    )
    if entry_id is None:
        entry_id = hotlists.add_entry(
            session=session,
            principal=principal,
            hotlist_id=hotlist.id,
            data=EntryIn(
                plate=vehicle.registration,
                reason=f"Stolen {data.stolen_at:%Y-%m-%d}" + (f" at {data.place}" if data.place else ""),
                reference=fir_label(session, data.fir_id) if data.fir_id else "records",
                description=" ".join(x for x in (vehicle.colour, vehicle.make, vehicle.model) if x)[:200],
            ),
        ).id
    report = StolenVehicle(
        id=uuid.uuid4(),
        district_id=vehicle.district_id,
        vehicle_id=vehicle.id,
        fir_id=data.fir_id,
        stolen_at=data.stolen_at,
        place=data.place,
        hotlist_entry_id=entry_id,
    )
    session.add(report)
    session.flush()
    _audit(
        session,
        principal,
        "records.stolen.report",
        "record_vehicle",
        vehicle.id,
        vehicle.district_id,
        {"report": str(report.id), "hotlist_entry": str(entry_id)},
    )
    return report


def recover_stolen(*, session: Session, principal: Principal, report_id: uuid.UUID) -> StolenVehicle:
    """A stolen vehicle recovered: the report is closed and its plate taken off the hotlist."""
    principal.require(MANAGE)
    report = session.get(StolenVehicle, report_id)
    if report is None:
        raise NotFound("no such stolen-vehicle report")
    _writable(principal, report.district_id)
    if report.recovered_at is not None:
        raise Conflict("this vehicle is recovered already", code="already_recovered")
    entry = session.get(HotlistEntry, report.hotlist_entry_id) if report.hotlist_entry_id else None
    if entry is not None:
        hotlists.remove_entry(
            session=session, principal=principal, hotlist_id=entry.hotlist_id, entry_id=entry.id
        )
    report.recovered_at = utcnow()
    report.hotlist_entry_id = None
    session.flush()
    _audit(
        session,
        principal,
        "records.stolen.recover",
        "record_vehicle",
        report.vehicle_id,
        report.district_id,
        {"report": str(report.id)},
    )
    return report


def stolen_reports(*, session: Session, vehicle_id: uuid.UUID) -> list[StolenVehicle]:
    """A vehicle's stolen-vehicle reports, newest first."""
    query = select(StolenVehicle).where(StolenVehicle.vehicle_id == vehicle_id)
    return list(session.scalars(query.order_by(StolenVehicle.reported_at.desc())))


# --- FIRs ------------------------------------------------------------------------------------------


def fir_label(session: Session, fir_id: uuid.UUID | None) -> str:
    """How people write an FIR: "FIR 123/2026 PS Civil Lines"."""
    fir = session.get(Fir, fir_id) if fir_id else None
    if fir is None:
        return ""
    station = session.get(PoliceStation, fir.police_station_id)
    return f"FIR {fir.number}/{fir.year} PS {station.name if station else '?'}"[:120]


def add_fir(*, session: Session, principal: Principal, data: FirIn) -> Fir:
    """Register an FIR of a police station within scope; numbered next in the station's year if not given."""
    principal.require(MANAGE)
    station = session.get(PoliceStation, data.police_station_id)
    if station is None or not principal.sees_district(station.district_id):
        raise NotFound("no such police station")
    year = data.year or data.registered_on.year
    if data.incident_id is not None:
        incidents.get_incident(session=session, principal=principal, incident_id=data.incident_id)
    same = (Fir.police_station_id == station.id, Fir.year == year)
    number = data.number or (session.scalar(select(func.max(Fir.number)).where(*same)) or 0) + 1
    if session.scalar(select(Fir.id).where(*same, Fir.number == number)) is not None:
        raise Conflict(f"FIR {number}/{year} of this police station exists already", code="duplicate_fir")
    fir = register_fir(
        session=session, station=station, year=year, number=number, data=data, by=principal.username
    )
    session.flush()
    _audit(
        session,
        principal,
        "records.fir.add",
        "record_fir",
        fir.id,
        fir.district_id,
        {"number": f"{number}/{year}", "sections": data.sections},
    )
    return fir


def register_fir(
    *, session: Session, station: PoliceStation, year: int, number: int, data: FirIn, by: str
) -> Fir:
    """A new FIR of the station with its first status line, "registered" (scope and number checked by the
    caller: one FIR entered, or a file of them imported)."""
    fir = Fir(
        id=uuid.uuid4(),
        district_id=station.district_id,
        police_station_id=station.id,
        year=year,
        number=number,
        registered_on=data.registered_on,
        occurred_at=data.occurred_at,
        sections=data.sections,
        summary=data.summary,
        property=data.property,
        status=FirStatus.REGISTERED,
        incident_id=data.incident_id,
    )
    session.add(fir)
    session.add(FirStatusChange(fir_id=fir.id, status=FirStatus.REGISTERED, by=by[:64]))
    return fir


def get_fir(*, session: Session, principal: Principal, fir_id: uuid.UUID) -> Fir:
    """An FIR within the principal's districts (NotFound otherwise)."""
    principal.require(READ)
    fir = session.get(Fir, fir_id)
    if fir is None or not principal.sees_district(fir.district_id):
        raise NotFound("no such FIR")
    return fir


def list_firs(*, session: Session, principal: Principal, limit: int = 50) -> list[tuple[Fir, str]]:
    """The latest FIRs within scope, with their police station's name."""
    principal.require(READ)
    query = (
        select(Fir, PoliceStation.name)
        .join(PoliceStation, PoliceStation.id == Fir.police_station_id)
        .where(principal.district_filter(Fir.district_id))
        .order_by(Fir.registered_on.desc(), Fir.number.desc())
        .limit(limit)
    )
    return [(fir, name) for fir, name in session.execute(query)]


def set_fir_status(
    *, session: Session, principal: Principal, fir_id: uuid.UUID, status: FirStatus, note: str = ""
) -> FirStatusChange:
    """Move an FIR to its next status; each change is a row of its history."""
    principal.require(MANAGE)
    fir = get_fir(session=session, principal=principal, fir_id=fir_id)
    _writable(principal, fir.district_id)
    if status == fir.status:
        raise Conflict(f"the FIR is {status.value.replace('_', ' ')} already", code="same_status")
    fir.status = status
    fir.updated_at = utcnow()
    change = FirStatusChange(
        fir_id=fir.id, status=status, by=principal.username[:64], note=note, at=fir.updated_at
    )
    session.add(change)
    session.flush()
    _audit(
        session,
        principal,
        "records.fir.status",
        "record_fir",
        fir.id,
        fir.district_id,
        {"status": status.value},
    )
    return change


def fir_history(*, session: Session, fir_id: uuid.UUID) -> list[FirStatusChange]:
    """An FIR's course, oldest first."""
    query = select(FirStatusChange).where(FirStatusChange.fir_id == fir_id)
    return list(session.scalars(query.order_by(FirStatusChange.at, FirStatusChange.id)))


def fir_parties(
    *, session: Session, principal: Principal, fir_id: uuid.UUID
) -> list[tuple[Person, PartyRole]]:
    """The persons named in an FIR (hidden sensitive ones left out)."""
    query = (
        select(Person, FirParty.role)
        .join(FirParty, FirParty.person_id == Person.id)
        .where(FirParty.fir_id == fir_id)
    )
    return [(p, role) for p, role in session.execute(query.order_by(FirParty.role)) if shown(principal, p)]


def add_party(
    *, session: Session, principal: Principal, fir_id: uuid.UUID, person_id: uuid.UUID, role: PartyRole
) -> FirParty:
    """Name a person in an FIR as complainant, accused, victim or witness."""
    principal.require(MANAGE)
    fir = get_fir(session=session, principal=principal, fir_id=fir_id)
    _writable(principal, fir.district_id)
    get_person(session=session, principal=principal, person_id=person_id)
    if session.scalar(
        select(FirParty.id).where(
            FirParty.fir_id == fir.id, FirParty.person_id == person_id, FirParty.role == role
        )
    ):
        raise Conflict("this person is named in this role already", code="duplicate_party")
    party = FirParty(id=uuid.uuid4(), fir_id=fir.id, person_id=person_id, role=role)
    session.add(party)
    session.flush()
    _audit(
        session,
        principal,
        "records.fir.party",
        "record_fir",
        fir.id,
        fir.district_id,
        {"person": str(person_id), "role": role.value},
    )
    return party


# --- warrants --------------------------------------------------------------------------------------


def warrant_state(warrant: Warrant, today: dt.date | None = None) -> str:
    """executed, expired or active."""
    if warrant.executed_at is not None:
        return "executed"
    day = today or utcnow().date()
    return "expired" if warrant.expires_on is not None and warrant.expires_on < day else "active"


def add_warrant(*, session: Session, principal: Principal, person_id: uuid.UUID, data: WarrantIn) -> Warrant:
    """A court's warrant against a person."""
    principal.require(MANAGE)
    person = get_person(session=session, principal=principal, person_id=person_id)
    _writable(principal, person.district_id)
    if data.expires_on is not None and data.expires_on < data.issued_on:
        raise InvalidInput("a warrant cannot expire before it is issued", field="expires_on")
    if data.fir_id is not None:
        get_fir(session=session, principal=principal, fir_id=data.fir_id)
    warrant = Warrant(
        id=uuid.uuid4(), district_id=person.district_id, person_id=person.id, **data.model_dump()
    )
    session.add(warrant)
    session.flush()
    _audit(
        session,
        principal,
        "records.warrant.add",
        "record_person",
        person.id,
        person.district_id,
        {"warrant": str(warrant.id), "court": data.court},
    )
    return warrant


def execute_warrant(*, session: Session, principal: Principal, warrant_id: uuid.UUID) -> Warrant:
    """Record that a warrant was executed, by whom and when (not once it is executed or expired)."""
    principal.require(MANAGE)
    warrant = session.get(Warrant, warrant_id)
    if warrant is None:
        raise NotFound("no such warrant")
    get_person(session=session, principal=principal, person_id=warrant.person_id)
    _writable(principal, warrant.district_id)
    state = warrant_state(warrant)
    if state != "active":
        raise Conflict(f"this warrant is {state}", code=f"warrant_{state}")
    warrant.executed_at = utcnow()
    warrant.executed_by = principal.username[:64]
    session.flush()
    _audit(
        session,
        principal,
        "records.warrant.execute",
        "record_person",
        warrant.person_id,
        warrant.district_id,
        {"warrant": str(warrant.id)},
    )
    return warrant


# --- missing persons, links ------------------------------------------------------------------------


def report_missing(
    *, session: Session, principal: Principal, person_id: uuid.UUID, data: MissingIn
) -> MissingPerson:
    """Report a person missing, until found."""
    principal.require(MANAGE)
    person = get_person(session=session, principal=principal, person_id=person_id)
    _writable(principal, person.district_id)
    report = MissingPerson(
        id=uuid.uuid4(), district_id=person.district_id, person_id=person.id, **data.model_dump()
    )
    session.add(report)
    session.flush()
    _audit(
        session,
        principal,
        "records.missing.report",
        "record_person",
        person.id,
        person.district_id,
        {"report": str(report.id)},
    )
    return report


def mark_found(*, session: Session, principal: Principal, report_id: uuid.UUID) -> MissingPerson:
    """A missing person found: the report is closed."""
    principal.require(MANAGE)
    report = session.get(MissingPerson, report_id)
    if report is None:
        raise NotFound("no such missing-person report")
    get_person(session=session, principal=principal, person_id=report.person_id)
    _writable(principal, report.district_id)
    if report.found_at is not None:
        raise Conflict("this person is found already", code="already_found")
    report.found_at = utcnow()
    session.flush()
    _audit(
        session,
        principal,
        "records.missing.found",
        "record_person",
        report.person_id,
        report.district_id,
        {"report": str(report.id)},
    )
    return report


def add_link(*, session: Session, principal: Principal, person_id: uuid.UUID, data: LinkIn) -> PersonLink:
    """Link two persons (associate, relative, co-accused, gang member); stored once for both sides."""
    principal.require(MANAGE)
    person = get_person(session=session, principal=principal, person_id=person_id)
    _writable(principal, person.district_id)
    other = get_person(session=session, principal=principal, person_id=data.other_id)
    if other.id == person.id:
        raise InvalidInput("a person cannot be linked to themselves", field="other_id")
    a, b = sorted((person.id, other.id), key=str)
    if session.scalar(
        select(PersonLink.id).where(
            PersonLink.person_a_id == a, PersonLink.person_b_id == b, PersonLink.kind == data.kind
        )
    ):
        raise Conflict("these two are linked so already", code="duplicate_link")
    link = PersonLink(
        id=uuid.uuid4(),
        person_a_id=a,
        person_b_id=b,
        kind=data.kind,
        note=data.note,
        source=own(principal.username),
    )
    session.add(link)
    session.flush()
    _audit(
        session,
        principal,
        "records.link.add",
        "record_person",
        person.id,
        person.district_id,
        {"other": str(other.id), "kind": data.kind.value},
    )
    return link


# --- break-glass reviews ---------------------------------------------------------------------------


def list_break_glass(
    *, session: Session, principal: Principal, unreviewed: bool = True, limit: int = 100
) -> list[BreakGlass]:
    """Break-glass reads of records of the reviewer's districts (records.review), oldest unreviewed first."""
    principal.require(REVIEW)
    query = select(BreakGlass).where(principal.district_filter(BreakGlass.district_id))
    if unreviewed:
        query = query.where(BreakGlass.reviewed_at.is_(None))
    return list(
        session.scalars(
            query.order_by(BreakGlass.at.desc() if not unreviewed else BreakGlass.at).limit(limit)
        )
    )


def get_break_glass(*, session: Session, principal: Principal, glass_id: uuid.UUID) -> BreakGlass:
    """One break-glass read of a record of the reviewer's districts."""
    principal.require(REVIEW)
    glass = session.get(BreakGlass, glass_id)
    if glass is None or not principal.sees_district(glass.district_id):
        raise NotFound("no such break-glass read")
    return glass


def review_break_glass(
    *, session: Session, principal: Principal, glass_id: uuid.UUID, verdict: str, note: str
) -> BreakGlass:
    """A supervisor's verdict on a break-glass read (justified or unjustified, with a note); audited."""
    glass = get_break_glass(session=session, principal=principal, glass_id=glass_id)
    if glass.reviewed_at is not None:
        raise Conflict("this read is reviewed already", code="already_reviewed")
    if glass.user_id is not None and glass.user_id == principal.user_id:
        raise PermissionDenied("someone else must review your own break-glass read")
    if verdict not in ("justified", "unjustified"):
        raise InvalidInput("the verdict is justified or unjustified", field="verdict")
    glass.verdict, glass.review_note = verdict, " ".join(note.split())[:2000]
    glass.reviewed_by, glass.reviewed_at = principal.username[:64], utcnow()
    session.flush()
    _audit(
        session,
        principal,
        "records.break_glass.review",
        "record_break_glass",
        glass.id,
        glass.district_id,
        {"verdict": verdict, "reader": glass.username, "person": str(glass.person_id)},
    )
    return glass


# --- records linked to a plate or an incident (instant access) --------------------------------------


@dataclass
class Linked:
    """Records linked to what an operator is looking at, each person with why it is linked."""

    vehicles: list[Vehicle]
    persons: list[tuple[Person, str]]


def linked(
    *, session: Session, principal: Principal, plate: str = "", incident_id: uuid.UUID | None = None
) -> Linked:
    """The vehicles with a plate and their owners; or those of an incident (its FIRs' parties, the
    vehicles of its plate hits and stolen reports) — names only: each person is read with a purpose."""
    principal.require(READ)
    vehicles: list[Vehicle] = []
    persons: dict[uuid.UUID, tuple[Person, str]] = {}
    if not plate and incident_id is None:
        raise InvalidInput("give a plate or an incident", field="plate")
    if plate:
        vehicles = vehicles_of_plate(session=session, principal=principal, plate=plate)
    if incident_id is not None:
        incidents.get_incident(session=session, principal=principal, incident_id=incident_id)
        keys = {
            plate_key(p)
            for p in session.scalars(
                select(HotlistHit.listed_plate).where(HotlistHit.incident_id == incident_id)
            )
        }
        firs = list(session.scalars(select(Fir).where(Fir.incident_id == incident_id)))
        fir_ids = [f.id for f in firs]
        if keys:
            vehicles += session.scalars(select(Vehicle).where(Vehicle.plate_key.in_(keys)))
        if fir_ids:
            vehicles += session.scalars(
                select(Vehicle)
                .join(StolenVehicle, StolenVehicle.vehicle_id == Vehicle.id)
                .where(StolenVehicle.fir_id.in_(fir_ids))
            )
            for person, role, fir_id in session.execute(
                select(Person, FirParty.role, FirParty.fir_id)
                .join(FirParty, FirParty.person_id == Person.id)
                .where(FirParty.fir_id.in_(fir_ids))
            ):
                persons.setdefault(person.id, (person, f"{role.value} in {fir_label(session, fir_id)}"))
        vehicles = list({v.id: v for v in vehicles}.values())
    for vehicle in vehicles:
        owner = session.get(Person, vehicle.owner_id) if vehicle.owner_id else None
        if owner is not None:
            persons.setdefault(owner.id, (owner, f"owner of {vehicle.registration}"))
    listed = [(p, why) for p, why in persons.values() if shown(principal, p) and p.merged_into_id is None]
    _audit(
        session,
        principal,
        "records.linked",
        "incident" if incident_id else "plate",
        incident_id or plate_key(plate),
        None,
        {"plate": plate, "vehicles": len(vehicles), "persons": len(listed)},
    )
    return Linked(vehicles=vehicles, persons=listed)


# --- what the API answers --------------------------------------------------------------------------


def media_dir(data_dir: Path) -> Path:
    """Where the records' photos are kept, under the data directory."""
    return data_dir / "records"


def person_out(*, session: Session, person: Person) -> PersonOut:
    """A person's record with its aliases, phones, addresses and photos."""
    return _person_out(
        person,
        list(session.scalars(select(PersonName.name).where(PersonName.person_id == person.id))),
        list(session.scalars(select(PersonPhone.number).where(PersonPhone.person_id == person.id))),
        list(session.scalars(select(PersonAddress.address).where(PersonAddress.person_id == person.id))),
        list(session.scalars(select(PersonPhoto.id).where(PersonPhoto.person_id == person.id))),
    )


def _person_out(
    person: Person, aliases: list[str], phones: list[str], addresses: list[str], photos: list[uuid.UUID]
) -> PersonOut:
    fields = {name: getattr(person, name) for name in PersonOut.model_fields if hasattr(person, name)}
    fields["cnic"] = format_cnic(person.cnic) if person.cnic else None
    return PersonOut(**fields, aliases=aliases, phones=phones, addresses=addresses, photo_ids=photos)


def warrant_out(warrant: Warrant) -> WarrantOut:
    """A warrant with its state."""
    return WarrantOut.model_validate(
        {
            **{k: getattr(warrant, k) for k in WarrantOut.model_fields if k != "state"},
            "state": warrant_state(warrant),
        }
    )


def record_out(record: PersonRecord) -> PersonRecordOut:
    """A person's record as read, for the API."""
    return PersonRecordOut(
        person=_person_out(
            record.person,
            record.aliases,
            record.phones,
            [a.address for a in record.addresses],
            [p.id for p in record.photos],
        ),
        facts=[SourcedOut.model_validate(f) for f in record.facts],
        firs=[
            FirRoleOut.model_validate({**FirOut.model_validate(fir).model_dump(), "role": role})
            for fir, role, _ in record.firs
        ],
        warrants=[warrant_out(w) for w in record.warrants],
        vehicles=[VehicleOut.model_validate(v) for v in record.vehicles],
        links=[
            LinkOut(id=link.id, other_id=other.id, other_name=other.name, kind=link.kind, note=link.note)
            for link, other in record.links
        ],
        missing=[MissingOut.model_validate(m) for m in record.missing],
        sightings=[SightingOut.model_validate(x) for x in record.sightings],
        break_glass_id=record.break_glass.id if record.break_glass else None,
        prison_events=[PrisonEventOut.model_validate(e) for e in record.prison_events],
        ct_listing=CtListingOut.model_validate(record.ct_listing) if record.ct_listing else None,
    )
