"""Section control: plates read at both ends of a section, as the ANPR pipeline stores and publishes them,
give each vehicle's average speed; a vehicle over the limit is flagged with its plate and both sightings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory, wait_until_async
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import SightingIn, SightingOut
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.bus import MemoryBus
from safecity.core.crypto import SecretBox
from safecity.traffic import flows
from safecity.traffic import service as traffic
from safecity.traffic.models import SectionPassage
from safecity.traffic.schemas import SectionIn

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
OFFICER = Principal(
    None, "officer", frozenset({"traffic.read", "traffic.manage", "plates.read"}), None, via="system"
)


def sighting(camera: Camera, plate: str, at: dt.datetime) -> SightingIn:
    return SightingIn(
        camera_id=camera.id,
        district_id=camera.district_id,
        seen_at=at,
        first_seen=at - dt.timedelta(seconds=1),
        last_seen=at + dt.timedelta(seconds=1),
        plate=plate,
        confidence=0.93,
        layout="pk-kp",
        jurisdiction="KP",
        vehicle_class="car",
    )


def two_cameras(session: Session, district_id: uuid.UUID) -> tuple[Camera, Camera]:
    a, b = (
        Camera(
            name=name,
            district_id=district_id,
            latitude=34.0,
            longitude=lon,
            stream_url=f"rtsp://10.0.0.{i}/1",
        )
        for i, (name, lon) in enumerate((("Toll plaza", 71.50), ("Bridge", 71.51)), start=1)
    )
    session.add_all([a, b])
    session.flush()
    return a, b


async def test_plates_read_at_both_ends_give_average_speeds_and_the_fast_one_is_flagged(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    _, factory_db = own_db
    with factory_db() as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        entry, exit_ = two_cameras(session, district.id)
        section = traffic.create_section(
            session=session,
            principal=OFFICER,
            data=SectionIn(
                name="Motorway M1 km 10-11",
                camera_a_id=entry.id,
                camera_b_id=exit_.id,
                distance_m=1000,
                speed_limit_kmh=60,
                max_travel_s=600,
            ),
        )
        reads = [
            sighting(entry, "LEA1234", T0),
            sighting(entry, "PSH777", T0),
            sighting(entry, "PSH777", T0 + dt.timedelta(seconds=20)),  # the latest read at A counts
            sighting(exit_, "LEA1234", T0 + dt.timedelta(seconds=50)),  # 1 km in 50 s: 72 km/h, over 60
            sighting(exit_, "PSH777", T0 + dt.timedelta(seconds=120)),  # 1 km in 100 s: 36 km/h
            sighting(exit_, "KHI55", T0 + dt.timedelta(seconds=60)),  # never read at A
            sighting(entry, "ISB900", T0 + dt.timedelta(seconds=90)),  # read at B before A: not a pass
            sighting(exit_, "ISB900", T0 + dt.timedelta(seconds=80)),
            sighting(entry, "LHR1", T0 - dt.timedelta(seconds=700)),  # too long ago to pair
            sighting(exit_, "LHR1", T0 + dt.timedelta(seconds=10)),
        ]
        # As the ANPR pipeline does: store each sighting, then publish it.
        stored = [SightingOut.model_validate(plates.record(session=session, sighting=s)) for s in reads]
        session.commit()
        section_id = section.id

    bus = MemoryBus()
    await bus.start()
    stop = asyncio.Event()
    consumer = asyncio.create_task(
        flows.section_control_from_bus(bus=bus, session_factory=factory_db, stop=stop)
    )
    try:
        for out in [*stored, stored[3]]:  # the last one twice: a redelivery is not a second pass
            await bus.publish(plates.subject(out.camera_id), out.model_dump_json().encode())

        def found() -> list[SectionPassage]:
            with factory_db() as session:
                return list(session.scalars(select(SectionPassage).order_by(SectionPassage.plate)))

        await wait_until_async(lambda: len(found()) >= 2, within=10)
        await asyncio.sleep(0.5)  # every message handled, the duplicate too
        passages = found()
    finally:
        stop.set()
        await consumer
        await bus.close()

    assert [(p.plate, p.speed_kmh, p.over_limit) for p in passages] == [
        ("LEA1234", 72.0, True),
        ("PSH777", 36.0, False),
    ]
    fast, slow = passages
    assert (fast.sighting_a_id, fast.sighting_b_id) == (stored[0].id, stored[3].id)
    assert (slow.sighting_a_id, slow.sighting_b_id) == (stored[2].id, stored[4].id)
    assert fast.entered_at == T0 and fast.exited_at == T0 + dt.timedelta(seconds=50)
    with factory_db() as session:
        stats = traffic.section_stats(
            session=session,
            principal=OFFICER,
            section_id=section_id,
            since=T0,
            until=T0 + dt.timedelta(hours=1),
        )
        assert (stats.passages, stats.mean_kmh, stats.max_kmh, stats.over_limit) == (2, 54.0, 72.0, 1)
        flagged = traffic.passages(
            session=session,
            principal=OFFICER,
            section_id=section_id,
            since=T0,
            until=T0 + dt.timedelta(hours=1),
            purpose="e-challan review",
            over_limit_only=True,
        )
        session.commit()
        assert [p.plate for p in flagged] == ["LEA1234"]
        read = session.scalars(select(AuditEntry).where(AuditEntry.action == "traffic.passages.read")).one()
        assert read.purpose == "e-challan review"


def test_sections_api_scope_and_plates_under_plates_read_with_a_purpose(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    entry, exit_ = two_cameras(session, district.id)
    body = {
        "name": "Ring Road",
        "camera_a_id": str(entry.id),
        "camera_b_id": str(exit_.id),
        "distance_m": 2500,
        "speed_limit_kmh": 80,
    }
    operator = login_as(factory.user("operator", districts=[district]))
    assert operator.post("/api/v1/traffic/sections", json=body).status_code == 403
    officer = login_as(factory.user("traffic_officer", districts=[district]))
    created = officer.post("/api/v1/traffic/sections", json=body)
    assert created.status_code == 201, created.text
    section_id = created.json()["id"]
    duplicate = officer.post("/api/v1/traffic/sections", json=body)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate_section_name"
    same = officer.post(
        "/api/v1/traffic/sections", json={**body, "name": "Loop", "camera_b_id": str(entry.id)}
    )
    assert same.status_code == 422
    window = {"since": T0.isoformat(), "until": (T0 + dt.timedelta(hours=1)).isoformat()}
    stats = operator.get(f"/api/v1/traffic/sections/{section_id}/stats", params=window)
    assert stats.status_code == 200 and stats.json()["passages"] == 0
    # Plates: the operator holds no plates.read; the officer must say why.
    url = f"/api/v1/traffic/sections/{section_id}/passages"
    assert operator.get(url, params={**window, "purpose": "curious"}).status_code == 403
    assert officer.get(url, params=window).status_code == 422
    assert officer.get(url, params={**window, "purpose": "challan review"}).json() == []
    outsider = login_as(factory.user("traffic_officer", districts=[factory.district()]))
    assert outsider.get("/api/v1/traffic/sections").json() == []
    assert outsider.get(f"/api/v1/traffic/sections/{section_id}/stats", params=window).status_code == 404
