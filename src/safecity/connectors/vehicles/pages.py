"""The vehicle registry page (/registry): look up a plate with a purpose, import an Excise extract (dry run
first), and see the connector's health (its type, circuit state and last failure)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response

from safecity.connectors.vehicles import service
from safecity.connectors.vehicles.schemas import CSV_HEADER
from safecity.core.errors import PermissionDenied, SafecityError
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, refuse, render

router = APIRouter(include_in_schema=False)


@router.get("/registry", response_class=HTMLResponse)
def registry_page(page: CurrentPage, db: Db) -> Response:
    principal = page.principal
    if not (principal.can(service.LOOKUP) or principal.can(service.IMPORT)):
        raise PermissionDenied(f"this needs the '{service.LOOKUP}' or '{service.IMPORT}' permission")
    registry = get_services(page.request).vehicle_registry
    return render(
        page,
        "registry/registry.html",
        health=service.health(session=db, registry=registry),
        can_lookup=principal.can(service.LOOKUP),
        can_import=principal.can(service.IMPORT),
        header=",".join(CSV_HEADER),
        max_mib=service.MAX_IMPORT_BYTES // (1024 * 1024),
    )


@router.post("/registry/lookup", response_class=HTMLResponse)
def lookup_submit(
    page: CurrentPage,
    db: Db,
    plate: Annotated[str, Form(max_length=40)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    try:
        found = service.lookup(
            session=db,
            principal=page.principal,
            registry=get_services(page.request).vehicle_registry,
            plate=plate,
            purpose=purpose,
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return render(page, "registry/_lookup.html", found=found)


@router.post("/registry/imports", response_class=HTMLResponse)
def import_submit(
    page: CurrentPage,
    db: Db,
    file: Annotated[UploadFile, File()],
    dry_run: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    try:
        text = service.decode_csv(file.file.read(service.MAX_IMPORT_BYTES + 1))
        report = service.import_csv(
            session=db,
            principal=page.principal,
            text=text,
            dry_run=bool(dry_run),
            file_name=file.filename or "extract.csv",
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    if report.errors and not report.dry_run:
        db.rollback()
    return render(page, "registry/_import_report.html", report=report)
