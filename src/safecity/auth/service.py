"""Users and roles: who may do what, and where. Every change is audited."""

from __future__ import annotations

import datetime as dt
import tomllib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth import passwords
from safecity.auth.models import ApiToken, LoginSession, Role, RolePermission, User, UserDistrict, UserRole
from safecity.auth.permissions import BY_NAME, CATALOGUE, Permission, requires_mfa
from safecity.auth.principal import SYSTEM, Principal
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.core.languages import supported
from safecity.org.models import District

ROLES_FILE = Path(__file__).with_name("roles.toml")


@dataclass(frozen=True)
class Access:
    """A user's effective permissions and district scope, derived from roles and assignments."""

    permissions: frozenset[str]
    district_ids: frozenset[uuid.UUID] | None

    @property
    def mfa_required(self) -> bool:
        return requires_mfa(self.permissions)


def ensure_roles(*, session: Session) -> list[str]:
    """Create the built-in roles that do not exist yet; existing roles keep their edited permissions."""
    seeded = tomllib.loads(ROLES_FILE.read_text(encoding="utf-8"))
    existing = set(session.scalars(select(Role.name)))
    created = []
    for name, spec in seeded.items():
        if name in existing:
            continue
        unknown = set(spec["permissions"]) - BY_NAME.keys()
        if unknown:
            raise ValueError(f"role {name} names unknown permissions: {sorted(unknown)}")
        session.add(
            Role(
                name=name,
                description=spec["description"],
                permissions=[RolePermission(permission=p) for p in spec["permissions"]],
            )
        )
        created.append(name)
    session.flush()
    return created


def access_of(*, session: Session, user: User) -> Access:
    """The permissions a user holds through roles, and the districts they may act in."""
    permissions = frozenset(
        session.scalars(
            select(RolePermission.permission)
            .join(UserRole, UserRole.role_name == RolePermission.role_name)
            .where(UserRole.user_id == user.id)
        )
    )
    return Access(permissions, None if user.province_wide else user.district_ids)


def principal_for(*, session: Session, user: User, client_addr: str | None = None) -> Principal:
    """The acting principal for a user who has logged in."""
    access = access_of(session=session, user=user)
    return Principal(
        user_id=user.id,
        username=user.username,
        permissions=access.permissions,
        district_ids=access.district_ids,
        client_addr=client_addr,
    )


def list_roles(*, session: Session, actor: Principal) -> list[Role]:
    """All roles with their permissions."""
    actor.require("users.read")
    return list(session.scalars(select(Role).order_by(Role.name)))


def permission_catalogue(*, actor: Principal) -> tuple[Permission, ...]:
    """The permissions roles are made of."""
    actor.require("users.read")
    return CATALOGUE


def get_role(*, session: Session, name: str) -> Role:
    """One role by name, or NotFound."""
    role = session.get(Role, name)
    if role is None:
        raise NotFound(f"no role named '{name}'")
    return role


def check_grant(*, actor: Principal, permissions: Iterable[str]) -> None:
    """Refuse (cannot_grant) to give any permission the actor does not hold; the one rule of every route.

    Only the system itself (the `safecity` command run on the server) grants beyond its own permissions:
    that is how the first administrator, and roles no one holds yet, come to exist.
    """
    if actor is SYSTEM:
        return
    extra = frozenset(permissions) - actor.permissions
    if extra:
        raise PermissionDenied(
            f"you cannot grant permissions you do not hold yourself: {', '.join(sorted(extra))}",
            code="cannot_grant",
        )


def set_role_permissions(
    *, session: Session, actor: Principal, name: str, permissions: Iterable[str]
) -> Role:
    """Replace the permissions a role grants; only province-wide holders of roles.manage may."""
    actor.require("roles.manage")
    if not actor.province_wide:
        raise PermissionDenied(
            "roles apply province-wide: only a province-wide administrator may change them"
        )
    wanted = frozenset(permissions)
    unknown = wanted - BY_NAME.keys()
    if unknown:
        raise InvalidInput(f"unknown permissions: {', '.join(sorted(unknown))}", code="unknown_permission")
    role = get_role(session=session, name=name)
    before = role.permission_names
    # Removing is not granting: an administrator may take away what they could not give.
    check_grant(actor=actor, permissions=wanted - before)
    role.permissions = [RolePermission(permission=p) for p in sorted(wanted)]
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="roles.permissions.change",
        outcome="success",
        object_type="role",
        object_id=name,
        detail={"added": sorted(wanted - before), "removed": sorted(before - wanted)},
    )
    return role


def _visible(actor: Principal, user: User) -> bool:
    """District-scoped actors see users whose every district is theirs; province-wide users stay hidden."""
    if actor.district_ids is None:
        return True
    return not user.province_wide and user.district_ids <= actor.district_ids


def list_users(*, session: Session, actor: Principal) -> list[User]:
    """Users within the actor's scope, by username."""
    actor.require("users.read")
    users = session.scalars(select(User).order_by(User.username))
    return [u for u in users if _visible(actor, u)]


def get_user(*, session: Session, actor: Principal, user_id: uuid.UUID) -> User:
    """One user within the actor's scope (out of scope reads as not found)."""
    actor.require("users.read")
    user = session.get(User, user_id)
    if user is None or not _visible(actor, user):
        raise NotFound("no such user")
    return user


def find_by_username(*, session: Session, username: str) -> User | None:
    """The user with this username (case-insensitive), if any."""
    return session.scalars(select(User).where(func.lower(User.username) == username.lower())).one_or_none()


def _permissions_of_roles(session: Session, roles: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(get_role(session=session, name=name).permission_names for name in roles))


def _check_access_grant(
    *,
    session: Session,
    actor: Principal,
    roles: Iterable[str],
    district_ids: frozenset[uuid.UUID] | None,
    before: Access | None = None,
) -> None:
    """No escalation: permissions only from someone who holds them, districts only within their scope.

    `before` is what the user held until now: keeping a permission is not granting it, but every
    permission counts as granted in a district the user did not have before.
    """
    granted = _permissions_of_roles(session, roles)
    if before is not None and not _widens(before.district_ids, district_ids):
        granted -= before.permissions
    check_grant(actor=actor, permissions=granted)
    if district_ids is None:
        if actor.district_ids is not None:
            raise PermissionDenied(
                "only a province-wide administrator can grant province-wide scope", code="cannot_grant"
            )
        return
    if not district_ids:
        raise InvalidInput("give at least one district, or province-wide scope", code="no_scope")
    known = set(session.scalars(select(District.id).where(District.id.in_(district_ids))))
    if known != set(district_ids):
        raise InvalidInput("unknown district", code="unknown_district")
    if actor.district_ids is not None and not district_ids <= actor.district_ids:
        raise PermissionDenied("you can only grant districts within your own scope", code="cannot_grant")


def _widens(before: frozenset[uuid.UUID] | None, after: frozenset[uuid.UUID] | None) -> bool:
    """Whether a scope change reaches a district the old scope did not (None: the whole province)."""
    if before is None:
        return False
    return after is None or not after <= before


def create_user(
    *,
    session: Session,
    actor: Principal,
    username: str,
    password: str,
    full_name: str = "",
    roles: Iterable[str] = (),
    district_ids: frozenset[uuid.UUID] | None = frozenset(),
) -> User:
    """Create an account with roles and a district scope (None = province-wide)."""
    if actor is not SYSTEM:
        actor.require("users.manage")
    roles = sorted(set(roles))
    _check_access_grant(session=session, actor=actor, roles=roles, district_ids=district_ids)
    if find_by_username(session=session, username=username) is not None:
        raise Conflict(f"username '{username}' is taken", code="username_taken")
    user = User(
        username=username,
        full_name=full_name,
        password_hash=passwords.hash_password(password),
        province_wide=district_ids is None,
        roles=[UserRole(role_name=r) for r in roles],
        districts=[UserDistrict(district_id=d) for d in sorted(district_ids or ())],
    )
    session.add(user)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="users.create",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
        detail={"username": username, "roles": roles, "province_wide": user.province_wide},
    )
    return user


def set_user_access(
    *,
    session: Session,
    actor: Principal,
    user_id: uuid.UUID,
    roles: Iterable[str],
    district_ids: frozenset[uuid.UUID] | None,
) -> User:
    """Replace a user's roles and district scope."""
    actor.require("users.manage")
    user = get_user(session=session, actor=actor, user_id=user_id)
    if user.id == actor.user_id:
        raise PermissionDenied("you cannot change your own roles or scope; ask another administrator")
    roles = sorted(set(roles))
    _check_access_grant(
        session=session,
        actor=actor,
        roles=roles,
        district_ids=district_ids,
        before=access_of(session=session, user=user),
    )
    before_roles, before_districts = sorted(user.role_names), sorted(str(d) for d in user.district_ids)
    user.roles = [UserRole(role_name=r) for r in roles]
    user.province_wide = district_ids is None
    user.districts = [UserDistrict(district_id=d) for d in sorted(district_ids or ())]
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="users.access.change",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
        detail={
            "roles": {"before": before_roles, "after": roles},
            "districts": {"before": before_districts, "after": sorted(str(d) for d in user.district_ids)},
            "province_wide": user.province_wide,
        },
    )
    return user


def end_sessions_and_tokens(*, session: Session, user_id: uuid.UUID, reason: str) -> None:
    """Close every open session and revoke every token of a user."""
    now = utcnow()
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def end_sessions(*, session: Session, actor: Principal, user_id: uuid.UUID) -> User:
    """Sign a user out everywhere at once (a stolen laptop, a suspected leak)."""
    actor.require("users.manage")
    user = get_user(session=session, actor=actor, user_id=user_id)
    end_sessions_and_tokens(session=session, user_id=user.id, reason="revoked")
    audit.record(
        session=session,
        actor=actor,
        action="auth.sessions.revoke",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
    )
    return user


def set_active(*, session: Session, actor: Principal, user_id: uuid.UUID, active: bool) -> User:
    """Disable (ending its sessions and tokens) or re-enable an account."""
    if actor is not SYSTEM:
        actor.require("users.manage")
    user = (
        get_user(session=session, actor=actor, user_id=user_id)
        if actor is not SYSTEM
        else session.get(User, user_id)
    )
    if user is None:
        raise NotFound("no such user")
    if not active and user.id == actor.user_id:
        raise PermissionDenied("you cannot disable your own account")
    user.is_active = active
    if active:
        user.failed_logins, user.locked_until = 0, None
    else:
        end_sessions_and_tokens(session=session, user_id=user.id, reason="disabled")
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="users.enable" if active else "users.disable",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
    )
    return user


def reset_mfa(*, session: Session, actor: Principal, user_id: uuid.UUID) -> User:
    """Remove a user's second factor (a lost phone); they enrol again at next login."""
    actor.require("users.manage")
    user = get_user(session=session, actor=actor, user_id=user_id)
    user.mfa_secret, user.mfa_enabled, user.mfa_last_step = None, False, None
    end_sessions_and_tokens(session=session, user_id=user.id, reason="mfa_reset")
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="auth.mfa.reset",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
    )
    return user


def own_account(*, session: Session, actor: Principal) -> User:
    """The account of the person acting (signed in, not through an API token)."""
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None or actor.via != "session":
        raise PermissionDenied("only a person signed in has an account page", code="not_a_person")
    return user


def set_language(*, session: Session, actor: Principal, language: str | None) -> User:
    """Set the acting user's own interface language (None: the configured default)."""
    if language is not None and supported(language) is None:
        raise InvalidInput(f"unknown language {language!r}", code="bad_language")
    user = own_account(session=session, actor=actor)
    user.language = language
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="account.language",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
        detail={"language": language},
    )
    return user


def reset_password(*, session: Session, actor: Principal, user_id: uuid.UUID) -> tuple[User, str]:
    """Give a user a temporary password (returned once) that they must change at their next login.

    Their open sessions end (whoever holds them may be the reason for the reset); API tokens stay, as
    for a changed password: revoke them apart if they are in doubt too.
    """
    actor.require("users.manage")
    user = get_user(session=session, actor=actor, user_id=user_id)
    if user.id == actor.user_id:
        raise PermissionDenied("change your own password on your account page instead", code="own_account")
    temporary = passwords.generate_password()
    user.password_hash = passwords.hash_password(temporary)
    user.must_change_password = True
    user.failed_logins, user.locked_until = 0, None
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason="password_reset")
    )
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="users.password.reset",
        outcome="success",
        object_type="user",
        object_id=str(user.id),
    )
    return user, temporary


def create_admin(*, session: Session, username: str, full_name: str = "Administrator") -> tuple[User, str]:
    """A province-wide administrator with a generated password (shown once); there is no default one."""
    password = passwords.generate_password()
    user = create_user(
        session=session,
        actor=SYSTEM,
        username=username,
        password=password,
        full_name=full_name,
        roles=["admin"],
        district_ids=None,
    )
    return user, password


def is_locked(user: User, now: dt.datetime) -> bool:
    """Whether the account is inside a lockout window."""
    return user.locked_until is not None and user.locked_until > now
