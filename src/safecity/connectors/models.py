"""The connectors an administrator configured: type, name, plain settings, and the secrets sealed apart."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class ConnectorSetting(Base):
    """One configured connector; `revision` grows with each change, so every process rebuilds its instance."""

    __tablename__ = "connector_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # the settings that are not secrets
    # field -> SecretBox(secret_key, "connectors") ciphertext; never returned by any API or page
    secrets: Mapped[dict[str, str]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
