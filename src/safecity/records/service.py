"""Keeping the records: persons and vehicles written with where each value came from.

Every write names its source (`own:<username>`, `connector:<name>`, `import:<file>`); `set_fields` keeps
one fact per value a source gave, so the record shows each field's origin and a disagreement between two
sources stays visible instead of being overwritten.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safecity.connectors.vehicles.schemas import plate_key
from safecity.core.db import utcnow
from safecity.records.models import Fact, Person, PersonAddress, PersonName, PersonPhone, Vehicle
from safecity.records.schemas import PersonIn, VehicleIn

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
