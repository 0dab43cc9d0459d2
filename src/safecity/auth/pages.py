"""Pages of accounts and access: login with MFA, one's account and tokens, user and role administration."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from safecity.auth import passwords, sessions, tokens
from safecity.auth import service as users
from safecity.auth.permissions import CATALOGUE
from safecity.auth.views import set_session_cookie
from safecity.core.errors import NotAuthenticated, PermissionDenied, SafecityError, TooManyRequests
from safecity.core.languages import SOURCE
from safecity.org import service as org
from safecity.web import i18n
from safecity.web.deps import (
    SESSION_COOKIE,
    CurrentLogin,
    Db,
    Login,
    client_addr,
    get_services,
    optional_login,
)
from safecity.web.i18n import N_, gettext_in
from safecity.web.pages import CurrentPage, Page, flash, htmx_action, refuse, render, render_public

router = APIRouter(include_in_schema=False)
OptionalLogin = Annotated[Login | None, Depends(optional_login)]


def _next_step(login: Login) -> str:
    if login.login_session.mfa_verified:
        return "/"
    return "/login/mfa" if login.user.mfa_enabled else "/mfa/enrol"


# The refusals of logging in, by code: the service's English sentence, translated on the page.
LOGIN_REFUSALS = {
    "bad_credentials": N_(
        "invalid username or password (after repeated failures, logging in is paused for a while)"
    ),
    "too_many_attempts": N_("too many failed logins from your address: try again in %(seconds)s seconds"),
    "account_disabled": N_("this account is disabled"),
    "account_locked": N_("too many failed attempts: the account is locked for %(minutes)s minutes"),
    "bad_mfa_code": N_("that code is not valid: check the authenticator's clock and try again"),
    "csrf_failed": N_("the form expired; reload the page"),
}


def _refusal(request: Request, exc: SafecityError) -> str:
    """Why logging in was refused, in the page's language (a refusal not listed: as the service said it)."""
    sentence = LOGIN_REFUSALS.get(exc.code)
    if sentence is None:
        return exc.message
    settings = get_services(request).settings
    lang = i18n.choose(request, default=settings.default_language)
    if lang == SOURCE:
        return exc.message
    fields = {"seconds": getattr(exc, "retry_after", 0), "minutes": settings.auth.lockout_minutes}
    return gettext_in(lang, sentence, **fields)  # each sentence takes the fields it names


def _check_form_csrf(login: Login, token: str) -> None:
    if not secrets.compare_digest(token, login.login_session.csrf_token):
        raise PermissionDenied("the form expired; reload the page", code="csrf_failed")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, login: OptionalLogin) -> Response:
    if login is not None:
        return RedirectResponse(_next_step(login), status_code=303)
    return render_public(request, "auth/login.html")


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    db: Db,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
) -> Response:
    try:
        result = sessions.login(
            session=db,
            policy=get_services(request).settings.auth,
            username=username,
            password=password,
            client_addr=client_addr(request),
            user_agent=request.headers.get("user-agent"),
        )
    except SafecityError as exc:
        page = render_public(
            request, "auth/login.html", exc.status, error=_refusal(request, exc), username=username
        )
        if isinstance(exc, TooManyRequests):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    target = {"verify": "/login/mfa", "enrol": "/mfa/enrol", None: "/"}[result.mfa_step]
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, result.token)
    return response


@router.get("/login/mfa", response_class=HTMLResponse)
def mfa_page(request: Request, login: OptionalLogin) -> Response:
    if login is None:
        return RedirectResponse("/login", status_code=303)
    if login.login_session.mfa_verified or not login.user.mfa_enabled:
        return RedirectResponse(_next_step(login), status_code=303)
    return render_public(request, "auth/mfa.html", csrf_token=login.login_session.csrf_token)


@router.post("/login/mfa", response_class=HTMLResponse)
def mfa_submit(
    request: Request,
    db: Db,
    login: OptionalLogin,
    code: Annotated[str, Form(max_length=12)],
    csrf_token: Annotated[str, Form(max_length=128)],
) -> Response:
    if login is None:
        return RedirectResponse("/login", status_code=303)
    services = get_services(request)
    try:
        _check_form_csrf(login, csrf_token)
        sessions.verify_mfa(
            session=db,
            policy=services.settings.auth,
            box=services.mfa_box,
            login_session=login.login_session,
            code=code,
        )
    except SafecityError as exc:
        db.commit()  # keep the counted failure even though the page is re-rendered
        return render_public(
            request,
            "auth/mfa.html",
            exc.status,
            error=_refusal(request, exc),
            csrf_token=login.login_session.csrf_token,
        )
    return RedirectResponse("/", status_code=303)


@router.get("/mfa/enrol", response_class=HTMLResponse)
def enrol_page(request: Request, db: Db, login: OptionalLogin) -> Response:
    if login is None:
        return RedirectResponse("/login", status_code=303)
    if login.user.mfa_enabled:
        return RedirectResponse(_next_step(login), status_code=303)
    services = get_services(request)
    enrolment = sessions.begin_enrolment(
        session=db, policy=services.settings.auth, box=services.mfa_box, user=login.user
    )
    return render_public(
        request,
        "auth/enrol.html",
        enrolment=enrolment,
        csrf_token=login.login_session.csrf_token,
        required=not login.login_session.mfa_verified,
    )


@router.post("/mfa/enrol", response_class=HTMLResponse)
def enrol_submit(
    request: Request,
    db: Db,
    login: OptionalLogin,
    code: Annotated[str, Form(max_length=12)],
    csrf_token: Annotated[str, Form(max_length=128)],
) -> Response:
    if login is None:
        return RedirectResponse("/login", status_code=303)
    services = get_services(request)
    try:
        _check_form_csrf(login, csrf_token)
        sessions.confirm_enrolment(
            session=db,
            policy=services.settings.auth,
            box=services.mfa_box,
            login_session=login.login_session,
            code=code,
        )
    except SafecityError as exc:
        if login.login_session.ended_at is not None:  # the account locked: this login is over
            return render_public(request, "auth/login.html", exc.status, error=_refusal(request, exc))
        enrolment = sessions.begin_enrolment(
            session=db, policy=services.settings.auth, box=services.mfa_box, user=login.user
        )
        return render_public(
            request,
            "auth/enrol.html",
            exc.status,
            error=_refusal(request, exc),
            enrolment=enrolment,
            csrf_token=login.login_session.csrf_token,
            required=not login.login_session.mfa_verified,
        )
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout_submit(
    request: Request, db: Db, login: OptionalLogin, csrf_token: Annotated[str, Form(max_length=128)]
) -> Response:
    if login is not None:
        _check_form_csrf(login, csrf_token)
        sessions.logout(session=db, login_session=login.login_session, client_addr=client_addr(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(page: CurrentPage, db: Db) -> Response:
    own_tokens = (
        tokens.list_own(session=db, actor=page.principal) if page.principal.can("tokens.manage") else []
    )
    user = users.own_account(session=db, actor=page.principal)
    return render(
        page,
        "auth/account.html",
        tokens=own_tokens,
        permissions=sorted(page.principal.permissions),
        chosen_language=user.language,
        default_language=get_services(page.request).settings.default_language,
    )


@router.post("/account/language")
def language_submit(page: CurrentPage, db: Db, language: Annotated[str, Form(max_length=8)] = "") -> Response:
    """Keep the interface's language for this user (empty: the configured default); the page reloads in it."""
    response = htmx_action(
        db,
        lambda: users.set_language(session=db, actor=page.principal, language=language or None),
        "/account",
    )
    if response.status_code == 204 and language:
        i18n.remember(page.request, response, language)  # the login page after logging out too
    elif response.status_code == 204:
        i18n.forget(response)
    return response


def _password_page_for(request: Request, db: Db, login: Login) -> Page:
    """The page context of the change-password page, which a user owing a new password may still open."""
    principal = users.principal_for(session=db, user=login.user, client_addr=client_addr(request))
    zone = ZoneInfo(get_services(request).settings.timezone)
    return Page(request, principal, login.login_session.csrf_token, zone)


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, db: Db, login: OptionalLogin) -> Response:
    if login is None:
        return RedirectResponse("/login", status_code=303)
    if not login.login_session.mfa_verified:
        return RedirectResponse(_next_step(login), status_code=303)
    page = _password_page_for(request, db, login)
    return render(
        page, "auth/password.html", forced=login.user.must_change_password, min_length=passwords.MIN_LENGTH
    )


@router.post("/account/password", response_class=HTMLResponse)
def password_submit(
    request: Request,
    db: Db,
    login: CurrentLogin,
    current_password: Annotated[str, Form(max_length=passwords.MAX_LENGTH)],
    new_password: Annotated[str, Form(max_length=passwords.MAX_LENGTH)],
    repeat_password: Annotated[str, Form(max_length=passwords.MAX_LENGTH)],
) -> Response:
    """Change one's own password (an htmx form: refusals come back as 422 with the field they are about)."""
    if not login.login_session.mfa_verified:
        raise NotAuthenticated("complete the second login step first", code="mfa_required")
    forced = login.user.must_change_password
    sessions.change_password(
        session=db,
        policy=get_services(request).settings.auth,
        login_session=login.login_session,
        current=current_password,
        new=new_password,
        repeated=repeat_password,
    )
    if forced:
        return Response(status_code=204, headers={"HX-Redirect": "/"})
    return flash("Your password is changed. Your other sessions have ended; this one goes on.")


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token_submit(
    page: CurrentPage,
    db: Db,
    name: Annotated[str, Form(min_length=1, max_length=80)],
    permissions: Annotated[list[str], Form()],
) -> Response:
    try:
        token, secret = tokens.create(session=db, actor=page.principal, name=name, permissions=permissions)
    except SafecityError as exc:
        return refuse(db, exc, page)
    created = gettext_in(
        page.language, "Token <b>%(name)s</b> created. Copy it now, it is not shown again: %(secret)s"
    )
    return flash(
        Markup(created)  # noqa: S704 - a sentence of our own catalog; the values are escaped
        % {"name": token.name, "secret": Markup('<code class="secret" dir="ltr">{}</code>').format(secret)}
    )


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token_submit(page: CurrentPage, db: Db, token_id: uuid.UUID) -> Response:
    return htmx_action(
        db, lambda: tokens.revoke(session=db, actor=page.principal, token_id=token_id), "/account"
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(page: CurrentPage, db: Db) -> Response:
    districts = (
        {d.id: d for d in org.list_districts(session=db, actor=page.principal)}
        if page.principal.can("org.read")
        else {}
    )
    return render(
        page,
        "auth/users.html",
        users=users.list_users(session=db, actor=page.principal),
        roles=users.list_roles(session=db, actor=page.principal),
        districts=districts,
    )


def _scope(province_wide: bool, district_ids: list[uuid.UUID]) -> frozenset[uuid.UUID] | None:
    return None if province_wide else frozenset(district_ids)


@router.post("/admin/users")
def create_user_submit(
    page: CurrentPage,
    db: Db,
    username: Annotated[str, Form(pattern=r"^[A-Za-z0-9_.-]{3,64}$")],
    full_name: Annotated[str, Form(max_length=120)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    district_ids: Annotated[list[uuid.UUID] | None, Form()] = None,
    province_wide: Annotated[bool, Form()] = False,
) -> Response:
    password = passwords.generate_password()
    try:
        user = users.create_user(
            session=db,
            actor=page.principal,
            username=username,
            password=password,
            full_name=full_name,
            roles=roles or [],
            district_ids=_scope(province_wide, district_ids or []),
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return flash(
        Markup(
            "Created <b>{}</b>. Give them this password in person; it is not shown again: "
            '<code class="secret">{}</code>'
        ).format(user.username, password)
    )


@router.post("/admin/users/{user_id}/access")
def set_access_submit(
    page: CurrentPage,
    db: Db,
    user_id: uuid.UUID,
    roles: Annotated[list[str] | None, Form()] = None,
    district_ids: Annotated[list[uuid.UUID] | None, Form()] = None,
    province_wide: Annotated[bool, Form()] = False,
) -> Response:
    return htmx_action(
        db,
        lambda: users.set_user_access(
            session=db,
            actor=page.principal,
            user_id=user_id,
            roles=roles or [],
            district_ids=_scope(province_wide, district_ids or []),
        ),
        "/admin/users",
        audit_refusal=page,
    )


@router.post("/admin/users/{user_id}/reset-password")
def reset_password_submit(page: CurrentPage, db: Db, user_id: uuid.UUID) -> Response:
    try:
        user, temporary = users.reset_password(session=db, actor=page.principal, user_id=user_id)
    except SafecityError as exc:
        return refuse(db, exc, page)
    return flash(
        Markup(
            "The password of <b>{}</b> is reset and their sessions have ended. Give them this temporary "
            "password in person; it is not shown again, and they must change it when they log in: "
            '<code class="secret" data-testid="temporary-password">{}</code>'
        ).format(user.username, temporary)
    )


@router.post("/admin/users/{user_id}/{action}")
def user_action_submit(page: CurrentPage, db: Db, user_id: uuid.UUID, action: str) -> Response:
    actions: dict[str, Callable[[], object]] = {
        "disable": lambda: users.set_active(session=db, actor=page.principal, user_id=user_id, active=False),
        "enable": lambda: users.set_active(session=db, actor=page.principal, user_id=user_id, active=True),
        "reset-mfa": lambda: users.reset_mfa(session=db, actor=page.principal, user_id=user_id),
        "end-sessions": lambda: users.end_sessions(session=db, actor=page.principal, user_id=user_id),
    }
    if action not in actions:
        return flash(f"unknown action '{action}'", ok=False)
    return htmx_action(db, actions[action], "/admin/users")


@router.get("/admin/roles", response_class=HTMLResponse)
def roles_page(page: CurrentPage, db: Db) -> Response:
    return render(
        page,
        "auth/roles.html",
        roles=users.list_roles(session=db, actor=page.principal),
        catalogue=CATALOGUE,
        editable=page.principal.can("roles.manage") and page.principal.province_wide,
    )


@router.post("/admin/roles/{name}")
def set_role_submit(
    page: CurrentPage, db: Db, name: str, permissions: Annotated[list[str] | None, Form()] = None
) -> Response:
    return htmx_action(
        db,
        lambda: users.set_role_permissions(
            session=db, actor=page.principal, name=name, permissions=permissions or []
        ),
        "/admin/roles",
        audit_refusal=page,
    )
