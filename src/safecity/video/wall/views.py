"""REST API of the caller's video wall (/api/v1/wall) and named layouts (/api/v1/wall/layouts)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from safecity.video.wall import service as wall
from safecity.video.wall.models import WallPreset
from safecity.video.wall.schemas import PresetIn, PresetOut, TourOut, WallIn, WallOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["video"])


def wall_out(shown: wall.Wall) -> WallOut:
    """A wall as the API answers it."""
    return WallOut(
        layout=shown.layout,
        camera_ids=shown.camera_ids,
        tours=[TourOut(camera_ids=t.camera_ids, seconds=t.seconds) if t else None for t in shown.tours],
    )


def preset_out(preset: WallPreset, shown: wall.Wall) -> PresetOut:
    """A named layout as the API answers it."""
    return PresetOut(
        id=preset.id, name=preset.name, created_at=preset.created_at, **wall_out(shown).model_dump()
    )


@router.get("/wall", response_model=WallOut)
def get_wall(principal: CurrentPrincipal, db: Db) -> WallOut:
    """The caller's video wall: layout (1, 4, 9 or 16 tiles), the camera and camera tour on each tile."""
    return wall_out(wall.get_wall(session=db, principal=principal))


@router.put("/wall", response_model=WallOut)
def put_wall(body: WallIn, principal: CurrentPrincipal, db: Db) -> WallOut:
    """Save the caller's video wall; every camera must be within the caller's districts."""
    wall.save_wall(
        session=db, principal=principal, layout=body.layout, camera_ids=body.camera_ids, tours=body.tours
    )
    return wall_out(wall.get_wall(session=db, principal=principal))


@router.get("/wall/layouts", response_model=list[PresetOut])
def list_layouts(principal: CurrentPrincipal, db: Db) -> list[PresetOut]:
    """The caller's named wall layouts."""
    return [preset_out(p, shown) for p, shown in wall.list_presets(session=db, principal=principal)]


@router.post("/wall/layouts", response_model=PresetOut, status_code=201)
def post_layout(body: PresetIn, principal: CurrentPrincipal, db: Db) -> PresetOut:
    """Save a wall under a name (a layout of the same name is replaced)."""
    preset = wall.save_preset(
        session=db,
        principal=principal,
        name=body.name,
        layout=body.layout,
        camera_ids=body.camera_ids,
        tours=body.tours,
    )
    shown = next(s for p, s in wall.list_presets(session=db, principal=principal) if p.id == preset.id)
    return preset_out(preset, shown)


@router.delete("/wall/layouts/{preset_id}", status_code=204)
def delete_layout(preset_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """Delete one of the caller's named layouts."""
    wall.delete_preset(session=db, principal=principal, preset_id=preset_id)
    return Response(status_code=204)
