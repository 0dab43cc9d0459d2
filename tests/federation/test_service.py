"""What a province does with what its district centres send: checks each message (known centre, its key's
signature, a well-formed record), stores records once per centre and original id, and lets its users read
and search them within their districts. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.config import CentreSettings
from safecity.core.errors import InvalidInput, PermissionDenied
from safecity.federation import service as federation
from safecity.federation.models import FederatedAlert, FederatedHit, FederatedIncident, FederatedPlateRead
from safecity.federation.schemas import AlertRecord, HitRecord, IncidentRecord, Kind, PlateReadRecord, Record

KEY_A = "lahore-key-" + "a" * 32
KEY_B = "multan-key-" + "b" * 32
NOW = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)


def centres(district_a: str, district_b: str) -> dict[str, CentreSettings]:
    return {
        "lhr": CentreSettings(key=SecretStr(KEY_A), district=district_a, name="Lahore"),
        "mul": CentreSettings(key=SecretStr(KEY_B), district=district_b, name="Multan"),
    }


def read(plate: str | None, *, at: dt.datetime = NOW, camera: str = "Mall Road 1") -> PlateReadRecord:
    return PlateReadRecord(
        id=uuid.uuid4(),
        plate=plate,
        confidence=0.93,
        jurisdiction="Punjab",
        camera_id=uuid.uuid4(),
        camera_name=camera,
        seen_at=at,
    )


def alert(*, status: str = "new", changed_at: dt.datetime = NOW, hit: HitRecord | None = None) -> AlertRecord:
    return AlertRecord(
        id=uuid.uuid4(),
        kind="hotlist.stolen" if hit else "camera.offline",
        severity=3,
        title="Stolen vehicle LEA1234 at Mall Road 1" if hit else "Gate 3 camera offline",
        status=status,
        camera_name="Mall Road 1",
        repeat_count=1,
        raised_at=NOW,
        changed_at=changed_at,
        hit=hit,
    )


def message(record: Record, kind: Kind, *, centre: str = "lhr", key: str = KEY_A) -> bytes:
    return federation.sign(centre=centre, key=key, kind=kind, record=record, sent_at=NOW)


@pytest.fixture
def configured(factory: Factory) -> dict[str, CentreSettings]:
    return centres(factory.district().code, factory.district().code)


def receive(session: Session, configured: dict[str, CentreSettings], *messages: bytes) -> int:
    received = [federation.verify(m, centres=configured, ref=f"m{i}") for i, m in enumerate(messages)]
    return federation.store(session=session, received=received, centres=configured)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_signed_message_from_a_known_centre_is_accepted(configured: dict[str, CentreSettings]) -> None:
    record = read("LEA1234")
    accepted = federation.verify(message(record, "sighting"), centres=configured)
    assert isinstance(accepted, federation.Accepted)
    assert (accepted.centre, accepted.kind, accepted.record) == ("lhr", "sighting", record)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # Signed with Multan's key but claiming to be Lahore.
        (lambda: message(read("LEA1234"), "sighting", key=KEY_B), "bad signature"),
        # A centre the province does not know, however it signs.
        (lambda: message(read("LEA1234"), "sighting", centre="isb", key=KEY_A), "unknown centre"),
        (lambda: b"not json at all", "malformed"),
        (lambda: json.dumps({"body": "{}", "signature": "00" * 32}).encode(), "unknown centre"),
        (lambda: json.dumps({"body": "[1]", "signature": "zz"}).encode(), "malformed"),
    ],
)
def test_forged_and_malformed_messages_are_refused(
    configured: dict[str, CentreSettings], data: object, reason: str
) -> None:
    assert callable(data)
    refused = federation.verify(data(), centres=configured)
    assert isinstance(refused, federation.Refused)
    assert refused.reason == reason


def test_a_body_changed_after_signing_is_refused(configured: dict[str, CentreSettings]) -> None:
    signed = json.loads(message(read("LEA1234"), "sighting"))
    signed["body"] = signed["body"].replace("LEA1234", "XYZ9999")
    refused = federation.verify(json.dumps(signed).encode(), centres=configured)
    assert isinstance(refused, federation.Refused) and refused.reason == "bad signature"


def test_a_well_signed_but_malformed_record_is_refused(configured: dict[str, CentreSettings]) -> None:
    body = json.dumps(
        {"centre": "lhr", "kind": "sighting", "sent_at": NOW.isoformat(), "record": {"plate": "lea 1234"}}
    )
    data = json.dumps({"body": body, "signature": federation._mac(KEY_A, body)}).encode()
    refused = federation.verify(data, centres=configured)
    assert isinstance(refused, federation.Refused)
    assert refused.reason.startswith("malformed: ")
    assert "lea" not in refused.reason  # the record's values stay out of logs and the audit log


def test_records_are_stored_once_however_often_delivered(
    session: Session, configured: dict[str, CentreSettings]
) -> None:
    plate_read = message(read("LEA1234"), "sighting")
    hit = HitRecord(
        id=uuid.uuid4(), read_plate="LEA1234", listed_plate="LEA1234", list_name="Stolen", list_kind="stolen"
    )
    hotlist_alert = message(alert(hit=hit), "alert")
    assert receive(session, configured, plate_read, hotlist_alert) == 2
    assert receive(session, configured, plate_read, hotlist_alert, plate_read) == 0
    assert (
        count(session, FederatedPlateRead),
        count(session, FederatedAlert),
        count(session, FederatedHit),
    ) == (
        1,
        1,
        1,
    )
    stored_hit = session.scalars(select(FederatedHit)).one()
    assert (stored_hit.centre, stored_hit.original_id, stored_hit.read_plate) == ("lhr", hit.id, "LEA1234")
    # The same original id from another centre is another record.
    record = federation.verify(plate_read, centres=configured)
    assert isinstance(record, federation.Accepted)
    assert receive(session, configured, message(record.record, "sighting", centre="mul", key=KEY_B)) == 1


def test_a_later_state_replaces_an_earlier_one_and_never_the_reverse(
    session: Session, configured: dict[str, CentreSettings]
) -> None:
    raised = alert()
    acknowledged = raised.model_copy(
        update={"status": "acknowledged", "changed_at": NOW + dt.timedelta(minutes=2)}
    )
    receive(session, configured, message(raised, "alert"), message(acknowledged, "alert"))
    receive(session, configured, message(raised, "alert"))  # the older state, delivered again late
    stored = session.scalars(select(FederatedAlert)).one()
    assert stored.status == "acknowledged"

    incident = IncidentRecord(
        id=uuid.uuid4(),
        number="LHR-2026-000042",
        title="Snatching at Liberty",
        category="street_crime",
        priority=2,
        status="new",
        opened_at=NOW,
        changed_at=NOW,
    )
    dispatched = incident.model_copy(
        update={"status": "dispatched", "changed_at": NOW + dt.timedelta(minutes=1)}
    )
    receive(session, configured, message(incident, "incident"), message(dispatched, "incident"))
    assert session.scalars(select(FederatedIncident.status)).one() == "dispatched"


def test_refusals_are_counted_and_audited_and_nothing_is_stored(
    session: Session, configured: dict[str, CentreSettings], factory: Factory
) -> None:
    forged = message(read("LEA1234"), "sighting", key=KEY_B)
    stranger = message(read("LEA1234"), "sighting", centre="isb")
    assert receive(session, configured, forged, stranger, b"\x00garbage") == 0
    assert count(session, FederatedPlateRead) == 0
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "federation.refused")).all()
    assert sorted(e.detail["reason"] for e in entries) == ["bad signature", "malformed", "unknown centre"]
    assert {e.outcome for e in entries} == {"failure"}
    [lahore, _multan] = federation.centres(
        session=session, principal=factory.principal(factory.user("supervisor")), configured=configured
    )
    assert (lahore.code, lahore.refused, lahore.received) == ("lhr", 1, 0)


def test_a_province_search_finds_plates_read_in_every_district_within_scope(
    session: Session, factory: Factory
) -> None:
    lahore, multan = factory.district(), factory.district()
    configured = centres(lahore.code, multan.code)
    in_lahore = read("LEA1234", camera="Mall Road 1")
    in_multan = read("LEA1234", at=NOW + dt.timedelta(hours=1), camera="Chowk Kumharan")
    receive(
        session,
        configured,
        message(in_lahore, "sighting"),
        message(in_multan, "sighting", centre="mul", key=KEY_B),
        message(read("MNB4321"), "sighting"),
        message(read(None), "sighting"),  # unreadable: kept, never found by a plate
    )
    province = factory.principal(factory.user("supervisor"))
    found = federation.search_plates(session=session, principal=province, q="lea-1234", purpose="FIR 12/2026")
    assert [(r.centre, r.original_id, r.camera_name) for r in found] == [
        ("mul", in_multan.id, "Chowk Kumharan"),
        ("lhr", in_lahore.id, "Mall Road 1"),
    ]
    # Fuzzy finds a misread (8 for B, 0 for O) as the district's own search does; prefix too.
    assert (
        len(
            federation.search_plates(
                session=session, principal=province, q="MN84321", purpose="FIR 12/2026", mode="fuzzy"
            )
        )
        == 1
    )
    assert (
        len(
            federation.search_plates(
                session=session, principal=province, q="LEA", purpose="FIR 12/2026", mode="prefix"
            )
        )
        == 2
    )
    # A user of Lahore's district sees Lahore's reads only; the filter by centre narrows further.
    lahore_only = factory.principal(factory.user("supervisor", districts=[lahore]))
    found = federation.search_plates(
        session=session, principal=lahore_only, q="LEA1234", purpose="FIR 12/2026"
    )
    assert [r.centre for r in found] == ["lhr"]
    assert (
        federation.search_plates(
            session=session, principal=province, q="LEA1234", purpose="FIR 12/2026", centre="mul"
        )[0].original_id
        == in_multan.id
    )
    # Every search is audited with its purpose; none without one; none without the permission.
    searches = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "federation.plates.search")
    ).all()
    assert {e.purpose for e in searches} == {"FIR 12/2026"}
    with pytest.raises(InvalidInput):
        federation.search_plates(session=session, principal=province, q="LEA1234", purpose="")
    operator = factory.principal(factory.user("operator"))
    with pytest.raises(PermissionDenied):
        federation.search_plates(session=session, principal=operator, q="LEA1234", purpose="FIR 12/2026")


def test_a_district_user_sees_only_the_centres_and_records_of_their_districts(
    session: Session, factory: Factory
) -> None:
    lahore, multan = factory.district(), factory.district()
    configured = centres(lahore.code, multan.code)
    receive(
        session,
        configured,
        message(alert(), "alert"),
        message(alert(), "alert", centre="mul", key=KEY_B),
    )
    in_lahore = factory.principal(factory.user("supervisor", districts=[lahore]))
    assert [
        c.code for c in federation.centres(session=session, principal=in_lahore, configured=configured)
    ] == ["lhr"]
    assert [a.centre for a in federation.alerts(session=session, principal=in_lahore)] == ["lhr"]
    province = factory.principal(factory.user("supervisor"))
    assert sorted(a.centre for a in federation.alerts(session=session, principal=province)) == ["lhr", "mul"]
