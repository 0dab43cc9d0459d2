"""Where a camera's stream may point: one check for every way a stream URL is set, owners' cameras kept off
the server and its internal network, owners' changes sent back to review, and compliance reasons that say
what an owner can do rather than what the server sees. Nothing here connects beyond 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit import service as audit
from safecity.cameras import onboarding
from safecity.cameras import service as cameras
from safecity.cameras.models import Camera
from safecity.config import CameraSettings, Settings
from safecity.org.models import District

PUBLIC_URL = "rtsp://203.0.113.10/stream"  # TEST-NET-3: public-looking, and never connected to here
LOOPBACK = CameraSettings.model_validate({"owner_allowed_networks": ["127.0.0.0/8"]})


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _premises(owner: TestClient, district: District) -> str:
    body = {
        "name": "Shop",
        "organisation": "Shah Traders",
        "contact_phone": "03001234567",
        "district_id": str(district.id),
        "latitude": 34.0,
        "longitude": 71.5,
    }
    response = owner.post("/api/v1/premises", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@dataclass
class Approved:
    """An owner's camera the authority has approved, and the people around it."""

    owner: TestClient
    authority: TestClient
    camera: dict[str, Any]
    port: int


def _approved_camera(
    factory: Factory, login_as: Callable[..., TestClient], settings: Settings, session: Session
) -> Approved:
    """Registered on 127.0.0.1 (an allowed range, as a VPN would be), checked, approved; the range then
    withdrawn, so the owner's camera is held to public addresses again."""
    a = factory.district()
    owner = login_as(factory.user("camera_owner"))
    authority = login_as(factory.user("admin", districts=[a]))
    premises = _premises(owner, a)
    settings.cameras = LOOPBACK
    port = _closed_port()
    camera = owner.post(
        f"/api/v1/premises/{premises}/cameras",
        json={
            "name": "Door",
            "stream_url": f"rtsp://127.0.0.1:{port}/live",
            "username": "shah",
            "password": "S3cure-pw-x",
        },
    ).json()
    assert authority.post(f"/api/v1/cameras/{camera['id']}/compliance").status_code == 200
    approved = authority.post(
        f"/api/v1/cameras/{camera['id']}/review",
        json={"decision": "approve", "reason": "Reached over the owners' VPN, not from the test"},
    )
    assert approved.status_code == 200 and approved.json()["approval"] == "approved", approved.text
    assert camera["id"] in {str(c.id) for c in cameras.active_cameras(session=session)}
    settings.cameras = CameraSettings()
    return Approved(owner, authority, approved.json(), port)


@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",
        "{recordings}/{camera}/segment.mp4",  # another camera's recording
        "file:///etc/passwd",
        "rtsp://127.0.0.1:554/x",
        "http://127.0.0.1:{port}/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "rtsp://10.20.0.5/Streaming/Channels/101",
        "http://0x7f.1/",  # 127.0.0.1, spelt so only name resolution sees it
        "rtsp://localhost:8554/cam",  # a host name that resolves to 127.0.0.1
    ],
)
def test_an_owner_cannot_point_their_camera_at_the_server_or_its_network(
    target: str,
    factory: Factory,
    login_as: Callable[..., TestClient],
    settings: Settings,
    session: Session,
) -> None:
    scene = _approved_camera(factory, login_as, settings, session)
    url = target.format(recordings=settings.recordings_dir, camera=uuid.uuid4(), port=scene.port)
    camera_url = f"/api/v1/cameras/{scene.camera['id']}"

    for change in ({"stream_url": url}, {"stream_url": PUBLIC_URL, "substream_url": url}):
        refused = scene.owner.patch(camera_url, json=change)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "stream_url_not_allowed", error
        assert "127.0.0.1" not in error["message"] and "resolves" not in error["message"]

    after = scene.owner.get(camera_url).json()
    assert (after["stream_url"], after["substream_url"], after["approval"]) == (
        scene.camera["stream_url"],
        None,
        "approved",
    )
    # The authority cannot set it on an owner's camera either: the rule belongs to the camera.
    assert scene.authority.patch(camera_url, json={"stream_url": url}).status_code == 422


def test_a_new_stream_sends_an_owners_camera_back_to_review(
    factory: Factory, login_as: Callable[..., TestClient], settings: Settings, session: Session
) -> None:
    scene = _approved_camera(factory, login_as, settings, session)
    camera_url = f"/api/v1/cameras/{scene.camera['id']}"

    renamed = scene.owner.patch(camera_url, json={"name": "Front door", "bearing": 90})
    assert renamed.status_code == 200 and renamed.json()["approval"] == "approved", renamed.text

    moved = scene.owner.patch(camera_url, json={"stream_url": PUBLIC_URL})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["stream_url"], body["approval"], body["compliance"], body["reviewed_at"]) == (
        PUBLIC_URL,
        "pending",
        None,
        None,
    )
    assert scene.camera["id"] not in {str(c.id) for c in cameras.active_cameras(session=session)}
    assert "Front door" in scene.authority.get("/cameras/review").text
    # The new stream is checked again by itself; approving before that needs a written reason.
    again = scene.authority.post(f"{camera_url}/review", json={"decision": "approve"})
    assert (again.status_code, again.json()["error"]["code"]) == (422, "override_reason_required")
    update = audit.search(
        session=session, principal=factory.principal(factory.user("auditor")), action="camera.update"
    )[0]
    assert update.detail == {"changed": ["stream_url"], "review": "reopened", "compliance": "due"}


@pytest.mark.parametrize(
    "change",
    ids=lambda change: "+".join(change),
    argvalues=[
        {"owner": "police"},
        {"sharing": "continuous"},
        {"owner_organisation": "Kp Police"},
        {"enabled": True, "recording": True},
        {"retention_days": 3650},
        {"tags": ["vip"]},
    ],
)
def test_an_owner_cannot_relabel_or_reshare_their_camera(
    change: dict[str, Any],
    factory: Factory,
    login_as: Callable[..., TestClient],
    settings: Settings,
    session: Session,
) -> None:
    scene = _approved_camera(factory, login_as, settings, session)
    camera_url = f"/api/v1/cameras/{scene.camera['id']}"
    refused = scene.owner.patch(camera_url, json=change | {"name": "Mine"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "owner_field_not_editable"
    assert all(name in refused.json()["error"]["message"] for name in change)
    approval = scene.owner.patch(camera_url, json={"approval": "approved", "review_reason": "fine"})
    assert approval.status_code == 422  # no field of a change at all

    # The registry's edit form sends every field: refused for an owner as a whole.
    camera = scene.camera
    form = {k: str(camera[k]) for k in ("district_id", "latitude", "longitude")}
    posted = scene.owner.post(
        f"/cameras/{camera['id']}", data=form | {"name": "Mine", "stream_url": PUBLIC_URL}
    )
    assert "a camera owner cannot change" in posted.text and "sharing" in posted.text

    keys = ("name", "stream_url", "owner", "owner_organisation", "sharing", "approval", "enabled", "tags")
    after = scene.owner.get(camera_url).json()
    assert {k: after[k] for k in keys} == {k: camera[k] for k in keys}


def test_an_allowed_range_lets_owner_cameras_use_private_addresses(
    factory: Factory, login_as: Callable[..., TestClient], settings: Settings
) -> None:
    a = factory.district()
    owner = login_as(factory.user("camera_owner"))
    premises = _premises(owner, a)
    register = f"/api/v1/premises/{premises}/cameras"
    local = {"name": "Yard", "stream_url": "rtsp://127.0.0.1:8554/yard"}

    refused = owner.post(register, json=local)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "stream_url_not_allowed")
    page = owner.post(f"/owner/premises/{premises}/cameras", data=local)
    assert "public IP address" in page.text and page.headers["HX-Retarget"] == "#flash"

    settings.cameras = CameraSettings.model_validate({"owner_allowed_networks": ["127.0.0.0/30"]})
    assert owner.post(register, json=local).status_code == 201
    outside = owner.post(register, json={"name": "Gate", "stream_url": "rtsp://127.0.0.9/gate"})
    assert outside.json()["error"]["code"] == "stream_url_not_allowed"
    assert owner.post(register, json={"name": "Till", "stream_url": PUBLIC_URL}).status_code == 201


def test_creation_and_import_go_through_the_same_check(
    factory: Factory, login_as: Callable[..., TestClient], settings: Settings
) -> None:
    a = factory.district()
    body = {"name": "Chowk", "district_id": str(a.id), "latitude": 34.0, "longitude": 71.5}
    district_admin = login_as(factory.user("admin", districts=[a]))
    province_admin = login_as(factory.user("admin"))

    # Police cameras live on the police network: private addresses are theirs to use.
    police = district_admin.post("/api/v1/cameras", json=body | {"stream_url": "rtsp://10.20.0.5/ch1"})
    assert police.status_code == 201, police.text
    # A file path reaches every district's files: a province-wide administrator's, in the demo only.
    refused = district_admin.post(
        "/api/v1/cameras", json=body | {"name": "Disk", "stream_url": "/etc/passwd"}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "stream_url_not_allowed")
    page = district_admin.post("/cameras/new", data=body | {"name": "Disk", "stream_url": "/etc/passwd"})
    assert "file paths are demo footage" in page.text
    header = ",".join(cameras.CSV_HEADER)
    csv_text = f"{header}\nDisk,{a.code},,34.0,71.5,,,/etc/passwd,,police,,continuous,,30\n"
    report = district_admin.post("/api/v1/cameras/import", params={"dry_run": "true"}, json={"csv": csv_text})
    assert [(p["row"], p["field"]) for p in report.json()["problems"]] == [(2, "stream_url")]
    assert "file paths are demo footage" in report.json()["problems"][0]["problem"]

    demo = body | {"name": "Demo", "stream_url": "/srv/demo/junction.mp4"}
    assert province_admin.post("/api/v1/cameras", json=demo).status_code == 201
    settings.mode = "production"
    in_production = province_admin.post("/api/v1/cameras", json=demo | {"name": "Demo 2"})
    assert in_production.json()["error"]["code"] == "stream_url_not_allowed"
    camera = police.json()["id"]
    patched = province_admin.patch(f"/api/v1/cameras/{camera}", json={"stream_url": "/etc/passwd"})
    assert patched.json()["error"]["code"] == "stream_url_not_allowed"


def test_compliance_reasons_say_what_the_owner_can_do_not_what_the_server_sees(
    factory: Factory,
    login_as: Callable[..., TestClient],
    settings: Settings,
    session: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="safecity.cameras")
    scene = _approved_camera(factory, login_as, settings, session)
    camera_url = f"/api/v1/cameras/{scene.camera['id']}"

    # The range was withdrawn: the check looks at the address again and opens nothing.
    refused = scene.owner.post(f"{camera_url}/compliance")
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "stream_url_not_allowed")

    settings.cameras = LOOPBACK
    report = scene.owner.post(f"{camera_url}/compliance")
    assert report.status_code == 200, report.text
    reachable = next(i for i in report.json()["items"] if i["key"] == "reachable")
    assert reachable["status"] == "failed" and reachable["reason"] == onboarding.UNREACHABLE
    reasons = " ".join(i["reason"] for i in report.json()["items"])
    for leak in ("Connection refused", "No such file", "errno", "111", str(scene.port), "127.0.0.1"):
        assert leak not in reasons, leak
    # The server's own detail is in its log, without the credentials.
    assert "ConnectionRefusedError" in caplog.text and "S3cure-pw-x" not in caplog.text

    # A stored file path (from before this check existed) is refused the same way, not opened.
    camera = session.get(Camera, uuid.UUID(scene.camera["id"]))
    assert camera is not None
    camera.stream_url = "/etc/passwd"
    session.commit()
    stored = scene.owner.post(f"{camera_url}/compliance")
    assert (stored.status_code, stored.json()["error"]["code"]) == (422, "stream_url_not_allowed")
    assert "No such file" not in stored.text
