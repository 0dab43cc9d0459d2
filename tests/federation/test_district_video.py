"""A province user opens a district camera's live video and recordings through that district's own stack:
the province checks and audits (with the purpose), the district serves them to the token it issued to the
province and audits that in its own log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import (
    TEST_SECRET_KEY,
    Factory,
    RtspCamera,
    add_camera,
    login,
    record,
    serve,
    serve_in_thread,
    wait_until,
)
from safecity.audit.models import AuditEntry
from safecity.auth import tokens
from safecity.cameras.models import Camera
from safecity.config import CentreSettings, FederationSettings, Settings, VideoSettings
from safecity.core.crypto import SecretBox
from safecity.runtime import Services
from safecity.video.flows import VideoRuntime
from safecity.video.ingest import CameraSpec

KEY = "lahore-centre-key-" + "1" * 32
PURPOSE = "FIR 9/2026 snatching"
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def district(factory: Factory, session: Session) -> tuple[Camera, str]:
    """A district (the test's own stack) with a camera, and the token its administrator issued to the
    province: `video.live` and `video.playback`, nothing else."""
    lahore = factory.district("LHR")
    camera = add_camera(session, lahore.id, name="Mall Road 1")
    admin = factory.user("admin", "operator", username="lhr-admin")
    _, secret = tokens.create(
        session=session,
        actor=factory.principal(admin),
        name="province centre",
        permissions=["video.live", "video.playback"],
    )
    session.commit()
    return camera, secret


@contextmanager
def province_of(
    district_base: str, token: str, db_url: str, tmp_path: Path
) -> Iterator[tuple[httpx.Client, Session]]:
    """The province stack, knowing the district's web address and token; a province operator logged in."""
    centre = CentreSettings(
        key=SecretStr(KEY), district="LHR", web_url=district_base, api_token=SecretStr(token)
    )
    (tmp_path / "province").mkdir()
    settings = Settings(
        data_dir=tmp_path / "province",
        secret_key=SecretStr(TEST_SECRET_KEY),
        video=VideoSettings(run_in_web=False),
        federation=FederationSettings(centres={"lhr": centre}),
    )
    with serve(settings, db_url, tmp_path) as province, province.services.session_factory() as province_db:
        factory = Factory(province_db, SecretBox(TEST_SECRET_KEY, "mfa"))
        factory.district("LHR")
        viewer = factory.user("operator", username="province-viewer")
        with httpx.Client(base_url=province.base, timeout=15) as client:
            login(client, factory, viewer, province_db)  # type: ignore[arg-type]
            yield client, province_db


def province_views(province_db: Session, action: str) -> list[tuple[str, str | None, str]]:
    entries = province_db.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
    return [(e.actor_name, e.purpose, e.detail["view"]) for e in entries]


@pytest.fixture
def live(
    district: tuple[Camera, str], services: Services, rtsp_camera: Callable[..., RtspCamera]
) -> Iterator[None]:
    """The district's camera live (a real RTSP stream ingested by the district's stack)."""
    camera, _ = district
    server = rtsp_camera()
    services.video = VideoRuntime(services.settings, services.session_factory, services.bus)
    supervisor = services.video.supervisor
    supervisor.start()
    supervisor.sync([CameraSpec(camera.id, server.url, camera.name, camera.district_id)])
    try:
        wait_until(
            lambda: (s := supervisor.slot(camera.id)) is not None and s.latest() is not None,
            within=30,
            message="the RTSP camera never delivered a frame",
        )
        yield
    finally:
        supervisor.stop()


@pytest.mark.usefixtures("live")
def test_a_province_user_watches_a_district_camera_live_through_the_districts_stack(
    district: tuple[Camera, str], web_app: FastAPI, session: Session, db_url: str, tmp_path: Path
) -> None:
    camera, token = district
    with (
        serve_in_thread(web_app, lifespan=False) as (district_base, _),
        province_of(district_base, token, db_url, tmp_path) as (client, province_db),
    ):
        base = f"/api/v1/federation/centres/lhr/cameras/{camera.id}"
        snapshot = client.get(f"{base}/snapshot.jpg", params={"purpose": PURPOSE, "width": 320})
        assert snapshot.status_code == 200, snapshot.text
        assert snapshot.headers["content-type"] == "image/jpeg" and snapshot.content[:2] == b"\xff\xd8"
        with client.stream("GET", f"{base}/live.mjpeg", params={"purpose": PURPOSE, "fps": 5}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("multipart/x-mixed-replace")
            received = b""
            for chunk in stream.iter_bytes():
                received += chunk
                if b"\xff\xd9" in received:  # the end of the first JPEG
                    break
            assert b"\xff\xd8" in received
        # No purpose, no video; a centre the province does not know, nothing.
        assert client.get(f"{base}/snapshot.jpg").status_code == 422
        unknown = f"/api/v1/federation/centres/isb/cameras/{camera.id}/snapshot.jpg"
        assert client.get(unknown, params={"purpose": PURPOSE}).status_code == 404
        assert province_views(province_db, "federation.video.live") == [
            ("province-viewer", PURPOSE, "snapshot.jpg"),
            ("province-viewer", PURPOSE, "live.mjpeg"),
        ]
    # The district's own log records each view under the token it issued to the province.
    served = session.scalars(select(AuditEntry).where(AuditEntry.action == "video.live")).all()
    assert [(e.object_id, e.detail["view"]) for e in served] == [
        (str(camera.id), "snapshot"),
        (str(camera.id), "mjpeg"),
    ]
    assert {e.actor_name for e in served} == {"lhr-admin"}


def test_a_province_user_plays_a_district_cameras_recordings_through_the_districts_stack(
    district: tuple[Camera, str],
    web_app: FastAPI,
    services: Services,
    session: Session,
    footage: Path,
    db_url: str,
    tmp_path: Path,
) -> None:
    camera, token = district
    segments = record(session, camera, services.settings.recordings_dir, footage, T0)
    session.commit()
    with (
        serve_in_thread(web_app, lifespan=False) as (district_base, _),
        province_of(district_base, token, db_url, tmp_path) as (client, province_db),
    ):
        window = {"since": T0.isoformat(), "until": (T0 + dt.timedelta(minutes=1)).isoformat()}
        playlist = client.get(
            f"/api/v1/federation/centres/lhr/cameras/{camera.id}/playback.m3u8",
            params={**window, "purpose": PURPOSE},
        )
        assert playlist.status_code == 200, playlist.text
        assert playlist.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        uris = [line for line in playlist.text.splitlines() if line and not line.startswith("#")]
        assert uris and all(u.startswith("/api/v1/federation/centres/lhr/recordings/") for u in uris)
        # The player fetches each segment through the province, whole or by byte range.
        first = client.get(uris[0].split("#")[0])
        assert first.status_code == 200 and first.headers["x-content-sha256"] == segments[0].sha256
        part = client.get(uris[0].split("#")[0], headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.content == first.content[:100]
        assert province_views(province_db, "federation.video.playback") == [
            ("province-viewer", PURPOSE, "playback.m3u8")
        ]
    viewed = session.scalars(select(AuditEntry).where(AuditEntry.object_id == str(camera.id))).all()
    assert "lhr-admin" in {e.actor_name for e in viewed}  # the district audited its playlist for the token
