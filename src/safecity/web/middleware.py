"""ASGI middleware: body limits, content types, request ids, access logs, metrics and security headers."""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safecity.core.logging import request_id
from safecity.web import errors
from safecity.web.deps import SESSION_COOKIE

logger = logging.getLogger("safecity.access")

REQUESTS = Counter("safecity_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("safecity_http_request_seconds", "HTTP request latency", ["method", "route"])

NO_STORE = (b"cache-control", b"no-store")
STATIC_PREFIX = "/static/"  # the same for everyone: browsers may keep it
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Routes that take files get the larger upload limit (a portal appeal's own limit is enforced as it is read).
UPLOAD_SUFFIX = (
    "/attachments",
    "/entries/import",
    "/registry/imports",
    "/quality/imports",
    "/appeal",
    "/enrolments",  # face enrolment: several photos at once
)
_JSON_TYPES = ("application/json",)


async def _send_error(send: Send, status: int, code: str, message: str, scope: Scope | None = None) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    content_type = b"application/json"
    if scope is not None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if errors.wants_page(scope["path"], headers):
            page = errors.error_page_html(
                status=status,
                code=code,
                message=message,
                path=scope["path"],
                method=scope["method"],
                headers=headers,
            )
            body, content_type = page.encode(), b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Refuse oversized bodies, non-JSON API bodies and NUL in the path or query before any handler runs."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or any(nul in scope["query_string"] for nul in (b"%00", b"\x00")):
            # PostgreSQL cannot store or compare NUL in text: refused here, the same on every database.
            await _send_error(
                send, 400, "nul_character", "the address must not contain NUL characters", scope
            )
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        limit = self.max_upload_bytes if scope["path"].endswith(UPLOAD_SUFFIX) else self.max_body_bytes
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_error(send, 413, "payload_too_large", f"the body exceeds {limit} bytes", scope)
            return
        if (
            scope["method"] in _BODY_METHODS
            and scope["path"].startswith("/api/")
            and (length not in (None, b"0") or b"transfer-encoding" in headers)
        ):
            ctype = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
            if ctype not in _JSON_TYPES:
                await _send_error(send, 415, "unsupported_media_type", "send the body as application/json")
                return
        received = 0
        started = rejected = False

        async def limited_receive() -> Message:
            # A chunked body has no length up front: count it as it arrives, answer 413 at the limit,
            # and tell the handler the client went away so it stops reading.
            nonlocal received, started, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    rejected = True
                    if not started:
                        started = True
                        await _send_error(
                            send, 413, "payload_too_large", f"the body exceeds {limit} bytes", scope
                        )
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 has been sent already
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise


def _route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/users/{user_id}`), so metrics do not explode per id."""
    path = getattr(scope.get("route"), "path", None)
    return str(path) if path else "unmatched"


@functools.cache
def security_headers(tiles_origin: str = "") -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer carries; pictures may also come from the map's tile server, if it has one.

    Nothing inline: no inline scripts, no `<style>` elements or style attributes (scripts may still set
    element.style, as Leaflet does), so stored text that became markup could neither run nor restyle a page.
    """
    images = f"'self' data: blob: {tiles_origin}".strip()
    csp = (
        f"default-src 'self'; img-src {images}; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "media-src 'self' blob:; frame-ancestors 'none'"
    )
    return (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy", csp.encode()),
    )


def _tiles_origin(scope: Scope) -> str:
    """The configured tile server's origin: Starlette puts the application in the scope before middleware."""
    services = getattr(getattr(scope.get("app"), "state", None), "services", None)
    return str(services.settings.web.map_tiles_origin) if services is not None else ""


def _carries_credentials(scope: Scope) -> bool:
    """A session cookie or an Authorization header: the answer may be personal, whatever the route."""
    headers = dict(scope["headers"])
    if b"authorization" in headers:
        return True
    cookie = headers.get(b"cookie")
    return cookie is not None and SESSION_COOKIE in cookie_parser(cookie.decode("latin-1"))


class ObservabilityMiddleware:
    """Request id, one structured access-log line per request, Prometheus metrics, security headers,
    and no-store on what is answered to a login or a token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        start = time.perf_counter()
        tiles_origin = _tiles_origin(scope)
        # Answers to a logged-in person or a token are never kept by browsers or proxies, unless the
        # route says otherwise (an event stream, a snapshot).
        no_store = _carries_credentials(scope) and not scope["path"].startswith(STATIC_PREFIX)

        async def wrapped_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), *security_headers(tiles_origin)]
                if no_store and not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append(NO_STORE)
                message["headers"] = [*headers, (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, wrapped_send)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            client = scope.get("client")
            logger.info(
                "%s %s %s",
                scope["method"],
                route,
                status,
                extra={
                    "status": status,
                    "ms": round(elapsed * 1000, 1),
                    "client": client[0] if client else None,
                },
            )
            request_id.reset(token)
