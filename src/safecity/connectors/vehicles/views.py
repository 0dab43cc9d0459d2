"""REST API of the vehicle registry (/api/v1/registry): owner look-ups with a purpose, extract imports.

A registry that times out or is left alone (circuit open) answers 503 `connector_timeout` /
`connector_unavailable`; one that answers garbage 502 `connector_bad_response`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from safecity.analytics.plates.service import MAX_PURPOSE
from safecity.connectors.vehicles import service
from safecity.connectors.vehicles.schemas import ImportIn, ImportReport, LookupOut
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"description": "the registry answered garbage (connector_bad_response, connector_unauthorised)"},
    503: {
        "description": "the registry timed out or is unavailable (connector_timeout, connector_unavailable)"
    },
}


@router.get("/vehicles/{plate}", response_model=LookupOut, responses=ERRORS)
def lookup(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    plate: Annotated[str, Path(max_length=40)],
    purpose: Annotated[
        str, Query(max_length=MAX_PURPOSE * 2, description="why: a case, FIR or incident")
    ] = "",
) -> LookupOut:
    """The registration and owner of a plate (registry.lookup); the look-up is audited with its purpose."""
    return service.lookup(
        session=db,
        principal=principal,
        registry=get_services(request).vehicle_registry,
        plate=plate,
        purpose=purpose,
    )


@router.post(
    "/imports",
    response_model=ImportReport,
    responses={422: {"model": ImportReport, "description": "bad rows: nothing was imported"}},
)
def import_extract(body: ImportIn, principal: CurrentPrincipal, db: Db, dry_run: bool = True) -> Response:
    """Import an Excise extract (CSV text, header plate,province,owner_name,…); a dry run stores nothing.

    A real run is all or nothing: with any bad row, the bad rows are reported (422) and nothing is stored.
    """
    report = service.import_csv(session=db, principal=principal, text=body.csv, dry_run=dry_run)
    status = 422 if report.errors and not dry_run else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=status)
