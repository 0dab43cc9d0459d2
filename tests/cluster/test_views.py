"""/api/v1/workers and /admin/workers against a real NATS JetStream, and pinning a camera through the API."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from conftest import MISSING, NATS_ENV, SHARED_NATS, START, TEST_SECRET_KEY, Factory
from safecity.cameras.models import Camera
from safecity.cluster.leases import JetStreamAssignment, buckets
from safecity.config import ClusterSettings, Settings, VideoSettings

pytestmark = [pytest.mark.anyio, SHARED_NATS]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The web on the NATS bus, with KV buckets of this test's own; it runs no cameras itself."""
    url = os.environ.get(NATS_ENV)
    if not url:
        pytest.skip(f"{MISSING}NATS JetStream: {NATS_ENV} is not set (to start it, as root: {START['nats']})")
    return Settings(
        data_dir=tmp_path,
        secret_key=SecretStr(TEST_SECRET_KEY),
        bus_url=SecretStr(url),
        video=VideoSettings(run_in_web=False),
        # Leases long enough to outlast the test's synchronous requests, which hold up the worker's renewals.
        cluster=ClusterSettings(
            lease_s=30, renew_s=1, stop_margin_s=5, kv_prefix=f"t{uuid.uuid4().hex[:12]}"
        ),
    )


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[JetStreamAssignment]:
    url = settings.bus_url.get_secret_value()
    assignment = JetStreamAssignment(url, settings.cluster, worker_id="w-near")
    await assignment.start()
    try:
        yield assignment
    finally:
        await assignment.stop()
        nc = await nats.connect(url)
        for bucket in buckets(settings.cluster):
            await nc.jetstream().delete_key_value(bucket)
        await nc.close()


def _camera(factory: Factory) -> Camera:
    camera = Camera(
        name="Pinned junction",
        district_id=factory.district().id,
        latitude=34.0,
        longitude=71.5,
        stream_url="rtsp://192.0.2.10/stream",
    )
    factory.session.add(camera)
    factory.session.flush()
    return camera


async def test_the_workers_and_their_cameras_are_listed_and_a_camera_can_be_pinned(
    worker: JetStreamAssignment,
    settings: Settings,
    factory: Factory,
    session: Session,
    login_as: Callable[..., TestClient],
) -> None:
    camera = _camera(factory)
    admin = login_as(factory.user("admin"))
    # Pinning goes through the camera API (cameras.manage); null unpins.
    pinned = admin.patch(f"/api/v1/cameras/{camera.id}", json={"pinned_worker": "w-near"})
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["pinned_worker"] == "w-near"
    assert admin.patch(f"/api/v1/cameras/{camera.id}", json={"pinned_worker": "no spaces"}).status_code == 422

    worker.set_cameras({camera.id: "w-near"})
    await worker.tick()
    await worker.tick()  # the heartbeat tells what the previous round took
    answer = admin.get("/api/v1/workers")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["mode"] == "jetstream" and body["unassigned"] == []
    [shown] = body["workers"]
    assert shown["worker_id"] == "w-near" and shown["accepting"] and shown["heartbeat_at"]
    assert [c["name"] for c in shown["cameras"]] == ["Pinned junction"]
    assert abs(shown["clock_skew_s"]) <= settings.cluster.max_clock_skew_s

    page = admin.get("/admin/workers", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "w-near" in page.text and "Pinned junction" in page.text

    # A camera nobody runs (no worker has been told of it yet) is listed as unassigned.
    other = _camera(factory)
    session.commit()
    assert [c["id"] for c in admin.get("/api/v1/workers").json()["unassigned"]] == [str(other.id)]
    # Those without cluster.read see none of it.
    assert login_as(factory.user("operator")).get("/api/v1/workers").status_code == 403
