"""Privacy masks per camera: real pictures masked (live snapshots of a real RTSP camera, analytics event
snapshots, object views), the API's permissions and scope, malformed polygons, and audited un-masking.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory, RtspCamera, login, serve_in_thread, wait_until, wait_until_async
from safecity import seed
from safecity.analytics.flows import AnalyticsRuntime
from safecity.analytics.pipeline import CameraInfo, Followed, Hit
from safecity.analytics.plates import build_reader
from safecity.analytics.plates.live import CameraPlates, CameraRef, Finished, PlateQueue, PlateWorker
from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import PlateSettings
from safecity.analytics.rules import Firing
from safecity.analytics.schemas import rule_adapter
from safecity.analytics.tracking import Track
from safecity.analytics.types import Detections
from safecity.audit import service as audit
from safecity.cameras.models import Camera
from safecity.cameras.privacy import service as privacy
from safecity.cameras.privacy.models import PrivacyMask
from safecity.config import Settings, VideoSettings
from safecity.core.bus import MemoryBus
from safecity.core.db import utcnow
from safecity.forensics import flows as forensic_flows
from safecity.org import service as org
from safecity.org.models import District
from safecity.runtime import Services
from safecity.video.demo import scene, with_plate
from safecity.video.flows import VideoRuntime
from safecity.video.ingest import CameraSpec, Frame, IngestSupervisor
from safecity.video.models import Recording

# The left half of the picture, inset: the windows of a house across the road, say.
WINDOW = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9], [0.1, 0.9]]
MASK = {"name": "Windows of house 12", "polygon": WINDOW}
W, H = 320, 240
INSIDE = (slice(40, 200), slice(45, 150))  # rows, columns well inside WINDOW at 320x240
OUTSIDE = (slice(20, 220), slice(190, 310))  # well outside it


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (a real photograph) as BGR at 320x240."""
    from skimage import data

    return cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (W, H), interpolation=cv2.INTER_AREA)


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def _is_black(region: np.ndarray) -> bool:
    return float(region.mean()) < 6 and float(region.std()) < 6


def _is_real(region: np.ndarray) -> bool:
    return float(region.std()) > 20


# --- the pure function ---------------------------------------------------------------------------------


def test_apply_masks_blacks_out_only_the_polygon_and_leaves_the_image_alone(astronaut: np.ndarray) -> None:
    before = astronaut.copy()
    masked = privacy.apply_masks(astronaut, [tuple(map(tuple, WINDOW))])
    assert np.array_equal(astronaut, before), "the caller's picture is never changed"
    assert _is_real(astronaut[INSIDE]) and _is_black(masked[INSIDE])
    assert np.array_equal(masked[OUTSIDE], astronaut[OUTSIDE])
    assert privacy.apply_masks(astronaut, []) is astronaut  # nothing to mask: no copy

    pixelated = privacy.apply_masks(astronaut, [tuple(map(tuple, WINDOW))], mode="pixelate")
    assert np.array_equal(pixelated[OUTSIDE], astronaut[OUTSIDE])
    inside = pixelated[INSIDE]
    assert not np.array_equal(inside, astronaut[INSIDE])
    # Blocks of one colour: far fewer distinct colours than the photograph has there.
    distinct = len(np.unique(inside.reshape(-1, 3), axis=0))
    assert distinct < len(np.unique(astronaut[INSIDE].reshape(-1, 3), axis=0)) / 20

    grey = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    assert _is_black(privacy.apply_masks(grey, [tuple(map(tuple, WINDOW))])[INSIDE])


def test_mask_i420_blacks_out_the_decoded_planes_and_leaves_every_other_sample_as_it_was(
    astronaut: np.ndarray,
) -> None:
    """The masked recorder's path: the decoded yuv420p planes, no conversion to BGR and back."""
    planes = av.VideoFrame.from_ndarray(astronaut, format="bgr24").reformat(format="yuv420p").to_ndarray()
    window, slanted = tuple(map(tuple, WINDOW)), ((0.55, 0.1), (0.95, 0.23), (0.71, 0.9))  # odd edges
    masks = (window, slanted)
    before = planes.copy()
    masked = privacy.mask_i420(planes, masks)
    assert masked is planes  # in place: the recorder hands over its own copy

    y, u, v = before[:H], before[H:].reshape(-1)[: H * W // 4], before[H:].reshape(-1)[H * W // 4 :]
    my, mu, mv = masked[:H], masked[H:].reshape(-1)[: H * W // 4], masked[H:].reshape(-1)[H * W // 4 :]
    covered = privacy.apply_masks(np.full((H, W), 255, np.uint8), masks) == 0
    near = covered.reshape(H // 2, 2, W // 2, 2).any(axis=(1, 3)).reshape(-1)  # chroma touching a mask
    assert covered.any() and near.any()
    assert (my[covered] == 16).all() and np.array_equal(my[~covered], y[~covered])
    for plane, original in ((mu, u), (mv, v)):
        assert (plane[near] == 128).all(), "no colour of a masked area survives at its edges"
        assert np.array_equal(plane[~near], original[~near])
    seen = av.VideoFrame.from_ndarray(masked, format="yuv420p").to_ndarray(format="bgr24")
    assert _is_black(seen[INSIDE])
    assert privacy.mask_i420(before.copy(), ()).tobytes() == before.tobytes()  # no masks: untouched


def test_mask_crop_masks_what_a_cut_out_picture_shows_of_the_masks(astronaut: np.ndarray) -> None:
    box = (100, 50, 260, 200)  # straddles the mask's right edge at x = 160
    crop = cv2.resize(astronaut[50:200, 100:260], (80, 75))  # cut, then shrunk
    masked = privacy.mask_crop(crop, [tuple(map(tuple, WINDOW))], box=box, frame_size=(W, H))
    assert _is_black(masked[5:70, 2:28])  # x 100..156 of the frame: inside the mask
    assert np.array_equal(masked[:, 32:], crop[:, 32:])  # x >= 164: outside


# --- the API ------------------------------------------------------------------------------------------


@dataclass
class Place:
    a: District
    b: District
    camera: Camera


@pytest.fixture
def place(factory: Factory) -> Place:
    a, b = factory.district(), factory.district()
    camera = Camera(
        name="Gate", district_id=a.id, latitude=34.0, longitude=71.5, stream_url="rtsp://camera.invalid/s"
    )
    factory.session.add(camera)
    factory.session.flush()
    return Place(a, b, camera)


def _url(camera: Camera) -> str:
    return f"/api/v1/cameras/{camera.id}/privacy-masks"


def test_an_administrator_draws_masks_others_read_them_and_scope_hides_them(
    place: Place, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    admin = factory.user("admin", districts=[place.a])
    client = login_as(admin)
    response = client.put(_url(place.camera), json={"masks": [MASK]})
    assert response.status_code == 200, response.text
    (saved,) = response.json()["masks"]
    assert saved["name"] == MASK["name"] and saved["polygon"] == WINDOW
    assert saved["created_by"] == str(admin.id)

    # Saving the same set again keeps the mask as drawn (same id, same author).
    again = client.put(_url(place.camera), json={"masks": [MASK]}).json()["masks"]
    assert [m["id"] for m in again] == [saved["id"]]

    operator = login_as(factory.user("operator", districts=[place.a]))
    read = operator.get(_url(place.camera))
    assert read.status_code == 200
    assert [m["polygon"] for m in read.json()["masks"]] == [WINDOW]
    assert read.json()["lifted_until"] is None
    refused = operator.put(_url(place.camera), json={"masks": []})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"

    elsewhere = login_as(factory.user("operator", districts=[place.b]))
    for response in (
        elsewhere.get(_url(place.camera)),
        elsewhere.post(_url(place.camera) + "/unmask", json={"purpose": "FIR 12/2026", "minutes": 5}),
    ):
        assert response.status_code in (403, 404)
    assert elsewhere.get(_url(place.camera)).json()["error"]["code"] == "camera_not_found"
    other_admin = login_as(factory.user("admin", districts=[place.b]))
    assert other_admin.put(_url(place.camera), json={"masks": []}).status_code == 404
    supervisor_b = login_as(factory.user("supervisor", districts=[place.b]))
    gone = supervisor_b.post(_url(place.camera) + "/unmask", json={"purpose": "FIR 12/2026", "minutes": 5})
    assert gone.status_code == 404

    auditor = factory.principal(factory.user("auditor"))
    entries = audit.search(session=session, principal=auditor, action="cameras.privacy_masks")
    assert len(entries) == 2 and entries[0].object_id == str(place.camera.id)


@pytest.mark.parametrize(
    ("polygon", "problem"),
    [
        ([[0.1, 0.1], [0.5, 0.1]], "at least 3"),
        ([[0.1, 0.1], [0.5, 0.1], [0.9, 0.1]], "no area"),
        ([[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]], "cross"),  # a bow tie
        ([[0.1, 0.1], [1.5, 0.1], [0.5, 0.9]], "less than or equal to 1"),
        ([[0.1, 0.1], [0.5, 0.1], "x"], ""),
    ],
)
def test_malformed_polygons_are_refused(
    place: Place, factory: Factory, login_as: Callable[..., TestClient], polygon: object, problem: str
) -> None:
    client = login_as(factory.user("admin", districts=[place.a]))
    response = client.put(_url(place.camera), json={"masks": [{"name": "Bad", "polygon": polygon}]})
    assert response.status_code == 422, response.text
    assert problem in response.text
    assert client.get(_url(place.camera)).status_code in (200, 403)


def test_duplicate_names_are_refused(
    place: Place, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("admin", districts=[place.a]))
    response = client.put(_url(place.camera), json={"masks": [MASK, MASK]})
    assert response.status_code == 422 and response.json()["error"]["code"] == "duplicate_mask_name"


def test_an_operator_cannot_unmask_and_a_supervisor_needs_a_purpose_and_a_short_time(
    place: Place, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    operator = login_as(factory.user("operator", districts=[place.a]))
    refused = operator.post(_url(place.camera) + "/unmask", json={"purpose": "FIR 12/2026", "minutes": 5})
    assert refused.status_code == 403
    supervisor = login_as(factory.user("supervisor", districts=[place.a]))
    for body in ({"purpose": "x", "minutes": 5}, {"purpose": "FIR 12/2026", "minutes": 61}, {"minutes": 5}):
        assert supervisor.post(_url(place.camera) + "/unmask", json=body).status_code == 422
    auditor = factory.principal(factory.user("auditor"))
    assert audit.search(session=session, principal=auditor, action="video.unmask") == []


# --- live pictures of a real RTSP camera ---------------------------------------------------------------


def _still_clip(path: Path, image: np.ndarray, *, fps: int = 10, seconds: int = 120) -> Path:
    """An H.264 MP4 of one real photograph held still (every frame shows the same picture)."""
    height, width = image.shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        for _ in range(fps * seconds):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture
def live_camera(
    place: Place,
    services: Services,
    rtsp_camera: Callable[..., RtspCamera],
    astronaut: np.ndarray,
    tmp_path: Path,
) -> Iterator[IngestSupervisor]:
    server = rtsp_camera(clip=_still_clip(tmp_path / "still.mp4", astronaut))
    place.camera.stream_url = server.url
    services.video = VideoRuntime(services.settings, services.session_factory, services.bus)
    supervisor = services.video.supervisor
    supervisor.start()
    supervisor.sync([CameraSpec(place.camera.id, server.url, place.camera.name, place.a.id)])
    try:
        wait_until(
            lambda: (s := supervisor.slot(place.camera.id)) is not None and s.latest() is not None,
            within=30,
            message="the RTSP camera never delivered a frame",
        )
        yield supervisor
    finally:
        supervisor.stop()


def test_live_snapshots_are_masked_until_a_supervisor_lifts_the_masks_for_themselves(
    place: Place,
    live_camera: IngestSupervisor,
    factory: Factory,
    login_as: Callable[..., TestClient],
    session: Session,
    astronaut: np.ndarray,
) -> None:
    snapshot = f"/api/v1/cameras/{place.camera.id}/snapshot.jpg"
    operator = login_as(factory.user("operator", districts=[place.a]))
    clear = _decode(operator.get(snapshot).content)
    assert clear.shape == (H, W, 3) and _is_real(clear[INSIDE])
    assert float(np.abs(clear.astype(int) - astronaut.astype(int)).mean()) < 12  # the real picture

    admin = login_as(factory.user("admin", districts=[place.a]))
    assert admin.put(_url(place.camera), json={"masks": [MASK]}).status_code == 200

    masked = _decode(operator.get(snapshot).content)
    assert _is_black(masked[INSIDE]), "the masked area is blacked out"
    assert float(np.abs(masked[OUTSIDE].astype(int) - clear[OUTSIDE].astype(int)).mean()) < 4
    small = _decode(operator.get(snapshot + "?width=160").content)
    assert small.shape == (120, 160, 3) and _is_black(small[20:100, 23:75])

    supervisor_user = factory.user("supervisor", districts=[place.a])
    supervisor = login_as(supervisor_user)
    assert _is_black(_decode(supervisor.get(snapshot).content)[INSIDE])  # masked until lifted
    lifted = supervisor.post(
        _url(place.camera) + "/unmask", json={"purpose": "FIR 341/2026 burglary", "minutes": 30}
    )
    assert lifted.status_code == 201, lifted.text
    until = dt.datetime.fromisoformat(lifted.json()["until"])
    assert dt.timedelta(minutes=29) < until - utcnow() <= dt.timedelta(minutes=30)
    assert supervisor.get(_url(place.camera)).json()["lifted_until"] is not None

    seen = _decode(supervisor.get(snapshot).content)
    assert _is_real(seen[INSIDE]), "clear for the supervisor who lifted the masks"
    assert float(np.abs(seen.astype(int) - clear.astype(int)).mean()) < 4
    assert _is_black(_decode(operator.get(snapshot).content)[INSIDE]), "everyone else still sees masks"
    assert operator.get(_url(place.camera)).json()["lifted_until"] is None
    other_supervisor = login_as(factory.user("supervisor", districts=[place.a]))
    assert _is_black(_decode(other_supervisor.get(snapshot).content)[INSIDE])

    auditor_user = factory.user("auditor")
    auditor = factory.principal(auditor_user)
    (entry,) = audit.search(session=session, principal=auditor, action="video.unmask")
    assert entry.actor_name == supervisor_user.username and entry.purpose == "FIR 341/2026 burglary"
    assert entry.object_id == str(place.camera.id) and entry.detail["minutes"] == 30

    auditor_client = login_as(auditor_user)
    listed = auditor_client.get("/api/v1/privacy-unmasks").json()
    assert [(u["user_id"], u["camera_id"], u["purpose"]) for u in listed] == [
        (str(supervisor_user.id), str(place.camera.id), "FIR 341/2026 burglary")
    ]
    page = auditor_client.get("/privacy/unmasks")
    assert page.status_code == 200 and "FIR 341/2026 burglary" in page.text and "Gate" in page.text
    assert operator.get("/api/v1/privacy-unmasks").status_code == 403


def test_a_lifting_that_has_ended_masks_again(
    place: Place, factory: Factory, session: Session, services: Services
) -> None:
    user = factory.user("supervisor", districts=[place.a])
    principal = factory.principal(user)
    privacy.set_masks(
        session=session,
        principal=factory.principal(factory.user("admin", districts=[place.a])),
        camera_id=place.camera.id,
        masks=[privacy.MaskIn.model_validate(MASK)],
    )
    row = privacy.unmask(
        session=session, principal=principal, camera_id=place.camera.id, purpose="FIR 1/2026", minutes=1
    )
    session.commit()
    cache = privacy.MaskCache(ttl_s=0)
    factory_ = services.session_factory
    assert privacy.viewer_masks(factory_, place.camera.id, user.id, cache=cache) == ()
    assert privacy.viewer_masks(factory_, place.camera.id, None, cache=cache) != ()
    row.until = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    assert privacy.viewer_masks(factory_, place.camera.id, user.id, cache=cache) == (
        tuple(tuple(p) for p in WINDOW),
    )


# --- pictures the analytics keep -----------------------------------------------------------------------


def test_the_analytics_event_snapshot_and_object_view_are_masked(
    place: Place, factory: Factory, session: Session, services: Services, astronaut: np.ndarray
) -> None:
    privacy.set_masks(
        session=session,
        principal=factory.principal(factory.user("admin", districts=[place.a])),
        camera_id=place.camera.id,
        masks=[privacy.MaskIn.model_validate(MASK)],
    )
    session.commit()
    settings = services.settings
    runtime = AnalyticsRuntime(
        settings, services.session_factory, MemoryBus(), IngestSupervisor(settings.video)
    )
    rule = rule_adapter.validate_python(
        {"kind": "zone_intrusion", "name": "Anywhere", "zone": [[0, 0], [1, 0], [1, 1], [0, 1]]}
    )
    box = [200.0, 30.0, 300.0, 200.0]  # a person on the right, outside the mask
    detections = Detections.of([box], [0.9], [0], [7])
    image = astronaut.copy()
    image.flags.writeable = False
    frame = Frame(image, seq=1, captured_at=utcnow(), monotonic=0.0)
    info = CameraInfo(place.camera.id, place.camera.name, place.a.id)
    hit = Hit(info, Firing(uuid.uuid4(), rule, (7,), {}), frame, frame.image, detections, detections, [])
    event = runtime._event_of(hit)
    picture = cv2.imread(str(settings.snapshots_dir / event.payload["snapshot"]))
    assert picture is not None and picture.shape == (H, W, 3)
    assert _is_black(picture[INSIDE]), "the masked area never reaches the disk"
    assert _is_real(picture[OUTSIDE])

    # An object's best view cut across the mask's edge: the part inside is blacked out, the rest kept.
    now = utcnow()
    track = Track(
        track_id=7,
        class_id=0,
        first_seen=0.0,
        last_seen=1.0,
        first_wall=now,
        last_wall=now,
        box=np.array([100.0, 50.0, 260.0, 200.0]),
        score=0.9,
        path=deque(),
        frame_size=(W, H),
    )
    track.boxes.append((0.0, 100 / W, 50 / H, 260 / W, 200 / H))
    view = astronaut[50:200, 100:260].copy()
    masked = forensic_flows.masked_view(
        view, track, privacy.CACHE.masks(services.session_factory, place.camera.id)
    )
    assert _is_black(masked[5:145, 2:56]) and np.array_equal(masked[:, 64:], view[:, 64:])
    # A view that cannot be placed, of an object whose path met the mask, is blacked out whole.
    odd = cv2.resize(view, (33, 77))
    assert _is_black(
        forensic_flows.masked_view(odd, track, privacy.CACHE.masks(services.session_factory, place.camera.id))
    )
    # track_of writes the masked view.
    record = forensic_flows.track_of(
        Followed(info, track, view), snapshots_dir=settings.snapshots_dir, masks=privacy.as_masks([])
    )
    assert record.snapshot is not None


def test_a_plate_sightings_pictures_are_masked_and_a_plate_inside_a_mask_is_not_kept(
    place: Place,
    factory: Factory,
    session: Session,
    services: Services,
    pickup: np.ndarray,
    empty_square: np.ndarray,
) -> None:
    # A real pickup with a plate on its bumper in a real square, read by the real reader (an ANPR camera).
    frame = scene(empty_square, (with_plate(pickup, ["LEA-1234"], zoom=1.8, scale=24), (0.5, 0.95)))
    queue, finished = PlateQueue(), list[Finished]()
    ref = CameraRef(place.camera.id, place.camera.name, place.a.id)
    lane = CameraPlates(ref, PlateSettings(mode="dedicated"), queue, sink=finished.append)
    lane.hand_over(frame=(Frame(frame, seq=1, captured_at=utcnow(), monotonic=1.0), frame))
    worker = PlateWorker(build_reader({"type": "rapidocr"}), queue)
    job = queue.get(timeout=0)
    assert job is not None
    worker.run_one(job)
    lane.tick(10.0)
    (done,) = finished
    assert done.vote.text == "LEA1234"
    x, _, w, _ = done.box
    frame_h, frame_w = frame.shape[:2]
    admin = factory.principal(factory.user("admin", districts=[place.a]))
    runtime = AnalyticsRuntime(
        services.settings, services.session_factory, MemoryBus(), IngestSupervisor(services.settings.video)
    )

    def mask_left_of(right: int) -> None:
        """A mask over the frame's left part, up to the column `right`."""
        polygon = [[0.0, 0.0], [right / frame_w, 0.0], [right / frame_w, 1.0], [0.0, 1.0]]
        mask = privacy.MaskIn.model_validate({"name": "Yard", "polygon": polygon})
        privacy.set_masks(session=session, principal=admin, camera_id=place.camera.id, masks=[mask])
        session.commit()

    # A mask over the plate's left quarter: the sighting is kept, as read, with that part blacked out.
    mask_left_of(x + w // 4)
    made = runtime._make_sighting(done)
    assert made is not None
    sighting = made[0]
    assert sighting.plate == "LEA1234"
    crop = cv2.imread(str(services.settings.snapshots_dir / (sighting.crop or "")))
    left, _, right, _ = done.plate_cut
    assert crop is not None and crop.shape[1] == right - left
    edge = x + w // 4 - left  # the mask's edge in the crop
    assert _is_black(crop[:, : edge - 2])
    assert _is_real(crop[:, edge + 2 :])  # the rest of the plate, characters on white
    vehicle = cv2.imread(str(services.settings.snapshots_dir / (sighting.snapshot or "")))
    assert vehicle is not None and vehicle.shape[:2] == (frame_h, frame_w)  # the frame, of an ANPR camera
    assert _is_black(vehicle[:, : x + w // 4 - 2]) and _is_real(vehicle[:, x + w // 4 + 2 :])

    # A mask over most of the plate: the area is not watched, so nothing of the read is kept.
    mask_left_of(x + w * 3 // 4)
    kept = set(services.settings.snapshots_dir.rglob("*"))
    assert runtime._make_sighting(done) is None
    assert set(services.settings.snapshots_dir.rglob("*")) == kept
    with services.session_factory() as db:
        assert db.scalars(select(Sighting).where(Sighting.camera_id == place.camera.id)).all() == [
            db.get(Sighting, sighting.id)
        ]


def test_mjpeg_frames_are_masked(
    place: Place,
    live_camera: IngestSupervisor,
    factory: Factory,
    web_app: FastAPI,
    session: Session,
    login_as: Callable[..., TestClient],
) -> None:
    admin = login_as(factory.user("admin", districts=[place.a]))
    assert admin.put(_url(place.camera), json={"masks": [MASK]}).status_code == 200
    operator = factory.user("operator", districts=[place.a])
    with (
        serve_in_thread(web_app, lifespan=False) as (base, _),
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        login(client, factory, operator, session)  # type: ignore[arg-type]
        parts: list[bytes] = []
        with client.stream("GET", f"/api/v1/cameras/{place.camera.id}/live.mjpeg?fps=5") as response:
            assert response.status_code == 200
            for part in _mjpeg_parts(response):
                parts.append(part)
                if len(parts) == 3:
                    break
    for part in parts:
        image = _decode(part)
        assert image.shape == (H, W, 3) and _is_black(image[INSIDE]) and _is_real(image[OUTSIDE])


def _mjpeg_parts(response: httpx.Response) -> Iterator[bytes]:
    """The JPEGs of a multipart/x-mixed-replace stream, as they arrive."""
    buffer = b""
    for chunk in response.iter_bytes():
        buffer += chunk
        while (head_end := buffer.find(b"\r\n\r\n")) >= 0:
            lines = buffer[:head_end].decode().split("\r\n")[1:]
            headers = dict(line.split(": ", 1) for line in lines)
            end = head_end + 4 + int(headers["Content-Length"])
            if len(buffer) < end + 2:
                break
            yield buffer[head_end + 4 : end]
            buffer = buffer[end + 2 :]


def test_the_camera_pages_carry_the_masks_panel(
    place: Place, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    admin = login_as(factory.user("admin", districts=[place.a]))  # no video: the settings form is the page
    page = admin.get(f"/cameras/{place.camera.id}")
    assert page.status_code == 200
    assert f'data-privacy data-camera-id="{place.camera.id}" data-can-manage="yes"' in page.text
    assert "/static/privacy.js" in page.text and "data-mask-form" in page.text
    operator = login_as(factory.user("operator", districts=[place.a]))
    page = operator.get(f"/cameras/{place.camera.id}")
    assert page.status_code == 200 and "data-camera-view" in page.text
    assert 'data-can-manage="no" data-can-unmask="no"' in page.text and "data-mask-form" not in page.text
    assert "data-unmask-form" not in page.text
    supervisor = login_as(factory.user("supervisor", districts=[place.a]))
    assert "data-unmask-form" in supervisor.get(f"/cameras/{place.camera.id}").text


@pytest.mark.anyio
async def test_the_worker_records_a_camera_with_masks_with_the_masks_burned_in(
    rtsp_camera: Callable[..., RtspCamera],
    own_db: tuple[str, sessionmaker[Session]],
    astronaut: np.ndarray,
    tmp_path: Path,
) -> None:
    server = rtsp_camera(clip=_still_clip(tmp_path / "still.mp4", astronaut, seconds=30))
    url, factory_db = own_db
    settings = Settings(
        data_dir=tmp_path,
        database_url=SecretStr(url),
        video=VideoSettings(segment_seconds=2, analytics_fps=2),
    )
    with factory_db() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        camera = Camera(
            name="Gate", district_id=district.id, latitude=34.0, longitude=71.5, stream_url=server.url
        )
        session.add(camera)
        session.flush()
        session.add(PrivacyMask(camera_id=camera.id, name="Windows of house 12", polygon=WINDOW))
        session.commit()
        camera_id = camera.id

    def masked_segment() -> Recording | None:
        with factory_db() as session:
            query = select(Recording).where(Recording.camera_id == camera_id, Recording.masked.is_(True))
            return session.scalars(query).first()

    bus = MemoryBus()
    await bus.start()
    runtime = VideoRuntime(settings, factory_db, bus)
    await runtime.start()
    try:
        await wait_until_async(lambda: masked_segment() is not None, within=30)
    finally:
        await runtime.stop()
        await bus.close()

    segment = masked_segment()
    assert segment is not None
    file = settings.recordings_dir / segment.path
    assert hashlib.sha256(file.read_bytes()).hexdigest() == segment.sha256
    with av.open(str(file)) as container:
        pictures = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(pictures) >= 10 and all(_is_black(p[INSIDE]) and _is_real(p[OUTSIDE]) for p in pictures)
    with factory_db() as session:
        stored = session.scalars(select(Recording).where(Recording.camera_id == camera_id)).all()
        assert stored and all(r.masked for r in stored), "nothing of this camera recorded in the clear"
