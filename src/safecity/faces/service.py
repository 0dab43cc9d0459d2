"""Face recognition under rules: watchlists of records persons, enrolment of their photos (sealed at rest),
authorisations approved by a second person, the gallery a camera may match against, and error rates.

Live matching asks `live_galleries` what its cameras may match now: nothing at all unless an approved,
unrevoked live authorisation current at that moment names the camera, and then only the unexpired
entries of the unexpired watchlists it names (read once for the cameras under the same authorisations,
opening only the embeddings the matcher does not hold yet). `gallery_stamp` tells a worker cheaply
whether anything changed since it last asked; `valid_until` when the answer changes by the clock alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from safecity.analytics.faces.engine import FaceEngine
from safecity.analytics.faces.types import Embedding, FaceSeen
from safecity.audit import service as audit
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import FaceSettings, Settings
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.core.identifiers import cnic_digits
from safecity.faces.models import (
    Authorisation,
    AuthorisationKind,
    Enrolment,
    FaceEvaluation,
    Watchlist,
    WatchlistEntry,
    authorisation_cameras,
    authorisation_watchlists,
)
from safecity.faces.schemas import (
    MAX_ENROL_PHOTO_BYTES,
    MAX_ENROL_PHOTOS,
    MIN_TEXT,
    AuthorisationIn,
    AuthorisationOut,
    EnrolmentReport,
    EntryIn,
    PhotoResult,
    WatchlistIn,
    WatchlistUpdate,
)
from safecity.records import service as records
from safecity.records.models import Person
from safecity.traffic.appeals.service import AttachmentRefused, check_attachment

logger = logging.getLogger(__name__)

SEARCH = "faces.search"
READ = "faces.read"
CONFIRM = "faces.confirm"
ENROL = "faces.enrol"
AUTHORISE = "faces.authorise"
OVERSEE = "faces.oversee"
# Who may see the watchlists and authorisations at all (each action then needs its own permission).
FACES_ANY = (SEARCH, READ, CONFIRM, ENROL, AUTHORISE, OVERSEE)

EMBEDDING_DIM = 128
MAX_ANALYSED_SIDE = 2560  # larger photos are scaled down first: a portrait's face stays large
RIVAL_FACE_SHARE = 0.33  # a second face at least this share of the main one's width makes a photo ambiguous
CHIP_JPEG_QUALITY = 92
OPEN_CHUNK = 1000  # enrolments whose sealed embeddings a live gallery reads in one query

# The audit actions of face recognition the oversight report counts (other parts of faces write some).
OVERSIGHT_ACTIONS = {
    "faces.authorisation.request": "requested",
    "faces.authorisation.approve": "approved",
    "faces.authorisation.revoke": "revoked",
    "faces.enrol": "enrolments",
    "faces.search": "searches",
    "faces.match": "matches",
    "faces.match.confirm": "confirmations",
    "faces.match.reject": "rejections",
}


def biometric_box(settings: Settings) -> SecretBox:
    """The key that seals enrolled faces and embeddings (purpose "biometrics": no other key opens them)."""
    return SecretBox(settings.secret_key.get_secret_value(), "biometrics")


class SharedFaceEngine:
    """The process's face engine, built on first use and lent to one thread at a time (dlib's models are
    not shared across threads); enrolments queue for it.
    """

    def __init__(self, settings: FaceSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._engine: FaceEngine | None = None

    @contextmanager
    def borrow(self) -> Iterator[FaceEngine]:
        """The engine, held by the calling thread until the block ends."""
        with self._lock:
            if self._engine is None:
                self._engine = FaceEngine(self._settings)
            yield self._engine


def _require_any(principal: Principal, permissions: Iterable[str]) -> None:
    wanted = tuple(permissions)
    if not any(principal.can(p) for p in wanted):
        raise PermissionDenied(f"this needs one of the permissions {', '.join(wanted)}")


def _audit(
    session: Session,
    principal: Principal | None,
    action: str,
    object_type: str,
    object_id: uuid.UUID | str,
    district_id: uuid.UUID | None,
    detail: Mapping[str, Any] | None = None,
    *,
    outcome: str = "success",
    purpose: str | None = None,
) -> None:
    audit.record(
        session=session,
        action=action,
        outcome=outcome,
        actor=principal,
        object_type=object_type,
        object_id=str(object_id),
        purpose=purpose,
        district_id=district_id,
        detail=detail,
    )


def _district_for(principal: Principal, district_id: uuid.UUID | None) -> uuid.UUID:
    """The district named (within scope), or the principal's only one."""
    if district_id is None:
        if principal.district_ids is None or len(principal.district_ids) != 1:
            raise InvalidInput("choose the district", code="district_required", field="district_id")
        return next(iter(principal.district_ids))
    if not principal.sees_district(district_id):
        raise PermissionDenied("that district is outside yours", code="out_of_district")
    return district_id


def _live(expires_at: dt.datetime | None, at: dt.datetime) -> bool:
    return expires_at is None or expires_at > at


def _unexpired(column: Any, at: dt.datetime) -> ColumnElement[bool]:
    return or_(column.is_(None), column > at)


# --- watchlists ------------------------------------------------------------------------------------


def create_watchlist(*, session: Session, principal: Principal, data: WatchlistIn) -> Watchlist:
    """A new watchlist kept by a district (faces.enrol); its creator owns it."""
    principal.require(ENROL)
    district_id = _district_for(principal, data.district_id)
    now = utcnow()
    if data.expires_at is not None and data.expires_at <= now:
        raise InvalidInput("the expiry must be in the future", code="expiry_past", field="expires_at")
    watchlist = Watchlist(
        id=uuid.uuid4(),
        name=data.name,
        kind=data.kind,
        legal_basis=data.legal_basis,
        district_id=district_id,
        owner_id=principal.user_id,
        owner_name=principal.username[:64],
        review_at=data.review_at,
        expires_at=data.expires_at,
        created_at=now,
        updated_at=now,
    )
    session.add(watchlist)
    session.flush()
    _audit(
        session,
        principal,
        "faces.watchlist.create",
        "face_watchlist",
        watchlist.id,
        district_id,
        {"kind": data.kind.value, "name": data.name},
    )
    return watchlist


def get_watchlist(*, session: Session, principal: Principal, watchlist_id: uuid.UUID) -> Watchlist:
    """A watchlist within the principal's districts; NotFound alike for an absent one and one outside."""
    _require_any(principal, FACES_ANY)
    watchlist = session.get(Watchlist, watchlist_id)
    if watchlist is None or not principal.sees_district(watchlist.district_id):
        raise NotFound("no such watchlist", code="watchlist_not_found")
    return watchlist


def list_watchlists(*, session: Session, principal: Principal) -> list[tuple[Watchlist, int]]:
    """The watchlists of the principal's districts, each with its number of current entries."""
    _require_any(principal, FACES_ANY)
    entries = (
        select(WatchlistEntry.watchlist_id, func.count().label("n"))
        .where(WatchlistEntry.removed_at.is_(None))
        .group_by(WatchlistEntry.watchlist_id)
        .subquery()
    )
    rows = session.execute(
        select(Watchlist, func.coalesce(entries.c.n, 0))
        .outerjoin(entries, entries.c.watchlist_id == Watchlist.id)
        .where(principal.district_filter(Watchlist.district_id))
        .order_by(Watchlist.name)
    )
    return [(w, int(n)) for w, n in rows]


def update_watchlist(
    *, session: Session, principal: Principal, watchlist_id: uuid.UUID, data: WatchlistUpdate
) -> Watchlist:
    """Change a watchlist's name, legal basis, review date or expiry (faces.enrol, within its district)."""
    principal.require(ENROL)
    watchlist = get_watchlist(session=session, principal=principal, watchlist_id=watchlist_id)
    changed = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    for field, value in changed.items():
        setattr(watchlist, field, value)
    watchlist.updated_at = utcnow()
    session.flush()
    _audit(
        session,
        principal,
        "faces.watchlist.update",
        "face_watchlist",
        watchlist.id,
        watchlist.district_id,
        {"changed": sorted(changed)},
    )
    return watchlist


def watchlist_state(watchlist: Watchlist, now: dt.datetime | None = None) -> str:
    """`expired`, `review_due` (past its review date) or `active`."""
    moment = now or utcnow()
    if not _live(watchlist.expires_at, moment):
        return "expired"
    return "review_due" if watchlist.review_at <= moment else "active"


# --- entries ---------------------------------------------------------------------------------------


def add_entry(
    *, session: Session, principal: Principal, watchlist_id: uuid.UUID, data: EntryIn
) -> WatchlistEntry:
    """Put a person of the records on a watchlist (faces.enrol); refused on an expired list or twice."""
    principal.require(ENROL)
    watchlist = get_watchlist(session=session, principal=principal, watchlist_id=watchlist_id)
    now = utcnow()
    if not _live(watchlist.expires_at, now):
        raise Conflict("the watchlist has expired", code="watchlist_expired")
    person = session.get(Person, data.person_id)
    while person is not None and person.merged_into_id is not None:  # an old link leads to the kept record
        person = session.get(Person, person.merged_into_id)
    if person is None or not records.shown(principal, person):  # a hidden sensitive record: as if absent
        raise InvalidInput("no such person in the records", code="unknown_person", field="person_id")
    if data.expires_at is not None and data.expires_at <= now:
        raise InvalidInput("the expiry must be in the future", code="expiry_past", field="expires_at")
    if session.scalar(
        select(WatchlistEntry.id).where(
            WatchlistEntry.watchlist_id == watchlist.id,
            WatchlistEntry.person_id == person.id,
            WatchlistEntry.removed_at.is_(None),
        )
    ):
        raise Conflict("this person is on the watchlist already", code="already_listed")
    entry = WatchlistEntry(
        id=uuid.uuid4(),
        watchlist_id=watchlist.id,
        person_id=person.id,
        reason=data.reason,
        legal_reference=data.legal_reference,
        added_by_id=principal.user_id,
        added_by=principal.username[:64],
        added_at=now,
        expires_at=data.expires_at,
        updated_at=now,
    )
    session.add(entry)
    watchlist.updated_at = now
    session.flush()
    _audit(
        session,
        principal,
        "faces.entry.add",
        "face_watchlist_entry",
        entry.id,
        watchlist.district_id,
        {"watchlist": str(watchlist.id), "person": str(person.id)},
    )
    return entry


def person_by_cnic(*, session: Session, principal: Principal, cnic: str) -> uuid.UUID:
    """The record id of the live person with this CNIC (faces.enrol: to put them on a watchlist)."""
    principal.require(ENROL)
    try:
        digits = cnic_digits(cnic)
    except ValueError:
        raise InvalidInput("give a CNIC as 35202-1234567-1", code="bad_cnic", field="person") from None
    found = session.scalar(
        select(Person.id).where(
            Person.cnic == digits, Person.merged_into_id.is_(None), records.shown_clause(principal)
        )
    )
    if found is None:
        raise InvalidInput("no person with this CNIC in the records", code="unknown_person", field="person")
    return found


def cameras_of(*, session: Session, principal: Principal) -> list[Camera]:
    """The cameras of the principal's districts, by name (to choose those an authorisation covers)."""
    _require_any(principal, FACES_ANY)
    query = select(Camera).where(principal.district_filter(Camera.district_id))
    return list(session.scalars(query.order_by(Camera.name, Camera.id)))


def get_entry(
    *, session: Session, principal: Principal, entry_id: uuid.UUID
) -> tuple[WatchlistEntry, Watchlist]:
    """An entry and its watchlist, within the principal's districts, of a person whose record the principal
    may know of (a sensitive one needs records.sensitive, as in the records); NotFound otherwise.
    """
    _require_any(principal, FACES_ANY)
    entry = session.get(WatchlistEntry, entry_id)
    watchlist = session.get(Watchlist, entry.watchlist_id) if entry is not None else None
    person = session.get(Person, entry.person_id) if entry is not None else None
    if (
        entry is None
        or watchlist is None
        or not principal.sees_district(watchlist.district_id)
        or (person is not None and not records.shown(principal, person))
    ):
        raise NotFound("no such watchlist entry", code="entry_not_found")
    return entry, watchlist


def remove_entry(
    *, session: Session, principal: Principal, entry_id: uuid.UUID, reason: str
) -> WatchlistEntry:
    """Take a person off a watchlist (faces.enrol): the entry stops matching and its biometric data is
    deleted (the entry itself stays, for the record of who was listed and why).
    """
    principal.require(ENROL)
    entry, watchlist = get_entry(session=session, principal=principal, entry_id=entry_id)
    text = " ".join(reason.split())
    if len(text) < MIN_TEXT:
        raise InvalidInput(
            f"say why (at least {MIN_TEXT} characters)", code="reason_required", field="reason"
        )
    if entry.removed_at is not None:
        raise Conflict("the entry was removed already", code="entry_removed")
    now = utcnow()
    entry.removed_at = now
    entry.removed_by = principal.username[:64]
    entry.removal_reason = text[:500]
    entry.updated_at = now
    watchlist.updated_at = now
    dropped = session.scalar(select(func.count()).where(Enrolment.entry_id == entry.id))
    session.execute(delete(Enrolment).where(Enrolment.entry_id == entry.id))
    session.flush()
    _audit(
        session,
        principal,
        "faces.entry.remove",
        "face_watchlist_entry",
        entry.id,
        watchlist.district_id,
        {"enrolments_deleted": int(dropped or 0)},
    )
    return entry


@dataclass(frozen=True)
class EntryView:
    """An entry as the watchlist page lists it: the person's name and CNIC, and its enrolments."""

    entry: WatchlistEntry
    person_name: str
    cnic: str | None
    enrolments: list[Enrolment]


def list_entries(
    *, session: Session, principal: Principal, watchlist_id: uuid.UUID, include_removed: bool = False
) -> list[EntryView]:
    """A watchlist's entries with their persons and enrolments (those of sensitive records left out unless
    the principal holds records.sensitive, as in the records); the read of the list is audited.
    """
    watchlist = get_watchlist(session=session, principal=principal, watchlist_id=watchlist_id)
    query = (
        select(WatchlistEntry, Person.name, Person.cnic)
        .join(Person, Person.id == WatchlistEntry.person_id)
        .where(WatchlistEntry.watchlist_id == watchlist.id, records.shown_clause(principal))
        .order_by(WatchlistEntry.added_at)
    )
    if not include_removed:
        query = query.where(WatchlistEntry.removed_at.is_(None))
    rows = list(session.execute(query))
    enrolments: dict[uuid.UUID, list[Enrolment]] = {}
    if rows:
        for enrolment in session.scalars(
            select(Enrolment)
            .where(Enrolment.entry_id.in_([e.id for e, _, _ in rows]))
            .order_by(Enrolment.created_at)
        ):
            enrolments.setdefault(enrolment.entry_id, []).append(enrolment)
    _audit(
        session,
        principal,
        "faces.watchlist.read",
        "face_watchlist",
        watchlist.id,
        watchlist.district_id,
        {"entries": len(rows)},
    )
    return [EntryView(e, name, cnic, enrolments.get(e.id, [])) for e, name, cnic in rows]


# --- enrolment -------------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, code: str, message: str, *, faces: int = 0, quality: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.faces = faces
        self.quality = quality


def _entry_refusal(entry: WatchlistEntry, watchlist: Watchlist, now: dt.datetime) -> _Refused | None:
    if entry.removed_at is not None:
        return _Refused("entry_removed", "the person was taken off the watchlist")
    if not _live(entry.expires_at, now):
        return _Refused("entry_expired", "the watchlist entry has expired")
    if not _live(watchlist.expires_at, now):
        return _Refused("watchlist_expired", "the watchlist has expired")
    return None


def _decode(data: bytes) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The photo as a BGR picture, checked (size, format, hidden content) before it is decoded."""
    if len(data) > MAX_ENROL_PHOTO_BYTES:
        raise _Refused("too_large", f"the photo is larger than {MAX_ENROL_PHOTO_BYTES // (1024 * 1024)} MB")
    try:
        checked = check_attachment(data, max_bytes=MAX_ENROL_PHOTO_BYTES)
    except AttachmentRefused as exc:
        raise _Refused(exc.reason, exc.message) from None
    if not checked.mime.startswith("image/"):
        raise _Refused("not_a_picture", "a photo must be a JPEG or PNG picture")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise _Refused("unreadable", "the picture cannot be opened")
    height, width = image.shape[:2]
    scale = MAX_ANALYSED_SIDE / max(height, width)
    if scale < 1:
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def _the_face(engine: FaceEngine, image: np.ndarray[Any, np.dtype[np.uint8]]) -> tuple[FaceSeen, Embedding]:
    """The one face of an enrolment photo, or the reason there is none usable."""
    try:
        seen = engine.analyse(image)
    except ValueError:
        raise _Refused("unreadable", "the picture cannot be analysed") from None
    if not seen:
        raise _Refused("no_face", "no face was found in the photo")
    main = seen[0]
    rivals = [s for s in seen[1:] if s.face.box[2] >= RIVAL_FACE_SHARE * main.face.box[2]]
    if rivals:
        raise _Refused(
            "several_faces",
            f"{len(rivals) + 1} faces are in the photo: enrol from a photo of the person alone",
            faces=len(seen),
            quality=main.quality.as_json(),
        )
    if main.embedding is None or not main.quality.ok:
        raise _Refused(
            "poor_quality",
            "the face is not good enough to recognise: " + ", ".join(main.quality.reasons),
            faces=len(seen),
            quality=main.quality.as_json(),
        )
    return main, main.embedding


def enrol(
    *,
    session: Session,
    principal: Principal,
    engine: FaceEngine,
    box: SecretBox,
    entry_id: uuid.UUID,
    photos: list[tuple[str, bytes]],
) -> EnrolmentReport:
    """Enrol photos of an entry's person (faces.enrol): each checked, analysed and, when it shows exactly
    one good face, stored sealed; each refused one says why with a stable code. Every photo is audited.

    Slow (the engine runs here): call it from a worker thread, never on the event loop. The engine must
    not be used by another thread meanwhile.
    """
    principal.require(ENROL)
    entry, watchlist = get_entry(session=session, principal=principal, entry_id=entry_id)
    if not photos:
        raise InvalidInput("choose at least one photo", code="no_photos", field="photos")
    if len(photos) > MAX_ENROL_PHOTOS:
        raise InvalidInput(
            f"enrol at most {MAX_ENROL_PHOTOS} photos at a time", code="too_many_photos", field="photos"
        )
    now = utcnow()
    closed = _entry_refusal(entry, watchlist, now)
    known = set(session.scalars(select(Enrolment.sha256).where(Enrolment.entry_id == entry.id)))
    results = []
    for raw_name, data in photos:
        name = " ".join(str(raw_name).split())[:120] or "photo"
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            if closed is not None:
                raise closed
            if sha256 in known:
                raise _Refused("duplicate", "this photo is enrolled already")
            seen, embedding = _the_face(engine, _decode(data))
        except _Refused as refused:
            result = PhotoResult(
                name=name,
                accepted=False,
                code=refused.code,
                message=refused.message,
                sha256=sha256,
                quality=refused.quality,
                faces=refused.faces,
            )
        else:
            enrolment = _store(session, principal, box, entry, sha256, seen, embedding, now)
            known.add(sha256)
            result = PhotoResult(
                name=name,
                accepted=True,
                sha256=sha256,
                quality=seen.quality.as_json(),
                faces=1,
                enrolment_id=enrolment.id,
            )
        _audit(
            session,
            principal,
            "faces.enrol",
            "face_watchlist_entry",
            entry.id,
            watchlist.district_id,
            {"sha256": sha256, "code": result.code, "enrolment": str(result.enrolment_id or "")},
            outcome="success" if result.accepted else "failure",
        )
        results.append(result)
    if any(r.accepted for r in results):
        watchlist.updated_at = now
    session.flush()
    return EnrolmentReport(entry_id=entry.id, results=results)


def _store(
    session: Session,
    principal: Principal,
    box: SecretBox,
    entry: WatchlistEntry,
    sha256: str,
    seen: FaceSeen,
    embedding: Embedding,
    now: dt.datetime,
) -> Enrolment:
    ok, jpeg = cv2.imencode(".jpg", seen.chip, [cv2.IMWRITE_JPEG_QUALITY, CHIP_JPEG_QUALITY])
    if not ok:
        raise _Refused("unreadable", "the face cannot be stored")
    enrolment = Enrolment(
        id=uuid.uuid4(),
        entry_id=entry.id,
        sha256=sha256,
        chip=box.encrypt_bytes(jpeg.tobytes()),
        embedding=box.encrypt_bytes(np.asarray(embedding, dtype="<f4").tobytes()),
        quality=seen.quality.as_json(),
        created_by_id=principal.user_id,
        created_by=principal.username[:64],
        created_at=now,
    )
    session.add(enrolment)
    session.flush()
    return enrolment


def delete_enrolment(*, session: Session, principal: Principal, enrolment_id: uuid.UUID) -> None:
    """Delete one enrolled photo's biometric data (faces.enrol), audited."""
    principal.require(ENROL)
    enrolment = session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound("no such enrolment", code="enrolment_not_found")
    entry, watchlist = get_entry(session=session, principal=principal, entry_id=enrolment.entry_id)
    session.delete(enrolment)
    watchlist.updated_at = utcnow()
    session.flush()
    _audit(
        session,
        principal,
        "faces.enrolment.delete",
        "face_watchlist_entry",
        entry.id,
        watchlist.district_id,
        {"sha256": enrolment.sha256},
    )


def entry_enrolments(*, session: Session, principal: Principal, entry_id: uuid.UUID) -> list[Enrolment]:
    """The photos enrolled for an entry (hash, quality, who and when), oldest first."""
    entry, _ = get_entry(session=session, principal=principal, entry_id=entry_id)
    return list(
        session.scalars(
            select(Enrolment).where(Enrolment.entry_id == entry.id).order_by(Enrolment.created_at)
        )
    )


def _embedding(box: SecretBox, sealed: bytes) -> Embedding:
    vector = np.frombuffer(box.decrypt_bytes(sealed), dtype="<f4").astype(np.float32)
    if vector.shape != (EMBEDDING_DIM,):
        raise ValueError(f"an enrolled embedding has {vector.size} values, not {EMBEDDING_DIM}")
    vector.flags.writeable = False  # shared by every matcher of the gallery
    return vector


def enrolled_chips(*, session: Session, box: SecretBox, entry_id: uuid.UUID) -> list[tuple[uuid.UUID, bytes]]:
    """The enrolled faces of an entry as JPEG bytes, oldest first (shown beside a live face).

    No permission check: the caller has checked and audits the view.
    """
    rows = session.execute(
        select(Enrolment.id, Enrolment.chip)
        .where(Enrolment.entry_id == entry_id)
        .order_by(Enrolment.created_at)
    )
    return [(enrolment_id, box.decrypt_bytes(sealed)) for enrolment_id, sealed in rows]


def chip_image(*, session: Session, principal: Principal, box: SecretBox, enrolment_id: uuid.UUID) -> bytes:
    """One enrolled face as JPEG bytes, for one who may read leads or enrol within its district; audited."""
    _require_any(principal, (READ, ENROL, CONFIRM))
    enrolment = session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound("no such enrolment", code="enrolment_not_found")
    entry, watchlist = get_entry(session=session, principal=principal, entry_id=enrolment.entry_id)
    _audit(
        session,
        principal,
        "faces.enrolment.view",
        "face_enrolment",
        enrolment.id,
        watchlist.district_id,
        {"entry": str(entry.id), "person": str(entry.person_id)},
    )
    return box.decrypt_bytes(enrolment.chip)


# --- authorisations --------------------------------------------------------------------------------


def request_authorisation(*, session: Session, principal: Principal, data: AuthorisationIn) -> Authorisation:
    """Ask for leave to match faces (live) or search them (retrospective); a second person approves it."""
    _require_any(principal, (SEARCH, ENROL, AUTHORISE))
    district_id = _district_for(principal, data.district_id)
    watchlist_ids = list(dict.fromkeys(data.watchlist_ids))
    camera_ids = list(dict.fromkeys(data.camera_ids))
    found = session.scalars(select(Watchlist).where(Watchlist.id.in_(watchlist_ids))).all()
    if len(found) != len(watchlist_ids) or not all(principal.sees_district(w.district_id) for w in found):
        raise InvalidInput("a watchlist named is unknown or outside your districts", code="unknown_watchlist")
    if camera_ids:
        rows = session.execute(select(Camera.id, Camera.district_id).where(Camera.id.in_(camera_ids)))
        districts = {row.id: row.district_id for row in rows}
        if len(districts) != len(camera_ids):
            raise InvalidInput("a camera named is unknown", code="unknown_camera", field="camera_ids")
        if any(d != district_id for d in districts.values()):
            raise InvalidInput(
                "every camera must be in the authorisation's district", code="camera_out_of_district"
            )
    now = utcnow()
    if data.ends_at <= now:
        raise InvalidInput("the authorisation would have ended already", code="period_past", field="ends_at")
    authorisation = Authorisation(
        id=uuid.uuid4(),
        kind=data.kind,
        district_id=district_id,
        legal_basis=data.legal_basis,
        purpose=data.purpose,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        requested_by_id=principal.user_id,
        requested_by=principal.username[:64],
        requested_at=now,
        updated_at=now,
    )
    session.add(authorisation)
    session.flush()
    if watchlist_ids:
        session.execute(
            insert(authorisation_watchlists),
            [{"authorisation_id": authorisation.id, "watchlist_id": w} for w in watchlist_ids],
        )
    if camera_ids:
        session.execute(
            insert(authorisation_cameras),
            [{"authorisation_id": authorisation.id, "camera_id": c} for c in camera_ids],
        )
    _audit(
        session,
        principal,
        "faces.authorisation.request",
        "face_authorisation",
        authorisation.id,
        district_id,
        {"kind": data.kind.value, "watchlists": len(watchlist_ids), "cameras": len(camera_ids)},
        purpose=data.purpose,
    )
    return authorisation


def get_authorisation(
    *, session: Session, principal: Principal, authorisation_id: uuid.UUID
) -> Authorisation:
    """An authorisation of the principal's districts (NotFound otherwise)."""
    _require_any(principal, FACES_ANY)
    authorisation = session.get(Authorisation, authorisation_id)
    if authorisation is None or not principal.sees_district(authorisation.district_id):
        raise NotFound("no such authorisation", code="authorisation_not_found")
    return authorisation


def approve_authorisation(
    *, session: Session, principal: Principal, authorisation_id: uuid.UUID
) -> Authorisation:
    """Approve a pending authorisation (faces.authorise): never one's own request, never one ended."""
    principal.require(AUTHORISE)
    authorisation = get_authorisation(session=session, principal=principal, authorisation_id=authorisation_id)
    if (principal.user_id is not None and principal.user_id == authorisation.requested_by_id) or (
        principal.username == authorisation.requested_by
    ):
        raise PermissionDenied("another person must approve your own request", code="self_approval")
    if authorisation.revoked_at is not None:
        raise Conflict("the authorisation was revoked", code="authorisation_revoked")
    if authorisation.approved_at is not None:
        raise Conflict("the authorisation is approved already", code="authorisation_approved")
    now = utcnow()
    if authorisation.ends_at <= now:
        raise Conflict("the authorisation's period is over", code="authorisation_expired")
    authorisation.approved_by_id = principal.user_id
    authorisation.approved_by = principal.username[:64]
    authorisation.approved_at = now
    authorisation.updated_at = now
    session.flush()
    _audit(
        session,
        principal,
        "faces.authorisation.approve",
        "face_authorisation",
        authorisation.id,
        authorisation.district_id,
        {"kind": authorisation.kind.value, "requested_by": authorisation.requested_by},
        purpose=authorisation.purpose,
    )
    return authorisation


def revoke_authorisation(
    *, session: Session, principal: Principal, authorisation_id: uuid.UUID, reason: str
) -> Authorisation:
    """End an authorisation now (faces.authorise, or its requester withdrawing it), with a reason."""
    _require_any(principal, (AUTHORISE, SEARCH, ENROL))  # those who may ask may withdraw their own
    authorisation = get_authorisation(session=session, principal=principal, authorisation_id=authorisation_id)
    own = principal.user_id is not None and principal.user_id == authorisation.requested_by_id
    if not own:
        principal.require(AUTHORISE)
    text = " ".join(reason.split())
    if len(text) < MIN_TEXT:
        raise InvalidInput(
            f"say why (at least {MIN_TEXT} characters)", code="reason_required", field="reason"
        )
    if authorisation.revoked_at is not None:
        raise Conflict("the authorisation was revoked already", code="authorisation_revoked")
    now = utcnow()
    authorisation.revoked_by_id = principal.user_id
    authorisation.revoked_by = principal.username[:64]
    authorisation.revoked_at = now
    authorisation.revoke_reason = text[:500]
    authorisation.updated_at = now
    session.flush()
    _audit(
        session,
        principal,
        "faces.authorisation.revoke",
        "face_authorisation",
        authorisation.id,
        authorisation.district_id,
        {"reason": text[:500]},
    )
    return authorisation


def authorisation_status(authorisation: Authorisation, now: dt.datetime | None = None) -> str:
    """`revoked`, `expired` (ended, approved or not), `pending`, `approved` (not started yet) or `current`."""
    moment = now or utcnow()
    if authorisation.revoked_at is not None:
        return "revoked"
    if authorisation.ends_at <= moment:
        return "expired"
    if authorisation.approved_at is None:
        return "pending"
    return "current" if authorisation.starts_at <= moment else "approved"


def _approved(at: dt.datetime) -> ColumnElement[bool]:
    """Approved, never revoked, and not ended at `at` (revocation is final, whatever moment is asked)."""
    return and_(
        Authorisation.approved_at.is_not(None),
        Authorisation.revoked_at.is_(None),
        Authorisation.ends_at > at,
    )


def _covers(camera_id: uuid.UUID) -> ColumnElement[bool]:
    """The authorisation names the camera, or (retrospective only) names none and is of its district."""
    named = select(authorisation_cameras.c.authorisation_id).where(
        authorisation_cameras.c.camera_id == camera_id
    )
    any_named = select(authorisation_cameras.c.authorisation_id).where(
        authorisation_cameras.c.authorisation_id == Authorisation.id
    )
    district = select(Camera.district_id).where(Camera.id == camera_id).scalar_subquery()
    return or_(
        Authorisation.id.in_(named),
        and_(
            Authorisation.kind == AuthorisationKind.RETROSPECTIVE,
            ~any_named.exists(),
            Authorisation.district_id == district,
        ),
    )


def current_authorisations(
    *, session: Session, kind: AuthorisationKind, camera_id: uuid.UUID | None, at: dt.datetime
) -> list[Authorisation]:
    """Approved, unrevoked authorisations of `kind` in force at `at` (covering `camera_id` when given)."""
    query = select(Authorisation).where(
        Authorisation.kind == kind, _approved(at), Authorisation.starts_at <= at
    )
    if camera_id is not None:
        query = query.where(_covers(camera_id))
    return list(session.scalars(query.order_by(Authorisation.starts_at)))


def list_authorisations(*, session: Session, principal: Principal, limit: int = 200) -> list[Authorisation]:
    """The authorisations of the principal's districts, newest request first."""
    _require_any(principal, FACES_ANY)
    return list(
        session.scalars(
            select(Authorisation)
            .where(principal.district_filter(Authorisation.district_id))
            .order_by(Authorisation.requested_at.desc())
            .limit(limit)
        )
    )


def authorisation_targets(
    *, session: Session, authorisation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[list[uuid.UUID], list[uuid.UUID]]]:
    """Each authorisation's watchlist ids and camera ids."""
    targets: dict[uuid.UUID, tuple[list[uuid.UUID], list[uuid.UUID]]] = {
        a: ([], []) for a in authorisation_ids
    }
    if not targets:
        return targets
    ids = list(targets)
    for a, w in session.execute(
        select(authorisation_watchlists.c.authorisation_id, authorisation_watchlists.c.watchlist_id).where(
            authorisation_watchlists.c.authorisation_id.in_(ids)
        )
    ):
        targets[a][0].append(w)
    for a, c in session.execute(
        select(authorisation_cameras.c.authorisation_id, authorisation_cameras.c.camera_id).where(
            authorisation_cameras.c.authorisation_id.in_(ids)
        )
    ):
        targets[a][1].append(c)
    return targets


def authorisation_out(
    authorisation: Authorisation,
    targets: tuple[list[uuid.UUID], list[uuid.UUID]],
    now: dt.datetime | None = None,
) -> AuthorisationOut:
    """An authorisation as the API shows it."""
    return AuthorisationOut(
        id=authorisation.id,
        kind=authorisation.kind,
        status=authorisation_status(authorisation, now),
        district_id=authorisation.district_id,
        legal_basis=authorisation.legal_basis,
        purpose=authorisation.purpose,
        starts_at=authorisation.starts_at,
        ends_at=authorisation.ends_at,
        requested_by=authorisation.requested_by,
        requested_at=authorisation.requested_at,
        approved_by=authorisation.approved_by,
        approved_at=authorisation.approved_at,
        revoked_by=authorisation.revoked_by,
        revoked_at=authorisation.revoked_at,
        revoke_reason=authorisation.revoke_reason,
        watchlist_ids=targets[0],
        camera_ids=targets[1],
    )


# --- the gallery live matching uses ----------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # compared by identity: an embedding array has no truth value
class GalleryFace:
    """One enrolled face a camera may match, with what it belongs to (its embedding is read-only)."""

    enrolment_id: uuid.UUID
    entry_id: uuid.UUID
    watchlist_id: uuid.UUID
    person_id: uuid.UUID
    embedding: Embedding


@dataclass(frozen=True)
class LiveGallery:
    """What one camera may match now: the authorisations that allow it, their faces, until when."""

    authorisation_ids: tuple[uuid.UUID, ...]  # empty: no authorisation covers the camera, match nothing
    faces: tuple[GalleryFace, ...]
    valid_until: dt.datetime | None  # ask again by then (an authorisation or an expiry moves); None: never


def live_galleries(
    *,
    session: Session,
    box: SecretBox,
    camera_ids: Iterable[uuid.UUID],
    at: dt.datetime,
    known: Mapping[uuid.UUID, Embedding] | None = None,
) -> dict[uuid.UUID, LiveGallery]:
    """What each camera may be matched against at `at` (see the module's note).

    Cameras under the same authorisations share one reading of their faces (the very same `faces`
    tuple); an embedding in `known`, by enrolment id, is neither read nor decrypted again (an enrolment's
    embedding never changes): after a change only the faces new to the caller are opened.
    """
    shared: dict[frozenset[uuid.UUID], tuple[tuple[GalleryFace, ...], list[dt.datetime]]] = {}
    galleries = {}
    for camera_id in camera_ids:
        covering = (
            select(Authorisation)
            .where(Authorisation.kind == AuthorisationKind.LIVE, _approved(at), _covers(camera_id))
            .order_by(Authorisation.starts_at, Authorisation.id)
        )
        authorisations = list(session.scalars(covering))
        current = [a for a in authorisations if a.starts_at <= at]
        moments = [a.starts_at for a in authorisations if a.starts_at > at] + [a.ends_at for a in current]
        if current:
            key = frozenset(a.id for a in current)
            if key not in shared:
                shared[key] = _faces_under(session, box, key, at, known or {})
            faces, expiries = shared[key]
            moments += expiries
        else:
            faces = ()
        galleries[camera_id] = LiveGallery(tuple(a.id for a in current), faces, min(moments, default=None))
    return galleries


def _faces_under(
    session: Session,
    box: SecretBox,
    authorisation_ids: Iterable[uuid.UUID],
    at: dt.datetime,
    known: Mapping[uuid.UUID, Embedding],
) -> tuple[tuple[GalleryFace, ...], list[dt.datetime]]:
    """The faces of the unexpired entries of the unexpired watchlists the authorisations name (oldest
    enrolment first), and when the first of those entries or watchlists expires.
    """
    watchlist_ids = select(authorisation_watchlists.c.watchlist_id).where(
        authorisation_watchlists.c.authorisation_id.in_(list(authorisation_ids))
    )
    listed = (
        Watchlist.id.in_(watchlist_ids),
        _unexpired(Watchlist.expires_at, at),
        WatchlistEntry.removed_at.is_(None),
        _unexpired(WatchlistEntry.expires_at, at),
    )
    rows = session.execute(
        select(Enrolment.id, WatchlistEntry.id, WatchlistEntry.watchlist_id, WatchlistEntry.person_id)
        .join(WatchlistEntry, WatchlistEntry.id == Enrolment.entry_id)
        .join(Watchlist, Watchlist.id == WatchlistEntry.watchlist_id)
        .where(*listed)
        .order_by(Enrolment.created_at, Enrolment.id)
    ).all()
    opened: dict[uuid.UUID, Embedding] = {}
    unknown = [row[0] for row in rows if row[0] not in known]
    for start in range(0, len(unknown), OPEN_CHUNK):
        chosen = Enrolment.id.in_(unknown[start : start + OPEN_CHUNK])
        for enrolment_id, sealed in session.execute(select(Enrolment.id, Enrolment.embedding).where(chosen)):
            try:
                opened[enrolment_id] = _embedding(box, sealed)
            except ValueError:
                # Sealed by another key (a restored backup, a changed secret): left out, said once per load.
                logger.warning(
                    "enrolment %s cannot be opened with the biometrics key: left out", enrolment_id
                )
    faces = []
    for enrolment_id, entry_id, watchlist_id, person_id in rows:
        embedding = known[enrolment_id] if enrolment_id in known else opened.get(enrolment_id)
        if embedding is not None:
            faces.append(GalleryFace(enrolment_id, entry_id, watchlist_id, person_id, embedding))
    expiries = session.execute(
        select(func.min(Watchlist.expires_at), func.min(WatchlistEntry.expires_at))
        .select_from(WatchlistEntry)
        .join(Watchlist, Watchlist.id == WatchlistEntry.watchlist_id)
        .where(*listed)
    ).one()
    # A watchlist named but empty still expires; its expiry changes nothing the camera matches.
    return tuple(faces), [m for m in expiries if m is not None]


def gallery_stamp(*, session: Session) -> str:
    """A short text that changes whenever watchlists, entries, enrolments or authorisations change."""
    parts = []
    for count, latest in (
        session.execute(select(func.count(), func.max(Watchlist.updated_at))).one(),
        session.execute(select(func.count(), func.max(WatchlistEntry.updated_at))).one(),
        session.execute(select(func.count(), func.max(Enrolment.created_at))).one(),
        session.execute(select(func.count(), func.max(Authorisation.updated_at))).one(),
    ):
        parts.append(f"{count}@{latest.isoformat() if latest is not None else '-'}")
    return "|".join(parts)


# --- published error rates ------------------------------------------------------------------------


def _rate(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def publish_evaluation(
    *, session: Session, principal: Principal | None, result: Mapping[str, Any], dataset: str
) -> FaceEvaluation:
    """Publish the `safecity faces evaluate` result (its JSON; extra keys kept, not needed).

    `principal` None: published by the system (the command line); otherwise faces.authorise is needed.
    """
    if principal is not None:
        principal.require(AUTHORISE)
    threshold = _rate(result.get("threshold"))
    if threshold is None:
        raise InvalidInput("the evaluation gives no threshold", code="bad_evaluation")
    raw_pairs = result.get("pairs")
    pairs = len(raw_pairs) if isinstance(raw_pairs, list) else raw_pairs
    if isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 0:
        raise InvalidInput("the evaluation gives no number of pairs", code="bad_evaluation")
    groups = result.get("groups") or {}
    if isinstance(groups, list):
        groups = {
            str(g.get("group", g.get("name", i))): g for i, g in enumerate(groups) if isinstance(g, dict)
        }
    if not isinstance(groups, dict):
        groups = {}
    label = " ".join(dataset.split())[:200]
    if not label:
        raise InvalidInput("name the data set", code="bad_evaluation", field="dataset")
    kept = {k: v for k, v in result.items() if k != "pairs" or not isinstance(v, list)}
    evaluation = FaceEvaluation(
        id=uuid.uuid4(),
        dataset=label,
        pairs=pairs,
        accuracy=_rate(result.get("accuracy")),
        tar_at_far_1=_rate(result.get("tar_at_far_1pct")),
        tar_at_far_01=_rate(result.get("tar_at_far_0_1pct")),
        fmr=_rate(result.get("fmr")),
        fnmr=_rate(result.get("fnmr")),
        threshold=threshold,
        groups=groups,
        result=kept,
        published_by_id=principal.user_id if principal else None,
        published_by=(principal.username if principal else "system")[:64],
        published_at=utcnow(),
    )
    session.add(evaluation)
    session.flush()
    _audit(
        session,
        principal,
        "faces.evaluation.publish",
        "face_evaluation",
        evaluation.id,
        None,
        {"dataset": label, "pairs": pairs, "threshold": threshold},
    )
    return evaluation


def latest_evaluation(*, session: Session) -> FaceEvaluation | None:
    """The most recently published error rates, if any."""
    return session.scalars(
        select(FaceEvaluation).order_by(FaceEvaluation.published_at.desc()).limit(1)
    ).first()


def evaluations(*, session: Session, limit: int = 20) -> list[FaceEvaluation]:
    """The published error rates, newest first."""
    return list(
        session.scalars(select(FaceEvaluation).order_by(FaceEvaluation.published_at.desc()).limit(limit))
    )


# --- oversight -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthFigures:
    """One month of face recognition as the audit log tells it."""

    month: str  # YYYY-MM
    counts: dict[str, int]  # OVERSIGHT_ACTIONS' labels -> how many


def oversight(*, session: Session, principal: Principal, months: int = 12) -> list[MonthFigures]:
    """Per month (newest first), the authorisations requested, approved and revoked, the enrolments,
    searches, matches, confirmations and rejections (faces.oversee), counted from the audit log.

    Only successful actions count; an oversight read is itself audited.
    """
    principal.require(OVERSEE)
    now = utcnow()
    year, month = now.year, now.month - (months - 1)
    while month < 1:
        year, month = year - 1, month + 12
    since = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    rows = session.execute(
        select(AuditEntry.at, AuditEntry.action).where(
            AuditEntry.action.in_(list(OVERSIGHT_ACTIONS)),
            AuditEntry.outcome == "success",
            AuditEntry.at >= since,
            principal.district_filter(AuditEntry.district_id),
        )
    )
    counted: Counter[tuple[str, str]] = Counter()
    for at, action in rows:
        counted[(f"{at.year:04d}-{at.month:02d}", OVERSIGHT_ACTIONS[action])] += 1
    figures = []
    y, m = now.year, now.month
    for _ in range(months):
        key = f"{y:04d}-{m:02d}"
        figures.append(
            MonthFigures(key, {label: counted[(key, label)] for label in OVERSIGHT_ACTIONS.values()})
        )
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    _audit(session, principal, "faces.oversight.read", "face_oversight", since.date().isoformat(), None, {})
    return figures
