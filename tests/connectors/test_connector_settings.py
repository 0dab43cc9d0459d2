"""Connectors configured by an administrator (API and /admin/connectors) against a real HTTP service on
127.0.0.1: secrets are sealed at rest and never shown (only "set" / "not set"), a change rebuilds the shared
instance, every change and test is audited, the health shows the circuit and the endpoint without credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from connectors.http_server import TOKEN, Service, http_service
from safecity.audit.models import AuditEntry
from safecity.connectors.hub import ConnectorHub
from safecity.connectors.models import ConnectorSetting
from safecity.core.crypto import SecretBox
from safecity.runtime import Services


@pytest.fixture
def service() -> Iterator[Service]:
    with http_service("/verisys/v1/identities") as found:
        yield found


@pytest.fixture
def admin(factory: Factory, login_as: Callable[..., TestClient]) -> TestClient:
    return login_as(factory.user("admin"))


def configure(client: TestClient, name: str, url: str, **extra: object) -> dict[str, object]:
    body = {
        "type": "identity.rest",
        "config": {"url": url, "timeout_s": 0.5, "retries": 0, "breaker_failures": 2},
    }
    response = client.put(f"/api/v1/connectors/{name}", json=body | extra)
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def test_a_secret_is_sealed_at_rest_and_never_shown(
    service: Service, admin: TestClient, session: Session, services: Services
) -> None:
    saved = configure(admin, "NADRA", service.url, secrets={"token": TOKEN})
    assert saved["secrets"] == {"token": "set"} and TOKEN not in json.dumps(saved)
    listed = admin.get("/api/v1/connectors")
    assert listed.status_code == 200 and TOKEN not in listed.text
    names = {c["name"]: c for c in listed.json()}
    assert set(names) == {"vehicle registry", "NADRA"}
    assert names["vehicle registry"]["source"] == "settings" and names["NADRA"]["source"] == "admin"
    assert names["NADRA"]["health"]["state"] == "closed"
    row = session.scalars(select(ConnectorSetting).where(ConnectorSetting.name == "NADRA")).one()
    assert TOKEN not in json.dumps(row.secrets) and TOKEN not in json.dumps(row.config)
    box = SecretBox(services.settings.secret_key.get_secret_value(), "connectors")
    assert box.decrypt(row.secrets["token"]) == TOKEN
    page = admin.get("/admin/connectors")
    assert page.status_code == 200 and "NADRA" in page.text and TOKEN not in page.text
    assert "token: set" in page.text
    # A change without the secret keeps it; null removes it.
    assert configure(admin, "NADRA", service.url)["secrets"] == {"token": "set"}
    assert configure(admin, "NADRA", service.url, secrets={"token": None})["secrets"] == {"token": "not set"}
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "connectors.configure")).all()
    assert len(entries) == 3 and all(TOKEN not in json.dumps(e.detail) for e in entries)
    assert entries[0].detail["secrets"] == ["token"]


def test_a_change_rebuilds_the_shared_instance_and_the_old_one_is_let_go(
    service: Service, admin: TestClient, session: Session, services: Services
) -> None:
    configure(admin, "NADRA", service.url)
    hub = services.connectors
    hub.sync(session)
    first = hub.get("NADRA")
    assert first is not None and hub.get("NADRA") is first  # one shared instance
    with http_service("/v2/identities") as moved:
        configure(admin, "NADRA", moved.url)
        hub.sync(session)
        second = hub.get("NADRA")
        assert second is not None and second is not first
        assert second.health().endpoint == moved.url and services.identity is second
        # Another process's hub follows the stored settings too.
        other = ConnectorHub(SecretBox(services.settings.secret_key.get_secret_value(), "connectors"))
        other.sync(session)
        rebuilt = other.get("NADRA")
        assert rebuilt is not None and rebuilt.health().endpoint == moved.url


def test_test_calls_the_service_and_the_health_shows_what_went_wrong(
    service: Service, admin: TestClient, session: Session
) -> None:
    configure(admin, "NADRA", service.url.replace("http://", "http://user:pw@"), secrets={"token": TOKEN})
    service.answer("", {"status": "up"})
    ok = admin.post("/api/v1/connectors/NADRA/test")
    assert ok.status_code == 200 and ok.json()["ok"] is True, ok.text
    service.answer("", {"error": "bad token"}, status=401)
    refused = admin.post("/api/v1/connectors/NADRA/test").json()
    assert refused["ok"] is False and "refused our credentials" in refused["message"]
    service.answer("", "<html>down for maintenance</html>", status=502)
    failing = admin.post("/api/v1/connectors/NADRA/test").json()
    assert failing["ok"] is False and failing["health"]["state"] == "open"  # two failures in a row
    health = failing["health"]
    assert health["endpoint"] == service.url and "pw" not in json.dumps(health) and health["last_error"]
    page = admin.post("/admin/connectors/NADRA/test")
    assert page.status_code == 200 and "circuit open" in page.text
    assert admin.post("/api/v1/connectors/vehicle registry/test").json()["ok"] is True  # local extract
    assert admin.post("/api/v1/connectors/nothing/test").status_code == 404
    tests = session.scalars(select(AuditEntry).where(AuditEntry.action == "connectors.test")).all()
    assert [e.outcome for e in tests] == ["success", "failure", "failure", "failure", "success"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "nothing.rest", "config": {}}, "unknown_connector"),
        ({"type": "identity.rest", "config": {"url": "ftp://x"}}, "bad_connector_config"),
        (
            {"type": "identity.rest", "config": {"url": "http://x", "token": "in the open"}},
            "bad_connector_config",
        ),
        ({"type": "identity.rest", "config": {"url": "http://x", "rate_per_s": 0}}, "bad_connector_config"),
        (
            {"type": "identity.rest", "config": {"url": "http://x"}, "secrets": {"pin": "1"}},
            "bad_connector_config",
        ),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message_and_nothing_stored(
    body: dict[str, object], code: str, admin: TestClient, session: Session
) -> None:
    response = admin.put("/api/v1/connectors/NADRA", json=body)
    assert response.status_code == 422 and response.json()["error"]["code"] == code, response.text
    assert "in the open" not in response.text
    assert session.scalars(select(ConnectorSetting)).all() == []


def test_the_settings_file_connector_cannot_be_edited_and_others_may_not_configure(
    admin: TestClient, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    fixed = admin.put("/api/v1/connectors/vehicle registry", json={"type": "vehicles.extract"})
    assert fixed.status_code == 422 and fixed.json()["error"]["code"] == "connector_fixed"
    operator = login_as(factory.user("operator"))
    assert operator.get("/api/v1/connectors").status_code == 403
    assert operator.get("/admin/connectors").status_code == 403


def test_the_page_form_saves_a_connector_with_its_secret(
    service: Service, admin: TestClient, session: Session
) -> None:
    saved = admin.post(
        "/admin/connectors",
        data={
            "name": "NADRA",
            "type": "identity.rest",
            "config": json.dumps({"url": service.url}),
            "token": TOKEN,
        },
    )
    assert saved.status_code == 200 and "Saved" in saved.text, saved.text
    bad = admin.post("/admin/connectors", data={"name": "NADRA", "type": "identity.rest", "config": "{url"})
    assert "not JSON" in bad.text
    row = session.scalars(select(ConnectorSetting)).one()
    assert row.config == {"url": service.url} and set(row.secrets) == {"token"}
