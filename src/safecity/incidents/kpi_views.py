"""Response-time KPIs: the JSON API (/api/v1/kpis) and the dashboard page (/kpis) with SVG charts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from safecity.core.schemas import IsoDateTime
from safecity.incidents import kpis
from safecity.web import charts
from safecity.web.charts import Bucket, Chart, Mark, Series
from safecity.web.deps import CurrentPrincipal, Db, get_services
from safecity.web.pages import CurrentPage, render

router = APIRouter(prefix="/api/v1", tags=["kpis"])
page_router = APIRouter(include_in_schema=False)

DispatchTarget = Annotated[int, Query(ge=1, le=86_400)]
ArrivalTarget = Annotated[int, Query(ge=1, le=86_400)]
GoalShare = Annotated[float, Query(gt=0, le=1)]


@router.get("/kpis", response_model=kpis.Report)
def get_kpis(
    principal: CurrentPrincipal,
    db: Db,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    dispatch_target_s: DispatchTarget = kpis.DEFAULT_DISPATCH_TARGET_S,
    arrival_target_s: ArrivalTarget = kpis.DEFAULT_ARRIVAL_TARGET_S,
    goal_share: GoalShare = kpis.DEFAULT_GOAL_SHARE,
) -> kpis.Report:
    """Times to dispatch and to arrive over a period (default: 30 days) per district, category, agency."""
    return kpis.response_report(
        session=db,
        principal=principal,
        since=since,
        until=until,
        dispatch_target_s=dispatch_target_s,
        arrival_target_s=arrival_target_s,
        goal_share=goal_share,
    )


@router.get("/kpis/daily", response_model=list[kpis.Day])
def get_daily(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
) -> list[kpis.Day]:
    """Per local day: incidents opened and their median times to dispatch and to arrive."""
    zone = get_services(request).settings.timezone
    return kpis.daily(session=db, principal=principal, since=since, until=until, timezone=zone)


# --- the dashboard page ---------------------------------------------------------------------------


def _label(day: kpis.Day) -> str:
    return f"{day.day:%d %b}"


def times_chart(days: list[kpis.Day]) -> Chart:
    """A line chart of the daily median times to dispatch and to arrive, in minutes."""
    lines = [
        ("dispatch", "to dispatch", "#1f6fb5", [d.dispatch_median_s for d in days]),
        ("arrival", "to arrive", "#c62828", [d.arrival_median_s for d in days]),
    ]
    top = max([v / 60 for *_, values in lines for v in values if v is not None] or [1.0])
    series = []
    for key, name, colour, values in lines:
        marks = [
            Mark(
                charts.x_at(i, len(days)),
                charts.y_at(v / 60, top),
                0,
                0,
                f"{days[i].day:%Y-%m-%d}: {v:.0f} s {name}",
            )
            for i, v in enumerate(values)
            if v is not None
        ]
        points = " ".join(f"{m.x:.1f},{m.y:.1f}" for m in marks)
        series.append(Series(key, colour, points, marks))
    return Chart(f"{top:.1f} min", charts.ticks([_label(d) for d in days]), series=series)


def counts_chart(days: list[kpis.Day]) -> Chart:
    """A bar chart of the incidents opened per day."""
    return charts.bar_chart(
        [Bucket(_label(d), f"{d.day:%Y-%m-%d}: {d.count} incidents", d.count) for d in days]
    )


def _local_bound(day: dt.date | None, zone: ZoneInfo) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(), zone)


@page_router.get("/kpis", response_class=HTMLResponse)
def kpis_page(
    page: CurrentPage,
    db: Db,
    since: dt.date | None = None,
    until: dt.date | None = None,
    dispatch_target_s: DispatchTarget = kpis.DEFAULT_DISPATCH_TARGET_S,
    arrival_target_s: ArrivalTarget = kpis.DEFAULT_ARRIVAL_TARGET_S,
) -> Response:
    # Days are local (Asia/Karachi): the period runs from the start of `since` to the end of `until`.
    zone = page.timezone
    end = _local_bound(until + dt.timedelta(days=1) if until else None, zone)
    start = _local_bound(since, zone)
    report = kpis.response_report(
        session=db,
        principal=page.principal,
        since=start,
        until=end,
        dispatch_target_s=dispatch_target_s,
        arrival_target_s=arrival_target_s,
    )
    days = kpis.daily(
        session=db, principal=page.principal, since=report.since, until=report.until, timezone=zone.key
    )
    return render(
        page,
        "incidents/kpis.html",
        report=report,
        days=days,
        since=report.since.astimezone(zone).date(),
        until=(report.until - dt.timedelta(microseconds=1)).astimezone(zone).date(),
        times_chart=times_chart(days),
        counts_chart=counts_chart(days),
    )
