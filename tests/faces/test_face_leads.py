"""Leads from faces seen: stored under an authorisation, folded within a minute, confirmed by two different
examiners (never one twice), rejected with a reason, purged when unmatched, and an incident only once
confirmed. The faces are real: the astronaut photo through the face engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from faces_data import astronaut_seen, live_gallery
from lead_story import Listed, listed
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from conftest import Factory
from safecity.analytics.faces.engine import FaceEngine
from safecity.analytics.faces.live import Gallery
from safecity.analytics.faces.types import FaceSeen
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.errors import Conflict, InvalidInput
from safecity.events.alerts.models import Alert
from safecity.faces import service as faces
from safecity.faces.matches import flows, service
from safecity.faces.matches.models import Decision, FaceMatch, FaceSighting, MatchStatus
from safecity.faces.matches.schemas import DecisionIn
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, LinkKind
from safecity.incidents.schemas import IncidentIn
from safecity.records.models import Sighting as RecordSighting

KEEP = dt.timedelta(hours=24)


@pytest.fixture(scope="module")
def face_engine() -> Iterator[FaceEngine]:
    yield FaceEngine()


@pytest.fixture(scope="module")
def seen() -> FaceSeen:
    return astronaut_seen()


@pytest.fixture
def box(settings: Settings) -> SecretBox:
    return faces.biometric_box(settings)


@pytest.fixture
def sought(session: Session, factory: Factory, face_engine: FaceEngine, box: SecretBox) -> Listed:
    return listed(session, factory, face_engine, box, factory.district())


@pytest.fixture
def examiners(factory: Factory, sought: Listed) -> tuple[Principal, Principal]:
    district = sought.place.district
    first = factory.principal(factory.user("face_examiner", districts=[district]))
    second = factory.principal(factory.user("face_examiner", districts=[district]))
    return first, second


def see(
    session: Session,
    box: SecretBox,
    sought: Listed,
    seen: FaceSeen,
    *,
    at: dt.datetime,
    keep_for: dt.timedelta = KEEP,
    threshold: float = 0.92,
) -> flows.Stored:
    """The face seen on the camera at `at`, matched against the camera's gallery as live matching does."""
    live = live_gallery(session=session, box=box, camera_id=sought.place.camera_id, at=at)
    best = Gallery.of(live).best(seen.embedding) if seen.embedding is not None else None
    assert seen.embedding is not None
    _, chip = cv2.imencode(".jpg", seen.chip)
    return flows.record_face(
        session=session,
        box=box,
        camera_id=sought.place.camera_id,
        seen_at=at,
        face_box=seen.face.box,
        quality=seen.quality.as_json(),
        chip_jpeg=chip.tobytes(),
        embedding=seen.embedding,
        authorisation_id=live.authorisation_ids[0] if live.authorisation_ids else None,
        keep_for=keep_for,
        threshold=threshold,
        best=None
        if best is None
        else flows.Candidate(
            best[0].enrolment_id, best[0].entry_id, best[0].watchlist_id, best[0].person_id, best[1]
        ),
    )


def test_a_matching_face_is_a_pending_lead_kept_with_its_alert_and_audited(
    session: Session, box: SecretBox, sought: Listed, seen: FaceSeen
) -> None:
    now = dt.datetime.now(dt.UTC)
    stored = see(session, box, sought, seen, at=now)
    assert stored.match_id is not None and stored.alert is not None
    match = session.get(FaceMatch, stored.match_id)
    assert match is not None
    assert match.status == MatchStatus.PENDING
    assert (match.entry_id, match.person_id, match.enrolment_id) == (
        sought.entry_id,
        sought.place.person_id,
        sought.enrolment_id,
    )
    assert match.authorisation_id == sought.authorisation_id
    assert match.score >= match.threshold == 0.92
    sighting = session.get(FaceSighting, stored.sighting_id)
    assert sighting is not None and sighting.expires_at is None  # part of a lead: kept
    # Biometric data at rest is sealed: neither the JPEG nor the float32 vector shows through.
    assert not sighting.chip.startswith(b"\xff\xd8") and len(sighting.embedding) != 128 * 4
    assert service.sighting_embedding(box=box, sighting=sighting) @ seen.embedding == pytest.approx(1.0)
    alert = session.get(Alert, stored.alert.id)
    assert alert is not None and alert.source == "faces" and alert.severity == 3
    assert alert.detail["match_url"] == f"/faces/matches/{match.id}"
    assert alert.title == "Face match lead at Mall Road (Wanted in Lahore): to be checked by two examiners"
    assert match.alert_id == alert.id
    audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "faces.match")).all()
    assert [a.object_id for a in audited] == [str(match.id)]


def test_the_same_person_on_the_same_camera_within_a_minute_is_one_lead(
    session: Session, box: SecretBox, sought: Listed, seen: FaceSeen
) -> None:
    start = dt.datetime.now(dt.UTC)
    first = see(session, box, sought, seen, at=start)
    again = see(session, box, sought, seen, at=start + dt.timedelta(seconds=40))
    still = see(session, box, sought, seen, at=start + dt.timedelta(seconds=90))  # 50 s after the last
    later = see(session, box, sought, seen, at=start + dt.timedelta(seconds=160))
    assert first.match_id is not None
    assert again.match_id is None and still.match_id is None and again.alert is None
    assert later.match_id is not None and later.match_id != first.match_id
    lead = session.get(FaceMatch, first.match_id)
    assert lead is not None and lead.repeats == 2
    assert lead.last_seen_at == start + dt.timedelta(seconds=90)
    # The folded faces stay ordinary sightings: they expire.
    folded = session.get(FaceSighting, again.sighting_id)
    assert folded is not None and folded.expires_at is not None


def test_a_face_below_the_threshold_is_stored_briefly_and_no_lead(
    session: Session, box: SecretBox, sought: Listed, seen: FaceSeen
) -> None:
    stored = see(session, box, sought, seen, at=dt.datetime.now(dt.UTC), threshold=0.9999)
    assert stored.match_id is None and stored.alert is None
    assert session.scalars(select(FaceMatch)).all() == []
    sighting = session.get(FaceSighting, stored.sighting_id)
    assert sighting is not None and sighting.expires_at is not None


def test_two_different_examiners_confirm_a_lead_and_one_examiner_twice_is_refused(
    session: Session,
    box: SecretBox,
    sought: Listed,
    seen: FaceSeen,
    examiners: tuple[Principal, Principal],
) -> None:
    first, second = examiners
    stored = see(session, box, sought, seen, at=dt.datetime.now(dt.UTC))
    assert stored.match_id is not None
    confirm = DecisionIn(decision=Decision.CONFIRM)

    match = flows.decide(session=session, principal=first, match_id=stored.match_id, data=confirm)
    assert match.status == MatchStatus.PENDING
    with pytest.raises(Conflict) as twice:
        flows.decide(session=session, principal=first, match_id=stored.match_id, data=confirm)
    assert twice.value.code == "same_examiner"
    with pytest.raises(Conflict) as reject_after:
        flows.decide(
            session=session,
            principal=first,
            match_id=stored.match_id,
            data=DecisionIn(decision=Decision.REJECT, reason_code="different_person"),
        )
    assert reject_after.value.code == "same_examiner"
    assert session.scalars(select(RecordSighting)).all() == []  # not confirmed: nothing in the record

    match = flows.decide(session=session, principal=second, match_id=stored.match_id, data=confirm)
    assert match.status == MatchStatus.CONFIRMED and match.decided_at is not None
    # Confirmed: the sighting joins Eileen Collins's record.
    attached = session.scalars(select(RecordSighting)).one()
    assert (attached.person_id, attached.kind, attached.ref) == (
        sought.place.person_id,
        "face",
        str(match.id),
    )
    detail = service.detail(session=session, match=match)
    assert [d.username for d in detail.decisions] == [first.username, second.username]
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_id == str(match.id)).order_by(AuditEntry.seq)
    ).all()
    assert actions == ["faces.match", "faces.match.confirm", "faces.match.confirm"]


def test_one_rejection_with_its_reason_rejects_the_lead(
    session: Session,
    box: SecretBox,
    sought: Listed,
    seen: FaceSeen,
    examiners: tuple[Principal, Principal],
) -> None:
    first, second = examiners
    stored = see(session, box, sought, seen, at=dt.datetime.now(dt.UTC))
    assert stored.match_id is not None
    with pytest.raises(InvalidInput) as no_reason:
        flows.decide(
            session=session,
            principal=first,
            match_id=stored.match_id,
            data=DecisionIn(decision=Decision.REJECT),
        )
    assert no_reason.value.code == "reason_required"
    match = flows.decide(
        session=session,
        principal=first,
        match_id=stored.match_id,
        data=DecisionIn(decision=Decision.REJECT, reason_code="twin_or_lookalike", note="her sister"),
    )
    assert match.status == MatchStatus.REJECTED
    with pytest.raises(Conflict) as late:
        flows.decide(
            session=session,
            principal=second,
            match_id=stored.match_id,
            data=DecisionIn(decision=Decision.CONFIRM),
        )
    assert late.value.code == "already_decided"
    audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "faces.match.reject")).one()
    assert audited.detail["reason_code"] == "twin_or_lookalike"
    assert service.list_matches(session=session, principal=first, status=MatchStatus.REJECTED) == [match]


def test_a_face_alert_opens_an_incident_only_from_a_confirmed_lead(
    session: Session,
    box: SecretBox,
    sought: Listed,
    seen: FaceSeen,
    examiners: tuple[Principal, Principal],
) -> None:
    first, second = examiners
    stored = see(session, box, sought, seen, at=dt.datetime.now(dt.UTC))
    assert stored.match_id is not None and stored.alert is not None
    with pytest.raises(Conflict) as from_alert:  # the console's ordinary escalation is held back
        incidents.escalate_alert(
            session=session, principal=first, alert_id=stored.alert.id, category=Category.OTHER, priority=2
        )
    assert from_alert.value.code == "face_match_not_confirmed"
    other = incidents.create_incident(
        session=session,
        principal=first,
        data=IncidentIn(
            district_id=sought.place.district.id,
            category=Category.STREET_CRIME,
            priority=2,
            title="Snatching on Mall Road",
        ),
    )
    with pytest.raises(Conflict) as linked:  # nor can the lead's alert be tied to another incident by hand
        incidents.link(
            session=session,
            principal=first,
            incident_id=other.id,
            kind=LinkKind.ALERT,
            ref_id=stored.alert.id,
        )
    assert linked.value.code == "face_match_not_confirmed"
    flows.decide(
        session=session, principal=first, match_id=stored.match_id, data=DecisionIn(decision=Decision.CONFIRM)
    )
    with pytest.raises(Conflict) as half:
        flows.open_incident(session=session, principal=first, match_id=stored.match_id)
    assert half.value.code == "match_not_confirmed"
    flows.decide(
        session=session,
        principal=second,
        match_id=stored.match_id,
        data=DecisionIn(decision=Decision.CONFIRM),
    )
    incident = flows.open_incident(session=session, principal=second, match_id=stored.match_id)
    match = session.get(FaceMatch, stored.match_id)
    assert match is not None and match.incident_id == incident.id
    assert incident.title.startswith("Confirmed face match at Mall Road")
    with pytest.raises(Conflict) as again:
        flows.open_incident(session=session, principal=second, match_id=stored.match_id)
    assert again.value.code == "already_opened"


def test_unmatched_faces_past_their_time_are_purged_and_a_leads_face_is_kept(
    session: Session, box: SecretBox, sought: Listed, seen: FaceSeen
) -> None:
    now = dt.datetime.now(dt.UTC)
    lead = see(session, box, sought, seen, at=now)
    short = see(session, box, sought, seen, at=now + dt.timedelta(seconds=5), keep_for=dt.timedelta(0))
    kept = see(session, box, sought, seen, at=now + dt.timedelta(seconds=6))
    assert service.purge_expired(session=session, now=now + dt.timedelta(seconds=1)) == 1
    left = set(session.scalars(select(FaceSighting.id)))
    assert left == {lead.sighting_id, kept.sighting_id} and short.sighting_id not in left
    assert service.purge_expired(session=session, now=now + KEEP + dt.timedelta(minutes=1)) == 1
    assert set(session.scalars(select(FaceSighting.id))) == {lead.sighting_id}


def test_a_camera_without_a_current_authorisation_has_an_empty_gallery(
    session: Session, factory: Factory, face_engine: FaceEngine, box: SecretBox, seen: FaceSeen
) -> None:
    unauthorised = listed(session, factory, face_engine, box, factory.district(), authorised=False)
    live = live_gallery(
        session=session, box=box, camera_id=unauthorised.place.camera_id, at=dt.datetime.now(dt.UTC)
    )
    gallery = Gallery.of(live)
    assert not gallery.covers(dt.datetime.now(dt.UTC))
    assert gallery.best(np.asarray(seen.embedding)) is None


def test_the_purge_command_deletes_the_unmatched_faces_past_their_time(
    own_db: tuple[str, sessionmaker[Session]],
    settings: Settings,
    face_engine: FaceEngine,
    seen: FaceSeen,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from safecity.cli import app

    url, make_session = own_db
    box = faces.biometric_box(settings)
    with make_session() as session:
        factory = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa"))
        sought = listed(session, factory, face_engine, box, factory.district())
        now = dt.datetime.now(dt.UTC)
        lead = see(session, box, sought, seen, at=now)
        gone = see(session, box, sought, seen, at=now + dt.timedelta(seconds=1), keep_for=dt.timedelta(0))
        session.commit()
    monkeypatch.setenv("SAFECITY_DATABASE_URL", url)
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SAFECITY_SECRET_KEY", settings.secret_key.get_secret_value())
    result = CliRunner().invoke(app, ["faces", "purge"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 face" in result.output
    with make_session() as session:
        assert set(session.scalars(select(FaceSighting.id))) == {lead.sighting_id}
        assert gone.sighting_id != lead.sighting_id
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "faces.retention")).one()
        assert audited.detail["deleted"] == 1
