"""Request dependencies: the database session and the acting principal (cookie session or API token)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth import service as users
from safecity.auth import sessions, tokens
from safecity.auth.models import LoginSession, User
from safecity.auth.permissions import requires_mfa
from safecity.auth.principal import Principal
from safecity.core.errors import NotAuthenticated, PasswordChangeRequired, PermissionDenied
from safecity.runtime import Services

SESSION_COOKIE = "safecity_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# How many requests may hold a database session at once. The wait for a slot happens on the event loop,
# never in a worker thread: a request's sync steps hop between threads while it holds its connection (and,
# on SQLite, the write lock), so blocked threads waiting for connections could starve the holders.
DB_SLOTS = {"sqlite": 8, "postgresql": 15}  # 15: SQLAlchemy's default pool (5 + 10 overflow)


def _db_slots(request: Request) -> asyncio.Semaphore:
    state = request.app.state
    slots: asyncio.Semaphore | None = getattr(state, "db_slots", None)
    if slots is None:
        backend = make_url(get_services(request).settings.effective_database_url).get_backend_name()
        slots = state.db_slots = asyncio.Semaphore(DB_SLOTS.get(backend, 15))
    return slots


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One session per request, committed if the handler succeeds and rolled back if it fails.

    A refused access is rolled back like any failure, then recorded in the audit log on its own.
    """
    async with _db_slots(request):
        session = get_services(request).session_factory()
        try:
            yield session
            await run_in_threadpool(session.commit)
        except PermissionDenied as exc:
            await run_in_threadpool(_record_denial, session, request, exc)
            raise
        except BaseException:
            await run_in_threadpool(session.rollback)
            raise
        finally:
            await run_in_threadpool(session.close)


def _record_denial(session: Session, request: Request, exc: PermissionDenied) -> None:
    session.rollback()
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        record_denial(session=session, principal=principal, request=request, exc=exc)
        session.commit()


def record_denial(*, session: Session, principal: Principal, request: Request, exc: PermissionDenied) -> None:
    """Audit a refused access (in the caller's transaction, which must not hold the refused work)."""
    audit.record(
        session=session,
        actor=principal,
        action="access.denied",
        outcome="denied",
        detail={"method": request.method, "path": request.url.path, "code": exc.code, "reason": exc.message},
    )


# Function scope: the commit happens before the response is sent, so a 2xx means the write is durable.
Db = Annotated[Session, Depends(get_db, scope="function")]


def client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass(frozen=True)
class Login:
    """A browser's session, complete or still waiting for its second factor."""

    login_session: LoginSession
    user: User


def _resolve_login(request: Request, db: Session) -> Login | None:
    token = request.cookies.get(SESSION_COOKIE)
    resolved = token and sessions.resolve(session=db, policy=get_services(request).settings.auth, token=token)
    return Login(*resolved) if resolved else None


def get_login(request: Request, db: Db) -> Login:
    """The cookie session of this request, complete or not; unsafe methods must carry its CSRF header."""
    login = _resolve_login(request, db)
    if login is None:
        raise NotAuthenticated("please log in", code="not_authenticated")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent, login.login_session.csrf_token):
            raise PermissionDenied("missing or wrong CSRF token", code="csrf_failed")
    return login


def optional_login(request: Request, db: Db) -> Login | None:
    """The cookie session if there is a live one, for the login pages (their forms carry the CSRF token)."""
    return _resolve_login(request, db)


def get_principal(request: Request, db: Db) -> Principal:
    """Who is acting: a bearer API token, or a cookie session that has passed any MFA step."""
    auth = request.headers.get("Authorization", "")
    if auth:
        scheme, _, secret = auth.partition(" ")
        principal = tokens.resolve(session=db, secret=secret.strip(), client_addr=client_addr(request))
        if scheme.lower() != "bearer" or principal is None:
            raise NotAuthenticated("invalid or revoked API token", code="bad_token")
        request.state.principal = principal
        return principal
    login = get_login(request, db)
    principal = users.principal_for(session=db, user=login.user, client_addr=client_addr(request))
    # A role that became sensitive after login still needs the second factor before it is used.
    if not login.login_session.mfa_verified or (
        requires_mfa(principal.permissions) and not login.user.mfa_enabled
    ):
        raise NotAuthenticated("complete the second login step first", code="mfa_required")
    if login.user.must_change_password:  # after an administrator's reset: the password page only
        raise PasswordChangeRequired("your password was reset: choose a new one at /account/password first")
    request.state.principal = principal
    return principal


CurrentLogin = Annotated[Login, Depends(get_login)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
