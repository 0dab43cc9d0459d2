"""Logging in: passwords, lockout, the second factor and session lifetimes, each leaving an audit trail."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import PASSWORD, Factory
from safecity.audit.models import AuditEntry
from safecity.auth import service as users
from safecity.auth import sessions
from safecity.config import AuthSettings
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, Locked, NotAuthenticated

POLICY = AuthSettings()


def _actions(session: Session, action: str) -> list[AuditEntry]:
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
    )


def test_password_login_opens_a_session_and_is_audited(session: Session, factory: Factory) -> None:
    user = factory.user("operator", districts=[factory.district()], mfa=False)
    result = sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD)
    assert result.mfa_step is None
    assert result.login_session.mfa_verified
    resolved = sessions.resolve(session=session, policy=POLICY, token=result.token)
    assert resolved is not None and resolved[1].id == user.id
    assert result.token not in {result.login_session.token_digest}  # only the digest is stored
    entry = _actions(session, "auth.login")[-1]
    assert (entry.actor_id, entry.outcome) == (user.id, "success")


def test_wrong_password_and_unknown_user_are_refused_alike_and_audited(
    session: Session, factory: Factory
) -> None:
    user = factory.user("operator", districts=[factory.district()], mfa=False)
    with pytest.raises(NotAuthenticated) as wrong:
        sessions.login(session=session, policy=POLICY, username=user.username, password="not the password")
    with pytest.raises(NotAuthenticated) as unknown:
        sessions.login(session=session, policy=POLICY, username="nobody-here", password="whatever password")
    assert wrong.value.message == unknown.value.message
    failures = [e for e in _actions(session, "auth.login") if e.outcome == "failure"]
    assert [e.detail["reason"] for e in failures[-2:]] == ["bad_password", "unknown_user"]


def test_five_failures_lock_the_account_for_ten_minutes(session: Session, factory: Factory) -> None:
    user = factory.user("operator", districts=[factory.district()], mfa=False)
    now = utcnow()
    for _ in range(5):
        with pytest.raises(NotAuthenticated):
            sessions.login(
                session=session, policy=POLICY, username=user.username, password="wrong-password!", now=now
            )
    assert user.locked_until == now + dt.timedelta(minutes=10)
    # Locked: even the right password is refused (with the answer of a wrong one), until ten minutes pass.
    with pytest.raises(NotAuthenticated):
        sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD, now=now)
    later = now + dt.timedelta(minutes=9, seconds=59)
    with pytest.raises(NotAuthenticated):
        sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD, now=later)
    after = now + dt.timedelta(minutes=10, seconds=1)
    assert sessions.login(
        session=session, policy=POLICY, username=user.username, password=PASSWORD, now=after
    )


def test_sensitive_role_must_enrol_then_verify_a_totp_code(session: Session, factory: Factory) -> None:
    user = factory.user("investigator", districts=[factory.district()], mfa=False)
    result = sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD)
    assert result.mfa_step == "enrol" and not result.login_session.mfa_verified

    enrolment = sessions.begin_enrolment(session=session, policy=POLICY, box=factory.box, user=user)
    assert enrolment.uri.startswith("otpauth://totp/") and "<svg" in enrolment.qr_svg
    assert user.mfa_secret is not None and enrolment.secret not in user.mfa_secret  # stored encrypted
    with pytest.raises(InvalidInput):
        sessions.confirm_enrolment(
            session=session, policy=POLICY, box=factory.box, login_session=result.login_session, code="000000"
        )
    code = pyotp.TOTP(enrolment.secret).now()
    sessions.confirm_enrolment(
        session=session, policy=POLICY, box=factory.box, login_session=result.login_session, code=code
    )
    assert user.mfa_enabled and result.login_session.mfa_verified
    assert _actions(session, "auth.mfa.enrol")[-1].actor_id == user.id

    # Next login asks for a code, and the code just used cannot be replayed.
    second = sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD)
    assert second.mfa_step == "verify"
    with pytest.raises(NotAuthenticated):
        sessions.verify_mfa(
            session=session, policy=POLICY, box=factory.box, login_session=second.login_session, code=code
        )
    next_code = pyotp.TOTP(enrolment.secret).at(utcnow() + dt.timedelta(seconds=30))
    sessions.verify_mfa(
        session=session, policy=POLICY, box=factory.box, login_session=second.login_session, code=next_code
    )
    assert second.login_session.mfa_verified


def test_wrong_totp_codes_count_towards_the_lockout(session: Session, factory: Factory) -> None:
    user = factory.user("supervisor", districts=[factory.district()])
    result = sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD)
    for _ in range(4):
        with pytest.raises(NotAuthenticated):
            sessions.verify_mfa(
                session=session,
                policy=POLICY,
                box=factory.box,
                login_session=result.login_session,
                code="123456",
            )
    with pytest.raises(Locked):
        sessions.verify_mfa(
            session=session, policy=POLICY, box=factory.box, login_session=result.login_session, code="123456"
        )
    assert result.login_session.ended_at is not None


def test_sessions_end_after_thirty_idle_minutes_and_on_logout(session: Session, factory: Factory) -> None:
    user = factory.user("operator", districts=[factory.district()], mfa=False)
    start = utcnow()
    result = sessions.login(
        session=session, policy=POLICY, username=user.username, password=PASSWORD, now=start
    )
    assert sessions.resolve(
        session=session, policy=POLICY, token=result.token, now=start + dt.timedelta(minutes=29)
    )
    # Activity at minute 29 moves the idle clock: minute 58 is 29 idle minutes later.
    assert sessions.resolve(
        session=session, policy=POLICY, token=result.token, now=start + dt.timedelta(minutes=58)
    )
    assert (
        sessions.resolve(
            session=session, policy=POLICY, token=result.token, now=start + dt.timedelta(minutes=89)
        )
        is None
    )
    assert result.login_session.end_reason == "idle"

    other = sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD)
    sessions.logout(session=session, login_session=other.login_session)
    assert sessions.resolve(session=session, policy=POLICY, token=other.token) is None


def test_disabling_a_user_ends_their_sessions(session: Session, factory: Factory) -> None:
    admin = factory.user("admin")
    user = factory.user("operator", districts=[factory.district()], mfa=False)
    result = sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD)
    users.set_active(session=session, actor=factory.principal(admin), user_id=user.id, active=False)
    assert sessions.resolve(session=session, policy=POLICY, token=result.token) is None
    with pytest.raises(NotAuthenticated):
        sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD)


def test_mfa_secret_cannot_be_read_with_another_key(factory: Factory) -> None:
    sealed = factory.box.encrypt("JBSWY3DPEHPK3PXP")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox("another-key-entirely-0123456789abcdef", "mfa").decrypt(sealed)


def test_an_administrator_signs_a_user_out_everywhere(session: Session, factory: Factory) -> None:
    admin = factory.user("admin")
    user = factory.user("operator", districts=[factory.district()], mfa=False)
    first = sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD)
    second = sessions.login(session=session, policy=POLICY, username=user.username, password=PASSWORD)
    users.end_sessions(session=session, actor=factory.principal(admin), user_id=user.id)
    for result in (first, second):
        assert sessions.resolve(session=session, policy=POLICY, token=result.token) is None
    assert _actions(session, "auth.sessions.revoke")[-1].object_id == str(user.id)
