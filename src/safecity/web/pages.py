"""Shared page machinery: templates, the navigation each role sees, and the page context of a request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from safecity import __version__
from safecity.auth.principal import Principal
from safecity.core.errors import InvalidInput, PermissionDenied, SafecityError
from safecity.web import i18n
from safecity.web.deps import CurrentLogin, CurrentPrincipal, get_services, record_denial
from safecity.web.i18n import N_

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
i18n.install(TEMPLATES.env)  # _(), gettext, ngettext and {% trans %}, in each page's `lang`


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    permission: str | None  # None: everyone who has logged in; "a|b": either
    group: str = ""  # the menu it sits in; "": on the bar itself


@dataclass(frozen=True)
class NavGroup:
    """A menu of the bar: the entries of one kind of work (shown as a plain link when it holds one)."""

    label: str
    items: tuple[NavItem, ...]


# The bar's menus, one per kind of work, so a role with many pages still has one short row.
RESPONSE, VIDEO, ANALYTICS, FORENSICS, TRAFFIC, ADMIN = (
    N_("Response"),
    N_("Video"),
    N_("Analytics"),
    N_("Forensics"),
    N_("Traffic"),
    N_("Administration"),
)

FACES_ANY = "faces.search|faces.read|faces.confirm|faces.enrol|faces.authorise|faces.oversee"

# Later domains add their pages here; a role sees only what it may use.
NAV: tuple[NavItem, ...] = (
    NavItem("Dashboard", "/", None),
    NavItem("Console", "/console", "alerts.read"),
    NavItem("Alerts", "/alerts", "alerts.read", RESPONSE),
    NavItem("Analytics events", "/analytics/events", "alerts.read", ANALYTICS),
    NavItem("Hotlists", "/hotlists", "plates.read", ANALYTICS),
    NavItem("Face watchlists", "/faces", FACES_ANY, ANALYTICS),
    NavItem("Face authorisations", "/faces/authorisations", FACES_ANY, ANALYTICS),
    # Everyone who acts on alerts must know how often face matching is wrong.
    NavItem("Face error rates", "/faces/rates", FACES_ANY + "|alerts.read", ANALYTICS),
    NavItem("Plates", "/plates", "plates.read", ANALYTICS),
    NavItem("Face match leads", "/faces/matches", "faces.read", RESPONSE),
    NavItem("Face search", "/faces/search", "faces.search", ANALYTICS),
    NavItem("Incidents", "/incidents", "incidents.read", RESPONSE),
    NavItem("Log a call", "/incidents/new", "incidents.manage", RESPONSE),
    NavItem("Units", "/units", "incidents.read", RESPONSE),
    NavItem("Response times", "/kpis", "kpis.read", RESPONSE),
    NavItem("Records", "/records", "records.read", RESPONSE),
    NavItem("Break-glass reviews", "/records/break-glass", "records.review", RESPONSE),
    NavItem("Video wall", "/wall", "video.live", VIDEO),
    NavItem("Traffic", "/traffic", "traffic.read", TRAFFIC),
    NavItem("Review violations", "/traffic/review", "challans.review", TRAFFIC),
    NavItem("Precision", "/traffic/precision", "traffic.read", TRAFFIC),
    NavItem("Registry", "/registry", "registry.lookup", TRAFFIC),
    NavItem("Registry import", "/registry#import", "registry.import", TRAFFIC),
    NavItem("Appeals", "/traffic/appeals", "appeals.decide", TRAFFIC),
    NavItem("Payments", "/traffic/payments", "payments.reconcile", TRAFFIC),
    NavItem("Challans", "/traffic/challans", "challans.read", TRAFFIC),
    NavItem("Fines", "/traffic/fines", "fines.manage|challans.read", TRAFFIC),
    NavItem("Cameras", "/cameras", "cameras.read", VIDEO),
    NavItem("Camera review", "/cameras/review", "cameras.manage|cameras.review", VIDEO),
    NavItem("My cameras", "/owner", "cameras.own", VIDEO),
    NavItem("Districts", "/org/districts", "org.read", ADMIN),
    NavItem("Users", "/admin/users", "users.read", ADMIN),
    NavItem("Connectors", "/admin/connectors", "connectors.manage", ADMIN),
    NavItem("Roles", "/admin/roles", "users.read", ADMIN),
    NavItem("Audit log", "/audit", "audit.read", ADMIN),
    NavItem("Privacy masks lifted", "/privacy/unmasks", "audit.read", ADMIN),
    NavItem("Face oversight", "/faces/oversight", "faces.oversee", ADMIN),
    NavItem("Records import", "/records/quality/imports", "records.import", ADMIN),
    NavItem("Duplicate persons", "/records/quality/duplicates", "records.merge", ADMIN),
    NavItem("Workers", "/admin/workers", "cluster.read", ADMIN),
    NavItem("My account", "/account", None),
    NavItem("Playback", "/playback", "video.playback", VIDEO),
    NavItem("Search cameras", "/forensics", "forensics.investigate", FORENSICS),
    NavItem("Routes", "/forensics/routes", "forensics.investigate", FORENSICS),
    NavItem("Video synopsis", "/forensics/synopsis", "forensics.investigate", FORENSICS),
    NavItem("Cases", "/cases", "forensics.investigate|cases.share", FORENSICS),
    NavItem("Verify evidence", "/evidence/verify", None, FORENSICS),
)


def nav_for(principal: Principal) -> list[NavItem | NavGroup]:
    """The bar's entries this principal may use: links, and menus where one kind of work has several."""
    allowed = [
        item
        for item in NAV
        if item.permission is None or any(principal.can(p) for p in item.permission.split("|"))
    ]
    entries: list[NavItem | NavGroup] = []
    for item in allowed:
        if not item.group:
            entries.append(item)
        elif not any(isinstance(e, NavGroup) and e.label == item.group for e in entries):
            members = tuple(i for i in allowed if i.group == item.group)
            entries.append(NavGroup(item.group, members) if len(members) > 1 else item)
    return entries


@dataclass(frozen=True)
class Page:
    """What every signed-in page needs: who is looking, their CSRF token, and the display time zone."""

    request: Request
    principal: Principal
    csrf_token: str
    timezone: ZoneInfo
    language: str = "en"  # the user's choice, else the browser's (web/i18n.py)


def get_page(request: Request, principal: CurrentPrincipal, login: CurrentLogin) -> Page:
    settings = get_services(request).settings
    language = i18n.choose(request, preference=login.user.language, default=settings.default_language)
    request.state.language = language  # for templates rendered without render()'s context
    return Page(request, principal, login.login_session.csrf_token, ZoneInfo(settings.timezone), language)


CurrentPage = Annotated[Page, Depends(get_page)]


def local_time(value: dt.datetime | None, zone: ZoneInfo) -> str:
    """A UTC timestamp shown in the local time zone people read (Asia/Karachi by default)."""
    if value is None:
        return "—"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def typed_moment(value: str, page: Page, name: str) -> dt.datetime | None:
    """A time the user typed (datetime-local, in their zone) as an aware datetime; empty means none."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"'{name}' is not a date and time", field=name) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=page.timezone)


def render(page: Page, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page inside the shared layout."""
    return TEMPLATES.TemplateResponse(
        page.request,
        template,
        {
            "principal": page.principal,
            "nav": nav_for(page.principal),
            "csrf_token": page.csrf_token,
            "map_tiles_url": get_services(page.request).settings.web.map_tiles_url,
            "version": __version__,
            "localtime": lambda value: local_time(value, page.timezone),
            "lang": page.language,
            "direction": i18n.direction(page.language),
            **context,
        },
        status_code=status_code,
    )


def render_public(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page for someone who has not finished logging in (in the language they ask for)."""
    lang = i18n.choose(request, default=get_services(request).settings.default_language)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "principal": None,
            "nav": [],
            "version": __version__,
            "lang": lang,
            "direction": i18n.direction(lang),
        }
        | context,
        status_code=status_code,
    )
    i18n.remember(request, response)
    return response


def flash(message: str | Markup, *, ok: bool = True) -> HTMLResponse:
    """An htmx answer shown in the page's flash area (plain text is escaped; Markup is trusted)."""
    kind, role = ("ok", "status") if ok else ("error", "alert")
    html = Markup('<div class="flash {}" role="{}">{}</div>').format(kind, role, escape(message))
    return HTMLResponse(html, headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})


def refuse(db: Session, exc: SafecityError, page: Page | None = None) -> HTMLResponse:
    """Undo a refused page action and say why; with `page`, a refused permission is audited as in the API."""
    db.rollback()
    if page is not None and isinstance(exc, PermissionDenied):
        record_denial(session=db, principal=page.principal, request=page.request, exc=exc)
    return flash(exc.message, ok=False)


def htmx_action(
    db: Session, action: Callable[[], object], redirect: str, *, audit_refusal: Page | None = None
) -> Response:
    """Run a page action: on success reload `redirect`; on a refusal undo it and show why."""
    try:
        action()
    except SafecityError as exc:
        return refuse(db, exc, audit_refusal)
    return Response(status_code=204, headers={"HX-Redirect": redirect})
