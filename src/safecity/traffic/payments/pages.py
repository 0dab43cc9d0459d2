"""Finance pages: the reconciliation of a day per district, with the amounts of the last 30 days charted."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from safecity.core.errors import SafecityError
from safecity.traffic.payments import service
from safecity.web import charts
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)
COLOURS = {"issued": "#1f6fb5", "received": "#2e7d32"}


@router.get("/traffic/payments", response_class=HTMLResponse)
def payments_page(page: CurrentPage, db: Db, date: str = "", district_id: str = "") -> Response:
    """A day's reconciliation (today by default) per district, and issued vs received over 30 days."""
    today = dt.datetime.now(page.timezone).date()
    error = ""
    try:
        day = dt.date.fromisoformat(date) if date else today
    except ValueError:
        day, error = today, "give the date as 2026-05-31"
    try:
        chosen = uuid.UUID(district_id) if district_id else None
    except ValueError:
        chosen, error = None, "choose a district from the list"
    try:
        rows = service.reconcile(
            session=db, principal=page.principal, day=day, zone=page.timezone, district_id=chosen
        )
        days = service.daily_amounts(
            session=db, principal=page.principal, until=day, zone=page.timezone, district_id=chosen
        )
    except SafecityError as exc:
        if exc.status == 403:
            raise
        rows, days, error = [], [], exc.message
    labels = [d.date.strftime("%d %b") for d in days]
    chart = charts.line_chart(
        labels,
        [
            charts.Line(
                "issued",
                COLOURS["issued"],
                [d.issued_amount_pkr for d in days],
                [f"{d.date}: {d.issued_amount_pkr:,} PKR issued" for d in days],
            ),
            charts.Line(
                "received",
                COLOURS["received"],
                [d.received_amount_pkr for d in days],
                [f"{d.date}: {d.received_amount_pkr:,} PKR received" for d in days],
            ),
        ],
        unit=" PKR",
    )
    totals = {
        name: sum(getattr(r, name) for r in rows)
        for name in (
            "issued_count",
            "issued_amount_pkr",
            "paid_count",
            "paid_amount_pkr",
            "outstanding_count",
            "outstanding_amount_pkr",
            "cancelled_count",
            "received_count",
            "received_amount_pkr",
        )
    }
    query = f"date={day.isoformat()}" + (f"&district_id={chosen}" if chosen else "")
    return render(
        page,
        "payments/reconciliation.html",
        rows=rows,
        totals=totals,
        day=day,
        chosen=chosen,
        districts=service.districts_in_scope(session=db, principal=page.principal),
        chart=chart,
        days=days,
        colours=COLOURS,
        csv_url=f"/api/v1/traffic/payments/reconciliation.csv?{query}",
        error=error,
    )
