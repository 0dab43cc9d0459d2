"""Bad input gets a clear 4xx with a stable error code, and nothing half-written."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.auth.models import User


@pytest.fixture
def admin_client(factory: Factory, login_as: Callable[..., TestClient]) -> TestClient:
    return login_as(factory.user("admin"))


def _users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def _code(response: object) -> str:
    return str(response.json()["error"]["code"])  # type: ignore[attr-defined]


def test_malformed_json(admin_client: TestClient, session: Session) -> None:
    before = _users(session)
    response = admin_client.post(
        "/api/v1/users", content=b'{"username": "x",', headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, _code(response)) == (400, "malformed_json")
    assert _users(session) == before


def test_unknown_fields_are_refused(admin_client: TestClient, session: Session) -> None:
    before = _users(session)
    response = admin_client.post(
        "/api/v1/users",
        json={
            "username": "someone",
            "password": "a long enough password",
            "province_wide": True,
            "is_admin": True,
        },
    )
    assert (response.status_code, _code(response)) == (422, "invalid_input")
    assert any(d["field"] == "is_admin" for d in response.json()["error"]["details"])
    assert _users(session) == before


def test_wrong_content_type(admin_client: TestClient) -> None:
    response = admin_client.post(
        "/api/v1/users", content=b"username=x", headers={"Content-Type": "text/plain"}
    )
    assert (response.status_code, _code(response)) == (415, "unsupported_media_type")


def test_oversized_body(admin_client: TestClient) -> None:
    response = admin_client.post(
        "/api/v1/users", content=b"{" + b" " * 2_000_000 + b"}", headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, _code(response)) == (413, "payload_too_large")


def test_oversized_chunked_body(admin_client: TestClient) -> None:
    def chunks() -> object:
        for _ in range(40):
            yield b" " * 65536

    response = admin_client.post(
        "/api/v1/users", content=chunks(), headers={"Content-Type": "application/json"}
    )  # type: ignore[arg-type]
    assert (response.status_code, _code(response)) == (413, "payload_too_large")


@pytest.mark.parametrize(
    "username",
    [
        "admin' OR '1'='1",
        "x; DROP TABLE users; --",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "a" * 65,
    ],
)
def test_injection_shaped_usernames_are_invalid_input(
    admin_client: TestClient, session: Session, username: str
) -> None:
    before = _users(session)
    response = admin_client.post(
        "/api/v1/users",
        json={"username": username, "password": "a long enough password", "province_wide": True},
    )
    assert (response.status_code, _code(response)) == (422, "invalid_input")
    assert _users(session) == before


def test_injection_shaped_login_is_just_a_failed_login(client: TestClient, session: Session) -> None:
    response = client.post("/api/v1/auth/login", json={"username": "' OR 1=1 --", "password": "' OR 1=1 --"})
    assert (response.status_code, _code(response)) == (401, "bad_credentials")


def test_bad_path_parameter(admin_client: TestClient) -> None:
    response = admin_client.get("/api/v1/users/not-a-uuid")
    assert (response.status_code, _code(response)) == (422, "invalid_input")


def test_unknown_route_and_method(admin_client: TestClient) -> None:
    assert _code(admin_client.get("/api/v1/nothing-here")) == "not_found"
    assert _code(admin_client.patch("/api/v1/districts", json={})) == "method_not_allowed"


def test_a_wrong_method_is_told_every_method_the_address_takes(admin_client: TestClient) -> None:
    # One address, several routes (GET and POST /api/v1/users): `Allow` names them all (RFC 9110).
    for method, path, allowed in [
        ("PATCH", "/api/v1/districts", "GET"),
        ("DELETE", "/api/v1/users", "GET, POST"),
        ("OPTIONS", "/api/v1/users", "GET, POST"),
        ("PUT", "/login", "GET, POST"),
    ]:
        response = admin_client.request(method, path)
        assert (response.status_code, _code(response)) == (405, "method_not_allowed"), path
        assert response.headers.get("allow") == allowed, (method, path)


def _datetime_query_parameters(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path, name) of every query parameter of the API that takes a moment in time."""
    found = []
    for path, operations in client.get("/api/v1/openapi.json").json()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                formats = {s.get("format") for s in [schema, *schema.get("anyOf", [])]}
                if parameter["in"] == "query" and "date-time" in formats:
                    found.append((method.upper(), path, parameter["name"]))
    return found


def test_moments_are_iso_8601_with_a_time_zone_and_nothing_else(
    admin_client: TestClient, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    parameters = _datetime_query_parameters(admin_client)
    assert ("GET", "/api/v1/events", "since") in parameters and len(parameters) >= 10
    for method, path, name in parameters:
        url = path.replace("{camera_id}", str(uuid.uuid4())).replace("{rule_id}", str(uuid.uuid4()))
        # Unix numbers (Pydantic's own reading), a bare date or a time with no zone are refused.
        for value in ("0.5", "1700000000", "2026-01-31", "2026-01-31T08:00:00"):
            response = admin_client.request(method, url, params={name: value})
            assert response.status_code == 422, (method, path, name, value)
            fields = [d["field"] for d in response.json()["error"]["details"]]
            assert f"query.{name}" in fields, (method, path, name, value, fields)
    supervisor = login_as(factory.user("supervisor"))
    for value in ("2026-01-31T08:00:00+05:00", "2026-01-31T03:00:00Z", "2026-01-31t03:00:00.5z"):
        response = supervisor.get("/api/v1/events", params={"since": value, "until": "2026-02-01T00:00:00Z"})
        assert response.status_code == 200, (value, response.text)


def test_a_failed_change_leaves_nothing_half_written(
    admin_client: TestClient, factory: Factory, session: Session
) -> None:
    district = factory.district()
    target = factory.user("operator", districts=[district])
    session.commit()
    response = admin_client.put(
        f"/api/v1/users/{target.id}/access",
        json={"roles": ["operator", "no-such-role"], "district_ids": [str(district.id)]},
    )
    assert response.status_code == 404
    session.expire_all()
    assert session.get(User, target.id).role_names == {"operator"}  # type: ignore[union-attr]


def test_csrf_token_is_required_for_cookie_sessions(admin_client: TestClient) -> None:
    token = admin_client.headers.pop("X-CSRF-Token")
    response = admin_client.post("/api/v1/tokens", json={"name": "x", "permissions": ["tokens.manage"]})
    assert (response.status_code, _code(response)) == (403, "csrf_failed")
    admin_client.headers["X-CSRF-Token"] = token


def test_no_session_means_401(client: TestClient) -> None:
    response = client.get("/api/v1/users")
    assert (response.status_code, _code(response)) == (401, "not_authenticated")


def test_a_nul_character_in_a_body_is_invalid_input_on_every_database(
    admin_client: TestClient, session: Session
) -> None:
    """PostgreSQL cannot hold NUL in text: it used to answer 500 where SQLite stored it (found by fuzzing)."""
    before = _users(session)
    body = {"username": "nul\x00user", "password": "a long enough password", "province_wide": True}
    response = admin_client.post("/api/v1/users", json=body)
    assert (response.status_code, _code(response)) == (422, "invalid_input")
    assert "NUL" in response.text
    assert _users(session) == before


def test_a_nul_character_in_the_address_is_refused(admin_client: TestClient) -> None:
    for path in (
        "/api/v1/cameras?q=gate%00",
        "/api/v1/audit?actor=%00",
        "/api/v1/roles/ad%00min/permissions",
    ):
        response = admin_client.get(path)
        assert (response.status_code, _code(response)) == (400, "nul_character"), path
