"""REST API of live video: camera status, JPEG snapshots, MJPEG streams and the user's video wall."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from safecity.cameras import access
from safecity.cameras.privacy import service as privacy
from safecity.core.schemas import OutModel
from safecity.runtime import Services
from safecity.video import live
from safecity.video.ingest import IngestSupervisor
from safecity.video.status import CameraState, scoped_statuses
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["video"])

NO_STORE = {"Cache-Control": "no-store"}  # police video is never kept by browsers or proxies


class CameraStatusOut(OutModel):
    camera_id: uuid.UUID
    name: str
    district_id: uuid.UUID | None
    state: CameraState
    since: dt.datetime
    fps: float
    decoded_fps: float
    bitrate_kbps: float
    width: int | None
    height: int | None
    codec: str | None
    last_frame_at: dt.datetime | None
    last_error: str | None
    reconnects: int


def supervisor_of(services: Services) -> IngestSupervisor | None:
    """The ingest of the cameras this process runs, if any (a web-only process runs none)."""
    return services.video.supervisor if services.video is not None else None


@router.get("/cameras/status", response_model=list[CameraStatusOut])
def camera_statuses(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    camera_id: Annotated[list[uuid.UUID] | None, Query(max_length=100)] = None,
) -> list[CameraStatusOut]:
    """Live status of the cameras in scope (or of the `camera_id`s given): state, fps, bitrate, last error."""
    supervisor = supervisor_of(get_services(request))
    statuses = scoped_statuses(
        session=db,
        principal=principal,
        live=supervisor.statuses() if supervisor is not None else {},
        camera_ids=camera_id,
    )
    return [CameraStatusOut.model_validate(s) for s in statuses]


@router.get("/cameras/{camera_id}/snapshot.jpg", response_class=Response)
def snapshot(
    camera_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    width: Annotated[int | None, Query(ge=64, le=3840)] = None,
) -> Response:
    """The camera's newest frame as a JPEG (503 `no_live_frame` when it has none); the view is audited."""
    services = get_services(request)
    slot, frame = live.open_live(
        session=db,
        principal=principal,
        supervisor=supervisor_of(services),
        camera_id=camera_id,
        kind="snapshot",
        max_age_s=services.settings.video.offline_after_s,
    )
    masks = privacy.viewer_masks(services.session_factory, camera_id, principal.user_id)
    jpeg = live.jpeg_for(slot, frame, width=width, masks=masks)
    return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)


@router.get("/cameras/{camera_id}/live.mjpeg", response_class=StreamingResponse)
def live_mjpeg(
    camera_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    width: Annotated[int | None, Query(ge=64, le=3840)] = None,
    fps: Annotated[float, Query(gt=0, le=25)] = 10.0,
) -> StreamingResponse:
    """The camera live as an MJPEG stream (multipart/x-mixed-replace, for an <img>); the view is audited."""
    services = get_services(request)
    slot, _ = live.open_live(
        session=db,
        principal=principal,
        supervisor=supervisor_of(services),
        camera_id=camera_id,
        kind="mjpeg",
        max_age_s=services.settings.video.offline_after_s,
    )
    until = access.stream_deadline(session=db, principal=principal, camera_id=camera_id)
    return StreamingResponse(
        live.mjpeg_stream(
            slot,
            max_fps=fps,
            width=width,
            until=until,
            masks=privacy.masks_source(services.session_factory, camera_id, principal.user_id),
        ),
        media_type=live.MJPEG_MEDIA_TYPE,
        headers=NO_STORE,
    )
