"""REST API of accounts and access (/api/v1/auth, /users, /roles, /permissions, /tokens)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from safecity.auth import service as users
from safecity.auth import sessions, tokens
from safecity.auth.models import ApiToken, User
from safecity.auth.schemas import (
    CodeIn,
    EnrolmentOut,
    LoginIn,
    LoginOut,
    MeOut,
    PasswordChangeIn,
    PasswordResetOut,
    PermissionOut,
    RoleOut,
    RolePermissionsIn,
    ScopeIn,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from safecity.core.errors import NotAuthenticated
from safecity.web.deps import SESSION_COOKIE, CurrentLogin, CurrentPrincipal, Db, client_addr, get_services

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        is_active=user.is_active,
        province_wide=user.province_wide,
        mfa_enabled=user.mfa_enabled,
        roles=sorted(user.role_names),
        district_ids=sorted(user.district_ids),
        locked_until=user.locked_until,
        created_at=user.created_at,
        must_change_password=user.must_change_password,
    )


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut.model_validate(token)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure in production."""
    settings = get_services(request).settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.web.cookie_secure,
        max_age=settings.auth.session_max_hours * 3600,
        path="/",
    )


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, response: Response, db: Db) -> LoginOut:
    """Log in with a password; `mfa_step` says whether a TOTP code (or enrolment) must follow."""
    result = sessions.login(
        session=db,
        policy=get_services(request).settings.auth,
        username=body.username,
        password=body.password,
        client_addr=client_addr(request),
        user_agent=request.headers.get("user-agent"),
    )
    set_session_cookie(request, response, result.token)
    return LoginOut(mfa_step=result.mfa_step, csrf_token=result.login_session.csrf_token)


@router.post("/auth/mfa/verify", status_code=204)
def verify_mfa(body: CodeIn, request: Request, login: CurrentLogin, db: Db) -> None:
    """Complete a login with the code from the authenticator app."""
    services = get_services(request)
    sessions.verify_mfa(
        session=db,
        policy=services.settings.auth,
        box=services.mfa_box,
        login_session=login.login_session,
        code=body.code,
    )


@router.post("/auth/mfa/enrol", response_model=EnrolmentOut)
def begin_enrolment(request: Request, login: CurrentLogin, db: Db) -> EnrolmentOut:
    """Start enrolling an authenticator app: the secret and a QR code to scan."""
    services = get_services(request)
    enrolment = sessions.begin_enrolment(
        session=db, policy=services.settings.auth, box=services.mfa_box, user=login.user
    )
    return EnrolmentOut(secret=enrolment.secret, uri=enrolment.uri, qr_svg=enrolment.qr_svg)


@router.post("/auth/mfa/confirm", status_code=204)
def confirm_enrolment(body: CodeIn, request: Request, login: CurrentLogin, db: Db) -> None:
    """Finish enrolment with a first code from the app."""
    services = get_services(request)
    sessions.confirm_enrolment(
        session=db,
        policy=services.settings.auth,
        box=services.mfa_box,
        login_session=login.login_session,
        code=body.code,
    )


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, login: CurrentLogin, db: Db) -> None:
    """End this session."""
    sessions.logout(session=db, login_session=login.login_session, client_addr=client_addr(request))
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.post("/auth/password", status_code=204)
def change_password(body: PasswordChangeIn, request: Request, login: CurrentLogin, db: Db) -> None:
    """Change one's own password (a browser session); every other session of the user ends."""
    if not login.login_session.mfa_verified:
        raise NotAuthenticated("complete the second login step first", code="mfa_required")
    sessions.change_password(
        session=db,
        policy=get_services(request).settings.auth,
        login_session=login.login_session,
        current=body.current_password,
        new=body.new_password,
        repeated=body.repeat_password,
    )


@router.get("/auth/me", response_model=MeOut)
def me(principal: CurrentPrincipal) -> MeOut:
    """Who the caller is, what they may do and where."""
    return MeOut(
        id=principal.user_id,
        username=principal.username,
        permissions=sorted(principal.permissions),
        province_wide=principal.province_wide,
        district_ids=sorted(principal.district_ids or ()),
        via=principal.via,
    )


@router.get("/users", response_model=list[UserOut])
def list_users(principal: CurrentPrincipal, db: Db) -> list[UserOut]:
    """Users within the caller's districts."""
    return [user_out(u) for u in users.list_users(session=db, actor=principal)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, principal: CurrentPrincipal, db: Db) -> UserOut:
    """Create an account."""
    user = users.create_user(
        session=db,
        actor=principal,
        username=body.username,
        password=body.password,
        full_name=body.full_name,
        roles=body.roles,
        district_ids=body.scope,
    )
    return user_out(user)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> UserOut:
    """One account."""
    return user_out(users.get_user(session=db, actor=principal, user_id=user_id))


@router.put("/users/{user_id}/access", response_model=UserOut)
def set_access(user_id: uuid.UUID, body: ScopeIn, principal: CurrentPrincipal, db: Db) -> UserOut:
    """Replace an account's roles and district scope."""
    user = users.set_user_access(
        session=db, actor=principal, user_id=user_id, roles=body.roles, district_ids=body.scope
    )
    return user_out(user)


@router.post("/users/{user_id}/disable", response_model=UserOut)
def disable_user(user_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> UserOut:
    """Disable an account, ending its sessions and tokens."""
    return user_out(users.set_active(session=db, actor=principal, user_id=user_id, active=False))


@router.post("/users/{user_id}/enable", response_model=UserOut)
def enable_user(user_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> UserOut:
    """Re-enable an account (and clear a lockout)."""
    return user_out(users.set_active(session=db, actor=principal, user_id=user_id, active=True))


@router.post("/users/{user_id}/end-sessions", response_model=UserOut)
def end_sessions(user_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> UserOut:
    """Sign an account out everywhere and revoke its API tokens."""
    return user_out(users.end_sessions(session=db, actor=principal, user_id=user_id))


@router.post("/users/{user_id}/reset-mfa", response_model=UserOut)
def reset_mfa(user_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> UserOut:
    """Remove an account's second factor so it enrols again."""
    return user_out(users.reset_mfa(session=db, actor=principal, user_id=user_id))


@router.post("/users/{user_id}/reset-password", response_model=PasswordResetOut)
def reset_password(user_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> PasswordResetOut:
    """Give a user a temporary password, shown once, that they must change at their next login."""
    user, temporary = users.reset_password(session=db, actor=principal, user_id=user_id)
    return PasswordResetOut(user=user_out(user), temporary_password=temporary)


@router.get("/roles", response_model=list[RoleOut])
def list_roles(principal: CurrentPrincipal, db: Db) -> list[RoleOut]:
    """Roles and the permissions each grants."""
    return [
        RoleOut(name=r.name, description=r.description, permissions=sorted(r.permission_names))
        for r in users.list_roles(session=db, actor=principal)
    ]


@router.put("/roles/{name}/permissions", response_model=RoleOut)
def set_role_permissions(name: str, body: RolePermissionsIn, principal: CurrentPrincipal, db: Db) -> RoleOut:
    """Replace the permissions a role grants."""
    role = users.set_role_permissions(session=db, actor=principal, name=name, permissions=body.permissions)
    return RoleOut(name=role.name, description=role.description, permissions=sorted(role.permission_names))


@router.get("/permissions", response_model=list[PermissionOut])
def list_permissions(principal: CurrentPrincipal) -> list[PermissionOut]:
    """The catalogue of permissions that roles are made of."""
    catalogue = users.permission_catalogue(actor=principal)
    return [PermissionOut(name=p.name, description=p.description, sensitive=p.sensitive) for p in catalogue]


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(principal: CurrentPrincipal, db: Db) -> list[TokenOut]:
    """The caller's API tokens."""
    return [token_out(t) for t in tokens.list_own(session=db, actor=principal)]


@router.post("/tokens", response_model=TokenCreatedOut, status_code=201)
def create_token(body: TokenIn, principal: CurrentPrincipal, db: Db) -> TokenCreatedOut:
    """Create an API token; its secret is in this response only."""
    token, secret = tokens.create(
        session=db, actor=principal, name=body.name, permissions=body.permissions, expires_at=body.expires_at
    )
    return TokenCreatedOut(**token_out(token).model_dump(), secret=secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> TokenOut:
    """Revoke an API token at once."""
    return token_out(tokens.revoke(session=db, actor=principal, token_id=token_id))
