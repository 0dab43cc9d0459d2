"""The vehicle registry connector against a real HTTP registry on 127.0.0.1: answers are validated, stored
and cached; a registry that hangs, fails or answers garbage gives a clear, typed error (503/502 with a stable
code), opens its circuit after repeated failures and closes it when it recovers; the token never shows. A
registry that cannot answer falls back to the last answer held for the plate, marked stale, within a limit.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from conftest import Factory, wait_until
from connectors.registry_server import TOKEN, RegistryServer, registration, registry_server
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.config import RegistrySettings
from safecity.connectors.base import (
    ConnectorBadResponse,
    ConnectorRefused,
    ConnectorTimeout,
    ConnectorUnavailable,
)
from safecity.connectors.vehicles import service as vehicles
from safecity.connectors.vehicles.models import Registration
from safecity.connectors.vehicles.registries import RestRegistry, RestRegistryConfig, build_registry
from safecity.connectors.vehicles.schemas import CSV_HEADER, LookupOut
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, PermissionDenied
from safecity.runtime import Services

PURPOSE = "FIR 112/2026 PS Hayatabad"


@pytest.fixture
def server() -> Iterator[RegistryServer]:
    with registry_server() as found:
        yield found


def rest(server: RegistryServer, **changes: object) -> RestRegistry:
    config = {
        "url": server.url,
        "token": TOKEN,
        "timeout_s": 0.5,
        "retries": 1,
        "backoff_s": 0.01,
        "backoff_max_s": 0.02,
        "breaker_failures": 3,
        "breaker_reset_s": 0.5,
        **changes,
    }
    return RestRegistry(RestRegistryConfig.model_validate(config))


@pytest.fixture
def officer(factory: Factory) -> Principal:
    return factory.principal(factory.user("traffic_officer"))


def test_a_live_answer_is_validated_stored_cached_and_audited(
    server: RegistryServer, session: Session, officer: Principal
) -> None:
    server.register("LEB1O5", colour="Navy Blue", **{"class": "Jeep"})
    registry = build_registry(
        RegistrySettings(type="rest", url=server.url, token=TOKEN, timeout_s=1, cache_ttl_s=600)
    )
    found = vehicles.lookup(
        session=session, principal=officer, registry=registry, plate="leb-1o5", purpose=PURPOSE
    )
    # The registry is asked for the plate as typed; the row is kept under its folded key (O -> 0, B -> 8).
    assert found.found and found.plate == "LE8105" and server.hits["LEB1O5"] == 1
    assert found.owner is not None and found.vehicle is not None
    assert (found.owner.cnic, found.owner.phone) == ("17301-1234567-2", "+923001234567")
    assert (found.vehicle.vehicle_class, found.vehicle.colour) == ("car", "navy blue")
    assert server.authorisations == [f"Bearer {TOKEN}"]
    row = session.get(Registration, "LE8105")
    assert row is not None and row.source == "rest:vehicle registry" and row.owner_name == "Ayesha Khan"

    again = vehicles.lookup(
        session=session, principal=officer, registry=registry, plate="LEB105", purpose=PURPOSE
    )
    # LEB105 folds the same: the stored row (younger than the TTL) answers without asking the registry.
    assert again.found and sum(server.hits.values()) == 1

    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "registry.lookup").order_by(AuditEntry.seq)
    ).all()
    assert [(e.object_id, e.purpose, e.actor_name) for e in entries[-2:]] == [
        ("LE8105", PURPOSE, officer.username)
    ] * 2
    assert registry.health().state == "closed" and registry.health().last_success_at is not None


def test_an_unregistered_plate_is_an_answer_not_an_error(
    server: RegistryServer, session: Session, officer: Principal
) -> None:
    registry = rest(server)
    for _ in range(2):
        found = vehicles.lookup(
            session=session, principal=officer, registry=registry, plate="XYX999", purpose=PURPOSE
        )
        assert not found.found and found.owner is None
    assert server.hits["XYX999"] == 1  # "not found" is believed for a while
    assert registry.health().state == "closed"


def test_every_lookup_states_its_purpose_and_needs_the_permission(
    server: RegistryServer, session: Session, officer: Principal, factory: Factory
) -> None:
    registry = rest(server)
    with pytest.raises(InvalidInput) as missing:
        vehicles.lookup(session=session, principal=officer, registry=registry, plate="LEA1234", purpose="  ")
    assert missing.value.code == "purpose_required"
    with pytest.raises(InvalidInput) as bad:
        vehicles.lookup(session=session, principal=officer, registry=registry, plate="لاہور", purpose=PURPOSE)
    assert bad.value.code == "bad_plate"
    operator = factory.principal(factory.user("operator"))
    with pytest.raises(PermissionDenied, match=r"registry\.lookup"):
        vehicles.lookup(
            session=session, principal=operator, registry=registry, plate="LEA1234", purpose=PURPOSE
        )
    assert sum(server.hits.values()) == 0


def test_a_registry_that_hangs_times_out_after_its_retries(
    server: RegistryServer, session: Session, officer: Principal
) -> None:
    server.answer("LMN111", registration("LMN111"), delay_s=1.5)
    registry = rest(server, timeout_s=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(ConnectorTimeout) as caught:
        vehicles.lookup(
            session=session, principal=officer, registry=registry, plate="LMN111", purpose=PURPOSE
        )
    elapsed = time.monotonic() - started
    assert (caught.value.status, caught.value.code) == (503, "connector_timeout")
    assert "did not answer within 0.3 s (2 tries)" in caught.value.message
    assert server.hits["LMN111"] == 2 and elapsed < 1.5  # two tries of 0.3 s, never the registry's 1.5 s
    health = registry.health()
    assert health.failures == 1 and health.last_error is not None and "no answer" in health.last_error
    assert session.get(Registration, "LMN111") is None


def test_a_registry_that_cannot_answer_falls_back_to_its_last_answer_marked_stale(
    server: RegistryServer, session: Session, officer: Principal
) -> None:
    server.register("LEA1234")
    # No TTL: every look-up asks the registry; its last answer stands in for up to an hour.
    registry = rest(server, cache_ttl_s=0, timeout_s=0.3, retries=0, breaker_failures=3, stale_max_age_s=3600)

    def ask(plate: str = "LEA1234") -> LookupOut:
        return vehicles.lookup(
            session=session, principal=officer, registry=registry, plate=plate, purpose=PURPOSE
        )

    fresh = ask()
    assert fresh.found and not fresh.stale and fresh.stale_reason is None and fresh.updated_at is not None
    fetched = fresh.updated_at

    server.answer("LEA1234", registration("LEA1234", owner_name="Someone Else"), delay_s=1.0)  # hangs
    stale = ask()
    assert stale.stale and stale.updated_at == fetched and stale.owner is not None
    assert stale.owner.name == "Ayesha Khan"  # the last answer held, not the one the registry never sent
    assert stale.stale_reason is not None and "did not answer within 0.3 s" in stale.stale_reason
    assert server.hits["LEA1234"] == 2  # it was asked, and gave up on

    # A plate it holds nothing of is still the registry's 503.
    server.answer("LMN111", registration("LMN111"), delay_s=1.0)
    with pytest.raises(ConnectorTimeout) as caught:
        ask("LMN111")
    assert (caught.value.status, caught.value.code) == (503, "connector_timeout")

    # Three failures open the circuit; while it is open the last answer still stands in, and says why.
    assert ask().stale and registry.health().state == "open"
    opened = ask()
    assert opened.stale and opened.stale_reason is not None and "circuit open" in opened.stale_reason
    assert server.hits["LEA1234"] == 3

    # An answer older than the limit is not shown: the look-up fails as it would without one.
    session.execute(
        update(Registration)
        .where(Registration.plate == "LEA1234")
        .values(updated_at=utcnow() - dt.timedelta(hours=2))
    )
    with pytest.raises(ConnectorUnavailable, match="circuit open"):
        ask()

    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "registry.lookup").order_by(AuditEntry.seq)
    ).all()
    # Each look-up answered is audited with its purpose; a stale one says so, with when it was fetched.
    assert [e.detail.get("stale", False) for e in entries] == [False, True, True, True]
    assert entries[1].detail["fetched_at"] == fetched.isoformat() and entries[1].purpose == PURPOSE


def test_no_fallback_when_the_limit_is_zero(
    server: RegistryServer, session: Session, officer: Principal
) -> None:
    server.register("LEA1234")
    registry = rest(server, cache_ttl_s=0, retries=0, stale_max_age_s=0)
    vehicles.lookup(session=session, principal=officer, registry=registry, plate="LEA1234", purpose=PURPOSE)
    server.answer("LEA1234", {"error": "down"}, status=503)
    with pytest.raises(ConnectorUnavailable, match="HTTP 503"):
        vehicles.lookup(
            session=session, principal=officer, registry=registry, plate="LEA1234", purpose=PURPOSE
        )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"plate": "LMN222", "owner_name": ', "is not JSON"),
        (b"<html><body>Service temporarily down</body></html>", "is not JSON"),
        (b'["a", "list"]', "does not fit"),
        ({"plate": "LMN222", "owner_name": "X", "owner_cnic": "98765", "class": "car"}, "owner_cnic"),
        (
            b'{"plate": "LMN222", "owner_name": "A\\ud800", "owner_cnic": "17301-1234567-1", "class": "car"}',
            "not text",
        ),
        (
            {"plate": "LMN222", "owner_name": "X", "owner_cnic": "12345-1234567-1", "class": "spaceship"},
            "class",
        ),
    ],
)
def test_garbage_is_a_bad_response_and_nothing_is_stored(
    server: RegistryServer, session: Session, officer: Principal, body: object, expected: str
) -> None:
    server.answer("LMN222", body)
    registry = rest(server)
    with pytest.raises(ConnectorBadResponse) as caught:
        vehicles.lookup(
            session=session, principal=officer, registry=registry, plate="LMN222", purpose=PURPOSE
        )
    assert (caught.value.status, caught.value.code) == (502, "connector_bad_response")
    assert expected in caught.value.message
    assert "98765" not in caught.value.message  # what was wrong, never the personal data sent
    assert server.hits["LMN222"] == 1  # garbage is not retried
    assert session.get(Registration, "LMN222") is None


def test_the_answer_must_be_the_plate_asked_for(
    server: RegistryServer, session: Session, officer: Principal
) -> None:
    server.answer("LEA1234", registration("LEA9999"))
    with pytest.raises(ConnectorBadResponse, match="another plate"):
        vehicles.lookup(
            session=session, principal=officer, registry=rest(server), plate="LEA1234", purpose=PURPOSE
        )


def test_refused_credentials_are_named(server: RegistryServer, session: Session, officer: Principal) -> None:
    server.answer("LEA1234", {"error": "unauthorised"}, status=401)
    with pytest.raises(ConnectorRefused) as caught:
        vehicles.lookup(
            session=session, principal=officer, registry=rest(server), plate="LEA1234", purpose=PURPOSE
        )
    assert (caught.value.status, caught.value.code) == (502, "connector_unauthorised")
    assert server.hits["LEA1234"] == 1


def test_failures_open_the_circuit_which_closes_when_the_registry_recovers(
    server: RegistryServer, session: Session, officer: Principal, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.answer("LEA1234", {"error": "database down"}, status=500)
    registry = rest(server, retries=1, breaker_failures=3, breaker_reset_s=0.6)

    def call() -> None:
        vehicles.lookup(
            session=session, principal=officer, registry=registry, plate="LEA1234", purpose=PURPOSE
        )

    for _ in range(3):
        with pytest.raises(ConnectorUnavailable, match="HTTP 500"):
            call()
    assert server.hits["LEA1234"] == 6  # three calls, each retried once
    assert registry.health().state == "open"
    with pytest.raises(ConnectorUnavailable) as refused:
        call()
    assert (refused.value.status, refused.value.code) == (503, "connector_unavailable")
    assert "circuit open" in refused.value.message and "HTTP 500" in refused.value.message
    assert server.hits["LEA1234"] == 6  # an open circuit asks nobody
    health = registry.health()
    assert health.opened_until is not None and health.failures == 3

    # After the reset time one trial goes out; the registry still fails: open again at once.
    wait_until(lambda: registry.health().state == "half_open", within=3)
    with pytest.raises(ConnectorUnavailable):
        call()
    assert server.hits["LEA1234"] == 8 and registry.health().state == "open"

    # The registry recovers: the next trial closes the circuit.
    server.register("LEA1234")
    wait_until(lambda: registry.health().state == "half_open", within=3)
    found = vehicles.lookup(
        session=session, principal=officer, registry=registry, plate="LEA1234", purpose=PURPOSE
    )
    assert found.found and registry.health().state == "closed" and registry.health().failures == 0

    # Whatever failed, the token showed nowhere but in the Authorization header.
    assert (
        TOKEN not in caplog.text and TOKEN not in repr(registry.health()) and TOKEN not in repr(registry.rest)
    )
    assert set(server.authorisations) == {f"Bearer {TOKEN}"}


def test_an_unreachable_registry_is_unavailable(session: Session, officer: Principal) -> None:
    with registry_server() as gone:
        url = gone.url
    registry = RestRegistry(RestRegistryConfig(url=url, timeout_s=0.5, retries=1, backoff_s=0.01))
    with pytest.raises(ConnectorUnavailable, match="connection failed"):
        vehicles.lookup(
            session=session, principal=officer, registry=registry, plate="LEA1234", purpose=PURPOSE
        )


# --- through the API and the page -------------------------------------------------------------------


def test_the_api_answers_clear_errors_for_a_sick_registry(
    server: RegistryServer,
    services: Services,
    factory: Factory,
    login_as: Callable[..., TestClient],
) -> None:
    services.vehicle_registry = rest(server, timeout_s=0.3, retries=0, breaker_failures=2)
    server.register("LEA1234")
    server.answer("LMN111", b"{}", delay_s=1.0)
    server.answer("LMN222", b"{not json")
    client = login_as(factory.user("traffic_officer"))

    ok = client.get("/api/v1/registry/vehicles/LEA-1234", params={"purpose": PURPOSE})
    assert ok.status_code == 200, ok.text
    assert ok.json()["owner"]["cnic"] == "17301-1234567-2" and ok.json()["vehicle"]["make"] == "Toyota"

    slow = client.get("/api/v1/registry/vehicles/LMN111", params={"purpose": PURPOSE})
    assert slow.status_code == 503 and slow.json()["error"]["code"] == "connector_timeout"
    garbage = client.get("/api/v1/registry/vehicles/LMN222", params={"purpose": PURPOSE})
    assert garbage.status_code == 502 and garbage.json()["error"]["code"] == "connector_bad_response"
    # Two failures in a row: the circuit is open and the registry is left alone.
    hits = sum(server.hits.values())
    refused = client.get("/api/v1/registry/vehicles/LEA9999", params={"purpose": PURPOSE})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "connector_unavailable"
    assert sum(server.hits.values()) == hits

    no_purpose = client.get("/api/v1/registry/vehicles/LEA1234")
    assert no_purpose.status_code == 422 and no_purpose.json()["error"]["code"] == "purpose_required"

    page = client.get("/registry")
    assert page.status_code == 200
    assert 'data-testid="health-state">open<' in page.text and "not JSON" in page.text
    assert TOKEN not in page.text

    operator = login_as(factory.user("operator"))
    assert operator.get("/api/v1/registry/vehicles/LEA1234", params={"purpose": PURPOSE}).status_code == 403
    assert operator.get("/registry").status_code == 403


def test_the_api_and_the_page_mark_a_stale_answer_with_its_fetch_time(
    server: RegistryServer, services: Services, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    services.vehicle_registry = rest(server, cache_ttl_s=0, timeout_s=0.3, retries=0)
    server.register("LEA1234")
    client = login_as(factory.user("traffic_officer"))
    fresh = client.get("/api/v1/registry/vehicles/LEA1234", params={"purpose": PURPOSE})
    assert fresh.status_code == 200 and fresh.json()["stale"] is False
    server.answer("LEA1234", {"error": "down"}, status=502)
    stale = client.get("/api/v1/registry/vehicles/LEA1234", params={"purpose": PURPOSE})
    assert stale.status_code == 200, stale.text
    body = stale.json()
    assert body["stale"] is True and "HTTP 502" in body["stale_reason"]
    assert body["updated_at"] == fresh.json()["updated_at"] and body["owner"]["name"] == "Ayesha Khan"
    page = client.post("/registry/lookup", data={"plate": "LEA1234", "purpose": PURPOSE})
    assert page.status_code == 200 and 'data-testid="lookup-stale"' in page.text
    assert "last answer, fetched" in page.text and 'data-testid="lookup-owner">Ayesha Khan<' in page.text


def test_the_page_looks_a_plate_up_with_its_purpose(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    client = login_as(factory.user("admin"))
    imported = client.post(
        "/api/v1/registry/imports?dry_run=false",
        json={
            "csv": _extract(
                "LEA1234,KP,Bilal Ahmed,17301-1234567-1,03001234567,,,Honda,CD70,red,motorcycle,,"
            )
        },
    )
    assert imported.status_code == 200, imported.text
    officer = login_as(factory.user("traffic_officer"))
    answer = officer.post("/registry/lookup", data={"plate": "lea 1234", "purpose": PURPOSE})
    assert answer.status_code == 200
    assert 'data-testid="lookup-owner">Bilal Ahmed<' in answer.text and "Honda CD70" in answer.text
    refused = officer.post("/registry/lookup", data={"plate": "LEA1234", "purpose": ""})
    assert refused.headers["HX-Retarget"] == "#flash" and "purpose" in refused.text
    session.expire_all()
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "registry.lookup").order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None and entry.purpose == PURPOSE and entry.object_id == "LEA1234"


def _extract(*rows: str) -> str:
    return "\n".join((",".join(CSV_HEADER), *rows)) + "\n"
