"""The connectors' admin page (/admin/connectors): every connector with its health and a "Test" button, and
a form to add or change one (secrets write-only: a blank field keeps the secret, it is never shown)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Path
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from safecity.connectors import service
from safecity.connectors.base import CONNECTORS
from safecity.connectors.schemas import NAME_PATTERN, ConnectorIn
from safecity.core.errors import InvalidInput, SafecityError
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, flash, refuse, render

router = APIRouter(include_in_schema=False)


@router.get("/admin/connectors", response_class=HTMLResponse)
def connectors_page(page: CurrentPage, db: Db) -> Response:
    services = get_services(page.request)
    connectors = service.list_connectors(
        session=db, principal=page.principal, hub=services.connectors, fixed=services.fixed_connectors()
    )
    return render(page, "connectors/connectors.html", connectors=connectors, types=CONNECTORS.types())


@router.post("/admin/connectors", response_class=HTMLResponse)
def configure_submit(
    page: CurrentPage,
    db: Db,
    name: Annotated[str, Form(pattern=NAME_PATTERN)],
    type: Annotated[str, Form(max_length=64)],
    config: Annotated[str, Form(max_length=20_000)] = "{}",
    token: Annotated[str, Form(max_length=4096)] = "",
    hmac_key: Annotated[str, Form(max_length=4096)] = "",
    clear: Annotated[list[str] | None, Form()] = None,
) -> Response:
    services = get_services(page.request)
    try:
        try:
            settings = json.loads(config or "{}")
        except ValueError:
            raise InvalidInput("the settings are not JSON", code="bad_connector_config") from None
        if not isinstance(settings, dict):
            raise InvalidInput("the settings are a JSON object", code="bad_connector_config")
        secrets: dict[str, str | None] = dict.fromkeys(clear or [])
        secrets |= {field: value for field, value in (("token", token), ("hmac_key", hmac_key)) if value}
        data = ConnectorIn(type=type, config=settings, secrets=secrets)
        saved = service.configure(
            session=db,
            principal=page.principal,
            hub=services.connectors,
            name=name,
            data=data,
            fixed=services.fixed_connectors(),
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    except ValueError as exc:  # the form's fields as ConnectorIn refuses them
        db.rollback()
        return flash(str(exc)[:300], ok=False)
    return flash(Markup("Saved <b>{}</b> ({}). Reload to see its health.").format(saved.name, saved.type))


@router.post("/admin/connectors/{name}/test", response_class=HTMLResponse)
def test_submit(page: CurrentPage, db: Db, name: Annotated[str, Path(pattern=NAME_PATTERN)]) -> Response:
    services = get_services(page.request)
    try:
        outcome = service.test(
            session=db,
            principal=page.principal,
            hub=services.connectors,
            name=name,
            fixed=services.fixed_connectors(),
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return flash(outcome.message, ok=outcome.ok)
