"""Commercial cameras done properly: the compliance check runs by itself, approving a camera that did not
pass needs a written reason, a camera reviewer decides, and an on-request camera is watched only under a
current, time-limited grant filed with a purpose."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory, RtspCamera, wait_until
from safecity.audit import service as audit
from safecity.cameras import access, onboarding
from safecity.cameras import service as cameras
from safecity.cameras.models import AccessRequest, AccessStatus, Approval, Camera, Owner, Premises, Sharing
from safecity.config import CameraSettings, Settings
from safecity.core.db import utcnow
from safecity.org.models import District

LOOPBACK_ALLOWED = CameraSettings.model_validate({"owner_allowed_networks": ["127.0.0.0/8"]})
PASSWORD = "Kh4-bazaar-cam-77"


def _premises(client: TestClient, district: District) -> dict[str, Any]:
    body = {
        "name": "Saddar branch",
        "organisation": "Bank of Khyber",
        "contact_phone": "0300-1234567",
        "district_id": str(district.id),
        "latitude": 34.0,
        "longitude": 71.55,
    }
    response = client.post("/api/v1/premises", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _register(client: TestClient, premises: dict[str, Any], url: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "Entrance", "stream_url": url, "username": "shopcam", "password": PASSWORD} | extra
    response = client.post(f"/api/v1/premises/{premises['id']}/cameras", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_registration_and_a_stream_change_make_the_check_due_and_the_runner_stores_it(
    factory: Factory,
    login_as: Callable[..., TestClient],
    session: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    rtsp_camera: Callable[..., RtspCamera],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="safecity.cameras.onboarding")
    a = factory.district()
    settings.cameras = LOOPBACK_ALLOWED
    stream = rtsp_camera(width=320, height=240, fps=10, seconds=4, user="shopcam", password=PASSWORD)
    owner = login_as(factory.user("camera_owner"))
    camera = _register(owner, _premises(owner, a), stream.url)
    row = session.get(Camera, uuid.UUID(camera["id"]))
    assert row is not None and row.compliance_due_at is not None and row.compliance is None
    assert onboarding.due_cameras(session=session) == [row.id]

    # The runner (a task of the web process) checks it in a worker thread with a session of its own.
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    runner = threading.Thread(
        target=loop.run_until_complete,
        args=(
            onboarding.run_compliance_checks(
                session_factory=session_factory, settings=settings, stop=stop, poll_s=0.2
            ),
        ),
    )
    runner.start()
    try:  # the test's database connection is shared: touch it only once the runner has stopped
        wait_until(
            lambda: "compliance checked" in caplog.text, within=30, message="the check never ran by itself"
        )
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(timeout=30)
        loop.close()
    report = owner.get(f"/api/v1/cameras/{camera['id']}").json()["compliance"]
    items = {i["key"]: i["status"] for i in report["items"]}
    assert items["reachable"] == "passed" and items["resolution"] == "failed"  # 320x240 < 1280x720
    session.expire_all()
    assert session.get(Camera, row.id).compliance_due_at is None  # type: ignore[union-attr]
    auditor = factory.principal(factory.user("auditor"))
    (entry,) = audit.search(session=session, principal=auditor, action="camera.compliance")
    assert entry.actor_name == "system" and entry.detail["automatic"] is True

    # The owner changes the password: the camera goes back to review and the check is due again.
    changed = owner.patch(
        f"/api/v1/cameras/{camera['id']}", json={"username": "shopcam", "password": "New-pass-42"}
    )
    assert changed.status_code == 200 and changed.json()["approval"] == "pending"
    session.expire_all()
    assert onboarding.due_cameras(session=session) == [row.id]
    # Run once, in this thread, as the runner does: the wrong password now fails the check, with its reason.
    stored = onboarding.check_due_camera(
        session_factory=session_factory,
        box=cameras.credentials_box(settings),
        settings=settings,
        camera_id=row.id,
    )
    assert stored is not None
    assert {i.key: i.reason for i in stored.items}["reachable"] == onboarding.CREDENTIALS_REFUSED
    assert onboarding.due_cameras(session=session) == []


def test_approving_a_camera_that_failed_needs_a_reason_and_a_reviewer_may_give_it(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a, b = factory.district(), factory.district()
    owner = login_as(factory.user("camera_owner"))
    camera = _register(owner, _premises(owner, a), "rtsp://203.0.113.20/none")
    row = session.get(Camera, uuid.UUID(camera["id"]))
    assert row is not None
    row.compliance_due_at = None
    row.compliance = {
        "checked_at": utcnow().isoformat(),
        "passed": False,
        "items": [
            {"key": "resolution", "title": "Resolution", "status": "failed", "reason": "640x480 is below"},
            {"key": "password", "title": "Not a default password", "status": "passed", "reason": "ok"},
        ],
    }
    session.commit()

    assert (
        login_as(factory.user("camera_reviewer", districts=[b]))
        .get("/cameras/review")
        .text.count('data-testid="review-item"')
        == 0
    )
    reviewer = login_as(factory.user("camera_reviewer", districts=[a]))
    queue = reviewer.get("/cameras/review")
    assert queue.status_code == 200 and 'data-testid="override-warning"' in queue.text
    assert "640x480 is below" in queue.text and "Approve despite the findings" in queue.text

    # Its check is done: the review page, polling while a check runs, reloads to show the right buttons.
    done = reviewer.get(f"/cameras/{camera['id']}/compliance?reload=1")
    assert done.headers["HX-Refresh"] == "true" and "640x480 is below" in done.text
    review = f"/api/v1/cameras/{camera['id']}/review"
    refused = reviewer.post(review, json={"decision": "approve"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "override_reason_required")
    assert "resolution" in refused.json()["error"]["message"]
    from_page = reviewer.post(f"/cameras/{camera['id']}/review", data={"decision": "approve", "reason": "ok"})
    assert from_page.headers["HX-Retarget"] == "#flash" and "write why" in from_page.text
    reason = "Bank vault entrance: the picture is enough for the gate; upgrade by March"
    approved = reviewer.post(
        f"/cameras/{camera['id']}/review", data={"decision": "approve", "reason": reason}
    )
    assert approved.status_code == 204, approved.text
    assert owner.get(f"/api/v1/cameras/{camera['id']}").json()["review_reason"] == reason
    auditor = factory.principal(factory.user("auditor"))
    (entry,) = audit.search(session=session, principal=auditor, action="camera.review")
    assert entry.detail == {
        "decision": "approve",
        "reason": reason,
        "compliance": "failed",
        "override": True,
        "failed": ["resolution"],
    }

    # A camera that passed is approved with one click, no reason asked.
    second = _register(owner, _premises(owner, a), "rtsp://203.0.113.21/none", name="Till")
    row2 = session.get(Camera, uuid.UUID(second["id"]))
    assert row2 is not None
    row2.compliance_due_at = None
    row2.compliance = {"checked_at": utcnow().isoformat(), "passed": True, "items": []}
    session.commit()
    one_click = reviewer.post(f"/api/v1/cameras/{second['id']}/review", json={"decision": "approve"})
    assert one_click.status_code == 200 and one_click.json()["approval"] == "approved"
    # The reviewer reviews; they do not administer cameras.
    assert reviewer.delete(f"/api/v1/cameras/{second['id']}").status_code == 403


def _on_request_camera(session: Session, factory: Factory, district: District) -> tuple[Camera, Any]:
    owner = factory.user("camera_owner")
    premises = Premises(
        owner_user_id=owner.id,
        district_id=district.id,
        name="Jewellers' row",
        organisation="Gold Souk Traders",
        contact_phone="+923001234567",
        latitude=34.01,
        longitude=71.56,
    )
    session.add(premises)
    session.flush()
    camera = Camera(
        name="Souk gate",
        district_id=district.id,
        premises_id=premises.id,
        latitude=34.01,
        longitude=71.56,
        stream_url="rtsp://203.0.113.30/live",
        owner=Owner.COMMERCIAL,
        owner_organisation="Gold Souk Traders",
        sharing=Sharing.ON_REQUEST,
        tags=[],
    )
    session.add(camera)
    session.flush()
    return camera, owner


def test_an_on_request_camera_is_watched_only_under_a_current_grant(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a = factory.district()
    camera, owner_user = _on_request_camera(session, factory, a)
    operator_user = factory.user("operator", districts=[a])
    operator = login_as(operator_user)
    owner = login_as(owner_user)
    day = "since=2026-01-01T00:00:00Z&until=2026-01-01T01:00:00Z"

    # No grant: live and recorded video are refused with a clear message and where to ask.
    for path in ("snapshot.jpg", "live.mjpeg", f"timeline?{day}"):
        refused = operator.get(f"/api/v1/cameras/{camera.id}/{path}")
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "access_request_required"
        assert f"/cameras/{camera.id}/access" in refused.json()["error"]["message"]
    page = operator.get(f"/cameras/{camera.id}/access")
    assert page.status_code == 200 and 'data-testid="no-grant"' in page.text and "Request access" in page.text
    # The camera page says where to ask instead of a blank picture; the wall does not offer the camera.
    view = operator.get(f"/cameras/{camera.id}")
    assert 'data-testid="request-access"' in view.text and 'data-testid="live"' not in view.text
    assert str(camera.id) not in operator.get("/wall").text

    # A purpose is required; a window longer than the policy allows is refused.
    short = operator.post(f"/cameras/{camera.id}/access", data={"purpose": "look", "hours": "2"})
    assert short.headers["HX-Retarget"] == "#flash"
    too_long = operator.post(
        f"/cameras/{camera.id}/access", data={"purpose": "Snatching outside the souk", "hours": "48"}
    )
    assert too_long.headers["HX-Retarget"] == "#flash"
    filed = operator.post(
        f"/cameras/{camera.id}/access",
        data={
            "scope": "both",
            "purpose": "Snatching reported at the gate",
            "incident_ref": "INC-7",
            "hours": "2",
        },
    )
    assert filed.status_code == 204, filed.text
    request = session.scalars(select(AccessRequest)).one()
    assert request.status is AccessStatus.PENDING
    assert operator.get(f"/api/v1/cameras/{camera.id}/snapshot.jpg").status_code == 403  # not yet granted

    # Another owner cannot decide it; the camera's owner grants it.
    stranger = login_as(factory.user("camera_owner"))
    assert stranger.post(f"/access-requests/{request.id}", data={"decision": "grant"}).headers["HX-Retarget"]
    assert "INC-7" in owner.get("/owner").text
    granted = owner.post(f"/access-requests/{request.id}", data={"decision": "grant"})
    assert granted.status_code == 204, granted.text

    # Under the grant: past the access check (no live picture on this test server: 503, not 403).
    live = operator.get(f"/api/v1/cameras/{camera.id}/snapshot.jpg")
    assert live.status_code == 503 and live.json()["error"]["code"] == "no_live_frame"
    assert operator.get(f"/api/v1/cameras/{camera.id}/timeline?{day}").status_code == 200
    view = operator.get(f"/cameras/{camera.id}")
    assert 'data-testid="request-access"' not in view.text and 'data-testid="live"' in view.text
    assert str(camera.id) in operator.get("/wall").text
    auditor = factory.principal(factory.user("auditor"))
    (use,) = audit.search(session=session, principal=auditor, action="camera.access.use")
    assert use.purpose == "INC-7: Snatching reported at the gate" and use.actor_id == operator_user.id
    # Someone else in the district holds no grant of their own.
    other = login_as(factory.user("operator", districts=[a]))
    assert other.get(f"/api/v1/cameras/{camera.id}/snapshot.jpg").status_code == 403

    # The window closes: refused again.
    session.expire_all()
    request = session.get(AccessRequest, request.id)  # type: ignore[assignment]
    request.ends_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    again = operator.get(f"/api/v1/cameras/{camera.id}/snapshot.jpg")
    assert again.status_code == 403 and again.json()["error"]["code"] == "access_request_required"
    denied = audit.search(session=session, principal=auditor, outcome="denied", actor=operator_user.username)
    assert denied, "refusals are audited"


def test_an_emergency_is_granted_by_the_policy_and_flagged_for_review(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a = factory.district()
    camera, owner_user = _on_request_camera(session, factory, a)
    assert access.policy(Sharing.ON_REQUEST).auto_grant_emergency
    operator = login_as(factory.user("operator", districts=[a]))
    long = operator.post(
        f"/cameras/{camera.id}/access",
        data={"purpose": "Armed robbery in progress", "emergency": "on", "hours": "8"},
    )
    assert "at most 2 hours" in long.text
    filed = operator.post(
        f"/cameras/{camera.id}/access",
        data={
            "purpose": "Armed robbery in progress",
            "emergency": "on",
            "hours": "1",
            "incident_ref": "INC-9",
        },
    )
    assert filed.status_code == 204
    request = session.scalars(select(AccessRequest)).one()
    assert (request.status, request.auto_granted) == (AccessStatus.GRANTED, True)
    assert operator.get(f"/api/v1/cameras/{camera.id}/snapshot.jpg").status_code == 503  # let through
    reviewer = login_as(factory.user("camera_reviewer", districts=[a]))
    flagged = reviewer.get("/cameras/review").text
    assert "Armed robbery in progress" in flagged and "(automatic)" in flagged
    owner = login_as(owner_user)
    assert "automatically (emergency policy)" in owner.get("/owner").text
    # The owner may end it early, with a reason.
    revoked = owner.post(f"/access-requests/{request.id}", data={"decision": "revoke", "note": "Resolved"})
    assert revoked.status_code == 204, revoked.text
    assert operator.get(f"/api/v1/cameras/{camera.id}/snapshot.jpg").status_code == 403


def test_continuous_and_police_cameras_need_no_request(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a = factory.district()
    camera, _ = _on_request_camera(session, factory, a)
    camera.sharing = Sharing.CONTINUOUS
    session.commit()
    operator = login_as(factory.user("operator", districts=[a]))
    assert operator.get(f"/api/v1/cameras/{camera.id}/snapshot.jpg").status_code == 503
    refused = operator.post(f"/cameras/{camera.id}/access", data={"purpose": "Snatching at the gate"})
    assert "without requests" in refused.text


def test_the_owner_changes_the_stream_on_the_page_and_the_check_is_due_again(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a = factory.district()
    camera, owner_user = _on_request_camera(session, factory, a)
    camera.compliance = {"checked_at": utcnow().isoformat(), "passed": True, "items": []}
    camera.approval = Approval.APPROVED
    session.commit()
    owner = login_as(owner_user)
    page = owner.get(f"/owner/cameras/{camera.id}")
    assert (
        page.status_code == 200 and 'id="owner-camera-form"' in page.text and "data-place-picker" in page.text
    )
    moved = owner.post(
        f"/owner/cameras/{camera.id}",
        data={
            "name": "Souk gate",
            "stream_url": "rtsp://203.0.113.31/live",
            "latitude": "34.0111",
            "longitude": "71.5612",
        },
    )
    assert moved.status_code == 204, moved.text
    session.expire_all()
    changed = session.get(Camera, camera.id)
    assert changed is not None and changed.compliance_due_at is not None and changed.compliance is None
    assert (changed.approval, changed.latitude, changed.longitude) == (Approval.PENDING, 34.0111, 71.5612)
    running = owner.get(f"/cameras/{camera.id}/compliance?compact=1")
    assert "HX-Refresh" not in running.headers
    assert 'hx-trigger="every 2s"' in running.text and "checking" in running.text
    # Someone else's camera is not theirs to change.
    other = login_as(factory.user("camera_owner"))
    assert other.post(f"/owner/cameras/{camera.id}", data={"name": "Mine"}).headers["HX-Retarget"] == "#flash"


def test_a_department_camera_on_request_is_decided_by_a_reviewer_of_its_district(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a, b = factory.district(), factory.district()
    camera = Camera(
        name="Hospital gate",
        district_id=a.id,
        latitude=34.0,
        longitude=71.5,
        stream_url="rtsp://203.0.113.40/live",
        owner=Owner.DEPARTMENT,
        owner_organisation="Health Department",
        sharing=Sharing.ON_REQUEST,
        tags=[],
    )
    session.add(camera)
    session.commit()
    operator = login_as(factory.user("operator", districts=[a]))
    filed = operator.post(
        f"/cameras/{camera.id}/access", data={"purpose": "Missing child seen near the gate"}
    )
    assert filed.status_code == 204, filed.text
    request = session.scalars(select(AccessRequest)).one()
    elsewhere = login_as(factory.user("camera_reviewer", districts=[b]))
    assert elsewhere.post(f"/access-requests/{request.id}", data={"decision": "grant"}).headers["HX-Retarget"]
    reviewer = login_as(factory.user("camera_reviewer", districts=[a]))
    assert "Missing child seen near the gate" in reviewer.get("/cameras/review").text
    granted = reviewer.post(
        f"/access-requests/{request.id}", data={"decision": "grant", "next": "/cameras/review"}
    )
    assert granted.status_code == 204 and granted.headers["HX-Redirect"] == "/cameras/review"
    assert operator.get(f"/api/v1/cameras/{camera.id}/snapshot.jpg").status_code == 503  # let through
