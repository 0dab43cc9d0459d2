"""Commercial cameras: owners register premises and cameras, a compliance check against a real RTSP camera,
the authority's review, and the owner's view of who watched."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from conftest import Factory, RtspCamera
from safecity.audit import service as audit
from safecity.cameras import onboarding
from safecity.cameras import service as cameras
from safecity.config import CameraSettings, Settings
from safecity.core.errors import InvalidInput
from safecity.org.models import District

OWNER_PASSWORD = "Kh4-bazaar-cam-77"
# The test cameras run on 127.0.0.1, which owners' cameras may use only where an administrator allows it.
LOOPBACK_ALLOWED = CameraSettings.model_validate({"owner_allowed_networks": ["127.0.0.0/8"]})


def _premises(client: TestClient, district: District, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Main branch",
        "organisation": "Bank of Khyber",
        "address": "Saddar Road, Peshawar Cantt",
        "contact_phone": "0300-1234567",
        "district_id": str(district.id),
        "latitude": 34.0,
        "longitude": 71.55,
    } | overrides
    response = client.post("/api/v1/premises", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0300-1234567", "+923001234567"),
        ("+92 345 765 4321", "+923457654321"),
        ("0092 (312) 0000001", "+923120000001"),
        ("3331112222", "+923331112222"),
    ],
)
def test_mobile_numbers_are_normalised(typed: str, stored: str) -> None:
    assert onboarding.normalise_phone(typed) == stored


@pytest.mark.parametrize(
    "typed", ["091-1234567", "+93 300 1234567", "0300-123456", "0300 1234567 8", "phone"]
)
def test_other_numbers_are_refused(typed: str) -> None:
    with pytest.raises(InvalidInput, match="Pakistani mobile"):
        onboarding.normalise_phone(typed)


def test_an_owner_registers_a_camera_that_passes_review_and_sees_who_watched(
    factory: Factory,
    login_as: Callable[..., TestClient],
    session: Session,
    settings: Settings,
    rtsp_camera: Callable[..., RtspCamera],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    a, b = factory.district(), factory.district()
    settings.cameras = LOOPBACK_ALLOWED
    stream = rtsp_camera(width=320, height=240, fps=10, seconds=4, user="shopcam", password=OWNER_PASSWORD)
    owner = login_as(factory.user("camera_owner"))
    premises = _premises(owner, a)
    assert premises["contact_phone"] == "+923001234567"

    registered = owner.post(
        f"/api/v1/premises/{premises['id']}/cameras",
        json={
            "name": "Entrance",
            "stream_url": stream.url,
            "username": "shopcam",
            "password": OWNER_PASSWORD,
            "sharing": "on_alarm",
            "bearing": 180,
            "field_of_view": 80,
        },
    )
    assert registered.status_code == 201, registered.text
    camera = registered.json()
    assert (camera["owner"], camera["approval"], camera["sharing"]) == ("commercial", "pending", "on_alarm")
    assert (camera["owner_organisation"], camera["district_id"]) == ("Bank of Khyber", str(a.id))
    assert (camera["latitude"], camera["longitude"]) == (34.0, 71.55)  # the premises' position

    # The check opens the real stream over RTSP/TCP with the sealed credentials.
    report = owner.post(f"/api/v1/cameras/{camera['id']}/compliance")
    assert report.status_code == 200, report.text
    items = {i["key"]: i for i in report.json()["items"]}
    assert items["reachable"]["status"] == "passed"
    assert items["resolution"] == {
        "key": "resolution",
        "title": "Resolution",
        "status": "failed",
        "reason": "320x240 is below the minimum of 1280x720.",
    }
    assert (
        items["frame_rate"]["status"] == "passed"
        and "10.0 frames per second" in items["frame_rate"]["reason"]
    )
    assert items["clock"]["status"] == "passed", items["clock"]  # GStreamer sends a Date header
    assert items["password"]["status"] == "passed"
    assert report.json()["passed"] is False

    settings.compliance.min_width, settings.compliance.min_height = 320, 240
    report = owner.post(f"/api/v1/cameras/{camera['id']}/compliance")
    assert report.json()["passed"] is True, report.text

    # The authority of district A sees it waiting, and approves it; district B's does not see it.
    assert "Entrance" not in login_as(factory.user("admin", districts=[b])).get("/cameras/review").text
    authority = login_as(factory.user("admin", districts=[a]))
    queue = authority.get("/cameras/review")
    assert "Entrance" in queue.text and "Bank of Khyber" in queue.text and "passed" in queue.text
    approved = authority.post(
        f"/api/v1/cameras/{camera['id']}/review", json={"decision": "approve", "reason": "Meets the standard"}
    )
    assert approved.status_code == 200, approved.text
    assert "Entrance" not in authority.get("/cameras/review").text
    assert camera["id"] in {str(c.id) for c in cameras.active_cameras(session=session)}

    # The owner sees the status, the reason and the report.
    mine = owner.get(f"/api/v1/premises/{premises['id']}/cameras").json()
    assert [(c["approval"], c["review_reason"], c["compliance"]["passed"]) for c in mine] == [
        ("approved", "Meets the standard", True)
    ]
    owner_page = owner.get("/owner")
    assert owner_page.status_code == 200 and "Meets the standard" in owner_page.text

    # Operators watch the camera (the live and export code records this); the owner sees who and when.
    operator = factory.user("operator", districts=[a])
    investigator = factory.user("investigator", districts=[a])
    for who, action in ((operator, "video.live"), (operator, "video.live"), (investigator, "video.export")):
        audit.record(
            session=session,
            action=action,
            outcome="success",
            actor=factory.principal(who),
            object_type="camera",
            object_id=camera["id"],
            district_id=a.id,
            purpose="robbery inquiry FIR 112/26",
        )
    audit.record(session=session, action="video.live", outcome="success", object_type="camera", object_id="x")
    viewers = owner.get(f"/api/v1/cameras/{camera['id']}/viewers")
    assert viewers.status_code == 200, viewers.text
    assert [(v["viewer"], v["action"]) for v in viewers.json()] == [
        (investigator.username, "video.export"),
        (operator.username, "video.live"),
        (operator.username, "video.live"),
    ]
    detail = owner.get(f"/owner/cameras/{camera['id']}")
    assert detail.status_code == 200
    assert operator.username in detail.text and "robbery inquiry" in detail.text
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    assert 'data-testid="views-chart"' in detail.text and f"{today.isoformat()}: 3" in detail.text
    assert authority.get(f"/api/v1/cameras/{camera['id']}/viewers").status_code == 200

    # Another owner sees none of it.
    other = login_as(factory.user("camera_owner"))
    assert other.get("/api/v1/premises").json() == []
    assert other.get(f"/api/v1/cameras/{camera['id']}/viewers").status_code == 403
    assert other.get(f"/api/v1/cameras/{camera['id']}").status_code == 403
    assert other.post(f"/api/v1/cameras/{camera['id']}/compliance").status_code == 403
    assert other.get(f"/api/v1/premises/{premises['id']}/cameras").status_code == 404
    steal = other.post(
        f"/api/v1/premises/{premises['id']}/cameras",
        json={"name": "Mine now", "stream_url": "rtsp://10.0.0.1/x"},
    )
    assert steal.status_code == 404

    # The password never left the server, nor reached a log line.
    for response in (registered, report, approved, viewers, owner_page, detail, queue):
        assert OWNER_PASSWORD not in response.text
    assert OWNER_PASSWORD not in caplog.text


def test_a_wrong_password_or_a_dead_stream_fails_the_check_with_reasons(
    factory: Factory,
    login_as: Callable[..., TestClient],
    rtsp_camera: Callable[..., RtspCamera],
    settings: Settings,
) -> None:
    a = factory.district()
    settings.video.open_timeout_s = 3
    settings.cameras = LOOPBACK_ALLOWED
    stream = rtsp_camera(width=320, height=240, fps=10, seconds=2, user="shopcam", password="Right-pass-91")
    owner = login_as(factory.user("camera_owner"))
    premises = _premises(owner, a)
    camera = owner.post(
        f"/api/v1/premises/{premises['id']}/cameras",
        json={"name": "Till", "stream_url": stream.url, "username": "shopcam", "password": "Wrong-pass-19"},
    ).json()
    report = owner.post(f"/api/v1/cameras/{camera['id']}/compliance").json()
    items = {i["key"]: i for i in report["items"]}
    assert items["reachable"]["status"] == "failed"
    assert items["reachable"]["reason"] == onboarding.CREDENTIALS_REFUSED
    assert items["resolution"]["status"] == items["frame_rate"]["status"] == "not_measurable"
    assert "Wrong-pass-19" not in str(report)

    stream.stop()  # the camera goes away: the check says so plainly
    report = owner.post(f"/api/v1/cameras/{camera['id']}/compliance").json()
    items = {i["key"]: i for i in report["items"]}
    assert (
        items["reachable"]["reason"] == onboarding.UNREACHABLE
        and items["clock"]["status"] == "not_measurable"
    )

    no_password = owner.post(
        f"/api/v1/premises/{premises['id']}/cameras", json={"name": "Open", "stream_url": stream.url}
    ).json()
    stream.start()
    report = owner.post(f"/api/v1/cameras/{no_password['id']}/compliance").json()
    items = {i["key"]: i for i in report["items"]}
    assert items["password"]["status"] == "failed" and "No password" in items["password"]["reason"]


def test_the_clock_item_judges_skew_both_ways() -> None:
    now = dt.datetime(2026, 11, 22, 10, 0, 0, 300000, tzinfo=dt.UTC)
    in_step = onboarding.clock_item(now.replace(microsecond=0), now, 5)
    assert in_step.status == "passed" and "0.2 s ahead" in in_step.reason
    late = onboarding.clock_item((now - dt.timedelta(minutes=3)).replace(microsecond=0), now, 5)
    assert late.status == "failed" and "179.8 s behind" in late.reason and "NTP" in late.reason
    assert onboarding.clock_item(None, now, 5).status == "not_measurable"


def test_review_rules(factory: Factory, login_as: Callable[..., TestClient], session: Session) -> None:
    a = factory.district()
    owner = login_as(factory.user("camera_owner"))
    premises = _premises(owner, a)
    camera = owner.post(
        f"/api/v1/premises/{premises['id']}/cameras",
        json={
            "name": "Back door",
            "stream_url": "rtsp://203.0.113.20/none",
            "username": "u",
            "password": "Pw-1-long",
        },
    ).json()
    authority = login_as(factory.user("admin", districts=[a]))
    review = f"/api/v1/cameras/{camera['id']}/review"

    assert owner.post(review, json={"decision": "approve"}).status_code == 403  # not their own judge
    no_reason = authority.post(review, json={"decision": "reject"})
    assert (no_reason.status_code, no_reason.json()["error"]["code"]) == (422, "reason_required")
    unchecked = authority.post(review, json={"decision": "approve"})
    assert (unchecked.status_code, unchecked.json()["error"]["code"]) == (422, "override_reason_required")
    from_page = authority.post(f"/cameras/{camera['id']}/review", data={"decision": "reject", "reason": ""})
    assert "reason" in from_page.text and from_page.headers["HX-Retarget"] == "#flash"
    rejected = authority.post(review, json={"decision": "reject", "reason": "Faces the neighbour's house"})
    assert rejected.status_code == 200 and rejected.json()["approval"] == "rejected"
    assert (
        owner.get(f"/api/v1/cameras/{camera['id']}").json()["review_reason"] == "Faces the neighbour's house"
    )
    entries = audit.search(
        session=session, principal=factory.principal(factory.user("auditor")), action="camera.review"
    )
    assert entries[0].detail == {
        "decision": "reject",
        "reason": "Faces the neighbour's house",
        "compliance": "running",  # registered just now: its check is due (the web process runs it)
    }

    police = authority.post(
        "/api/v1/cameras",
        json={
            "name": "Chowk",
            "district_id": str(a.id),
            "latitude": 34,
            "longitude": 71.5,
            "stream_url": "rtsp://10.0.0.3/x",
        },
    ).json()
    assert (
        authority.post(f"/api/v1/cameras/{police['id']}/review", json={"decision": "approve"}).status_code
        == 409
    )


def test_owners_give_network_addresses_only_and_default_passwords_are_refused(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    a = factory.district()
    owner = login_as(factory.user("camera_owner"))
    premises = _premises(owner, a)
    url = f"/api/v1/premises/{premises['id']}/cameras"
    file_path = owner.post(url, json={"name": "Disk", "stream_url": "/etc/passwd"})
    assert file_path.status_code == 422 and "network address" in file_path.json()["error"]["message"]
    default = owner.post(url, json={"name": "Lobby", "stream_url": "rtsp://admin:admin@203.0.113.5/ch1"})
    assert default.json()["error"]["code"] == "default_password"
    bad_phone = owner.post("/api/v1/premises", json=_premises_body(a, contact_phone="12345"))
    assert bad_phone.status_code == 422
    unknown = owner.post("/api/v1/premises", json=_premises_body(a, district_id=str(uuid.uuid4())))
    assert unknown.status_code == 404
    assert login_as(factory.user("operator")).get("/api/v1/premises").status_code == 403


def _premises_body(district: District, **overrides: str) -> dict[str, Any]:
    return {
        "name": "Kiosk",
        "organisation": "Shah Traders",
        "contact_phone": "03001234567",
        "district_id": str(district.id),
        "latitude": 34.0,
        "longitude": 71.5,
    } | overrides


def test_owner_pages_register_premises_and_cameras(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a = factory.district()
    owner = login_as(factory.user("camera_owner"))
    assert "Register premises" in owner.get("/owner").text
    created = owner.post("/owner/premises", data={k: str(v) for k, v in _premises_body(a).items()})
    assert created.status_code == 204, created.text
    premises = owner.get("/api/v1/premises").json()[0]
    added = owner.post(
        f"/owner/premises/{premises['id']}/cameras",
        data={
            "name": "Counter",
            "stream_url": "rtsp://203.0.113.9/live",
            "username": "shah",
            "password": "S3cure-pw-x",
            "sharing": "continuous",
        },
    )
    assert added.status_code == 204, added.text
    page = owner.get("/owner").text
    assert "Counter" in page and "pending" in page and "S3cure-pw-x" not in page
    refused = owner.post(
        f"/owner/premises/{premises['id']}/cameras",
        data={"name": "Lobby", "stream_url": "rtsp://admin:12345@203.0.113.9/1"},
    )
    assert "factory-default" in refused.text
