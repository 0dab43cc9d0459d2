"""What the e-challan tests build on: confirmed violations with real evidence packets (JPEG frames of a real
photo with a rendered plate, written under the evidence directory, hashed into the manifest as the
violations work writes it), a real SMTP server (aiosmtpd) and a real HTTP SMS gateway on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import SecretStr
from sqlalchemy.orm import Session

from conftest import missing_part
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.org.models import District
from safecity.traffic.violations.models import Offence, Violation, ViolationStatus
from safecity.video.demo import PHOTO, PICKUP, plate_card

OWNER = {
    "name": "Muhammad Ali Khan",
    "cnic": "17301-1234567-1",
    "phone": "+923001234567",
    "email": "owner@example.pk",
    "address": "House 12, Street 4, Hayatabad Phase 3, Peshawar",
}
SMS_TOKEN = "sms-gateway-token"


def _photo() -> np.ndarray:
    if not PHOTO.is_file():
        missing_part(str(PHOTO), "run `make test-deps` as root (apt-get install darknet)")
    image = cv2.imread(str(PHOTO))
    assert image is not None
    return image


def _write(path: Path, image: np.ndarray) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])
    assert ok
    data = encoded.tobytes()
    path.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "type": "image/jpeg"}


def evidence_packet(
    settings: Settings, *, violation_id: uuid.UUID, camera: Camera, plate: str, occurred_at: dt.datetime
) -> tuple[dict[str, Any], str]:
    """The packet of a red-light pass: frames before, at and after (the pickup with `plate` on it, moved
    along and marked), what their public copies are to blur (the bicycle and the dog, bystanders here),
    the plate crop; the manifest and its SHA-256 (canonical JSON), as the violations work writes them.
    """
    photo = _photo()
    card = plate_card([plate], scale=22)
    rows, cols = PICKUP
    y, x = rows.start + 55, cols.start + 70
    photo[y : y + card.shape[0], x : x + card.shape[1]] = card
    frames = {
        "before": np.roll(photo, -40, axis=1),
        "at": photo,
        "after": np.roll(photo, 40, axis=1),
    }
    folder = Path(str(camera.id)) / occurred_at.strftime("%Y/%m/%d") / str(violation_id)
    files, seen = [], {}
    for (role, frame), shift in zip(frames.items(), (-40, 0, 40), strict=True):
        box = [cols.start + shift, rows.start, cols.stop + shift, rows.stop]
        marked = frame.copy()
        cv2.rectangle(marked, (box[0], box[1]), (box[2], box[3]), (0, 0, 255), 3)
        relative = str(folder / f"{role}.jpg")
        files.append({"role": role, "path": relative, **_write(settings.evidence_dir / relative, marked)})
        seen[role] = {"at": (occurred_at + dt.timedelta(seconds=shift / 40)).isoformat(), "box": box}
    relative = str(folder / "plate.jpg")
    files.append({"role": "plate", "path": relative, **_write(settings.evidence_dir / relative, card)})
    manifest = {
        "version": 2,
        "complete": True,
        "missing": [],
        "files": files,
        "rule": {"offence": "red_light", "stop_line": [[0.1, 0.7], [0.9, 0.7]]},
        "measured": {
            "signal": "red",
            "red_for_s": 2.4,
            "signal_source": "controller",
            "frames": seen,
            "public": {"blur": [[100, 100, 330, 450]], "keep": None},  # the bystanders
        },
        "read": {"plate": plate, "confidence": 0.97, "alternatives": []},
        "camera": {
            "id": str(camera.id),
            "name": camera.name,
            "latitude": camera.latitude,
            "longitude": camera.longitude,
        },
        "time": {"occurred_at": occurred_at.isoformat(), "clock": "ntp"},
    }
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return manifest, hashlib.sha256(canonical.encode()).hexdigest()


def camera_in(session: Session, district: District, name: str = "Hashtnagri Chowk East") -> Camera:
    camera = Camera(
        name=f"{name} {uuid.uuid4().hex[:4]}",
        district_id=district.id,
        latitude=34.01195,
        longitude=71.5759,
        stream_url="/nonexistent/challan-camera.mp4",
        tags=["junction"],
    )
    session.add(camera)
    session.flush()
    return camera


def confirmed_violation(
    session: Session,
    settings: Settings,
    district: District,
    *,
    plate: str = "LEA1234",
    offence: Offence = Offence.RED_LIGHT,
    occurred_at: dt.datetime | None = None,
    seen_class: str = "car",
    registered_class: str | None = "car",
    owner: dict[str, str] | None = None,
    camera: Camera | None = None,
    status: ViolationStatus = ViolationStatus.CONFIRMED,
) -> Violation:
    """A violation as the review leaves it: confirmed, with its evidence packet and the registry check."""
    occurred_at = occurred_at or dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    camera = camera or camera_in(session, district)
    violation_id = uuid.uuid4()
    manifest, digest = evidence_packet(
        settings, violation_id=violation_id, camera=camera, plate=plate, occurred_at=occurred_at
    )
    vehicle = {"plate": plate, "make": "Toyota", "model": "Hilux", "colour": "white", "status": "registered"}
    check = {
        "found": registered_class is not None,
        "source": "extract",
        "checked_at": dt.datetime.now(dt.UTC).isoformat(),
        "vehicle": {**vehicle, "vehicle_class": registered_class, "province_code": "KP"},
        "owner": owner if owner is not None else OWNER,
        "seen": {"vehicle_class": seen_class, "colour": "white"},
        "mismatches": [],
    }
    violation = Violation(
        id=violation_id,
        source_key=f"test:{violation_id}",
        offence=offence,
        camera_id=camera.id,
        district_id=district.id,
        occurred_at=occurred_at,
        status=status,
        plate_read=plate,
        plate_confidence=0.97,
        plate=plate,
        vehicle_class=seen_class,
        colour="white",
        measured=manifest["measured"],
        evidence=manifest,
        evidence_sha256=digest,
        registry_check=check,
        decided_at=dt.datetime.now(dt.UTC),
    )
    session.add(violation)
    session.flush()
    return violation


# --- a real mail server and a real SMS gateway on loopback ------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server received."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)


@contextmanager
def mail_server() -> Iterator[Mailbox]:
    """aiosmtpd listening on 127.0.0.1, keeping every message it is given."""
    from aiosmtpd.controller import Controller

    box = Mailbox(free_port())

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            box.messages.append(message)
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class SmsInbox:
    """What the SMS gateway was asked to send (JSON bodies), and its address."""

    url: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0


@contextmanager
def sms_gateway() -> Iterator[SmsInbox]:
    """An HTTP SMS gateway on 127.0.0.1 that takes {"to", "text"} with the right bearer token."""
    inbox = SmsInbox("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Authorization") != f"Bearer {SMS_TOKEN}":
                inbox.refused += 1
                self.send_response(401)
                self.end_headers()
                return
            inbox.messages.append(json.loads(body))
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"queued": true}')

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    inbox.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()


def with_delivery(settings: Settings, box: Mailbox | None, sms: SmsInbox | None) -> Settings:
    """`settings` sending e-mail to `box` and SMS to `sms`, with the public address of a real deployment."""
    update: dict[str, Any] = {"public_url": "https://echallan.kppolice.example"}
    if box is not None:
        update |= {"smtp_host": "127.0.0.1", "smtp_port": box.port}
    if sms is not None:
        update |= {"sms_url": sms.url, "sms_token": SecretStr(SMS_TOKEN)}
    return settings.model_copy(update={"challans": settings.challans.model_copy(update=update)})
