"""Faces seen reach their store through NATS JetStream as events and plate reads do: sealed on the way
(nothing biometric in the stream in the clear), stored once however often delivered, and a lead's alert
raised by the store and published once committed. The face is real: the astronaut photo through the engine.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress

import cv2
import nats
import nats.js.errors
import numpy as np
import pytest
from faces_data import astronaut_seen, live_gallery
from lead_story import listed
from nats.aio.msg import Msg
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from conftest import MISSING, NATS_ENV, SHARED_NATS, START, Factory, wait_until_async
from safecity.analytics import flows as analytics_flows
from safecity.analytics.faces.engine import FaceEngine
from safecity.analytics.faces.live import FaceFound
from safecity.analytics.plates.live import CameraRef
from safecity.config import Settings
from safecity.core.bus import NatsBus
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.faces import service as faces
from safecity.faces.matches import service as matches
from safecity.faces.matches.models import FaceMatch, FaceSighting

pytestmark = [pytest.mark.anyio, SHARED_NATS]


@pytest.fixture
async def bus() -> AsyncIterator[NatsBus]:
    """The application's streams on NATS JetStream (the test's messages are under its own camera's id)."""
    url = os.environ.get(NATS_ENV)
    if not url:
        pytest.skip(f"{MISSING}NATS JetStream: {NATS_ENV} is not set (to start it, as root: {START['nats']})")
    nats_bus = NatsBus(url, connect_timeout=5.0)
    await nats_bus.start()
    yield nats_bus
    await nats_bus.close()


async def test_a_face_seen_is_sealed_on_the_bus_stored_once_and_its_lead_raised_by_the_store(
    bus: NatsBus,
    own_db: tuple[str, sessionmaker[Session]],
    settings: Settings,
) -> None:
    seen = astronaut_seen()
    _, session_factory = own_db  # the store works from a thread of its own beside the test's
    box = faces.biometric_box(settings)
    with session_factory() as session:
        factory = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa"))
        sought = listed(session, factory, FaceEngine(), box, factory.district())
        session.commit()
        camera = sought.place.camera_id
        gallery = live_gallery(session=session, box=box, camera_id=camera, at=utcnow())
    enrolled = next(f for f in gallery.faces if f.enrolment_id == sought.enrolment_id)
    found = FaceFound(
        CameraRef(camera, "Mall Road", sought.place.district.id),
        utcnow(),
        seen,
        gallery.authorisation_ids[0],
        enrolled,
        0.99,
        0.92,
        track_id=1,
        lead=True,
    )
    record = analytics_flows.face_seen(found, box=box, keep_for=dt.timedelta(hours=24))

    # On the bus the picture and the embedding are sealed: neither the JPEG nor the floats appear.
    data = record.model_dump_json().encode()
    ok, jpeg = cv2.imencode(".jpg", seen.chip, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    assert base64.b64encode(jpeg.tobytes()[:64]).decode()[:40] not in data.decode()
    assert np.asarray(seen.embedding, dtype="<f4").tobytes()[:32] not in base64.b64decode(record.embedding)
    assert box.decrypt_bytes(base64.b64decode(record.chip)) == jpeg.tobytes()

    # Someone listening to the alerts, as every web node's console feed does.
    alerts_seen: list[dict[str, object]] = []
    listener = await nats.connect(bus_url := os.environ[NATS_ENV])

    async def keep(message: Msg) -> None:
        alerts_seen.append(json.loads(message.data))

    subscription = await listener.subscribe("alerts.>", cb=keep)

    # Published twice with one id (a producer's retry): the stream keeps it once; the store is handed it
    # again all the same (a redelivery after a crash between commit and ack): still one face, one lead.
    subject = matches.subject(camera)
    await bus.publish(subject, data, msg_id=str(record.id))
    await bus.publish(subject, data, msg_id=str(record.id))
    durable = f"face-store-{uuid.uuid4().hex[:10]}"
    stop = asyncio.Event()
    store = asyncio.create_task(
        analytics_flows.faces_from_bus(
            bus=bus, session_factory=session_factory, box=box, stop=stop, subject=subject, durable=durable
        )
    )
    try:
        await wait_until_async(lambda: _count(session_factory, FaceSighting, record.id) == 1, within=20)
        assert analytics_flows.store_faces(session_factory, box, [record]) == []  # a redelivery: nothing new
        await wait_until_async(lambda: any(a.get("camera_id") == str(camera) for a in alerts_seen), within=10)
    finally:
        stop.set()
        await store
        await subscription.unsubscribe()
        await listener.close()
        nc = await nats.connect(bus_url)
        with suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_consumer("FACES", durable)
        await nc.close()

    with session_factory() as check:
        sighting = check.get(FaceSighting, record.id)
        assert sighting is not None and sighting.camera_id == camera
        assert box.decrypt_bytes(sighting.chip) == jpeg.tobytes()  # stored sealed, under the same key
        leads = check.scalars(select(FaceMatch).where(FaceMatch.sighting_id == record.id)).all()
        assert len(leads) == 1 and leads[0].alert_id is not None
    assert sum(a.get("camera_id") == str(camera) for a in alerts_seen) == 1


def _count(factory: sessionmaker[Session], table: type[FaceSighting], record_id: uuid.UUID) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(table).where(table.id == record_id)) or 0
