"""REST API of number-plate reading: how each camera reads plates."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import PlateSettings, PlateSettingsOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["plates"])


@router.get("/cameras/{camera_id}/plates", response_model=PlateSettingsOut)
def get_settings(camera_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> PlateSettingsOut:
    """How the camera reads number plates (mode `off` when never set)."""
    return plates.get_settings(session=db, principal=principal, camera_id=camera_id)


@router.put("/cameras/{camera_id}/plates", response_model=PlateSettingsOut)
def set_settings(
    camera_id: uuid.UUID, body: PlateSettings, principal: CurrentPrincipal, db: Db
) -> PlateSettingsOut:
    """Change how the camera reads plates (analytics.manage); applies within seconds, no restart."""
    return plates.set_settings(session=db, principal=principal, camera_id=camera_id, settings=body)
