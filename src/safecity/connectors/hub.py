"""The connectors one process holds: one shared instance per configured connector (its breaker, cache and
rate limit are the process's), rebuilt when an administrator changes the connector's settings.

Settings live in `connector_settings` with a `revision` that grows with each change; `sync` compares
revisions (one small query) and rebuilds only what changed, so every process follows an edit made in any.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from safecity.connectors.base import CONNECTORS, Connector, ConnectorConfig
from safecity.connectors.models import ConnectorSetting
from safecity.core.crypto import SecretBox
from safecity.core.db import READ_ONLY

logger = logging.getLogger(__name__)

SYNC_EVERY_S = 5.0  # how stale a process's view of the settings may be when nobody syncs it


def secret_fields(config_class: type[ConnectorConfig]) -> tuple[str, ...]:
    """The fields of a config class that hold secrets (SecretStr): sealed at rest, never shown."""
    found = []
    for name, info in config_class.model_fields.items():
        annotation = info.annotation
        if annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ()):
            found.append(name)
    return tuple(found)


def config_of(row: ConnectorSetting, box: SecretBox) -> ConnectorConfig:
    """The typed config of a stored connector, its secrets unsealed (ValueError if they cannot be)."""
    cls = CONNECTORS.get(row.type).config_class
    data: dict[str, Any] = {**row.config, "type": row.type, "name": row.name}
    data |= {field: box.decrypt(sealed) for field, sealed in row.secrets.items()}
    return cls.model_validate(data)


class ConnectorHub:
    """The configured connectors by name, as of the last sync; thread-safe."""

    def __init__(self, box: SecretBox, session_factory: Callable[[], Session] | None = None) -> None:
        self.box = box
        self._session_factory = session_factory
        self._lock = threading.Lock()
        self._built: dict[str, tuple[int, Connector]] = {}
        self._synced_at: float | None = None

    def sync(self, session: Session) -> None:
        """Build what was added or changed since the last sync, close what was removed or changed."""
        rows = session.execute(select(ConnectorSetting.name, ConnectorSetting.revision))
        revisions: dict[str, int] = {name: revision for name, revision in rows}  # noqa: C416 - rows, not pairs
        stale: list[Connector] = []
        with self._lock:
            for name in [n for n in self._built if n not in revisions]:
                stale.append(self._built.pop(name)[1])
            for name, revision in revisions.items():
                held = self._built.get(name)
                if held is not None and held[0] == revision:
                    continue
                row = session.get(ConnectorSetting, name)
                if row is None:
                    continue
                try:
                    connector = CONNECTORS.get(row.type)(config_of(row, self.box))
                except Exception:  # one bad connector must not keep the others (or the process) down
                    logger.exception("connector %s (%s) cannot be built; left out", name, row.type)
                    continue
                if held is not None:
                    stale.append(held[1])
                self._built[name] = (revision, connector)
            self._synced_at = time.monotonic()
        for connector in stale:
            connector.close()

    def _fresh(self) -> None:
        """Sync from the hub's own session when the last sync is older than SYNC_EVERY_S."""
        synced = self._synced_at
        if self._session_factory is None or (synced is not None and time.monotonic() - synced < SYNC_EVERY_S):
            return
        try:
            with self._session_factory() as session:
                session.connection(execution_options=READ_ONLY)  # a look: no write lock on SQLite
                self.sync(session)
        except SQLAlchemyError:
            logger.warning("connector settings could not be read; keeping the connectors held", exc_info=True)

    def get(self, name: str) -> Connector | None:
        """The connector of that name."""
        self._fresh()
        with self._lock:
            held = self._built.get(name)
        return held[1] if held else None

    def all(self) -> list[Connector]:
        """Every configured connector, by name."""
        self._fresh()
        with self._lock:
            return [self._built[name][1] for name in sorted(self._built)]

    def close(self) -> None:
        """Close every connector's connections."""
        with self._lock:
            held, self._built = list(self._built.values()), {}
        for _, connector in held:
            connector.close()
