"""The federation proof: two district stacks and a province stack on this machine, each with its own
database and its own nats-server. A district's alert reaches the province; the province's NATS is stopped
(the link cut) while the districts raise alerts, read plates (one a hotlist hit) and handle an incident,
and started again; everything arrives exactly once, the incident in its latest state; a province user's
plate search finds a read made in a district; forged and malformed messages are refused and nothing of
them is stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from conftest import (
    MISSING,
    TEST_SECRET_KEY,
    Factory,
    LiveApp,
    _free_port,
    add_camera,
    answers,
    login,
    serve,
    wait_until,
)
from safecity.analytics import flows as analytics_flows
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.hotlists import service as hotlists
from safecity.analytics.plates.hotlists.models import ListKind
from safecity.analytics.plates.hotlists.schemas import EntryIn, HotlistIn
from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import SightingIn
from safecity.audit.models import AuditEntry
from safecity.config import CentreSettings, FederationSettings, Settings, VideoSettings
from safecity.core.crypto import SecretBox
from safecity.core.db import transaction
from safecity.events.alerts import service as alerts
from safecity.federation import service as federation
from safecity.federation.models import (
    FederatedAlert,
    FederatedHit,
    FederatedIncident,
    FederatedPlateRead,
    FederationLink,
)
from safecity.federation.schemas import PlateReadRecord
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, Status
from safecity.incidents.schemas import IncidentIn

NATS_SERVER = Path("/usr/sbin/nats-server")
KEYS = {"lhr": "lahore-centre-key-" + "1" * 32, "mul": "multan-centre-key-" + "2" * 32}
DISTRICTS = {"lhr": "LHR", "mul": "MUL"}


class NatsServer:
    """A nats-server with JetStream on a free loopback port, its store in a folder of its own."""

    def __init__(self, store: Path) -> None:
        self.port = _free_port()
        self.store = store
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: answers("127.0.0.1", self.port), within=15, message="nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


@contextmanager
def nats_server(store: Path) -> Iterator[NatsServer]:
    server = NatsServer(store)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class District:
    centre: str
    app: LiveApp
    camera_id: uuid.UUID
    district_id: uuid.UUID

    def keep_hotlist(self, plate: str) -> None:
        """A list of stolen vehicles, kept in the district: a read of `plate` there is a hit."""
        with transaction(self.app.services.session_factory) as session:
            factory = Factory(session, SecretBox(TEST_SECRET_KEY, "mfa"))
            keeper = factory.principal(factory.user("supervisor"))
            data = HotlistIn(kind=ListKind.STOLEN, name="Stolen cars", agency="CPO Lahore AVLS")
            hotlist = hotlists.create_hotlist(session=session, principal=keeper, data=data)
            entry = EntryIn(plate=plate, reason="stolen at gunpoint")
            hotlists.add_entry(session=session, principal=keeper, hotlist_id=hotlist.id, data=entry)

    def log_incident(self) -> uuid.UUID:
        """A call-taker logs an incident, then a unit reaches the scene: two states, the later one wins."""
        with transaction(self.app.services.session_factory) as session:
            factory = Factory(session, SecretBox(TEST_SECRET_KEY, "mfa"))
            principal = factory.principal(factory.user("operator"))
            data = IncidentIn(district_id=self.district_id, category=Category.STREET_CRIME, title="Snatching")
            incident = incidents.create_incident(session=session, principal=principal, data=data)
        with transaction(self.app.services.session_factory) as session:
            incidents.change_status(
                session=session,
                principal=principal,
                incident_id=incident.id,
                status=Status.ON_SCENE,
                reason="unit on scene",
                version=incident.version,
            )
        return incident.id

    def raise_alert(self, n: int) -> uuid.UUID:
        """An alert raised as a worker raises one: stored, then published on the district's own bus."""
        coroutine = alerts.raise_and_publish(
            session_factory=self.app.services.session_factory,
            bus=self.app.services.bus,
            kind="camera.offline",
            severity=3,
            title=f"{self.centre} camera {n} offline",
            source="federation-proof",
            dedup_key=f"{self.centre}-{n}",
        )
        return asyncio.run_coroutine_threadsafe(coroutine, self.app.loop).result(15).id

    def read_plate(self, plate: str) -> uuid.UUID:
        """A plate read as the analytics pipeline hands one over: published on the district's bus."""
        at = dt.datetime.now(dt.UTC)
        sighting = SightingIn(
            camera_id=self.camera_id,
            district_id=self.district_id,
            seen_at=at,
            first_seen=at,
            last_seen=at,
            plate=plate,
            confidence=0.91,
            layout="PK-PB",
            jurisdiction="Punjab",
        )
        data = analytics_flows.as_published(sighting).model_dump_json().encode()
        self.app.publish(plates.subject(self.camera_id), data, msg_id=str(sighting.id))
        return sighting.id

    def stored_sightings(self) -> int:
        with self.app.services.session_factory() as session:
            return session.scalar(select(func.count()).select_from(Sighting)) or 0


def stack_settings(tmp: Path, name: str, bus_url: str, federation_settings: FederationSettings) -> Settings:
    data_dir = tmp / name
    data_dir.mkdir()
    return Settings(
        data_dir=data_dir,
        secret_key=SecretStr(TEST_SECRET_KEY),
        video=VideoSettings(run_in_web=False),
        bus_url=SecretStr(bus_url),
        federation=federation_settings,
    )


def province_rows(app: LiveApp, model: type) -> list[tuple[str, uuid.UUID]]:
    with app.services.session_factory() as session:
        return [tuple(row) for row in session.execute(select(model.centre, model.original_id))]  # type: ignore[attr-defined]


def refused(app: LiveApp) -> int:
    with app.services.session_factory() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "federation.refused")
        return session.scalar(query) or 0


async def queued(url: str) -> int:
    """The district's alerts its uplink has not delivered yet (in its stream, or fetched and unacked)."""
    client = await nats.connect(url)
    try:
        info = await client.jetstream().consumer_info("ALERTS", "federation-uplink-alert")
        return int(info.num_pending) + int(info.num_ack_pending)
    finally:
        await client.close()


async def send_to_province(url: str, items: list[tuple[str, bytes]]) -> None:
    """Publish as anyone who reaches the province's NATS could: forged and malformed messages."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        for subject, data in items:
            await js.publish(subject, data)
    finally:
        await client.close()


def test_district_alerts_and_plate_reads_reach_the_province_exactly_once_through_a_link_outage(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if not NATS_SERVER.exists():
        pytest.skip(f"{MISSING}nats-server: {NATS_SERVER} is not installed (Debian package nats-server)")
    with ExitStack() as stack:
        province_nats = stack.enter_context(nats_server(tmp_path / "nats-province"))
        centres = {
            code: CentreSettings(key=SecretStr(KEYS[code]), district=DISTRICTS[code], name=code.upper())
            for code in KEYS
        }
        province = stack.enter_context(
            serve(
                stack_settings(tmp_path, "province", province_nats.url, FederationSettings(centres=centres)),
                db_url,
                tmp_path,
            )
        )
        with transaction(province.services.session_factory) as session:
            factory = Factory(session, SecretBox(TEST_SECRET_KEY, "mfa"))
            for code in DISTRICTS.values():
                factory.district(code)
            analyst = factory.user("supervisor")
        districts: dict[str, District] = {}
        for code in KEYS:
            own_nats = stack.enter_context(nats_server(tmp_path / f"nats-{code}"))
            uplink = FederationSettings(
                centre=code, province_url=SecretStr(province_nats.url), key=SecretStr(KEYS[code]), retry_s=0.5
            )
            app = stack.enter_context(
                serve(stack_settings(tmp_path, code, own_nats.url, uplink), db_url, tmp_path)
            )
            with transaction(app.services.session_factory) as session:
                own = Factory(session, SecretBox(TEST_SECRET_KEY, "mfa")).district(code.upper())
                camera = add_camera(session, own.id, name=f"{code.upper()} Mall Road 1")
            districts[code] = District(code, app, camera.id, own.id)
        lahore, multan = districts["lhr"], districts["mul"]
        lahore.keep_hotlist("LEA0002")

        # A district's alert reaches the province.
        first = lahore.raise_alert(0)
        wait_until(lambda: ("lhr", first) in province_rows(province, FederatedAlert), within=30)

        # The link is cut: the districts go on raising alerts and reading plates, stored at home.
        province_nats.stop()
        raised = {("lhr", first)}
        raised |= {("lhr", lahore.raise_alert(n)) for n in range(1, 6)}
        raised |= {("mul", multan.raise_alert(n)) for n in range(1, 4)}
        reads = {("lhr", lahore.read_plate(f"LEA{n:04d}")) for n in range(4)}
        reads |= {("mul", multan.read_plate(f"MNB{n:03d}")) for n in range(3)}
        incident = lahore.log_incident()
        wait_until(lambda: (lahore.stored_sightings(), multan.stored_sightings()) == (4, 3), within=30)
        assert province_rows(province, FederatedAlert) == [("lhr", first)]
        # They wait in the districts' own JetStream, the uplinks trying again, until the link returns.
        assert asyncio.run(queued(lahore.app.services.settings.bus_url.get_secret_value())) >= 5
        caplog.set_level(logging.WARNING, logger="safecity.federation.flows")
        wait_until(lambda: "link to the province down" in caplog.text, within=30)
        assert province_rows(province, FederatedAlert) == [("lhr", first)]

        # The link returns: everything queued in the districts arrives, each record exactly once.
        province_nats.start()
        wait_until(lambda: len(province_rows(province, FederatedPlateRead)) == len(reads), within=60)
        # The read of LEA0002 was a hit in Lahore: its alert and its hit arrive too.
        wait_until(lambda: len(province_rows(province, FederatedHit)) == 1, within=60)
        wait_until(lambda: len(province_rows(province, FederatedAlert)) == len(raised) + 1, within=60)
        assert raised < set(province_rows(province, FederatedAlert))
        with province.services.session_factory() as session:
            hit = session.scalars(select(FederatedHit)).one()
            assert (hit.centre, hit.read_plate, hit.list_name, hit.camera_name) == (
                "lhr",
                "LEA0002",
                "Stolen cars",
                "LHR Mall Road 1",
            )
        assert sorted(province_rows(province, FederatedPlateRead)) == sorted(reads)
        wait_until(lambda: province_rows(province, FederatedIncident) == [("lhr", incident)], within=30)
        with province.services.session_factory() as session:
            assert session.scalars(select(FederatedIncident.status)).all() == ["on_scene"]

        # Forged (another centre's key, an unknown centre) and malformed messages: refused, none stored.
        forged = PlateReadRecord(
            id=uuid.uuid4(),
            plate="FAKE123",
            confidence=0.99,
            jurisdiction="Punjab",
            camera_id=None,
            seen_at=dt.datetime.now(dt.UTC),
        )
        now = dt.datetime.now(dt.UTC)
        bad = [
            (
                "federation.lhr.sighting",
                federation.sign(centre="lhr", key=KEYS["mul"], kind="sighting", record=forged, sent_at=now),
            ),
            (
                "federation.isb.sighting",
                federation.sign(centre="isb", key=KEYS["lhr"], kind="sighting", record=forged, sent_at=now),
            ),
            ("federation.lhr.alert", b"{not json"),
            ("federation.lhr.alert", json.dumps({"body": "{}", "signature": "0" * 64}).encode()),
        ]
        asyncio.run(send_to_province(province_nats.url, bad))
        wait_until(lambda: refused(province) == len(bad), within=30)
        assert ("lhr", forged.id) not in province_rows(province, FederatedPlateRead)
        assert len(province_rows(province, FederatedPlateRead)) == len(reads)
        with province.services.session_factory() as session:
            link = session.get(FederationLink, "lhr")
            assert link is not None and link.refused == 1  # the one signed with another centre's key

        # A province user's plate search finds a read made in a district, with the district's camera.
        with province.services.session_factory() as session:
            user_factory = Factory(session, SecretBox(TEST_SECRET_KEY, "mfa"))
            user_factory.totp_secrets.update(factory.totp_secrets)
            with httpx.Client(base_url=province.base, timeout=15) as client:
                login(client, user_factory, analyst, session)  # type: ignore[arg-type]
                found = client.get(
                    "/api/v1/federation/plates", params={"q": "MNB-001", "purpose": "FIR 77/2026"}
                )
                assert found.status_code == 200, found.text
                [hit] = found.json()
                assert (hit["centre"], hit["plate"], hit["camera_name"]) == (
                    "mul",
                    "MNB001",
                    "MUL Mall Road 1",
                )
                health = {c["code"]: c for c in client.get("/api/v1/federation/centres").json()}
                assert health["lhr"]["received"] >= 10 and health["mul"]["last_received_at"] is not None
