"""Traffic: where traffic is counted (locations and lanes), counts and speeds read within the reader's
districts, speed calibrations, ANPR sections and their passages, road segments and their congestion.

Every change is audited; plates of section passages are personal data, read under plates.read with a
stated purpose that is audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from safecity.analytics import service as analytics
from safecity.analytics.counting import INTERVALS, bucket_start
from safecity.analytics.models import AnalyticsRule, LineCount
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.models import Sighting
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound
from safecity.traffic.models import (
    Section,
    SectionPassage,
    Segment,
    SegmentState,
    SpeedBucket,
    SpeedCalibration,
)
from safecity.traffic.schemas import (
    CalibrationIn,
    CalibrationOut,
    LaneOut,
    Level,
    LocationOut,
    SectionIn,
    SectionStatsOut,
    SegmentIn,
    SegmentOut,
    SegmentStateOut,
    SpeedOut,
)
from safecity.traffic.speeds import Calibration, SpeedKey, SpeedSum, percentile

logger = logging.getLogger(__name__)

READ = "traffic.read"
MANAGE = "traffic.manage"
COUNTING = "counting_line"
MAX_SPEED_ROWS = analytics.MAX_COUNT_ROWS
MAX_PASSAGES = 1000


# --- scope -------------------------------------------------------------------------------------------


def _camera(session: Session, principal: Principal, camera_id: uuid.UUID, *, manage: bool = False) -> Camera:
    """A camera within the principal's districts, read (or changed, with `manage`) as traffic."""
    principal.require(MANAGE if manage else READ)
    camera = session.get(Camera, camera_id)
    if camera is None or not principal.sees_district(camera.district_id):
        raise NotFound("no such camera")
    return camera


def _period(interval: int, since: dt.datetime, until: dt.datetime) -> None:
    if interval not in INTERVALS:
        raise InvalidInput(
            f"interval must be one of {', '.join(map(str, INTERVALS))} minutes", code="bad_interval"
        )
    if until <= since:
        raise InvalidInput("the end of the period must be after its start", code="bad_period")


def audit_change(
    session: Session,
    principal: Principal | None,
    action: str,
    kind: str,
    row_id: uuid.UUID,
    district: uuid.UUID | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a change of a traffic set-up row (calibration, section, segment, rule, signal …)."""
    audit.record(
        session=session,
        action=action,
        outcome="success",
        actor=principal,
        object_type=kind,
        object_id=str(row_id),
        district_id=district,
        detail=detail,
    )


# --- locations, counts and speeds ---------------------------------------------------------------------


def _lanes(session: Session, camera_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[AnalyticsRule]]:
    query = select(AnalyticsRule).where(
        AnalyticsRule.camera_id.in_(camera_ids), AnalyticsRule.kind == COUNTING
    )
    found: dict[uuid.UUID, list[AnalyticsRule]] = {}
    for rule in session.scalars(query.order_by(AnalyticsRule.name)):
        found.setdefault(rule.camera_id, []).append(rule)
    return found


def _location(
    camera: Camera, lanes: list[AnalyticsRule], calibrations: list[SpeedCalibration]
) -> LocationOut:
    return LocationOut(
        camera_id=camera.id,
        name=camera.name,
        district_id=camera.district_id,
        latitude=camera.latitude,
        longitude=camera.longitude,
        lanes=[
            LaneOut(rule_id=r.id, name=r.name, direction=str(r.config.get("direction", "both")))
            for r in lanes
        ],
        calibrations=[CalibrationOut.model_validate(c) for c in calibrations],
    )


def locations(*, session: Session, principal: Principal) -> list[LocationOut]:
    """The cameras in the principal's districts that count traffic (have counting lines), by name."""
    principal.require(READ)
    counting = select(AnalyticsRule.camera_id).where(AnalyticsRule.kind == COUNTING)
    query = select(Camera).where(Camera.id.in_(counting), principal.district_filter(Camera.district_id))
    found = list(session.scalars(query.order_by(Camera.name)))
    ids = {c.id for c in found}
    lanes = _lanes(session, ids)
    calibrations: dict[uuid.UUID, list[SpeedCalibration]] = {}
    for row in session.scalars(select(SpeedCalibration).where(SpeedCalibration.camera_id.in_(ids))):
        calibrations.setdefault(row.camera_id, []).append(row)
    return [_location(c, lanes.get(c.id, []), calibrations.get(c.id, [])) for c in found]


def location(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> LocationOut:
    """One camera as a traffic location (its lanes may be none yet)."""
    camera = _camera(session, principal, camera_id)
    rows = session.scalars(select(SpeedCalibration).where(SpeedCalibration.camera_id == camera.id))
    return _location(camera, _lanes(session, {camera.id}).get(camera.id, []), list(rows))


def counts(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    interval: int,
    since: dt.datetime,
    until: dt.datetime,
    rule_id: uuid.UUID | None = None,
) -> list[LineCount]:
    """A location's counts per lane, class and direction in `interval`-minute buckets (as analytics keep
    them), for traffic readers of the camera's district.
    """
    camera = _camera(session, principal, camera_id)
    return analytics.read_counts(
        session=session, camera_id=camera.id, interval=interval, since=since, until=until, rule_id=rule_id
    )


def speed_out(row: SpeedBucket) -> SpeedOut:
    """The API's view of a stored speed bucket: mean, 85th percentile (from the histogram) and maximum."""
    return SpeedOut(
        calibration_id=row.calibration_id,
        bucket_start=row.bucket_start,
        interval_min=row.interval_min,
        class_name=row.class_name,
        count=row.count,
        mean_kmh=round(row.sum_kmh / row.count, 1),
        p85_kmh=_round(p85(row.bins, row.max_kmh)),
        max_kmh=round(row.max_kmh, 1),
    )


def p85(bins: dict[str, int], max_kmh: float) -> float | None:
    """The 85th-percentile speed of a stored histogram (never above the fastest vehicle's speed)."""
    found = percentile({int(k): n for k, n in bins.items()}, 0.85)
    return None if found is None else min(found, max_kmh)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def speeds(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    interval: int,
    since: dt.datetime,
    until: dt.datetime,
) -> list[SpeedBucket]:
    """A location's speeds per calibration and class in `interval`-minute buckets in [since, until)."""
    camera = _camera(session, principal, camera_id)
    _period(interval, since, until)
    query = select(SpeedBucket).where(
        SpeedBucket.camera_id == camera.id,
        SpeedBucket.interval_min == interval,
        SpeedBucket.bucket_start >= since,
        SpeedBucket.bucket_start < until,
    )
    order = (SpeedBucket.calibration_id, SpeedBucket.bucket_start, SpeedBucket.class_name)
    found = list(session.scalars(query.order_by(*order).limit(MAX_SPEED_ROWS + 1)))
    if len(found) > MAX_SPEED_ROWS:
        raise InvalidInput(
            "too many speeds in that period: shorten it or choose a longer interval", code="too_many_speeds"
        )
    return found


def add_speeds(*, session: Session, rows: dict[SpeedKey, SpeedSum]) -> int:
    """Add measured speeds to the stored buckets (read, merge, write); returns the rows. Does not commit.

    Only the analytics' one flush thread per camera writes a camera's speeds, so merging in Python is safe;
    speeds of a calibration removed since they were measured are dropped.
    """
    ids = {k.calibration_id for k in rows}
    alive = set(session.scalars(select(SpeedCalibration.id).where(SpeedCalibration.id.in_(ids))))
    written = 0
    for key, add in rows.items():
        if key.calibration_id not in alive:
            continue
        pk = (key.calibration_id, key.interval_min, key.bucket_start, key.class_name)
        row = session.get(SpeedBucket, pk, with_for_update=True)
        if row is None:
            row = SpeedBucket(
                calibration_id=key.calibration_id,
                interval_min=key.interval_min,
                bucket_start=key.bucket_start,
                class_name=key.class_name,
                camera_id=key.camera_id,
                count=0,
                sum_kmh=0.0,
                max_kmh=0.0,
                bins={},
            )
            session.add(row)
        bins = Counter({int(k): n for k, n in row.bins.items()}) + add.bins
        row.count += add.count
        row.sum_kmh += add.sum_kmh
        row.max_kmh = max(row.max_kmh, add.max_kmh)
        row.bins = {str(k): n for k, n in sorted(bins.items())}
        written += 1
    session.flush()
    return written


# --- calibrations --------------------------------------------------------------------------------------


def calibrations(*, session: Session) -> list[Calibration]:
    """Every calibration, as the analytics measure with them."""
    return [
        Calibration(c.id, c.camera_id, c.line_a_id, c.line_b_id, c.distance_m, c.speed_limit_kmh)
        for c in session.scalars(select(SpeedCalibration))
    ]


def calibrate(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, data: CalibrationIn
) -> SpeedCalibration:
    """Store (or change) the distance between two of the camera's counting lines; audited."""
    camera = _camera(session, principal, camera_id, manage=True)
    for line in (data.line_a_id, data.line_b_id):
        rule = session.get(AnalyticsRule, line)
        if rule is None or rule.camera_id != camera.id or rule.kind != COUNTING:
            raise InvalidInput("both lines must be counting lines of this camera", code="not_a_counting_line")
    pair = {data.line_a_id, data.line_b_id}
    row = session.scalars(
        select(SpeedCalibration).where(
            SpeedCalibration.line_a_id.in_(pair), SpeedCalibration.line_b_id.in_(pair)
        )
    ).first()
    if row is None:
        row = SpeedCalibration(camera_id=camera.id)
        session.add(row)
    row.line_a_id, row.line_b_id = data.line_a_id, data.line_b_id
    row.distance_m, row.speed_limit_kmh = data.distance_m, data.speed_limit_kmh
    row.updated_at, row.updated_by = utcnow(), principal.user_id
    session.flush()
    audit_change(
        session,
        principal,
        "traffic.calibration.set",
        "camera",
        camera.id,
        camera.district_id,
        {
            "calibration_id": str(row.id),
            "distance_m": data.distance_m,
            "speed_limit_kmh": data.speed_limit_kmh,
        },
    )
    return row


def delete_calibration(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, calibration_id: uuid.UUID
) -> None:
    """Remove a calibration and the speeds it measured; audited."""
    camera = _camera(session, principal, camera_id, manage=True)
    row = session.get(SpeedCalibration, calibration_id)
    if row is None or row.camera_id != camera.id:
        raise NotFound("no such calibration on this camera")
    session.delete(row)
    session.flush()
    audit_change(
        session,
        principal,
        "traffic.calibration.delete",
        "camera",
        camera.id,
        camera.district_id,
        {"calibration_id": str(calibration_id)},
    )


# --- sections ------------------------------------------------------------------------------------------


def create_section(*, session: Session, principal: Principal, data: SectionIn) -> Section:
    """Define a section between two cameras of the principal's districts (in B's district); audited."""
    _camera(session, principal, data.camera_a_id, manage=True)
    camera_b = _camera(session, principal, data.camera_b_id, manage=True)
    if session.scalars(select(Section.id).where(Section.name == data.name)).first() is not None:
        raise Conflict(f"a section named {data.name!r} exists", code="duplicate_section_name")
    row = Section(**data.model_dump(), district_id=camera_b.district_id, created_by=principal.user_id)
    session.add(row)
    session.flush()
    audit_change(session, principal, "traffic.section.create", "traffic_section", row.id, row.district_id)
    return row


def list_sections(*, session: Session, principal: Principal) -> list[Section]:
    """The sections of the principal's districts, by name."""
    principal.require(READ)
    query = select(Section).where(principal.district_filter(Section.district_id))
    return list(session.scalars(query.order_by(Section.name)))


def _section(
    session: Session, principal: Principal, section_id: uuid.UUID, permission: str = READ
) -> Section:
    principal.require(permission)
    row = session.get(Section, section_id)
    if row is None or not principal.sees_district(row.district_id):
        raise NotFound("no such section")
    return row


def delete_section(*, session: Session, principal: Principal, section_id: uuid.UUID) -> None:
    """Remove a section and its passages; audited."""
    principal.require(MANAGE)
    row = _section(session, principal, section_id)
    session.delete(row)
    session.flush()
    audit_change(session, principal, "traffic.section.delete", "traffic_section", section_id, row.district_id)


def section_stats(
    *, session: Session, principal: Principal, section_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> SectionStatsOut:
    """How many vehicles passed the section in [since, until), how fast, how many over its limit."""
    row = _section(session, principal, section_id)
    if until <= since:
        raise InvalidInput("the end of the period must be after its start", code="bad_period")
    passages, mean, top, over = session.execute(
        select(
            func.count(SectionPassage.id),
            func.avg(SectionPassage.speed_kmh),
            func.max(SectionPassage.speed_kmh),
            func.coalesce(func.sum(case((SectionPassage.over_limit, 1), else_=0)), 0),
        ).where(
            SectionPassage.section_id == row.id,
            SectionPassage.exited_at >= since,
            SectionPassage.exited_at < until,
        )
    ).one()
    return SectionStatsOut(
        section_id=row.id,
        passages=int(passages),
        mean_kmh=_round(None if mean is None else float(mean)),
        max_kmh=_round(None if top is None else float(top)),
        over_limit=int(over),
    )


def passages(
    *,
    session: Session,
    principal: Principal,
    section_id: uuid.UUID,
    since: dt.datetime,
    until: dt.datetime,
    purpose: str,
    over_limit_only: bool = False,
) -> list[SectionPassage]:
    """The vehicles (plates) that passed a section, newest first: personal data, so plates.read and an
    audited purpose.
    """
    row = _section(session, principal, section_id, plates.READ)  # investigators too, without traffic.read
    if until <= since:
        raise InvalidInput("the end of the period must be after its start", code="bad_period")
    query = select(SectionPassage).where(
        SectionPassage.section_id == row.id,
        SectionPassage.exited_at >= since,
        SectionPassage.exited_at < until,
    )
    if over_limit_only:
        query = query.where(SectionPassage.over_limit.is_(True))
    found = list(session.scalars(query.order_by(SectionPassage.exited_at.desc()).limit(MAX_PASSAGES)))
    audit.record(
        session=session,
        action="traffic.passages.read",
        outcome="success",
        actor=principal,
        object_type="traffic_section",
        object_id=str(row.id),
        purpose=purpose,
        district_id=row.district_id,
        detail={"since": since.isoformat(), "until": until.isoformat(), "rows": len(found)},
    )
    return found


def match_sighting(
    *,
    session: Session,
    sighting_id: uuid.UUID,
    camera_id: uuid.UUID,
    plate: str,
    seen_at: dt.datetime,
    vehicle_class: str | None,
) -> list[SectionPassage]:
    """Pair a plate read at the exit camera of sections with its latest read at their entry camera within
    the section's `max_travel_s`: one passage per section, with its average speed. Does not commit.

    A sighting already paired (a redelivered message) gives nothing new.
    """
    found = []
    for section in session.scalars(select(Section).where(Section.camera_b_id == camera_id)):
        done = select(SectionPassage.id).where(
            SectionPassage.section_id == section.id, SectionPassage.sighting_b_id == sighting_id
        )
        if session.scalars(done).first() is not None:
            continue
        entry = session.scalars(
            select(Sighting)
            .where(
                Sighting.plate == plate,
                Sighting.camera_id == section.camera_a_id,
                Sighting.seen_at < seen_at,
                Sighting.seen_at >= seen_at - dt.timedelta(seconds=section.max_travel_s),
            )
            .order_by(Sighting.seen_at.desc())
            .limit(1)
        ).first()
        if entry is None:
            continue
        kmh = section.distance_m / (seen_at - entry.seen_at).total_seconds() * 3.6
        passage = SectionPassage(
            section_id=section.id,
            district_id=section.district_id,
            plate=plate,
            sighting_a_id=entry.id,
            sighting_b_id=sighting_id,
            entered_at=entry.seen_at,
            exited_at=seen_at,
            speed_kmh=round(kmh, 2),
            over_limit=kmh > section.speed_limit_kmh,
            vehicle_class=vehicle_class or entry.vehicle_class,
        )
        session.add(passage)
        found.append(passage)
    session.flush()
    return found


# --- segments and congestion ---------------------------------------------------------------------------

WINDOW_MIN = 5  # flow and speed are judged over the last few complete minutes
# The speed ratio (measured / free-flow) bounds of the levels: HCM's urban street levels of service by
# percent of base free-flow speed (B > 67 %, C > 50 %, E > 30 %), folded into four.
FREE_RATIO, MODERATE_RATIO = 0.67, 0.5
# Flow over capacity (v/c) bounds: below 0.6 traffic flows freely, above 0.85 it is near capacity.
FREE_VC, MODERATE_VC = 0.6, 0.85
NORMAL_PER_HOUR = 60  # a lane "normally flows" when the hour before its silence carried this many
_ORDER = [Level.FREE, Level.MODERATE, Level.HEAVY, Level.JAM]


def congestion_level(
    *, flow_vph: float, capacity_vph: float, speed_ratio: float | None, jam_ratio: float
) -> Level:
    """How congested a road is, the worse of two judgements:

    - by speed, r = measured mean speed / free-flow speed: r > 0.67 free, r > 0.5 moderate,
      r > jam_ratio heavy, else jam (HCM urban levels of service A-B, C, D-E, F);
    - by flow, v/c = flow / capacity: v/c < 0.6 free, v/c < 0.85 moderate, else heavy. Flow alone never
      says jam: a jammed road carries little, which only its speed (or a stopped lane) shows.

    With no speed measured, the flow alone decides.
    """
    ratio = flow_vph / capacity_vph if capacity_vph > 0 else 0.0
    by_flow = Level.FREE if ratio < FREE_VC else Level.MODERATE if ratio < MODERATE_VC else Level.HEAVY
    if speed_ratio is None:
        return by_flow
    if speed_ratio > FREE_RATIO:
        by_speed = Level.FREE
    elif speed_ratio > MODERATE_RATIO:
        by_speed = Level.MODERATE
    elif speed_ratio > jam_ratio:
        by_speed = Level.HEAVY
    else:
        by_speed = Level.JAM
    return max(by_flow, by_speed, key=_ORDER.index)


@dataclass(frozen=True)
class TrafficAlert:
    """An alert a segment's evaluation asks for."""

    kind: str
    title: str
    camera_id: uuid.UUID
    dedup_key: str
    detail: dict[str, Any] = field(default_factory=dict)


def _segment_lines(segment: Segment) -> list[uuid.UUID]:
    return [uuid.UUID(x) for x in segment.line_ids]


def _minute_counts(
    session: Session, lines: list[uuid.UUID], since: dt.datetime, until: dt.datetime
) -> dict[uuid.UUID, dict[dt.datetime, int]]:
    query = (
        select(LineCount.rule_id, LineCount.bucket_start, func.sum(LineCount.count))
        .where(
            LineCount.rule_id.in_(lines),
            LineCount.interval_min == 1,
            LineCount.bucket_start >= since,
            LineCount.bucket_start < until,
        )
        .group_by(LineCount.rule_id, LineCount.bucket_start)
    )
    found: dict[uuid.UUID, dict[dt.datetime, int]] = {}
    for rule_id, start, n in session.execute(query):
        found.setdefault(rule_id, {})[start] = int(n)
    return found


def _minute_speeds(
    session: Session, segment: Segment, since: dt.datetime, until: dt.datetime
) -> dict[dt.datetime, tuple[int, float]]:
    """(vehicles, summed km/h) per minute measured by the calibrations between the segment's lines."""
    lines = _segment_lines(segment)
    calibrated = select(SpeedCalibration.id).where(
        SpeedCalibration.line_a_id.in_(lines) | SpeedCalibration.line_b_id.in_(lines)
    )
    query = (
        select(SpeedBucket.bucket_start, func.sum(SpeedBucket.count), func.sum(SpeedBucket.sum_kmh))
        .where(
            SpeedBucket.calibration_id.in_(calibrated),
            SpeedBucket.interval_min == 1,
            SpeedBucket.bucket_start >= since,
            SpeedBucket.bucket_start < until,
        )
        .group_by(SpeedBucket.bucket_start)
    )
    return {start: (int(n), float(total)) for start, n, total in session.execute(query)}


def evaluate_segment(
    *, session: Session, segment: Segment, now: dt.datetime
) -> tuple[SegmentState, list[TrafficAlert]]:
    """Judge a segment over the complete minutes before `now`, store its state, and say what to alert.

    - level: `congestion_level` over the last WINDOW_MIN minutes (flow of all its lanes; mean speed of
      the calibrations between its lines);
    - jam: in each of the last `jam_minutes` minutes in which speeds were measured the mean was below
      `jam_ratio` x free-flow, and speeds were measured in at least half of those minutes (a crawling
      queue still crosses the lines now and then);
    - stopped lane: a lane that carried NORMAL_PER_HOUR vehicles in the hour before and none in the last
      `stopped_minutes` minutes (at one a minute, that many silent minutes by chance are unlikely: e^-N).

    An alert is asked for when a jam or a stopped lane begins (not again while it lasts). Does not commit.
    """
    end = bucket_start(now, 1)
    lines = _segment_lines(segment)
    longest = max(WINDOW_MIN, segment.jam_minutes, segment.stopped_minutes)
    counts = _minute_counts(session, lines, end - dt.timedelta(minutes=longest + 60), end)
    speeds = _minute_speeds(session, segment, end - dt.timedelta(minutes=longest), end)

    def minutes(n: int) -> list[dt.datetime]:
        return [end - dt.timedelta(minutes=i) for i in range(n, 0, -1)]

    window = minutes(WINDOW_MIN)
    flow = sum(counts.get(line, {}).get(m, 0) for line in lines for m in window) * 60 / WINDOW_MIN
    measured = [speeds[m] for m in window if m in speeds]
    mean = sum(s for _, s in measured) / sum(n for n, _ in measured) if measured else None
    ratio = None if mean is None else mean / segment.free_flow_kmh
    level = congestion_level(
        flow_vph=flow,
        capacity_vph=segment.capacity_vph * segment.lanes,
        speed_ratio=ratio,
        jam_ratio=segment.jam_ratio,
    )
    jam_window = [speeds[m] for m in minutes(segment.jam_minutes) if m in speeds]
    jammed = 2 * len(jam_window) >= segment.jam_minutes and all(
        total / n < segment.jam_ratio * segment.free_flow_kmh for n, total in jam_window
    )
    quiet = minutes(segment.stopped_minutes)
    before_start = quiet[0] - dt.timedelta(minutes=60)
    stopped = []
    for line in lines:
        by_minute = counts.get(line, {})
        earlier = sum(n for m, n in by_minute.items() if before_start <= m < quiet[0])
        if earlier >= NORMAL_PER_HOUR and not any(by_minute.get(m, 0) for m in quiet):
            stopped.append(str(line))
    state = session.get(SegmentState, segment.id)
    was_jammed, was_stopped = (state.jammed, set(state.stopped_lanes)) if state else (False, set())
    if state is None:
        state = SegmentState(segment_id=segment.id)
        session.add(state)
    state.evaluated_at, state.level, state.flow_vph = now, level.value, round(flow, 1)
    state.speed_kmh = _round(mean)
    state.jammed, state.stopped_lanes = jammed, stopped
    state.detail = {"speed_ratio": _round(ratio), "measured": sum(n for n, _ in measured)}
    session.flush()
    alerts = []
    if jammed and not was_jammed:
        alerts.append(
            TrafficAlert(
                "traffic.jam",
                f"Traffic jam on {segment.name}",
                segment.camera_id,
                f"traffic:jam:{segment.id}",
                {"segment_id": str(segment.id), "speed_kmh": _round(mean), "minutes": segment.jam_minutes},
            )
        )
    names = {
        str(r.id): r.name for r in session.scalars(select(AnalyticsRule).where(AnalyticsRule.id.in_(lines)))
    }
    for lane in stopped:
        if lane not in was_stopped:
            alerts.append(
                TrafficAlert(
                    "traffic.stopped_lane",
                    f"Lane {names.get(lane, lane)} of {segment.name} has stopped",
                    segment.camera_id,
                    f"traffic:stopped:{segment.id}:{lane}",
                    {"segment_id": str(segment.id), "rule_id": lane, "minutes": segment.stopped_minutes},
                )
            )
    return state, alerts


def all_segments(*, session: Session) -> list[Segment]:
    """Every segment, for the periodic evaluation."""
    return list(session.scalars(select(Segment)))


def _segment_out(row: Segment, state: SegmentState | None) -> SegmentOut:
    return SegmentOut(
        id=row.id,
        name=row.name,
        district_id=row.district_id,
        camera_id=row.camera_id,
        line_ids=_segment_lines(row),
        path=[(p[0], p[1]) for p in row.path],
        free_flow_kmh=row.free_flow_kmh,
        capacity_vph=row.capacity_vph,
        lanes=row.lanes,
        jam_ratio=row.jam_ratio,
        jam_minutes=row.jam_minutes,
        stopped_minutes=row.stopped_minutes,
        state=None if state is None else SegmentStateOut.model_validate(state),
    )


def list_segments(*, session: Session, principal: Principal) -> list[SegmentOut]:
    """The segments of the principal's districts with their latest congestion, by name."""
    principal.require(READ)
    query = select(Segment, SegmentState).outerjoin(SegmentState, SegmentState.segment_id == Segment.id)
    query = query.where(principal.district_filter(Segment.district_id)).order_by(Segment.name)
    return [_segment_out(row, state) for row, state in session.execute(query)]


def create_segment(*, session: Session, principal: Principal, data: SegmentIn) -> SegmentOut:
    """Define a segment measured by counting lines of one camera (in its district); audited."""
    camera = _camera(session, principal, data.camera_id, manage=True)
    for line in data.line_ids:
        rule = session.get(AnalyticsRule, line)
        if rule is None or rule.camera_id != camera.id or rule.kind != COUNTING:
            raise InvalidInput("the lanes must be counting lines of the camera", code="not_a_counting_line")
    if session.scalars(select(Segment.id).where(Segment.name == data.name)).first() is not None:
        raise Conflict(f"a segment named {data.name!r} exists", code="duplicate_segment_name")
    if not all(math.isfinite(v) for p in data.path for v in p):
        raise InvalidInput("path points must be numbers", code="bad_path")
    row = Segment(
        **data.model_dump(exclude={"line_ids", "path"}),
        line_ids=[str(x) for x in dict.fromkeys(data.line_ids)],
        path=[[lat, lon] for lat, lon in data.path],
        district_id=camera.district_id,
        created_by=principal.user_id,
    )
    session.add(row)
    session.flush()
    audit_change(session, principal, "traffic.segment.create", "traffic_segment", row.id, row.district_id)
    return _segment_out(row, None)


def delete_segment(*, session: Session, principal: Principal, segment_id: uuid.UUID) -> None:
    """Remove a segment; audited."""
    principal.require(MANAGE)
    row = session.get(Segment, segment_id)
    if row is None or not principal.sees_district(row.district_id):
        raise NotFound("no such segment")
    session.delete(row)
    session.flush()
    audit_change(session, principal, "traffic.segment.delete", "traffic_segment", segment_id, row.district_id)
