"""Headers every answer carries: a CSP with nothing inline, and no-store for anything answered to a login."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory
from safecity.app import build_services, create_app
from safecity.auth import tokens
from safecity.config import Settings, WebSettings


def _csp(response: object) -> dict[str, str]:
    header = response.headers["content-security-policy"]  # type: ignore[attr-defined]
    directives = (part.strip().split(" ", 1) for part in header.split(";"))
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


@pytest.fixture
def tiled_client(settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    """The application configured with a tile server elsewhere."""
    web = settings.web.model_copy(update={"map_tiles_url": "https://{s}.tiles.police.local/{z}/{x}/{y}.png"})
    services = build_services(settings.model_copy(update={"web": web}), session_factory=session_factory)
    with TestClient(create_app(services=services)) as c:
        yield c


def test_the_csp_allows_nothing_inline_and_pictures_from_here_only(client: TestClient) -> None:
    for path in ("/login", "/api/v1/auth/me", "/static/safecity.css"):
        csp = _csp(client.get(path))
        assert csp["style-src"] == "'self'", path  # no 'unsafe-inline': no <style>, no style attributes
        assert csp["script-src"] == "'self'", path
        assert csp["img-src"] == "'self' data: blob:", path  # no `https:`: no pictures from anywhere


def test_pictures_may_also_come_from_the_configured_tile_server(tiled_client: TestClient) -> None:
    csp = _csp(tiled_client.get("/login"))
    assert csp["img-src"] == "'self' data: blob: https://*.tiles.police.local"  # `{s}`: any subdomain


@pytest.mark.parametrize(
    "url", ["//tiles.example/{z}/{x}/{y}.png", "https://tiles.example; script-src *", "javascript:alert(1)"]
)
def test_a_tile_server_that_is_not_a_web_address_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="map_tiles_url"):
        WebSettings(map_tiles_url=url)


def test_answers_to_a_login_or_a_token_are_never_stored(
    client: TestClient, factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    user = factory.user("admin", "supervisor")
    actor = factory.principal(user)
    _, secret = tokens.create(session=session, actor=actor, name="t", permissions=["org.read"])
    browser = login_as(user)
    for path in ("/api/v1/auth/me", "/", "/admin/users", "/api/v1/no-such-thing"):  # JSON, pages, errors
        assert browser.get(path).headers.get("cache-control") == "no-store", path
    machine = client.get("/api/v1/districts", headers={"Authorization": f"Bearer {secret}"})
    assert machine.status_code == 200, machine.text
    assert machine.headers.get("cache-control") == "no-store"
    # What is the same for everyone may be kept, and a route's own rule stands.
    assert "cache-control" not in browser.get("/static/safecity.css").headers
    assert browser.get("/api/v1/events/stream?max_seconds=0.1").headers["cache-control"] == "no-cache"
    assert "no-store" not in client.get("/login").headers.get("cache-control", "")
