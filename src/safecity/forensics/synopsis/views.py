"""REST API of video synopsis: ask for one, follow its progress, fetch its video, index and heatmap."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import FileResponse, Response

from safecity.forensics.synopsis import service
from safecity.forensics.synopsis.models import Synopsis, SynopsisStatus
from safecity.forensics.synopsis.schemas import SynopsisIn, SynopsisOut
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/forensics/synopses", tags=["forensics"])

NO_STORE = {"Cache-Control": "no-store"}  # police video is never kept by browsers or proxies


def file_url(synopsis_id: uuid.UUID, kind: str) -> str:
    """The URL of a finished synopsis's file: 'video', 'index' or 'heatmap'."""
    names = {"video": "synopsis.mp4", "index": "index.json", "heatmap": "heatmap.png"}
    return f"/api/v1/forensics/synopses/{synopsis_id}/{names[kind]}"


def out(job: Synopsis) -> SynopsisOut:
    """The job as the API shows it, with its files' URLs once done."""
    body = SynopsisOut.model_validate(job)
    if job.status == SynopsisStatus.DONE:
        body.video_url = file_url(job.id, "video")
        body.index_url = file_url(job.id, "index")
        body.heatmap_url = file_url(job.id, "heatmap")
    return body


def start_after_commit(request: Request, background: BackgroundTasks, job: Synopsis) -> None:
    """Hand the job to the renderer once the request's transaction is committed."""
    services = get_services(request)
    background.add_task(
        service.start,
        session_factory=services.session_factory,
        synopsis_id=job.id,
        synopses_dir=services.settings.synopses_dir,
        recordings_dir=services.settings.recordings_dir,
        timezone=services.settings.timezone,
    )


@router.post("", response_model=SynopsisOut, status_code=202)
def post_synopsis(
    body: SynopsisIn, request: Request, background: BackgroundTasks, principal: CurrentPrincipal, db: Db
) -> SynopsisOut:
    """Ask for a synopsis and heatmap of a camera over a period (at most 24 h; audited with its purpose);
    it renders in the background: follow `progress` at GET /{id}."""
    job = service.create(
        session=db,
        principal=principal,
        camera_id=body.camera_id,
        since=body.since,
        until=body.until,
        classes=body.classes,
        purpose=body.purpose,
    )
    start_after_commit(request, background, job)
    return out(job)


@router.get("", response_model=list[SynopsisOut])
def list_synopses(principal: CurrentPrincipal, db: Db) -> list[SynopsisOut]:
    """The caller's recent synopses, newest first."""
    return [out(job) for job in service.mine(session=db, principal=principal)]


@router.get("/{synopsis_id}", response_model=SynopsisOut)
def get_synopsis(synopsis_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> SynopsisOut:
    """A synopsis: its status and progress while it renders, its figures and files once done."""
    return out(service.get(session=db, principal=principal, synopsis_id=synopsis_id))


@router.post("/{synopsis_id}/cancel", response_model=SynopsisOut)
def cancel_synopsis(synopsis_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> SynopsisOut:
    """Cancel a queued or rendering synopsis (who asked for it, or a supervisor of its district; audited):
    its rendering stops within a second or so and its files are removed."""
    return out(service.cancel(session=db, principal=principal, synopsis_id=synopsis_id))


def _file(
    request: Request, principal: CurrentPrincipal, db: Db, synopsis_id: uuid.UUID, kind: str
) -> Response:
    job = service.get(session=db, principal=principal, synopsis_id=synopsis_id)
    file = service.output_file(job=job, kind=kind, synopses_dir=get_services(request).settings.synopses_dir)
    # A player fetches the video in many ranges: the viewing is audited once, at its first byte.
    first = request.headers.get("range", "bytes=0-").replace(" ", "").startswith("bytes=0-")
    if kind != "index" and first:
        service.viewed(session=db, principal=principal, job=job, what=kind)
    return FileResponse(file, media_type=service.MEDIA_TYPES[kind], headers=NO_STORE)


@router.get("/{synopsis_id}/synopsis.mp4", response_class=FileResponse)
def get_video(synopsis_id: uuid.UUID, request: Request, principal: CurrentPrincipal, db: Db) -> Response:
    """The synopsis video (H.264 MP4; byte ranges allowed)."""
    return _file(request, principal, db, synopsis_id, "video")


@router.get("/{synopsis_id}/index.json", response_class=FileResponse)
def get_index(synopsis_id: uuid.UUID, request: Request, principal: CurrentPrincipal, db: Db) -> Response:
    """For each half second of the synopsis, the objects on screen: box, track, original moment, link."""
    return _file(request, principal, db, synopsis_id, "index")


@router.get("/{synopsis_id}/heatmap.png", response_class=FileResponse)
def get_heatmap(synopsis_id: uuid.UUID, request: Request, principal: CurrentPrincipal, db: Db) -> Response:
    """The activity heatmap over the camera's background (PNG)."""
    return _file(request, principal, db, synopsis_id, "heatmap")
