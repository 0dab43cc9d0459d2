"""What goes into and out of the records: persons and vehicles as entered, imported or fetched."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import unicodedata
import uuid
from functools import cache
from pathlib import Path

from pydantic import Field, field_validator

from safecity.connectors.vehicles.schemas import plate_key
from safecity.core.identifiers import cnic_digits, mobile
from safecity.core.schemas import InModel, IsoDateTime, OutModel
from safecity.records.models import FirStatus, LinkKind, PartyRole, Sensitivity

# Control and format characters (bidi overrides, zero-width joiners used to hide text) are never a name.
_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_URDU = re.compile(r"^[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff\s.'-]*$")


def clean_name(value: str, *, limit: int = 120) -> str:
    """A name with spaces collapsed, NFC-normalised, without control characters; ValueError if too long."""
    text = " ".join(_CONTROL.sub("", unicodedata.normalize("NFC", value)).split())
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text


class PersonIn(InModel):
    """A person's record as someone enters it (or a connector or an import gives it)."""

    cnic: str | None = None
    name: str = Field(min_length=1, max_length=200)
    name_ur: str = Field(default="", max_length=200)
    father_name: str = Field(default="", max_length=200)
    father_name_ur: str = Field(default="", max_length=200)
    relation: str = Field(default="s/o", pattern=r"^(s/o|d/o|w/o)$")
    gender: str = Field(default="", pattern=r"^[mfx]?$")
    date_of_birth: dt.date | None = None
    identifying_marks: str = Field(default="", max_length=2000)
    sensitivity: Sensitivity = Sensitivity.NONE
    aliases: list[str] = Field(default_factory=list, max_length=20)
    phones: list[str] = Field(default_factory=list, max_length=10)
    addresses: list[str] = Field(default_factory=list, max_length=10)
    notes: str = Field(default="", max_length=5000)

    @field_validator("cnic")
    @classmethod
    def _cnic(cls, value: str | None) -> str | None:
        return cnic_digits(value) if value else None

    @field_validator("name", "father_name", "aliases")
    @classmethod
    def _latin(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            return [n for n in (clean_name(v) for v in value) if n]
        return clean_name(value)

    @field_validator("name_ur", "father_name_ur")
    @classmethod
    def _urdu(cls, value: str) -> str:
        text = clean_name(value)
        if not _URDU.match(text):
            raise ValueError("write this in Urdu script")
        return text

    @field_validator("phones")
    @classmethod
    def _phones(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(mobile(v) for v in value if v.strip()))

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [a for a in (clean_name(v, limit=300) for v in value) if a]

    @field_validator("date_of_birth")
    @classmethod
    def _born(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not dt.date(1900, 1, 1) <= value <= dt.datetime.now(dt.UTC).date():
            raise ValueError("a date of birth between 1900 and today")
        return value


class VehicleIn(InModel):
    """A vehicle's record: its plate, its numbers, what it looks like, its owner when known."""

    registration: str = Field(min_length=1, max_length=24)
    chassis_no: str = Field(default="", max_length=32, pattern=r"^[A-Za-z0-9-]*$")
    engine_no: str = Field(default="", max_length=32, pattern=r"^[A-Za-z0-9-]*$")
    make: str = Field(default="", max_length=40)
    model: str = Field(default="", max_length=40)
    colour: str = Field(default="", max_length=24)
    vehicle_class: str = Field(default="", max_length=24)

    @field_validator("registration")
    @classmethod
    def _registration(cls, value: str) -> str:
        plate_key(value)  # ValueError, saying why, when it is no plate
        return " ".join(value.upper().split())

    @field_validator("chassis_no", "engine_no")
    @classmethod
    def _number(cls, value: str) -> str:
        return value.upper()


SECTIONS_FILE = Path(__file__).with_name("sections.toml")


@cache
def sections() -> dict[str, str]:
    """The sections of law an FIR may cite, code -> title (records/sections.toml)."""
    raw = tomllib.loads(SECTIONS_FILE.read_text(encoding="utf-8"))
    return {str(s["code"]): str(s["title"]) for s in raw["section"]}


class PersonNew(PersonIn):
    """A new person's record; `district_id` may be left out by someone who works in one district only."""

    district_id: uuid.UUID | None = None


class VehicleNew(VehicleIn):
    """A new vehicle's record, with its owner's record when known."""

    district_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None


class FirIn(InModel):
    """A new FIR; without `number` it gets the police station's next number of the year."""

    police_station_id: uuid.UUID
    year: int | None = Field(default=None, ge=1947, le=2100)
    number: int | None = Field(default=None, ge=1, le=999_999)
    registered_on: dt.date
    occurred_at: IsoDateTime | None = None
    sections: list[str] = Field(min_length=1, max_length=20)
    summary: str = Field(default="", max_length=5000)
    property: str = Field(default="", max_length=2000)
    incident_id: uuid.UUID | None = None

    @field_validator("sections")
    @classmethod
    def _sections(cls, value: list[str]) -> list[str]:
        known = sections()
        codes = list(dict.fromkeys(" ".join(v.split()).upper() for v in value))
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise ValueError(f"not a listed section of law: {', '.join(unknown)}")
        return codes


class FirStatusIn(InModel):
    """An FIR's next step through investigation and court."""

    status: FirStatus
    note: str = Field(default="", max_length=1000)


class PartyIn(InModel):
    """A person named in an FIR, in a role."""

    person_id: uuid.UUID
    role: PartyRole


class WarrantIn(InModel):
    """A court's warrant against a person."""

    court: str = Field(min_length=2, max_length=160)
    kind: str = Field(default="arrest", pattern=r"^(arrest|search|proclamation)$")
    bailable: bool = False
    issued_on: dt.date
    expires_on: dt.date | None = None
    fir_id: uuid.UUID | None = None

    @field_validator("court")
    @classmethod
    def _court(cls, value: str) -> str:
        return clean_name(value, limit=160)


class StolenIn(InModel):
    """A report that a vehicle of the records was stolen."""

    stolen_at: IsoDateTime
    place: str = Field(default="", max_length=200)
    fir_id: uuid.UUID | None = None


class MissingIn(InModel):
    """A report that a person is missing: where and when last seen, who reported it."""

    last_seen_at: IsoDateTime
    last_seen_place: str = Field(default="", max_length=200)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    reporter_name: str = Field(default="", max_length=120)
    reporter_phone: str = ""

    @field_validator("reporter_phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return mobile(value) if value else ""


class LinkIn(InModel):
    """A link from one person to another."""

    other_id: uuid.UUID
    kind: LinkKind
    note: str = Field(default="", max_length=1000)


class ReviewIn(InModel):
    """A supervisor's verdict on a break-glass read."""

    verdict: str = Field(pattern=r"^(justified|unjustified)$")
    note: str = Field(default="", max_length=2000)


class SourcedOut(OutModel):
    """A value of a field, where it came from and when."""

    field: str
    value: object
    source: str
    at: dt.datetime
    current: bool


class PersonOut(OutModel):
    """A person's record as shown (CNIC written NNNNN-NNNNNNN-N)."""

    id: uuid.UUID
    district_id: uuid.UUID
    cnic: str | None
    name: str
    name_ur: str
    father_name: str
    father_name_ur: str
    relation: str
    gender: str
    date_of_birth: dt.date | None
    identifying_marks: str
    sensitivity: Sensitivity
    notes: str
    aliases: list[str]
    phones: list[str]
    addresses: list[str]
    photo_ids: list[uuid.UUID]


class VehicleOut(OutModel):
    """A vehicle's record."""

    id: uuid.UUID
    district_id: uuid.UUID
    registration: str
    plate_key: str
    chassis_no: str
    engine_no: str
    make: str
    model: str
    colour: str
    vehicle_class: str
    owner_id: uuid.UUID | None


class FirOut(OutModel):
    """An FIR: its number per police station and year, sections, status."""

    id: uuid.UUID
    district_id: uuid.UUID
    police_station_id: uuid.UUID
    year: int
    number: int
    registered_on: dt.date
    occurred_at: dt.datetime | None
    sections: list[str]
    summary: str
    property: str
    status: FirStatus
    incident_id: uuid.UUID | None


class FirRoleOut(FirOut):
    """An FIR as one person's record shows it: with the person's role in it."""

    role: PartyRole


class WarrantOut(OutModel):
    """A warrant with its state (active, expired, executed)."""

    id: uuid.UUID
    person_id: uuid.UUID
    fir_id: uuid.UUID | None
    court: str
    kind: str
    bailable: bool
    issued_on: dt.date
    expires_on: dt.date | None
    executed_at: dt.datetime | None
    executed_by: str
    state: str


class StolenOut(OutModel):
    """A stolen-vehicle report."""

    id: uuid.UUID
    vehicle_id: uuid.UUID
    fir_id: uuid.UUID | None
    stolen_at: dt.datetime
    place: str
    reported_at: dt.datetime
    recovered_at: dt.datetime | None
    hotlist_entry_id: uuid.UUID | None


class MissingOut(OutModel):
    """A missing-person report."""

    id: uuid.UUID
    person_id: uuid.UUID
    last_seen_at: dt.datetime
    last_seen_place: str
    latitude: float | None
    longitude: float | None
    reporter_name: str
    reporter_phone: str
    reported_at: dt.datetime
    found_at: dt.datetime | None


class LinkOut(OutModel):
    """A link as one person's record shows it (the other person, how)."""

    id: uuid.UUID
    other_id: uuid.UUID
    other_name: str
    kind: LinkKind
    note: str


class SightingOut(OutModel):
    """A camera's sighting of a person or vehicle of the records."""

    id: uuid.UUID
    kind: str
    ref: str
    person_id: uuid.UUID | None
    vehicle_id: uuid.UUID | None
    camera_id: uuid.UUID | None
    camera_name: str
    at: dt.datetime
    latitude: float | None
    longitude: float | None


class PrisonEventOut(OutModel):
    """What a prison reported of the person's CNIC."""

    event: str  # released, escaped, transferred
    prison: str
    at: dt.datetime
    source: str


class CtListingOut(OutModel):
    """The person's entry on the counter-terrorism schedule (current when not delisted)."""

    listed_on: dt.date
    delisted_on: dt.date | None
    source: str


class PersonRecordOut(OutModel):
    """Everything a person's record shows, each field with its sources."""

    person: PersonOut
    facts: list[SourcedOut]
    firs: list[FirRoleOut]
    warrants: list[WarrantOut]
    vehicles: list[VehicleOut]
    links: list[LinkOut]
    missing: list[MissingOut]
    sightings: list[SightingOut]
    break_glass_id: uuid.UUID | None
    prison_events: list[PrisonEventOut]
    ct_listing: CtListingOut | None


class BreakGlassOut(OutModel):
    """A break-glass read and its review."""

    id: uuid.UUID
    person_id: uuid.UUID
    district_id: uuid.UUID
    username: str
    reason: str
    at: dt.datetime
    reviewed_by: str
    reviewed_at: dt.datetime | None
    verdict: str
    review_note: str


class ReadOut(OutModel):
    """One read of a person's record, as the audit log keeps it."""

    at: dt.datetime
    actor_name: str
    purpose: str | None
    break_glass: bool


class LinkedOut(OutModel):
    """The records linked to a plate or an incident, and why each is linked."""

    vehicles: list[VehicleOut]
    persons: list[tuple[uuid.UUID, str, str]]  # id, name, why


class PersonBriefOut(OutModel):
    """A person as a list shows it: the name only (the record is read with a purpose)."""

    id: uuid.UUID
    name: str
    name_ur: str
    district_id: uuid.UUID


MAX_PHOTO_BYTES = 5 * 1024 * 1024


class PhotoIn(InModel):
    """A photo of a person, base64 in JSON (the API speaks JSON only): a JPEG or PNG of at most 5 MB."""

    data_base64: str = Field(min_length=1, max_length=(MAX_PHOTO_BYTES * 4) // 3 + 4)
