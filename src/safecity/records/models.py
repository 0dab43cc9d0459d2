"""Tables of the criminal records: persons, their vehicles, FIRs, warrants, stolen vehicles, missing persons,
the links between them, where every value came from, sightings by cameras, and break-glass reads.

Every record belongs to a district (the one that keeps it), which decides who reads it without breaking
glass. A value's origin is kept in `record_facts`: one row per value a source asserted (this system's own
entry, a connector, an import), so a record shows where each field came from and two sources that disagree
are shown side by side instead of one silently overwriting the other.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class Sensitivity(enum.StrEnum):
    """Why a person's record needs `records.sensitive` on top of `records.read`."""

    NONE = "none"
    JUVENILE = "juvenile"
    VICTIM = "victim"
    INFORMANT = "informant"


class Person(Base):
    """A person the police hold a record of (suspect, accused, complainant, victim, missing, owner)."""

    __tablename__ = "record_persons"
    __table_args__ = (
        # One live record per CNIC; a merged-away duplicate keeps its CNIC for the undo.
        Index(
            "uq_record_persons_cnic_live",
            "cnic",
            unique=True,
            sqlite_where=text("merged_into_id IS NULL"),
            postgresql_where=text("merged_into_id IS NULL"),
        ),
        # Duplicate proposals: same name + father + date of birth.
        Index("ix_record_persons_name_dob", "name", "date_of_birth"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    cnic: Mapped[str | None] = mapped_column(String(13))  # 13 digits; shown as NNNNN-NNNNNNN-N
    name: Mapped[str] = mapped_column(String(120))  # in Latin letters
    name_ur: Mapped[str] = mapped_column(String(120), default="")  # in Urdu script
    father_name: Mapped[str] = mapped_column(String(120), default="")  # father's, or husband's (relation)
    father_name_ur: Mapped[str] = mapped_column(String(120), default="")
    relation: Mapped[str] = mapped_column(String(3), default="s/o")  # s/o, d/o, w/o
    gender: Mapped[str] = mapped_column(String(1), default="")  # m, f, x; "" unknown
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    identifying_marks: Mapped[str] = mapped_column(Text, default="")
    sensitivity: Mapped[Sensitivity] = mapped_column(
        _enum(Sensitivity, "record_sensitivity"), default=Sensitivity.NONE
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("record_persons.id", ondelete="RESTRICT")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonName(Base):
    """A name a person is known by besides the record's own: an alias, a spelling, a name in Urdu script."""

    __tablename__ = "record_person_names"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16), default="alias")  # alias, spelling


class PersonPhone(Base):
    """A phone number linked to a person, as +923NNNNNNNNN."""

    __tablename__ = "record_person_phones"
    __table_args__ = (UniqueConstraint("person_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(16), index=True)


class PersonAddress(Base):
    """Where a person lives or lived (permanent, present), with a place on the map when known."""

    __tablename__ = "record_person_addresses"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="present")  # present, permanent, other
    address: Mapped[str] = mapped_column(String(300))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class PersonPhoto(Base):
    """A photo of a person (custody, CNIC, enrolment), stored in the media store by its hash."""

    __tablename__ = "record_person_photos"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(200))  # relative to the records media directory
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))  # own:<user>, connector:<name>, import:<file>
    taken_on: Mapped[dt.date | None] = mapped_column(Date)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkKind(enum.StrEnum):
    """How two persons are linked."""

    ASSOCIATE = "associate"
    RELATIVE = "relative"
    CO_ACCUSED = "co_accused"
    GANG_MEMBER = "gang_member"


class PersonLink(Base):
    """Two persons linked (associate of, relative of …); stored once, read from either side."""

    __tablename__ = "record_person_links"
    __table_args__ = (
        UniqueConstraint("person_a_id", "person_b_id", "kind"),
        CheckConstraint("person_a_id <> person_b_id", name="not_self"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_a_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    person_b_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[LinkKind] = mapped_column(_enum(LinkKind, "record_link_kind"))
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Vehicle(Base):
    """A vehicle in the records (stolen, used in a crime, a suspect's), with its owner when known."""

    __tablename__ = "record_vehicles"
    __table_args__ = (
        Index("ix_record_vehicles_chassis", "chassis_no"),
        Index("ix_record_vehicles_engine", "engine_no"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    registration: Mapped[str] = mapped_column(String(24))  # as written on the plate (LEB-1234)
    plate_key: Mapped[str] = mapped_column(String(16), index=True)  # folded, as plate sightings are keyed
    chassis_no: Mapped[str] = mapped_column(String(32), default="")
    engine_no: Mapped[str] = mapped_column(String(32), default="")
    make: Mapped[str] = mapped_column(String(40), default="")
    model: Mapped[str] = mapped_column(String(40), default="")
    colour: Mapped[str] = mapped_column(String(24), default="")
    vehicle_class: Mapped[str] = mapped_column(String(24), default="")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("record_persons.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FirStatus(enum.StrEnum):
    """Where a case stands, from registration through investigation to court."""

    REGISTERED = "registered"
    UNDER_INVESTIGATION = "under_investigation"
    CHALLAN_SUBMITTED = "challan_submitted"  # the police report sent to court (s. 173 CrPC)
    UNDER_TRIAL = "under_trial"
    CONVICTED = "convicted"
    ACQUITTED = "acquitted"
    CANCELLED = "cancelled"  # found false or without cause


class Fir(Base):
    """A First Information Report, numbered per police station and year."""

    __tablename__ = "record_firs"
    __table_args__ = (UniqueConstraint("police_station_id", "year", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    police_station_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("police_stations.id", ondelete="RESTRICT")
    )
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer, index=True)
    registered_on: Mapped[dt.date] = mapped_column(Date)
    occurred_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sections: Mapped[list[str]] = mapped_column(JSON, default=list)  # codes from records/sections.toml
    summary: Mapped[str] = mapped_column(Text, default="")
    property: Mapped[str] = mapped_column(Text, default="")  # what was taken or damaged
    status: Mapped[FirStatus] = mapped_column(
        _enum(FirStatus, "record_fir_status"), default=FirStatus.REGISTERED
    )
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FirStatusChange(Base):
    """One step of an FIR's course (the status it moved to, when, by whom, why)."""

    __tablename__ = "record_fir_status_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    fir_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record_firs.id", ondelete="CASCADE"), index=True)
    status: Mapped[FirStatus] = mapped_column(_enum(FirStatus, "record_fir_status"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class PartyRole(enum.StrEnum):
    """What a person is in an FIR."""

    COMPLAINANT = "complainant"
    ACCUSED = "accused"
    VICTIM = "victim"
    WITNESS = "witness"


class FirParty(Base):
    """A person named in an FIR, in a role."""

    __tablename__ = "record_fir_parties"
    __table_args__ = (UniqueConstraint("fir_id", "person_id", "role"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    fir_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record_firs.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[PartyRole] = mapped_column(_enum(PartyRole, "record_party_role"))


class Warrant(Base):
    """A court's warrant against a person (arrest, search, proclamation), until executed or expired."""

    __tablename__ = "record_warrants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    fir_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("record_firs.id", ondelete="SET NULL"))
    court: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(24), default="arrest")  # arrest, search, proclamation
    bailable: Mapped[bool] = mapped_column(Boolean, default=False)
    issued_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    executed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    executed_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StolenVehicle(Base):
    """A report of a stolen vehicle; while not recovered its plate is on the stolen-vehicles hotlist."""

    __tablename__ = "record_stolen_vehicles"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    vehicle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_vehicles.id", ondelete="CASCADE"), index=True
    )
    fir_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("record_firs.id", ondelete="SET NULL"))
    stolen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(200), default="")
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recovered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hotlist_entry_id: Mapped[uuid.UUID | None] = mapped_column()  # the plate's entry on the stolen hotlist


class MissingPerson(Base):
    """A report of a missing person (a lost child, an elderly person), until found."""

    __tablename__ = "record_missing_persons"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_place: Mapped[str] = mapped_column(String(200), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    reporter_name: Mapped[str] = mapped_column(String(120), default="")
    reporter_phone: Mapped[str] = mapped_column(String(16), default="")
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    found_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Fact(Base):
    """One value of one field of one record as one source gave it, and when (provenance and conflicts).

    `current` marks the value the record holds now; the others are what other sources said, or what the
    same source said before, shown side by side where they differ.
    """

    __tablename__ = "record_facts"
    __table_args__ = (Index("ix_record_facts_entity", "entity", "entity_id", "field"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    entity: Mapped[str] = mapped_column(String(16))  # person, vehicle, fir, warrant
    entity_id: Mapped[uuid.UUID] = mapped_column()
    field: Mapped[str] = mapped_column(String(40))
    value: Mapped[Any] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(64))  # own:<user>, connector:<name>, import:<file>
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    current: Mapped[bool] = mapped_column(Boolean, default=True)


class Sighting(Base):
    """A person or vehicle of the records seen by a camera: a plate read or a confirmed face match."""

    __tablename__ = "record_sightings"
    __table_args__ = (
        UniqueConstraint("kind", "ref", "person_id", "vehicle_id"),
        CheckConstraint("(person_id IS NULL) <> (vehicle_id IS NULL)", name="one_subject"),
        Index("ix_record_sightings_person_at", "person_id", "at"),
        Index("ix_record_sightings_vehicle_at", "vehicle_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(8))  # plate, face
    ref: Mapped[str] = mapped_column(String(64))  # the plate sighting's or face match's id
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("record_persons.id", ondelete="CASCADE"))
    vehicle_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("record_vehicles.id", ondelete="CASCADE"))
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    camera_name: Mapped[str] = mapped_column(String(120), default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class BreakGlass(Base):
    """A read of a person's record beyond the reader's districts: allowed with a reason, then reviewed."""

    __tablename__ = "record_break_glass"
    __table_args__ = (Index("ix_record_break_glass_unreviewed", "reviewed_at", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT")
    )  # the record's
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_by: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verdict: Mapped[str] = mapped_column(String(16), default="")  # justified, unjustified
    review_note: Mapped[str] = mapped_column(Text, default="")
