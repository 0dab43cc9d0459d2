"""REST API of the caller's video wall (/api/v1/wall)."""

from __future__ import annotations

from fastapi import APIRouter

from safecity.video.wall import service as wall
from safecity.video.wall.schemas import WallIn, WallOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["video"])


@router.get("/wall", response_model=WallOut)
def get_wall(principal: CurrentPrincipal, db: Db) -> WallOut:
    """The caller's video wall: layout (1, 4, 9 or 16 tiles) and the camera on each tile."""
    layout, tiles = wall.get_wall(session=db, principal=principal)
    return WallOut(layout=layout, camera_ids=tiles)


@router.put("/wall", response_model=WallOut)
def put_wall(body: WallIn, principal: CurrentPrincipal, db: Db) -> WallOut:
    """Save the caller's video wall; every camera must be within the caller's districts."""
    wall.save_wall(session=db, principal=principal, layout=body.layout, camera_ids=body.camera_ids)
    layout, tiles = wall.get_wall(session=db, principal=principal)
    return WallOut(layout=layout, camera_ids=tiles)
