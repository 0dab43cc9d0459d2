"""The video synopsis pages: ask for a synopsis of a camera and period; follow it render; play it, click an
object to open the recording at its original moment; see where things moved on the heatmap.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from safecity.analytics.types import COCO_CLASSES, PIPELINE_CLASSES
from safecity.core.errors import InvalidInput, SafecityError
from safecity.forensics.synopsis import service
from safecity.forensics.synopsis.models import Synopsis, SynopsisStatus
from safecity.forensics.synopsis.views import file_url, start_after_commit
from safecity.video import recorder
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, Page, refuse, render, typed_moment

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=500)]
CLASSES = tuple(COCO_CLASSES[i] for i in sorted(PIPELINE_CLASSES))


def _form(page: Page, db: Session, **context: Any) -> HTMLResponse:
    page.principal.require(service.INVESTIGATE)
    cameras = recorder.playable_cameras(session=db, principal=page.principal)
    values = {"camera": "", "since": "", "until": "", "classes": [], "purpose": ""} | context.pop(
        "values", {}
    )
    return render(
        page,
        "forensics/synopsis/index.html",
        cameras=cameras,
        classes=CLASSES,
        values=values,
        jobs=service.mine(session=db, principal=page.principal),
        max_hours=int(service.MAX_PERIOD.total_seconds() // 3600),
        **context,
    )


@router.get("/forensics/synopsis", response_class=HTMLResponse)
def synopsis_page(page: CurrentPage, db: Db) -> HTMLResponse:
    """The form (camera, period, classes, purpose) and the user's recent synopses."""
    return _form(page, db)


@router.post("/forensics/synopsis", response_class=HTMLResponse)
def synopsis_submit(
    request: Request,
    background: BackgroundTasks,
    page: CurrentPage,
    db: Db,
    camera: Annotated[str, Form(max_length=40)] = "",
    since: Annotated[str, Form(max_length=40)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
    purpose: Text = "",
    classes: Annotated[list[str] | None, Form(max_length=40)] = None,
) -> Response:
    """Ask for a synopsis; on success go to its page, which follows the rendering."""
    try:
        try:
            camera_id = uuid.UUID(camera)
        except ValueError:
            raise InvalidInput("choose a camera", field="camera") from None
        start, end = typed_moment(since, page, "since"), typed_moment(until, page, "until")
        if start is None or end is None:
            raise InvalidInput("choose the start and the end of the period")
        job = service.create(
            session=db,
            principal=page.principal,
            camera_id=camera_id,
            since=start,
            until=end,
            classes=[c for c in classes or [] if c in CLASSES],
            purpose=purpose,
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    start_after_commit(request, background, job)
    return Response(status_code=204, headers={"HX-Redirect": f"/forensics/synopsis/{job.id}"})


def _view(page: Page, db: Session, job: Synopsis, template: str) -> HTMLResponse:
    done = job.status == SynopsisStatus.DONE
    if done:
        service.viewed(session=db, principal=page.principal, job=job, what="page")
    return render(
        page,
        template,
        job=job,
        done=done,
        finished=job.status not in service.UNFINISHED,
        may_cancel=service.may_cancel(page.principal, job),
        percent=round(job.progress * 100),
        video_url=file_url(job.id, "video") if done else None,
        index_url=file_url(job.id, "index") if done else None,
        heatmap_url=file_url(job.id, "heatmap") if done else None,
        covered_s=(job.until - job.since).total_seconds(),
    )


@router.get("/forensics/synopsis/{synopsis_id}", response_class=HTMLResponse)
def synopsis_detail(page: CurrentPage, db: Db, synopsis_id: uuid.UUID) -> HTMLResponse:
    """A synopsis: its progress while it renders, then the player and the heatmap (viewing is audited)."""
    job = service.get(session=db, principal=page.principal, synopsis_id=synopsis_id)
    return _view(page, db, job, "forensics/synopsis/detail.html")


@router.post("/forensics/synopsis/{synopsis_id}/cancel", response_class=HTMLResponse)
def synopsis_cancel(page: CurrentPage, db: Db, synopsis_id: uuid.UUID) -> Response:
    """Cancel the synopsis from its page; the fragment then says it was cancelled."""
    try:
        job = service.cancel(session=db, principal=page.principal, synopsis_id=synopsis_id)
    except SafecityError as exc:
        return refuse(db, exc, page)
    return _view(page, db, job, "forensics/synopsis/_job.html")


@router.get("/forensics/synopsis/{synopsis_id}/progress", response_class=HTMLResponse)
def synopsis_progress(page: CurrentPage, db: Db, synopsis_id: uuid.UUID) -> HTMLResponse:
    """The progress fragment the page polls; once done, the player and heatmap in its place."""
    job = service.get(session=db, principal=page.principal, synopsis_id=synopsis_id)
    return _view(page, db, job, "forensics/synopsis/_job.html")
