"""Privacy masks per camera: areas (e.g. the windows of homes) never shown live, nor kept in the clear in the
pictures the system itself renders or records; and their audited lifting by one person, for a purpose, for
a while, in the live picture.

Where masks apply:
- live JPEG snapshots and MJPEG streams (video.live): blacked out before encoding, per viewer (cached);
- event snapshots written by the analytics (analytics.flows) and the best views of object tracks
  (forensics.flows.track_of): blacked out before they are written to disk, so the files never hold it;
- recordings: a camera with masks is recorded masked (video.recorder: decoded, blacked out, encoded again,
  from the key frame after a mask is drawn; segments flagged `masked`), so the files never hold the clear
  picture of a masked area. Cameras without masks are remuxed without decoding (re-encoding every camera
  would cost the whole CPU budget). Footage recorded before a mask was drawn is in the clear: the player
  covers the masks over all recorded video (static/privacy.js), and exports mask what they render by
  calling `apply_masks` (evidence exports, synopsis).

Lifting: a holder of `video.unmask` lifts one camera's masks for themselves only, in the live picture only
(recordings hold no clear picture to show), for a stated purpose and at most an hour; every lifting is
audited and listed for auditors (pages.py). Everyone else still sees masks.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.audit import service as audit
from safecity.auth.models import User
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.cameras.privacy.models import PrivacyMask, PrivacyUnmask
from safecity.cameras.privacy.schemas import MAX_UNMASK_MINUTES, MaskIn
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotFound

READ = "cameras.read"
MANAGE = "cameras.manage"
UNMASK = "video.unmask"
AUDIT_READ = "audit.read"
READ_ONLY = {"safecity_read_only": True}
REFRESH_S = 5.0  # how soon a mask changed (or lifted) in another process applies to this one's pictures

Polygon = tuple[tuple[float, float], ...]  # corners, in fractions of the picture's width and height
Masks = tuple[Polygon, ...]  # hashable: a cache key of the pictures masked with them
MaskMode = Literal["black", "pixelate"]


# --- the pure function: what every renderer of pictures calls ----------------------------------------


def apply_masks(
    image: npt.NDArray[Any], polygons: Sequence[Sequence[tuple[float, float]]], *, mode: MaskMode = "black"
) -> npt.NDArray[Any]:
    """The image with every polygon blacked out (or heavily pixelated), irreversibly.

    Args:
        image: a picture (height x width, or height x width x channels); it is never changed.
        polygons: each a sequence of (x, y) corners in fractions (0..1) of the picture's width and height,
            as kept per camera (`masks_of`); fractions make them fit any size of the same picture.
        mode: "black" fills the areas with black; "pixelate" replaces them with blocks about 1/24 of the
            picture's longer side (nothing of a face or a window's inside survives either).

    Returns:
        A new array with the areas masked; the `image` itself when there is nothing to mask.
    """
    height, width = image.shape[:2]
    corners = _corners(polygons, width, height)
    if not corners:
        return image
    out = np.ascontiguousarray(image).copy()
    if mode == "black":
        cv2.fillPoly(out, corners, color=(0, 0, 0, 0) if out.ndim == 3 else 0)
        return out
    block = max(8, round(max(width, height) / 24))
    small = cv2.resize(out, (max(1, width // block), max(1, height // block)), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    inside = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(inside, corners, color=255)
    out[inside > 0] = coarse[inside > 0]
    return out


def mask_i420(planes: npt.NDArray[np.uint8], polygons: Masks) -> npt.NDArray[np.uint8]:
    """A decoded 4:2:0 picture with every polygon blacked out, in place: what the masked recorder encodes.

    Blacking out the planes as decoded spares a conversion to BGR and back for every picture of a masked
    camera (most of its cost after decoding and encoding), and leaves the rest of the picture bit for bit.

    Args:
        planes: the picture as PyAV's `to_ndarray()` gives a yuv420p frame (height * 3 / 2 x width: the Y
            plane, then U and V at half size, each packed); height and width even.
        polygons: as in `apply_masks`.

    Returns:
        `planes`, with black (limited range: Y 16, U and V 128) over the masks; a chroma sample is blacked
        out when any of the four luma samples it colours is, so no colour of a masked area survives.
    """
    rows, width = planes.shape
    height = rows * 2 // 3
    luma, chroma = _i420_areas(polygons, width, height)
    if luma is None or chroma is None:
        return planes
    flat = planes.reshape(-1)
    y = flat[: height * width].reshape(height, width)
    quarter = height * width // 4
    u = flat[height * width : height * width + quarter].reshape(height // 2, width // 2)
    v = flat[height * width + quarter :].reshape(height // 2, width // 2)
    y[luma] = 16
    u[chroma] = 128
    v[chroma] = 128
    return planes


def _corners(
    polygons: Sequence[Sequence[tuple[float, float]]], width: int, height: int
) -> list[npt.NDArray[np.int32]]:
    """The polygons' corners in pixels of a picture of this size (those with fewer than 3 corners dropped)."""
    return [
        np.array([[round(x * width), round(y * height)] for x, y in polygon], dtype=np.int32)
        for polygon in polygons
        if len(polygon) >= 3
    ]


@lru_cache(maxsize=64)
def _i420_areas(
    polygons: Masks, width: int, height: int
) -> tuple[npt.NDArray[np.bool_] | None, npt.NDArray[np.bool_] | None]:
    """Which luma and which chroma samples of a 4:2:0 picture the masks cover (None, None: none).

    A camera's masks change rarely, so each picture of it looks them up here (2.6 MB at 1080p); a worker
    records few masked cameras at once, each costing about a core.
    """
    corners = _corners(polygons, width, height)
    if not corners:
        return None, None
    inside = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(inside, corners, color=255)
    chroma = inside.reshape(height // 2, 2, width // 2, 2).max(axis=(1, 3))
    return inside > 0, chroma > 0


def mask_crop(
    crop: npt.NDArray[Any],
    polygons: Sequence[Sequence[tuple[float, float]]],
    *,
    box: tuple[int, int, int, int],
    frame_size: tuple[int, int],
    mode: MaskMode = "black",
) -> npt.NDArray[Any]:
    """A picture cut out of a camera's frame (perhaps shrunk since) with the parts of the masks it shows
    masked.

    Args:
        crop: the cut-out picture (any size: it may have been scaled after cutting).
        polygons: the camera's masks, in fractions of the whole frame.
        box: where it was cut, x1, y1, x2, y2 in pixels of the frame.
        frame_size: the frame's (width, height) in pixels.
        mode: as in `apply_masks`.
    """
    x1, y1, x2, y2 = box
    frame_w, frame_h = frame_size
    cut_w, cut_h = max(1, x2 - x1), max(1, y2 - y1)
    moved = [
        tuple(((x * frame_w - x1) / cut_w, (y * frame_h - y1) / cut_h) for x, y in polygon)
        for polygon in polygons
    ]
    return apply_masks(crop, moved, mode=mode)


def overlaps(
    polygons: Sequence[Sequence[tuple[float, float]]], box: tuple[float, float, float, float]
) -> bool:
    """Whether any polygon's bounding rectangle meets `box` (x1, y1, x2, y2, fractions): a cautious test."""
    x1, y1, x2, y2 = box
    for polygon in polygons:
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        if min(xs) <= x2 and max(xs) >= x1 and min(ys) <= y2 and max(ys) >= y1:
            return True
    return False


def as_masks(rows: Sequence[PrivacyMask]) -> Masks:
    """Stored masks as the hashable polygons `apply_masks` takes."""
    return tuple(tuple((float(x), float(y)) for x, y in row.polygon) for row in rows)


# --- reading and changing masks ---------------------------------------------------------------------


def camera_in_scope(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> Camera:
    """The camera if it exists within the principal's districts (NotFound otherwise, so nothing leaks)."""
    camera = session.get(Camera, camera_id)
    if camera is None or not principal.sees_district(camera.district_id):
        raise NotFound("no such camera", code="camera_not_found")
    return camera


def masks_of(*, session: Session, camera_id: uuid.UUID) -> list[PrivacyMask]:
    """A camera's masks, by name (no permission check: for the system's own renderers)."""
    query = select(PrivacyMask).where(PrivacyMask.camera_id == camera_id)
    return list(session.scalars(query.order_by(PrivacyMask.name, PrivacyMask.created_at)))


def read_masks(
    *, session: Session, principal: Principal, camera_id: uuid.UUID
) -> tuple[list[PrivacyMask], dt.datetime | None]:
    """A camera's masks (cameras.read, within district scope); until when they are lifted for the caller."""
    principal.require(READ)
    camera = camera_in_scope(session=session, principal=principal, camera_id=camera_id)
    lifted = None
    if principal.user_id is not None:
        lifted = lifted_until(session=session, camera_id=camera.id, user_id=principal.user_id)
    return masks_of(session=session, camera_id=camera.id), lifted


def set_masks(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, masks: Sequence[MaskIn]
) -> list[PrivacyMask]:
    """Replace a camera's masks (cameras.manage, within district scope); audited. Masks kept unchanged keep
    who drew them and when. The caller commits; pictures rendered here follow at once, elsewhere within
    REFRESH_S.
    """
    principal.require(MANAGE)
    camera = camera_in_scope(session=session, principal=principal, camera_id=camera_id)
    names = [m.name for m in masks]
    if len(set(names)) != len(names):
        raise InvalidInput("two masks have the same name", code="duplicate_mask_name", field="masks")
    kept = {(row.name, as_masks([row])[0]): row for row in masks_of(session=session, camera_id=camera.id)}
    result: list[PrivacyMask] = []
    for mask in masks:
        key = (mask.name, tuple((float(x), float(y)) for x, y in mask.polygon))
        row = kept.pop(key, None)
        if row is None:
            row = PrivacyMask(
                camera_id=camera.id,
                name=mask.name,
                polygon=[[x, y] for x, y in mask.polygon],
                created_by=principal.user_id,
                created_at=utcnow(),
            )
            session.add(row)
        result.append(row)
    for gone in kept.values():
        session.delete(gone)
    session.flush()
    audit.record(
        session=session,
        action="cameras.privacy_masks",
        outcome="success",
        actor=principal,
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={"masks": len(result), "names": names},
    )
    CACHE.forget(camera.id)
    event.listen(session, "after_commit", lambda _s: CACHE.forget(camera.id), once=True)
    return sorted(result, key=lambda r: (r.name, r.created_at))


# --- lifting the masks for oneself -----------------------------------------------------------------


def lifted_until(
    *, session: Session, camera_id: uuid.UUID, user_id: uuid.UUID, at: dt.datetime | None = None
) -> dt.datetime | None:
    """Until when the user's current lifting of the camera's masks lasts (None: masks apply)."""
    now = at or utcnow()
    query = select(PrivacyUnmask.until).where(
        PrivacyUnmask.camera_id == camera_id,
        PrivacyUnmask.user_id == user_id,
        PrivacyUnmask.since <= now,
        PrivacyUnmask.until > now,
    )
    return session.scalars(query.order_by(PrivacyUnmask.until.desc()).limit(1)).first()


def unmask(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, purpose: str, minutes: int
) -> PrivacyUnmask:
    """Lift a camera's masks for the caller only (video.unmask, within district scope), for a stated purpose
    and at most MAX_UNMASK_MINUTES; audited with the purpose. The caller commits.
    """
    principal.require(UNMASK)
    camera = camera_in_scope(session=session, principal=principal, camera_id=camera_id)
    if principal.user_id is None:
        raise InvalidInput("only a person may lift privacy masks", code="unmask_needs_person")
    if not 1 <= minutes <= MAX_UNMASK_MINUTES:
        raise InvalidInput(f"masks are lifted for 1 to {MAX_UNMASK_MINUTES} minutes", field="minutes")
    purpose = " ".join(purpose.split())
    if len(purpose) < 5:
        raise InvalidInput("say why the masks are lifted (an FIR, an incident)", field="purpose")
    now = utcnow()
    row = PrivacyUnmask(
        camera_id=camera.id,
        district_id=camera.district_id,
        user_id=principal.user_id,
        purpose=purpose,
        since=now,
        until=now + dt.timedelta(minutes=minutes),
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        action="video.unmask",
        outcome="success",
        actor=principal,
        purpose=purpose,
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={"minutes": minutes, "until": row.until.isoformat(), "unmask_id": str(row.id)},
    )
    CACHE.forget(camera.id)
    event.listen(session, "after_commit", lambda _s: CACHE.forget(camera.id), once=True)
    return row


@dataclass(frozen=True)
class UnmaskRow:
    """A lifting as auditors read it: who, which camera, why, from when until when."""

    unmask: PrivacyUnmask
    username: str
    camera_name: str


def list_unmasks(*, session: Session, principal: Principal, limit: int = 200) -> list[UnmaskRow]:
    """The liftings of masks within the principal's districts (audit.read), newest first."""
    principal.require(AUDIT_READ)
    query = (
        select(PrivacyUnmask, User.username, Camera.name)
        .join(User, User.id == PrivacyUnmask.user_id)
        .join(Camera, Camera.id == PrivacyUnmask.camera_id)
        .where(principal.district_filter(PrivacyUnmask.district_id))
        .order_by(PrivacyUnmask.since.desc(), PrivacyUnmask.id)
        .limit(limit)
    )
    return [UnmaskRow(row, username, name) for row, username, name in session.execute(query).all()]


# --- the masks a viewer's pictures get, cached for the live path -----------------------------------


class MaskCache:
    """Each camera's masks and each viewer's lifting, read from the database at most every `ttl_s` seconds
    (masks change rarely; a change made in this process is seen at once); thread-safe.
    """

    def __init__(self, ttl_s: float = REFRESH_S) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._masks: dict[uuid.UUID, tuple[float, Masks]] = {}
        self._lifts: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, dt.datetime | None]] = {}

    def forget(self, camera_id: uuid.UUID) -> None:
        """Read the camera's masks and liftings afresh next time."""
        with self._lock:
            self._masks.pop(camera_id, None)
            for key in [k for k in self._lifts if k[0] == camera_id]:
                del self._lifts[key]

    def masks(self, session_factory: sessionmaker[Session], camera_id: uuid.UUID) -> Masks:
        """The camera's masks."""
        now = time.monotonic()
        with self._lock:
            known = self._masks.get(camera_id)
        if known is not None and now - known[0] < self.ttl_s:
            return known[1]
        with session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            found = as_masks(masks_of(session=session, camera_id=camera_id))
        with self._lock:
            self._masks[camera_id] = (now, found)
        return found

    def lifted_until(
        self, session_factory: sessionmaker[Session], camera_id: uuid.UUID, user_id: uuid.UUID
    ) -> dt.datetime | None:
        """Until when the user's lifting of the camera's masks lasts (None: none now)."""
        now = time.monotonic()
        key = (camera_id, user_id)
        with self._lock:
            known = self._lifts.get(key)
        if known is None or now - known[0] >= self.ttl_s:
            with session_factory() as session:
                session.connection(execution_options=READ_ONLY)
                until = lifted_until(session=session, camera_id=camera_id, user_id=user_id)
            known = (now, until)
            with self._lock:
                self._lifts[key] = known
        return known[1]


CACHE = MaskCache()


def viewer_masks(
    session_factory: sessionmaker[Session],
    camera_id: uuid.UUID,
    user_id: uuid.UUID | None,
    *,
    cache: MaskCache = CACHE,
) -> Masks:
    """The masks the viewer's pictures of the camera get now: the camera's, unless lifted for this viewer."""
    masks = cache.masks(session_factory, camera_id)
    if not masks or user_id is None:
        return masks
    until = cache.lifted_until(session_factory, camera_id, user_id)
    return () if until is not None and utcnow() < until else masks


def masks_source(
    session_factory: sessionmaker[Session], camera_id: uuid.UUID, user_id: uuid.UUID | None
) -> Callable[[], Masks]:
    """A function giving the viewer's masks of the camera now (for a long-lived stream: a lifting that ends
    masks the next frame; masks drawn meanwhile apply within REFRESH_S).
    """
    return lambda: viewer_masks(session_factory, camera_id, user_id)
