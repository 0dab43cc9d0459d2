"""Each user's video wall (layout, cameras, tours) and named layouts, kept within what the user may watch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.auth.principal import Principal
from safecity.core.errors import InvalidInput, NotFound
from safecity.video.live import LIVE_PERMISSION, watchable_cameras
from safecity.video.wall.models import LAYOUTS, WallLayout, WallPreset
from safecity.video.wall.schemas import Tour

DEFAULT_LAYOUT = 4
MAX_PRESETS = 50
# Pixels across a tile of each layout: a 4x4 wall needs no full-resolution JPEGs.
TILE_WIDTHS = {1: 1280, 4: 800, 9: 640, 16: 480}


@dataclass(frozen=True)
class TileTour:
    """A tile's camera tour: the cameras it cycles through and how long each is shown."""

    camera_ids: list[uuid.UUID]
    seconds: int


@dataclass(frozen=True)
class Wall:
    """A wall as shown: its layout, one camera (or None) and one tour (or None) per tile."""

    layout: int
    camera_ids: list[uuid.UUID | None]
    tours: list[TileTour | None]


def _wall_owner(principal: Principal) -> uuid.UUID:
    principal.require(LIVE_PERMISSION)
    if principal.user_id is None:
        raise InvalidInput("a video wall belongs to a user", code="wall_needs_user")
    return principal.user_id


def _visible(session: Session, principal: Principal, wanted: set[uuid.UUID]) -> set[uuid.UUID]:
    if not wanted:
        return set()
    return {c.id for c in watchable_cameras(session=session, principal=principal, camera_ids=wanted)}


def _stored_tour(item: object) -> TileTour | None:
    if not isinstance(item, dict):
        return None
    ids, seconds = item.get("camera_ids"), item.get("seconds")
    if not isinstance(ids, list) or not isinstance(seconds, int):
        return None
    return TileTour([uuid.UUID(str(i)) for i in ids], seconds)


def _shown(
    session: Session,
    principal: Principal,
    layout: int,
    camera_ids: Sequence[str | None],
    tours: Sequence[object],
) -> Wall:
    """A stored wall as the principal may see it now: cameras that left their scope become empty tiles."""
    ids = [uuid.UUID(i) if i else None for i in camera_ids][:layout]
    stored = [_stored_tour(t) for t in tours][:layout]
    wanted = {i for i in ids if i is not None} | {c for t in stored if t for c in t.camera_ids}
    visible = _visible(session, principal, wanted)
    tiles = [i if i in visible else None for i in ids] + [None] * (layout - len(ids))
    shown: list[TileTour | None] = []
    for tour in stored + [None] * (layout - len(stored)):
        kept = [c for c in tour.camera_ids if c in visible] if tour else []
        shown.append(TileTour(kept, tour.seconds) if tour and len(kept) >= 2 else None)
    return Wall(layout, tiles, shown)


def get_wall(*, session: Session, principal: Principal) -> Wall:
    """The principal's saved wall: its layout, and one camera id (or None) and tour (or None) per tile.

    Cameras that have left the principal's scope (or were removed) show as empty tiles and leave tours.
    """
    saved = session.get(WallLayout, _wall_owner(principal))
    if saved is None:  # a first visit shows the first cameras one may watch, not a wall of empty tiles
        first = [c.id for c in watchable_cameras(session=session, principal=principal)][:DEFAULT_LAYOUT]
        return Wall(
            DEFAULT_LAYOUT, [*first, *[None] * (DEFAULT_LAYOUT - len(first))], [None] * DEFAULT_LAYOUT
        )
    return _shown(session, principal, saved.layout, saved.camera_ids, saved.tours)


def _checked(
    session: Session,
    principal: Principal,
    layout: int,
    camera_ids: Sequence[uuid.UUID | None],
    tours: Sequence[Tour | None],
) -> tuple[list[str | None], list[dict[str, object] | None]]:
    """A wall to store, as JSON; every camera must be one the principal may watch."""
    if layout not in LAYOUTS:
        raise InvalidInput(f"layout must be one of {', '.join(map(str, LAYOUTS))}", code="bad_layout")
    if len(camera_ids) > layout or len(tours) > layout:
        raise InvalidInput(f"a layout of {layout} has only {layout} tiles", code="too_many_tiles")
    wanted = {c for c in camera_ids if c is not None} | {c for t in tours if t for c in t.camera_ids}
    if missing := wanted - _visible(session, principal, wanted):
        raise InvalidInput(
            f"camera {min(missing, key=str)} is not one you can watch", code="camera_not_found"
        )
    tiles = [str(c) if c else None for c in camera_ids] + [None] * (layout - len(camera_ids))
    stored: list[dict[str, object] | None] = [
        {"camera_ids": [str(c) for c in t.camera_ids], "seconds": t.seconds} if t else None for t in tours
    ]
    return tiles, stored + [None] * (layout - len(stored))


def save_wall(
    *,
    session: Session,
    principal: Principal,
    layout: int,
    camera_ids: Sequence[uuid.UUID | None],
    tours: Sequence[Tour | None] = (),
) -> WallLayout:
    """Save the principal's wall; every camera must be one they may watch (in scope, enabled, approved)."""
    user_id = _wall_owner(principal)
    tiles, stored = _checked(session, principal, layout, camera_ids, tours)
    saved = session.get(WallLayout, user_id)
    if saved is None:
        saved = WallLayout(user_id=user_id, layout=layout, camera_ids=tiles, tours=stored)
        session.add(saved)
    else:
        saved.layout, saved.camera_ids, saved.tours = layout, tiles, stored
    session.flush()
    return saved


# --- named layouts --------------------------------------------------------------------------------


def list_presets(*, session: Session, principal: Principal) -> list[tuple[WallPreset, Wall]]:
    """The principal's named layouts by name, each as they may see it now."""
    user_id = _wall_owner(principal)
    rows = session.scalars(select(WallPreset).where(WallPreset.user_id == user_id).order_by(WallPreset.name))
    return [(row, _shown(session, principal, row.layout, row.camera_ids, row.tours)) for row in rows]


def save_preset(
    *,
    session: Session,
    principal: Principal,
    name: str,
    layout: int,
    camera_ids: Sequence[uuid.UUID | None],
    tours: Sequence[Tour | None] = (),
) -> WallPreset:
    """Save a wall under a name (replacing the principal's layout of that name)."""
    user_id = _wall_owner(principal)
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("give the layout a name", code="preset_name_required")
    tiles, stored = _checked(session, principal, layout, camera_ids, tours)
    preset = session.scalars(
        select(WallPreset).where(WallPreset.user_id == user_id, WallPreset.name == name)
    ).one_or_none()
    if preset is None:
        count = len(list(session.scalars(select(WallPreset.id).where(WallPreset.user_id == user_id))))
        if count >= MAX_PRESETS:
            raise InvalidInput(f"keep at most {MAX_PRESETS} named layouts", code="too_many_presets")
        preset = WallPreset(user_id=user_id, name=name, layout=layout, camera_ids=tiles, tours=stored)
        session.add(preset)
    else:
        preset.layout, preset.camera_ids, preset.tours = layout, tiles, stored
    session.flush()
    return preset


def delete_preset(*, session: Session, principal: Principal, preset_id: uuid.UUID) -> None:
    """Delete one of the principal's named layouts (another user's is not found)."""
    user_id = _wall_owner(principal)
    preset = session.get(WallPreset, preset_id)
    if preset is None or preset.user_id != user_id:
        raise NotFound("no such layout", code="preset_not_found")
    session.delete(preset)
    session.flush()


def tile_width(layout: int) -> int:
    """The JPEG width that suits a tile of `layout`."""
    return TILE_WIDTHS.get(layout, 640)
