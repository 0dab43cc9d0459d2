"""Export pages (/cases/{case_id}/exports): choose items and a purpose, follow the preparation (the page
polls while the files are gathered and faces and plates found), review each file's regions (keep or remove
a blur, draw a box), approve the originals (a second person), sign, and download the package."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.auth.models import User
from safecity.evidence import service as cases
from safecity.evidence.exports import service, views
from safecity.evidence.exports.models import EvidenceExport, ExportStatus
from safecity.evidence.exports.schemas import ApprovalIn, BlurIn, ExportIn, ManualIn
from safecity.evidence.models import ItemKind
from safecity.evidence.pages import act
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, Page, render

router = APIRouter(include_in_schema=False)

EXPORTABLE = frozenset({ItemKind.RECORDING, ItemKind.EVENT, ItemKind.PLATE_SIGHTING, ItemKind.OBJECT_TRACK})


def export_url(case_id: uuid.UUID, export_id: uuid.UUID | None = None) -> str:
    """The address of a case's exports page, or of one export."""
    return f"/cases/{case_id}/exports" + (f"/{export_id}" if export_id else "")


def _usernames(db: Session, user_ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    ids = {u for u in user_ids if u is not None}
    if not ids:
        return {}
    rows = db.execute(select(User.id, User.username).where(User.id.in_(ids))).all()
    return dict(rows)


@router.get("/cases/{case_id}/exports", response_class=HTMLResponse)
def exports_page(page: CurrentPage, db: Db, case_id: uuid.UUID) -> Response:
    exports = service.list_exports(session=db, principal=page.principal, case_id=case_id)
    case = cases.get_case(session=db, principal=page.principal, case_id=case_id)
    items = [i for i in cases.list_items(session=db, case_id=case.id) if i.kind in EXPORTABLE]
    names = _usernames(db, {e.created_by for e in exports})
    return render(
        page,
        "evidence/exports/list.html",
        case=case,
        exports=exports,
        items=items,
        names=names,
        can_export=page.principal.can(service.EXPORT)
        and cases.may_work(session=db, principal=page.principal, case=case),
    )


@router.post("/cases/{case_id}/exports")
def create_submit(
    page: CurrentPage,
    db: Db,
    background: BackgroundTasks,
    case_id: uuid.UUID,
    item_ids: Annotated[list[str] | None, Form()] = None,
    purpose: Annotated[str, Form(max_length=500)] = "",
    unredacted: Annotated[str, Form(max_length=8)] = "",
    unredacted_reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """A new export of the chosen items, queued to be prepared after the answer."""

    def create() -> str:
        data = ExportIn.model_validate(
            {
                "item_ids": item_ids or [],
                "purpose": purpose,
                "unredacted": bool(unredacted),
                "unredacted_reason": unredacted_reason,
            }
        )
        export = service.create(session=db, principal=page.principal, case_id=case_id, data=data)
        service.begin_preparing(session=db, principal=page.principal, case_id=case_id, export_id=export.id)
        views.queue_step(page.request, background, db, page.principal, export)
        return export_url(case_id, export.id)

    return act(page, db, create)


def _view(page: Page, db: Db, case_id: uuid.UUID, export: EvidenceExport) -> dict[str, Any]:
    case = cases.get_case(session=db, principal=page.principal, case_id=case_id)
    items = {str(i.id): i for i in cases.list_items(session=db, case_id=case.id)}
    names = _usernames(db, {export.created_by, export.approved_by})
    media = []
    for entry in export.media or []:
        plan = entry.get("plan") or {}
        tracks = plan.get("tracks", [])
        moments = sorted({round(float(t["key_t"]), 1) for t in tracks}) or [0.0]
        media.append({**entry, "tracks": tracks, "moments": moments[:8], "duration": plan.get("duration", 0)})
    principal = page.principal
    may_work = principal.can(service.EXPORT) and cases.may_work(session=db, principal=principal, case=case)
    return {
        "case": case,
        "export": export,
        "items": items,
        "names": names,
        "media": media,
        "running": export.status in service.RUNNING,
        "can_edit": export.status == ExportStatus.REVIEW and may_work,
        "can_retry": export.status == ExportStatus.FAILED and may_work,
        "can_approve": export.unredacted
        and export.approved_by is None
        and principal.can(service.UNREDACTED)
        and principal.user_id != export.created_by
        and export.status not in (ExportStatus.EXPORTING, ExportStatus.READY),
        "can_download": export.status == ExportStatus.READY and principal.can(service.EXPORT),
        "api": f"/api/v1/cases/{case_id}/exports/{export.id}",
    }


@router.get("/cases/{case_id}/exports/{export_id}", response_class=HTMLResponse)
def export_page(page: CurrentPage, db: Db, case_id: uuid.UUID, export_id: uuid.UUID) -> Response:
    _, export = service.get(session=db, principal=page.principal, case_id=case_id, export_id=export_id)
    return render(page, "evidence/exports/export.html", **_view(page, db, case_id, export))


@router.get("/cases/{case_id}/exports/{export_id}/progress", response_class=HTMLResponse)
def progress_fragment(page: CurrentPage, db: Db, case_id: uuid.UUID, export_id: uuid.UUID) -> Response:
    """The progress bar, polled while the export runs; once it has stopped, the whole page reloads."""
    _, export = service.get(session=db, principal=page.principal, case_id=case_id, export_id=export_id)
    if export.status not in service.RUNNING:
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    return render(page, "evidence/exports/_progress.html", export=export, case_id=case_id)


def _act(
    page: Page, db: Db, case_id: uuid.UUID, export_id: uuid.UUID, action: Callable[[], object]
) -> Response:
    """Run an action on the export (evidence.pages.act), then show the export again."""

    def run() -> str:
        action()
        return export_url(case_id, export_id)

    return act(page, db, run)


def _step(
    page: Page,
    db: Db,
    background: BackgroundTasks,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
    begin: Callable[..., EvidenceExport],
) -> Response:
    """Mark the export for its next step (`begin`: service.begin_signing or service.retry) and queue the
    step, which runs after the answer."""

    def run() -> None:
        export = begin(session=db, principal=page.principal, case_id=case_id, export_id=export_id)
        views.queue_step(page.request, background, db, page.principal, export)

    return _act(page, db, case_id, export_id, run)


@router.post("/cases/{case_id}/exports/{export_id}/blur")
def blur_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
    media: Annotated[str, Form(max_length=16)] = "",
    region: Annotated[str, Form(max_length=16)] = "",
    blur: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Keep (blur=1) or remove (blur=0) one region's blur."""
    return _act(
        page,
        db,
        case_id,
        export_id,
        lambda: service.set_blur(
            session=db,
            principal=page.principal,
            case_id=case_id,
            export_id=export_id,
            data=BlurIn(media=media, region=region, blur=blur in {"1", "on", "true"}),
        ),
    )


@router.post("/cases/{case_id}/exports/{export_id}/manual")
def manual_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
    media: Annotated[str, Form(max_length=16)] = "",
    x: Annotated[int, Form()] = 0,
    y: Annotated[int, Form()] = 0,
    w: Annotated[int, Form()] = 0,
    h: Annotated[int, Form()] = 0,
    start: Annotated[float, Form()] = 0.0,
    end: Annotated[float, Form()] = 0.0,
) -> Response:
    """Blur a box drawn by hand over a time span."""
    return _act(
        page,
        db,
        case_id,
        export_id,
        lambda: service.add_manual(
            session=db,
            principal=page.principal,
            case_id=case_id,
            export_id=export_id,
            data=ManualIn(media=media, x=x, y=y, w=w, h=h, start=start, end=end),
        ),
    )


@router.post("/cases/{case_id}/exports/{export_id}/manual/{media}/{region}/remove")
def manual_remove(
    page: CurrentPage, db: Db, case_id: uuid.UUID, export_id: uuid.UUID, media: str, region: str
) -> Response:
    return _act(
        page,
        db,
        case_id,
        export_id,
        lambda: service.remove_manual(
            session=db,
            principal=page.principal,
            case_id=case_id,
            export_id=export_id,
            media=media,
            region=region,
        ),
    )


@router.post("/cases/{case_id}/exports/{export_id}/approve")
def approve_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """A supervisor approves exporting the originals, with the reason."""
    return _act(
        page,
        db,
        case_id,
        export_id,
        lambda: service.approve_unredacted(
            session=db,
            principal=page.principal,
            case_id=case_id,
            export_id=export_id,
            data=ApprovalIn(reason=reason),
        ),
    )


@router.post("/cases/{case_id}/exports/{export_id}/sign")
def sign_submit(
    page: CurrentPage, db: Db, background: BackgroundTasks, case_id: uuid.UUID, export_id: uuid.UUID
) -> Response:
    """Queue the reviewed redaction to be rendered and the package signed (after the answer)."""
    return _step(page, db, background, case_id, export_id, service.begin_signing)


@router.post("/cases/{case_id}/exports/{export_id}/retry")
def retry_submit(
    page: CurrentPage, db: Db, background: BackgroundTasks, case_id: uuid.UUID, export_id: uuid.UUID
) -> Response:
    """Try a failed export again from the step it failed in (service.retry), queued after the answer."""
    return _step(page, db, background, case_id, export_id, service.retry)
