"""REST API of traffic, for the control room and other departments: locations and their lanes, counts and
speeds per interval, speed calibrations, sections (average speed between ANPR cameras) and road segments
with their congestion.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from safecity.analytics.schemas import LineCountOut
from safecity.core.schemas import IsoDateTime
from safecity.traffic import service as traffic
from safecity.traffic.schemas import (
    CalibrationIn,
    CalibrationOut,
    LocationOut,
    PassageOut,
    SectionIn,
    SectionOut,
    SectionStatsOut,
    SegmentIn,
    SegmentOut,
    SpeedOut,
)
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1/traffic", tags=["traffic"])


@router.get("/locations", response_model=list[LocationOut])
def list_locations(principal: CurrentPrincipal, db: Db) -> list[LocationOut]:
    """The cameras of your districts that count traffic, their lanes (counting lines) and calibrations."""
    return traffic.locations(session=db, principal=principal)


@router.get("/locations/{camera_id}", response_model=LocationOut)
def get_location(camera_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> LocationOut:
    """One location."""
    return traffic.location(session=db, principal=principal, camera_id=camera_id)


@router.get("/locations/{camera_id}/counts", response_model=list[LineCountOut], response_model_by_alias=True)
def get_counts(
    camera_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: Db,
    since: IsoDateTime,
    until: IsoDateTime,
    interval: int = 15,
    lane: uuid.UUID | None = None,
) -> list[LineCountOut]:
    """Vehicles per lane (`rule_id`), direction and class in `interval`-minute buckets (1, 5, 15, 60) starting
    in [since, until); `lane` narrows to one lane; empty buckets are left out.
    """
    rows = traffic.counts(
        session=db,
        principal=principal,
        camera_id=camera_id,
        interval=interval,
        since=since,
        until=until,
        rule_id=lane,
    )
    return [LineCountOut.of(r) for r in rows]


@router.get("/locations/{camera_id}/speeds", response_model=list[SpeedOut], response_model_by_alias=True)
def get_speeds(
    camera_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: Db,
    since: IsoDateTime,
    until: IsoDateTime,
    interval: int = 15,
) -> list[SpeedOut]:
    """Vehicle speeds per calibration and class in `interval`-minute buckets: count, mean, 85th percentile,
    maximum (km/h).
    """
    rows = traffic.speeds(
        session=db, principal=principal, camera_id=camera_id, interval=interval, since=since, until=until
    )
    return [traffic.speed_out(r) for r in rows]


@router.put("/locations/{camera_id}/calibration", response_model=CalibrationOut)
def calibrate(
    camera_id: uuid.UUID, body: CalibrationIn, principal: CurrentPrincipal, db: Db
) -> CalibrationOut:
    """Set the distance (m) between two of the camera's counting lines, to measure speeds (traffic.manage)."""
    row = traffic.calibrate(session=db, principal=principal, camera_id=camera_id, data=body)
    return CalibrationOut.model_validate(row)


@router.delete("/locations/{camera_id}/calibration/{calibration_id}", status_code=204)
def delete_calibration(
    camera_id: uuid.UUID, calibration_id: uuid.UUID, principal: CurrentPrincipal, db: Db
) -> Response:
    """Remove a calibration and the speeds it measured."""
    traffic.delete_calibration(
        session=db, principal=principal, camera_id=camera_id, calibration_id=calibration_id
    )
    return Response(status_code=204)


@router.get("/sections", response_model=list[SectionOut])
def list_sections(principal: CurrentPrincipal, db: Db) -> list[SectionOut]:
    """The sections of your districts."""
    return [SectionOut.model_validate(s) for s in traffic.list_sections(session=db, principal=principal)]


@router.post("/sections", response_model=SectionOut, status_code=201)
def create_section(body: SectionIn, principal: CurrentPrincipal, db: Db) -> SectionOut:
    """Define a section between two ANPR cameras (traffic.manage)."""
    return SectionOut.model_validate(traffic.create_section(session=db, principal=principal, data=body))


@router.delete("/sections/{section_id}", status_code=204)
def delete_section(section_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """Remove a section and its passages."""
    traffic.delete_section(session=db, principal=principal, section_id=section_id)
    return Response(status_code=204)


@router.get("/sections/{section_id}/stats", response_model=SectionStatsOut)
def section_stats(
    section_id: uuid.UUID, principal: CurrentPrincipal, db: Db, since: IsoDateTime, until: IsoDateTime
) -> SectionStatsOut:
    """Passages in [since, until): how many, mean and top average speed, how many over the limit."""
    return traffic.section_stats(
        session=db, principal=principal, section_id=section_id, since=since, until=until
    )


@router.get("/sections/{section_id}/passages", response_model=list[PassageOut])
def list_passages(
    section_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: Db,
    since: IsoDateTime,
    until: IsoDateTime,
    purpose: Annotated[str, Query(min_length=3, max_length=200)],
    over_limit: bool = False,
) -> list[PassageOut]:
    """The vehicles that passed, with plates and both sightings (plates.read; `purpose` is audited)."""
    rows = traffic.passages(
        session=db,
        principal=principal,
        section_id=section_id,
        since=since,
        until=until,
        purpose=purpose,
        over_limit_only=over_limit,
    )
    return [PassageOut.model_validate(r) for r in rows]


@router.get("/segments", response_model=list[SegmentOut])
def list_segments(principal: CurrentPrincipal, db: Db) -> list[SegmentOut]:
    """The road segments of your districts with their latest congestion level."""
    return traffic.list_segments(session=db, principal=principal)


@router.post("/segments", response_model=SegmentOut, status_code=201)
def create_segment(body: SegmentIn, principal: CurrentPrincipal, db: Db) -> SegmentOut:
    """Define a road segment measured by counting lines of one camera (traffic.manage)."""
    return traffic.create_segment(session=db, principal=principal, data=body)


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """Remove a segment."""
    traffic.delete_segment(session=db, principal=principal, segment_id=segment_id)
    return Response(status_code=204)
