"""REST API of evidence exports (/api/v1/cases/{case_id}/exports): ask for one, follow its preparation,
review its redaction, approve the originals (a second person), sign it and download the package."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import FileResponse

from safecity.auth.principal import Principal
from safecity.core.errors import Conflict
from safecity.evidence.exports import flows, service
from safecity.evidence.exports.models import EvidenceExport, ExportStatus
from safecity.evidence.exports.schemas import ApprovalIn, BlurIn, ExportIn, ExportOut, ManualIn
from safecity.evidence.keys import service as keys
from safecity.evidence.keys.pages import verifier_html
from safecity.evidence.redaction import RedactionPlan, preview
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["evidence exports"])

JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "the frame, its regions drawn"}
}
ZIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {}}, "description": "the signed evidence package"}
}


def queue_step(
    request: Request, background: BackgroundTasks, db: Db, principal: Principal, export: EvidenceExport
) -> None:
    """Queue the step an export was just marked for: preparing it, or signing it (carrying the verifier
    page, its signing key made here if need be). It goes to the exports' lane once the request's transaction
    is committed (a background task, run after the answer): the request returns at once and the export waits
    its turn."""
    services = get_services(request)
    if export.status == ExportStatus.PREPARING:
        work = partial(
            flows.prepare,
            session_factory=services.session_factory,
            settings=services.settings,
            export_id=export.id,
            principal=principal,
        )
    else:
        work = partial(
            flows.sign,
            session_factory=services.session_factory,
            settings=services.settings,
            export_id=export.id,
            principal=principal,
            verifier_html=verifier_page(request, db),
        )
    background.add_task(flows.EXPORTS.submit, work, at_once=services.settings.video.exports_at_once)


def verifier_page(request: Request, db: Db) -> str:
    """The offline verifier a package carries, trusting this deployment's keys (the active one created)."""
    services = get_services(request)
    keys.ensure_key(session=db, secret_key=services.settings.secret_key.get_secret_value())
    return verifier_html(keys=keys.trusted_keys(session=db))


@router.get("/cases/{case_id}/exports", response_model=list[ExportOut])
def list_exports(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID) -> list[ExportOut]:
    """The case's exports, newest first."""
    return [ExportOut.of(e) for e in service.list_exports(session=db, principal=principal, case_id=case_id)]


@router.post("/cases/{case_id}/exports", response_model=ExportOut, status_code=201)
def create_export(
    request: Request,
    background: BackgroundTasks,
    principal: CurrentPrincipal,
    db: Db,
    case_id: uuid.UUID,
    data: ExportIn,
) -> ExportOut:
    """Export chosen items of the case for a purpose (video.export): the files are gathered and their faces
    and plates found in the background; follow `status` and `progress` until it is `review`."""
    export = service.create(session=db, principal=principal, case_id=case_id, data=data)
    service.begin_preparing(session=db, principal=principal, case_id=case_id, export_id=export.id)
    queue_step(request, background, db, principal, export)
    return ExportOut.of(export)


@router.get("/cases/{case_id}/exports/{export_id}", response_model=ExportOut)
def get_export(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, export_id: uuid.UUID) -> ExportOut:
    """One export: its status, progress, files and their regions."""
    _, export = service.get(session=db, principal=principal, case_id=case_id, export_id=export_id)
    return ExportOut.of(export)


@router.post("/cases/{case_id}/exports/{export_id}/blur", response_model=ExportOut)
def set_blur(
    principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, export_id: uuid.UUID, data: BlurIn
) -> ExportOut:
    """Keep or remove the blur of one region of one file (while the export is reviewed)."""
    export = service.set_blur(
        session=db, principal=principal, case_id=case_id, export_id=export_id, data=data
    )
    return ExportOut.of(export)


@router.post("/cases/{case_id}/exports/{export_id}/manual", response_model=ExportOut, status_code=201)
def add_manual(
    principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, export_id: uuid.UUID, data: ManualIn
) -> ExportOut:
    """Blur a box drawn by hand (pixels of the file) over a time span."""
    service.add_manual(session=db, principal=principal, case_id=case_id, export_id=export_id, data=data)
    _, export = service.get(session=db, principal=principal, case_id=case_id, export_id=export_id)
    return ExportOut.of(export)


@router.delete("/cases/{case_id}/exports/{export_id}/manual/{media}/{region}", status_code=204)
def remove_manual(
    principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, export_id: uuid.UUID, media: str, region: str
) -> Response:
    """Take away a box drawn by hand."""
    service.remove_manual(
        session=db, principal=principal, case_id=case_id, export_id=export_id, media=media, region=region
    )
    return Response(status_code=204)


@router.post("/cases/{case_id}/exports/{export_id}/approve", response_model=ExportOut)
def approve(
    principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, export_id: uuid.UUID, data: ApprovalIn
) -> ExportOut:
    """Approve exporting the originals without blurring (evidence.unredacted; not the requester)."""
    export = service.approve_unredacted(
        session=db, principal=principal, case_id=case_id, export_id=export_id, data=data
    )
    return ExportOut.of(export)


@router.post("/cases/{case_id}/exports/{export_id}/sign", response_model=ExportOut, status_code=202)
def sign(
    request: Request,
    background: BackgroundTasks,
    principal: CurrentPrincipal,
    db: Db,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
) -> ExportOut:
    """Render the reviewed redaction and build the signed package in the background (originals only when
    approved: 403 `unredacted_not_approved` otherwise)."""
    export = service.begin_signing(session=db, principal=principal, case_id=case_id, export_id=export_id)
    queue_step(request, background, db, principal, export)
    return ExportOut.of(export)


@router.post("/cases/{case_id}/exports/{export_id}/retry", response_model=ExportOut, status_code=202)
def retry(
    request: Request,
    background: BackgroundTasks,
    principal: CurrentPrincipal,
    db: Db,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
) -> ExportOut:
    """Try a failed export again from the step it failed in (by one who may take that step): signed again
    when its redaction was reviewed (the review and any approval of the originals kept), else prepared
    again, then reviewed. 409 `not_failed` for an export that has not failed."""
    export = service.retry(session=db, principal=principal, case_id=case_id, export_id=export_id)
    queue_step(request, background, db, principal, export)
    return ExportOut.of(export)


@router.get("/cases/{case_id}/exports/{export_id}/package", response_class=FileResponse, responses=ZIP)
def download(
    request: Request, principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, export_id: uuid.UUID
) -> FileResponse:
    """The signed package (its download is written in the case's custody log and the audit log)."""
    _, path = service.package_for_download(
        session=db,
        principal=principal,
        case_id=case_id,
        export_id=export_id,
        evidence_dir=get_services(request).settings.evidence_dir,
    )
    return FileResponse(path, media_type="application/zip", filename=path.name)


@router.get("/cases/{case_id}/exports/{export_id}/media/{key}/preview.jpg", responses=JPEG)
def media_preview(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
    key: str,
    t: Annotated[float, Query(ge=0, le=86400)] = 0.0,
) -> Response:
    """A frame of a file at `t` seconds with its regions drawn (red: blurred, green: kept)."""
    return Response(preview_jpeg(request, principal, db, case_id, export_id, key, t), media_type="image/jpeg")


def preview_jpeg(
    request: Request,
    principal: Principal,
    db: Db,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
    key: str,
    t: float,
) -> bytes:
    """The JPEG of `media_preview` (shared with the review page)."""
    _, entry, path = service.media_file(
        session=db,
        principal=principal,
        case_id=case_id,
        export_id=export_id,
        key=key,
        roots=flows.roots(get_services(request).settings, export_id),
    )
    if not entry.get("plan"):
        raise Conflict("this file's faces and plates are still being found", code="not_prepared")
    return preview(path, RedactionPlan.model_validate(entry["plan"]), t)
