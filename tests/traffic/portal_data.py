"""Challans as the challans work issues them, made directly for the payments, appeals and portal tests:
a camera and a fine in a district, a confirmed violation with a real evidence packet on disk (frames of
scikit-image's motorcycle photograph), and its challan with its public_* frames (blurred).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import secrets
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy.orm import Session

from safecity.cameras.models import Camera
from safecity.core.db import utcnow
from safecity.org.models import District
from safecity.traffic.challans.models import Challan, ChallanStatus, Fine
from safecity.traffic.violations.models import Offence, Violation, ViolationStatus

OWNER_CNIC = "35202-1234567-1"  # its last four digits: 5671
RAW_ROLES = ("before", "at", "after", "plate")
PUBLIC_ROLES = ("public_before", "public_at", "public_after")
_numbers = itertools.count(1)


@cache
def photograph() -> np.ndarray:
    """scikit-image's motorcycle photograph (BGR): a real scene, not a blank frame."""
    from skimage import data

    left, _right, _disparity = data.stereo_motorcycle()
    return cv2.cvtColor(left, cv2.COLOR_RGB2BGR)


def jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return encoded.tobytes()


@cache
def frames() -> dict[str, bytes]:
    """Each evidence role's JPEG: the raw frames shifted a little apart, the public ones blurred."""
    image = photograph()
    shots = {role: np.roll(image, 12 * i, axis=1) for i, role in enumerate(("before", "at", "after"))}
    out = {role: jpeg(frame) for role, frame in shots.items()}
    out["plate"] = jpeg(image[200:280, 300:460])
    for role, frame in shots.items():
        out[f"public_{role}"] = jpeg(cv2.GaussianBlur(frame, (31, 31), 0))
    return out


def camera(session: Session, district: District, name: str = "Firdous Chowk") -> Camera:
    found = Camera(
        name=name,
        district_id=district.id,
        latitude=34.0045,
        longitude=71.5437,
        stream_url="rtsp://10.0.0.7/1",
    )
    session.add(found)
    session.flush()
    return found


def fine(session: Session, amount: int = 500, offence: Offence = Offence.RED_LIGHT) -> Fine:
    row = Fine(
        province_code="KP",
        vehicle_class="car",
        offence=offence,
        amount_pkr=amount,
        effective_from=dt.date(2020, 1, 1) + dt.timedelta(days=next(_numbers)),  # unique per fine
        legal_reference="MVO 1965 s.116",
    )
    session.add(row)
    session.flush()
    return row


@dataclass
class Made:
    """A challan with its violation and where its evidence lies."""

    challan: Challan
    violation: Violation
    files: dict[str, bytes]


def written(evidence_dir: Path, folder: str, roles: tuple[str, ...]) -> list[dict[str, object]]:
    """Write these roles' frames in `folder` under `evidence_dir`: their file entries, as a manifest's."""
    files: list[dict[str, object]] = []
    for role in roles:
        data = frames()[role]
        relative = f"{folder}/{role}.jpg"
        path = evidence_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entry = {
            "role": role,
            "path": relative,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
        files.append({**entry, "type": "image/jpeg"})
    return files


def evidence_packet(
    evidence_dir: Path, violation_id: uuid.UUID, cam: Camera, at: dt.datetime
) -> dict[str, object]:
    """Write the packet's files under `evidence_dir` and return its manifest (CONTRACTS.md's shape)."""
    files = written(evidence_dir, f"{at:%Y/%m/%d}/{violation_id}", RAW_ROLES)
    return {
        "version": 2,
        "complete": True,
        "missing": ["clip"],
        "files": files,
        "rule": {"offence": "red_light"},
        "measured": {"signal": "red", "source": "controller"},
        "read": {"plate": "", "confidence": 0.97, "alternatives": []},
        "camera": {"id": str(cam.id), "name": cam.name, "latitude": cam.latitude, "longitude": cam.longitude},
        "time": {"occurred_at": at.isoformat(), "clock": "ntp"},
    }


def challan(
    session: Session,
    evidence_dir: Path,
    district: District,
    *,
    cam: Camera | None = None,
    plate: str = "LEB1234",
    cnic: str = OWNER_CNIC,
    amount: int = 500,
    status: ChallanStatus = ChallanStatus.ISSUED,
    issued_at: dt.datetime | None = None,
    due_days: int = 10,
    phone: str = "+923001234567",
    email: str = "owner@example.com",
) -> Made:
    """A confirmed violation with its evidence on disk, and its challan (committed by the caller)."""
    cam = cam or camera(session, district)
    issued = issued_at or utcnow() - dt.timedelta(hours=2)
    occurred = issued - dt.timedelta(hours=1)
    violation_id = uuid.uuid4()
    manifest = evidence_packet(evidence_dir, violation_id, cam, occurred)
    violation = Violation(
        id=violation_id,
        source_key=f"test:{violation_id}",
        offence=Offence.RED_LIGHT,
        camera_id=cam.id,
        district_id=district.id,
        occurred_at=occurred,
        status=ViolationStatus.CONFIRMED,
        plate_read=plate,
        plate_confidence=0.97,
        plate=plate,
        vehicle_class="car",
        evidence=manifest,
        evidence_sha256=hashlib.sha256(
            json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest(),
        decided_at=issued,
    )
    session.add(violation)
    session.flush()
    n = next(_numbers)
    row = Challan(
        number=f"{district.code}-{issued.year}-{n:06d}",
        violation_id=violation.id,
        district_id=district.id,
        plate=plate,
        offence=Offence.RED_LIGHT,
        vehicle_class="car",
        fine_id=fine(session, amount).id,
        amount_pkr=amount,
        status=status,
        issued_at=issued,
        due_at=issued + dt.timedelta(days=due_days),
        payment_ref=f"PR{uuid.uuid4().hex[:12].upper()}",
        verify_code=secrets.token_urlsafe(18),
        owner_name="Imran Khan Yousafzai",
        owner_cnic=cnic,
        owner_phone=phone,
        owner_email=email,
        owner_address="House 12, Street 4, Hayatabad, Peshawar",
        public_evidence=written(evidence_dir, f"{occurred:%Y/%m/%d}/{violation_id}/public", PUBLIC_ROLES),
        paid_at=issued if status is ChallanStatus.PAID else None,
        closed_at=issued if status in (ChallanStatus.PAID, ChallanStatus.CANCELLED) else None,
    )
    session.add(row)
    session.flush()
    return Made(row, violation, frames())
