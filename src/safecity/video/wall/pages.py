"""The video wall page: 1, 4, 9 or 16 live tiles of cameras in the user's districts, saved per user.

Tiles may tour through cameras, replay their last 30 seconds, go full screen; walls are saved under names.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from safecity.video import live, recorder
from safecity.video.wall import service as wall
from safecity.video.wall.models import LAYOUTS
from safecity.video.wall.views import preset_out, wall_out
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)


@router.get("/wall", response_class=HTMLResponse)
def wall_page(page: CurrentPage, db: Db) -> Response:
    """The user's video wall with its saved layout, cameras and tours, and their named layouts."""
    page.principal.require(live.LIVE_PERMISSION)
    shown = wall.get_wall(session=db, principal=page.principal)
    layout = shown.layout
    cameras = live.watchable_cameras(session=db, principal=page.principal)
    names = {c.id: c.name for c in cameras}
    slots = [(shown.camera_ids[i] if i < len(shown.camera_ids) else None) for i in range(max(LAYOUTS))]
    tours = [(shown.tours[i] if i < len(shown.tours) else None) for i in range(max(LAYOUTS))]
    return render(
        page,
        "video/wall.html",
        layout=layout,
        layouts=LAYOUTS,
        tiles=[
            {
                "camera_id": str(c) if c else "",
                "name": names.get(c, "") if c else "",
                "tour": {"camera_ids": [str(i) for i in t.camera_ids], "seconds": t.seconds} if t else None,
            }
            for c, t in zip(slots, tours, strict=True)
        ],
        cameras=[{"id": str(c.id), "name": c.name} for c in cameras],
        tile_width=wall.tile_width(layout),
        widths={str(n): wall.tile_width(n) for n in LAYOUTS},
        presets=[
            preset_out(p, s).model_dump(mode="json")
            for p, s in wall.list_presets(session=db, principal=page.principal)
        ],
        current=wall_out(shown).model_dump(mode="json"),
        can_replay=page.principal.can(recorder.PLAYBACK_PERMISSION),
        timezone=str(page.timezone),
    )
