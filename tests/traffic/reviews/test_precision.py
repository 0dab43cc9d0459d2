"""Precision per camera and per rule from review and appeal outcomes; a camera that falls below the threshold
is suspended with an alert, shows on the dashboard, and is lifted by someone with traffic.manage.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from review_world import make_camera, make_rule, make_violation, register
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_SECRET_KEY, Factory
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.config import ChallanSettings, RegistrySettings, Settings, VideoSettings
from safecity.connectors.vehicles.registries import build_registry
from safecity.core.db import utcnow
from safecity.events.alerts.models import Alert
from safecity.traffic.appeals.models import Appeal, AppealStatus
from safecity.traffic.challans.models import Challan, ChallanStatus, Fine
from safecity.traffic.reviews import service as reviews
from safecity.traffic.reviews.models import Decision, Suspension
from safecity.traffic.violations.models import Offence, Violation, ViolationStatus

POLICY = ChallanSettings(min_precision=0.8, min_decided=4)
REGISTRY = build_registry(RegistrySettings())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key=SecretStr(TEST_SECRET_KEY),
        video=VideoSettings(run_in_web=False),
        challans=POLICY,
    )


def _decide(
    session: Session, who: Principal, violation: Violation, reason: str | None = None
) -> reviews.Decided:
    return reviews.decide(
        session=session,
        principal=who,
        violation_id=violation.id,
        decision=Decision.REJECT if reason else Decision.CONFIRM,
        version=violation.version,
        reason_code=reason,
        registry=REGISTRY,
        policy=POLICY,
    )


def _cancel_on_appeal(session: Session, violation: Violation) -> None:
    """The violation's challan, appealed and cancelled (as the challans and appeals work record them)."""
    fine = Fine(
        province_code="KP",
        vehicle_class="car",
        offence=Offence.RED_LIGHT,
        amount_pkr=1000,
        effective_from=dt.date(2021, 7, 1),
    )
    session.add(fine)
    session.flush()
    now = utcnow()
    challan = Challan(
        number=f"TST-2026-{uuid.uuid4().int % 1_000_000:06d}",
        violation_id=violation.id,
        district_id=violation.district_id,
        plate=violation.plate or "",
        offence=violation.offence,
        vehicle_class="car",
        fine_id=fine.id,
        amount_pkr=1000,
        status=ChallanStatus.CANCELLED,
        due_at=now + dt.timedelta(days=10),
        payment_ref=uuid.uuid4().hex[:20],
        verify_code=uuid.uuid4().hex,
    )
    session.add(challan)
    session.flush()
    session.add(
        Appeal(
            challan_id=challan.id,
            district_id=violation.district_id,
            status=AppealStatus.CANCELLED,
            statement="My car was parked at home: the plate is cloned.",
            deadline_at=now + dt.timedelta(days=30),
            decided_at=now,
        )
    )
    session.flush()


def test_a_camera_below_the_threshold_is_suspended_with_an_alert(
    factory: Factory, session: Session, tmp_path: Path
) -> None:
    district = factory.district()
    camera = make_camera(session, district, "Chowk south")
    rule = make_rule(session, camera)
    register(session, "LEA1234")
    made = [make_violation(session, camera, tmp_path, rule=rule) for _ in range(6)]
    who = factory.principal(factory.user("traffic_officer", districts=[district]))

    # Two confirmed, one exempt rejection (an ambulance: the camera was right), one rejection against it.
    for violation, reason in zip(made, (None, None, "emergency_vehicle", "signal_fault"), strict=False):
        assert _decide(session, who, violation, reason).alert is None
    figures = reviews.tally(session=session, camera_id=camera.id)
    assert (figures.confirmed, figures.false, figures.decided) == (2, 1, 3)  # the exemption is left out

    # The fourth counted decision brings it to 2 of 4 = 50 %, below 80 %: suspended, and an alert.
    decided = _decide(session, who, made[4], "wrong_vehicle")
    assert decided.alert is not None and decided.alert.kind == "traffic.camera_suspended"
    assert decided.alert.camera_id == camera.id and "precision 50% over 4 decided" in decided.alert.title
    (suspension,) = session.scalars(select(Suspension).where(Suspension.camera_id == camera.id)).all()
    assert (suspension.precision, suspension.decided, suspension.lifted_at) == (0.5, 4, None)
    assert reviews.active_suspension(session=session, camera_id=camera.id) is suspension
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "traffic.suspensions.suspend")).one()

    # A further decision finds it suspended already: no second suspension, no second alert.
    assert _decide(session, who, made[5], "not_a_violation").alert is None
    assert len(session.scalars(select(Suspension).where(Suspension.camera_id == camera.id)).all()) == 1
    assert len(session.scalars(select(Alert).where(Alert.camera_id == camera.id)).all()) == 1

    figures_by_rule = reviews.precision(session=session, principal=who, policy=POLICY).rules
    (by_rule,) = [r for r in figures_by_rule if r.key == rule.id]
    assert (by_rule.confirmed, by_rule.false, by_rule.offence) == (2, 3, Offence.RED_LIGHT)


def test_a_challan_cancelled_on_appeal_counts_as_false(
    factory: Factory, session: Session, tmp_path: Path
) -> None:
    district = factory.district()
    camera = make_camera(session, district)
    register(session, "LEA1234")
    who = factory.principal(factory.user("traffic_officer", districts=[district]))
    made = [make_violation(session, camera, tmp_path) for _ in range(4)]
    for violation in made:
        _decide(session, who, violation)
    assert reviews.tally(session=session, camera_id=camera.id) == reviews.Tally(4, 0)
    _cancel_on_appeal(session, made[0])
    # What the appeals work calls after an outcome: 3 of 4 is below 80 %.
    result = reviews.recompute(session=session, camera_id=camera.id, policy=POLICY)
    assert result.tally == reviews.Tally(3, 1) and result.tally.precision == 0.75
    assert result.suspension is not None and result.alert is not None


def test_the_dashboard_and_the_api_show_precision_and_lift_a_suspension(
    factory: Factory, session: Session, settings: Settings, login_as: Callable[..., TestClient]
) -> None:
    district, elsewhere = factory.district(), factory.district()
    camera = make_camera(session, district, "Chowk east")
    good = make_camera(session, district, "Chowk west")
    make_camera(session, elsewhere, "Far away")
    register(session, "LEA1234")
    who = factory.principal(factory.user("traffic_officer", districts=[district]))
    for reason in (None, "not_a_violation", "plate_unreadable", "wrong_vehicle"):
        _decide(session, who, make_violation(session, camera, settings.evidence_dir), reason)
    _decide(session, who, make_violation(session, good, settings.evidence_dir))
    session.commit()

    officer = login_as(factory.user("traffic_officer", districts=[district]))
    figures = officer.get("/api/v1/traffic/precision")
    assert figures.status_code == 200
    body = figures.json()
    assert (body["min_precision"], body["min_decided"]) == (0.8, 4)
    rows = {r["name"]: r for r in body["cameras"]}
    assert set(rows) == {"Chowk east", "Chowk west"}  # nothing of another district
    assert (rows["Chowk east"]["precision"], rows["Chowk east"]["decided"]) == (0.25, 4)
    assert rows["Chowk east"]["suspension_id"] is not None and rows["Chowk west"]["suspension_id"] is None
    assert body["cameras"][0]["name"] == "Chowk east"  # the worst first

    page = officer.get("/traffic/precision")
    assert page.status_code == 200
    assert 'data-testid="precision-chart"' in page.text and "<rect" in page.text
    assert 'data-testid="suspended"' in page.text and "25%" in page.text

    suspension_id = rows["Chowk east"]["suspension_id"]
    outsider = login_as(factory.user("traffic_officer", districts=[elsewhere]))
    assert outsider.post(f"/api/v1/traffic/suspensions/{suspension_id}/lift").status_code == 404
    adjudicator = login_as(factory.user("adjudicator", districts=[district]))
    assert adjudicator.post(f"/api/v1/traffic/suspensions/{suspension_id}/lift").status_code == 403
    lifted = officer.post(f"/api/v1/traffic/suspensions/{suspension_id}/lift")
    assert lifted.status_code == 200 and lifted.json()["lifted_at"] is not None
    again = officer.post(f"/api/v1/traffic/suspensions/{suspension_id}/lift")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_lifted"
    session.expire_all()
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "traffic.suspensions.lift")).one()
    assert entry.object_id == suspension_id and entry.actor_name != "system"

    # Put right, the camera counts afresh: the decisions before the lift no longer weigh on it.
    assert reviews.tally(session=session, camera_id=camera.id) == reviews.Tally(0, 0)
    after = {r["name"]: r for r in officer.get("/api/v1/traffic/precision").json()["cameras"]}
    assert "Chowk east" not in after or after["Chowk east"]["suspension_id"] is None


def test_lifting_from_the_dashboard(
    factory: Factory, session: Session, settings: Settings, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    camera = make_camera(session, district)
    suspension = Suspension(camera_id=camera.id, precision=0.4, decided=20)
    session.add(suspension)
    session.commit()
    admin = login_as(factory.user("admin", districts=[district]))
    page = admin.get("/traffic/precision")
    assert f'hx-post="/traffic/precision/suspensions/{suspension.id}/lift"' in page.text
    done = admin.post(f"/traffic/precision/suspensions/{suspension.id}/lift")
    assert done.status_code == 204 and done.headers["HX-Redirect"] == "/traffic/precision"
    session.expire_all()
    assert session.get(Suspension, suspension.id).lifted_at is not None  # type: ignore[union-attr]
    viewer = login_as(factory.user("operator", districts=[district]))
    view = viewer.get("/traffic/precision")
    assert view.status_code == 200 and "/lift" not in view.text  # traffic.read sees, cannot lift


@pytest.mark.parametrize("release", [True, False])
def test_lifting_sends_the_withheld_violations_to_the_queue_or_keeps_them_back(
    factory: Factory,
    session: Session,
    settings: Settings,
    login_as: Callable[..., TestClient],
    release: bool,
) -> None:
    district = factory.district()
    camera, other = make_camera(session, district, "Chowk north"), make_camera(session, district, "Mall")
    suspension = Suspension(camera_id=camera.id, precision=0.5, decided=10)
    session.add(suspension)
    held = ViolationStatus.WITHHELD
    withheld = [make_violation(session, camera, settings.evidence_dir, status=held) for _ in range(3)]
    elsewhere = make_violation(session, other, settings.evidence_dir, status=held)
    decided = make_violation(session, camera, settings.evidence_dir, status=ViolationStatus.REJECTED)
    session.commit()

    officer = login_as(factory.user("traffic_officer", districts=[district]))
    lifted = officer.post(
        f"/api/v1/traffic/suspensions/{suspension.id}/lift", params={"release_withheld": str(release).lower()}
    )
    assert lifted.status_code == 200
    assert lifted.json()["released"] == (3 if release else None)
    session.expire_all()
    expected = ViolationStatus.PENDING if release else ViolationStatus.WITHHELD
    assert {session.get(Violation, v.id).status for v in withheld} == {expected}  # type: ignore[union-attr]
    if release:  # a reviewer who had the old version open must reload before deciding
        assert all(session.get(Violation, v.id).version == 1 for v in withheld)  # type: ignore[union-attr]
    # Another camera's withheld violations, and the decided ones, are left as they were.
    assert session.get(Violation, elsewhere.id).status == ViolationStatus.WITHHELD  # type: ignore[union-attr]
    assert session.get(Violation, decided.id).status == ViolationStatus.REJECTED  # type: ignore[union-attr]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "traffic.suspensions.lift")).one()
    assert entry.detail["released"] == (3 if release else None)


def test_two_recounts_at_once_suspend_a_camera_once(
    factory: Factory, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    district = factory.district()
    camera = make_camera(session, district)
    register(session, "LEA1234")
    who = factory.principal(factory.user("traffic_officer", districts=[district]))
    for violation, reason in zip(
        [make_violation(session, camera, tmp_path) for _ in range(4)],
        (None, "signal_fault", "wrong_vehicle", "not_a_violation"),
        strict=True,
    ):
        _decide(session, who, violation, reason)
    (first,) = session.scalars(select(Suspension).where(Suspension.camera_id == camera.id)).all()

    # The other decision's recount checked before this one's suspension was visible to it.
    monkeypatch.setattr(reviews, "active_suspension", lambda **_: None)
    again = reviews.recompute(session=session, camera_id=camera.id, policy=POLICY)
    assert again.suspension is None and again.alert is None
    assert session.scalars(select(Suspension).where(Suspension.camera_id == camera.id)).all() == [first]
    assert len(session.scalars(select(Alert).where(Alert.camera_id == camera.id)).all()) == 1
