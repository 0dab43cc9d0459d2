"""Number-plate sightings: storing what the cameras read, and the keys that make plates searchable; and
each camera's plate-reading settings, read and changed within the camera's scope, every change audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.analytics import service as analytics
from safecity.analytics.plates.models import CameraPlates, Sighting
from safecity.analytics.plates.schemas import PlateSettings, PlateSettingsOut, SightingIn
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import utcnow

logger = logging.getLogger(__name__)

READ = "plates.read"  # plate history and hotlist hits are personal data: a permission and a purpose
# Characters a camera confuses, folded to one so a fuzzy search finds either (O/0, I/1, B/8, S/5, Z/2,
# D/0, G/6, and Q with O).
_FOLD = str.maketrans("OQDIBSZG", "00018526")


def fold(plate: str) -> str:
    """The plate with look-alike characters folded to one (`LEB-1O5` and `LE8105` fold the same)."""
    return plate.upper().translate(_FOLD)


def subject(camera_id: uuid.UUID | None) -> str:
    """The bus subject a camera's sightings are published on (kept by the PLATES stream)."""
    return f"plates.sighting.{camera_id or 'none'}"


def crop_path(camera_id: uuid.UUID | None, sighting_id: uuid.UUID, at: dt.datetime, *, part: str) -> str:
    """Where a sighting's picture (`part`: crop or vehicle) lives, relative to the snapshots directory."""
    return f"plates/{camera_id or 'none'}/{at.astimezone(dt.UTC):%Y-%m-%d}/{sighting_id}-{part}.jpg"


def record(*, session: Session, sighting: SightingIn) -> Sighting:
    """Store one sighting (its pictures already written); the caller commits."""
    row = Sighting(**sighting.model_dump(exclude={"alternatives"}))
    row.alternatives = [a.model_dump() for a in sighting.alternatives]
    if sighting.plate is not None:
        row.folded = fold(sighting.plate)
        row.folded_rev = row.folded[::-1]
    session.add(row)
    session.flush()
    return row


# --- how each camera reads plates ----------------------------------------------------------------------


def _settings_of(row: CameraPlates | None) -> PlateSettings:
    if row is None:
        return PlateSettings()
    return PlateSettings.model_validate(
        {
            "mode": row.mode,
            "region": row.region,
            "min_plate_px": row.min_plate_px,
            "min_vehicle_px": row.min_vehicle_px,
        }
    )


def _out(camera: Camera, row: CameraPlates | None) -> PlateSettingsOut:
    return PlateSettingsOut(
        camera_id=camera.id,
        settings=_settings_of(row),
        updated_at=row.updated_at if row is not None else None,
        updated_by=row.updated_by if row is not None else None,
    )


def get_settings(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> PlateSettingsOut:
    """How the camera reads plates (cameras.read within the camera's district; off when never set)."""
    camera = analytics.camera_in_scope(
        session=session, principal=principal, camera_id=camera_id, manage=False
    )
    return _out(camera, session.get(CameraPlates, camera.id))


def set_settings(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, settings: PlateSettings
) -> PlateSettingsOut:
    """Change how the camera reads plates (analytics.manage); applies within the analytics' refresh."""
    camera = analytics.camera_in_scope(session=session, principal=principal, camera_id=camera_id, manage=True)
    row = session.get(CameraPlates, camera.id)
    before = _out(camera, row)
    if row is None:
        row = CameraPlates(camera_id=camera.id)
        session.add(row)
    row.mode, row.region = settings.mode, settings.region
    row.min_plate_px, row.min_vehicle_px = settings.min_plate_px, settings.min_vehicle_px
    row.updated_at, row.updated_by = utcnow(), principal.user_id
    session.flush()
    audit.record(
        session=session,
        actor=principal,
        action="plates.settings.update",
        outcome="success",
        object_type="camera_plates",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={
            "camera_id": str(camera.id),
            "before": before.settings.model_dump(mode="json"),
            "after": settings.model_dump(mode="json"),
        },
    )
    return _out(camera, row)


def reading_cameras(*, session: Session) -> dict[uuid.UUID, PlateSettings]:
    """The cameras that read plates, with their settings, for the analytics runtime (no principal)."""
    found: dict[uuid.UUID, PlateSettings] = {}
    for row in session.scalars(select(CameraPlates).where(CameraPlates.mode != "off")):
        try:
            found[row.camera_id] = _settings_of(row)
        except ValidationError as exc:  # written by another version: that camera reads no plates
            logger.error(
                "plate settings of camera %s are not valid, ignored: %s", row.camera_id, exc.errors()
            )
    return found
