"""Photos and records for the face tests: the astronaut (one good face), the coffee cup (none), two
astronauts side by side (ambiguous), and a district with a camera and a person of the records.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from skimage import data
from sqlalchemy.orm import Session

from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.faces.models import WatchlistKind
from safecity.faces.schemas import WatchlistIn
from safecity.org.models import District
from safecity.records import service as records
from safecity.records.schemas import PersonNew

CLERK = Principal(
    user_id=None,
    username="records-clerk",
    permissions=frozenset({"records.read", "records.manage"}),
    district_ids=None,
    via="system",
)


def jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return encoded.tobytes()


@cache
def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@cache
def astronaut_jpeg() -> bytes:
    return jpeg(astronaut())


@cache
def astronaut_mirrored_jpeg() -> bytes:
    """The same person again in a second photo (mirrored: other bytes, the same face)."""
    return jpeg(np.ascontiguousarray(astronaut()[:, ::-1]))


@cache
def coffee_jpeg() -> bytes:
    return jpeg(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))


@cache
def two_astronauts_jpeg() -> bytes:
    return jpeg(np.hstack([astronaut(), astronaut()]))


@dataclass(frozen=True)
class Place:
    district: District
    camera_id: uuid.UUID
    person_id: uuid.UUID


def place(session: Session, district: District, *, cnic: str = "35202-7654321-3") -> Place:
    """A camera in the district and a person of its records (Eileen Collins, whom the astronaut shows)."""
    camera = Camera(name="Mall Road", district_id=district.id, latitude=31.56, longitude=74.31, stream_url="")
    session.add(camera)
    session.flush()
    person = records.create_person(
        session=session,
        principal=CLERK,
        data=PersonNew(
            cnic=cnic, name="Eileen Collins", father_name="James Collins", district_id=district.id
        ),
    )
    return Place(district, camera.id, person.id)


def watchlist_in(district: District, **changes: object) -> WatchlistIn:
    now = dt.datetime.now(dt.UTC)
    values: dict[str, object] = {
        "name": "Wanted in Lahore",
        "kind": WatchlistKind.WANTED,
        "legal_basis": "Warrants of the Judicial Magistrate, s. 75 CrPC",
        "district_id": district.id,
        "review_at": now + dt.timedelta(days=30),
        "expires_at": now + dt.timedelta(days=90),
    }
    values.update(changes)
    return WatchlistIn.model_validate(values)
