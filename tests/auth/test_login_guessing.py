"""An attacker at the login form: the answer confirms no username, one address cannot guess for long, and
wrong enrolment codes lock the account as wrong login codes do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import PASSWORD, Factory
from safecity.auth import passwords
from safecity.config import AuthSettings, Settings

MAX_FAILURES = 8  # per address in the window: above the account lockout threshold (5)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth": AuthSettings(address_max_failures=MAX_FAILURES)})


@pytest.fixture
def from_address(web_app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    """A client that connects from a given address."""
    clients: list[TestClient] = []

    def _client(address: str) -> TestClient:
        client = TestClient(web_app, client=(address, 40000))
        clients.append(client)
        return client

    yield _client
    for client in clients:
        client.close()


def _login(client: TestClient, username: str, password: str) -> tuple[int, object]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return response.status_code, response.json()


def test_unknown_wrong_and_locked_get_one_answer_at_one_cost(
    factory: Factory,
    from_address: Callable[[str], TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = factory.user("operator", districts=[factory.district()], mfa=False)
    factory.session.commit()
    checks: list[str | None] = []
    real_verify = passwords.verify_password

    def counted(password_hash: str | None, password: str) -> bool:
        checks.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counted)
    client = from_address("192.0.2.10")

    unknown = _login(client, "nobody-by-this-name", "some password!")
    wrong = _login(client, user.username, "not the password")
    for _ in range(4):  # the fifth failure locks the account
        assert _login(client, user.username, "not the password") == wrong
    locked_wrong = _login(client, user.username, "not the password")
    locked_right = _login(client, user.username, PASSWORD)  # locked: not even the right one is told apart

    assert unknown[0] == 401
    assert unknown == wrong == locked_wrong == locked_right
    assert len(checks) == 8  # every attempt paid for one password hash check
    assert checks[0] is None and all(c == user.password_hash for c in checks[1:])


def test_one_address_is_throttled_for_every_username_but_others_are_not(
    factory: Factory, from_address: Callable[[str], TestClient]
) -> None:
    district = factory.district()
    victim = factory.user("operator", districts=[district], mfa=False)
    bystander = factory.user("operator", districts=[district], mfa=False)
    factory.session.commit()
    attacker = from_address("198.51.100.7")

    for attempt in range(MAX_FAILURES):
        status, _ = _login(attacker, f"guess{attempt}" if attempt % 2 else victim.username, "password guess!")
        assert status == 401
    # The address is now refused whatever it tries, even a right password of an account it never tried.
    throttled = attacker.post(
        "/api/v1/auth/login", json={"username": bystander.username, "password": PASSWORD}
    )
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
    page = attacker.post("/login", data={"username": bystander.username, "password": PASSWORD})
    assert page.status_code == 429 and "Retry-After" in page.headers

    # Another address is not held back, and the account the attacker did not lock logs in from there.
    status, body = _login(from_address("203.0.113.20"), bystander.username, PASSWORD)
    assert status == 200, body


def test_wrong_enrolment_codes_count_towards_the_lockout(
    factory: Factory, from_address: Callable[[str], TestClient]
) -> None:
    user = factory.user("investigator", districts=[factory.district()], mfa=False)
    factory.session.commit()
    client = from_address("192.0.2.30")
    status, body = _login(client, user.username, PASSWORD)
    assert status == 200 and body["mfa_step"] == "enrol"  # type: ignore[index]
    client.headers["X-CSRF-Token"] = body["csrf_token"]  # type: ignore[index]
    secret = client.post("/api/v1/auth/mfa/enrol").json()["secret"]
    wrong = next(c for c in ("000000", "111111") if c != pyotp.TOTP(secret).now())

    for _ in range(4):
        refused = client.post("/api/v1/auth/mfa/confirm", json={"code": wrong})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "bad_mfa_code"
    locked = client.post("/api/v1/auth/mfa/confirm", json={"code": wrong})
    assert locked.status_code == 423, locked.text
    # The half-finished login is over, and the account stays locked for a new login too.
    assert client.post("/api/v1/auth/mfa/confirm", json={"code": pyotp.TOTP(secret).now()}).status_code == 401
    status, _ = _login(from_address("192.0.2.31"), user.username, PASSWORD)
    assert status == 401
