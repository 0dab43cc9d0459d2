"""Video synopsis over HTTP: asked for through the API and the page, rendered in the background on a
database of its own (the renderer's thread writes progress while requests read it), then served.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from synopsis_data import SECONDS, SEGMENT_S, T0, WIDTH, encode, store_tracks

from conftest import TEST_SECRET_KEY, Factory, add_camera, login, record, wait_until
from safecity.app import create_app
from safecity.audit.models import AuditEntry
from safecity.auth.models import User
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.forensics.synopsis import service
from safecity.forensics.synopsis.models import Synopsis, SynopsisStatus
from safecity.runtime import build_services

UNTIL = T0 + dt.timedelta(seconds=SECONDS)
PURPOSE = "FIR 77/2026 snatching near the market"


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode(tmp_path_factory.mktemp("scene") / "scene.mp4")


@dataclass
class Site:
    session_factory: sessionmaker[Session]
    factory: Factory
    session: Session
    app: TestClient
    camera_id: str
    investigator: User
    elsewhere: User
    colleague: User  # an investigator of the same district


@pytest.fixture
def site(own_db: tuple[str, sessionmaker[Session]], settings: Settings, scene_video: Path) -> Iterator[Site]:
    _, session_factory = own_db
    with session_factory() as session:
        factory = Factory(session, SecretBox(TEST_SECRET_KEY, "mfa"))
        district = factory.district()
        camera = add_camera(session, district.id)
        record(session, camera, settings.recordings_dir, scene_video, T0, SEGMENT_S)
        store_tracks(session, camera)
        investigator = factory.user("investigator", districts=[district])
        elsewhere = factory.user("investigator", districts=[factory.district()])
        colleague = factory.user("investigator", districts=[district])
        session.commit()
        app = create_app(services=build_services(settings, session_factory=session_factory))
        with TestClient(app) as client:
            yield Site(
                session_factory, factory, session, client, str(camera.id), investigator, elsewhere, colleague
            )


def _ask(client: TestClient, site: Site, until: dt.datetime = UNTIL) -> httpx.Response:
    """Ask through the API for a synopsis of the site's camera from T0 to `until`."""
    body = {
        "camera_id": site.camera_id,
        "since": T0.isoformat(),
        "until": until.isoformat(),
        "purpose": PURPOSE,
    }
    return client.post("/api/v1/forensics/synopses", json=body)


def _done(client: TestClient, synopsis_id: str) -> dict[str, object]:
    seen: list[float] = []

    def finished() -> bool:
        body = client.get(f"/api/v1/forensics/synopses/{synopsis_id}").json()
        seen.append(body["progress"])
        return body["status"] in ("done", "failed")

    wait_until(finished, within=120, message="the synopsis never finished")
    assert all(a <= b for a, b in itertools.pairwise(seen))
    body: dict[str, object] = client.get(f"/api/v1/forensics/synopses/{synopsis_id}").json()
    return body


def test_asked_through_the_api_it_renders_in_the_background_and_plays_by_byte_range(
    site: Site, settings: Settings
) -> None:
    client = login(site.app, site.factory, site.investigator, site.session)
    asked = _ask(client, site)
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] in ("queued", "rendering", "done") and asked.json()["video_url"] is None
    job = _done(client, asked.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["progress"] == 1.0 and job["objects"] == 3 and 0 < float(job["duration_s"]) < SECONDS / 10  # type: ignore[arg-type]

    video = client.get(str(job["video_url"]))
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(video.content)) as container:
        frames = list(container.decode(video=0))
    assert frames and frames[0].width == WIDTH
    part = client.get(str(job["video_url"]), headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == video.content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(video.content)}"

    index = client.get(str(job["index_url"])).json()
    assert any(len(w) == 3 for w in index["windows"])
    heat = cv2.imdecode(
        np.frombuffer(client.get(str(job["heatmap_url"])).content, np.uint8), cv2.IMREAD_COLOR
    )
    assert heat is not None and heat.shape[1] == WIDTH

    listed = client.get("/api/v1/forensics/synopses").json()
    assert [j["id"] for j in listed] == [job["id"]]
    with site.session_factory() as session:
        actions = [
            (e.action, e.purpose)
            for e in session.scalars(select(AuditEntry).where(AuditEntry.object_id == job["id"]))
        ]
    assert ("forensics.synopsis.create", PURPOSE) in actions
    assert ("forensics.synopsis.view", PURPOSE) in actions  # the video, fetched from its first byte


def test_another_districts_investigator_gets_404(site: Site) -> None:
    client = login(site.app, site.factory, site.investigator, site.session)
    asked = _ask(client, site).json()
    _done(client, asked["id"])
    client.post("/logout")
    other = login(TestClient(site.app.app), site.factory, site.elsewhere, site.session)
    assert other.get(f"/api/v1/forensics/synopses/{asked['id']}").status_code == 404
    assert other.get(f"/api/v1/forensics/synopses/{asked['id']}/synopsis.mp4").status_code == 404
    assert other.get(f"/forensics/synopsis/{asked['id']}").status_code == 404
    refused = _ask(other, site)
    assert refused.status_code == 404


def test_too_long_or_backwards_periods_are_refused_with_a_reason(site: Site) -> None:
    client = login(site.app, site.factory, site.investigator, site.session)
    for until, words in (
        (T0 + dt.timedelta(days=3), "at most"),
        (T0 - dt.timedelta(hours=1), "after its start"),
    ):
        refused = _ask(client, site, until=until)
        assert refused.status_code == 422 and words in refused.text


def test_the_page_follows_the_rendering_then_shows_the_player_and_heatmap(site: Site) -> None:
    client = login(site.app, site.factory, site.investigator, site.session)
    form = client.get("/forensics/synopsis")
    assert (
        form.status_code == 200 and 'data-testid="synopsis-form"' in form.text and site.camera_id in form.text
    )
    local = "%Y-%m-%dT%H:%M"
    zone = dt.timezone(dt.timedelta(hours=5))
    made = client.post(
        "/forensics/synopsis",
        data={
            "camera": site.camera_id,
            "since": T0.astimezone(zone).strftime(local),
            "until": UNTIL.astimezone(zone).strftime(local),
            "classes": ["person", "car"],
            "purpose": PURPOSE,
        },
        headers={"HX-Request": "true"},
    )
    assert made.status_code == 204, made.text
    page_url = made.headers["HX-Redirect"]
    synopsis_id = page_url.rsplit("/", 1)[1]
    first = client.get(page_url)
    assert first.status_code == 200 and 'data-testid="synopsis-job"' in first.text
    job = _done(client, synopsis_id)
    assert job["status"] == "done" and job["counts"] == {"car": 1, "person": 1}
    fragment = client.get(f"{page_url}/progress")
    assert 'data-testid="synopsis-player"' in fragment.text and "hx-trigger" not in fragment.text
    assert str(job["video_url"]) in fragment.text and str(job["heatmap_url"]) in fragment.text
    listing = client.get("/forensics/synopsis")
    assert page_url in listing.text

    missing = client.post(
        "/forensics/synopsis",
        data={"camera": site.camera_id, "since": "", "until": "", "purpose": PURPOSE},
        headers={"HX-Request": "true"},
    )
    assert missing.status_code == 200 and "choose the start and the end" in missing.text
    with site.session_factory() as session:
        assert session.get(Synopsis, __import__("uuid").UUID(synopsis_id)).status == SynopsisStatus.DONE  # type: ignore[union-attr]
    assert json.loads(client.get(str(job["index_url"])).text)["objects"]


def test_cancelled_from_its_page_while_queued_it_never_renders_and_only_its_asker_may(
    site: Site, settings: Settings
) -> None:
    busy = threading.Event()
    ahead = service.RENDERS.submit(busy.wait)  # the renderer is still on an earlier job
    try:
        client = login(site.app, site.factory, site.investigator, site.session)
        asked = _ask(client, site).json()
        page = client.get(f"/forensics/synopsis/{asked['id']}")
        assert 'data-testid="synopsis-cancel"' in page.text
        for other, status in ((site.colleague, 403), (site.elsewhere, 404)):
            theirs = login(TestClient(site.app.app), site.factory, other, site.session)
            assert theirs.post(f"/api/v1/forensics/synopses/{asked['id']}/cancel").status_code == status
            assert (
                'data-testid="synopsis-cancel"' not in theirs.get(f"/forensics/synopsis/{asked['id']}").text
            )

        fragment = client.post(f"/forensics/synopsis/{asked['id']}/cancel", headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and 'data-testid="synopsis-cancelled"' in fragment.text
        assert "hx-trigger" not in fragment.text  # no more polling
        again = client.post(f"/api/v1/forensics/synopses/{asked['id']}/cancel")
        assert again.status_code == 409 and again.json()["error"]["code"] == "synopsis_finished"
    finally:
        busy.set()
        ahead.result(timeout=10)
    service.RENDERS.submit(lambda: None).result(timeout=60)  # one at a time: the cancelled job's turn passed
    body = client.get(f"/api/v1/forensics/synopses/{asked['id']}").json()
    assert body["status"] == "cancelled" and body["video_url"] is None
    assert not (settings.synopses_dir / asked["id"]).exists()
