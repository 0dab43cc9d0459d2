"""Live view: JPEG snapshots and MJPEG streams of a camera's newest frame, and each user's video wall.

Every live view is recorded in the audit log (auditors ask who watched which camera, and when; for a
commercial camera the law requires it). A frame is encoded once per size however many people watch it.
A camera's privacy masks (cameras.privacy) are blacked out before encoding, except for a viewer who has
lifted them (audited); masked and clear encodings are cached apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Collection
from functools import partial
from typing import Any, Literal

import cv2
import numpy.typing as npt
from anyio import to_thread
from prometheus_client import Gauge
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras import access
from safecity.cameras.models import Approval, Camera
from safecity.cameras.privacy.service import Masks, apply_masks
from safecity.core.db import utcnow
from safecity.core.errors import NotFound, SafecityError
from safecity.video.ingest import Frame, FrameSlot, IngestSupervisor

LIVE_PERMISSION = "video.live"
MJPEG_BOUNDARY = "frame"
MJPEG_MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}"
JPEG_QUALITY = 80
KEEPALIVE_S = 5.0  # resend the last frame of a silent camera, so proxies keep the connection open

ViewKind = Literal["mjpeg", "snapshot"]

LIVE_STREAMS = Gauge("safecity_live_streams", "MJPEG live streams being served")


class NoLiveFrame(SafecityError):
    """The camera is known but has no recent picture (offline, or not ingested by this server)."""

    status = 503
    code = "no_live_frame"


def camera_in_scope(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> Camera:
    """The camera if it exists within the principal's districts (NotFound otherwise, so nothing leaks)."""
    camera = session.get(Camera, camera_id)
    if camera is None or not principal.sees_district(camera.district_id):
        raise NotFound("no such camera", code="camera_not_found")
    return camera


def watchable_cameras(
    *, session: Session, principal: Principal, camera_ids: Collection[uuid.UUID] | None = None
) -> list[Camera]:
    """Cameras within the principal's districts that may be watched (enabled, approved, and granted where
    shared on request), by name."""
    query = (
        select(Camera)
        .where(
            principal.district_filter(Camera.district_id),
            Camera.enabled.is_(True),
            Camera.approval == Approval.APPROVED,
        )
        .order_by(Camera.name)
    )
    if camera_ids is not None:
        query = query.where(Camera.id.in_(list(camera_ids)))
    found = list(session.scalars(query))
    return access.viewable(session=session, principal=principal, cameras=found, permission=LIVE_PERMISSION)


def live_frame(
    supervisor: IngestSupervisor | None, camera: Camera, max_age_s: float
) -> tuple[FrameSlot, Frame]:
    """The camera's frame slot and newest frame, if that frame is at most `max_age_s` old."""
    slot = supervisor.slot(camera.id) if supervisor is not None else None
    frame = slot.latest() if slot is not None else None
    if slot is None or frame is None or time.monotonic() - frame.monotonic > max_age_s:
        raise NoLiveFrame(f"camera '{camera.name}' has no live picture right now")
    return slot, frame


def open_live(
    *,
    session: Session,
    principal: Principal,
    supervisor: IngestSupervisor | None,
    camera_id: uuid.UUID,
    kind: ViewKind,
    max_age_s: float,
) -> tuple[FrameSlot, Frame]:
    """Check the principal may watch the camera and that it has a live frame; audit the view."""
    principal.require(LIVE_PERMISSION)
    camera = camera_in_scope(session=session, principal=principal, camera_id=camera_id)
    grant = access.require_video_access(
        session=session, principal=principal, camera=camera, permission=LIVE_PERMISSION
    )
    slot, frame = live_frame(supervisor, camera, max_age_s)
    audit.record(
        session=session,
        action="video.live",
        outcome="success",
        actor=principal,
        purpose=access.purpose_of(grant),
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={"view": kind, "owner": camera.owner.value},
    )
    return slot, frame


# --- JPEG encoding ---------------------------------------------------------------------------------


class _JpegCache:
    """The last few encodings of one camera's frames, keyed by (frame sequence number, width)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[tuple[int, int | None, Masks], bytes] = {}


_CACHES: weakref.WeakKeyDictionary[FrameSlot, _JpegCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()
_CACHE_ENTRIES = 8


def encode_jpeg(
    frame: Frame, *, width: int | None = None, quality: int = JPEG_QUALITY, masks: Masks = ()
) -> bytes:
    """The frame as a JPEG, scaled down to `width` pixels if it is wider, its `masks` blacked out."""
    image: npt.NDArray[Any] = frame.image
    if width is not None and width < frame.width:
        height = max(1, round(frame.height * width / frame.width))
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    image = apply_masks(image, masks)  # a copy when anything is masked: the shared frame stays as it is
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


def jpeg_for(slot: FrameSlot, frame: Frame, *, width: int | None = None, masks: Masks = ()) -> bytes:
    """The frame as a JPEG with `masks` blacked out, encoded once however many viewers ask for it with the
    same masks (thread-safe)."""
    with _CACHES_LOCK:
        cache = _CACHES.setdefault(slot, _JpegCache())
    key = (frame.seq, width if width is not None and width < frame.width else None, masks)
    with cache.lock:  # viewers of one camera wait for one encoding instead of each doing their own
        data = cache.items.get(key)
        if data is None:
            data = encode_jpeg(frame, width=key[1], masks=masks)
            cache.items[key] = data
            while len(cache.items) > _CACHE_ENTRIES:
                cache.items.pop(next(iter(cache.items)))
    return data


def _masked_jpeg(
    slot: FrameSlot, frame: Frame, width: int | None, masks: Callable[[], Masks] | None
) -> bytes:
    """The frame as a JPEG with the masks it gets now (blocking: may read the masks from the database)."""
    return jpeg_for(slot, frame, width=width, masks=masks() if masks is not None else ())


def mjpeg_part(jpeg: bytes) -> bytes:
    """One part of a multipart/x-mixed-replace stream."""
    head = f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode("ascii") + jpeg + b"\r\n"


async def mjpeg_stream(
    slot: FrameSlot,
    *,
    max_fps: float,
    width: int | None = None,
    until: dt.datetime | None = None,
    masks: Callable[[], Masks] | None = None,
) -> AsyncIterator[bytes]:
    """MJPEG parts of the newest frames, at most `max_fps` a second, until the client goes away (or
    `until`, when the grant to watch an on-request camera ends); `masks` gives the privacy masks each frame
    gets (asked per frame: a lifting that ends masks the next one).

    The web server cancels this generator when the client disconnects.
    """
    interval = 1.0 / max_fps
    sent_seq, sent_at = -1, 0.0
    LIVE_STREAMS.inc()
    try:
        while until is None or utcnow() < until:
            frame = slot.latest()
            now = time.monotonic()
            if frame is not None and (frame.seq != sent_seq or now - sent_at >= KEEPALIVE_S):
                yield mjpeg_part(await to_thread.run_sync(partial(_masked_jpeg, slot, frame, width, masks)))
                sent_seq, sent_at = frame.seq, now
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - now)))
    finally:
        LIVE_STREAMS.dec()
