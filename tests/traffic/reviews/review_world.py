"""Violations for the review tests, made as rows with an evidence packet of real files written here: frames
of a real photograph with the vehicle marked, the plate crop, an H.264 MP4 clip, and the manifest with each
file's SHA-256 (the violations work builds the real packet from the recording; its shape is CONTRACTS.md's).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy.orm import Session

from safecity.cameras.models import Camera
from safecity.connectors.vehicles.models import Registration
from safecity.connectors.vehicles.schemas import plate_key
from safecity.core.db import utcnow
from safecity.org.models import District
from safecity.traffic.violations.models import EnforcementRule, Offence, Violation, ViolationStatus

FRAME_ROLES = ("before", "at", "after")
BOX = (60, 40, 250, 200)  # the vehicle, x1 y1 x2 y2, in the 320x240 frames


@functools.cache
def scene() -> np.ndarray:
    """A real photograph (scikit-image's stereo motorcycle), 320x240 BGR."""
    from skimage import data

    left, _right, _disparity = data.stereo_motorcycle()
    return cv2.resize(cv2.cvtColor(left, cv2.COLOR_RGB2BGR), (320, 240))


def _jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return encoded.tobytes()


@functools.cache
def frame(shift: int) -> bytes:
    """The scene moved `shift` pixels, the vehicle marked in red."""
    image = np.roll(scene(), shift, axis=1).copy()
    x1, y1, x2, y2 = BOX
    cv2.rectangle(image, (x1 + shift, y1), (x2 + shift, y2), (0, 0, 255), 2)
    return _jpeg(image)


@functools.cache
def plate_crop() -> bytes:
    return _jpeg(scene()[150:190, 100:220])


@functools.cache
def clip() -> bytes:
    """Two seconds of the scene panning, H.264 in MP4 (what a browser's <video> plays)."""
    # faststart (the index first, so a browser plays before the end arrives) rewrites a real file.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        _encode(path)
        return path.read_bytes()


def _encode(path: Path) -> None:
    import av

    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast"}
        for i in range(20):
            picture = av.VideoFrame.from_ndarray(np.roll(scene(), i * 4, axis=1), format="bgr24")
            container.mux(stream.encode(picture.reformat(format="yuv420p")))
        container.mux(stream.encode(None))


def _write(evidence_dir: Path, relative: str, data: bytes, role: str, media: str) -> dict[str, Any]:
    path = evidence_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {
        "role": role,
        "path": relative,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "type": media,
    }


def packet(
    evidence_dir: Path,
    violation_id: uuid.UUID,
    camera: Camera,
    *,
    plate: str | None,
    confidence: float | None,
    occurred_at: dt.datetime,
    complete: bool = True,
) -> tuple[dict[str, Any], str]:
    """The evidence files on disk and their manifest (with its canonical SHA-256)."""
    base = f"{occurred_at:%Y/%m/%d}/{violation_id}"
    shifts = {"before": -12, "at": 0, "after": 12}
    files = [
        _write(
            evidence_dir,
            f"{base}/{role}.jpg",
            frame(shifts[role]),
            role,
            "image/jpeg",
        )
        for role in FRAME_ROLES
    ]
    files.append(_write(evidence_dir, f"{base}/plate.jpg", plate_crop(), "plate", "image/jpeg"))
    if complete:
        files.append(_write(evidence_dir, f"{base}/clip.mp4", clip(), "clip", "video/mp4"))
    chars = [0.99, 0.98, 0.97, 0.55, 0.93, 0.96, 0.99][: len(plate or "")]
    manifest = {
        "version": 2,
        "complete": complete,
        "missing": [] if complete else ["clip"],
        "files": files,
        "rule": {"offence": "red_light", "stop_line": "Stop line north", "signal": "Signal N1"},
        "measured": {"signal": {"state": "red", "source": "controller", "red_for_s": 2.4}},
        "read": {
            "plate": plate,
            "confidence": confidence,
            "alternatives": [["LEA1284", 0.41]],
            "char_confidences": chars,
        },
        "camera": {"id": str(camera.id), "name": camera.name, "latitude": 34.0, "longitude": 71.5},
        "time": {"occurred_at": occurred_at.isoformat(), "clock": "ntp"},
    }
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return manifest, digest


def make_camera(session: Session, district: District, name: str | None = None) -> Camera:
    camera = Camera(
        name=name or f"Signal cam {uuid.uuid4().hex[:6]}",
        district_id=district.id,
        latitude=34.0,
        longitude=71.5,
        stream_url="rtsp://10.0.0.9/stream1",
        tags=[],
    )
    session.add(camera)
    session.flush()
    return camera


def make_rule(session: Session, camera: Camera, name: str = "Red light north") -> EnforcementRule:
    rule = EnforcementRule(name=name, camera_id=camera.id, offence=Offence.RED_LIGHT, params={})
    session.add(rule)
    session.flush()
    return rule


def make_violation(
    session: Session,
    camera: Camera,
    evidence_dir: Path,
    *,
    plate_read: str | None = "LEA1234",
    confidence: float | None = 0.97,
    vehicle_class: str | None = "car",
    colour: str | None = "white",
    status: ViolationStatus = ViolationStatus.PENDING,
    occurred_at: dt.datetime | None = None,
    complete: bool = True,
    rule: EnforcementRule | None = None,
) -> Violation:
    """A violation in the camera's district with its packet written under `evidence_dir`."""
    violation_id = uuid.uuid4()
    at = occurred_at or utcnow() - dt.timedelta(minutes=5)
    manifest, digest = packet(
        evidence_dir,
        violation_id,
        camera,
        plate=plate_read,
        confidence=confidence,
        occurred_at=at,
        complete=complete,
    )
    row = Violation(
        id=violation_id,
        source_key=f"test:{violation_id}",
        rule_id=rule.id if rule else None,
        offence=Offence.RED_LIGHT,
        camera_id=camera.id,
        district_id=camera.district_id,
        occurred_at=at,
        status=status,
        box=list(map(float, BOX)),
        plate_read=plate_read,
        plate_confidence=confidence,
        vehicle_class=vehicle_class,
        colour=colour,
        measured=manifest["measured"],
        evidence=manifest,
        evidence_sha256=digest,
        version=0,
    )
    session.add(row)
    session.flush()
    return row


def register(
    session: Session, plate: str, *, vehicle_class: str = "car", colour: str = "white", make: str = "Toyota"
) -> Registration:
    """A registration as an imported extract holds it."""
    row = Registration(
        plate=plate_key(plate),
        province_code="KP",
        owner_name="Ayesha Khan",
        owner_cnic="17301-1234567-2",
        owner_phone="+923001234567",
        owner_email="ayesha@example.pk",
        owner_address="House 12, Hayatabad, Peshawar",
        make=make,
        model="Corolla",
        colour=colour,
        vehicle_class=vehicle_class,
        status="registered",
        source="import:test.csv",
        updated_at=utcnow(),
    )
    session.merge(row)
    session.flush()
    return row
