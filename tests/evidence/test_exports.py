"""Evidence exports end to end over HTTP: a case with a camera's recorded footage (the astronaut's head
walking past a pickup with a rendered plate, encoded with PyAV and cut by the recorder into 2-second
segments) exported with its faces and plates found, a blur removed, the package signed, downloaded and
verified with the deployment's key; the originals only after a second person approves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import threading
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from redaction_media import ASTRONAUT_FACE, PLATE_AT, astronaut, true_face, walking_frames, write_walk
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory, add_camera, record
from safecity.audit.models import AuditEntry
from safecity.auth.models import User
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core import lanes
from safecity.core.db import utcnow
from safecity.core.lanes import Lane
from safecity.events.models import Event
from safecity.evidence import service as cases
from safecity.evidence.exports import flows
from safecity.evidence.exports import service as exports
from safecity.evidence.exports.models import EvidenceExport, ExportStatus
from safecity.evidence.exports.schemas import ExportIn
from safecity.evidence.keys import service as keys
from safecity.evidence.models import CustodyAction, ItemKind
from safecity.evidence.schemas import CaseIn, ItemIn
from safecity.evidence.verify import verify
from safecity.org.models import District
from safecity.video.demo import FONT, PHOTO
from safecity.video.recorder import SegmentInfo

pytestmark = pytest.mark.skipif(not (PHOTO.is_file() and FONT.is_file()), reason="darknet/dejavu missing")

T0 = dt.datetime(2026, 11, 22, 5, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_walk(tmp_path_factory.mktemp("walk") / "walk.mp4")


@dataclass
class Scene:
    """A case of district A with a recording item over the camera's recorded segments."""

    district: District
    investigator: User
    supervisor: User
    camera: Camera
    case_id: uuid.UUID
    item_id: uuid.UUID
    segments: list[SegmentInfo]


@pytest.fixture
def scene(session: Session, factory: Factory, settings: Settings, walk: Path) -> Scene:
    district = factory.district()
    investigator = factory.user("investigator", districts=[district])
    supervisor = factory.user("supervisor", districts=[district])
    camera = add_camera(session, district.id, name="Saddar Chowk 3")
    infos = record(session, camera, settings.recordings_dir, walk, T0)
    principal = factory.principal(investigator)
    case = cases.create_case(session=session, principal=principal, data=CaseIn(title="Snatching at Saddar"))
    item = cases.add_item(
        session=session,
        principal=principal,
        case_id=case.id,
        data=ItemIn(
            kind=ItemKind.RECORDING,
            camera_id=camera.id,
            start=T0,
            end=T0 + dt.timedelta(seconds=4),
            reason="the snatching",
        ),
    )
    session.commit()
    return Scene(district, investigator, supervisor, camera, case.id, item.id, infos)


def _export(client: TestClient, scene: Scene, **extra: object) -> dict[str, object]:
    created = client.post(
        f"/api/v1/cases/{scene.case_id}/exports",
        json={"item_ids": [str(scene.item_id)], "purpose": "court file FIR 112/26", **extra},
    )
    assert created.status_code == 201, created.text
    # the preparation ran after the answer (in the request's thread here: lanes_inline)
    got = client.get(f"/api/v1/cases/{scene.case_id}/exports/{created.json()['id']}")
    assert got.status_code == 200, got.text
    body: dict[str, object] = got.json()
    return body


def _sharpness(picture: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def _actions(session: Session, prefix: str) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.seq)
        )
    )


@pytest.mark.usefixtures("lanes_inline")  # prepared and signed within the request
def test_an_export_is_prepared_reviewed_signed_downloaded_and_verifies(
    session: Session, scene: Scene, login_as: object, tmp_path: Path
) -> None:
    client = login_as(scene.investigator)  # type: ignore[operator]
    export = _export(client, scene)
    assert export["status"] == "review", export
    assert len(scene.segments) == 2
    [media] = export["media"]  # type: ignore[misc]
    faces = [r for r in media["regions"] if r["kind"] == "face"]
    plates = [r for r in media["regions"] if r["kind"] == "plate"]
    assert faces and plates and all(r["blur"] for r in media["regions"])
    walking = max(faces, key=lambda r: r["end"] - r["start"])
    assert walking["end"] - walking["start"] >= 3.5  # one region followed across the footage
    base = f"/api/v1/cases/{scene.case_id}/exports/{export['id']}"

    # the review page shows each region with its blur toggle, and keyframes with the boxes drawn
    page = client.get(f"/cases/{scene.case_id}/exports/{export['id']}")
    assert page.status_code == 200 and page.text.count('data-testid="region"') == len(media["regions"])
    frame = client.get(f"{base}/media/{media['key']}/preview.jpg", params={"t": walking["key_t"]})
    assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"

    # the plate is the suspect's: its blur is removed; a box is added by hand over the first second
    toggled = client.post(
        f"{base}/blur", json={"media": media["key"], "region": plates[0]["id"], "blur": False}
    )
    assert toggled.status_code == 200, toggled.text
    manual = client.post(
        f"{base}/manual", json={"media": media["key"], "x": 10, "y": 10, "w": 80, "h": 60, "end": 1}
    )
    assert manual.status_code == 201, manual.text
    regions = {r["id"]: r for r in manual.json()["media"][0]["regions"]}
    assert regions[plates[0]["id"]]["blur"] is False and regions["m1"]["blur"] is True

    signed = client.post(f"{base}/sign")
    assert signed.status_code == 202, signed.text
    done = client.get(base).json()
    assert done["status"] == "ready", done
    download = client.get(f"{base}/package")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    package = tmp_path / "package.zip"
    package.write_bytes(download.content)
    session.expire_all()
    report = verify(package, keys.trusted_keys(session=session))
    assert report.ok, [c.message for c in report.checks if not c.ok]
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = archive.namelist()
    [listed] = manifest["files"]  # the redacted copy only: no originals without an approval
    assert listed["name"].endswith("/redacted.mp4") and listed["redacted_from"] == media["sha256"]
    assert [s["sha256"] for s in listed["source_segments"]] == [s.sha256 for s in scene.segments]
    assert not any("/original" in n for n in names)
    with zipfile.ZipFile(package) as archive:
        (tmp_path / "redacted.mp4").write_bytes(archive.read(listed["name"]))
    with av.open(str(tmp_path / "redacted.mp4")) as container:
        redacted = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    frames = walking_frames()
    assert len(redacted) == len(frames)
    for i in (5, 20, 35):  # the walking face blurred; the plate (its blur removed) as sharp as recorded
        x, y, w, h = true_face(i)
        face = (slice(y + 15, y + h - 15), slice(x + 15, x + w - 15))
        assert _sharpness(redacted[i][face]) < 0.1 * _sharpness(frames[i][face]), i
    px, py = PLATE_AT
    plate = (slice(py + 5, py + 40), slice(px + 10, px + 200))
    assert _sharpness(redacted[5][plate]) > 0.5 * _sharpness(frames[5][plate])
    assert done["sha256"] == hashlib.sha256(download.content).hexdigest()

    # custody: exported (per item) and downloaded; audit: the export with the package's hash
    lines = cases.custody(session=session, case_id=scene.case_id)
    assert [line.action for line in lines][-2:] == [CustodyAction.EXPORTED, CustodyAction.DOWNLOADED]
    assert lines[-2].item_id == scene.item_id and lines[-1].detail["sha256"] == done["sha256"]
    [entry] = [a for a in _actions(session, "evidence.export") if a.action == "evidence.export"]
    assert entry.detail["sha256"] == done["sha256"] and entry.actor_id == scene.investigator.id
    assert _actions(session, "evidence.downloaded") and _actions(session, "evidence.exported")
    assert {a.detail.get("blur") for a in _actions(session, "evidence.export.redaction")} >= {False}


@pytest.mark.usefixtures("lanes_inline")  # prepared and signed within the request
def test_originals_need_a_second_persons_approval(
    session: Session, scene: Scene, factory: Factory, login_as: object
) -> None:
    investigator = login_as(scene.investigator)  # type: ignore[operator]
    export = _export(
        investigator, scene, unredacted=True, unredacted_reason="the court asked for the originals"
    )
    assert export["status"] == "review"
    base = f"/api/v1/cases/{scene.case_id}/exports/{export['id']}"

    refused = investigator.post(f"{base}/sign")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "unredacted_not_approved"
    not_allowed = investigator.post(f"{base}/approve", json={"reason": "I need them"})
    assert not_allowed.status_code == 403

    # one who holds both rights still cannot approve an export they asked for
    both = factory.user("investigator", "supervisor", districts=[scene.district])
    both_client = login_as(both)  # type: ignore[operator]
    own = _export(both_client, scene, unredacted=True, unredacted_reason="the court asked for the originals")
    self_approval = both_client.post(
        f"/api/v1/cases/{scene.case_id}/exports/{own['id']}/approve", json={"reason": "approving my own"}
    )
    assert self_approval.status_code == 403 and self_approval.json()["error"]["code"] == "self_approval"
    denied = [a for a in _actions(session, "access.denied") if a.detail.get("code") == "self_approval"]
    assert denied and denied[-1].actor_id == both.id

    supervisor = login_as(scene.supervisor)  # type: ignore[operator]
    approved = supervisor.post(f"{base}/approve", json={"reason": "court order 45/2026 seen"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == str(scene.supervisor.id)
    assert _actions(session, "evidence.unredacted.approve")[-1].purpose == "court order 45/2026 seen"

    assert investigator.post(f"{base}/sign").status_code == 202
    assert investigator.get(base).json()["status"] == "ready"
    package = investigator.get(f"{base}/package")
    with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    originals = [f for f in manifest["files"] if "/original/" in f["name"]]
    assert sorted(f["sha256"] for f in originals) == sorted(s.sha256 for s in scene.segments)
    entry = [a for a in _actions(session, "evidence.export") if a.action == "evidence.export"][-1]
    assert entry.detail["unredacted"] is True and entry.detail["approved_by"] == str(scene.supervisor.id)


def test_exports_are_hidden_outside_the_case_and_refused_without_the_right(
    session: Session, scene: Scene, factory: Factory, login_as: object
) -> None:
    outsider = factory.user("investigator", districts=[factory.district()])
    client = login_as(outsider)  # type: ignore[operator]
    body = {"item_ids": [str(scene.item_id)], "purpose": "curious"}
    assert client.post(f"/api/v1/cases/{scene.case_id}/exports", json=body).status_code == 404
    operator = factory.user("operator", districts=[scene.district])
    assert login_as(operator).post(f"/api/v1/cases/{scene.case_id}/exports", json=body).status_code == 403  # type: ignore[operator]
    session.expire_all()
    assert session.scalars(select(EvidenceExport)).all() == []


@pytest.mark.usefixtures("lanes_inline")  # prepared and signed within the request
def test_the_pages_list_exports_and_offer_the_form(scene: Scene, login_as: object) -> None:
    client = login_as(scene.investigator)  # type: ignore[operator]
    page = client.get(f"/cases/{scene.case_id}/exports")
    assert page.status_code == 200 and 'data-testid="export-form"' in page.text
    created = client.post(
        f"/cases/{scene.case_id}/exports",
        data={"item_ids": [str(scene.item_id)], "purpose": "court file FIR 112/26"},
        headers={"HX-Request": "true"},
    )
    assert created.status_code == 204 and created.headers["HX-Redirect"].startswith(
        f"/cases/{scene.case_id}/exports/"
    )
    export_page = client.get(created.headers["HX-Redirect"])
    assert export_page.status_code == 200 and 'data-status="review"' in export_page.text
    assert 'data-testid="sign"' in export_page.text
    # the page's toggle (htmx) removes a region's blur; the progress poll asks for a reload once done
    url = created.headers["HX-Redirect"]
    export = client.get(f"/api/v1/cases/{scene.case_id}/exports/{url.rsplit('/', 1)[1]}").json()
    region = export["media"][0]["regions"][0]
    toggled = client.post(
        f"{url}/blur",
        data={"media": export["media"][0]["key"], "region": region["id"], "blur": "0"},
        headers={"HX-Request": "true"},
    )
    assert toggled.status_code == 204 and toggled.headers["HX-Redirect"] == url
    after = client.get(f"/api/v1/cases/{scene.case_id}/exports/{export['id']}").json()
    assert after["media"][0]["regions"][0]["blur"] is False
    poll = client.get(f"{url}/progress")
    assert poll.status_code == 204 and poll.headers["HX-Refresh"] == "true"


@pytest.mark.usefixtures("lanes_inline")  # prepared and signed within the request
def test_an_events_picture_is_exported_with_the_face_blurred(
    session: Session, scene: Scene, factory: Factory, settings: Settings, login_as: object, tmp_path: Path
) -> None:
    relative = "events/astronaut.jpg"
    (settings.snapshots_dir / "events").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(settings.snapshots_dir / relative), astronaut())
    before = hashlib.sha256((settings.snapshots_dir / relative).read_bytes()).hexdigest()
    event = Event(
        id=uuid.uuid4(),
        occurred_at=T0,
        kind="loitering",
        source="test",
        district_id=scene.district.id,
        camera_id=scene.camera.id,
        severity=2,
        payload={"snapshot": relative},
    )
    session.add(event)
    session.flush()
    item = cases.add_item(
        session=session,
        principal=factory.principal(scene.investigator),
        case_id=scene.case_id,
        data=ItemIn(kind=ItemKind.EVENT, ref_id=event.id, reason="the loiterer"),
    )
    session.commit()
    client = login_as(scene.investigator)  # type: ignore[operator]
    created = client.post(
        f"/api/v1/cases/{scene.case_id}/exports", json={"item_ids": [str(item.id)], "purpose": "FIR 113/26"}
    )
    base = f"/api/v1/cases/{scene.case_id}/exports/{created.json()['id']}"
    export = client.get(base).json()
    [media] = export["media"]
    assert media["kind"] == "image" and media["sha256"] == before
    assert [r["kind"] for r in media["regions"]] == ["face"]
    assert client.post(f"{base}/sign").status_code == 202
    package = tmp_path / "event.zip"
    package.write_bytes(client.get(f"{base}/package").content)
    session.expire_all()
    assert verify(package, keys.trusted_keys(session=session)).ok
    with zipfile.ZipFile(package) as archive:
        [listed] = json.loads(archive.read("manifest.json"))["files"]
        picture = cv2.imdecode(np.frombuffer(archive.read(listed["name"]), np.uint8), cv2.IMREAD_COLOR)
    assert listed["kind"] == "image" and listed["redacted_from"] == before
    x, y, w, h = ASTRONAUT_FACE
    original = astronaut()

    def sharpness(image: np.ndarray) -> float:
        gray = cv2.cvtColor(image[y + 20 : y + h - 20, x + 15 : x + w - 15], cv2.COLOR_BGR2GRAY)
        return float(cv2.Laplacian(gray, cv2.CV_64F).var())

    assert sharpness(picture) < 0.05 * sharpness(original)
    assert hashlib.sha256((settings.snapshots_dir / relative).read_bytes()).hexdigest() == before


def test_a_work_dir_is_per_export(settings: Settings) -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    assert exports.work_dir(settings.evidence_dir, one) != exports.work_dir(settings.evidence_dir, two)


def _abandoned(session: Session, factory: Factory, scene: Scene, **data: object) -> uuid.UUID:
    """An export marked preparing and committed, whose preparation never ran (its process went away)."""
    principal = factory.principal(scene.investigator)
    body = ExportIn(item_ids=[scene.item_id], purpose="court file FIR 112/26", **data)  # type: ignore[arg-type]
    export = exports.create(session=session, principal=principal, case_id=scene.case_id, data=body)
    exports.begin_preparing(session=session, principal=principal, case_id=scene.case_id, export_id=export.id)
    session.commit()
    return export.id


def test_at_start_up_another_nodes_live_export_is_left_alone_and_a_silent_ones_failed(
    session: Session, session_factory: sessionmaker[Session], scene: Scene, factory: Factory
) -> None:
    live, silent = _abandoned(session, factory, scene), _abandoned(session, factory, scene)
    long_ago = utcnow() - lanes.STALE - dt.timedelta(seconds=1)
    for export_id, heartbeat in ((live, utcnow()), (silent, long_ago)):
        session.execute(
            update(EvidenceExport)
            .where(EvidenceExport.id == export_id)
            .values(runner="another-node:4242", heartbeat=heartbeat)
        )
    session.commit()
    assert exports.fail_abandoned(session_factory) == 1
    session.expire_all()
    assert session.get(EvidenceExport, live).status == ExportStatus.PREPARING  # type: ignore[union-attr]
    assert session.get(EvidenceExport, silent).status == ExportStatus.FAILED  # type: ignore[union-attr]


@pytest.mark.usefixtures("lanes_inline")
def test_an_export_left_preparing_fails_at_start_up_and_is_retried_by_whoever_may_prepare_it(
    session: Session, session_factory: sessionmaker[Session], scene: Scene, factory: Factory, login_as: object
) -> None:
    export_id = _abandoned(session, factory, scene)
    assert exports.fail_abandoned(session_factory) == 1
    session.expire_all()
    failed = session.get(EvidenceExport, export_id)
    assert failed is not None and failed.status == ExportStatus.FAILED
    assert failed.error == "the server restarted while it was being prepared; retry"
    url = f"/api/v1/cases/{scene.case_id}/exports/{export_id}/retry"

    # retrying needs what preparing needs: the right, and the case's district
    outsider = factory.user("investigator", districts=[factory.district()])
    assert login_as(outsider).post(url).status_code == 404  # type: ignore[operator]
    operator = factory.user("operator", districts=[scene.district])
    assert login_as(operator).post(url).status_code == 403  # type: ignore[operator]
    session.expire_all()
    assert session.get(EvidenceExport, export_id).status == ExportStatus.FAILED  # type: ignore[union-attr]

    client = login_as(scene.investigator)  # type: ignore[operator]
    page = client.get(f"/cases/{scene.case_id}/exports/{export_id}")
    assert 'data-testid="export-error"' in page.text and 'data-testid="retry"' in page.text
    retried = client.post(url)
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "preparing" and retried.json()["stage"] == "queued"
    assert client.get(url.removesuffix("/retry")).json()["status"] == "review"
    [entry] = _actions(session, "evidence.export.retry")
    assert entry.actor_id == scene.investigator.id and entry.detail["step"] == "preparing"
    assert entry.detail["error"] == "the server restarted while it was being prepared; retry"
    again = client.post(url)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_failed"


@pytest.mark.usefixtures("lanes_inline")
def test_a_signing_cut_short_is_retried_with_its_review_and_approval_kept(
    session: Session,
    session_factory: sessionmaker[Session],
    scene: Scene,
    factory: Factory,
    login_as: object,
) -> None:
    client = login_as(scene.investigator)  # type: ignore[operator]
    export = _export(client, scene, unredacted=True, unredacted_reason="the court asked for the originals")
    base = f"/api/v1/cases/{scene.case_id}/exports/{export['id']}"
    region = export["media"][0]["regions"][0]  # type: ignore[index]
    assert client.post(f"{base}/blur", json={"media": "m1", "region": region["id"], "blur": False}).is_success
    supervisor = login_as(scene.supervisor)  # type: ignore[operator]
    assert supervisor.post(f"{base}/approve", json={"reason": "court order 45/2026 seen"}).is_success
    principal = factory.principal(scene.investigator)
    exports.begin_signing(
        session=session, principal=principal, case_id=scene.case_id, export_id=uuid.UUID(str(export["id"]))
    )
    session.commit()  # marked exporting; the process signing it goes away

    assert exports.fail_abandoned(session_factory) == 1
    failed = client.get(base).json()
    assert (
        failed["status"] == "failed"
        and failed["error"] == "the server restarted while it was being signed; retry"
    )
    retried = client.post(f"{base}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "exporting"
    done = client.get(base).json()
    assert done["status"] == "ready" and done["approved_by"] == str(scene.supervisor.id)
    assert done["media"][0]["regions"][0]["blur"] is False  # the review kept
    assert _actions(session, "evidence.export.retry")[-1].detail["step"] == "exporting"
    signed = [a for a in _actions(session, "evidence.export") if a.action == "evidence.export"][-1]
    assert signed.detail["unredacted"] is True and signed.detail["approved_by"] == str(scene.supervisor.id)


def test_exports_wait_their_turn_one_at_a_time(
    session: Session, scene: Scene, login_as: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked for while another export runs, an export is answered at once and shown queued; the lane then
    runs them one after the other (video.exports_at_once = 1), never two at once."""
    lane = Lane("export-test")
    submit = lane.submit
    ran: list[str] = []
    futures: list[Future[None]] = []

    def recorded(work: Callable[[], None], *, at_once: int = 1) -> Future[None]:
        number = str(len(futures))

        def run() -> None:
            ran.append(f"start {number}")
            work()
            ran.append(f"end {number}")

        futures.append(submit(run, at_once=at_once))
        return futures[-1]

    monkeypatch.setattr(lane, "submit", recorded)
    monkeypatch.setattr(flows, "EXPORTS", lane)
    gate = threading.Event()

    def before() -> None:  # the export before them, still running
        gate.wait(30)

    lane.submit(before)
    client = login_as(scene.investigator)  # type: ignore[operator]
    body = {"item_ids": [str(scene.item_id)], "purpose": "court file FIR 112/26"}
    created = [client.post(f"/api/v1/cases/{scene.case_id}/exports", json=body) for _ in range(2)]
    assert [c.status_code for c in created] == [201, 201]
    for answer in created:
        got = client.get(f"/api/v1/cases/{scene.case_id}/exports/{answer.json()['id']}").json()
        assert (got["status"], got["stage"]) == ("preparing", "queued")
    poll = client.get(f"/cases/{scene.case_id}/exports/{created[0].json()['id']}/progress")
    assert "Queued: it starts when the exports before it are done" in poll.text

    gate.set()  # the lane's thread alone uses the test's connection from here until the futures are done
    for future in futures:
        future.result(timeout=120)
    assert ran == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]
    for answer in created:
        got = client.get(f"/api/v1/cases/{scene.case_id}/exports/{answer.json()['id']}").json()
        assert got["status"] == "review", got
