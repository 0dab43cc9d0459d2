"""Live view over HTTP: snapshots and MJPEG of real footage, scope and permission checks, audit, the wall."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from conftest import PASSWORD, Factory, encode_cctv_clip, login, new_database, serve_in_thread, wait_until
from safecity.app import create_app
from safecity.audit import service as audit
from safecity.cameras.models import Camera, Owner
from safecity.config import Settings
from safecity.org.models import District
from safecity.runtime import Services, build_services
from safecity.video.flows import VideoRuntime
from safecity.video.ingest import CameraSpec, IngestSupervisor
from safecity.video.sources import file_url


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def _live_streams() -> float:
    return REGISTRY.get_sample_value("safecity_live_streams") or 0.0


def _is_real_picture(image: np.ndarray) -> bool:
    return float(np.std(image)) > 20  # real footage, not a blank or single-colour frame


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live") / "cctv.mp4"
    return encode_cctv_clip(path, width=320, height=240, fps=10, seconds=4)


@dataclass
class Scene:
    a: District
    b: District
    police_a: Camera
    shop_a: Camera  # commercial
    police_b: Camera
    silent_a: Camera  # registered but not ingested
    supervisor: IngestSupervisor


def _camera(
    session: Session,
    district: District,
    name: str,
    owner: Owner = Owner.POLICE,
    stream_url: str = "rtsp://camera.invalid/stream",
) -> Camera:
    camera = Camera(
        name=name,
        district_id=district.id,
        latitude=34.0,
        longitude=71.5,
        stream_url=stream_url,
        owner=owner,
        owner_organisation="Bazaar Traders" if owner is Owner.COMMERCIAL else "",
    )
    session.add(camera)
    session.flush()
    return camera


@pytest.fixture
def scene(factory: Factory, services: Services, clip: Path) -> Iterator[Scene]:
    a, b = factory.district(), factory.district()
    session = factory.session
    cams = [
        _camera(session, a, "A police gate"),
        _camera(session, a, "A bazaar shop", Owner.COMMERCIAL),
        _camera(session, b, "B police gate"),
        _camera(session, a, "A silent"),
    ]
    # The cameras this process runs: only the ingest is started here (not the registry refresh).
    services.video = VideoRuntime(services.settings, services.session_factory, services.bus)
    supervisor = services.video.supervisor
    supervisor.start()
    supervisor.sync([CameraSpec(c.id, file_url(clip), c.name, c.district_id) for c in cams[:3]])
    try:
        wait_until(
            lambda: all(
                (s := supervisor.slot(c.id)) is not None and s.latest() is not None for c in cams[:3]
            ),
            within=30,
            message="the demo cameras never delivered a frame",
        )
        yield Scene(a, b, *cams, supervisor)
    finally:
        supervisor.stop()


def test_snapshot_is_a_real_jpeg_and_the_view_is_audited(
    scene: Scene, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    operator = factory.user("operator", districts=[scene.a])
    client = login_as(operator)
    response = client.get(f"/api/v1/cameras/{scene.police_a.id}/snapshot.jpg")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    image = _decode(response.content)
    assert image.shape == (240, 320, 3) and _is_real_picture(image)

    small = _decode(client.get(f"/api/v1/cameras/{scene.police_a.id}/snapshot.jpg?width=160").content)
    assert small.shape == (120, 160, 3)

    auditor = factory.principal(factory.user("auditor"))
    entries = audit.search(session=session, principal=auditor, action="video.live", actor=operator.username)
    assert [(e.object_type, e.object_id, e.detail["view"]) for e in entries] == [
        ("camera", str(scene.police_a.id), "snapshot")
    ] * 2


def test_live_view_of_a_commercial_camera_is_audited(
    scene: Scene, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    operator = factory.user("operator", districts=[scene.a])
    response = login_as(operator).get(f"/api/v1/cameras/{scene.shop_a.id}/snapshot.jpg")
    assert response.status_code == 200
    auditor = factory.principal(factory.user("auditor"))
    (entry,) = audit.search(session=session, principal=auditor, action="video.live", actor=operator.username)
    assert (entry.object_type, entry.object_id, entry.outcome) == ("camera", str(scene.shop_a.id), "success")
    assert entry.district_id == scene.a.id and entry.detail["owner"] == "commercial"


def test_out_of_scope_is_not_found_and_without_video_live_is_forbidden(
    scene: Scene, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    operator = login_as(factory.user("operator", districts=[scene.a]))
    for path in ("snapshot.jpg", "live.mjpeg"):
        response = operator.get(f"/api/v1/cameras/{scene.police_b.id}/{path}")
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "camera_not_found"
        assert operator.get(f"/api/v1/cameras/{uuid.uuid4()}/{path}").status_code == 404

    investigator = factory.user("investigator", districts=[scene.a])  # cameras.read, no video.live
    client = login_as(investigator)
    for path in ("snapshot.jpg", "live.mjpeg"):
        response = client.get(f"/api/v1/cameras/{scene.police_a.id}/{path}")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    auditor = factory.principal(factory.user("auditor"))
    assert audit.search(session=session, principal=auditor, action="video.live") == []


def test_a_camera_without_a_live_frame_answers_503(
    scene: Scene, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("operator", districts=[scene.a]))
    for path in ("snapshot.jpg", "live.mjpeg"):
        response = client.get(f"/api/v1/cameras/{scene.silent_a.id}/{path}")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "no_live_frame"
        assert "A silent" in response.json()["error"]["message"]


@pytest.fixture
def server(web_app: FastAPI) -> Iterator[str]:
    """The application served by a real uvicorn on a free port (MJPEG needs a real, streaming server)."""
    with serve_in_thread(web_app, lifespan=False) as (base, _):
        yield base


def _mjpeg_parts(response: httpx.Response) -> Iterator[bytes]:
    """The JPEGs of a multipart/x-mixed-replace stream, as they arrive."""
    boundary = response.headers["content-type"].split("boundary=")[1].encode()
    buffer = b""
    for chunk in response.iter_bytes():
        buffer += chunk
        while (head_end := buffer.find(b"\r\n\r\n")) >= 0:
            assert buffer.startswith(b"--" + boundary)
            lines = buffer[:head_end].decode().split("\r\n")[1:]
            headers = dict(line.split(": ", 1) for line in lines)
            assert headers["Content-Type"] == "image/jpeg"
            end = head_end + 4 + int(headers["Content-Length"])
            if len(buffer) < end + 2:
                break
            yield buffer[head_end + 4 : end]
            buffer = buffer[end + 2 :]


def test_mjpeg_streams_real_jpegs_and_stops_when_the_client_leaves(
    scene: Scene, factory: Factory, server: str, session: Session
) -> None:
    operator = factory.user("operator", districts=[scene.a])
    with httpx.Client(base_url=server, timeout=10) as client:
        login(client, factory, operator, session)  # type: ignore[arg-type]
        before = _live_streams()
        started = time.monotonic()
        with client.stream("GET", f"/api/v1/cameras/{scene.shop_a.id}/live.mjpeg?fps=5") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
            parts = []
            for part in _mjpeg_parts(response):
                parts.append(part)
                if len(parts) == 3:
                    assert _live_streams() == before + 1
                if len(parts) == 6:
                    break
            took = time.monotonic() - started
    assert len(parts) == 6
    images = [_decode(p) for p in parts]
    assert all(i.shape == (240, 320, 3) and _is_real_picture(i) for i in images)
    assert len(set(parts)) >= 5, "the picture moves: new frames, not one frame repeated"
    assert took >= 0.8, "capped at 5 frames/s"
    wait_until(lambda: _live_streams() == before, message="the stream kept running after the client left")
    auditor = factory.principal(factory.user("auditor"))
    (entry,) = audit.search(session=session, principal=auditor, action="video.live", actor=operator.username)
    assert entry.object_id == str(scene.shop_a.id) and entry.detail["view"] == "mjpeg"


def test_status_lists_only_cameras_in_scope(
    scene: Scene, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("operator", districts=[scene.a]))

    def police_a_fps() -> float:
        (status,) = client.get("/api/v1/cameras/status", params={"camera_id": str(scene.police_a.id)}).json()
        return float(status["fps"] or 0)

    # The frame rate is measured over a few frames: wait for the measurement rather than a fixed time.
    wait_until(
        lambda: 8 <= police_a_fps() <= 12, within=30, message="the camera's 10 frames/s were not measured"
    )
    response = client.get("/api/v1/cameras/status")
    assert response.status_code == 200, response.text
    by_id = {s["camera_id"]: s for s in response.json()}
    assert set(by_id) == {str(scene.police_a.id), str(scene.shop_a.id), str(scene.silent_a.id)}
    online = by_id[str(scene.police_a.id)]
    assert online["state"] == "online"
    assert (online["width"], online["height"], online["codec"]) == (320, 240, "h264")
    assert by_id[str(scene.silent_a.id)]["state"] == "stopped"

    one = client.get(
        "/api/v1/cameras/status", params={"camera_id": [str(scene.shop_a.id), str(scene.police_b.id)]}
    )
    assert [s["camera_id"] for s in one.json()] == [str(scene.shop_a.id)]

    owner = login_as(factory.user("camera_owner"))
    assert owner.get("/api/v1/cameras/status").status_code == 403


def test_the_wall_is_saved_per_user_and_shows_live_tiles(
    scene: Scene, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("operator", districts=[scene.a]))
    # A first visit offers the cameras the operator may watch, by name, rather than empty tiles.
    first = client.get("/api/v1/wall").json()
    assert first["layout"] == 4 and first["camera_ids"][-1] is None
    watchable = {str(c) for c in first["camera_ids"] if c}
    assert str(scene.police_a.id) in watchable and str(scene.police_b.id) not in watchable

    tiles = [str(scene.police_a.id), None, str(scene.shop_a.id)]
    saved = client.put("/api/v1/wall", json={"layout": 9, "camera_ids": tiles})
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"layout": 9, "camera_ids": tiles + [None] * 6, "tours": [None] * 9}
    assert client.get("/api/v1/wall").json()["camera_ids"][:3] == tiles

    refused = client.put("/api/v1/wall", json={"layout": 4, "camera_ids": [str(scene.police_b.id)]})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "camera_not_found"
    assert client.put("/api/v1/wall", json={"layout": 5, "camera_ids": []}).status_code == 422
    too_many = client.put("/api/v1/wall", json={"layout": 1, "camera_ids": tiles})
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "too_many_tiles"

    scene.silent_a.enabled = False  # a disabled camera is not offered for the wall
    factory.session.flush()
    disabled = client.put("/api/v1/wall", json={"layout": 4, "camera_ids": [str(scene.silent_a.id)]})
    assert disabled.status_code == 422

    other = login_as(factory.user("operator", districts=[scene.a]))
    assert other.get("/api/v1/wall").json()["layout"] == 4, "each user has a wall of their own"

    page = client.get("/wall")
    assert page.status_code == 200
    assert 'data-layout="9"' in page.text
    assert f'src="/api/v1/cameras/{scene.police_a.id}/live.mjpeg?width=640"' in page.text
    assert "A bazaar shop" in page.text and "B police gate" not in page.text and "A silent" not in page.text
    assert '<script src="/static/video.js" defer></script>' in page.text

    investigator = login_as(factory.user("investigator", districts=[scene.a]))
    assert investigator.get("/wall").status_code == 403
    assert investigator.get("/api/v1/wall").status_code == 403


def test_tours_and_named_layouts_keep_to_the_cameras_one_may_watch(
    scene: Scene, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("operator", districts=[scene.a]))
    a, shop, b = str(scene.police_a.id), str(scene.shop_a.id), str(scene.police_b.id)
    tour = {"camera_ids": [a, shop], "seconds": 15}
    saved = client.put("/api/v1/wall", json={"layout": 4, "camera_ids": [a, None], "tours": [tour]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["tours"] == [tour, None, None, None]
    # A tour through another district's camera, of one camera, or too fast: refused.
    for bad in (
        {"camera_ids": [a, b], "seconds": 15},
        {"camera_ids": [a], "seconds": 15},
        {"camera_ids": [a, shop], "seconds": 1},
    ):
        refused = client.put("/api/v1/wall", json={"layout": 4, "camera_ids": [a], "tours": [bad]})
        assert refused.status_code == 422, bad

    # Named layouts: saved per user, replaced by name, listed by name, deleted only by their owner.
    night = client.post(
        "/api/v1/wall/layouts",
        json={"name": "Night shift", "layout": 9, "camera_ids": [shop], "tours": [tour]},
    )
    assert night.status_code == 201, night.text
    assert night.json()["camera_ids"] == [shop] + [None] * 8 and night.json()["tours"][0] == tour
    again = client.post("/api/v1/wall/layouts", json={"name": "Night shift", "layout": 1, "camera_ids": [a]})
    assert again.json()["id"] == night.json()["id"] and again.json()["layout"] == 1
    client.post("/api/v1/wall/layouts", json={"name": "Bazaar", "layout": 4, "camera_ids": [a, shop]})
    assert [p["name"] for p in client.get("/api/v1/wall/layouts").json()] == ["Bazaar", "Night shift"]
    outside = client.post("/api/v1/wall/layouts", json={"name": "B", "layout": 1, "camera_ids": [b]})
    assert outside.status_code == 422 and outside.json()["error"]["code"] == "camera_not_found"
    assert client.post("/api/v1/wall/layouts", json={"name": " ", "layout": 1}).status_code == 422

    other = login_as(factory.user("operator", districts=[scene.a]))
    assert other.get("/api/v1/wall/layouts").json() == []
    assert other.delete(f"/api/v1/wall/layouts/{night.json()['id']}").status_code == 404
    assert client.delete(f"/api/v1/wall/layouts/{night.json()['id']}").status_code == 204
    assert [p["name"] for p in client.get("/api/v1/wall/layouts").json()] == ["Bazaar"]

    # A camera that leaves the operator's reach leaves their tours and layouts too.
    scene.shop_a.enabled = False
    factory.session.flush()
    assert client.get("/api/v1/wall").json()["tours"][0] is None  # one camera left: no tour
    assert client.get("/api/v1/wall/layouts").json()[0]["camera_ids"][:2] == [a, None]


@pytest.mark.browser
def test_an_operator_arranges_the_wall_in_a_browser(
    db_url: str, tmp_path: Path, settings: Settings, clip: Path, chromium: Browser
) -> None:
    """In Debian's chromium: pick a layout and cameras, see live pictures and status, find them saved."""
    # A database of its own (the browser's parallel requests need real connections), and the cameras run
    # by the web process itself, from the registry, as in the embedded deployment.
    with new_database(make_url(db_url).get_backend_name(), tmp_path) as url:
        video = settings.video.model_copy(update={"run_in_web": True})
        services = build_services(
            settings.model_copy(update={"database_url": SecretStr(url), "video": video})
        )
        with services.session_factory() as session:
            factory = Factory(session, services.mfa_box)
            district = factory.district()
            operator = factory.user("operator", districts=[district])
            _camera(session, district, "Gate", stream_url=str(clip))
            shop = _camera(session, district, "Shop", Owner.COMMERCIAL, stream_url=str(clip))
            session.commit()
            # Leaving the block shuts the app down, which stops the cameras.
            with serve_in_thread(create_app(services=services)) as (base, _):
                # The page closes before the server stops: its live streams would hold the shutdown.
                with chromium.new_page() as page:
                    errors: list[str] = []
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    page.goto(f"{base}/login")
                    page.get_by_label("Username").fill(operator.username)
                    page.get_by_label("Password").fill(PASSWORD)
                    page.get_by_role("button", name="Log in").click()
                    page.get_by_label("Code").fill(factory.totp(operator.username))
                    page.get_by_role("button", name="Continue").click()
                    page.goto(f"{base}/wall")

                    page.get_by_role("button", name="1 tile", exact=True).click()
                    expect(page.locator("[data-tile='1']")).to_be_hidden()
                    page.get_by_label("Camera on tile 1", exact=True).select_option(label="Shop")
                    tile = page.locator("[data-tile='0']")
                    expect(tile.locator("[data-status]")).to_contain_text("online", timeout=10_000)
                    picture = tile.locator("img")
                    page.wait_for_function("el => el.naturalWidth === 320", arg=picture.element_handle())
                    if shots := os.environ.get("SAFECITY_SCREENSHOTS"):
                        page.screenshot(path=str(Path(shots) / "wall.png"), full_page=True)

                    page.reload()  # saved for this user
                    expect(page.get_by_role("button", name="1 tile", exact=True)).to_have_attribute(
                        "aria-pressed", "true"
                    )
                    expect(page.get_by_label("Camera on tile 1", exact=True)).to_have_value(str(shop.id))
                    page.get_by_role("button", name="4 tiles", exact=True).click()
                    page.get_by_label("Camera on tile 2", exact=True).select_option(label="Gate")
                    second = page.locator("[data-tile='1'] img")
                    page.wait_for_function("el => el.naturalWidth > 0", arg=second.element_handle())
                assert errors == []
