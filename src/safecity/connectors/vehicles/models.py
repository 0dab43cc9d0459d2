"""Tables of the vehicle registry connector: the registrations imported from an Excise extract (and
those a live registry returned, cached with the time they came).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class Registration(Base):
    """A vehicle as the provincial registry records it, keyed by its folded plate (letters and digits)."""

    __tablename__ = "registry_vehicles"
    __table_args__ = (Index("ix_registry_vehicles_owner_cnic", "owner_cnic"),)

    plate: Mapped[str] = mapped_column(String(16), primary_key=True)
    province_code: Mapped[str] = mapped_column(String(8), default="")
    owner_name: Mapped[str] = mapped_column(String(120))
    owner_cnic: Mapped[str] = mapped_column(String(15))  # NNNNN-NNNNNNN-N
    owner_phone: Mapped[str] = mapped_column(String(16), default="")  # +923NNNNNNNNN
    owner_email: Mapped[str] = mapped_column(String(254), default="")
    owner_address: Mapped[str] = mapped_column(String(300), default="")
    make: Mapped[str] = mapped_column(String(40), default="")
    model: Mapped[str] = mapped_column(String(40), default="")
    colour: Mapped[str] = mapped_column(String(24), default="")
    vehicle_class: Mapped[str] = mapped_column(String(24))  # motorcycle, rickshaw, car, large
    status: Mapped[str] = mapped_column(String(24), default="registered")  # registered, expired, ...
    registered_on: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(64))  # "import:<file name>" or the connector's name
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
