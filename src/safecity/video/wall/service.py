"""Each user's video wall: the saved layout and cameras, kept within what the user may watch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from safecity.auth.principal import Principal
from safecity.core.errors import InvalidInput
from safecity.video.live import LIVE_PERMISSION, watchable_cameras
from safecity.video.wall.models import LAYOUTS, WallLayout

DEFAULT_LAYOUT = 4
# Pixels across a tile of each layout: a 4x4 wall needs no full-resolution JPEGs.
TILE_WIDTHS = {1: 1280, 4: 800, 9: 640, 16: 480}


def _wall_owner(principal: Principal) -> uuid.UUID:
    principal.require(LIVE_PERMISSION)
    if principal.user_id is None:
        raise InvalidInput("a video wall belongs to a user", code="wall_needs_user")
    return principal.user_id


def get_wall(*, session: Session, principal: Principal) -> tuple[int, list[uuid.UUID | None]]:
    """The principal's saved wall: its layout and one camera id (or None) per tile.

    Cameras that have left the principal's scope (or were removed) show as empty tiles.
    """
    saved = session.get(WallLayout, _wall_owner(principal))
    if saved is None:  # a first visit shows the first cameras one may watch, not a wall of empty tiles
        first = [c.id for c in watchable_cameras(session=session, principal=principal)][:DEFAULT_LAYOUT]
        return DEFAULT_LAYOUT, [*first, *[None] * (DEFAULT_LAYOUT - len(first))]
    ids = [uuid.UUID(i) if i else None for i in saved.camera_ids][: saved.layout]
    wanted = {i for i in ids if i is not None}
    visible = {c.id for c in watchable_cameras(session=session, principal=principal, camera_ids=wanted)}
    tiles = [i if i in visible else None for i in ids]
    return saved.layout, tiles + [None] * (saved.layout - len(tiles))


def save_wall(
    *, session: Session, principal: Principal, layout: int, camera_ids: Sequence[uuid.UUID | None]
) -> WallLayout:
    """Save the principal's wall; every camera must be one they may watch (in scope, enabled, approved)."""
    user_id = _wall_owner(principal)
    if layout not in LAYOUTS:
        raise InvalidInput(f"layout must be one of {', '.join(map(str, LAYOUTS))}", code="bad_layout")
    if len(camera_ids) > layout:
        raise InvalidInput(f"a layout of {layout} has only {layout} tiles", code="too_many_tiles")
    wanted = {c for c in camera_ids if c is not None}
    found = {c.id for c in watchable_cameras(session=session, principal=principal, camera_ids=wanted)}
    if missing := wanted - found:
        raise InvalidInput(
            f"camera {min(missing, key=str)} is not one you can watch", code="camera_not_found"
        )
    tiles = [str(c) if c else None for c in camera_ids] + [None] * (layout - len(camera_ids))
    saved = session.get(WallLayout, user_id)
    if saved is None:
        saved = WallLayout(user_id=user_id, layout=layout, camera_ids=tiles)
        session.add(saved)
    else:
        saved.layout, saved.camera_ids = layout, tiles
    session.flush()
    return saved


def tile_width(layout: int) -> int:
    """The JPEG width that suits a tile of `layout`."""
    return TILE_WIDTHS.get(layout, 640)
