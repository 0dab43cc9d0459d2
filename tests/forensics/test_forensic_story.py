"""The forensic story end to end, on real parts: two RTSP cameras see a red pickup drive past (a white one
and a bystander too); the analytics keep every object they follow, through the bus as a deployment runs;
an investigator finds the red pickup at both cameras by its colour and the area, opens a case with it and
its footage (locked), and exports a signed package with the bystander's face blurred. The command-line
verifier and the self-contained HTML verifier in chromium both accept the package and name the file in a
copy with one byte changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import cv2
import numpy as np
from playwright.sync_api import Browser, expect
from pydantic import SecretStr
from skimage import data
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from conftest import RtspCamera
from safecity import seed
from safecity.analytics import service as analytics
from safecity.analytics.flows import AnalyticsRuntime
from safecity.analytics.schemas import rule_adapter
from safecity.auth import service as auth
from safecity.auth.principal import SYSTEM, Principal
from safecity.cameras.models import Camera
from safecity.cli import app
from safecity.config import Settings, VideoSettings
from safecity.core.bus import MemoryBus
from safecity.core.schemas import Area
from safecity.evidence import service as cases
from safecity.evidence.exports import flows as export_flows
from safecity.evidence.exports import service as exports
from safecity.evidence.exports.schemas import ExportIn
from safecity.evidence.keys import pages as key_pages
from safecity.evidence.keys import service as keys
from safecity.evidence.models import ItemKind
from safecity.evidence.schemas import CaseIn, ItemIn
from safecity.evidence.verify import keyring_document
from safecity.forensics import service as forensics
from safecity.forensics.flows import tracks_from_bus
from safecity.forensics.models import ObjectTrack
from safecity.forensics.schemas import SearchIn
from safecity.org import service as org
from safecity.video.demo import PHOTO, PICKUP, VTEST, scene
from safecity.video.flows import VideoRuntime
from safecity.video.models import Recording

FPS = 10
SECONDS = 12
PURPOSE = "FIR 77/2026: the red pickup seen leaving the bank"
# A rule on each camera makes its analytics run; nothing about the search depends on it.
WATCH = {"kind": "zone_intrusion", "name": "Road", "zone": [[0, 0], [1, 0], [1, 1], [0, 1]], "severity": 0}
BYSTANDER_AT = (470, 40)  # where the bystander's head stands in the gate camera's picture (x, y)
runner = CliRunner()


def _painted_red(vehicle: np.ndarray) -> np.ndarray:
    """The white pickup resprayed red: its pale body paint turned red, glass, tyres and shade kept."""
    hsv = cv2.cvtColor(vehicle, cv2.COLOR_BGR2HSV)
    paint = (hsv[..., 1] < 70) & (hsv[..., 2] > 110)
    hsv[..., 0][paint], hsv[..., 1][paint] = 0, 210
    return np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), dtype=np.uint8)


def _bystander() -> np.ndarray:
    """A passer-by's head and shoulders: scikit-image's astronaut, as BGR."""
    return np.ascontiguousarray(cv2.cvtColor(data.astronaut()[20:200, 150:320], cv2.COLOR_RGB2BGR))


def _clip(
    path: Path, drives: list[tuple[np.ndarray, float, float, float, float]], *, bystander: bool
) -> Path:
    """An H.264 clip of the square (vtest's first frame) with each (vehicle, from x, to x, start s, end s)
    driven across the road at the bottom of the picture, and perhaps a bystander standing by.
    """
    with av.open(str(VTEST)) as source:
        square = next(source.decode(video=0)).to_ndarray(format="bgr24")
    background = np.asarray(cv2.resize(square, (640, 480)), dtype=np.uint8)
    if bystander:
        head = _bystander()
        x, y = BYSTANDER_AT
        background[y : y + head.shape[0], x : x + head.shape[1]] = head
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "g": str(FPS)}
        for n in range(FPS * SECONDS):
            t = n / FPS
            objects = [
                (vehicle, (x0 + (x1 - x0) * (t - t0) / (t1 - t0), 0.97))
                for vehicle, x0, x1, t0, t1 in drives
                if t0 <= t <= t1
            ]
            frame = av.VideoFrame.from_ndarray(scene(background, *objects), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


async def _until(what: Callable[[], object], within: float) -> None:
    start = time.monotonic()
    while not what():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.5)


async def _watch(
    settings: Settings, factory_db: sessionmaker[Session], cameras: dict[uuid.UUID, str]
) -> list[ObjectTrack]:
    """Run the cameras' ingest, recording and analytics (tracks stored from the bus) until the red pickup
    has been kept at both; the objects kept.
    """

    def kept() -> list[ObjectTrack]:
        with factory_db() as session:
            return list(session.scalars(select(ObjectTrack)))

    def seen_red_at_both() -> bool:
        vehicles = {cameras[t.camera_id] for t in kept() if t.colour == "red" and t.class_name != "person"}
        return vehicles == {"gate", "market"}

    bus = MemoryBus()
    await bus.start()
    stop = asyncio.Event()
    store = asyncio.create_task(tracks_from_bus(bus=bus, session_factory=factory_db, stop=stop))
    video = VideoRuntime(settings, factory_db, bus)
    runtime = AnalyticsRuntime(settings, factory_db, bus, video.supervisor)
    await video.start()
    await runtime.start()
    try:
        await _until(seen_red_at_both, 60)
        await asyncio.sleep(2)  # a little footage after the pickup left
    except AssertionError:
        seen = sorted((cameras[t.camera_id], t.class_name, t.colour, t.direction) for t in kept())
        raise AssertionError(f"red vehicles not kept at both cameras; kept {seen}") from None
    finally:
        await runtime.stop()
        await video.stop()
        stop.set()
        await store
        await bus.close()
    return kept()


def _flip_one_byte(package: Path, name: str, copy: Path) -> Path:
    """A copy of the package with one byte of the stored file `name` changed."""
    shutil.copyfile(package, copy)
    with zipfile.ZipFile(copy) as archive:
        info = archive.getinfo(name)
    with copy.open("r+b") as fh:
        fh.seek(info.header_offset + 26)
        name_length, extra_length = (int.from_bytes(fh.read(2), "little") for _ in range(2))
        offset = info.header_offset + 30 + name_length + extra_length + info.file_size // 2
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))
    return copy


def _sharpness(picture: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_a_red_pickup_found_across_cameras_becomes_a_signed_package_both_verifiers_accept(
    rtsp_camera: Callable[..., RtspCamera],
    own_db: tuple[str, sessionmaker[Session]],
    tmp_path: Path,
    chromium: Browser,
) -> None:
    photo = cv2.imread(str(PHOTO))
    assert photo is not None
    white = np.asarray(cv2.resize(photo[PICKUP], None, fx=1.3, fy=1.3), dtype=np.uint8)
    red = _painted_red(white)
    gate_clip = _clip(
        tmp_path / "gate.mp4", [(red, 0.25, 0.75, 1.0, 5.0), (white, 0.25, 0.75, 7.0, 11.0)], bystander=True
    )
    market_clip = _clip(tmp_path / "market.mp4", [(red, 0.75, 0.25, 2.0, 6.0)], bystander=False)
    gate_server, market_server = rtsp_camera(clip=gate_clip), rtsp_camera(clip=market_clip)
    url, factory_db = own_db
    settings = Settings(data_dir=tmp_path, database_url=SecretStr(url), video=VideoSettings(analytics_fps=5))
    with factory_db() as session:
        seed.reference_data(session=session)
        auth.ensure_roles(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        gate = Camera(
            name="Bank gate",
            district_id=district.id,
            latitude=34.010,
            longitude=71.510,
            stream_url=gate_server.url,
        )
        market = Camera(
            name="Market",
            district_id=district.id,
            latitude=34.012,
            longitude=71.514,
            stream_url=market_server.url,
        )
        session.add_all([gate, market])
        session.flush()
        for camera in (gate, market):
            analytics.create_rule(
                session=session,
                principal=Principal(
                    None, "setup", frozenset({"analytics.manage", "cameras.read"}), None, via="system"
                ),
                camera_id=camera.id,
                config=rule_adapter.validate_python(WATCH),
            )
        user = auth.create_user(
            session=session,
            actor=SYSTEM,
            username="inspector.gul",
            password="a long enough passphrase 77",
            roles=["investigator"],
            district_ids=frozenset({district.id}),
        )
        session.commit()
        cameras = {gate.id: "gate", market.id: "market"}
        since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

    # In a thread of its own: the browser's driver already runs an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        tracks = thread.submit(asyncio.run, _watch(settings, factory_db, cameras)).result()

    red_tracks = [t for t in tracks if t.colour == "red" and t.class_name in {"car", "truck"}]
    at_gate = next(t for t in red_tracks if cameras[t.camera_id] == "gate")
    at_market = next(t for t in red_tracks if cameras[t.camera_id] == "market")
    assert at_gate.direction in {"right", "up-right", "down-right"}  # it drove left to right at the gate
    assert at_market.direction in {"left", "up-left", "down-left"}  # and right to left at the market
    assert at_gate.snapshot is not None
    view = cv2.imread(str(settings.snapshots_dir / at_gate.snapshot))
    assert view is not None and view.shape[1] > 100  # the pickup's best view, a real picture
    assert len(at_gate.path) >= 3 and all(0 <= v <= 1 for step in at_gate.path for v in step[1:])
    assert any(t.colour == "white" and cameras[t.camera_id] == "gate" for t in tracks)  # followed, not red

    # The investigator finds it by colour and area (not the white one), and builds a case.
    with factory_db() as session:
        investigator = auth.principal_for(session=session, user=session.merge(user))
        found = forensics.search(
            session=session,
            principal=investigator,
            query=SearchIn(
                purpose=PURPOSE,
                since=since,
                until=dt.datetime.now(dt.UTC),
                area=Area(south=34.0, west=71.5, north=34.02, east=71.52),
                colours=["red"],
                classes=["car", "truck"],
            ),
        )
        assert {h.camera_name for h in found.hits} == {"Bank gate", "Market"}
        assert all(h.colour == "red" for h in found.hits)
        case = cases.create_case(session=session, principal=investigator, data=CaseIn(title="Bank robbery"))
        for hit in found.hits:
            cases.add_item(
                session=session,
                principal=investigator,
                case_id=case.id,
                data=ItemIn(kind=ItemKind.OBJECT_TRACK, ref_id=hit.id, reason="the getaway pickup"),
            )
        footage = cases.add_item(
            session=session,
            principal=investigator,
            case_id=case.id,
            data=ItemIn(
                kind=ItemKind.RECORDING,
                camera_id=gate.id,
                start=at_gate.first_seen - dt.timedelta(seconds=1),
                end=at_gate.last_seen + dt.timedelta(seconds=1),
                reason="the pickup leaving the bank",
            ),
        )
        locked = session.scalars(
            select(Recording).where(Recording.camera_id == gate.id, Recording.locked)
        ).all()
        assert locked  # the footage is under evidence lock
        export = exports.create(
            session=session,
            principal=investigator,
            case_id=case.id,
            data=ExportIn(item_ids=[footage.id], purpose="court file of FIR 77/2026"),
        )
        exports.begin_preparing(session=session, principal=investigator, case_id=case.id, export_id=export.id)
        session.commit()
        case_id, export_id = case.id, export.id

    # The faces found are blurred unless the investigator unticks them: the bystander is one region.
    export_flows.prepare(
        session_factory=factory_db, settings=settings, export_id=export_id, principal=investigator
    )
    with factory_db() as session:
        _, prepared = exports.get(
            session=session, principal=investigator, case_id=case_id, export_id=export_id
        )
        assert prepared.status == "review", prepared.error
        [media] = prepared.media
        faces = [r for r in media["plan"]["tracks"] if r["kind"] == "face"]
        assert len(faces) == 1 and faces[0]["blur"], media["plan"]["tracks"]
        exports.begin_signing(session=session, principal=investigator, case_id=case_id, export_id=export_id)
        keys.signer(session=session, secret_key=settings.secret_key.get_secret_value())  # set up at migrate
        session.commit()
        trusted = keys.trusted_keys(session=session)
    export_flows.sign(
        session_factory=factory_db,
        settings=settings,
        export_id=export_id,
        principal=investigator,
        verifier_html=key_pages.verifier_html(keys=trusted),
    )
    with factory_db() as session:
        _, done = exports.get(session=session, principal=investigator, case_id=case_id, export_id=export_id)
        assert done.status == "ready", done.error
        package = settings.evidence_dir / str(done.package_path)
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        [video] = [f for f in manifest["files"] if f["kind"] == "video"]
        (tmp_path / "redacted.mp4").write_bytes(archive.read(video["name"]))
    with av.open(str(tmp_path / "redacted.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    x, y = BYSTANDER_AT
    head = _bystander()
    face = frame[y + 40 : y + 150, x + 30 : x + 140]
    assert _sharpness(face) < 0.2 * _sharpness(head[40:150, 30:140])  # the bystander cannot be recognised

    # Verified offline against the deployment's published keyring, by the CLI and in chromium.
    keyring = tmp_path / "keys.json"
    keyring.write_text(json.dumps(keyring_document(trusted)))
    tampered = _flip_one_byte(package, video["name"], tmp_path / "tampered.zip")
    good = runner.invoke(app, ["evidence", "verify", str(package), "--keyring", str(keyring)])
    assert good.exit_code == 0, good.output
    bad = runner.invoke(app, ["evidence", "verify", str(tampered), "--keyring", str(keyring)])
    assert bad.exit_code == 1 and f"{video['name']}: SHA-256 differs" in bad.output, bad.output

    verifier = tmp_path / "verify.html"
    verifier.write_text(key_pages.verifier_html(keys=trusted), encoding="utf-8")
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(verifier.as_uri())
        expect(page.locator("#verifier")).to_have_attribute("data-ready", "true")
        page.set_input_files("#package-file", str(package))
        expect(page.locator("#verdict[data-ok]")).to_contain_text(f": {package.name}: ", timeout=30_000)
        expect(page.locator("#verdict")).to_have_attribute("data-ok", "true")
        page.set_input_files("#package-file", str(tampered))
        expect(page.locator("#verdict[data-ok]")).to_contain_text(": tampered.zip: ", timeout=30_000)
        expect(page.locator("#verdict")).to_have_attribute("data-ok", "false")
        expect(page.locator(f'li.check.fail[data-subject="{video["name"]}"]')).to_contain_text(
            "SHA-256 differs"
        )
    finally:
        page.close()
