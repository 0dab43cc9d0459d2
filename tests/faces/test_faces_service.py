"""Face recognition's rules in the service: enrolment refuses what cannot be recognised and says why, the
biometric data is sealed at rest, authorisations need a second person, and a camera matches nothing
unless a current, approved authorisation names it.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from faces_data import (
    Place,
    astronaut_jpeg,
    astronaut_mirrored_jpeg,
    authorise,
    coffee_jpeg,
    listed_entry,
    live_gallery,
    place,
    two_astronauts_jpeg,
    watchlist_in,
)
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_SECRET_KEY, Factory
from safecity.analytics.faces.engine import FaceEngine
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.errors import Conflict, NotFound, PermissionDenied
from safecity.faces import service as faces
from safecity.faces.models import AuthorisationKind, Enrolment, WatchlistEntry
from safecity.faces.schemas import AuthorisationIn, EntryIn

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def face_engine() -> Iterator[FaceEngine]:
    yield FaceEngine()


@pytest.fixture
def box(settings: Settings) -> SecretBox:
    return faces.biometric_box(settings)


@pytest.fixture
def here(session: Session, factory: Factory) -> Place:
    return place(session, factory.district())


@pytest.fixture
def investigator(factory: Factory, here: Place) -> Principal:
    return factory.principal(factory.user("investigator", districts=[here.district]))


@pytest.fixture
def supervisors(factory: Factory, here: Place) -> tuple[Principal, Principal]:
    first = factory.principal(factory.user("supervisor", districts=[here.district]))
    return first, factory.principal(factory.user("supervisor", districts=[here.district]))


def _entry(session: Session, who: Principal, here: Place, **watchlist: object) -> WatchlistEntry:
    return listed_entry(session, who, here.district, here.person_id, **watchlist)


def _enrolled(
    session: Session,
    face_engine: FaceEngine,
    box: SecretBox,
    who: Principal,
    here: Place,
    photos: list[tuple[str, bytes]] | None = None,
) -> WatchlistEntry:
    """An entry of the place's person with `photos` enrolled (the astronaut's and its mirror image)."""
    entry = _entry(session, who, here)
    faces.enrol(
        session=session,
        principal=who,
        engine=face_engine,
        box=box,
        entry_id=entry.id,
        photos=photos or [("front.jpg", astronaut_jpeg()), ("mirrored.jpg", astronaut_mirrored_jpeg())],
    )
    return entry


def _authorise(
    session: Session,
    supervisors: tuple[Principal, Principal],
    here: Place,
    watchlist_id: uuid.UUID,
    *,
    starts: dt.datetime = NOW - dt.timedelta(hours=1),
    ends: dt.datetime = NOW + dt.timedelta(hours=8),
) -> uuid.UUID:
    return authorise(
        session,
        *supervisors,
        here.district,
        watchlist_id,
        cameras=[here.camera_id],
        starts_at=starts,
        ends_at=ends,
    )


def test_a_good_photo_is_enrolled_with_its_quality_and_a_second_of_the_same_person_too(
    session: Session, face_engine: FaceEngine, box: SecretBox, investigator: Principal, here: Place
) -> None:
    entry = _entry(session, investigator, here)
    report = faces.enrol(
        session=session,
        principal=investigator,
        engine=face_engine,
        box=box,
        entry_id=entry.id,
        photos=[("front.jpg", astronaut_jpeg()), ("mirrored.jpg", astronaut_mirrored_jpeg())],
    )
    assert [r.accepted for r in report.results] == [True, True], report
    first = report.results[0]
    assert first.quality is not None and first.quality["ok"] and first.quality["size"] >= 80
    assert first.faces == 1 and first.enrolment_id is not None
    chips = faces.enrolled_chips(session=session, box=box, entry_id=entry.id)
    assert [c[0] for c in chips] == [r.enrolment_id for r in report.results]
    assert all(c[1].startswith(b"\xff\xd8\xff") for c in chips)  # JPEG
    again = faces.enrol(
        session=session,
        principal=investigator,
        engine=face_engine,
        box=box,
        entry_id=entry.id,
        photos=[("front-again.jpg", astronaut_jpeg())],
    )
    assert again.results[0].code == "duplicate"
    rows = session.scalars(
        select(AuditEntry.outcome).where(
            AuditEntry.action == "faces.enrol", AuditEntry.object_id == str(entry.id)
        )
    ).all()
    assert sorted(rows) == ["failure", "success", "success"]


def _bomb() -> bytes:
    """A PNG of 8,000 x 8,000 pixels: a few kilobytes that would decode to 192 MB."""
    out = io.BytesIO()
    Image.new("L", (8000, 8000)).save(out, format="PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("photo", "code"),
    [
        (coffee_jpeg, "no_face"),
        (two_astronauts_jpeg, "several_faces"),
        (lambda: b"\xff\xd8\xff\xe0" + bytes(6 * 1024 * 1024), "too_large"),
        (_bomb, "too_many_pixels"),
        (lambda: b"<html><script>alert(1)</script></html>", "not_allowed"),
        (lambda: astronaut_jpeg()[: len(astronaut_jpeg()) // 2], "unreadable"),
        (lambda: b"", "empty"),
    ],
)
def test_a_photo_that_cannot_be_enrolled_is_refused_with_its_reason_and_audited(
    session: Session,
    face_engine: FaceEngine,
    box: SecretBox,
    investigator: Principal,
    here: Place,
    photo: object,
    code: str,
) -> None:
    entry = _entry(session, investigator, here)
    data = photo()  # type: ignore[operator]
    report = faces.enrol(
        session=session,
        principal=investigator,
        engine=face_engine,
        box=box,
        entry_id=entry.id,
        photos=[("x", data)],
    )
    (result,) = report.results
    assert (result.accepted, result.code) == (False, code), result
    assert result.message
    assert session.scalar(select(Enrolment.id).where(Enrolment.entry_id == entry.id)) is None
    refused = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "faces.enrol", AuditEntry.object_id == str(entry.id))
    ).one()
    assert refused.outcome == "failure" and refused.detail["code"] == code


def test_two_faces_report_the_quality_of_the_main_one(
    session: Session, face_engine: FaceEngine, box: SecretBox, investigator: Principal, here: Place
) -> None:
    entry = _entry(session, investigator, here)
    report = faces.enrol(
        session=session,
        principal=investigator,
        engine=face_engine,
        box=box,
        entry_id=entry.id,
        photos=[("two.jpg", two_astronauts_jpeg())],
    )
    assert report.results[0].faces == 2 and report.results[0].quality is not None


def test_an_expired_watchlist_or_entry_and_a_removed_entry_enrol_nothing(
    session: Session, face_engine: FaceEngine, box: SecretBox, investigator: Principal, here: Place
) -> None:
    expired = _entry(session, investigator, here)
    watchlist = faces.get_watchlist(
        session=session, principal=investigator, watchlist_id=expired.watchlist_id
    )
    watchlist.expires_at = NOW - dt.timedelta(minutes=1)
    watchlist.review_at = NOW - dt.timedelta(days=1)
    session.flush()
    photos = [("front.jpg", astronaut_jpeg())]
    report = faces.enrol(
        session=session,
        principal=investigator,
        engine=face_engine,
        box=box,
        entry_id=expired.id,
        photos=photos,
    )
    assert report.results[0].code == "watchlist_expired"
    with pytest.raises(Conflict):
        faces.add_entry(
            session=session,
            principal=investigator,
            watchlist_id=watchlist.id,
            data=EntryIn(person_id=here.person_id, reason="Another warrant of the court"),
        )
    lapsed = _entry(session, investigator, here, name="Missing children")
    lapsed.expires_at = NOW - dt.timedelta(seconds=1)
    session.flush()
    report = faces.enrol(
        session=session,
        principal=investigator,
        engine=face_engine,
        box=box,
        entry_id=lapsed.id,
        photos=photos,
    )
    assert report.results[0].code == "entry_expired"
    removed = _entry(session, investigator, here, name="Persons of interest")
    faces.remove_entry(
        session=session, principal=investigator, entry_id=removed.id, reason="Arrested on 5 Dec 2026"
    )
    report = faces.enrol(
        session=session,
        principal=investigator,
        engine=face_engine,
        box=box,
        entry_id=removed.id,
        photos=photos,
    )
    assert report.results[0].code == "entry_removed"


def test_another_districts_watchlist_is_out_of_reach(
    session: Session,
    factory: Factory,
    face_engine: FaceEngine,
    box: SecretBox,
    investigator: Principal,
    here: Place,
) -> None:
    entry = _entry(session, investigator, here)
    stranger = factory.principal(factory.user("investigator", districts=[factory.district()]))
    with pytest.raises(NotFound):
        faces.get_watchlist(session=session, principal=stranger, watchlist_id=entry.watchlist_id)
    with pytest.raises(NotFound):
        faces.enrol(
            session=session,
            principal=stranger,
            engine=face_engine,
            box=box,
            entry_id=entry.id,
            photos=[("front.jpg", astronaut_jpeg())],
        )
    assert faces.list_watchlists(session=session, principal=stranger) == []
    examiner = factory.principal(factory.user("face_examiner", districts=[here.district]))
    with pytest.raises(PermissionDenied):
        faces.create_watchlist(session=session, principal=examiner, data=watchlist_in(here.district))


def test_embeddings_and_chips_are_sealed_at_rest(
    session: Session, face_engine: FaceEngine, box: SecretBox, investigator: Principal, here: Place
) -> None:
    entry = _enrolled(session, face_engine, box, investigator, here, [("front.jpg", astronaut_jpeg())])
    session.flush()
    sealed_embedding, sealed_chip = session.execute(
        select(Enrolment.embedding, Enrolment.chip).where(Enrolment.entry_id == entry.id)
    ).one()  # the columns as stored: nothing opens them on the way
    clear = face_engine.analyse(cv2_decode(astronaut_jpeg()))[0].embedding
    assert clear is not None
    raw = bytes(sealed_embedding)
    assert clear.astype("<f4").tobytes() not in raw
    assert clear[:4].astype("<f4").tobytes() not in raw  # not even a piece of it
    assert b"\xff\xd8\xff" not in bytes(sealed_chip)[:16]
    opened = np.frombuffer(box.decrypt_bytes(raw), dtype="<f4")
    assert float(np.dot(opened, clear)) > 0.999
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(TEST_SECRET_KEY, "mfa").decrypt_bytes(raw)  # another purpose's key opens nothing


def cv2_decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)


def test_an_authorisation_needs_a_second_person(
    session: Session, investigator: Principal, supervisors: tuple[Principal, Principal], here: Place
) -> None:
    entry = _entry(session, investigator, here)
    requester, approver = supervisors
    asked = faces.request_authorisation(
        session=session,
        principal=requester,
        data=AuthorisationIn(
            kind=AuthorisationKind.LIVE,
            legal_basis="Order of the DIG Operations no. 114/2026",
            purpose="Find the accused of FIR 12/2026 at the Mall Road",
            watchlist_ids=[entry.watchlist_id],
            camera_ids=[here.camera_id],
            starts_at=NOW,
            ends_at=NOW + dt.timedelta(hours=2),
        ),
    )
    assert faces.authorisation_status(asked) == "pending"
    with pytest.raises(PermissionDenied) as refused:
        faces.approve_authorisation(session=session, principal=requester, authorisation_id=asked.id)
    assert refused.value.code == "self_approval"
    with pytest.raises(PermissionDenied):  # investigators may ask, not approve
        faces.approve_authorisation(session=session, principal=investigator, authorisation_id=asked.id)
    approved = faces.approve_authorisation(session=session, principal=approver, authorisation_id=asked.id)
    assert approved.approved_by == approver.username and faces.authorisation_status(approved) == "current"
    with pytest.raises(Conflict):
        faces.approve_authorisation(session=session, principal=approver, authorisation_id=asked.id)
    assert [
        a.id
        for a in faces.current_authorisations(
            session=session,
            kind=AuthorisationKind.LIVE,
            camera_id=here.camera_id,
            at=NOW + dt.timedelta(minutes=1),
        )
    ] == [asked.id]
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_id == str(asked.id)).order_by(AuditEntry.seq)
    ).all()
    assert actions == ["faces.authorisation.request", "faces.authorisation.approve"]


def test_a_camera_matches_only_under_a_current_authorisation(
    session: Session,
    face_engine: FaceEngine,
    box: SecretBox,
    investigator: Principal,
    supervisors: tuple[Principal, Principal],
    here: Place,
) -> None:
    entry = _enrolled(session, face_engine, box, investigator, here)
    nothing = live_gallery(session=session, box=box, camera_id=here.camera_id, at=NOW)
    assert nothing.authorisation_ids == () and nothing.faces == () and nothing.valid_until is None

    starts, ends = NOW + dt.timedelta(minutes=30), NOW + dt.timedelta(hours=4)
    granted = _authorise(session, supervisors, here, entry.watchlist_id, starts=starts, ends=ends)
    before = live_gallery(session=session, box=box, camera_id=here.camera_id, at=NOW)
    assert before.faces == () and before.valid_until == starts  # ask again when it starts

    during = live_gallery(session=session, box=box, camera_id=here.camera_id, at=starts)
    assert during.authorisation_ids == (granted,)
    assert len(during.faces) == 2
    assert {(f.entry_id, f.watchlist_id, f.person_id) for f in during.faces} == {
        (entry.id, entry.watchlist_id, here.person_id)
    }
    probe = face_engine.analyse(cv2_decode(astronaut_jpeg()))[0].embedding
    assert probe is not None
    assert max(face_engine.score(probe, f.embedding) for f in during.faces) > face_engine.threshold
    assert during.valid_until == ends

    other_camera = place(session, here.district, cnic="35202-1111111-1").camera_id
    assert live_gallery(session=session, box=box, camera_id=other_camera, at=starts).faces == ()
    assert live_gallery(session=session, box=box, camera_id=here.camera_id, at=ends).faces == ()

    entry.expires_at = starts + dt.timedelta(hours=1)
    session.flush()
    assert live_gallery(session=session, box=box, camera_id=here.camera_id, at=starts).valid_until == (
        entry.expires_at
    )
    lapsed = live_gallery(session=session, box=box, camera_id=here.camera_id, at=entry.expires_at)
    assert lapsed.authorisation_ids == (granted,) and lapsed.faces == ()

    entry.expires_at = None
    _, approver = supervisors
    faces.revoke_authorisation(
        session=session, principal=approver, authorisation_id=granted, reason="The accused was arrested today"
    )
    revoked = live_gallery(session=session, box=box, camera_id=here.camera_id, at=starts)
    assert revoked.authorisation_ids == () and revoked.faces == ()


def test_cameras_under_one_authorisation_share_its_faces_and_held_embeddings_are_not_opened_again(
    session: Session,
    face_engine: FaceEngine,
    box: SecretBox,
    investigator: Principal,
    supervisors: tuple[Principal, Principal],
    here: Place,
) -> None:
    entry = _enrolled(session, face_engine, box, investigator, here)
    beside = place(session, here.district, cnic="35202-2222222-2").camera_id
    elsewhere = place(session, here.district, cnic="35202-3333333-3").camera_id
    granted = authorise(
        session, *supervisors, here.district, entry.watchlist_id, cameras=[here.camera_id, beside]
    )
    cameras, now = [here.camera_id, beside, elsewhere], dt.datetime.now(dt.UTC)
    first = faces.live_galleries(session=session, box=box, camera_ids=cameras, at=now)
    assert first[here.camera_id].authorisation_ids == first[beside].authorisation_ids == (granted,)
    assert first[beside].faces is first[here.camera_id].faces and len(first[beside].faces) == 2
    assert first[elsewhere].faces == () and first[elsewhere].authorisation_ids == ()

    # The worker holds one face's embedding: that one is taken as held, the other opened from the database.
    held, opened = first[here.camera_id].faces
    marker = np.full(128, 0.5, dtype=np.float32)  # not what is stored: it shows what was not read again
    again = faces.live_galleries(
        session=session, box=box, camera_ids=[beside], at=now, known={held.enrolment_id: marker}
    )[beside]
    by_id = {f.enrolment_id: f.embedding for f in again.faces}
    assert by_id[held.enrolment_id] is marker
    assert np.array_equal(by_id[opened.enrolment_id], opened.embedding)


def test_the_gallery_stamp_moves_with_every_change(
    session: Session,
    face_engine: FaceEngine,
    box: SecretBox,
    investigator: Principal,
    supervisors: tuple[Principal, Principal],
    here: Place,
) -> None:
    stamps = [faces.gallery_stamp(session=session)]
    entry = _entry(session, investigator, here)
    stamps.append(faces.gallery_stamp(session=session))
    faces.enrol(
        session=session,
        principal=investigator,
        engine=face_engine,
        box=box,
        entry_id=entry.id,
        photos=[("front.jpg", astronaut_jpeg())],
    )
    stamps.append(faces.gallery_stamp(session=session))
    granted = _authorise(session, supervisors, here, entry.watchlist_id)
    stamps.append(faces.gallery_stamp(session=session))
    faces.revoke_authorisation(
        session=session,
        principal=supervisors[1],
        authorisation_id=granted,
        reason="The accused was arrested today",
    )
    stamps.append(faces.gallery_stamp(session=session))
    assert len(set(stamps)) == len(stamps)
    assert faces.gallery_stamp(session=session) == stamps[-1]


def test_error_rates_are_published_from_the_evaluation(
    session: Session, supervisors: tuple[Principal, Principal]
) -> None:
    assert faces.latest_evaluation(session=session) is None
    result = {
        "accuracy": 0.975,
        "tar_at_far_1pct": 0.95,
        "tar_at_far_0_1pct": 0.9,
        "fmr": 0.001,
        "fnmr": 0.04,
        "threshold": 0.92,
        "pairs": 800,
        "groups": {"women": {"fmr": 0.0, "fnmr": 0.05, "pairs": 200}},
        "engine": "dlib resnet",  # an extra key is kept, not refused
    }
    published = faces.publish_evaluation(session=session, principal=None, result=result, dataset="ORL faces")
    assert faces.latest_evaluation(session=session) == published
    assert (published.pairs, published.threshold, published.published_by) == (800, 0.92, "system")
    assert published.groups["women"]["fnmr"] == 0.05 and published.result["engine"] == "dlib resnet"
    with pytest.raises(PermissionDenied):
        faces.publish_evaluation(
            session=session,
            principal=Principal(uuid.uuid4(), "op", frozenset({"faces.read"}), None),
            result=result,
            dataset="ORL faces",
        )


def test_oversight_counts_each_month_from_the_audit_log(
    session: Session,
    factory: Factory,
    face_engine: FaceEngine,
    box: SecretBox,
    investigator: Principal,
    supervisors: tuple[Principal, Principal],
    here: Place,
) -> None:
    entry = _entry(session, investigator, here)
    faces.enrol(
        session=session,
        principal=investigator,
        engine=face_engine,
        box=box,
        entry_id=entry.id,
        photos=[("front.jpg", astronaut_jpeg()), ("coffee.jpg", coffee_jpeg())],
    )
    _authorise(session, supervisors, here, entry.watchlist_id)
    auditor = factory.principal(factory.user("auditor", districts=[here.district]))
    months = faces.oversight(session=session, principal=auditor, months=3)
    assert len(months) == 3 and months[0].month == f"{NOW.year:04d}-{NOW.month:02d}"
    counts = months[0].counts
    assert (counts["requested"], counts["approved"], counts["enrolments"], counts["revoked"]) == (1, 1, 1, 0)
    with pytest.raises(PermissionDenied):
        faces.oversight(session=session, principal=investigator)
