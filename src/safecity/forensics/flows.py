"""From the analytics' finished tracks to stored objects: their best view written, then the record handed
to the bus (or stored at once in the embedded mode), and the store's consumer that takes them off the bus.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from functools import partial
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics import attributes, snapshots
from safecity.analytics.pipeline import VIEW_MAX_PX, Followed
from safecity.analytics.tracking import Track
from safecity.analytics.types import Image, class_name
from safecity.cameras.privacy import service as privacy
from safecity.core.bus import Bus
from safecity.core.bus.store import StoreConsumer
from safecity.forensics import service as forensics
from safecity.forensics.schemas import TrackIn

TRACK_STORE = "object-track-store"  # the object store's durable consumer, shared by every process


def masked_view(view: Image, track: Track, masks: privacy.Masks) -> Image:
    """The track's best view with the camera's privacy masks applied where it shows them.

    The view was cut from a frame at one of the track's boxes: the boxes of its path whose size matches the
    view's are where it may have been cut, and the masks are applied as seen through each of them. When
    none matches (the path keeps only the latest boxes) and the path came near a mask, the whole view is
    blacked out rather than risk showing a masked area.
    """
    if not masks:
        return view
    width, height = track.frame_size
    seen_h, seen_w = view.shape[:2]
    matched = False
    for _, fx1, fy1, fx2, fy2 in track.boxes:
        x1, y1 = max(0, round(fx1 * width)), max(0, round(fy1 * height))
        x2, y2 = min(width, round(fx2 * width)), min(height, round(fy2 * height))
        if x2 <= x1 or y2 <= y1:
            continue
        scale = min(1.0, VIEW_MAX_PX / max(x2 - x1, y2 - y1))
        if abs((x2 - x1) * scale - seen_w) <= 2 and abs((y2 - y1) * scale - seen_h) <= 2:
            matched = True
            view = privacy.mask_crop(view, masks, box=(x1, y1, x2, y2), frame_size=(width, height))
    if matched:
        return view
    if any(privacy.overlaps(masks, (x1, y1, x2, y2)) for _, x1, y1, x2, y2 in track.boxes):
        return privacy.apply_masks(view, [((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))])
    return view


def track_of(followed: Followed, *, snapshots_dir: Path, masks: privacy.Masks = ()) -> TrackIn:
    """A finished track as a record with a new id, its best view written first (so it exists before
    anything refers to it) with the camera's privacy `masks` applied; blocking: run it off the event loop
    and the detector's thread.
    """
    track, camera = followed.track, followed.camera
    object_id = uuid.uuid4()
    snapshot = None
    if followed.view is not None and followed.view.size:
        snapshot = forensics.snapshot_path(camera.camera_id, object_id, track.first_wall)
        snapshots.save(masked_view(followed.view, track, masks), snapshots_dir, snapshot)
    colour, share = track.colour()
    width, height = track.frame_size
    return TrackIn(
        id=object_id,
        camera_id=camera.camera_id,
        district_id=camera.district_id,
        track_id=track.track_id,
        class_name=class_name(track.class_id),
        colour=colour,
        colour_share=share,
        first_seen=track.first_wall,
        last_seen=track.last_wall,
        direction=attributes.motion(list(track.path), track.frame_size, window_s=math.inf)["direction"],
        path=[
            (round(t - track.first_seen, 2), round(x1, 4), round(y1, 4), round(x2, 4), round(y2, 4))
            for t, x1, y1, x2, y2 in track.boxes
        ],
        frame_width=max(1, width),
        frame_height=max(1, height),
        snapshot=snapshot,
    )


def store_tracks(session_factory: sessionmaker[Session], tracks: list[TrackIn]) -> int:
    """`record_tracks` in a transaction of its own; blocking."""
    with session_factory() as session:
        stored = forensics.record_tracks(session=session, tracks=tracks)
        session.commit()
    return stored


async def tracks_from_bus(
    *,
    bus: Bus,
    session_factory: sessionmaker[Session],
    stop: asyncio.Event,
    subject: str = "forensics.track.>",
    durable: str = TRACK_STORE,
    batch_size: int = 500,
    max_wait: float = 0.2,
) -> None:
    """Store the finished tracks published on the bus in batches until `stop` is set: commit, then ack."""
    consumer = StoreConsumer(
        what="object track",
        parse=TrackIn.model_validate_json,
        commit=partial(store_tracks, session_factory),
        key=lambda track: track.id,
    )
    await consumer.run(
        bus=bus, subject=subject, durable=durable, stop=stop, batch_size=batch_size, max_wait=max_wait
    )
