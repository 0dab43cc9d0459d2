"""Logging in: passwords, lockout, the TOTP second factor, and server-side sessions."""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass
from typing import Literal

import pyotp
import segno
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth import passwords
from safecity.auth import service as users
from safecity.auth.models import LoginSession, User
from safecity.auth.principal import Principal
from safecity.config import AuthSettings
from safecity.core.crypto import SecretBox, token_digest
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, Locked, NotAuthenticated, TooManyRequests

MfaStep = Literal["verify", "enrol"]
# One answer for an unknown username, a wrong password and a locked account, so none can be told apart;
# it still tells the real user why a right password may be refused for a while.
_BAD_LOGIN = "invalid username or password (after repeated failures, logging in is paused for a while)"


def _bad_login() -> NotAuthenticated:
    return NotAuthenticated(_BAD_LOGIN, code="bad_credentials")


def _locked(policy: AuthSettings) -> Locked:
    return Locked(f"too many failed attempts: the account is locked for {policy.lockout_minutes} minutes")


@dataclass(frozen=True)
class LoginResult:
    token: str  # the cookie value; only its digest is stored
    login_session: LoginSession
    mfa_step: MfaStep | None  # what the user must still do before the session is complete


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


def _actor(user: User, client_addr: str | None) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        permissions=frozenset(),
        district_ids=None,
        client_addr=client_addr,
    )


def _fail(
    session: Session, user: User, policy: AuthSettings, now: dt.datetime, reason: str, addr: str | None
) -> None:
    """Count a failed attempt, lock the account at the threshold, and keep the record even as we refuse."""
    user.failed_logins += 1
    if user.failed_logins >= policy.lockout_threshold:
        user.locked_until = now + dt.timedelta(minutes=policy.lockout_minutes)
        user.failed_logins = 0
    audit.record(
        session=session,
        actor=_actor(user, addr),
        action="auth.login",
        outcome="failure",
        object_type="user",
        object_id=str(user.id),
        detail={"reason": reason, "locked": user.locked_until is not None and user.locked_until > now},
    )
    session.commit()


def _throttle(session: Session, policy: AuthSettings, client_addr: str | None, now: dt.datetime) -> None:
    """Refuse an address that failed too often in the sliding window, whatever username it tries next."""
    if client_addr is None:
        return
    window = dt.timedelta(minutes=policy.address_window_minutes)
    recent = audit.recent_times(
        session=session,
        action="auth.login",
        outcome="failure",
        client_addr=client_addr,
        since=now - window,
        limit=policy.address_max_failures,
    )
    if len(recent) < policy.address_max_failures:
        return
    # The window slides: the address may try again once the oldest of these failures leaves it.
    retry_after = max(1, math.ceil((recent[-1] + window - now).total_seconds()))
    audit.record(
        session=session,
        actor=_anonymous(client_addr),
        action="auth.login",
        outcome="denied",  # not a failure: waiting out the window is not extended by knocking
        detail={"reason": "address_throttled", "retry_after": retry_after},
    )
    session.commit()
    raise TooManyRequests(
        f"too many failed logins from your address: try again in {retry_after} seconds",
        retry_after=retry_after,
        code="too_many_attempts",
    )


def _anonymous(client_addr: str | None, username: str = "") -> Principal:
    return Principal(
        user_id=None,
        username=username[:64],
        permissions=frozenset(),
        district_ids=None,
        client_addr=client_addr,
    )


def login(
    *,
    session: Session,
    policy: AuthSettings,
    username: str,
    password: str,
    client_addr: str | None = None,
    user_agent: str | None = None,
    now: dt.datetime | None = None,
) -> LoginResult:
    """Check a password and open a session; the session is complete only once any MFA step is done.

    An unknown username, a wrong password and a locked account get the same answer at the same cost
    (one password hash check each), so the answer confirms no username. The account lock stays (5
    failures lock it for 10 minutes, or until an administrator re-enables it): anyone can still lock an
    account they can name, but the per-address throttle bounds how many one address can lock, and
    slows guessing to `address_max_failures` per window per address.
    """
    now = now or utcnow()
    _throttle(session, policy, client_addr, now)
    user = users.find_by_username(session=session, username=username)
    # Always one hash check (a dummy one for an unknown user): refusing must not be faster for some.
    matches = passwords.verify_password(user.password_hash if user else None, password)
    if user is None:
        audit.record(
            session=session,
            actor=_anonymous(client_addr, username),
            action="auth.login",
            outcome="failure",
            detail={"reason": "unknown_user"},
        )
        session.commit()
        raise _bad_login()
    if users.is_locked(user, now):
        # Not even a right password is told apart while locked: the lock would otherwise be an oracle.
        _fail(session, user, policy, now, "locked", client_addr)
        raise _bad_login()
    if not matches:
        _fail(session, user, policy, now, "bad_password", client_addr)
        raise _bad_login()
    if not user.is_active:  # said only to someone who knows the password
        _fail(session, user, policy, now, "disabled", client_addr)
        raise NotAuthenticated("this account is disabled", code="account_disabled")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.failed_logins = 0
    access = users.access_of(session=session, user=user)
    mfa_step: MfaStep | None = None
    if user.mfa_enabled:
        mfa_step = "verify"
    elif access.mfa_required:
        mfa_step = "enrol"
    token = secrets.token_urlsafe(32)
    login_session = LoginSession(
        token_digest=token_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        mfa_verified=mfa_step is None,
        client_addr=client_addr,
        user_agent=(user_agent or "")[:255] or None,
        created_at=now,
        last_seen_at=now,
    )
    session.add(login_session)
    session.flush()
    audit.record(
        session=session,
        actor=_actor(user, client_addr),
        action="auth.login",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
        detail={"mfa_step": mfa_step},
    )
    session.commit()
    return LoginResult(token, login_session, mfa_step)


def resolve(
    *, session: Session, policy: AuthSettings, token: str, now: dt.datetime | None = None
) -> tuple[LoginSession, User] | None:
    """The live session behind a cookie, ending it if it sat idle too long or is too old."""
    now = now or utcnow()
    login_session = session.scalars(
        select(LoginSession).where(LoginSession.token_digest == token_digest(token))
    ).one_or_none()
    if login_session is None or login_session.ended_at is not None:
        return None
    user = session.get(User, login_session.user_id)
    expired = None
    if user is None or not user.is_active:
        expired = "disabled"
    elif now - login_session.last_seen_at > dt.timedelta(minutes=policy.session_idle_minutes):
        expired = "idle"
    elif now - login_session.created_at > dt.timedelta(hours=policy.session_max_hours):
        expired = "max_age"
    if expired or user is None:
        login_session.ended_at, login_session.end_reason = now, expired
        session.commit()
        return None
    # Touch at most once a minute: an idle timeout does not need a write on every request.
    if now - login_session.last_seen_at > dt.timedelta(seconds=60):
        login_session.last_seen_at = now
    return login_session, user


def logout(*, session: Session, login_session: LoginSession, client_addr: str | None = None) -> None:
    """End a session."""
    login_session.ended_at, login_session.end_reason = utcnow(), "logout"
    user = session.get(User, login_session.user_id)
    if user is not None:
        audit.record(
            session=session,
            actor=_actor(user, client_addr),
            action="auth.logout",
            outcome="success",
            object_type="user",
            object_id=str(user.id),
        )


def _accept_code(user: User, secret: str, code: str, now: dt.datetime) -> bool:
    """Check a TOTP code (±1 step of clock drift) and refuse any step already used."""
    totp = pyotp.TOTP(secret)
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == totp.digits):
        return False
    step = int(now.timestamp()) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            if user.mfa_last_step is not None and candidate <= user.mfa_last_step:
                return False
            user.mfa_last_step = candidate
            return True
    return False


def _refuse_if_locked(
    session: Session, policy: AuthSettings, login_session: LoginSession, user: User, now: dt.datetime
) -> None:
    """End a half-finished login whose account is locked (by failures here or anywhere else)."""
    if users.is_locked(user, now):
        login_session.ended_at, login_session.end_reason = now, "locked"
        session.commit()
        raise _locked(policy)


def _code_failed(
    session: Session,
    policy: AuthSettings,
    login_session: LoginSession,
    user: User,
    now: dt.datetime,
    reason: str,
) -> None:
    """Count a wrong second-factor code; at the threshold the account locks and this login ends."""
    _fail(session, user, policy, now, reason, login_session.client_addr)
    _refuse_if_locked(session, policy, login_session, user, now)


def verify_mfa(
    *,
    session: Session,
    policy: AuthSettings,
    box: SecretBox,
    login_session: LoginSession,
    code: str,
    now: dt.datetime | None = None,
) -> None:
    """Complete a login with a TOTP code; wrong codes count towards the lockout."""
    now = now or utcnow()
    user = session.get(User, login_session.user_id)
    if user is None or not user.mfa_enabled or user.mfa_secret is None:
        raise InvalidInput("no second factor is enrolled for this account", code="mfa_not_enrolled")
    _refuse_if_locked(session, policy, login_session, user, now)
    if not _accept_code(user, box.decrypt(user.mfa_secret), code, now):
        _code_failed(session, policy, login_session, user, now, "bad_mfa_code")
        raise NotAuthenticated("that code is not valid", code="bad_mfa_code")
    user.failed_logins = 0
    login_session.mfa_verified = True
    audit.record(
        session=session,
        actor=_actor(user, login_session.client_addr),
        action="auth.mfa.verify",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
    )


def begin_enrolment(*, session: Session, policy: AuthSettings, box: SecretBox, user: User) -> Enrolment:
    """Start TOTP enrolment: a new secret (stored encrypted, not yet active) and its QR code."""
    if user.mfa_enabled:
        raise InvalidInput(
            "a second factor is already enrolled; an administrator can reset it", code="mfa_enrolled"
        )
    # Reuse a pending secret so a reload or a mistyped code does not invalidate what was scanned.
    secret = box.decrypt(user.mfa_secret) if user.mfa_secret else pyotp.random_base32()
    if user.mfa_secret is None:
        user.mfa_secret = box.encrypt(secret)
        session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=policy.mfa_issuer)
    qr_svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff")
    return Enrolment(secret=secret, uri=uri, qr_svg=qr_svg)


def confirm_enrolment(
    *,
    session: Session,
    policy: AuthSettings,
    box: SecretBox,
    login_session: LoginSession,
    code: str,
    now: dt.datetime | None = None,
) -> None:
    """Activate the second factor once the user proves their authenticator shows the right code.

    A wrong code counts towards the lockout as a wrong TOTP code at login does: enrolment follows a
    password login, so it must not be a way to guess codes without limit.
    """
    now = now or utcnow()
    user = session.get(User, login_session.user_id)
    if user is None or user.mfa_secret is None or user.mfa_enabled:
        raise InvalidInput("start enrolment first", code="mfa_not_started")
    _refuse_if_locked(session, policy, login_session, user, now)
    if not _accept_code(user, box.decrypt(user.mfa_secret), code, now):
        _code_failed(session, policy, login_session, user, now, "bad_enrolment_code")
        raise InvalidInput(
            "that code is not valid: check the authenticator's clock and try again", code="bad_mfa_code"
        )
    user.mfa_enabled = True
    login_session.mfa_verified = True
    audit.record(
        session=session,
        actor=_actor(user, login_session.client_addr),
        action="auth.mfa.enrol",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
    )


def change_password(
    *,
    session: Session,
    policy: AuthSettings,
    login_session: LoginSession,
    current: str,
    new: str,
    repeated: str,
    now: dt.datetime | None = None,
) -> User:
    """Set a user's own password: the current one proves it is them (a wrong one counts towards the lockout).

    The new one follows the password rules, differs from the current one and is typed twice. Every other
    session of the user ends (this one stays), the reset flag clears, and the change is audited.
    """
    now = now or utcnow()
    user = session.get(User, login_session.user_id)
    if user is None:
        raise NotAuthenticated("please log in", code="not_authenticated")
    _refuse_if_locked(session, policy, login_session, user, now)
    if not passwords.verify_password(user.password_hash, current):
        _fail(session, user, policy, now, "bad_current_password", login_session.client_addr)
        _refuse_if_locked(session, policy, login_session, user, now)
        raise InvalidInput("the current password is not right", code="bad_password", field="current_password")
    passwords.check_policy(new, username=user.username)
    if new != repeated:
        raise InvalidInput("the two new passwords are not the same", code="mismatch", field="repeat_password")
    if passwords.verify_password(user.password_hash, new):
        raise InvalidInput(
            "choose a password different from the current one", code="same_password", field="new_password"
        )
    user.password_hash = passwords.hash_password(new)
    user.failed_logins, user.must_change_password = 0, False
    ended = session.execute(
        update(LoginSession)
        .where(
            LoginSession.user_id == user.id,
            LoginSession.ended_at.is_(None),
            LoginSession.id != login_session.id,
        )
        .values(ended_at=now, end_reason="password_changed")
    )
    audit.record(
        session=session,
        actor=_actor(user, login_session.client_addr),
        action="auth.password.change",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
        detail={"other_sessions_ended": ended.rowcount or 0},  # type: ignore[attr-defined]
    )
    return user
