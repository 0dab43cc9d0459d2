"""Number-plate sightings: storing what the cameras read, and the keys that make plates searchable."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import SightingIn

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
