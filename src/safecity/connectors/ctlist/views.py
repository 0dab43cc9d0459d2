"""REST API of the counter-terrorism schedule (/api/v1/connectors/ctlist): import a schedule file."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from safecity.connectors.ctlist import service
from safecity.connectors.ctlist.schemas import ImportIn, ImportReport
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1/connectors/ctlist", tags=["connectors"])


@router.post(
    "/imports",
    response_model=ImportReport,
    responses={422: {"model": ImportReport, "description": "bad rows: nothing was imported"}},
)
def import_schedule(body: ImportIn, principal: CurrentPrincipal, db: Db, dry_run: bool = True) -> Response:
    """Import the schedule (CSV text, header cnic,name,father_name,district,listed_on,delisted_on)
    (records.manage); a dry run stores nothing, a real run is all or nothing (bad rows: 422, none stored)."""
    report = service.import_csv(session=db, principal=principal, text=body.csv, dry_run=dry_run)
    status = 422 if report.errors and not dry_run else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=status)
