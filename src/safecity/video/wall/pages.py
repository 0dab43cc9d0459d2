"""The video wall page: 1, 4, 9 or 16 live tiles of cameras in the user's districts, saved per user."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from safecity.video import live
from safecity.video.wall import service as wall
from safecity.video.wall.models import LAYOUTS
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)


@router.get("/wall", response_class=HTMLResponse)
def wall_page(page: CurrentPage, db: Db) -> Response:
    """The user's video wall with its saved layout and cameras."""
    page.principal.require(live.LIVE_PERMISSION)
    layout, tiles = wall.get_wall(session=db, principal=page.principal)
    cameras = live.watchable_cameras(session=db, principal=page.principal)
    names = {c.id: c.name for c in cameras}
    slots = [(tiles[i] if i < len(tiles) else None) for i in range(max(LAYOUTS))]
    return render(
        page,
        "video/wall.html",
        layout=layout,
        layouts=LAYOUTS,
        tiles=[{"camera_id": str(c) if c else "", "name": names.get(c, "") if c else ""} for c in slots],
        cameras=[{"id": str(c.id), "name": c.name} for c in cameras],
        tile_width=wall.tile_width(layout),
        widths={str(n): wall.tile_width(n) for n in LAYOUTS},
    )
