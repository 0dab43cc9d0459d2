"""Human review of violations: the queue of an officer's districts, decisions and their rules (a reason to
reject, a complete packet and a plate to confirm, a second and different officer for unsure or corrected
reads, one decision per version), the cloned-plate check against the registry, the evidence files, and the
API and pages around them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from review_world import make_camera, make_rule, make_violation, register
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from conftest import TEST_SECRET_KEY, Factory
from connectors.registry_server import registry_server
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.config import ChallanSettings, RegistrySettings, Settings, VideoSettings
from safecity.connectors.vehicles.models import Registration
from safecity.connectors.vehicles.registries import RestRegistry, RestRegistryConfig, build_registry
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput
from safecity.org.models import District
from safecity.runtime import Services
from safecity.traffic.reviews import service as reviews
from safecity.traffic.reviews.models import Decision, Review
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import Violation, ViolationStatus

REGISTRY = build_registry(RegistrySettings())  # the imported extracts only
POLICY = ChallanSettings(second_review_below=0.9, min_precision=0.8, min_decided=4)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key=SecretStr(TEST_SECRET_KEY),
        video=VideoSettings(run_in_web=False),
        challans=POLICY,
    )


@dataclass
class World:
    a: District
    b: District
    camera: object
    camera_b: object
    evidence_dir: Path


@pytest.fixture
def world(factory: Factory, session: Session, settings: Settings) -> World:
    a, b = factory.district(), factory.district()
    return World(a, b, make_camera(session, a, "Chowk north"), make_camera(session, b), settings.evidence_dir)


def officer(factory: Factory, world: World) -> Principal:
    return factory.principal(factory.user("traffic_officer", districts=[world.a]))


def decide(
    session: Session, principal: Principal, violation: Violation, decision: str, **kwargs: object
) -> Violation:
    decided = reviews.decide(
        session=session,
        principal=principal,
        violation_id=violation.id,
        decision=Decision(decision),
        version=kwargs.pop("version", violation.version),  # type: ignore[arg-type]
        registry=REGISTRY,
        policy=POLICY,
        **kwargs,  # type: ignore[arg-type]
    )
    return decided.violation


def test_the_queue_is_oldest_first_within_the_officers_districts(
    factory: Factory, session: Session, world: World
) -> None:
    now = utcnow()
    newer = make_violation(
        session, world.camera, world.evidence_dir, occurred_at=now - dt.timedelta(minutes=1)
    )
    older = make_violation(
        session, world.camera, world.evidence_dir, occurred_at=now - dt.timedelta(minutes=9)
    )
    second = make_violation(
        session, world.camera, world.evidence_dir, status=ViolationStatus.SECOND_REVIEW, occurred_at=now
    )
    for status in (ViolationStatus.COLLECTING, ViolationStatus.WITHHELD, ViolationStatus.CONFIRMED):
        make_violation(session, world.camera, world.evidence_dir, status=status)
    make_violation(session, world.camera_b, world.evidence_dir)  # another district
    me = officer(factory, world)
    assert [v.id for v in reviews.queue(session=session, principal=me)] == [older.id, newer.id, second.id]
    assert reviews.queue(session=session, principal=me)[0].camera_name == "Chowk north"
    # A violation this officer confirmed once waits for someone else.
    session.add(
        Review(
            violation_id=second.id,
            reviewer_id=me.user_id,
            reviewer_name=me.username,
            decision=Decision.CONFIRM,
        )
    )
    session.flush()
    assert second.id not in {v.id for v in reviews.queue(session=session, principal=me)}
    assert second.id in {v.id for v in reviews.queue(session=session, principal=officer(factory, world))}


def test_a_sure_read_that_matches_the_registry_is_confirmed(
    factory: Factory, session: Session, world: World
) -> None:
    register(session, "LEA1234", vehicle_class="car", colour="White")
    violation = make_violation(
        session, world.camera, world.evidence_dir, plate_read="LEA1234", confidence=0.97
    )
    me = officer(factory, world)
    decided = decide(session, me, violation, "confirm", note="clear red light")
    assert (decided.status, decided.plate, decided.version) == (ViolationStatus.CONFIRMED, "LEA1234", 1)
    assert decided.decided_at is not None and decided.reason_code is None
    check = decided.registry_check
    assert check is not None
    # Exactly the shape CONTRACTS.md gives (the challans work copies the owner from it).
    assert set(check) == {"found", "source", "checked_at", "vehicle", "owner", "seen", "mismatches"}
    assert set(check["vehicle"]) == {
        "plate",
        "make",
        "model",
        "colour",
        "vehicle_class",
        "status",
        "province_code",
    }
    assert check["owner"] == {
        "name": "Ayesha Khan",
        "cnic": "17301-1234567-2",
        "phone": "+923001234567",
        "email": "ayesha@example.pk",
        "address": "House 12, Hayatabad, Peshawar",
    }
    assert check["seen"] == {"vehicle_class": "car", "colour": "white"} and check["mismatches"] == []
    assert check["found"] is True and dt.datetime.fromisoformat(check["checked_at"]).tzinfo is not None
    (review,) = reviews.reviews_of(session=session, violation_id=violation.id)
    assert (review.decision, review.reviewer_id, review.plate, review.note) == (
        Decision.CONFIRM,
        me.user_id,
        "LEA1234",
        "clear red light",
    )
    actions = {
        e.action: e
        for e in session.scalars(select(AuditEntry).where(AuditEntry.actor_name == me.username)).all()
    }
    assert actions["registry.lookup"].purpose == f"e-challan review {violation.id}"
    assert actions["traffic.violations.decide"].detail["status"] == "confirmed"
    assert violation.id not in {v.id for v in reviews.queue(session=session, principal=me)}


def test_a_rejection_needs_a_reason_code(factory: Factory, session: Session, world: World) -> None:
    violation = make_violation(session, world.camera, world.evidence_dir)
    me = officer(factory, world)
    for reason in (None, "looks_fine"):
        with pytest.raises(InvalidInput) as caught:
            decide(session, me, violation, "reject", reason_code=reason)
        assert caught.value.code == "reason_required"
    decided = decide(session, me, violation, "reject", reason_code="emergency_vehicle", note="ambulance")
    assert (decided.status, decided.reason_code) == (ViolationStatus.REJECTED, "emergency_vehicle")
    assert decided.registry_check is None  # a rejection looks no owner up


def test_an_incomplete_packet_or_no_plate_cannot_be_confirmed(
    factory: Factory, session: Session, world: World
) -> None:
    me = officer(factory, world)
    partial = make_violation(session, world.camera, world.evidence_dir, complete=False)
    with pytest.raises(InvalidInput) as caught:
        decide(session, me, partial, "confirm")
    assert caught.value.code == "evidence_incomplete" and "clip" in caught.value.message
    unread = make_violation(session, world.camera, world.evidence_dir, plate_read=None, confidence=None)
    with pytest.raises(InvalidInput) as no_plate:
        decide(session, me, unread, "confirm")
    assert no_plate.value.code == "plate_required"
    assert {partial.status, unread.status} == {ViolationStatus.PENDING}


def test_an_unsure_read_needs_a_second_different_officer(
    factory: Factory, session: Session, world: World
) -> None:
    register(session, "LEA1234")
    violation = make_violation(session, world.camera, world.evidence_dir, confidence=0.72)
    first, second = officer(factory, world), officer(factory, world)
    after_first = decide(session, first, violation, "confirm")
    assert (after_first.status, after_first.plate, after_first.registry_check) == (
        ViolationStatus.SECOND_REVIEW,
        "LEA1234",
        None,
    )
    with pytest.raises(Conflict) as again:
        decide(session, first, violation, "confirm")
    assert again.value.code == "already_reviewed"
    settled = decide(session, second, violation, "confirm")
    assert settled.status == ViolationStatus.CONFIRMED and settled.registry_check is not None
    assert [r.reviewer_id for r in reviews.reviews_of(session=session, violation_id=violation.id)] == [
        first.user_id,
        second.user_id,
    ]


def test_a_corrected_read_is_settled_only_when_a_second_officer_agrees(
    factory: Factory, session: Session, world: World
) -> None:
    register(session, "LEA1284")
    violation = make_violation(
        session, world.camera, world.evidence_dir, plate_read="LEA1234", confidence=0.98
    )
    first, second, third = (officer(factory, world) for _ in range(3))
    assert (
        decide(session, first, violation, "confirm", plate="lea-1284").status == ViolationStatus.SECOND_REVIEW
    )
    # The second officer reads it as the camera did: they disagree, so a third must settle it.
    disagreed = decide(session, second, violation, "confirm", plate="LEA1234")
    assert (disagreed.status, disagreed.plate) == (ViolationStatus.SECOND_REVIEW, "LEA1234")
    settled = decide(session, third, violation, "confirm", plate="LEA1284")
    assert (settled.status, settled.plate) == (ViolationStatus.CONFIRMED, "LEA1284")


@pytest.mark.parametrize(
    ("registered", "seen", "status", "reason", "mismatches"),
    [
        (
            ("large", "white"),
            ("car", "white"),
            ViolationStatus.INVESTIGATE,
            "registry_mismatch",
            ["vehicle_class"],
        ),
        (("car", "red"), ("car", "white"), ViolationStatus.INVESTIGATE, "registry_mismatch", ["colour"]),
        (
            ("motorcycle", "black"),
            ("car", "blue"),
            ViolationStatus.INVESTIGATE,
            "registry_mismatch",
            ["vehicle_class", "colour"],
        ),
        (None, ("car", "white"), ViolationStatus.INVESTIGATE, "not_registered", ["not_registered"]),
        # What a camera confuses is no mismatch: silver for white, a rickshaw for a car, a pickup for a truck.
        (("car", "silver"), ("car", "white"), ViolationStatus.CONFIRMED, None, []),
        (("rickshaw", "green"), ("car", "green"), ViolationStatus.CONFIRMED, None, []),
        (("car", "white"), ("truck", "white"), ViolationStatus.CONFIRMED, None, []),
        (("car", "white"), (None, None), ViolationStatus.CONFIRMED, None, []),
    ],
)
def test_the_cloned_plate_check_sends_a_mismatch_to_investigation(
    factory: Factory,
    session: Session,
    world: World,
    registered: tuple[str, str] | None,
    seen: tuple[str | None, str | None],
    status: ViolationStatus,
    reason: str | None,
    mismatches: list[str],
) -> None:
    if registered is not None:
        register(session, "KPT777", vehicle_class=registered[0], colour=registered[1])
    violation = make_violation(
        session, world.camera, world.evidence_dir, plate_read="KPT777", vehicle_class=seen[0], colour=seen[1]
    )
    decided = decide(session, officer(factory, world), violation, "confirm")
    assert (decided.status, decided.reason_code) == (status, reason)
    assert decided.registry_check is not None and decided.registry_check["mismatches"] == mismatches
    assert decided.registry_check["found"] is (registered is not None)


@pytest.mark.parametrize(
    ("detected", "status", "mismatches"),
    [("truck", ViolationStatus.CONFIRMED, []), ("bus", ViolationStatus.INVESTIGATE, ["vehicle_class"])],
)
def test_the_cloned_plate_check_goes_by_the_class_the_detector_saw(
    factory: Factory,
    session: Session,
    world: World,
    detected: str,
    status: ViolationStatus,
    mismatches: list[str],
) -> None:
    # As the violations work stores them: a truck and a bus are both of the fine class "large", the
    # detector's class kept in `measured`. A pickup registered as a car and seen as a truck is no clone.
    register(session, "KPT778", vehicle_class="car", colour="white")
    violation = make_violation(
        session,
        world.camera,
        world.evidence_dir,
        plate_read="KPT778",
        vehicle_class=violations.fine_class(detected),
        colour="white",
    )
    violation.measured = {**violation.measured, "detected_class": detected}
    session.flush()
    decided = decide(session, officer(factory, world), violation, "confirm")
    assert decided.status == status
    assert decided.registry_check is not None and decided.registry_check["mismatches"] == mismatches
    assert decided.registry_check["seen"]["vehicle_class"] == "large"


def test_a_decision_on_a_stale_version_is_refused(factory: Factory, session: Session, world: World) -> None:
    violation = make_violation(session, world.camera, world.evidence_dir)
    me = officer(factory, world)
    with pytest.raises(Conflict) as stale:
        decide(session, me, violation, "reject", reason_code="duplicate", version=3)
    assert stale.value.code == "already_decided"
    # Another writer moved the row on after this session read it: the guarded UPDATE matches nothing.
    session.execute(
        update(Violation)
        .where(Violation.id == violation.id)
        .values(version=1, status=ViolationStatus.REJECTED)
        .execution_options(synchronize_session=False)
    )
    assert violation.version == 0  # this session still holds the old state
    with pytest.raises(Conflict) as lost:
        decide(session, me, violation, "reject", reason_code="duplicate", version=0)
    assert lost.value.code == "already_decided"
    assert reviews.reviews_of(session=session, violation_id=violation.id) == []


# --- the API ----------------------------------------------------------------------------------------


def test_the_api_lists_shows_and_decides(
    factory: Factory, session: Session, world: World, login_as: Callable[..., TestClient]
) -> None:
    register(session, "LEA1234")
    rule = make_rule(session, world.camera)
    violation = make_violation(session, world.camera, world.evidence_dir, rule=rule)
    client = login_as(factory.user("traffic_officer", districts=[world.a]))

    queue = client.get("/api/v1/traffic/violations", params={"queue": "true"})
    assert queue.status_code == 200 and [v["id"] for v in queue.json()] == [str(violation.id)]
    found = client.get("/api/v1/traffic/violations", params={"plate": "lea-1234", "status": "pending"})
    assert [v["id"] for v in found.json()] == [str(violation.id)]
    shown = client.get(f"/api/v1/traffic/violations/{violation.id}")
    assert shown.status_code == 200
    body = shown.json()
    assert body["rule_name"] == "Red light north" and body["version"] == 0
    assert body["evidence"]["read"]["plate"] == "LEA1234" and body["measured"]["signal"]["state"] == "red"
    assert body["needs_second_review"] is False
    reasons = client.get("/api/v1/traffic/review-reasons").json()
    assert {
        "code": "emergency_vehicle",
        "label": "Emergency vehicle on duty",
        "against_precision": False,
    } in reasons

    bad = client.post(
        f"/api/v1/traffic/violations/{violation.id}/decisions", json={"version": 0, "decision": "reject"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "reason_required"
    done = client.post(
        f"/api/v1/traffic/violations/{violation.id}/decisions", json={"version": 0, "decision": "confirm"}
    )
    assert done.status_code == 200, done.text
    assert (
        done.json()["violation"]["status"] == "confirmed" and done.json()["review"]["decision"] == "confirm"
    )
    late = client.post(
        f"/api/v1/traffic/violations/{violation.id}/decisions",
        json={"version": 0, "decision": "reject", "reason_code": "duplicate"},
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "already_decided"

    other = login_as(factory.user("traffic_officer", districts=[world.b]))
    assert other.get(f"/api/v1/traffic/violations/{violation.id}").status_code == 404
    assert other.get("/api/v1/traffic/violations", params={"queue": "true"}).json() == []


def test_a_registry_that_is_down_decides_nothing(
    factory: Factory,
    session: Session,
    world: World,
    services: Services,
    login_as: Callable[..., TestClient],
) -> None:
    violation = make_violation(session, world.camera, world.evidence_dir)
    client = login_as(factory.user("traffic_officer", districts=[world.a]))
    with registry_server() as server:
        server.answer("LEA1234", {"error": "down"}, status=503)
        services.vehicle_registry = RestRegistry(
            RestRegistryConfig(url=server.url, timeout_s=1, retries=1, backoff_s=0.01)
        )
        response = client.post(
            f"/api/v1/traffic/violations/{violation.id}/decisions", json={"version": 0, "decision": "confirm"}
        )
        assert server.hits["LEA1234"] == 2
    assert response.status_code == 503 and response.json()["error"]["code"] == "connector_unavailable"
    session.expire_all()
    assert session.get(Violation, violation.id).status == ViolationStatus.PENDING  # type: ignore[union-attr]
    assert reviews.reviews_of(session=session, violation_id=violation.id) == []
    page = client.post(
        f"/traffic/review/{violation.id}/decision", data={"decision": "confirm", "version": "0"}
    )
    assert page.headers["HX-Retarget"] == "#flash" and "unavailable" in page.text


def test_a_stale_registry_answer_never_confirms_but_may_send_a_mismatch_to_investigation(
    factory: Factory,
    session: Session,
    world: World,
    services: Services,
    login_as: Callable[..., TestClient],
) -> None:
    # The registry's last answers, held from an hour ago: a white car, and a red motorcycle.
    fetched = utcnow() - dt.timedelta(hours=1)
    register(session, "LEA1234")
    register(session, "LEB777", vehicle_class="motorcycle", colour="red")
    session.execute(update(Registration).values(updated_at=fetched))
    matching = make_violation(session, world.camera, world.evidence_dir)
    cloned = make_violation(session, world.camera, world.evidence_dir, plate_read="LEB777")
    client = login_as(factory.user("traffic_officer", districts=[world.a]))
    with registry_server() as server:
        server.answer("LEA1234", {"error": "down"}, status=503)
        server.answer("LEB777", {"error": "down"}, status=503)
        services.vehicle_registry = RestRegistry(
            RestRegistryConfig(url=server.url, timeout_s=1, retries=0, cache_ttl_s=60, breaker_failures=5)
        )
        # It matches what the camera saw, but a challan copies the owner from it: not on a stale answer.
        refused = client.post(
            f"/api/v1/traffic/violations/{matching.id}/decisions", json={"version": 0, "decision": "confirm"}
        )
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "connector_unavailable"
        assert "stale" in refused.json()["error"]["message"]
        # A white car seen where the registry's last word is a red motorcycle: investigated, marked stale.
        flagged = client.post(
            f"/api/v1/traffic/violations/{cloned.id}/decisions", json={"version": 0, "decision": "confirm"}
        )
        assert flagged.status_code == 200, flagged.text
        assert server.hits == {"LEA1234": 1, "LEB777": 1}
    session.expire_all()
    assert session.get(Violation, matching.id).status == ViolationStatus.PENDING  # type: ignore[union-attr]
    assert reviews.reviews_of(session=session, violation_id=matching.id) == []
    investigated = session.get(Violation, cloned.id)
    assert investigated is not None and investigated.status == ViolationStatus.INVESTIGATE
    check = investigated.registry_check
    assert check is not None and check["stale"] is True and check["fetched_at"] == fetched.isoformat()
    assert check["mismatches"] == ["vehicle_class", "colour"]
    lookup = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "registry.lookup").order_by(AuditEntry.seq.desc())
    ).first()
    assert lookup is not None and lookup.detail["stale"] is True and lookup.object_id == "LE8777"
    page = client.get(f"/traffic/review/{cloned.id}")
    assert 'data-testid="registry-stale"' in page.text and "last answer, fetched" in page.text


def test_evidence_files_are_served_in_scope_with_their_type_and_audited(
    factory: Factory, session: Session, world: World, login_as: Callable[..., TestClient], settings: Settings
) -> None:
    violation = make_violation(session, world.camera, world.evidence_dir)
    url = f"/api/v1/traffic/violations/{violation.id}/evidence"
    adjudicator = login_as(factory.user("adjudicator", districts=[world.a]))
    frame = adjudicator.get(f"{url}/at")
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    assert frame.content[:3] == b"\xff\xd8\xff"
    clip = adjudicator.get(f"{url}/clip")
    assert clip.headers["content-type"] == "video/mp4" and clip.content[4:8] == b"ftyp"
    ranged = adjudicator.get(f"{url}/clip", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100  # a <video> seeks by ranges
    assert adjudicator.get(f"{url}/nonsense").status_code == 422

    tail = adjudicator.get(f"{url}/clip", headers={"Range": "bytes=100-"})
    assert tail.status_code == 206 and tail.content == clip.content[100:]
    audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "traffic.evidence.view")).all()
    # Each read once: the clip's whole file and its first range are audited, the later range is not.
    assert sorted(e.detail["role"] for e in audited) == ["at", "clip", "clip"]

    # A manifest that names a file outside the evidence folder serves nothing.
    secret = settings.data_dir / "secret.jpg"
    secret.write_bytes(b"\xff\xd8\xff not evidence")
    evidence = dict(violation.evidence)
    evidence["files"] = [
        {**f, "path": "../secret.jpg"} if f["role"] == "before" else f for f in violation.evidence["files"]
    ]
    session.execute(update(Violation).where(Violation.id == violation.id).values(evidence=evidence))
    session.commit()
    escaped = adjudicator.get(f"{url}/before")
    assert escaped.status_code == 404 and escaped.json()["error"]["code"] == "no_evidence_file"

    outsider = login_as(factory.user("adjudicator", districts=[world.b]))
    assert outsider.get(f"{url}/at").status_code == 404
    operator = login_as(factory.user("operator", districts=[world.a]))
    assert operator.get(f"{url}/at").status_code == 403


def test_the_pages_show_the_queue_and_decide(
    factory: Factory, session: Session, world: World, login_as: Callable[..., TestClient]
) -> None:
    register(session, "LEA1234")
    violation = make_violation(session, world.camera, world.evidence_dir, confidence=0.95)
    client = login_as(factory.user("traffic_officer", districts=[world.a]))
    queue = client.get("/traffic/review")
    assert queue.status_code == 200 and f'href="/traffic/review/{violation.id}"' in queue.text
    page = client.get(f"/traffic/review/{violation.id}")
    assert page.status_code == 200
    for role in ("before", "at", "after", "plate"):
        assert f'src="/api/v1/traffic/violations/{violation.id}/evidence/{role}"' in page.text
    assert "<video" in page.text and "/evidence/clip" in page.text
    assert '<span class="char doubtful"' in page.text  # the fourth character was read 55% sure
    assert "LEA1284 (41%)" in page.text and "red_for_s" not in page.text and "red for s" in page.text
    assert "<script>" not in page.text and "style=" not in page.text  # the CSP allows neither
    refused = client.post(
        f"/traffic/review/{violation.id}/decision", data={"decision": "reject", "version": "0"}
    )
    assert refused.headers["HX-Retarget"] == "#flash" and "reason" in refused.text
    done = client.post(
        f"/traffic/review/{violation.id}/decision",
        data={"decision": "confirm", "version": "0", "plate": "LEA1234"},
    )
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"/traffic/review/{violation.id}"
    after = client.get(f"/traffic/review/{violation.id}")
    assert 'data-testid="violation-status">confirmed<' in after.text and "Matches the registry." in after.text
