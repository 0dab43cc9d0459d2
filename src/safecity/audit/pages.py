"""The auditor's page: browse and filter the access log, and check the hash chain."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from safecity.audit import service as audit
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _local_day_start(day: dt.date | None, page: CurrentPage) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(), tzinfo=page.timezone)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    page: CurrentPage,
    db: Db,
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    outcome: Literal["", "success", "failure", "denied"] = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    purpose: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    until_start = _local_day_start(until, page)
    entries = audit.search(
        session=db,
        principal=page.principal,
        actor=actor or None,
        action=action or None,
        outcome=outcome or None,
        since=_local_day_start(since, page),
        until=until_start + dt.timedelta(days=1) if until_start else None,  # the whole of the last day
        before_seq=before_seq,
        limit=PAGE_SIZE,
        purpose=purpose or "browsing the audit log",
    )
    filters = {
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "since": since or "",
        "until": until or "",
    }
    return render(
        page,
        "audit/log.html",
        entries=entries,
        filters=filters,
        next_seq=entries[-1].seq if len(entries) == PAGE_SIZE else None,
    )


@router.post("/audit/verify", response_class=HTMLResponse)
def verify_submit(page: CurrentPage, db: Db) -> Response:
    page.principal.require("audit.read")
    report = audit.verify(session=db)
    return render(page, "audit/verify.html", report=report)
