"""REST API of the connectors (/api/v1/connectors): each connector with its health, its settings (secrets
write-only: shown only as "set" / "not set"), and a "Test" call. Administrators (connectors.manage) only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from safecity.connectors import service
from safecity.connectors.schemas import NAME_PATTERN, ConnectorIn, ConnectorOut, TestOut
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/connectors", tags=["connectors"])

ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"description": "the other system answered garbage or refused us (connector_bad_response, "
          "connector_unauthorised)"},
    503: {"description": "the other system timed out or is unavailable (connector_timeout, "
          "connector_unavailable)"},
}  # fmt: skip
Name = Annotated[str, Path(pattern=NAME_PATTERN)]


@router.get("", response_model=list[ConnectorOut])
def list_connectors(request: Request, principal: CurrentPrincipal, db: Db) -> list[ConnectorOut]:
    """Every connector with its health (circuit state, failures, last error and success, endpoint)."""
    services = get_services(request)
    return service.list_connectors(
        session=db, principal=principal, hub=services.connectors, fixed=services.fixed_connectors()
    )


@router.put("/{name}", response_model=ConnectorOut)
def configure(
    request: Request, principal: CurrentPrincipal, db: Db, name: Name, body: ConnectorIn
) -> ConnectorOut:
    """Add or change a connector; secrets are sealed at rest and never shown again. Audited."""
    services = get_services(request)
    return service.configure(
        session=db,
        principal=principal,
        hub=services.connectors,
        name=name,
        data=body,
        fixed=services.fixed_connectors(),
    )


@router.post("/{name}/test", response_model=TestOut)
def test(request: Request, principal: CurrentPrincipal, db: Db, name: Name) -> TestOut:
    """Call the connector once and say whether the other system answered; audited."""
    services = get_services(request)
    return service.test(
        session=db, principal=principal, hub=services.connectors, name=name, fixed=services.fixed_connectors()
    )
