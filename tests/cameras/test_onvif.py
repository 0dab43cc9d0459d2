"""ONVIF discovery, inspection and default-password refusal, against a fake camera on the loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from fake_onvif import FakeOnvifCamera
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.audit.models import AuditEntry
from safecity.cameras.onvif import service as onvif
from safecity.cameras.passwords import KNOWN_DEFAULTS, is_default_password
from safecity.core.errors import InvalidInput

if TYPE_CHECKING:
    # Type-only: tests/cameras has a conftest of its own, which `import conftest` would find first.
    from conftest import Factory

STRONG = "S3cure-Pa55"
LOCAL = "127.0.0.1"


def closed_port() -> int:
    """A TCP port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def camera() -> Iterator[FakeOnvifCamera]:
    with FakeOnvifCamera(password=STRONG) as cam:
        yield cam


@pytest.fixture
def weak_camera() -> Iterator[FakeOnvifCamera]:
    # Its clock runs two minutes fast and it refuses tokens more than 30 s off: a client that did not
    # correct for the skew would see every default refused and wrongly call the camera safe.
    with FakeOnvifCamera(password="admin", clock_offset=120) as cam:
        yield cam


# -- default passwords


def test_the_published_defaults_are_known() -> None:
    vendors = {c.vendor for c in KNOWN_DEFAULTS}
    assert {"hikvision", "dahua", "axis", "uniview", "hanwha", "bosch", "vivotek", "panasonic"} <= vendors
    assert {"sony", "honeywell", "cpplus", "generic"} <= vendors
    for username, password in [
        ("admin", "12345"),
        ("888888", "888888"),
        ("666666", "666666"),
        ("root", "pass"),
        ("admin", "4321"),
        ("service", "service"),
        ("root", ""),
        ("admin", ""),
        ("guest", "guest"),
        ("", ""),
    ]:
        assert is_default_password(username, password), (username, password)


def test_username_is_case_insensitive_and_password_exact() -> None:
    assert is_default_password("ADMIN", "12345")
    assert is_default_password("Root", "pass")
    assert is_default_password(None, None)
    assert not is_default_password("admin", "Admin")
    assert not is_default_password("admin", "12345 ")
    assert not is_default_password("admin", STRONG)
    assert not is_default_password("operator7", "")


# -- inspect


def test_inspect_reads_identity_profiles_stream_uris_and_clock_skew() -> None:
    with FakeOnvifCamera(password=STRONG, clock_offset=120) as cam:
        info = asyncio.run(onvif.inspect(LOCAL, cam.port, "admin", STRONG, timeout=10))
        assert cam.plaintext_passwords_seen == 0  # only PasswordDigest went over the wire

    assert (info.manufacturer, info.model) == ("Hikvision", "DS-2CD2143G2-I")
    assert info.firmware == "V5.7.3 build 220112"
    assert info.serial == cam.serial
    assert info.clock_skew_seconds is not None
    assert info.clock_skew_seconds == pytest.approx(120, abs=2)
    main, sub = info.profiles
    assert (main.name, main.encoding, main.width, main.height, main.fps) == (
        "mainStream",
        "H264",
        1920,
        1080,
        25,
    )
    assert (sub.name, sub.width, sub.height, sub.fps) == ("subStream", 640, 360, 15)
    # The camera put the user name into the URI; what we keep has no credentials.
    assert main.stream_uri == "rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast"
    assert sub.stream_uri == "rtsp://127.0.0.1:554/Streaming/Channels/102?transportmode=unicast"


def test_inspect_with_a_wrong_password_says_so(camera: FakeOnvifCamera) -> None:
    with pytest.raises(onvif.AuthenticationFailed) as refused:
        asyncio.run(onvif.inspect(LOCAL, camera.port, "admin", "not-it", timeout=10))
    assert refused.value.code == "onvif_auth_failed"


def test_inspect_of_a_closed_port_fails_fast() -> None:
    # Refused at once, not after the 120 s timeout: the bound (far below it) fails a test that waits.
    with pytest.raises(onvif.DeviceUnreachable) as unreachable:
        asyncio.run(asyncio.wait_for(onvif.inspect(LOCAL, closed_port(), "admin", STRONG, timeout=120), 30))
    assert unreachable.value.code == "onvif_unreachable"


def test_credentials_are_stripped_from_stream_uris() -> None:
    assert onvif.strip_credentials("rtsp://admin:pw@10.0.0.5:554/live?channel=1") == (
        "rtsp://10.0.0.5:554/live?channel=1"
    )
    assert onvif.strip_credentials("rtsp://10.0.0.5/live?user=admin&password=pw&channel=1") == (
        "rtsp://10.0.0.5/live?channel=1"
    )
    assert onvif.strip_credentials("rtsp://10.0.0.5/live?k=S3cret&ch=2", secret="S3cret") == (
        "rtsp://10.0.0.5/live?ch=2"
    )


# -- discover


def test_discover_finds_the_camera_by_probe_and_by_device_service(camera: FakeOnvifCamera) -> None:
    found = asyncio.run(
        asyncio.wait_for(  # a bound far above its own 2 s timeout, not a measurement
            onvif.discover(
                "127.0.0.1/32",
                ports=(camera.port, closed_port()),
                timeout=2,
                discovery_port=camera.discovery_port,
            ),
            30,
        )
    )

    (device,) = found
    assert device.host == LOCAL
    assert device.port == camera.port
    assert set(device.methods) == {"ws-discovery", "device_service"}
    assert device.xaddrs == (camera.device_url,)
    assert device.scope("name") == "Hikvision"
    assert device.scope("hardware") == "DS-2CD2143G2-I"


def test_discover_never_hangs_on_hosts_that_stay_silent() -> None:
    # A TCP port that accepts connections but never answers, and a UDP port that swallows probes.
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind((LOCAL, 0))
        tcp.listen(8)
        udp.bind((LOCAL, 0))
        found = asyncio.run(
            asyncio.wait_for(  # silent hosts must not hold it past its own timeout: fails if it hangs
                onvif.discover(
                    "127.0.0.1/32",
                    ports=(tcp.getsockname()[1], closed_port()),
                    timeout=0.5,
                    discovery_port=udp.getsockname()[1],
                ),
                30,
            )
        )
    assert found == []


def test_discover_refuses_a_network_larger_than_a_22() -> None:
    with pytest.raises(InvalidInput) as too_large:
        asyncio.run(onvif.discover("10.0.0.0/21"))
    assert too_large.value.code == "network_too_large"
    assert "/22" in too_large.value.message
    with pytest.raises(InvalidInput) as bad:
        onvif.scan_network("10.0.0.0/33")
    assert bad.value.code == "bad_network"
    assert onvif.scan_network("10.20.30.0/22").num_addresses == 1024


# -- default credentials


def test_check_default_credentials_finds_admin_admin_on_a_weak_camera(weak_camera: FakeOnvifCamera) -> None:
    accepted = asyncio.run(onvif.check_default_credentials(LOCAL, weak_camera.port, timeout=5))
    assert accepted == [("admin", "admin")]
    assert weak_camera.plaintext_passwords_seen == 0


def test_check_default_credentials_finds_nothing_on_a_strong_camera(camera: FakeOnvifCamera) -> None:
    assert asyncio.run(onvif.check_default_credentials(LOCAL, camera.port, timeout=5)) == []


def test_a_known_vendor_gets_only_its_own_and_the_generic_defaults_tried() -> None:
    with FakeOnvifCamera(username="888888", password="888888", manufacturer="Dahua") as cam:
        accepted = asyncio.run(
            onvif.check_default_credentials(LOCAL, cam.port, timeout=5, manufacturer="Dahua Technology")
        )
        attempts = [c for c in cam.calls if c[0] == "GetDeviceInformation"]
    assert accepted == [("888888", "888888")]
    dahua_and_generic = {(c.username, c.password) for c in KNOWN_DEFAULTS if c.vendor in ("dahua", "generic")}
    assert len(attempts) == 1 + len(dahua_and_generic)  # one random login first, to spot "no auth at all"


def test_the_weak_camera_is_caught_and_the_strong_one_passes(
    weak_camera: FakeOnvifCamera, camera: FakeOnvifCamera
) -> None:
    assert asyncio.run(onvif.check_default_credentials(LOCAL, weak_camera.port)) == [("admin", "admin")]
    assert asyncio.run(onvif.check_default_credentials(LOCAL, camera.port)) == []


def test_a_camera_without_authentication_is_caught() -> None:
    with FakeOnvifCamera(password=STRONG, enforce_auth=False) as cam:
        assert ("admin", "12345") in asyncio.run(onvif.check_default_credentials(LOCAL, cam.port))


def test_an_unreachable_camera_does_not_pass_silently() -> None:
    with pytest.raises(onvif.DeviceUnreachable):
        asyncio.run(onvif.check_default_credentials(LOCAL, closed_port(), timeout=1))


# -- the API


def test_an_admin_discovers_cameras_with_their_streams_and_weak_passwords(
    factory: Factory,
    session: Session,
    login_as: Callable[..., TestClient],
    camera: FakeOnvifCamera,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = login_as(factory.user("admin"))
    caplog.set_level(logging.DEBUG)
    response = client.post(
        "/api/v1/cameras/discover",
        json={"network": "127.0.0.1/32", "ports": [camera.port], "username": "admin", "password": STRONG},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["network"] == "127.0.0.1/32"
    (device,) = body["devices"]
    assert device["host"] == LOCAL and device["port"] == camera.port
    assert device["manufacturer"] == "Hikvision"
    assert device["accepts_default_password"] is False
    assert device["error"] is None
    assert [(p["name"], p["width"], p["height"]) for p in device["profiles"]] == [
        ("mainStream", 1920, 1080),
        ("subStream", 640, 360),
    ]
    assert (
        device["profiles"][0]["stream_uri"]
        == "rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast"
    )
    # The password went to the camera (as a digest) and nowhere else: not the answer, not the logs.
    assert STRONG not in response.text
    assert STRONG not in caplog.text
    assert caplog.records  # the scan did log, so the check above looked at something

    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "cameras.discover")).one()
    assert entry.outcome == "success" and entry.object_id == "127.0.0.1/32"
    assert entry.detail["found_hosts"] == [LOCAL]
    assert STRONG not in str(entry.detail)


def test_discovery_flags_a_camera_with_a_default_password(
    factory: Factory, login_as: Callable[..., TestClient], weak_camera: FakeOnvifCamera
) -> None:
    client = login_as(factory.user("admin"))
    response = client.post("/api/v1/cameras/discover", json={"network": LOCAL, "ports": [weak_camera.port]})
    assert response.status_code == 200, response.text
    (device,) = response.json()["devices"]
    assert device["accepts_default_password"] is True
    assert device["profiles"] == []  # no credentials given: nothing read beyond what answers anyone


def test_discovery_needs_cameras_manage(
    factory: Factory, login_as: Callable[..., TestClient], camera: FakeOnvifCamera
) -> None:
    client = login_as(factory.user("operator"))
    response = client.post("/api/v1/cameras/discover", json={"network": LOCAL, "ports": [camera.port]})
    assert response.status_code == 403
    assert camera.calls == []  # refused before any packet went out


def test_discovery_refuses_bad_input(factory: Factory, login_as: Callable[..., TestClient]) -> None:
    client = login_as(factory.user("admin"))
    too_large = client.post("/api/v1/cameras/discover", json={"network": "10.0.0.0/16"})
    assert too_large.status_code == 422
    assert too_large.json()["error"]["code"] == "network_too_large"
    unknown = client.post("/api/v1/cameras/discover", json={"network": LOCAL, "subnet": "x"})
    assert unknown.status_code == 422
    bad_port = client.post("/api/v1/cameras/discover", json={"network": LOCAL, "ports": [70000]})
    assert bad_port.status_code == 422
