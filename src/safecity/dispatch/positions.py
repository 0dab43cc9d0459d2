"""Unit positions: reports through the API or MQTT, and the MQTT consumer units talk to.

Topics under the prefix (default `safecity/units`), per unit: `<call_sign>/position` with
`{"lat": .., "lon": .., "at": ISO 8601}`, `<call_sign>/ack` with `{"assignment_id": ..}` and
`<call_sign>/status` with `{"status": ..}`. Dispatches go out on `<call_sign>/dispatch` (notifiers.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid

from pydantic import ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from safecity.auth.principal import Principal
from safecity.core import mqtt
from safecity.core.db import transaction
from safecity.core.errors import InvalidInput, NotFound
from safecity.core.schemas import InModel
from safecity.dispatch import service
from safecity.dispatch.models import Unit, UnitStatus
from safecity.dispatch.schemas import PositionIn

logger = logging.getLogger(__name__)

RECONNECT_S = 2.0


class AckMessage(InModel):
    assignment_id: uuid.UUID


class StatusMessage(InModel):
    status: UnitStatus


GROUP = "safecity-units"  # the MQTT shared subscription of the web nodes' unit consumers


def report_position(
    *,
    session: Session,
    lat: float,
    lon: float,
    at: dt.datetime,
    unit_id: uuid.UUID | None = None,
    call_sign: str | None = None,
    principal: Principal | None = None,
) -> bool:
    """Store where a unit was at `at`; False when the report is older than the stored one (stale).

    Out-of-range coordinates or a time without zone are InvalidInput. With a `principal` (the API) it
    needs dispatch.manage in the unit's district; without one the channel is trusted (MQTT).
    """
    if (unit_id is None) == (call_sign is None):
        raise ValueError("give exactly one of unit_id and call_sign")
    try:
        position = PositionIn(lat=lat, lon=lon, at=at)
    except ValidationError as exc:
        raise InvalidInput("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())) from None
    if principal is not None:
        principal.require(service.MANAGE)
    key = Unit.id == unit_id if unit_id is not None else Unit.call_sign == call_sign
    found = session.execute(select(Unit.id, Unit.district_id).where(key)).one_or_none()
    if found is None or (principal is not None and not principal.sees_district(found.district_id)):
        raise NotFound("no unit with that id" if unit_id is not None else "no unit with that call sign")
    # One statement compares and writes, so of two reports racing, the newer one stays.
    moved = session.execute(
        update(Unit)
        .where(Unit.id == found.id, or_(Unit.position_at.is_(None), Unit.position_at < position.at))
        .values(latitude=position.lat, longitude=position.lon, position_at=position.at)
        .execution_options(synchronize_session=False)
    )
    fresh: bool = moved.rowcount == 1  # type: ignore[attr-defined]
    if not fresh:
        logger.debug("stale position of unit %s ignored", found.id)
    return fresh


async def consume_positions(
    *,
    session_factory: sessionmaker[Session],
    stop: asyncio.Event,
    host: str = "127.0.0.1",
    port: int = 1883,
    prefix: str = "safecity/units",
    client_factory: mqtt.ClientFactory | None = None,
    ready: asyncio.Event | None = None,
    reconnect_s: float = RECONNECT_S,
) -> None:
    """Apply the units' positions, acknowledgements and statuses from MQTT (`<prefix>/<call sign>/<kind>`)
    until `stop` is set; a bad message is logged (never its contents) and skipped, a lost broker
    reconnected to every `reconnect_s` seconds. `ready` is set each time the subscriptions are in place.
    """

    def handle(topic: str, payload: bytes) -> None:
        call_sign, kind = topic.split("/")[-2:]
        _handle(session_factory, call_sign, kind, payload)

    await mqtt.consume(
        topics=[f"{prefix}/+/{kind}" for kind in ("position", "ack", "status")],
        handle=handle,
        what="units",
        stop=stop,
        host=host,
        port=port,
        reconnect_s=reconnect_s,
        client_factory=client_factory,
        ready=ready,
        # Every web node runs this consumer: each message is applied once (a status or an acknowledgement
        # applied by each node would be written to the incident's timeline once per node).
        group=GROUP,
    )


def _handle(session_factory: sessionmaker[Session], call_sign: str, kind: str, payload: bytes) -> None:
    with transaction(session_factory) as session:
        if kind == "position":
            position = PositionIn.model_validate(json.loads(payload))
            report_position(
                session=session, call_sign=call_sign, lat=position.lat, lon=position.lon, at=position.at
            )
        elif kind == "ack":
            ack = AckMessage.model_validate(json.loads(payload))
            service.acknowledge(session=session, assignment_id=ack.assignment_id, call_sign=call_sign)
        elif kind == "status":
            status = StatusMessage.model_validate(json.loads(payload))
            unit = session.scalars(select(Unit).where(Unit.call_sign == call_sign).with_for_update()).first()
            if unit is None:
                raise NotFound("no unit with that call sign")
            service.apply_status(
                session=session, unit=unit, status=status.status, actor=service.unit_actor(call_sign)
            )
