"""The response-time dashboard (/kpis): figures per district, category and agency, and daily SVG charts."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from safecity.incidents.kpis import service as kpis
from safecity.incidents.kpis.schemas import ArrivalTarget, Day, DispatchTarget
from safecity.web import charts
from safecity.web.charts import Bucket, Chart, Line
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)


def _label(day: Day) -> str:
    return f"{day.day:%d %b}"


def times_chart(days: list[Day]) -> Chart:
    """A line chart of the daily median times to dispatch and to arrive, in minutes."""
    lines = [
        ("dispatch", "to dispatch", "#1f6fb5", [d.dispatch_median_s for d in days]),
        ("arrival", "to arrive", "#c62828", [d.arrival_median_s for d in days]),
    ]
    return charts.line_chart(
        [_label(d) for d in days],
        [
            Line(
                key,
                colour,
                [None if v is None else v / 60 for v in values],
                [f"{d.day:%Y-%m-%d}: {v or 0:.0f} s {name}" for d, v in zip(days, values, strict=True)],
            )
            for key, name, colour, values in lines
        ],
        unit=" min",
        decimals=1,
        y_title="minutes (median)",
        x_title="day (local time)",
    )


def counts_chart(days: list[Day]) -> Chart:
    """A bar chart of the incidents opened per day."""
    return charts.bar_chart(
        [Bucket(_label(d), f"{d.day:%Y-%m-%d}: {d.count} incidents", d.count) for d in days],
        y_title="incidents opened",
        x_title="day (local time)",
    )


def _local_bound(day: dt.date | None, zone: ZoneInfo) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(), zone)


@router.get("/kpis", response_class=HTMLResponse)
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
