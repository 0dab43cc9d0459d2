"""One investigation's records, made the way the system makes them, for the pages and browser tests.

Muhammad Aslam (Lahore, district of the test) is accused in FIR 12/2026 PS Gulberg and wanted on an active
arrest warrant (an older one expired); he owns LEB-1234, reported stolen, so its plate is on the
stolen-vehicles hotlist; a camera read the plate, which made a hotlist hit with its alert and a sighting.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from safecity.analytics.plates import service as plates
from safecity.analytics.plates.hotlists import service as hotlists
from safecity.analytics.plates.schemas import SightingIn
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.events.alerts import service as alerts
from safecity.org.models import District, PoliceStation
from safecity.records import flows
from safecity.records import service as records
from safecity.records.models import PartyRole
from safecity.records.schemas import FirIn, PersonNew, StolenIn, VehicleNew, WarrantIn

CLERK = Principal(
    user_id=None,
    username="records-clerk",
    permissions=frozenset({"records.read", "records.manage", "hotlists.manage", "plates.read"}),
    district_ids=None,
    via="system",
)


@dataclass(frozen=True)
class Story:
    person_id: uuid.UUID
    vehicle_id: uuid.UUID
    fir_id: uuid.UUID
    alert_id: uuid.UUID
    camera_id: uuid.UUID


def build(session: Session, district: District) -> Story:
    """The records, a camera's read of the stolen plate, its hotlist hit and alert; flushed, not committed."""
    station = PoliceStation(district_id=district.id, name="Gulberg", latitude=31.52, longitude=74.35)
    camera = Camera(
        name="Kalma Chowk", district_id=district.id, latitude=31.504, longitude=74.331, stream_url=""
    )
    session.add_all([station, camera])
    session.flush()
    person = records.create_person(
        session=session,
        principal=CLERK,
        data=PersonNew(
            cnic="35202-1234567-1",
            name="Muhammad Aslam",
            name_ur="محمد اسلم",
            father_name="Ghulam Rasool",
            aliases=["Aslam Kala"],
            phones=["0300 1234567"],
            district_id=district.id,
        ),
    )
    fir = records.add_fir(
        session=session,
        principal=CLERK,
        data=FirIn(
            police_station_id=station.id,
            number=12,
            registered_on=dt.date(2026, 11, 2),
            sections=["PPC 381-A"],
            summary="Car lifting ring",
        ),
    )
    records.add_party(
        session=session, principal=CLERK, fir_id=fir.id, person_id=person.id, role=PartyRole.ACCUSED
    )
    today = dt.datetime.now(dt.UTC).date()
    records.add_warrant(
        session=session,
        principal=CLERK,
        person_id=person.id,
        data=WarrantIn(
            court="Judicial Magistrate Lahore", issued_on=today, expires_on=today + dt.timedelta(days=90)
        ),
    )
    records.add_warrant(
        session=session,
        principal=CLERK,
        person_id=person.id,
        data=WarrantIn(
            court="Sessions Court Lahore", issued_on=dt.date(2025, 1, 1), expires_on=dt.date(2025, 3, 1)
        ),
    )
    vehicle = records.create_vehicle(
        session=session,
        principal=CLERK,
        data=VehicleNew(
            registration="LEB-1234",
            make="Honda",
            model="City",
            colour="White",
            district_id=district.id,
            owner_id=person.id,
        ),
    )
    records.report_stolen(
        session=session,
        principal=CLERK,
        vehicle_id=vehicle.id,
        data=StolenIn(stolen_at=dt.datetime(2026, 11, 30, 13, tzinfo=dt.UTC), place="Liberty Market"),
    )
    # The camera reads the plate: the read is stored (and attached to the record, as the pipeline does),
    # the hotlist matches it, and the hit raises its alert with the detail the console shows.
    now = dt.datetime.now(dt.UTC)
    read = plates.record(
        session=session,
        sighting=SightingIn(
            camera_id=camera.id,
            district_id=district.id,
            seen_at=now,
            first_seen=now,
            last_seen=now,
            plate="LEB1234",
            confidence=0.94,
            layout="punjab",
            jurisdiction="Punjab",
        ),
    )
    flows.attach_plate_sighting(session=session, sighting=read)
    matches = hotlists.load_index(session=session).match("LEB1234", district_id=district.id, at=now)
    (hit,) = hotlists.record_hits(session=session, sighting_id=read.id, matches=matches)
    alert = alerts.raise_alert(
        session=session,
        kind="hotlist.stolen",
        severity=3,
        title="Stolen vehicle LEB1234 at Kalma Chowk",
        source="hotlists",
        camera_id=camera.id,
        detail=hotlists.hit_detail(hit, matches[0].listed),
    )
    hit.alert_id = alert.id
    session.flush()
    return Story(person.id, vehicle.id, fir.id, alert.id, camera.id)
