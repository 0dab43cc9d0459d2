"""Response-time KPIs: time to dispatch and to arrive per district, category and agency, and per day."""

from __future__ import annotations

import datetime as dt
import logging
import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.auth.principal import Principal
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput
from safecity.dispatch.models import Agency, Assignment, Unit
from safecity.incidents.kpis.schemas import Day, Figures, Group, Report
from safecity.incidents.models import Category, Incident, Status
from safecity.org.models import District

logger = logging.getLogger(__name__)

READ = "kpis.read"
DEFAULT_DISPATCH_TARGET_S = 60
DEFAULT_ARRIVAL_TARGET_S = 600
DEFAULT_GOAL_SHARE = 0.9  # 90 % of incidents should meet each target
DEFAULT_PERIOD = dt.timedelta(days=30)
MAX_PERIOD = dt.timedelta(days=366)
CLOSED = (Status.RESOLVED, Status.CLOSED)


@dataclass
class _Times:
    """Time to dispatch and to arrive of one incident (overall, or for the units of one agency), how long
    ago it was opened and whether it is closed (an open one may still be sent a unit in time)."""

    age_s: float
    closed: bool
    dispatch_s: float | None = None
    arrival_s: float | None = None


@dataclass
class _Row:
    """One incident in the period with its response times, overall and per agency."""

    district_id: uuid.UUID
    district_name: str
    category: Category
    created_at: dt.datetime
    overall: _Times
    by_agency: dict[tuple[str, str], _Times] = field(default_factory=dict)  # (code, name)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


def _earliest(current: float | None, value: float | None) -> float | None:
    if value is None:
        return current
    return value if current is None else min(current, value)


def _seconds(start: dt.datetime, end: dt.datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


def _period(since: dt.datetime | None, until: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    for value in (since, until):
        if value is not None and value.tzinfo is None:
            raise InvalidInput("give times with a time zone (e.g. 2026-11-01T00:00:00+05:00)")
    until = until or utcnow()
    since = since or until - DEFAULT_PERIOD
    if since >= until:
        raise InvalidInput("'since' must be before 'until'")
    if until - since > MAX_PERIOD:
        raise InvalidInput("the period is at most 366 days")
    return since, until


def _fetch(session: Session, principal: Principal, since: dt.datetime, until: dt.datetime) -> list[_Row]:
    # One query: every incident opened in the period with each of its assignments (if any) and agency.
    query = (
        select(
            Incident.id,
            Incident.district_id,
            District.name,
            Incident.category,
            Incident.created_at,
            Incident.status,
            Assignment.assigned_at,
            Assignment.arrived_at,
            Agency.code,
            Agency.name,
        )
        .join(District, District.id == Incident.district_id)
        .outerjoin(Assignment, Assignment.incident_id == Incident.id)
        .outerjoin(Unit, Unit.id == Assignment.unit_id)
        .outerjoin(Agency, Agency.id == Unit.agency_id)
        .where(
            principal.district_filter(Incident.district_id),
            Incident.created_at >= since,
            Incident.created_at < until,
        )
    )
    rows: dict[uuid.UUID, _Row] = {}
    now = utcnow()
    for (
        incident_id,
        district_id,
        district_name,
        category,
        created,
        status,
        assigned,
        arrived,
        agency_code,
        agency_name,
    ) in session.execute(query):
        age_s, closed = (now - created).total_seconds(), status in CLOSED
        row = rows.get(incident_id)
        if row is None:
            row = rows[incident_id] = _Row(
                district_id, district_name, category, created, _Times(age_s, closed)
            )
        if assigned is None:
            continue
        dispatch_s, arrival_s = _seconds(created, assigned), _seconds(created, arrived)
        agency = row.by_agency.setdefault((agency_code, agency_name), _Times(age_s, closed))
        # The first unit sent and the first unit on scene count, whichever assignments they were.
        for times in (row.overall, agency):
            times.dispatch_s = _earliest(times.dispatch_s, dispatch_s)
            times.arrival_s = _earliest(times.arrival_s, arrival_s)
    return list(rows.values())


def judge(value_s: float | None, *, target_s: int, age_s: float, closed: bool) -> str:
    """Whether one incident met a target: "within", "missed", or "pending" (still open, not yet past it).

    An incident never dispatched (or never reached) is missed once it is closed or older than the target:
    a response that did not happen is not a response in time.
    """
    if value_s is not None:
        return "within" if value_s <= target_s else "missed"
    return "missed" if closed or age_s > target_s else "pending"


def _tally(verdicts: list[str]) -> tuple[int, int, int, float | None]:
    within, missed = verdicts.count("within"), verdicts.count("missed")
    judged = within + missed
    return within, missed, verdicts.count("pending"), (within / judged if judged else None)


def _figures(times: Iterable[_Times], *, dispatch_target_s: int, arrival_target_s: int) -> Figures:
    """Counts, median, 90th percentile and share within target of response times; the share counts every
    incident judged (undispatched ones as missed), not only those a unit was sent to."""
    listed = list(times)
    dispatch = [t.dispatch_s for t in listed if t.dispatch_s is not None]
    arrival = [t.arrival_s for t in listed if t.arrival_s is not None]
    d_within, d_missed, d_pending, d_share = _tally(
        [judge(t.dispatch_s, target_s=dispatch_target_s, age_s=t.age_s, closed=t.closed) for t in listed]
    )
    a_within, a_missed, a_pending, a_share = _tally(
        [judge(t.arrival_s, target_s=arrival_target_s, age_s=t.age_s, closed=t.closed) for t in listed]
    )
    return Figures(
        count=len(listed),
        dispatched=len(dispatch),
        arrived=len(arrival),
        dispatch_median_s=statistics.median(dispatch) if dispatch else None,
        dispatch_p90_s=percentile(dispatch, 90) if dispatch else None,
        dispatch_within_share=d_share,
        dispatch_within=d_within,
        dispatch_missed=d_missed,
        dispatch_pending=d_pending,
        arrival_median_s=statistics.median(arrival) if arrival else None,
        arrival_p90_s=percentile(arrival, 90) if arrival else None,
        arrival_within_share=a_share,
        arrival_within=a_within,
        arrival_missed=a_missed,
        arrival_pending=a_pending,
    )


def response_report(
    *,
    session: Session,
    principal: Principal,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    dispatch_target_s: int = DEFAULT_DISPATCH_TARGET_S,
    arrival_target_s: int = DEFAULT_ARRIVAL_TARGET_S,
    goal_share: float = DEFAULT_GOAL_SHARE,
) -> Report:
    """Response-time figures of the incidents opened in [since, until) within the principal's districts."""
    principal.require(READ)
    if dispatch_target_s <= 0 or arrival_target_s <= 0 or not 0 < goal_share <= 1:
        raise InvalidInput("targets must be positive and the goal share within (0, 1]")
    since, until = _period(since, until)
    rows = _fetch(session, principal, since, until)
    targets = {"dispatch_target_s": dispatch_target_s, "arrival_target_s": arrival_target_s}

    def groups(keyed: dict[tuple[str, str], list[_Times]]) -> list[Group]:
        return [
            Group(key=key, label=label, figures=_figures(times, **targets))
            for (key, label), times in sorted(keyed.items(), key=lambda item: item[0][1])
        ]

    by_district: dict[tuple[str, str], list[_Times]] = defaultdict(list)
    by_category: dict[tuple[str, str], list[_Times]] = defaultdict(list)
    by_agency: dict[tuple[str, str], list[_Times]] = defaultdict(list)
    for row in rows:
        by_district[(str(row.district_id), row.district_name)].append(row.overall)
        by_category[(row.category.value, row.category.value.replace("_", " "))].append(row.overall)
        for agency, times in row.by_agency.items():
            by_agency[agency].append(times)
    logger.debug("kpi report over %s incidents", len(rows))
    return Report(
        since=since,
        until=until,
        goal_share=goal_share,
        overall=_figures((r.overall for r in rows), **targets),
        by_district=groups(by_district),
        by_category=groups(by_category),
        by_agency=groups(by_agency),
        **targets,
    )


def daily(
    *,
    session: Session,
    principal: Principal,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    timezone: str = "Asia/Karachi",
) -> list[Day]:
    """Per local day of the period (empty days included): incidents opened and median response times."""
    principal.require(READ)
    since, until = _period(since, until)
    zone = ZoneInfo(timezone)
    per_day: dict[dt.date, list[_Times]] = defaultdict(list)
    for row in _fetch(session, principal, since, until):
        per_day[row.created_at.astimezone(zone).date()].append(row.overall)
    first, last = (
        since.astimezone(zone).date(),
        (until - dt.timedelta(microseconds=1)).astimezone(zone).date(),
    )
    days: list[Day] = []
    for offset in range((last - first).days + 1):
        day = first + dt.timedelta(days=offset)
        times = per_day.get(day, [])
        dispatch = [t.dispatch_s for t in times if t.dispatch_s is not None]
        arrival = [t.arrival_s for t in times if t.arrival_s is not None]
        days.append(
            Day(
                day=day,
                count=len(times),
                dispatch_median_s=statistics.median(dispatch) if dispatch else None,
                arrival_median_s=statistics.median(arrival) if arrival else None,
            )
        )
    return days
