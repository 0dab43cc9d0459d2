"""REST API of privacy masks: GET/PUT /api/v1/cameras/{id}/privacy-masks, POST …/privacy-masks/unmask,
GET /api/v1/privacy-unmasks (auditors)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from safecity.cameras.privacy import service as privacy
from safecity.cameras.privacy.schemas import MaskOut, MasksIn, MasksOut, UnmaskIn, UnmaskOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["cameras"])


@router.get("/cameras/{camera_id:uuid}/privacy-masks", response_model=MasksOut)
def get_masks(camera_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> MasksOut:
    """The camera's privacy masks (cameras.read), and until when they are lifted for the caller."""
    masks, lifted = privacy.read_masks(session=db, principal=principal, camera_id=camera_id)
    return MasksOut(
        camera_id=camera_id, masks=[MaskOut.model_validate(m) for m in masks], lifted_until=lifted
    )


@router.put("/cameras/{camera_id:uuid}/privacy-masks", response_model=MasksOut)
def put_masks(camera_id: uuid.UUID, body: MasksIn, principal: CurrentPrincipal, db: Db) -> MasksOut:
    """Replace the camera's privacy masks (cameras.manage); audited."""
    masks = privacy.set_masks(session=db, principal=principal, camera_id=camera_id, masks=body.masks)
    _, lifted = privacy.read_masks(session=db, principal=principal, camera_id=camera_id)
    return MasksOut(
        camera_id=camera_id, masks=[MaskOut.model_validate(m) for m in masks], lifted_until=lifted
    )


@router.post("/cameras/{camera_id:uuid}/privacy-masks/unmask", response_model=UnmaskOut, status_code=201)
def unmask(camera_id: uuid.UUID, body: UnmaskIn, principal: CurrentPrincipal, db: Db) -> UnmaskOut:
    """Lift the camera's masks for the caller only (video.unmask), for a purpose and ≤ 60 minutes; audited."""
    row = privacy.unmask(
        session=db, principal=principal, camera_id=camera_id, purpose=body.purpose, minutes=body.minutes
    )
    return UnmaskOut.model_validate(row)


@router.get("/privacy-unmasks", response_model=list[UnmaskOut])
def list_unmasks(
    principal: CurrentPrincipal, db: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[UnmaskOut]:
    """Who lifted which camera's masks, why, from when until when (audit.read), newest first."""
    return [
        UnmaskOut.model_validate(r.unmask)
        for r in privacy.list_unmasks(session=db, principal=principal, limit=limit)
    ]
