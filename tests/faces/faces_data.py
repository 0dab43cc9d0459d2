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

from safecity.analytics.faces.engine import FaceEngine
from safecity.analytics.faces.types import FaceSeen
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.crypto import SecretBox
from safecity.faces import service as faces
from safecity.faces.models import AuthorisationKind, WatchlistEntry, WatchlistKind
from safecity.faces.schemas import AuthorisationIn, EntryIn, WatchlistIn
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


def live_gallery(
    *, session: Session, box: SecretBox, camera_id: uuid.UUID, at: dt.datetime
) -> faces.LiveGallery:
    """What one camera may be matched against at `at`."""
    return faces.live_galleries(session=session, box=box, camera_ids=[camera_id], at=at)[camera_id]


def jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return encoded.tobytes()


@cache
def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@cache
def astronaut_seen() -> FaceSeen:
    """The astronaut's face as a camera would give it: analysed by the engine, through JPEG."""
    ok, encoded = cv2.imencode(".jpg", astronaut(), [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    found = FaceEngine().analyse(cv2.imdecode(encoded, cv2.IMREAD_COLOR))
    assert found and found[0].embedding is not None
    return found[0]


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


def listed_entry(
    session: Session, who: Principal, district: District, person_id: uuid.UUID, **watchlist: object
) -> WatchlistEntry:
    """The person on a new watchlist of the district (`watchlist`: changes to `watchlist_in`'s values)."""
    made = faces.create_watchlist(session=session, principal=who, data=watchlist_in(district, **watchlist))
    return faces.add_entry(
        session=session,
        principal=who,
        watchlist_id=made.id,
        data=EntryIn(person_id=person_id, reason="Arrest warrant of 2 Dec 2026", legal_reference="W-88/2026"),
    )


def authorise(
    session: Session,
    requester: Principal,
    approver: Principal,
    district: District,
    watchlist_id: uuid.UUID,
    *,
    cameras: list[uuid.UUID],
    kind: AuthorisationKind = AuthorisationKind.LIVE,
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime | None = None,
    approve: bool = True,
) -> uuid.UUID:
    """An authorisation to match (live, by default) or search the watchlist on the cameras (none: the
    district's), from a minute ago for a day unless told; asked by one person, approved by another.
    """
    now = dt.datetime.now(dt.UTC)
    asked = faces.request_authorisation(
        session=session,
        principal=requester,
        data=AuthorisationIn(
            kind=kind,
            legal_basis="Order of the Sessions Judge, Lahore, 4/2026",
            purpose="Find the accused of FIR 12/2026, wanted under warrant 12/2026",
            district_id=district.id,
            watchlist_ids=[watchlist_id],
            camera_ids=cameras,
            starts_at=starts_at or now - dt.timedelta(minutes=1),
            ends_at=ends_at or now + dt.timedelta(days=1),
        ),
    )
    if approve:
        faces.approve_authorisation(session=session, principal=approver, authorisation_id=asked.id)
    return asked.id
