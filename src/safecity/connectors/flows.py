"""The connectors' background work: each prisons feed polled, each CT list fetched and each Rescue 1122
outbox delivered on its own schedule, in one loop, off the requests' path. A connector that fails is
logged (its health shows it) and asked again on its next turn; it never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.orm import Session, sessionmaker

from safecity.connectors.base import Connector, ConnectorError
from safecity.connectors.ctlist import service as ctlist
from safecity.connectors.ctlist.sources import CtListSource
from safecity.connectors.hub import ConnectorHub
from safecity.connectors.prisons import service as prisons
from safecity.connectors.prisons.sources import PrisonSource
from safecity.connectors.rescue1122 import service as rescue
from safecity.connectors.rescue1122.links import RescueLink
from safecity.core import periodic
from safecity.core.bus.base import Bus
from safecity.core.db import claim, transaction
from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut

logger = logging.getLogger(__name__)

TICK_S = 1.0  # how often the loop looks whose turn it is


def every_s(connector: Connector) -> float | None:
    """How often a connector has background work, or None when it has none."""
    if isinstance(connector, PrisonSource):
        return connector.poll_every_s
    if isinstance(connector, CtListSource):
        return connector.refresh_every_s
    if isinstance(connector, RescueLink):
        return connector.push_every_s
    return None


def work(session: Session, connector: Connector) -> list[AlertOut]:
    """One turn of a connector's background work in `session`; the alerts it raised."""
    if isinstance(connector, PrisonSource):
        return prisons.poll(session=session, source=connector)[1]
    if isinstance(connector, CtListSource):
        ctlist.sync(session=session, source=connector)
    elif isinstance(connector, RescueLink):
        rescue.deliver_pending(session=session, link=connector)
    return []


async def run(
    *, session_factory: sessionmaker[Session], bus: Bus, hub: ConnectorHub, stop: asyncio.Event
) -> None:
    """Run each configured connector's background work on its schedule until `stop` is set."""
    due: dict[int, float] = {}  # by connector instance: a rebuilt connector starts afresh

    def turn() -> list[AlertOut]:
        raised: list[AlertOut] = []
        now = time.monotonic()
        for connector in hub.all():
            interval = every_s(connector)
            if interval is None or due.get(id(connector), 0.0) > now:
                continue
            due[id(connector)] = now + interval
            try:
                with transaction(session_factory) as session:
                    # Every web node runs this loop: one of them at a time does a connector's turn (two
                    # would deliver the same incident to Rescue 1122 twice); the other skips it, and on its
                    # next turn finds the work done.
                    if not claim(session, f"connector:{connector.name}"):
                        continue
                    raised += work(session, connector)
            except ConnectorError as exc:
                logger.warning("connector %s: %s", connector.name, exc.message)
        return raised

    async def once() -> None:
        for alert in await asyncio.to_thread(turn):
            await alerts.publish_or_log(bus, alert)

    await periodic.repeat(stop, TICK_S, once, what="the connectors' background work")
