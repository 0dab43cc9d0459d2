"""A province user opens a district camera's live video through that district's own stack: the province
checks and audits (with the purpose), the district serves it to the token it issued and audits that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    serve,
    serve_in_thread,
    wait_until,
)
from safecity.audit.models import AuditEntry
from safecity.auth import tokens
from safecity.config import CentreSettings, FederationSettings, Settings, VideoSettings
from safecity.core.crypto import SecretBox
from safecity.runtime import Services
from safecity.video.flows import VideoRuntime
from safecity.video.ingest import CameraSpec

KEY = "lahore-centre-key-" + "1" * 32
PURPOSE = "FIR 9/2026 snatching"


@pytest.fixture
def district_camera(
    factory: Factory, session: Session, services: Services, rtsp_camera: Callable[..., RtspCamera]
) -> Iterator[tuple[str, str]]:
    """A district stack (the test's own application) running one live camera: its id and its stream's URL
    for a token the district issued to the province (`video.live` only)."""
    district = factory.district("LHR")
    server = rtsp_camera()
    camera = add_camera(session, district.id, name="Mall Road 1")
    camera.stream_url = server.url
    admin = factory.user("admin", "operator", username="lhr-admin")
    _, secret = tokens.create(
        session=session, actor=factory.principal(admin), name="province centre", permissions=["video.live"]
    )
    session.commit()
    services.video = VideoRuntime(services.settings, services.session_factory, services.bus)
    supervisor = services.video.supervisor
    supervisor.start()
    supervisor.sync([CameraSpec(camera.id, server.url, camera.name, district.id)])
    try:
        wait_until(
            lambda: (s := supervisor.slot(camera.id)) is not None and s.latest() is not None,
            within=30,
            message="the RTSP camera never delivered a frame",
        )
        yield str(camera.id), secret
    finally:
        supervisor.stop()


def test_a_province_user_watches_a_district_camera_through_the_districts_stack(
    district_camera: tuple[str, str], web_app: FastAPI, session: Session, db_url: str, tmp_path: Path
) -> None:
    camera_id, token = district_camera
    with serve_in_thread(web_app, lifespan=False) as (district_base, _):
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
        with (
            serve(settings, db_url, tmp_path) as province,
            province.services.session_factory() as province_db,
        ):
            factory = Factory(province_db, SecretBox(TEST_SECRET_KEY, "mfa"))
            factory.district("LHR")
            viewer = factory.user("operator", username="province-viewer")
            with httpx.Client(base_url=province.base, timeout=15) as client:
                login(client, factory, viewer, province_db)  # type: ignore[arg-type]
                base = f"/api/v1/federation/centres/lhr/cameras/{camera_id}"
                snapshot = client.get(f"{base}/snapshot.jpg", params={"purpose": PURPOSE, "width": 320})
                assert snapshot.status_code == 200, snapshot.text
                assert snapshot.headers["content-type"] == "image/jpeg"
                assert snapshot.content[:2] == b"\xff\xd8"
                with client.stream(
                    "GET", f"{base}/live.mjpeg", params={"purpose": PURPOSE, "fps": 5}
                ) as live:
                    assert live.status_code == 200
                    assert live.headers["content-type"].startswith("multipart/x-mixed-replace")
                    received = b""
                    for chunk in live.iter_bytes():
                        received += chunk
                        if b"\xff\xd9" in received:  # the end of the first JPEG
                            break
                    assert b"\xff\xd8" in received
                # No purpose, no video; a centre the province does not know, nothing.
                assert client.get(f"{base}/snapshot.jpg").status_code == 422
                unknown = client.get(
                    f"/api/v1/federation/centres/isb/cameras/{camera_id}/snapshot.jpg",
                    params={"purpose": PURPOSE},
                )
                assert unknown.status_code == 404
            views = province_db.scalars(
                select(AuditEntry).where(AuditEntry.action == "federation.video.live")
            ).all()
            assert [(e.actor_name, e.purpose, e.detail["view"]) for e in views] == [
                ("province-viewer", PURPOSE, "snapshot.jpg"),
                ("province-viewer", PURPOSE, "live.mjpeg"),
            ]
    # The district's own log records each view by the token it issued to the province.
    served = session.scalars(select(AuditEntry).where(AuditEntry.action == "video.live")).all()
    assert [(e.object_id, e.detail["view"]) for e in served] == [
        (camera_id, "snapshot"),
        (camera_id, "mjpeg"),
    ]
    assert {e.actor_name for e in served} == {"lhr-admin"}
