"""Configuring connectors: the list with each one's health, a change of settings (secrets sealed, audited),
and a "Test" call. The vehicle registry configured in the settings file is listed too, read-only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.connectors.base import CONNECTORS, Connector, ConnectorError
from safecity.connectors.hub import ConnectorHub, config_of, secret_fields
from safecity.connectors.models import ConnectorSetting
from safecity.connectors.schemas import ConnectorIn, ConnectorOut, HealthOut, TestOut
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

MANAGE = "connectors.manage"


def _problems(exc: ValidationError) -> str:
    # Field names and what is wrong, never the values (a mistyped secret must not reach a log or a page).
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())[:500]


def _out(row: ConnectorSetting | None, connector: Connector | None, *, name: str, kind: str) -> ConnectorOut:
    if row is None:  # from the settings file
        plain: dict[str, Any] = {}
        secrets: dict[str, Any] = {}
        if connector is not None:
            fields = secret_fields(type(connector.config))
            plain = connector.config.model_dump(mode="json", exclude={"type", "name", *fields})
            secrets = {f: "set" if getattr(connector.config, f) else "not set" for f in fields}
    else:
        fields = (
            secret_fields(CONNECTORS.get(row.type).config_class) if row.type in CONNECTORS.types() else ()
        )
        plain = dict(row.config)
        secrets = {f: "set" if f in row.secrets else "not set" for f in fields}
    return ConnectorOut(
        name=name,
        type=kind,
        source="settings" if row is None else "admin",
        config=plain,
        secrets=secrets,
        health=HealthOut.of(connector.health()) if connector is not None else None,
        updated_at=row.updated_at if row is not None else None,
    )


def list_connectors(
    *, session: Session, principal: Principal, hub: ConnectorHub, fixed: Sequence[Connector]
) -> list[ConnectorOut]:
    """Every connector with its health: those in the settings file (`fixed`), then the configured ones."""
    principal.require(MANAGE)
    hub.sync(session)
    found = [_out(None, c, name=c.name, kind=c.type) for c in fixed]
    for row in session.scalars(select(ConnectorSetting).order_by(ConnectorSetting.name)):
        found.append(_out(row, hub.get(row.name), name=row.name, kind=row.type))
    return found


def configure(
    *,
    session: Session,
    principal: Principal,
    hub: ConnectorHub,
    name: str,
    data: ConnectorIn,
    fixed: Sequence[Connector] = (),
) -> ConnectorOut:
    """Add or change a connector's settings; secrets are sealed; audited with the fields changed (no values).

    Raises:
        InvalidInput: an unknown type, a secret among the plain settings, settings that do not validate, or
            the name of a connector from the settings file.
    """
    principal.require(MANAGE)
    if any(c.name == name for c in fixed):
        raise InvalidInput(f"{name!r} is configured in the settings file", code="connector_fixed")
    try:
        cls = CONNECTORS.get(data.type)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="unknown_connector") from None
    fields = secret_fields(cls.config_class)
    if misplaced := sorted(set(data.config) & {*fields, "type", "name"}):
        raise InvalidInput(
            f"{', '.join(misplaced)} cannot be among the settings", code="bad_connector_config"
        )
    if unknown := sorted(set(data.secrets) - set(fields)):
        raise InvalidInput(f"{data.type} has no secret {', '.join(unknown)}", code="bad_connector_config")
    row = session.get(ConnectorSetting, name, with_for_update=True)
    sealed = dict(row.secrets) if row is not None and row.type == data.type else {}
    for field, value in data.secrets.items():
        if value is None or not value:
            sealed.pop(field, None)
        else:
            sealed[field] = hub.box.encrypt(value)
    candidate = ConnectorSetting(name=name, type=data.type, config=dict(data.config), secrets=sealed)
    try:
        config = config_of(candidate, hub.box)
    except ValidationError as exc:
        raise InvalidInput(
            f"settings of {data.type}: {_problems(exc)}", code="bad_connector_config"
        ) from None
    plain = config.model_dump(mode="json", exclude={"type", "name", *fields}, exclude_defaults=True)
    changed = sorted(
        {k for k in plain if row is None or row.config.get(k) != plain[k]}
        | ({k for k in row.config if k not in plain} if row is not None else set())
    )
    if row is None:
        row = ConnectorSetting(name=name, type=data.type, config=plain, secrets=sealed, revision=1)
        session.add(row)
    else:
        row.type, row.config, row.secrets, row.revision = data.type, plain, sealed, row.revision + 1
    row.updated_at, row.updated_by = utcnow(), principal.user_id
    session.flush()
    audit.record(
        session=session,
        action="connectors.configure",
        outcome="success",
        actor=principal,
        object_type="connector_settings",
        object_id=name,
        detail={
            "type": data.type,
            "revision": row.revision,
            "changed": changed,
            "secrets": sorted(data.secrets),
        },
    )
    hub.sync(session)
    logger.info("connector %s (%s) configured, revision %d", name, data.type, row.revision)
    return _out(row, hub.get(name), name=name, kind=data.type)


def test(
    *, session: Session, principal: Principal, hub: ConnectorHub, name: str, fixed: Sequence[Connector] = ()
) -> TestOut:
    """Call the connector once (past its cache) and say whether the other system answered; audited."""
    principal.require(MANAGE)
    hub.sync(session)
    connector = next((c for c in fixed if c.name == name), None) or hub.get(name)
    if connector is None:
        raise NotFound(f"no connector named {name!r} (or it could not be built: see the log)")
    try:
        connector.test()
        ok, message = True, f"{connector.name} answered"
    except ConnectorError as exc:
        ok, message = False, exc.message
    audit.record(
        session=session,
        action="connectors.test",
        outcome="success" if ok else "failure",
        actor=principal,
        object_type="connector_settings",
        object_id=name,
        detail={"type": connector.type, "ok": ok},
    )
    return TestOut(ok=ok, message=message, health=HealthOut.of(connector.health()))
