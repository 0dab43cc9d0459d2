"""Sightings of the records' vehicles and persons by the cameras: plate reads and confirmed face matches.

Called by the plate pipeline for every stored read (and by the faces domain for each confirmed match), so
each vehicle or person of the records gathers where and when it was seen, shown on its record's map.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.analytics.plates.models import Sighting as PlateSighting
from safecity.cameras.models import Camera
from safecity.records.models import Person, Sighting, Vehicle


def _add(
    session: Session,
    *,
    kind: str,
    ref: str,
    camera_id: uuid.UUID | None,
    at: dt.datetime,
    person_id: uuid.UUID | None = None,
    vehicle_id: uuid.UUID | None = None,
) -> Sighting | None:
    """One sighting, unless the same one (kind, ref, subject) is there already: a redelivery adds none."""
    exists = select(Sighting.id).where(
        Sighting.kind == kind,
        Sighting.ref == ref,
        Sighting.person_id.is_(None) if person_id is None else Sighting.person_id == person_id,
        Sighting.vehicle_id.is_(None) if vehicle_id is None else Sighting.vehicle_id == vehicle_id,
    )
    if session.scalar(exists) is not None:
        return None
    camera = session.get(Camera, camera_id) if camera_id else None
    sighting = Sighting(
        id=uuid.uuid4(),
        kind=kind,
        ref=ref,
        person_id=person_id,
        vehicle_id=vehicle_id,
        camera_id=camera_id,
        camera_name=camera.name if camera else "",
        at=at,
        latitude=camera.latitude if camera else None,
        longitude=camera.longitude if camera else None,
    )
    session.add(sighting)
    return sighting


def attach_plate_sighting(*, session: Session, sighting: PlateSighting) -> list[Sighting]:
    """A plate read attached to every vehicle of the records with its folded plate (idempotent; the
    caller commits)."""
    if not sighting.folded:
        return []
    vehicle_ids = session.scalars(select(Vehicle.id).where(Vehicle.plate_key == sighting.folded))
    added = [
        _add(
            session,
            kind="plate",
            ref=str(sighting.id),
            camera_id=sighting.camera_id,
            at=sighting.seen_at,
            vehicle_id=vehicle_id,
        )
        for vehicle_id in list(vehicle_ids)
    ]
    session.flush()
    return [s for s in added if s is not None]


def attach_past_sightings(*, session: Session, vehicle: Vehicle, limit: int = 500) -> int:
    """The latest plate reads of a vehicle seen before its record was made, attached to it; how many."""
    reads = session.scalars(
        select(PlateSighting)
        .where(PlateSighting.folded == vehicle.plate_key)
        .order_by(PlateSighting.seen_at.desc())
        .limit(limit)
    )
    added = 0
    for read in list(reads):
        if _add(
            session,
            kind="plate",
            ref=str(read.id),
            camera_id=read.camera_id,
            at=read.seen_at,
            vehicle_id=vehicle.id,
        ):
            added += 1
    session.flush()
    return added


def attach_face_match(
    *, session: Session, person_id: uuid.UUID, match_ref: str, camera_id: uuid.UUID | None, at: dt.datetime
) -> Sighting | None:
    """A confirmed face match attached to a person's record (idempotent: None when it is there already).

    Args:
        person_id: the record's person (LookupError when there is none).
        match_ref: the face match's id, as the faces domain keeps it.
        camera_id: the camera that saw the face, if known; its place becomes the sighting's.
        at: when the face was seen (timezone-aware UTC).
    """
    if session.get(Person, person_id) is None:
        raise LookupError(f"no person {person_id} in the records")
    added = _add(session, kind="face", ref=match_ref[:64], camera_id=camera_id, at=at, person_id=person_id)
    session.flush()
    return added
