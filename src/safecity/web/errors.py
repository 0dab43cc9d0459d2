"""Every failure becomes a clear JSON error with a stable code, or an error page in the layout for a browser.

A browser that navigates (or posts a plain form) gets a page that says what happened and what to do next,
with the code shown small. API calls (/api/…), callers that do not ask for HTML, and htmx requests keep the
JSON shape: htmx does not swap an error answer, and safecity.js shows its message (and a 422's fields).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from safecity import __version__
from safecity.auth import service as users
from safecity.auth import sessions
from safecity.auth.principal import Principal
from safecity.core.errors import (
    InvalidInput,
    NotAuthenticated,
    PasswordChangeRequired,
    SafecityError,
    TooManyRequests,
)
from safecity.core.logging import request_id
from safecity.web import i18n
from safecity.web.deps import SESSION_COOKIE, client_addr, get_services
from safecity.web.i18n import N_, gettext_in
from safecity.web.pages import TEMPLATES, nav_for

logger = logging.getLogger(__name__)

CHANGE_PASSWORD_PAGE = "/account/password"  # noqa: S105 (an address, not a secret)
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}
_TITLES = {
    400: N_("The request could not be understood"),
    401: N_("Please log in"),
    403: N_("You may not do this"),
    404: N_("Not found"),
    405: N_("Not possible at this address"),
    409: N_("This clashes with something already there"),
    413: N_("Too large"),
    415: N_("Not a kind of content this page takes"),
    422: N_("Some fields need fixing"),
    423: N_("Account locked"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong on our side"),
}
_PERMISSION = re.compile(r"'([a-z_]+\.[a-z_.]+)' permission")


def error_response(
    status: int, code: str, message: str, details: object = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one shape of every error: {"error": {"code", "message", "details"?}}."""
    body: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path (Starlette's 405 names only the first route's)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


def wants_page(path: str, headers: Mapping[str, str]) -> bool:
    """Whether the caller is a browser showing the answer as a page (not the API, not fetch, not htmx)."""
    return (
        not path.startswith("/api/")
        and "text/html" in headers.get("accept", "")
        and not headers.get("hx-request")
    )


def _wants_page(request: Request) -> bool:
    return wants_page(request.url.path, request.headers)


@dataclass(frozen=True)
class Step:
    """One thing the reader can do next, with a link where there is a place to go."""

    message: str  # English, with %(name)s placeholders filled from `values` (translated where shown)
    href: str | None = None
    label: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The step in English."""
        return self.message % self.values if self.values else self.message

    def shown(self, lang: str) -> dict[str, str | None]:
        """The step as the page shows it, in `lang`."""
        return {
            "text": gettext_in(lang, self.message, **self.values),
            "href": self.href,
            "label": gettext_in(lang, self.label) if self.label else None,
        }


def _field_name(field: str) -> str:
    """`query.since` or `body.full_name` as a person reads it: `since`, `full name`."""
    name = field.rsplit(".", 1)[-1] if field else ""
    return name.replace("_", " ") or "the request"


def next_steps(status: int, code: str, message: str, *, method: str = "GET", logged_in: bool) -> list[Step]:
    """What to do about an error, in plain words: the heart of an error page."""
    home = Step(N_("Go to your start page."), "/", N_("Start page")) if logged_in else None
    steps: list[Step] = []
    if code == "csrf_failed":
        steps = [
            Step(
                N_(
                    "The page was open for a long time, or you logged in again elsewhere: "
                    "reload it and retry."
                )
            ),
            Step(N_("If it keeps happening, log in again."), "/login", N_("Log in again")),
        ]
    elif code == "password_change_required":
        steps = [Step(N_("Set a new password first."), CHANGE_PASSWORD_PAGE, N_("Change password"))]
    elif status == 403:
        permission = _PERMISSION.search(message)
        if permission:
            steps.append(
                Step(
                    N_(
                        "Ask an administrator for the permission '%(permission)s' "
                        "(a role that holds it), if your work needs it."
                    ),
                    values={"permission": permission.group(1)},
                )
            )
        else:
            steps.append(Step(N_("Ask an administrator if your work needs this access.")))
    elif status == 404:
        steps = [
            Step(
                N_(
                    "Check the address: the record may have been removed, "
                    "or belong to a district outside yours."
                )
            ),
        ]
    elif status == 405:
        steps = [
            Step(
                N_("This address does not take a %(method)s request: use the page's own links and buttons."),
                values={"method": method},
            )
        ]
    elif status == 409:
        steps = [Step(N_("Reload the page to see what is there now, then try again."))]
    elif status == 413:
        steps = [Step(N_("Choose a smaller file, or split the upload into parts."))]
    elif status == 415:
        steps = [Step(N_("Send the form from its page again."))]
    elif status == 422:
        steps = [Step(N_("Go back, correct the fields named above, and send the form again."))]
    elif status == 423:
        steps = [Step(N_("Wait until the lock ends, or ask an administrator to unlock the account."))]
    elif status == 429:
        steps = [Step(N_("Wait a little before trying again."))]
    elif status >= 500:
        steps = [
            Step(N_("Try again in a moment.")),
            Step(N_("If it keeps happening, tell the administrator and quote the reference below.")),
        ]
    else:
        steps = [Step(N_("Go back and check what you entered."))]
    return [*steps, *([home] if home else [Step(N_("Log in."), "/login", N_("Log in"))])]


def _back_link(headers: Mapping[str, str], host: str | None) -> str | None:
    """The page the reader came from, if it is on this site (never an outside address)."""
    referer = headers.get("referer", "")
    parts = urlsplit(referer)
    if not referer or (host and parts.netloc != host) or not parts.path.startswith("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def error_page_html(
    *,
    status: int,
    code: str,
    message: str,
    path: str,
    method: str,
    headers: Mapping[str, str],
    details: Sequence[Mapping[str, Any]] = (),
    viewer: tuple[Principal, str] | None = None,
    request: Request | None = None,
) -> str:
    """The error page, in the site layout (with the reader's navigation when they are logged in)."""
    principal, csrf = viewer if viewer else (None, None)
    fields = [
        {"name": _field_name(str(d.get("field", ""))), "problem": str(d.get("problem", ""))} for d in details
    ]
    # The reader's language: as the page they asked for would have it (set by get_page), else asked for.
    lang = getattr(request.state, "language", None) if request is not None else None
    if lang is None and request is not None:
        lang = i18n.choose(request, default=get_services(request).settings.default_language)
    lang = lang or "en"
    if request is not None:
        request.state.language = lang
    title = _TITLES.get(status, N_("Something went wrong") if status >= 500 else N_("That did not work"))
    template = TEMPLATES.get_template("error.html")
    return template.render(
        lang=lang,
        direction=i18n.direction(lang),
        request=request,
        principal=principal,
        nav=nav_for(principal) if principal else [],
        csrf_token=csrf,
        map_tiles_url="",
        version=__version__,
        current_path=path,
        status=status,
        code=code,
        title=gettext_in(lang, title),
        message=message,
        fields=fields,
        steps=[
            step.shown(lang)
            for step in next_steps(status, code, message, method=method, logged_in=principal is not None)
        ],
        back=_back_link(headers, headers.get("host")),
        reference=request_id.get(),
    )


def _viewer(request: Request) -> tuple[Principal, str] | None:
    """Who is reading the error page, for the layout's navigation: the principal and its CSRF token."""
    principal = getattr(request.state, "principal", None)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    services = get_services(request)
    try:
        with services.session_factory() as db:
            resolved = sessions.resolve(session=db, policy=services.settings.auth, token=token)
            if resolved is None or not resolved[0].mfa_verified:
                db.commit()
                return None
            login_session, user = resolved
            if not isinstance(principal, Principal):
                principal = users.principal_for(session=db, user=user, client_addr=client_addr(request))
            csrf = login_session.csrf_token
            if getattr(request.state, "language", None) is None:  # an error before the page knew its reader
                request.state.language = i18n.choose(
                    request, preference=user.language, default=services.settings.default_language
                )
            db.commit()
    except Exception:  # the page must still show when the database is what failed
        logger.warning("error page: could not tell who is reading it", exc_info=True)
        return None
    return principal, csrf


async def _page(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    viewer = await run_in_threadpool(_viewer, request)
    html = error_page_html(
        status=status,
        code=code,
        message=message,
        path=request.url.path,
        method=request.method,
        headers=request.headers,
        details=details,
        viewer=viewer,
        request=request,
    )
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


def install(app: FastAPI) -> None:
    """Register the error handlers."""

    @app.exception_handler(SafecityError)
    async def _safecity(request: Request, exc: SafecityError) -> Response:
        browser = not request.url.path.startswith("/api/") and (
            "text/html" in request.headers.get("accept", "") or request.headers.get("HX-Request")
        )
        if isinstance(exc, NotAuthenticated | PasswordChangeRequired) and browser:
            if isinstance(exc, PasswordChangeRequired):
                target = CHANGE_PASSWORD_PAGE
            else:
                target = "/login/mfa" if exc.code == "mfa_required" else "/login"
            if request.headers.get("HX-Request"):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        field = exc.field if isinstance(exc, InvalidInput) else None
        details = [{"field": field, "problem": exc.message}] if field else None
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else {}
        if _wants_page(request):
            return await _page(request, exc.status, exc.code, exc.message, details or (), headers)
        return error_response(exc.status, exc.code, exc.message, details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
            for e in errors
        ]
        message = "some fields are missing or not valid"
        if _wants_page(request):
            return await _page(request, 422, "invalid_input", message, details)
        return error_response(422, "invalid_input", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})  # they belong to the answer, as a 405's `Allow`
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
        if _wants_page(request):
            return await _page(request, exc.status_code, code, str(exc.detail), (), headers)
        return error_response(exc.status_code, code, str(exc.detail), None, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        message = "something went wrong on our side; it has been logged"
        if _wants_page(request):
            return await _page(request, 500, "internal_error", message)
        return error_response(500, "internal_error", message)
