"""REST API of the records' data quality (/api/v1/records/quality): bulk imports (CSV text, SQL sources) with
a dry run by default, duplicate proposals, merges and their undo, and conflicting values of a person.

A real import with any bad row answers 422 with the report, and nothing is stored.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from safecity.analytics.plates.service import MAX_PURPOSE
from safecity.core.crypto import SecretBox
from safecity.records.quality import service
from safecity.records.quality.schemas import (
    ChooseIn,
    CsvImportIn,
    FieldConflict,
    ImportReport,
    MergeIn,
    MergeOut,
    Proposal,
    SourceIn,
    SourceOut,
    UndoIn,
)
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/records/quality", tags=["records"])

REPORT: dict[int | str, dict[str, Any]] = {
    422: {"model": ImportReport, "description": "bad rows: nothing was imported"}
}


def box(request: Request) -> SecretBox:
    """The box that seals import sources' URLs, under the process's secret key."""
    return service.source_box(get_services(request).settings.secret_key.get_secret_value())


def _answer(report: ImportReport) -> Response:
    status = 422 if report.errors and not report.dry_run else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=status)


@router.post("/imports", response_model=ImportReport, responses=REPORT)
def import_csv(body: CsvImportIn, principal: CurrentPrincipal, db: Db, dry_run: bool = True) -> Response:
    """Import persons, vehicles or FIRs from CSV text whose header names the fields (records.import)."""
    return _answer(
        service.import_csv(
            session=db,
            principal=principal,
            kind=body.kind,
            district_id=body.district_id,
            text=body.csv,
            dry_run=dry_run,
            file_name=body.file_name,
        )
    )


@router.get("/sources", response_model=list[SourceOut])
def list_sources(principal: CurrentPrincipal, db: Db) -> list[SourceOut]:
    """The databases of other departments configured to import from (their URLs without credentials)."""
    return [SourceOut.model_validate(s) for s in service.sources(session=db, principal=principal)]


@router.post("/sources", response_model=SourceOut, status_code=201)
def add_source(request: Request, body: SourceIn, principal: CurrentPrincipal, db: Db) -> SourceOut:
    """Configure another department's database (an allowed URL scheme) and one SELECT naming the fields."""
    return SourceOut.model_validate(
        service.add_source(session=db, principal=principal, box=box(request), data=body)
    )


@router.post("/sources/{source_id}/run", response_model=ImportReport, responses=REPORT)
def run_source(
    request: Request, source_id: uuid.UUID, principal: CurrentPrincipal, db: Db, dry_run: bool = True
) -> Response:
    """Import what a source's SELECT gives, read only, under a time limit and a row cap."""
    return _answer(
        service.run_source(
            session=db, principal=principal, box=box(request), source_id=source_id, dry_run=dry_run
        )
    )


@router.get("/duplicates", response_model=list[Proposal])
def duplicates(principal: CurrentPrincipal, db: Db) -> list[Proposal]:
    """Pairs of persons that are probably one, with their fields side by side (records.merge)."""
    return service.proposals(session=db, principal=principal)


@router.get("/merges", response_model=list[MergeOut])
def list_merges(principal: CurrentPrincipal, db: Db) -> list[MergeOut]:
    """The latest merges in one's districts, with what each moved."""
    return [MergeOut.model_validate(m) for m in service.merges(session=db, principal=principal)]


@router.post("/merges", response_model=MergeOut, status_code=201)
def merge(body: MergeIn, principal: CurrentPrincipal, db: Db) -> MergeOut:
    """Merge one person into another (records.merge), saying why; undo puts everything back."""
    return MergeOut.model_validate(
        service.merge(
            session=db,
            principal=principal,
            kept_id=body.kept_id,
            merged_id=body.merged_id,
            reason=body.reason,
        )
    )


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
def undo(merge_id: uuid.UUID, body: UndoIn, principal: CurrentPrincipal, db: Db) -> MergeOut:
    """Undo a merge, saying why: every moved row goes back, the merged person is listed again."""
    return MergeOut.model_validate(
        service.undo(session=db, principal=principal, merge_id=merge_id, reason=body.reason)
    )


@router.get("/persons/{person_id}/conflicts", response_model=list[FieldConflict])
def conflicts(
    person_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: Db,
    purpose: Annotated[
        str, Query(max_length=MAX_PURPOSE * 2, description="why: a case, FIR or incident")
    ] = "",
) -> list[FieldConflict]:
    """The fields of a person on which sources disagree, each value with its sources (audited read)."""
    return service.conflicts(session=db, principal=principal, person_id=person_id, purpose=purpose)


@router.post("/persons/{person_id}/conflicts", response_model=list[str])
def choose(person_id: uuid.UUID, body: ChooseIn, principal: CurrentPrincipal, db: Db) -> list[str]:
    """Put one source's value of a field in force (records.manage); returns the fields changed."""
    return service.choose(
        session=db, principal=principal, person_id=person_id, field=body.field, fact_id=body.fact_id
    )
