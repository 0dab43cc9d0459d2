"""Sightings as the ANPR pipeline stores and publishes them: a plate rendered onto a real photo, its crop and
the vehicle written under the snapshots directory, the row recorded, then SightingOut published on the bus.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import cv2
from sqlalchemy.orm import Session

from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import SightingIn, SightingOut
from safecity.video.demo import PHOTO, plate_card


def write_pictures(snapshots_dir: Path, sighting: SightingIn, shown: str) -> SightingIn:
    """The plate `shown` on the pickup in the photo: the vehicle picture and the plate crop, on disk."""
    photo = cv2.imread(str(PHOTO))
    card = plate_card([shown])
    x, y = 460, 120
    photo[y : y + card.shape[0], x : x + card.shape[1]] = card
    crop_rel = plates.crop_path(sighting.camera_id, sighting.id, sighting.seen_at, part="crop")
    vehicle_rel = plates.crop_path(sighting.camera_id, sighting.id, sighting.seen_at, part="vehicle")
    for relative, picture in ((crop_rel, card), (vehicle_rel, photo)):
        path = snapshots_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), picture)
    return sighting.model_copy(update={"crop": crop_rel, "snapshot": vehicle_rel})


def sighting_in(
    plate: str | None,
    *,
    camera_id: uuid.UUID | None,
    district_id: uuid.UUID | None,
    at: dt.datetime | None = None,
) -> SightingIn:
    """A sighting of `plate` (None: unreadable) at a camera, now unless told."""
    at = at or dt.datetime.now(dt.UTC)
    return SightingIn(
        camera_id=camera_id,
        district_id=district_id,
        seen_at=at,
        first_seen=at - dt.timedelta(seconds=2),
        last_seen=at,
        plate=plate,
        confidence=0.93 if plate else 0.3,
        char_confidences=[0.93] * len(plate or ""),
        layout="pk-punjab",
        jurisdiction="PK-PB",
        vehicle_class="car",
        colour="white",
        frames=4,
    )


def store(session: Session, sighting: SightingIn, snapshots_dir: Path | None = None) -> SightingOut:
    """Store a sighting (with pictures when `snapshots_dir` is given) and commit, as the pipeline does."""
    if snapshots_dir is not None:
        sighting = write_pictures(snapshots_dir, sighting, sighting.plate or "???")
    row = plates.record(session=session, sighting=sighting)
    session.commit()
    return SightingOut.model_validate(row)


def message(sighting: SightingOut) -> tuple[str, bytes, str]:
    """The bus subject, body and message id the pipeline publishes a stored sighting with."""
    return plates.subject(sighting.camera_id), sighting.model_dump_json().encode(), str(sighting.id)
