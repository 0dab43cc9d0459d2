"""Evidence packets built in bursts: a camera's violations close in time share the reading and decoding of
their recording (a real H.264 recording with B-frames, made by the recorder), and each gets the very packet
it gets when built on its own: every file, and so every hash in the manifest, the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_violation_evidence import FPS, PLATE, Drive, at, drive, frame_of, record, sight
from violation_world import T0, Junction, event, junction, vehicle

from conftest import Factory
from safecity.analytics import snapshots
from safecity.audit.models import AuditEntry
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.db import READ_ONLY, transaction
from safecity.events import service as events
from safecity.events.schemas import EventIn
from safecity.traffic.violations import evidence, flows
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import Offence, Violation, ViolationStatus
from safecity.traffic.violations.service import EvidencePlan

CLIP_S = 5.0
NOW = at(200)  # past every wait: each packet is built with what there is


def encode_with_b_frames(path: Path, frames: list[np.ndarray]) -> Path:
    """H.264 as many cameras send it, B-frames included (frames decoded out of their order), a key frame
    every second.
    """
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "veryfast", "g": str(FPS), "bf": "2"}
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def canonical_sha256(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def crossing(
    session: Session, place: Junction, settings: Settings, moving: Drive, seconds: float, track: int
) -> uuid.UUID:
    """A wrong-way event stored as the analytics store it (its snapshot with the box drawn; the
    analytics' clock 0.4 s ahead of the recording's), and its violation.
    """
    height, width = moving.frames[0].shape[:2]
    box = list(moving.boxes[frame_of(seconds)])
    snapshot = snapshots.relative_path(place.camera.id, uuid.uuid4(), at(seconds))
    drawn = moving.frames[frame_of(seconds)].copy()
    cv2.rectangle(drawn, tuple(box[:2]), tuple(box[2:]), (0, 0, 255), 2)
    snapshots.save(drawn, settings.snapshots_dir, snapshot)
    out = event(
        place.camera,
        place.wrong_way,
        "wrong_way",
        at(seconds + 0.4),
        [vehicle(track, box, cls="truck"), vehicle(900 + track, [30, 40, 90, 200], cls="person")],
        {"angle_deg": 175},
        snapshot=snapshot,
        frame_size=(width, height),
    )
    events.record_many(session=session, events=[EventIn.model_validate(out.model_dump())])
    (made,) = violations.from_event(session=session, event=out, max_signal_age_s=300)
    sight(session, place, settings, moving, track, seconds, PLATE)
    return made.id


def plans_of(factory_db: sessionmaker[Session], ids: list[uuid.UUID]) -> list[EvidencePlan]:
    with factory_db() as session:
        session.connection(execution_options=READ_ONLY)
        found = [
            violations.plan_evidence(
                session=session, violation_id=i, now=NOW, clip_s=CLIP_S, wait_s=120, plate_wait_s=60
            )
            for i in ids
        ]
    assert all(p is not None for p in found)
    return [p for p in found if p is not None]


def built(settings: Settings, plans: list[EvidencePlan], out: Path, **options: int) -> dict[uuid.UUID, Any]:
    done = evidence.build_burst(
        plans,
        recordings_dir=settings.recordings_dir,
        snapshots_dir=settings.snapshots_dir,
        evidence_dir=out,
        clip_s=CLIP_S,
        **options,
    )
    return {b.plan.violation_id: b.manifest for b in done}


def test_a_burst_shares_one_decoding_and_gives_the_packets_built_one_at_a_time(
    own_db: tuple[str, sessionmaker[Session]],
    settings: Settings,
    tmp_path: Path,
    empty_square: np.ndarray,
    pickup: np.ndarray,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, factory_db = own_db
    moving = drive(empty_square, pickup)
    source = encode_with_b_frames(tmp_path / "camera.mp4", moving.frames)
    with transaction(factory_db) as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        place = junction(session, district.id)
    record(factory_db, place.camera.id, source, settings.recordings_dir)
    # A burst: crossings 0.5 to 2 s apart, over a segment boundary (segments are 10 s), plus one without a
    # snapshot (not aligned) and an over-speed one without a box (found by its plate read's picture).
    times = (6.0, 6.5, 7.3, 8.1, 9.6, 11.2)
    with transaction(factory_db) as session:
        ids = [crossing(session, place, settings, moving, s, n) for n, s in enumerate(times, start=1)]
        unaligned = violations.from_event(
            session=session,
            event=event(place.camera, place.wrong_way, "wrong_way", at(7.9), [vehicle(20, [5, 5, 60, 60])]),
            max_signal_age_s=300,
        )[0]
        speeding = violations.create_violation(
            session=session,
            source_key=f"speed:test:{uuid.uuid4()}",
            rule=place.wrong_way_rule,
            camera=place.camera,
            occurred_at=at(10.4),
            measured={"speed_kmh": 71.0},
            track_id=30,
            detected_class="truck",
        )
        assert speeding is not None
        sight(session, place, settings, moving, 30, 9.4, PLATE)
        ids += [unaligned.id, speeding.id]
    plans = plans_of(factory_db, ids)
    assert [len(b) for b in evidence.bursts(plans, clip_s=CLIP_S)] == [len(plans)]  # one burst

    alone = {i: m for p in plans for i, m in built(settings, [p], tmp_path / "alone").items()}
    caplog.set_level(logging.DEBUG, logger=evidence.__name__)
    # Room for two decoded frames only: the frames wanted that were let go are decoded again.
    tight = built(settings, plans, tmp_path / "tight", keep_bytes=2 * 768 * 576 * 3 // 2)
    again = any("decoded again" in r.getMessage() for r in caplog.records)

    assembler = flows.EvidenceAssembler(settings, factory_db)
    with ThreadPoolExecutor(2) as pool:
        assert assembler.assemble_due(now=NOW, pool=pool) == len(plans)
    with factory_db() as session:
        rows = {r.id: r for r in session.scalars(select(Violation).where(Violation.id.in_(ids)))}
        audited = session.scalars(
            select(AuditEntry.object_id).where(AuditEntry.action == "traffic.violation.evidence")
        ).all()
    assert sorted(audited) == sorted(str(i) for i in ids)  # each queued once
    for violation_id in ids:
        row = rows[violation_id]
        assert row.status == ViolationStatus.PENDING
        assert row.evidence == alone[violation_id] == tight[violation_id], violation_id
        assert row.evidence_sha256 == canonical_sha256(row.evidence)
        for entry in row.evidence["files"]:  # the files on the disk are the ones hashed
            data = (settings.evidence_dir / entry["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert again  # the tight build did let wanted frames go
    # And they are right: the snapshots' crossings found at their recorded moment, the truck followed.
    for violation_id, seconds in zip(ids, times, strict=False):
        manifest = rows[violation_id].evidence
        assert manifest["complete"] is True and manifest["measured"]["aligned"] is True
        frames = manifest["measured"]["frames"]
        for role, shift in (("before", -1), ("at", 0), ("after", 1)):
            assert dt.datetime.fromisoformat(frames[role]["at"]) == at(seconds + shift), (seconds, role)
            expected = moving.boxes[frame_of(seconds + shift)]
            assert all(abs(a - b) <= 12 for a, b in zip(frames[role]["box"], expected, strict=True))
    assert rows[unaligned.id].evidence["measured"]["aligned"] is False
    speed_frames = rows[speeding.id].evidence["measured"]["frames"]
    assert all(speed_frames[role]["box"] is not None for role in ("before", "at", "after")), speed_frames


def test_a_damaged_segment_costs_only_the_packets_whose_clip_it_holds(
    own_db: tuple[str, sessionmaker[Session]],
    settings: Settings,
    tmp_path: Path,
    empty_square: np.ndarray,
    pickup: np.ndarray,
) -> None:
    _, factory_db = own_db
    moving = drive(empty_square, pickup)
    source = encode_with_b_frames(tmp_path / "camera.mp4", moving.frames)
    with transaction(factory_db) as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        place = junction(session, district.id)
    record(factory_db, place.camera.id, source, settings.recordings_dir)
    with transaction(factory_db) as session:
        early, late = (crossing(session, place, settings, moving, s, n) for n, s in ((1, 3.0), (2, 15.0)))
    with factory_db() as session:
        session.connection(execution_options=READ_ONLY)
        plans = [
            violations.plan_evidence(
                session=session, violation_id=i, now=NOW, clip_s=2, wait_s=120, plate_wait_s=0
            )
            for i in (early, late)
        ]
    assert plans[0] is not None and plans[1] is not None
    assert len(plans[0].segments) == len(plans[1].segments) == 1  # the first and the second segment
    damaged = settings.recordings_dir / plans[1].segments[0][0]
    damaged.write_bytes(np.random.default_rng(7).integers(0, 256, damaged.stat().st_size, np.uint8).tobytes())
    done = evidence.build_burst(
        [plans[0], plans[1]],
        recordings_dir=settings.recordings_dir,
        snapshots_dir=settings.snapshots_dir,
        evidence_dir=settings.evidence_dir,
        clip_s=2,
    )
    first, second = (b.manifest for b in done)
    assert first is not None and second is not None
    assert first["complete"] is True
    assert set(second["missing"]) == {"clip", *evidence.FRAMES}


def plan(camera: uuid.UUID, seconds: float) -> EvidencePlan:
    return EvidencePlan(
        violation_id=uuid.uuid4(),
        camera_id=camera,
        district_id=uuid.uuid4(),
        occurred_at=T0 + dt.timedelta(seconds=seconds),
        offence=Offence.RED_LIGHT,
        track_id=None,
        box=None,
        frame_size=None,
        snapshot=None,
        others=(),
        plate=None,
        segments=(),
        keep_sharp=None,
        manifest={},
    )


def test_bursts_are_a_cameras_violations_whose_clips_overlap_given_as_soon_as_they_close() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    plans = [
        plan(a, 0),
        plan(b, 1),
        plan(a, 4),
        plan(a, 9.5),
        plan(b, 30),
        plan(a, 20),
        plan(a, 21),
        plan(a, 22),
    ]
    read: list[EvidencePlan] = []

    def reading() -> Iterator[EvidencePlan]:
        for p in plans:
            read.append(p)
            yield p

    given = []
    for burst in evidence.bursts(reading(), clip_s=5, most=2):
        given.append(([plans.index(p) for p in burst], len(read)))
    # Camera a: 0 and 4 s (most 2), then 9.5 s alone (20 s is over 10 s on), then 20 and 21 s, then 22 s;
    # camera b: 1 s, then 30 s. Each burst is given once the plan that cannot join it is read.
    assert given == [([0, 2], 4), ([1], 5), ([3], 6), ([5, 6], 8), ([7], 8), ([4], 8)]
