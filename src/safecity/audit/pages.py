"""The auditor's page: browse, filter, page through and export the access log, and check the hash chain."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from safecity.audit import labels
from safecity.audit import service as audit
from safecity.audit.models import OUTCOMES, AuditEntry
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, Page, local_time, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
EXPORT_LIMIT = 10_000
Text = Annotated[str, Query(max_length=200)]


@dataclass(frozen=True)
class Parsed:
    """The filters as typed (shown back in the form) and as understood, with what could not be."""

    form: dict[str, str]
    filters: audit.Filters
    problems: list[str]


def _day(value: str, page: Page, name: str, problems: list[str]) -> dt.datetime | None:
    """The start of a local day typed as YYYY-MM-DD; empty means no limit, anything else is reported."""
    if not value.strip():
        return None
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        problems.append(f"'{value}' is not a date ({name}); it was left out")
        return None
    return dt.datetime.combine(day, dt.time(), tzinfo=page.timezone)


def _parse(
    page: CurrentPage,
    actor: Text = "",
    action: Text = "",
    outcome: Text = "",
    since: Text = "",
    until: Text = "",
    object: Text = "",
    purpose: Text = "",
) -> Parsed:
    """Understand the filter form; an empty or unreadable field never fails the page, it is left out."""
    typed = {
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "since": since,
        "until": until,
        "object": object,
        "purpose": purpose,
    }
    problems: list[str] = []
    since_start = _day(since, page, "from", problems)
    until_start = _day(until, page, "to", problems)
    wanted = outcome.strip()
    if wanted and wanted not in OUTCOMES:
        problems.append(f"'{wanted}' is not an outcome; it was left out")
        wanted = ""
    filters = audit.Filters(
        actor=actor.strip() or None,
        action=action.strip() or None,
        outcome=wanted or None,
        since=since_start,
        until=until_start + dt.timedelta(days=1) if until_start else None,  # the whole of the last day
        object=object.strip() or None,
        purpose=purpose.strip() or None,
    )
    return Parsed(typed, filters, problems)


Filters = Annotated[Parsed, Depends(_parse)]


def _seq(value: str) -> int | None:
    return int(value) if value.isdigit() and 0 < int(value) < 2**63 else None


@dataclass(frozen=True)
class Row:
    """What the table (and the CSV file) shows of an entry: names, not ids."""

    entry: AuditEntry
    at: str
    who: str
    object: labels.Label | None
    detail: str


def _rows(db: Db, page: Page, entries: list[AuditEntry]) -> list[Row]:
    """The rows of a page, with every name looked up in one query per kind."""
    objects = labels.describe(session=db, entries=entries)
    full_names = labels.actor_names(session=db, entries=entries)
    rows = []
    for e in entries:
        full_name = full_names.get(e.actor_id) if e.actor_id else None
        rows.append(
            Row(
                entry=e,
                at=local_time(e.at, page.timezone),
                who=f"{full_name} ({e.actor_name})" if full_name else e.actor_name or "—",
                object=objects.get(e.seq),
                detail=json.dumps(e.detail, ensure_ascii=False) if e.detail else "",
            )
        )
    return rows


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    page: CurrentPage, db: Db, parsed: Filters, before_seq: Text = "", after_seq: Text = ""
) -> Response:
    found = audit.browse(
        session=db,
        principal=page.principal,
        filters=parsed.filters,
        limit=PAGE_SIZE,
        before_seq=_seq(before_seq),
        after_seq=_seq(after_seq) if not _seq(before_seq) else None,
        purpose="browsing the audit log",
    )
    kept = {name: value for name, value in parsed.form.items() if value}
    return render(
        page,
        "audit/log.html",
        rows=_rows(db, page, found.entries),
        found=found,
        filters=parsed.form,
        kept=kept,
        problems=parsed.problems,
        outcomes=OUTCOMES,
        last=found.first + len(found.entries) - 1,
    )


@router.get("/audit/export.csv")
def audit_export(page: CurrentPage, db: Db, parsed: Filters) -> Response:
    """The filtered view as a CSV file (the newest 10,000 entries), recorded as an export."""
    entries = audit.export(
        session=db,
        principal=page.principal,
        filters=parsed.filters,
        limit=EXPORT_LIMIT,
        purpose="exporting the audit log",
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "seq",
            "time",
            "who",
            "user_id",
            "action",
            "object",
            "object_type",
            "object_id",
            "outcome",
            "purpose",
            "from",
            "detail",
        ]
    )
    for row in _rows(db, page, entries):
        e = row.entry
        texts = [
            row.who,
            str(e.actor_id or ""),
            e.action,
            row.object.name if row.object else "",
            e.object_type or "",
            e.object_id or "",
            e.outcome,
            e.purpose or "",
            e.client_addr or "",
            row.detail,
        ]
        writer.writerow([e.seq, row.at, *(_cell(t) for t in texts)])
    stamp = dt.datetime.now(page.timezone).strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )


def _cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


@router.post("/audit/verify", response_class=HTMLResponse)
def verify_submit(page: CurrentPage, db: Db) -> Response:
    page.principal.require("audit.read")
    report = audit.verify(session=db)
    return render(page, "audit/verify.html", report=report)
