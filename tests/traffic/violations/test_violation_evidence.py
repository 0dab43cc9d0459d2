"""Evidence packets from a real recording: a pickup truck (from a real photo) drives across a real square,
encoded as H.264 with PyAV and recorded in segments as the recorder does; its violation gets a ±5 s clip
remuxed from those segments, the frames 1 s before, at and after with the truck marked, blurred public
copies, the plate crop, each file's hash, a manifest hashed into the audit log, and a place in the queue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from violation_world import T0, Junction, event, junction, vehicle

from conftest import Factory, feed
from safecity.analytics import snapshots
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import SightingIn
from safecity.audit.models import AuditEntry
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.db import transaction
from safecity.events import service as events
from safecity.events.schemas import EventIn
from safecity.traffic.reviews.models import Suspension
from safecity.traffic.violations import evidence, flows
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import Violation, ViolationStatus
from safecity.video.recorder import SegmentRecorder, segment_indexer

FPS = 10
SECONDS = 20
LANE_Y = 0.62  # the truck's top edge, as a fraction of the height
PLATE = "LEB4321"


@dataclass(frozen=True)
class Drive:
    """The pickup's box (x1, y1, x2, y2) in each frame of the footage."""

    boxes: list[tuple[int, int, int, int]]
    frames: list[np.ndarray]


def drive(scene: np.ndarray, pickup: np.ndarray) -> Drive:
    """The truck crosses the square left to right at a steady pace, one frame every 0.1 s."""
    height, width = scene.shape[:2]
    h, w = pickup.shape[:2]
    top = round(LANE_Y * height)
    frames, boxes = [], []
    for i in range(FPS * SECONDS):
        left = round(0.02 * width + (0.95 * width - w - 0.02 * width) * i / (FPS * SECONDS - 1))
        frame = scene.copy()
        frame[top : top + h, left : left + w] = pickup
        frames.append(frame)
        boxes.append((left, top, left + w, top + h))
    return Drive(boxes, frames)


def encode(path: Path, frames: list[np.ndarray]) -> Path:
    """H.264 at FPS with a key frame every second, as a camera sends it."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(FPS)}
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def record(factory_db: sessionmaker[Session], camera_id: uuid.UUID, source: Path, directory: Path) -> None:
    """Record the footage as one connection starting at T0, in 10 s segments indexed as the worker does."""
    feed(SegmentRecorder(camera_id, directory, 10, segment_indexer(factory_db)), source, T0)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def frame_of(seconds: float) -> int:
    return round(seconds * FPS)


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def canonical_sha256(manifest: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@pytest.fixture
def footage(tmp_path: Path, empty_square: np.ndarray, pickup: np.ndarray) -> tuple[Drive, Path]:
    moving = drive(empty_square, pickup)
    return moving, encode(tmp_path / "camera.mp4", moving.frames)


def sight(
    session: Session,
    place: Junction,
    settings: Settings,
    drive_: Drive,
    track: int,
    seconds: float,
    plate: str | None,
) -> uuid.UUID:
    """The truck's plate read as the ANPR pipeline stores it: its crop and vehicle picture, then the row."""
    sighting_id = uuid.uuid4()
    index = frame_of(seconds)
    x1, y1, x2, y2 = drive_.boxes[index]
    image = drive_.frames[index]
    crop = plates.crop_path(place.camera.id, sighting_id, at(seconds), part="crop")
    picture = plates.crop_path(place.camera.id, sighting_id, at(seconds), part="vehicle")
    snapshots.save(image[y2 - 30 : y2, x1 + 60 : x1 + 160], settings.snapshots_dir, crop)
    snapshots.save(image[y1:y2, x1:x2], settings.snapshots_dir, picture)
    plates.record(
        session=session,
        sighting=SightingIn(
            id=sighting_id,
            camera_id=place.camera.id,
            district_id=place.camera.district_id,
            seen_at=at(seconds),
            first_seen=at(seconds - 4),
            last_seen=at(seconds + 3),
            plate=plate,
            confidence=0.87,
            alternatives=[{"text": "LEB4327", "confidence": 0.41}],
            layout="pk-punjab",
            jurisdiction="PB",
            vehicle_class="truck",
            colour="white",
            track_id=track,
            crop=crop,
            snapshot=picture,
        ),
    )
    return sighting_id


def test_a_violation_gets_its_packet_from_the_recording_and_joins_the_queue(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings, footage: tuple[Drive, Path]
) -> None:
    _, factory_db = own_db
    moving, source = footage
    height, width = moving.frames[0].shape[:2]
    offence_s, clock_error_s = 8.0, 0.6  # the analytics' clock is 0.6 s ahead of the recording's
    with transaction(factory_db) as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        place = junction(session, district.id)
    record(factory_db, place.camera.id, source, settings.recordings_dir)
    # The event as the analytics store it: its snapshot (the frame, boxes drawn) and its objects.
    box = list(moving.boxes[frame_of(offence_s)])
    snapshot = snapshots.relative_path(place.camera.id, uuid.uuid4(), at(offence_s))
    drawn = moving.frames[frame_of(offence_s)].copy()
    cv2.rectangle(drawn, tuple(box[:2]), tuple(box[2:]), (0, 0, 255), 2)
    snapshots.save(drawn, settings.snapshots_dir, snapshot)
    bystander = [30, 40, 90, 200]
    out = event(
        place.camera,
        place.wrong_way,
        "wrong_way",
        at(offence_s + clock_error_s),
        [vehicle(7, box, cls="truck"), vehicle(8, bystander, cls="person")],
        {"angle_deg": 178},
        snapshot=snapshot,
        frame_size=(width, height),
    )
    with transaction(factory_db) as session:
        events.record_many(session=session, events=[EventIn.model_validate(out.model_dump())])
        (made,) = violations.from_event(session=session, event=out, max_signal_age_s=300)
        sighting_id = sight(session, place, settings, moving, 7, offence_s, PLATE)
        violation_id = made.id

    assembler = flows.EvidenceAssembler(settings, factory_db)
    # Before the clip's end is recorded... (the recording is there, but so early nothing is due)
    assert assembler.assemble_due(now=at(offence_s + clock_error_s + 2)) == 0
    assert assembler.assemble_due(now=at(30)) == 1
    assert assembler.assemble_due(now=at(31)) == 0  # queued once

    with factory_db() as session:
        row = session.get_one(Violation, violation_id)
        manifest = row.evidence
        assert row.status == ViolationStatus.PENDING
        assert row.sighting_id == sighting_id and row.plate_read == PLATE and row.plate_confidence == 0.87
        assert session.get_one(Sighting, sighting_id).hold == "violation"  # kept past the plates' retention
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "traffic.violation.evidence", AuditEntry.object_id == str(violation_id)
            )
        ).one()
    assert row.evidence_sha256 == canonical_sha256(manifest) == entry.detail["sha256"]
    assert manifest["version"] == 2 and manifest["complete"] is True and manifest["missing"] == []
    roles = {f["role"]: f for f in manifest["files"]}
    assert set(roles) == {"before", "at", "after", "plate", "clip"}
    folder = f"{place.camera.id}/{T0:%Y-%m-%d}/{violation_id}"
    for entry_ in manifest["files"]:
        path = settings.evidence_dir / entry_["path"]
        assert entry_["path"].startswith(folder + "/")
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry_["sha256"] and len(data) == entry_["size"]
        assert entry_["type"] == ("video/mp4" if entry_["role"] == "clip" else "image/jpeg")
    assert manifest["read"] == {
        "plate": PLATE,
        "confidence": 0.87,
        "alternatives": [{"text": "LEB4327", "confidence": 0.41}],
    }
    assert manifest["camera"]["id"] == str(place.camera.id) and manifest["camera"]["latitude"] == 34.01
    assert manifest["time"]["occurred_at"] == at(offence_s + clock_error_s).isoformat()
    assert (
        manifest["rule"]["offence"] == "wrong_way"
        and manifest["rule"]["analytics_rule"]["kind"] == "wrong_way"
    )

    # The clip: the recording from the key frame at or before -5 s to +5 s, every frame decodable.
    clip = settings.evidence_dir / roles["clip"]["path"]
    with av.open(str(clip)) as container:
        decoded = list(container.decode(video=0))
    assert 95 <= len(decoded) <= 115, len(decoded)
    assert decoded[0].key_frame and (decoded[0].width, decoded[0].height) == (width, height)
    measured = manifest["measured"]
    start = dt.datetime.fromisoformat(measured["clip"]["start"])
    assert start <= at(offence_s + clock_error_s - 5) and start > at(offence_s + clock_error_s - 6)
    # The frame at the offence is the snapshot's, though the clocks disagree; the truck is followed 1 s
    # either side and marked where it really was.
    frames = measured["frames"]
    assert measured["aligned"] is True
    assert dt.datetime.fromisoformat(frames["at"]["at"]) == at(offence_s)
    assert frames["at"]["box"] == box
    for role, seconds in (("before", offence_s - 1), ("after", offence_s + 1)):
        assert dt.datetime.fromisoformat(frames[role]["at"]) == at(seconds)
        expected = moving.boxes[frame_of(seconds)]
        assert frames[role]["box"] is not None and frames[role]["match"] >= 0.5, frames[role]
        assert all(abs(a - b) <= 12 for a, b in zip(frames[role]["box"], expected, strict=True)), (
            frames[role],
            expected,
        )
    # The frames are the recording's, marked; the public copies (made when a challan is issued) blur all
    # but the truck, from the marked frames as they were stored.
    copies = {f["role"]: f for f in evidence.write_public_copies(manifest, settings.evidence_dir)}
    assert set(copies) == {"public_before", "public_at", "public_after"}
    for entry_ in copies.values():
        assert entry_["path"].startswith(folder + "/public/")
        assert (
            hashlib.sha256((settings.evidence_dir / entry_["path"]).read_bytes()).hexdigest()
            == entry_["sha256"]
        )
    at_image = cv2.imread(str(settings.evidence_dir / roles["at"]["path"]))
    public = cv2.imread(str(settings.evidence_dir / copies["public_at"]["path"]))
    assert at_image is not None and public is not None
    x1, y1, x2, y2 = box
    truth = moving.frames[frame_of(offence_s)]
    inside = (slice(y1 + 6, y2 - 6), slice(x1 + 6, x2 - 6))
    assert np.abs(at_image[inside].astype(int) - truth[inside].astype(int)).mean() < 12
    assert np.abs(public[inside].astype(int) - truth[inside].astype(int)).mean() < 12
    assert tuple(int(c) for c in at_image[y1, (x1 + x2) // 2]) != tuple(
        int(c) for c in truth[y1, (x1 + x2) // 2]
    )  # marked
    bx1, by1, bx2, by2 = bystander
    assert sharpness(public[by1:by2, bx1:bx2]) < 0.2 * sharpness(truth[by1:by2, bx1:bx2])
    assert sharpness(public[: y1 - 10]) < 0.2 * sharpness(truth[: y1 - 10])
    crop = cv2.imread(str(settings.evidence_dir / roles["plate"]["path"]))
    assert crop is not None and crop.shape[:2] == (30, 100)


def test_a_speed_violation_without_a_box_finds_its_vehicle_by_the_plate_reads_picture(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings, footage: tuple[Drive, Path]
) -> None:
    _, factory_db = own_db
    moving, source = footage
    with transaction(factory_db) as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        place = junction(session, district.id)
        rule = place.wrong_way_rule
        made = violations.create_violation(
            session=session,
            source_key=f"speed:test:{uuid.uuid4()}",
            rule=rule,
            camera=place.camera,
            occurred_at=at(12),
            measured={"speed_kmh": 71.0},
            track_id=3,
            detected_class="truck",
        )
        assert made is not None
        sight(session, place, settings, moving, 3, 10.5, PLATE)  # read 1.5 s before, where it was then
        violation_id = made.id
    record(factory_db, place.camera.id, source, settings.recordings_dir)
    assert flows.EvidenceAssembler(settings, factory_db).assemble_due(now=at(40)) == 1
    with factory_db() as session:
        row = session.get_one(Violation, violation_id)
    frames = row.evidence["measured"]["frames"]
    assert row.evidence["measured"]["aligned"] is False and row.evidence["complete"] is True
    for role, seconds in (("before", 11), ("at", 12), ("after", 13)):
        expected = moving.boxes[frame_of(seconds)]
        assert frames[role]["box"] is not None, frames
        assert all(abs(a - b) <= 15 for a, b in zip(frames[role]["box"], expected, strict=True)), (
            role,
            frames[role],
            expected,
        )


def test_without_a_recording_the_packet_waits_then_goes_incomplete_and_a_suspended_camera_is_withheld(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings, footage: tuple[Drive, Path]
) -> None:
    _, factory_db = own_db
    moving, source = footage
    with transaction(factory_db) as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        unrecorded, suspended = junction(session, district.id), junction(session, district.id)
        session.add(Suspension(camera_id=suspended.camera.id, precision=0.5, decided=40))
        lost = violations.from_event(
            session=session,
            event=event(
                unrecorded.camera, unrecorded.wrong_way, "wrong_way", at(8), [vehicle(1, [1, 1, 50, 50])]
            ),
            max_signal_age_s=300,
        )[0]
        held = violations.from_event(
            session=session,
            event=event(
                suspended.camera,
                suspended.wrong_way,
                "wrong_way",
                at(8),
                [vehicle(2, list(moving.boxes[80]))],
            ),
            max_signal_age_s=300,
        )[0]
        lost_id, held_id = lost.id, held.id
    record(factory_db, suspended.camera.id, source, settings.recordings_dir)
    assembler = flows.EvidenceAssembler(settings, factory_db)
    wait_s = settings.challans.evidence_wait_s
    # The suspended camera's is built (its plate is waited for, up to the bound), the unrecorded one waits.
    assert assembler.assemble_due(now=at(20)) == 0
    assert assembler.assemble_due(now=at(8 + settings.challans.evidence_plate_wait_s + 1)) == 1
    with factory_db() as session:
        assert session.get_one(Violation, lost_id).status == ViolationStatus.COLLECTING
        withheld = session.get_one(Violation, held_id)
    assert withheld.status == ViolationStatus.WITHHELD
    assert withheld.evidence["missing"] == ["plate"] and withheld.evidence["complete"] is False
    assert withheld.evidence["read"]["plate"] is None
    assert assembler.assemble_due(now=at(8 + wait_s + 1)) == 1
    with factory_db() as session:
        incomplete = session.get_one(Violation, lost_id)
    assert incomplete.status == ViolationStatus.PENDING and incomplete.evidence["complete"] is False
    assert set(incomplete.evidence["missing"]) == {"before", "at", "after", "plate", "clip"}
    assert incomplete.evidence_sha256 == canonical_sha256(incomplete.evidence)
