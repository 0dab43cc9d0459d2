"""Scoped, revocable API tokens that machines present as `Authorization: Bearer sc_…`."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth import service as users
from safecity.auth.models import ApiToken, User
from safecity.auth.principal import Principal
from safecity.core.crypto import token_digest
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotFound, PermissionDenied

PREFIX = "sc_"


def create(
    *,
    session: Session,
    actor: Principal,
    name: str,
    permissions: Iterable[str],
    expires_at: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """A token for the actor's machines, within the permissions the actor holds; the secret is shown once."""
    actor.require("tokens.manage")
    if actor.user_id is None or actor.via != "session":
        raise PermissionDenied("tokens are created by a person who has logged in")
    wanted = frozenset(permissions)
    if not wanted:
        raise InvalidInput("a token needs at least one permission", code="no_permissions")
    users.check_grant(actor=actor, permissions=wanted)
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("the expiry must be in the future", code="bad_expiry")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=actor.user_id,
        name=name,
        token_digest=token_digest(secret),
        permissions=sorted(wanted),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="tokens.create",
        outcome="success",
        object_type="api_token",
        object_id=str(token.id),
        detail={"name": name, "permissions": sorted(wanted)},
    )
    return token, secret


def list_own(*, session: Session, actor: Principal) -> list[ApiToken]:
    """The actor's tokens, newest first."""
    actor.require("tokens.manage")
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.created_at.desc())
        )
    )


def revoke(*, session: Session, actor: Principal, token_id: uuid.UUID) -> ApiToken:
    """Revoke one of the actor's tokens at once."""
    actor.require("tokens.manage")
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != actor.user_id:
        raise NotFound("no such token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session=session,
            actor=actor,
            action="tokens.revoke",
            outcome="success",
            object_type="api_token",
            object_id=str(token.id),
        )
    return token


def resolve(*, session: Session, secret: str, client_addr: str | None = None) -> Principal | None:
    """The principal a bearer token acts as: its scopes narrowed by what its owner holds today."""
    if not secret.startswith(PREFIX):
        return None
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_digest == token_digest(secret))
    ).one_or_none()
    now = utcnow()
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    access = users.access_of(session=session, user=user)
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(seconds=60):
        token.last_used_at = now
    return Principal(
        user_id=user.id,
        username=user.username,
        permissions=access.permissions & frozenset(token.permissions),
        district_ids=access.district_ids,
        client_addr=client_addr,
        via="token",
    )
