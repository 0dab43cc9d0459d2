"""The records' data-quality pages: bulk imports (/records/quality/imports: a CSV upload or another
department's database, dry run first), duplicate persons side by side with merge and undo
(/records/quality/duplicates), and the values of a person on which sources disagree (…/conflicts)."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from safecity.core import csvfile
from safecity.core.errors import InvalidInput, SafecityError
from safecity.org.models import District
from safecity.records.quality import service
from safecity.records.quality.schemas import Kind, SourceIn
from safecity.records.quality.views import box
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, htmx_action, refuse, render

router = APIRouter(include_in_schema=False)

BASE = "/records/quality"


@router.get(f"{BASE}/imports", response_class=HTMLResponse)
def imports_page(page: CurrentPage, db: Db) -> Response:
    principal = page.principal
    found = service.sources(session=db, principal=principal)  # records.import, or 403
    districts = db.scalars(
        select(District).where(principal.district_filter(District.id)).order_by(District.name)
    ).all()
    return render(
        page,
        "records/quality/imports.html",
        sources=found,
        districts=districts,
        person_columns=service.PERSON_COLUMNS,
        vehicle_columns=service.VEHICLE_COLUMNS,
        fir_columns=service.FIR_COLUMNS,
        schemes=service.SQL_SCHEMES,
        max_mib=service.MAX_IMPORT_BYTES // (1024 * 1024),
        timeout_s=service.SQL_TIMEOUT_S,
    )


@router.post(f"{BASE}/imports", response_class=HTMLResponse)
def import_submit(
    page: CurrentPage,
    db: Db,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Kind, Form()],
    district_id: Annotated[uuid.UUID, Form()],
    dry_run: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    try:
        text = csvfile.decode_csv(
            file.file.read(service.MAX_IMPORT_BYTES + 1), limit=service.MAX_IMPORT_BYTES
        )
        report = service.import_csv(
            session=db,
            principal=page.principal,
            kind=kind,
            district_id=district_id,
            text=text,
            dry_run=bool(dry_run),
            file_name=file.filename or "import.csv",
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return render(page, "records/quality/_report.html", report=report)


@router.post(f"{BASE}/sources", response_class=HTMLResponse)
def source_submit(
    page: CurrentPage,
    db: Db,
    name: Annotated[str, Form(max_length=100)],
    kind: Annotated[str, Form(max_length=16)],
    district_id: Annotated[str, Form(max_length=40)],
    url: Annotated[str, Form(max_length=600)],
    query: Annotated[str, Form(max_length=10_000)],
) -> Response:
    def add() -> None:
        try:
            data = SourceIn.model_validate(
                {"name": name, "kind": kind, "district_id": district_id, "url": url, "query": query}
            )
        except ValidationError as exc:
            # The problems name fields, never the input (the URL may carry a password).
            raise InvalidInput("; ".join(csvfile.problems(exc))) from None
        service.add_source(session=db, principal=page.principal, box=box(page.request), data=data)

    return htmx_action(db, add, f"{BASE}/imports", audit_refusal=page)


@router.post(f"{BASE}/sources/{{source_id}}/run", response_class=HTMLResponse)
def source_run(
    page: CurrentPage, db: Db, source_id: uuid.UUID, dry_run: Annotated[str, Form(max_length=5)] = ""
) -> Response:
    try:
        report = service.run_source(
            session=db,
            principal=page.principal,
            box=box(page.request),
            source_id=source_id,
            dry_run=bool(dry_run),
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return render(page, "records/quality/_report.html", report=report)


@router.get(f"{BASE}/duplicates", response_class=HTMLResponse)
def duplicates_page(page: CurrentPage, db: Db) -> Response:
    return render(
        page,
        "records/quality/duplicates.html",
        proposals=service.proposals(session=db, principal=page.principal),
        merges=service.merges(session=db, principal=page.principal),
    )


@router.post(f"{BASE}/merges", response_class=HTMLResponse)
def merge_submit(
    page: CurrentPage,
    db: Db,
    kept_id: Annotated[uuid.UUID, Form()],
    merged_id: Annotated[uuid.UUID, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    def merge() -> None:
        service.merge(
            session=db, principal=page.principal, kept_id=kept_id, merged_id=merged_id, reason=_reason(reason)
        )

    return htmx_action(db, merge, f"{BASE}/duplicates", audit_refusal=page)


@router.post(f"{BASE}/merges/{{merge_id}}/undo", response_class=HTMLResponse)
def undo_submit(
    page: CurrentPage, db: Db, merge_id: uuid.UUID, reason: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    def undo() -> None:
        service.undo(session=db, principal=page.principal, merge_id=merge_id, reason=_reason(reason))

    return htmx_action(db, undo, f"{BASE}/duplicates", audit_refusal=page)


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if len(reason) < 4:
        raise InvalidInput("say why (at least 4 characters)", code="reason_required", field="reason")
    return reason


@router.get(f"{BASE}/persons/{{person_id}}/conflicts", response_class=HTMLResponse)
def conflicts_page(
    page: CurrentPage,
    db: Db,
    person_id: uuid.UUID,
    purpose: Annotated[str, Query(max_length=400)] = "",
) -> Response:
    found = None
    if purpose:
        try:
            found = service.conflicts(
                session=db, principal=page.principal, person_id=person_id, purpose=purpose
            )
        except InvalidInput as exc:
            return render(
                page,
                "records/quality/conflicts.html",
                person_id=person_id,
                purpose=purpose,
                error=exc.message,
            )
    return render(
        page,
        "records/quality/conflicts.html",
        person_id=person_id,
        purpose=purpose,
        conflicts=found,
        can_choose=page.principal.can(service.MANAGE),
    )


@router.post(f"{BASE}/persons/{{person_id}}/conflicts", response_class=HTMLResponse)
def choose_submit(
    page: CurrentPage,
    db: Db,
    person_id: uuid.UUID,
    field: Annotated[str, Form(max_length=40)],
    fact_id: Annotated[uuid.UUID, Form()],
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    def choose() -> None:
        service.choose(
            session=db, principal=page.principal, person_id=person_id, field=field, fact_id=fact_id
        )

    return htmx_action(
        db, choose, f"{BASE}/persons/{person_id}/conflicts?purpose={quote(purpose)}", audit_refusal=page
    )
