"""A recorded scene for synopsis tests: a real background (scikit-image's coffee) and three real objects
(crops of scikit-image's astronaut, cat and rocket) crossing it left to right at three different minutes,
each in its own band of the picture; recorded by the real recorder, with the object tracks stored as the
analytics would store them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data
from sqlalchemy.orm import Session

from safecity.cameras.models import Camera
from safecity.forensics.models import ObjectTrack

T0 = dt.datetime(2026, 11, 22, 5, 0, 0, tzinfo=dt.UTC)
WIDTH, HEIGHT, FPS, GOP = 320, 240, 5, 10
SECONDS = 180  # three minutes
SEGMENT_S = 20  # the recorder's segments of the scene
OBJECT_W, OBJECT_H = 44, 52
CROSSING_S = 8.0
# (class, first seen (s after T0), top of its band)
OBJECTS = (("person", 10.0, 20), ("cat", 70.0, 95), ("car", 130.0, 170))


def scene() -> np.ndarray:
    """The empty scene (BGR, WIDTH x HEIGHT)."""
    return cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (WIDTH, HEIGHT))


def sprites() -> list[np.ndarray]:
    """The three objects (BGR, OBJECT_W x OBJECT_H): an astronaut's face, a cat, a rocket."""
    crops = [
        data.astronaut()[20:220, 160:330],
        data.chelsea()[40:280, 100:320],
        data.rocket()[60:420, 200:360],
    ]
    return [cv2.resize(cv2.cvtColor(c, cv2.COLOR_RGB2BGR), (OBJECT_W, OBJECT_H)) for c in crops]


def position(kind: int, t: float) -> tuple[int, int] | None:
    """Top-left corner of object `kind` at `t` s after T0 (None: not in the picture)."""
    _, first, top = OBJECTS[kind]
    if not first <= t <= first + CROSSING_S:
        return None
    x = round(10 + (WIDTH - OBJECT_W - 20) * (t - first) / CROSSING_S)
    return x, top


def encode(path: Path, seconds: int = SECONDS) -> Path:
    """The scene as H.264 MP4 (WIDTH x HEIGHT, FPS, a key frame every GOP frames)."""
    back, things = scene(), sprites()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.options = {
            "preset": "ultrafast",
            "g": str(GOP),
            "keyint_min": str(GOP),
            "sc_threshold": "0",
            "bf": "0",
        }
        for number in range(seconds * FPS):
            t = number / FPS
            frame = back.copy()
            for kind, sprite in enumerate(things):
                at = position(kind, t)
                if at is not None:
                    frame[at[1] : at[1] + OBJECT_H, at[0] : at[0] + OBJECT_W] = sprite
            picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
            picture.pts, picture.time_base = number, Fraction(1, FPS)
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    return path


def store_tracks(session: Session, camera: Camera) -> list[ObjectTrack]:
    """The three objects' tracks as the analytics would store them (a box every half second)."""
    tracks = []
    for kind, (class_name, first, _top) in enumerate(OBJECTS):
        path = []
        for step in range(int(CROSSING_S * 2) + 1):
            x, y = position(kind, first + step / 2) or (0, 0)
            path.append([step / 2, x / WIDTH, y / HEIGHT, (x + OBJECT_W) / WIDTH, (y + OBJECT_H) / HEIGHT])
        track = ObjectTrack(
            id=uuid.uuid4(),
            camera_id=camera.id,
            district_id=camera.district_id,
            track_id=kind + 1,
            class_name=class_name,
            colour=None,
            first_seen=T0 + dt.timedelta(seconds=first),
            last_seen=T0 + dt.timedelta(seconds=first + CROSSING_S),
            direction="right",
            path=path,
            frame_width=WIDTH,
            frame_height=HEIGHT,
        )
        session.add(track)
        tracks.append(track)
    session.flush()
    return tracks
