"""Response-time KPIs: medians, 90th percentiles and shares within target, per day, scope, API and page."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.auth.principal import Principal
from safecity.core.errors import InvalidInput, PermissionDenied
from safecity.dispatch.models import Assignment, Unit
from safecity.dispatch.service import ensure_agencies
from safecity.incidents.kpis import service as kpis
from safecity.incidents.models import Category, Incident
from safecity.org.models import District

PKT = dt.timezone(dt.timedelta(hours=5))
SINCE = dt.datetime(2026, 11, 1, tzinfo=PKT)
UNTIL = dt.datetime(2026, 11, 4, tzinfo=PKT)
# 20:00 UTC on 1 November is 01:00 on 2 November in Karachi.
T0 = dt.datetime(2026, 11, 1, 20, 0, tzinfo=dt.UTC)


@dataclass
class Ops:
    """Two districts: A with six incidents (five dispatched), B with one."""

    a: District
    b: District
    supervisor_a: Principal


def _unit(session: Session, agency_id: uuid.UUID, district: District) -> Unit:
    unit = Unit(
        agency_id=agency_id,
        call_sign=f"U-{uuid.uuid4().hex[:8]}",
        vehicle_registration="PSW-1",
        vehicle_type="car",
        district_id=district.id,
    )
    session.add(unit)
    return unit


def _incident(
    session: Session,
    district: District,
    category: Category,
    created_at: dt.datetime,
    *assignments: tuple[Unit, int, int | None],
) -> Incident:
    """An incident with assignments given as (unit, seconds to assigned, seconds to arrived)."""
    incident = Incident(
        number=f"T-{uuid.uuid4().hex[:10]}",
        district_id=district.id,
        category=category,
        title="test",
        created_at=created_at,
    )
    session.add(incident)
    session.flush()
    for unit, assigned, arrived in assignments:
        session.add(
            Assignment(
                incident_id=incident.id,
                unit_id=unit.id,
                assigned_at=created_at + dt.timedelta(seconds=assigned),
                arrived_at=None if arrived is None else created_at + dt.timedelta(seconds=arrived),
            )
        )
    return incident


@pytest.fixture
def ops(factory: Factory, session: Session) -> Ops:
    a, b = factory.district(), factory.district()
    agencies = {agency.code: agency for agency in ensure_agencies(session=session)}
    police_a, rescue_a = (
        _unit(session, agencies["police"].id, a),
        _unit(session, agencies["rescue1122"].id, a),
    )
    police_b = _unit(session, agencies["police"].id, b)
    session.flush()
    day2 = T0 + dt.timedelta(days=1)
    # Dispatch 30/45/60/90/120 s; arrival 300/500/700/—/900 s; one incident never dispatched.
    _incident(session, a, Category.FIRE, T0, (police_a, 30, 300), (rescue_a, 200, 400))
    _incident(session, a, Category.FIRE, T0, (police_a, 45, 500))
    _incident(session, a, Category.FIRE, day2, (police_a, 60, 700))
    _incident(session, a, Category.MEDICAL, day2, (police_a, 90, None))
    _incident(session, a, Category.MEDICAL, day2, (police_a, 120, 900))
    _incident(session, a, Category.MEDICAL, day2)
    _incident(session, b, Category.FIRE, T0, (police_b, 10, 100))
    # Outside the period: must not count.
    _incident(session, a, Category.FIRE, SINCE - dt.timedelta(hours=1), (police_a, 5000, 9000))
    session.flush()
    supervisor = factory.user("supervisor", districts=[a])
    return Ops(a, b, factory.principal(supervisor))


def test_figures_per_district_category_and_agency(session: Session, ops: Ops) -> None:
    report = kpis.response_report(session=session, principal=ops.supervisor_a, since=SINCE, until=UNTIL)

    assert [g.key for g in report.by_district] == [str(ops.a.id)]  # district B is out of scope
    overall = report.overall
    assert (overall.count, overall.dispatched, overall.arrived) == (6, 5, 4)
    assert overall.dispatch_median_s == 60
    assert overall.dispatch_p90_s == 120  # nearest rank: the 5th of 5
    # The incident never dispatched counts as missed, not as left out: 3 of 6 within 60 s, not 3 of 5.
    assert (overall.dispatch_within, overall.dispatch_missed, overall.dispatch_pending) == (3, 3, 0)
    assert overall.dispatch_within_share == pytest.approx(3 / 6)
    assert overall.arrival_median_s == 600  # (500 + 700) / 2; the first unit on scene counts
    assert overall.arrival_p90_s == 900
    # Never reached (one dispatched, one not) are missed too: 2 of 6 within 600 s.
    assert (overall.arrival_within, overall.arrival_missed, overall.arrival_pending) == (2, 4, 0)
    assert overall.arrival_within_share == pytest.approx(2 / 6)
    assert report.by_district[0].figures == overall

    by_category = {g.key: g.figures for g in report.by_category}
    assert by_category["fire"].count == 3 and by_category["fire"].dispatch_median_s == 45
    assert by_category["medical"].count == 3 and by_category["medical"].dispatched == 2
    assert by_category["medical"].dispatch_median_s == 105
    assert by_category["medical"].dispatch_within_share == 0
    assert (by_category["medical"].dispatch_within, by_category["medical"].dispatch_missed) == (0, 3)

    by_agency = {g.key: g.figures for g in report.by_agency}
    assert set(by_agency) == {"police", "rescue1122"}
    assert by_agency["police"].count == 5 and by_agency["police"].arrival_median_s == 600
    assert by_agency["rescue1122"].dispatch_median_s == 200
    assert by_agency["rescue1122"].arrival_p90_s == 400


def test_targets_change_the_shares(session: Session, ops: Ops) -> None:
    report = kpis.response_report(
        session=session,
        principal=ops.supervisor_a,
        since=SINCE,
        until=UNTIL,
        dispatch_target_s=90,
        arrival_target_s=300,
    )
    assert report.overall.dispatch_within_share == pytest.approx(4 / 6)
    assert report.overall.arrival_within_share == pytest.approx(1 / 6)


def test_daily_figures_use_local_days(session: Session, ops: Ops) -> None:
    days = kpis.daily(session=session, principal=ops.supervisor_a, since=SINCE, until=UNTIL)
    assert [d.day for d in days] == [dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)]
    assert [d.count for d in days] == [0, 2, 4]
    assert days[1].dispatch_median_s == 37.5 and days[1].arrival_median_s == 400
    assert days[2].dispatch_median_s == 90 and days[2].arrival_median_s == 800
    assert days[0].dispatch_median_s is None


def test_percentile_is_nearest_rank() -> None:
    assert kpis.percentile([1.0], 90) == 1
    assert kpis.percentile([float(v) for v in range(1, 11)], 90) == 9
    assert kpis.percentile([float(v) for v in range(1, 12)], 90) == 10


def test_permission_and_period_are_checked(session: Session, ops: Ops, factory: Factory) -> None:
    operator = factory.principal(factory.user("operator", districts=[ops.a]))
    with pytest.raises(PermissionDenied):
        kpis.response_report(session=session, principal=operator)
    with pytest.raises(InvalidInput):
        kpis.response_report(session=session, principal=ops.supervisor_a, since=UNTIL, until=SINCE)
    with pytest.raises(InvalidInput):
        kpis.daily(session=session, principal=ops.supervisor_a, since=dt.datetime(2026, 11, 1))  # noqa: DTZ001 - naive on purpose


def test_api_returns_the_figures_within_scope(
    ops: Ops, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("supervisor", districts=[ops.b]))
    params = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), "dispatch_target_s": 5}
    body = client.get("/api/v1/kpis", params=params).json()
    assert body["overall"]["count"] == 1 and body["overall"]["dispatch_median_s"] == 10
    assert body["overall"]["dispatch_within_share"] == 0
    assert str(ops.a.id) not in str(body)
    daily = client.get("/api/v1/kpis/daily", params={"since": SINCE.isoformat(), "until": UNTIL.isoformat()})
    assert [d["count"] for d in daily.json()] == [0, 1, 0]
    assert client.get("/api/v1/kpis", params={"dispatch_target_s": 0}).status_code == 422

    operator = login_as(factory.user("operator"))
    assert operator.get("/api/v1/kpis").status_code == 403
    assert operator.get("/kpis").status_code == 403


def test_dashboard_page_shows_tables_and_charts(
    ops: Ops, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("supervisor", districts=[ops.a]))
    response = client.get("/kpis", params={"since": "2026-11-01", "until": "2026-11-03"})
    assert response.status_code == 200, response.text
    page = response.text
    assert 'data-testid="chart-times"' in page and 'data-testid="chart-counts"' in page
    assert page.count("<svg") >= 2 and "<polyline" in page and "<rect" in page
    assert ops.a.name in page and ops.b.name not in page
    assert "Rescue" in page  # the agency table names the agencies
    assert "2026-11-03: 4 incidents" in page


def test_an_open_incident_is_pending_until_its_target_passes_then_missed(
    factory: Factory, session: Session
) -> None:
    district = factory.district()
    supervisor = factory.principal(factory.user("supervisor", districts=[district]))
    now = dt.datetime.now(dt.UTC)
    _incident(session, district, Category.FIRE, now - dt.timedelta(seconds=20))  # still in time
    session.flush()
    report = kpis.response_report(session=session, principal=supervisor, dispatch_target_s=60)
    overall = report.overall
    assert (overall.dispatch_within, overall.dispatch_missed, overall.dispatch_pending) == (0, 0, 1)
    assert overall.dispatch_within_share is None  # nothing judged yet: no share, not 100 %
    late = kpis.response_report(session=session, principal=supervisor, dispatch_target_s=10)
    assert (late.overall.dispatch_within, late.overall.dispatch_missed) == (0, 1)
    assert late.overall.dispatch_within_share == 0
    assert kpis.judge(None, target_s=60, age_s=5, closed=True) == "missed"  # closed, never sent
    assert kpis.judge(30, target_s=60, age_s=5000, closed=True) == "within"
