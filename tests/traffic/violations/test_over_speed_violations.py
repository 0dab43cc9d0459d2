"""Over-speed violations: from the speeds measured between two calibrated lines as the analytics' flush
writes them, and from section passages as section control pairs the plates; over the limit plus the
tolerance only, with the measurement's parameters recorded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from violation_world import OFFICER, T0, camera, draw

from conftest import Factory, wait_until_async
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import SightingIn, SightingOut
from safecity.analytics.rules import Firing
from safecity.analytics.schemas import rule_adapter
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.bus import MemoryBus
from safecity.core.crypto import SecretBox
from safecity.core.db import transaction
from safecity.traffic import flows as traffic_flows
from safecity.traffic import service as traffic
from safecity.traffic.models import SectionPassage
from safecity.traffic.schemas import CalibrationIn, SectionIn
from safecity.traffic.speeds import SpeedBook
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import Offence, Violation, ViolationStatus
from safecity.traffic.violations.schemas import EnforcementRuleIn, EnforcementRuleUpdate

MANAGER = Principal(
    None,
    "traffic-engineer",
    frozenset({"cameras.read", "analytics.manage", "traffic.read", "traffic.manage", "plates.read"}),
    None,
    via="system",
)


def firing(rule_id: uuid.UUID, track: int, cls: str = "car") -> Firing:
    """A counting line's firing, as the rule engine reports it."""
    config = rule_adapter.validate_python(
        {"kind": "counting_line", "name": "x", "line": [[0.3, 0], [0.3, 1]]}
    )
    detail = {"crossings": [{"track_id": track, "class": cls, "direction": "left_to_right"}]}
    return Firing(rule_id, config, (track,), detail)


def factory_of(session: Session, settings: Settings) -> Factory:
    return Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa"))


def test_speeds_between_calibrated_lines_over_limit_and_tolerance_are_violations(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    _, factory_db = own_db
    with transaction(factory_db) as session:
        cam = camera(session, factory_of(session, settings).district().id, "Ring Road")
        a = draw(session, cam.id, {"kind": "counting_line", "name": "Line A", "line": [[0.3, 0], [0.3, 1]]})
        b = draw(session, cam.id, {"kind": "counting_line", "name": "Line B", "line": [[0.7, 0], [0.7, 1]]})
        calibration = traffic.calibrate(
            session=session,
            principal=MANAGER,
            camera_id=cam.id,
            data=CalibrationIn(line_a_id=a, line_b_id=b, distance_m=20.0, speed_limit_kmh=50),
        )
        rule = violations.create_rule(
            session=session,
            principal=OFFICER,
            data=EnforcementRuleIn(
                name="Ring Road 50",
                camera_id=cam.id,
                offence=Offence.OVER_SPEED,
                calibration_id=calibration.id,
                params={"tolerance_kmh": 5},
            ),
        )
        camera_id, calibration_id, rule_id = cam.id, calibration.id, rule.id
    book = SpeedBook()
    # 20 m in 1.0 s: 72 km/h; in 1.36 s: 52.9 (over 50, within the 5 km/h tolerance); in 2.0 s: 36.
    for track, seconds in ((1, 1.0), (2, 1.36), (3, 2.0)):
        book.add(camera_id, firing(a, track), T0)
        book.add(
            camera_id, firing(b, track, "truck" if track == 1 else "car"), T0 + dt.timedelta(seconds=seconds)
        )
    written = traffic_flows.flush_speeds(book, factory_db)
    assert sorted(round(s.kmh) for s in written) == [36, 53, 72]
    with factory_db() as session:
        (found,) = session.scalars(select(Violation))
        assert found.offence == Offence.OVER_SPEED and found.rule_id == rule_id
        assert found.status == ViolationStatus.COLLECTING and found.camera_id == camera_id
        assert (
            found.track_id == 1
            and found.vehicle_class == "large"
            and found.occurred_at == T0 + dt.timedelta(seconds=1)
        )
        assert found.source_key == f"speed:{calibration_id}:1:{(T0 + dt.timedelta(seconds=1)).isoformat()}"
        measured = found.measured
        assert measured["method"] == "two_lines" and measured["speed_kmh"] == 72.0
        assert measured["limit_kmh"] == 50 and measured["tolerance_kmh"] == 5
        assert measured["calibration"]["distance_m"] == 20.0 and measured["direction"] == "a_to_b"
        # The same speeds written again (a retried flush) make nothing new.
        assert violations.record_speeds(session=session, speeds=written) == []
    # A rule's own limit overrides the calibration's: at 45 km/h + 5 the 52.9 km/h car is over.
    with transaction(factory_db) as session:
        violations.update_rule(
            session=session,
            principal=OFFICER,
            rule_id=rule_id,
            data=EnforcementRuleUpdate(params={"limit_kmh": 45, "tolerance_kmh": 5}),
        )
        made = violations.record_speeds(session=session, speeds=written)
        assert [(v.track_id, v.measured["limit_kmh"]) for v in made] == [(2, 45)]


@pytest.mark.anyio
async def test_section_passages_over_the_limit_are_violations_at_the_exit_camera(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    _, factory_db = own_db
    with transaction(factory_db) as session:
        district = factory_of(session, settings).district()
        entry, exit_ = camera(session, district.id, "Toll plaza"), camera(session, district.id, "Bridge")
        section = traffic.create_section(
            session=session,
            principal=MANAGER,
            data=SectionIn(
                name=f"Motorway {uuid.uuid4().hex[:4]}",
                camera_a_id=entry.id,
                camera_b_id=exit_.id,
                distance_m=1000,
                speed_limit_kmh=60,
                max_travel_s=600,
            ),
        )
        rule = violations.create_rule(
            session=session,
            principal=OFFICER,
            data=EnforcementRuleIn(
                name="Motorway average speed",
                camera_id=exit_.id,
                offence=Offence.OVER_SPEED,
                section_id=section.id,
                params={"tolerance_kmh": 5},
            ),
        )

        def read(cam: Camera, plate: str, seconds: float, track: int) -> SightingOut:
            at = T0 + dt.timedelta(seconds=seconds)
            row = plates.record(
                session=session,
                sighting=SightingIn(
                    camera_id=cam.id,
                    district_id=cam.district_id,
                    seen_at=at,
                    first_seen=at - dt.timedelta(seconds=1),
                    last_seen=at + dt.timedelta(seconds=1),
                    plate=plate,
                    confidence=0.94,
                    layout="pk-kp",
                    jurisdiction="KP",
                    vehicle_class="car",
                    colour="white",
                    track_id=track,
                ),
            )
            return SightingOut.model_validate(row)

        reads = [
            read(entry, "LEA1234", 0, 1),
            read(entry, "PSH777", 0, 2),
            read(entry, "KHI55", 0, 3),
            read(exit_, "LEA1234", 50, 11),  # 72 km/h: over 60 + 5
            read(exit_, "PSH777", 57, 12),  # 63.2 km/h: over 60, within the tolerance
            read(exit_, "KHI55", 100, 13),  # 36 km/h
        ]
        rule_id, exit_id = rule.id, exit_.id
    bus = MemoryBus()
    await bus.start()
    stop = asyncio.Event()
    consumer = asyncio.create_task(
        traffic_flows.section_control_from_bus(bus=bus, session_factory=factory_db, stop=stop)
    )

    def passages() -> int:
        with factory_db() as session:
            return len(list(session.scalars(select(SectionPassage))))

    try:
        for out in [*reads, reads[3]]:  # the fast one's exit read twice: still one passage, one violation
            await bus.publish(plates.subject(out.camera_id), out.model_dump_json().encode())
        await wait_until_async(lambda: asyncio.to_thread(lambda: passages() == 3), within=10)
        await asyncio.sleep(0.3)  # the redelivered read, after them
    finally:
        stop.set()
        await asyncio.wait_for(consumer, 10)
        await bus.close()
    with factory_db() as session:
        (found,) = session.scalars(select(Violation))
        passage = session.scalars(select(SectionPassage).where(SectionPassage.plate == "LEA1234")).one()
    assert found.offence == Offence.OVER_SPEED and found.rule_id == rule_id and found.camera_id == exit_id
    assert found.source_key == f"passage:{passage.id}" and found.occurred_at == passage.exited_at
    assert (
        found.plate_read == "LEA1234" and found.plate_confidence == 0.94 and found.sighting_id == reads[3].id
    )
    assert found.track_id == 11 and found.colour == "white" and found.vehicle_class == "car"
    measured = found.measured
    assert measured["method"] == "section" and measured["speed_kmh"] == 72.0 and measured["limit_kmh"] == 60
    assert measured["tolerance_kmh"] == 5 and measured["travel_s"] == 50.0
    assert measured["section"]["distance_m"] == 1000 and measured["sighting_a_id"] == str(reads[0].id)
