"""Tables of payments: each settlement a bank or payment aggregator reported for a challan."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class Payment(Base):
    """A payment reported by a signed callback; `transaction_id` (the provider's) is unique, so a replayed
    callback finds its payment instead of paying twice.
    """

    __tablename__ = "traffic_payments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    provider: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    challan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("traffic_challans.id", ondelete="RESTRICT"), index=True
    )
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    amount_pkr: Mapped[int] = mapped_column(Integer)
    paid_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # as the bank says
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)  # the callback's body, for reconciliation
