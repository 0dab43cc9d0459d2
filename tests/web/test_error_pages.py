"""A browser gets every error as a page in the layout with a next step; the API, fetch and htmx keep JSON."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import Factory

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _page(response: object) -> str:
    text: str = response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("text/html"), text  # type: ignore[attr-defined]
    assert 'data-testid="error-page"' in text and '<nav aria-label="Main">' in text
    return text


def test_a_missing_page_is_a_page_in_the_layout_and_the_api_stays_json(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("operator", districts=[factory.district()]))
    response = client.get("/no/such/page", headers={**HTML, "Referer": "http://testserver/alerts"})
    assert response.status_code == 404
    text = _page(response)
    assert "Not found" in text and "Check the address" in text
    assert 'href="/alerts"' in text  # back where the reader came from
    assert re.search(r"Error <code>not_found</code> · HTTP 404", text)

    api = client.get("/api/v1/no-such-thing", headers=HTML)
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    # htmx does not swap error answers: it gets the JSON, which safecity.js shows.
    htmx = client.get("/no/such/page", headers={**HTML, "HX-Request": "true"})
    assert htmx.status_code == 404 and htmx.json()["error"]["code"] == "not_found"
    fetched = client.get("/no/such/page", headers={"Accept": "*/*"})
    assert fetched.json()["error"]["code"] == "not_found"


def test_a_refusal_names_the_permission_to_ask_for(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("operator", districts=[factory.district()]))
    response = client.get("/audit", headers=HTML)
    assert response.status_code == 403
    text = _page(response)
    assert "Ask an administrator for the permission &#39;audit.read&#39;" in text
    assert "permission_denied" in text
    api = client.get("/api/v1/audit")
    assert api.status_code == 403 and api.json()["error"]["code"] == "permission_denied"


def test_invalid_input_lists_the_fields_to_fix(factory: Factory, login_as: Callable[..., TestClient]) -> None:
    client = login_as(factory.user("operator", districts=[factory.district()]))
    response = client.get("/analytics/events", params={"camera_id": "not-an-id"}, headers=HTML)
    assert response.status_code == 422
    text = _page(response)
    assert "Some fields need fixing" in text and "<b>camera id</b>" in text
    assert client.get("/analytics/events", params={"camera_id": "x"}).json()["error"]["details"]


def test_wrong_method_too_large_and_expired_form(
    factory: Factory, login_as: Callable[..., TestClient], web_app: FastAPI
) -> None:
    client = login_as(factory.user("admin"))
    wrong = client.delete("/audit", headers=HTML)
    assert wrong.status_code == 405 and "does not take a DELETE request" in _page(wrong)
    assert wrong.headers["Allow"] == "GET"

    limit = web_app.state.services.settings.web.max_body_bytes
    big = client.post(
        "/admin/users", content=b"x" * (limit + 1), headers={**HTML, "Content-Type": "text/plain"}
    )
    assert big.status_code == 413 and "Too large" in big.text and "payload_too_large" in big.text
    assert big.headers["content-type"].startswith("text/html")

    # A plain form posted with a stale token: what to do is to reload, or log in again.
    expired = client.post("/logout", data={"csrf_token": "stale"}, headers=HTML)
    assert expired.status_code == 403
    text = _page(expired)
    assert "csrf_failed" in text and 'href="/login"' in text


def test_an_unexpected_failure_is_a_page_with_a_reference(web_app: FastAPI) -> None:
    def boom() -> None:
        raise RuntimeError("a bug")

    web_app.add_api_route(f"/boom-{uuid.uuid4().hex}", boom)
    path = web_app.router.routes[-1].path  # type: ignore[attr-defined]
    with TestClient(web_app, raise_server_exceptions=False) as client:
        page = client.get(path, headers=HTML)
        assert page.status_code == 500 and "Something went wrong on our side" in page.text
        assert "internal_error" in page.text and "Log in" in page.text  # nobody logged in: no navigation
        assert client.get(path).json()["error"]["code"] == "internal_error"


def test_the_error_page_speaks_the_readers_language(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    # A reader who chose Urdu: a missing page (no page of the app took the request) and a refusal, in Urdu,
    # right to left, the next steps too; the permission's name and the error's code as they are.
    reader = factory.user("operator", districts=[factory.district()])
    reader.language = "ur"
    factory.session.commit()
    client = login_as(reader)
    text = client.get("/no/such/page", headers=HTML).text
    assert '<html lang="ur" dir="rtl">' in text and '<nav aria-label="مرکزی">' in text
    assert "نہیں ملا" in text and "آپ کیا کر سکتے ہیں" in text
    assert "پتہ چیک کریں" in text and "Check the address" not in text
    assert re.search(r"خرابی <code>not_found</code> · HTTP 404", text)
    refused = client.get("/audit", headers=HTML).text
    assert "آپ یہ نہیں کر سکتے" in refused and "&#39;audit.read&#39;" in refused

    # Someone not logged in who asks for Urdu in the browser gets it as well.
    anonymous = TestClient(client.app)
    text = anonymous.get("/no/such/page", headers={**HTML, "Accept-Language": "ur"}).text
    assert '<html lang="ur" dir="rtl">' in text and "نہیں ملا" in text
