"""Tables of the organisation: province → districts → police stations and sites."""

from __future__ import annotations

import uuid

from sqlalchemy import Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safecity.core.db import Base


class Province(Base):
    __tablename__ = "provinces"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)

    districts: Mapped[list[District]] = relationship(back_populates="province", order_by="District.name")


class District(Base):
    __tablename__ = "districts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    province_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("provinces.id", ondelete="RESTRICT"), index=True
    )
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)

    province: Mapped[Province] = relationship(back_populates="districts")


class PoliceStation(Base):
    __tablename__ = "police_stations"
    __table_args__ = (UniqueConstraint("district_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)


class Site(Base):
    """A place where cameras stand (a junction, a market, a building)."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("district_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    police_station_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("police_stations.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
