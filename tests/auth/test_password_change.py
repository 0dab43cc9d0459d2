"""Changing one's own password, and an administrator's reset that forces a change at the next login."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import PASSWORD, Factory
from safecity.audit.models import AuditEntry
from safecity.auth.models import LoginSession

NEW = "a brand new passphrase 42"
HTMX = {"HX-Request": "true"}


def _change(client: TestClient, current: str, new: str, repeat: str | None = None) -> object:
    return client.post(
        "/account/password",
        data={"current_password": current, "new_password": new, "repeat_password": repeat or new},
        headers=HTMX,
    )


def _field(response: object) -> tuple[int, str, str]:
    error = response.json()["error"]  # type: ignore[attr-defined]
    return response.status_code, error["code"], error["details"][0]["field"]  # type: ignore[attr-defined]


def _login(web_app: FastAPI, factory: Factory, username: str, password: str) -> tuple[TestClient, int]:
    client = TestClient(web_app)
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    if response.status_code == 200:
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        if response.json()["mfa_step"] == "verify":
            verified = client.post("/api/v1/auth/mfa/verify", json={"code": factory.totp(username)})
            assert verified.status_code == 204, verified.text
    return client, response.status_code


def test_a_user_changes_their_password_and_their_other_sessions_end(
    factory: Factory, login_as: Callable[..., TestClient], web_app: FastAPI, session: Session
) -> None:
    # No second factor here: two logins within one TOTP step would be refused as a replayed code.
    user = factory.user("operator", districts=[factory.district()], mfa=False)
    here, elsewhere = login_as(user), login_as(user)
    assert here.get("/account").text.count('href="/account/password"') == 1
    assert here.get("/account/password").status_code == 200

    # Each refusal names its field, so the form shows it there.
    assert _field(_change(here, "not my password", NEW)) == (422, "bad_password", "current_password")
    assert _field(_change(here, PASSWORD, "short")) == (422, "weak_password", "new_password")
    assert _field(_change(here, PASSWORD, f"x{user.username}yz123456")) == (
        422,
        "weak_password",
        "new_password",
    )
    assert _field(_change(here, PASSWORD, NEW, NEW + "!")) == (422, "mismatch", "repeat_password")
    assert _field(_change(here, PASSWORD, PASSWORD)) == (422, "same_password", "new_password")

    done = _change(here, PASSWORD, NEW)
    assert done.status_code == 200 and "Your password is changed" in done.text  # type: ignore[attr-defined]
    assert here.get("/api/v1/auth/me").status_code == 200  # this session goes on
    assert elsewhere.get("/api/v1/auth/me").status_code == 401  # the other one ended
    session.expire_all()
    ended = session.scalars(select(LoginSession.end_reason).where(LoginSession.user_id == user.id)).all()
    assert "password_changed" in ended

    assert _login(web_app, factory, user.username, PASSWORD)[1] == 401
    assert _login(web_app, factory, user.username, NEW)[1] == 200
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "auth.password.change", AuditEntry.actor_id == user.id)
    ).all()
    assert [e.outcome for e in entries] == ["success"]
    failures = session.scalars(
        select(AuditEntry.detail).where(AuditEntry.action == "auth.login", AuditEntry.actor_id == user.id)
    ).all()
    assert {"reason": "bad_current_password", "locked": False} in failures


def test_an_administrators_reset_forces_a_change_at_the_next_login(
    factory: Factory, login_as: Callable[..., TestClient], web_app: FastAPI, session: Session
) -> None:
    district = factory.district()
    admin = login_as(factory.user("admin"))
    user = factory.user("operator", districts=[district], mfa=False)
    before = login_as(user)

    reset = admin.post(f"/admin/users/{user.id}/reset-password", headers=HTMX)
    assert reset.status_code == 200 and "must change it" in reset.text
    temporary = reset.text.split('data-testid="temporary-password">')[1].split("<")[0]
    assert before.get("/api/v1/auth/me").status_code == 401  # their sessions ended
    assert "new password due" in admin.get("/admin/users").text

    client, status = _login(web_app, factory, user.username, temporary)
    assert status == 200
    # Until it is changed, every page leads to the password page and the API refuses.
    page = client.get("/alerts", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/account/password")
    htmx = client.get("/alerts", headers=HTMX, follow_redirects=False)
    assert htmx.headers["HX-Redirect"] == "/account/password"
    api = client.get("/api/v1/alerts")
    assert api.status_code == 403 and api.json()["error"]["code"] == "password_change_required"
    form = client.get("/account/password")
    assert "An administrator reset your password" in form.text

    changed = _change(client, temporary, NEW)
    assert changed.status_code == 204 and changed.headers["HX-Redirect"] == "/"  # type: ignore[attr-defined]
    assert client.get("/api/v1/alerts").status_code == 200
    assert _login(web_app, factory, user.username, NEW)[1] == 200
    assert session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "users.password.reset", AuditEntry.object_id == str(user.id)
        )
    ).one()


def test_a_reset_stays_within_the_administrators_districts(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    mine, other = factory.district(), factory.district()
    admin_user = factory.user("admin", districts=[mine])
    admin = login_as(admin_user)
    outsider = factory.user("operator", districts=[other])
    refused = admin.post(f"/api/v1/users/{outsider.id}/reset-password")
    assert refused.status_code == 404
    own = admin.post(f"/api/v1/users/{admin_user.id}/reset-password")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_account"
    insider = factory.user("operator", districts=[mine])
    answer = admin.post(f"/api/v1/users/{insider.id}/reset-password")
    assert answer.status_code == 200 and answer.json()["user"]["must_change_password"] is True
    assert len(answer.json()["temporary_password"]) >= 12
    operator = login_as(factory.user("operator", districts=[mine]))
    assert operator.post(f"/api/v1/users/{insider.id}/reset-password").status_code == 403
