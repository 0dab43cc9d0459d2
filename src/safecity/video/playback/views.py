"""REST API of recorded video: the timeline, HLS playback, segments, evidence locks and clip export."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from safecity.config import Settings
from safecity.core.schemas import IsoDateTime
from safecity.video import clips, recorder
from safecity.video.playback import flows
from safecity.video.playback.schemas import ClipIn, ClipOut, LockIn, LockOut, MarkerOut, SpanOut
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["recordings"])

HLS_TYPE = "application/vnd.apple.mpegurl"
# Police video is never kept by browsers or proxies. Chromium's cache also breaks byte-range replays:
# hls.js fetches a segment's init section and media as two ranges of one URL at once, and replaying
# segments partly cached that way gave a truncated media range (the rest never read from the cache),
# which left the player failing with bufferAppendError.
NO_STORE = {"Cache-Control": "no-store"}


def exports_dir(settings: Settings) -> Path:
    """Where exported clips are kept."""
    return settings.data_dir / "exports"


def segment_url(recording_id: uuid.UUID) -> str:
    """The URL of a recorded segment (the whole fMP4 file; HLS fetches its parts by byte range)."""
    return f"/api/v1/recordings/{recording_id}/segment.mp4"


def clip_url(clip_id: uuid.UUID) -> str:
    """The download URL of an exported clip."""
    return f"/api/v1/clips/{clip_id}"


@router.get("/cameras/{camera_id}/timeline", response_model=list[SpanOut])
def get_timeline(
    camera_id: uuid.UUID, since: IsoDateTime, until: IsoDateTime, principal: CurrentPrincipal, db: Db
) -> list[SpanOut]:
    """Recorded spans and gaps of a camera over [since, until)."""
    spans = recorder.timeline(session=db, principal=principal, camera_id=camera_id, since=since, until=until)
    return [SpanOut.model_validate(span) for span in spans]


@router.get("/cameras/{camera_id}/markers", response_model=list[MarkerOut])
def get_markers(
    camera_id: uuid.UUID, since: IsoDateTime, until: IsoDateTime, principal: CurrentPrincipal, db: Db
) -> list[MarkerOut]:
    """Analytics events, alerts and plate reads of a camera over [since, until), for its timeline."""
    found = flows.markers(session=db, principal=principal, camera_id=camera_id, since=since, until=until)
    return [MarkerOut.model_validate(m) for m in found]


@router.get("/cameras/{camera_id}/playback.m3u8", response_class=Response)
def get_playlist(
    camera_id: uuid.UUID, since: IsoDateTime, until: IsoDateTime, principal: CurrentPrincipal, db: Db
) -> Response:
    """An HLS playlist of a camera's recordings over [since, until), for hls.js (audited)."""
    text = clips.playlist(
        session=db,
        principal=principal,
        camera_id=camera_id,
        since=since,
        until=until,
        segment_url=segment_url,
    )
    return Response(text, media_type=HLS_TYPE, headers=NO_STORE)


@router.get("/recordings/{recording_id}/segment.mp4", response_class=FileResponse)
def get_segment(recording_id: uuid.UUID, request: Request, principal: CurrentPrincipal, db: Db) -> Response:
    """One recorded segment as stored (byte ranges allowed); its SHA-256 is in X-Content-SHA256."""
    recording, file = clips.recording_file(
        session=db,
        principal=principal,
        recording_id=recording_id,
        recordings_dir=get_services(request).settings.recordings_dir,
    )
    return FileResponse(
        file,
        media_type="video/mp4",
        headers={"X-Content-SHA256": recording.sha256, **NO_STORE},
    )


@router.post("/cameras/{camera_id}/clips", response_model=ClipOut, status_code=201)
def post_clip(
    camera_id: uuid.UUID, body: ClipIn, request: Request, principal: CurrentPrincipal, db: Db
) -> ClipOut:
    """Export [t0, t1) of a camera as one MP4 clip (audited); download it from `download_url`."""
    settings = get_services(request).settings
    clip = clips.export_clip(
        session=db,
        principal=principal,
        camera_id=camera_id,
        t0=body.t0,
        t1=body.t1,
        out_dir=exports_dir(settings),
        recordings_dir=settings.recordings_dir,
    )
    return ClipOut(
        id=clip.id,
        camera_id=camera_id,
        start=clip.start,
        end=clip.end,
        bytes=clip.bytes,
        sha256=clip.sha256,
        download_url=clip_url(clip.id),
    )


@router.get("/clips/{clip_id}", response_class=FileResponse)
def get_clip(clip_id: uuid.UUID, request: Request, principal: CurrentPrincipal, db: Db) -> Response:
    """Download an exported clip (audited); its SHA-256 is in X-Content-SHA256."""
    clip, file = clips.clip_file(
        session=db,
        principal=principal,
        clip_id=clip_id,
        exports_dir=exports_dir(get_services(request).settings),
    )
    name = f"camera-{clip.camera_id}-{clip.start:%Y%m%dT%H%M%SZ}.mp4"
    return FileResponse(
        file, media_type="video/mp4", filename=name, headers={"X-Content-SHA256": clip.sha256, **NO_STORE}
    )


@router.post("/cameras/{camera_id}/recordings/lock", response_model=LockOut)
def post_lock(camera_id: uuid.UUID, body: LockIn, principal: CurrentPrincipal, db: Db) -> LockOut:
    """Lock a camera's recordings in [since, until) as evidence: retention never deletes them."""
    count = recorder.lock(
        session=db,
        principal=principal,
        camera_id=camera_id,
        since=body.since,
        until=body.until,
        reason=body.reason,
    )
    return LockOut(segments=count)


@router.post("/cameras/{camera_id}/recordings/unlock", response_model=LockOut)
def post_unlock(camera_id: uuid.UUID, body: LockIn, principal: CurrentPrincipal, db: Db) -> LockOut:
    """Release the evidence lock of a camera's recordings in [since, until)."""
    count = recorder.unlock(
        session=db,
        principal=principal,
        camera_id=camera_id,
        since=body.since,
        until=body.until,
        reason=body.reason,
    )
    return LockOut(segments=count)
