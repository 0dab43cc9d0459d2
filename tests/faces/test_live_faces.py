"""Live face matching, only under a current live authorisation.

The issue's "done when": the astronaut's photo is enrolled to a watchlist; a real RTSP camera shows her
(H.264 encoded here with PyAV); without an authorisation the camera is not even analysed and no face is
stored; under an approved live authorisation her face raises a lead on an examiner's console; two
different examiners confirm it in chromium before the incident opens; once the authorisation is revoked
the same stream stores no face any more. Before it, the pipeline's parts on the astronaut's frames.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import uuid
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import cv2
import numpy as np
import pytest
from faces_data import astronaut, authorise
from lead_story import Listed, listed
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import Factory, LiveApp, RtspCamera, log_in, serve, wait_until
from safecity.analytics.faces.engine import FaceEngine
from safecity.analytics.faces.index import FaceIndex
from safecity.analytics.faces.live import (
    MATCH_FPS,
    REFRESH_S,
    STAMP_EVERY_S,
    TRACK_LOST_S,
    CameraFaces,
    FaceFound,
    FaceJob,
    FaceQueue,
    FaceWorker,
    Gallery,
    GalleryIndexes,
    GalleryLoader,
)
from safecity.analytics.faces.types import Embedding
from safecity.analytics.plates.live import CameraRef
from safecity.cameras.models import Camera
from safecity.config import Settings, VideoSettings
from safecity.core.crypto import SecretBox
from safecity.faces import service as faces
from safecity.faces.matches.models import FaceMatch, FaceSighting, MatchStatus
from safecity.incidents.models import Incident
from safecity.video.ingest import CameraState, Frame

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Browser, Page

WIDTH, HEIGHT = 640, 480


@pytest.fixture(scope="module")
def face_engine() -> Iterator[FaceEngine]:
    yield FaceEngine()


@pytest.fixture
def box(settings: Settings) -> SecretBox:
    return faces.biometric_box(settings)


def scene(side: int = 420) -> np.ndarray:
    """The astronaut's photo (`side` pixels square) in the middle of a grey wall, as a 640x480 camera would
    frame her.
    """
    canvas = np.full((HEIGHT, WIDTH, 3), 118, dtype=np.uint8)
    portrait = cv2.resize(astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    top, left = (HEIGHT - side) // 2, (WIDTH - side) // 2
    canvas[top : top + side, left : left + side] = portrait
    return canvas


def frames_of(picture: np.ndarray, n: int, fps: float, start: float = 0.0) -> list[Frame]:
    now = dt.datetime.now(dt.UTC)
    return [
        Frame(
            picture.copy(),
            seq=i + 1,
            captured_at=now + dt.timedelta(seconds=i / fps),
            monotonic=start + i / fps,
        )
        for i in range(n)
    ]


# --- the pipeline's parts --------------------------------------------------------------------------


def enrolled(rng: np.random.Generator, n: int) -> tuple[faces.GalleryFace, ...]:
    """`n` enrolled faces of different people (random unit embeddings)."""
    vectors = rng.standard_normal((n, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return tuple(
        faces.GalleryFace(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), v) for v in vectors
    )


def test_a_gallery_changed_by_a_few_faces_gets_the_index_in_use_copied_and_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(1)
    people, newcomer = enrolled(rng, 40), enrolled(rng, 1)[0]
    copied: list[FaceIndex] = []
    copy = FaceIndex.copy
    monkeypatch.setattr(FaceIndex, "copy", lambda index: copied.append(index) or copy(index))
    indexes = GalleryIndexes()
    granted = (uuid.uuid4(),)
    before = Gallery.of(faces.LiveGallery(granted, people, None), indexes)
    indexes.forget_unused()

    # One entry removed, one enrolled: the index in use, copied and changed by the difference.
    after = Gallery.of(faces.LiveGallery(granted, (*people[1:], newcomer), None), indexes)
    assert before.index is not None and after.index is not None and copied == [before.index]
    assert (len(before.index), len(after.index)) == (40, 40)
    assert after.best(newcomer.embedding) == (newcomer, pytest.approx(1.0, abs=1e-5))
    assert after.best(people[0].embedding)[0] is not people[0]  # type: ignore[index]
    # A camera not asked again yet keeps matching the faces it was given, as they were.
    assert before.best(people[0].embedding) == (people[0], pytest.approx(1.0, abs=1e-5))
    assert before.best(newcomer.embedding)[0] is not newcomer  # type: ignore[index]

    # Mostly other faces: a new index, not a copy.
    Gallery.of(faces.LiveGallery(granted, enrolled(rng, 40), None), indexes)
    assert copied == [before.index]


def test_the_worker_reads_its_cameras_galleries_at_once_and_opens_only_faces_it_does_not_hold(
    face_engine: FaceEngine,
) -> None:
    rng = np.random.default_rng(2)
    people, newcomer = enrolled(rng, 20), enrolled(rng, 1)[0]
    now: dict[str, tuple[faces.GalleryFace, ...]] = {"faces": people}
    asked: list[tuple[list[uuid.UUID], dict[uuid.UUID, Embedding]]] = []
    granted = (uuid.uuid4(),)

    def load(
        camera_ids: Sequence[uuid.UUID], known: Mapping[uuid.UUID, Embedding]
    ) -> dict[uuid.UUID, faces.LiveGallery]:
        asked.append((list(camera_ids), dict(known)))
        return {camera_id: faces.LiveGallery(granted, now["faces"], None) for camera_id in camera_ids}

    queue = FaceQueue()
    found: list[FaceFound] = []
    cameras = [
        CameraFaces(CameraRef(uuid.uuid4(), f"Camera {i}", None), queue, sink=found.append) for i in range(3)
    ]
    stamp = ["enrolled"]
    worker = FaceWorker(face_engine, queue, load, lambda: stamp[0])
    worker.refresh(0.0)
    assert len(asked) == 1 and set(asked[0][0]) == {c.ref.camera_id for c in cameras} and asked[0][1] == {}
    assert len({id(c.gallery.index) for c in cameras}) == 1  # one gallery, one index

    # Someone is enrolled: asked again at once, holding the faces it has (their embeddings not opened again).
    stamp[0], now["faces"] = "one more", (*people, newcomer)
    worker.refresh(STAMP_EVERY_S)
    assert len(asked) == 2 and asked[1][1].keys() == {p.enrolment_id for p in people}
    assert all(c.gallery.best(newcomer.embedding)[0] is newcomer for c in cameras)  # type: ignore[index]

    # The database is away: no camera matches anything until it is back (fail closed), and each says why.
    def away(camera_ids: Sequence[uuid.UUID], known: Mapping[uuid.UUID, Embedding]) -> dict[uuid.UUID, Any]:
        raise OSError("connection refused")

    worker.loader, stamp[0] = away, "changed again"
    worker.refresh(2 * STAMP_EVERY_S)
    assert not any(c.gallery.covers(dt.datetime.now(dt.UTC)) for c in cameras)
    assert all(c.last_error == "gallery not read: OSError: connection refused" for c in cameras)


def test_a_camera_no_authorisation_covers_hands_over_no_frame(
    session: Session, factory: Factory, face_engine: FaceEngine, box: SecretBox
) -> None:
    sought = listed(session, factory, face_engine, box, factory.district(), authorised=False)
    found: list[FaceFound] = []
    queue = FaceQueue()
    camera = CameraFaces(CameraRef(sought.place.camera_id, "Mall Road", None), queue, sink=found.append)
    worker = FaceWorker(
        face_engine, queue, loader(session, box), lambda: faces.gallery_stamp(session=session)
    )
    worker.refresh(time.monotonic())
    assert not camera.gallery.covers(dt.datetime.now(dt.UTC))
    offered = [camera.offer(frame, frame.image) for frame in frames_of(scene(), 10, 5)]
    assert offered == [False] * 10 and len(queue) == 0
    assert (camera.frames, camera.faces, found) == (0, 0, [])


def test_a_covered_camera_matches_her_face_at_two_frames_a_second_until_revoked(
    session: Session, factory: Factory, face_engine: FaceEngine, box: SecretBox
) -> None:
    sought = listed(session, factory, face_engine, box, factory.district())
    found: list[FaceFound] = []
    queue = FaceQueue()
    camera = CameraFaces(CameraRef(sought.place.camera_id, "Mall Road", None), queue, sink=found.append)
    worker = FaceWorker(
        face_engine, queue, loader(session, box), lambda: faces.gallery_stamp(session=session)
    )
    start = time.monotonic()
    worker.refresh(start)
    assert camera.gallery.authorisation_ids == (sought.authorisation_id,)
    index = camera.gallery.index
    assert index is not None and len(index) == 1
    worker.refresh(start + REFRESH_S)  # asked for again: the same faces keep their index
    assert camera.gallery.index is index and camera.loaded_at == start + REFRESH_S

    # Ten frames a second for two seconds: four are handed over (two a second), the newest kept waiting.
    offered = [camera.offer(frame, frame.image) for frame in frames_of(scene(), 20, 10)]
    assert sum(offered) == 4 and offered[0] and offered[5]
    assert len(queue) == 1 and queue.drops == 3
    job = queue.get(timeout=0)
    assert job is not None and job.frame.seq == 16
    matched = worker.run_one(job)
    assert matched == found and len(found) == 1
    face = found[0]
    assert face.matched and face.score is not None and face.score >= face_engine.threshold
    assert face.best is not None and face.best.entry_id == sought.entry_id
    assert face.authorisation_id == sought.authorisation_id
    assert face.seen.embedding is not None and face.seen.quality.ok

    # Revoked: the worker sees the faces domain change, asks again, and the camera stops handing frames over.
    assert sought.authorisation_id is not None
    faces.revoke_authorisation(
        session=session,
        principal=sought.approver,
        authorisation_id=sought.authorisation_id,
        reason="the warrant was executed this morning",
    )
    worker.refresh(start + REFRESH_S + 1.5)
    assert not camera.gallery.covers(dt.datetime.now(dt.UTC))
    assert not any(camera.offer(f, f.image) for f in frames_of(scene(), 10, 10, start=100.0))
    assert len(queue) == 0


def test_her_face_is_embedded_once_per_track_again_when_she_comes_closer_and_leads_once(
    session: Session, factory: Factory, face_engine: FaceEngine, box: SecretBox
) -> None:
    sought = listed(session, factory, face_engine, box, factory.district())
    found: list[FaceFound] = []
    queue = FaceQueue()
    camera = CameraFaces(CameraRef(sought.place.camera_id, "Mall Road", None), queue, sink=found.append)
    worker = FaceWorker(
        face_engine, queue, loader(session, box), lambda: faces.gallery_stamp(session=session)
    )
    worker.refresh(time.monotonic())

    def show(frames: list[Frame]) -> list[FaceFound]:
        return [f for frame in frames for f in worker.run_one(FaceJob(camera, frame, frame.image))]

    # Two seconds at two frames a second standing back, two seconds a step closer (her face 1.7x larger).
    far = show(frames_of(scene(320), 4, MATCH_FPS))
    near = show(frames_of(scene(420), 4, MATCH_FPS, start=2.0))
    assert (camera.frames, camera.faces, camera.embedded) == (8, 8, 2)
    assert len(far) == len(near) == 1 and found == far + near
    assert far[0].track_id == near[0].track_id and all(f.matched for f in found)
    assert [f.lead for f in found] == [True, False]  # one lead for the track: only the first raises it

    # Out of view longer than a track lasts: back in view she is a new track, embedded and matched afresh.
    assert show(frames_of(np.full((HEIGHT, WIDTH, 3), 118, dtype=np.uint8), 2, MATCH_FPS, start=4.0)) == []
    back = show(frames_of(scene(420), 3, MATCH_FPS, start=5.0 + TRACK_LOST_S))
    assert len(back) == 1 and back[0].lead and back[0].track_id != near[0].track_id
    assert camera.embedded == 3


def loader(session: Session, box: SecretBox) -> GalleryLoader:
    """What the application's face worker asks (on the test's session)."""

    def load(
        camera_ids: Sequence[uuid.UUID], known: Mapping[uuid.UUID, Embedding]
    ) -> dict[uuid.UUID, faces.LiveGallery]:
        now = dt.datetime.now(dt.UTC)
        return faces.live_galleries(session=session, box=box, camera_ids=camera_ids, at=now, known=known)

    return load


# --- end to end: a real RTSP camera, the application, two examiners in chromium ------------------------


def write_clip(path: Path, picture: np.ndarray, *, seconds: int, fps: int) -> Path:
    """The picture as an H.264 MP4 of `seconds` at `fps` (a key frame every second)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        for _ in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@contextmanager
def signed_in(chromium: Browser, base: str, username: str, code: str) -> Iterator[Page]:
    """A browser of the user's own, logged in through the form with the second factor; closed after."""
    context = chromium.new_context()
    try:
        page = context.new_page()
        log_in(page, base, username, code)
        yield page
    finally:
        context.close()


def run(app: LiveApp, work: Coroutine[Any, Any, object]) -> None:
    asyncio.run_coroutine_threadsafe(work, app.loop).result(60)


def count(app: LiveApp, table: type[FaceSighting] | type[FaceMatch], camera_id: uuid.UUID) -> int:
    with app.services.session_factory() as session:
        return int(
            session.scalar(select(func.count()).select_from(table).where(table.camera_id == camera_id)) or 0
        )


@pytest.mark.browser
def test_her_face_on_a_live_camera_is_a_lead_two_examiners_confirm_before_the_incident_opens(
    rtsp_camera: Callable[..., RtspCamera],
    db_url: str,
    tmp_path: Path,
    settings: Settings,
    face_engine: FaceEngine,
    chromium: Browser,
) -> None:
    from playwright.sync_api import expect

    clip = write_clip(tmp_path / "astronaut.mp4", scene(), seconds=240, fps=5)
    server = rtsp_camera(clip=clip)
    with_video = settings.model_copy(update={"video": VideoSettings(run_in_web=True, analytics_fps=5)})
    # The browsers close before the server stops: their live feeds' connections would hold its shutdown.
    with serve(with_video, db_url, tmp_path) as app, ExitStack() as browsers:
        services = app.services
        assert services.video is not None and services.analytics is not None
        video, analytics = services.video, services.analytics
        box = faces.biometric_box(services.settings)
        with services.session_factory() as session:
            factory = Factory(session, services.mfa_box)
            district = factory.district()
            sought: Listed = listed(session, factory, face_engine, box, district, authorised=False)
            camera = session.get(Camera, sought.place.camera_id)
            assert camera is not None
            camera.stream_url = server.url
            first, second = (factory.user("face_examiner", districts=[district]) for _ in range(2))
            session.commit()
            camera_id = camera.id
        run(app, video.refresh())
        wait_until(
            lambda: (
                (status := video.supervisor.status(camera_id)) is not None
                and status.state is CameraState.ONLINE
            ),
            within=30,
            message="the camera did not come online",
        )

        # No authorisation: the camera is not analysed at all; no face is looked at, none is stored.
        run(app, analytics.refresh())
        time.sleep(5)
        assert camera_id not in analytics.cameras and analytics.face_worker is None
        assert count(app, FaceSighting, camera_id) == 0

        # The first examiner's console is open when the authorisation is approved.
        one = browsers.enter_context(
            signed_in(chromium, app.base, first.username, factory.totp(first.username))
        )
        one.goto(f"{app.base}/console")
        expect(one.get_by_test_id("feed-state")).to_have_text("Live")
        with services.session_factory() as session:
            authorisation_id = authorise(
                session, sought.requester, sought.approver, district, sought.watchlist_id, cameras=[camera_id]
            )
            session.commit()
        run(app, analytics.refresh())
        running = analytics.cameras[camera_id]
        assert running.faces is not None and not running.needs_detector  # faces only: no object detector

        row = one.locator("tr.alert", has_text="Face match lead at Mall Road")
        expect(row).to_be_visible(timeout=60_000)
        with services.session_factory() as session:
            match = session.scalars(select(FaceMatch).where(FaceMatch.camera_id == camera_id)).one()
            match_id, alert_id = match.id, match.alert_id
        row.get_by_text("Face match lead at Mall Road").click()
        expect(one.get_by_test_id("lead-face")).to_be_visible()
        # The console cannot escalate a lead: no form, and the API refuses it until it is confirmed.
        expect(one.get_by_test_id("alert-detail").locator("form[data-escalate]")).to_have_count(0)
        refused = post_json(one, f"/api/v1/alerts/{alert_id}/escalate", {"category": "other", "priority": 2})
        assert refused == [409, "face_match_not_confirmed"], refused
        one.get_by_test_id("review-lead").click()
        one.wait_for_url(re.compile(rf"/faces/matches/{match_id}$"))

        # The lead: the live face beside the enrolled photo, the score against the threshold.
        for test_id in ("live-face", "enrolled-face"):
            picture = one.get_by_test_id(test_id)
            wait_until(
                lambda p=picture: p.evaluate("img => img.complete && img.naturalWidth === 150"), within=10
            )
        expect(one.get_by_test_id("match-watchlist")).to_have_text("Wanted in Lahore")
        score = float(one.get_by_test_id("match-score").inner_text())
        assert score >= float(one.get_by_test_id("match-threshold").inner_text())
        expect(one.get_by_test_id("recording-link")).to_have_attribute(
            "href", re.compile(rf"/cameras/{camera_id}\?at=")
        )
        one.get_by_role("button", name="Confirm: the same person").click()
        expect(one.get_by_test_id("waiting-second")).to_be_visible()
        expect(one.get_by_test_id("match-status")).to_have_text("pending")
        expect(one.get_by_test_id("confirmations")).to_have_text("1/2")
        expect(one.get_by_role("button", name="Open incident")).to_have_count(0)
        again = post_json(one, f"/api/v1/faces/matches/{match_id}/decisions", {"decision": "confirm"})
        assert again == [409, "same_examiner"], again
        early = post_json(one, f"/api/v1/faces/matches/{match_id}/incident", {"priority": 2})
        assert early == [409, "match_not_confirmed"], early

        # A second, different examiner confirms; only then is the incident opened.
        two = browsers.enter_context(
            signed_in(chromium, app.base, second.username, factory.totp(second.username))
        )
        two.goto(f"{app.base}/faces/matches/{match_id}")
        two.get_by_role("button", name="Confirm: the same person").click()
        expect(two.get_by_test_id("match-status")).to_have_text("confirmed")
        two.get_by_role("button", name="Open incident").click()
        two.wait_for_url(re.compile(r"/incidents/[0-9a-f-]{36}$"))
        expect(two.locator("h1")).to_contain_text("Confirmed face match at Mall Road")
        with services.session_factory() as session:
            match = session.get(FaceMatch, match_id)
            assert match is not None and match.status == MatchStatus.CONFIRMED
            assert match.incident_id is not None and two.url.endswith(str(match.incident_id))
            assert session.get(Incident, match.incident_id) is not None

        # Revoked: the same stream gives no lead and stores no face any more.
        with services.session_factory() as session:
            faces.revoke_authorisation(
                session=session,
                principal=sought.approver,
                authorisation_id=authorisation_id,
                reason="the person was found and the warrant executed",
            )
            session.commit()
        time.sleep(3)  # the worker notices the change within a second or two; frames in hand finish
        before = count(app, FaceSighting, camera_id)
        time.sleep(5)
        assert count(app, FaceSighting, camera_id) == before
        assert count(app, FaceMatch, camera_id) == 1
        run(app, analytics.refresh())
        assert camera_id not in analytics.cameras


def post_json(page: Page, path: str, body: dict[str, Any]) -> list[Any]:
    """POST from the page as its scripts would (session cookie and CSRF token): [status, error code]."""
    return list(
        page.evaluate(
            """async ([path, body]) => {
                const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
                const answer = await fetch(path, {method: 'POST', body: JSON.stringify(body),
                    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}});
                const data = await answer.json();
                return [answer.status, data.error ? data.error.code : null];
            }""",
            [path, body],
        )
    )
