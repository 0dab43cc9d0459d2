"""Sightings: plate reads of a records vehicle, and confirmed face matches, attach to the record (once)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory
from safecity import seed
from safecity.analytics.flows import store_sighting
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.live import CameraRef, Finished
from safecity.analytics.plates.schemas import SightingIn
from safecity.analytics.plates.types import PlateRead
from safecity.analytics.plates.voting import combine
from safecity.cameras.models import Camera
from safecity.org import service as org
from safecity.org.models import District
from safecity.records import flows
from safecity.records import service as records
from safecity.records.models import Person, Sighting
from safecity.records.schemas import VehicleIn

AT = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)


def _camera(session: Session, district: District, name: str) -> Camera:
    camera = Camera(name=name, district_id=district.id, latitude=31.51, longitude=74.34, stream_url="")
    session.add(camera)
    session.flush()
    return camera


def _read(session: Session, camera: Camera, plate: str, at: dt.datetime) -> plates.Sighting:
    return plates.record(
        session=session,
        sighting=SightingIn(
            camera_id=camera.id,
            district_id=camera.district_id,
            seen_at=at,
            first_seen=at,
            last_seen=at,
            plate=plate,
            confidence=0.93,
            layout="punjab",
            jurisdiction="Punjab",
        ),
    )


def test_a_plate_read_attaches_to_each_vehicle_with_that_plate_once(
    factory: Factory, session: Session
) -> None:
    district = factory.district()
    camera = _camera(session, district, "Kalma Chowk")
    vehicle = records.add_vehicle(
        session=session, data=VehicleIn(registration="LEB-1234"), district_id=district.id, source="own:test"
    )
    other = records.add_vehicle(
        session=session, data=VehicleIn(registration="LEA-9999"), district_id=district.id, source="own:test"
    )
    session.flush()
    read = _read(session, camera, "LEB1234", AT)
    first = flows.attach_plate_sighting(session=session, sighting=read)
    again = flows.attach_plate_sighting(session=session, sighting=read)  # a redelivered read
    assert [s.vehicle_id for s in first] == [vehicle.id] and again == []
    stored = session.scalars(select(Sighting).where(Sighting.vehicle_id == vehicle.id)).one()
    assert (stored.kind, stored.ref, stored.camera_name, stored.at) == (
        "plate",
        str(read.id),
        "Kalma Chowk",
        AT,
    )
    assert (stored.latitude, stored.longitude) == (31.51, 74.34)
    assert session.scalars(select(Sighting).where(Sighting.vehicle_id == other.id)).all() == []
    # A read with a look-alike character (8 for B) folds to the same key: attached too.
    misread = _read(session, camera, "LE81234", AT + dt.timedelta(minutes=1))
    assert [s.vehicle_id for s in flows.attach_plate_sighting(session=session, sighting=misread)] == [
        vehicle.id
    ]


def test_a_new_vehicle_gathers_the_reads_from_before_its_record(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    camera = _camera(session, district, "Mall Road")
    for minutes in (0, 5):
        _read(session, camera, "LEB1O34", AT + dt.timedelta(minutes=minutes))  # O read for 0: folds the same
    investigator = login_as(factory.user("investigator", districts=[district]))
    made = investigator.post(
        "/api/v1/records/vehicles", json={"registration": "LEB-1034", "district_id": str(district.id)}
    )
    assert made.status_code == 201, made.text
    seen = session.scalars(select(Sighting).where(Sighting.vehicle_id == uuid.UUID(made.json()["id"]))).all()
    assert sorted(s.at for s in seen) == [AT, AT + dt.timedelta(minutes=5)]


def test_a_confirmed_face_match_attaches_to_the_person_once(factory: Factory, session: Session) -> None:
    district = factory.district()
    camera = _camera(session, district, "Anarkali Gate")
    person = Person(district_id=district.id, name="Muhammad Aslam")
    session.add(person)
    session.flush()
    added = flows.attach_face_match(
        session=session, person_id=person.id, match_ref="match-1", camera_id=camera.id, at=AT
    )
    assert added is not None and (added.kind, added.person_id, added.camera_name) == (
        "face",
        person.id,
        "Anarkali Gate",
    )
    assert (
        flows.attach_face_match(
            session=session, person_id=person.id, match_ref="match-1", camera_id=camera.id, at=AT
        )
        is None
    )
    with pytest.raises(LookupError):
        flows.attach_face_match(
            session=session, person_id=uuid.uuid4(), match_ref="match-2", camera_id=None, at=AT
        )


def test_the_plate_pipelines_stored_read_reaches_the_vehicles_record(
    own_db: tuple[str, sessionmaker[Session]], tmp_path: Path, pickup: np.ndarray
) -> None:
    """The pipeline's own store (store_sighting) attaches the read in the same transaction."""
    _, factory_db = own_db
    with factory_db() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        camera = _camera(session, district, "Tehkal")
        vehicle = records.add_vehicle(
            session=session,
            data=VehicleIn(registration="LXR-9021"),
            district_id=district.id,
            source="own:test",
        )
        session.commit()
        camera_id, district_id, vehicle_id = camera.id, district.id, vehicle.id
    read = PlateRead("LXR9021", 0.95, (0.95,) * 7, (14, 103, 125, 35), "pk-punjab", "PK-PB", "LXR-9021")
    done = Finished(
        camera=CameraRef(camera_id, "Tehkal", district_id),
        vote=combine([read] * 3, region="PK", floor=0.6),
        region="PK",
        plate_crop=pickup[-40:, : pickup.shape[1] // 2].copy(),  # the bumper, as a crop
        vehicle=pickup,
        box=(214, 480, 125, 35),
        plate_cut=(200, 430, 312, 470),
        vehicle_cut=(200, 377, 425, 470),
        frame_size=(768, 576),
        seen_at=AT,
        first_seen=AT,
        last_seen=AT + dt.timedelta(seconds=2),
        track_id=7,
        vehicle_class="truck",
        colour="white",
        direction="right",
    )
    out = store_sighting(done, session_factory=factory_db, snapshots_dir=tmp_path)
    assert out is not None
    with factory_db() as session:
        attached = session.scalars(select(Sighting).where(Sighting.vehicle_id == vehicle_id)).one()
        assert (attached.ref, attached.camera_name, attached.at) == (str(out.id), "Tehkal", AT)
