"""The organisation: districts (reference data), police stations and sites, filtered by district scope."""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.core.errors import Conflict, NotFound
from safecity.org.models import District, PoliceStation, Province, Site
from safecity.org.schemas import PlaceHit, PlaceIn

DISTRICTS_FILE = Path(__file__).with_name("districts.toml")


def ensure_districts(*, session: Session) -> list[str]:
    """Create the province and the districts of the plan that are missing; returns the names added."""
    data = tomllib.loads(DISTRICTS_FILE.read_text(encoding="utf-8"))
    spec = data["province"]
    province = session.scalars(select(Province).where(Province.code == spec["code"])).one_or_none()
    if province is None:
        province = Province(code=spec["code"], name=spec["name"])
        session.add(province)
        session.flush()
    existing = set(session.scalars(select(District.code)))
    added = []
    for d in data["districts"]:
        if d["code"] not in existing:
            session.add(District(province_id=province.id, **d))
            added.append(d["name"])
    session.flush()
    return added


def list_districts(*, session: Session, actor: Principal) -> list[District]:
    """Districts within the actor's scope, by name."""
    actor.require("org.read")
    return list(
        session.scalars(select(District).where(actor.district_filter(District.id)).order_by(District.name))
    )


def get_district(*, session: Session, actor: Principal, district_id: uuid.UUID) -> District:
    """One district within scope (out of scope reads as not found)."""
    actor.require("org.read")
    district = session.get(District, district_id)
    if district is None or not actor.sees_district(district.id):
        raise NotFound("no such district")
    return district


def district_by_code(*, session: Session, code: str) -> District | None:
    """A district by its short code (PSW, DIK, …)."""
    return session.scalars(select(District).where(District.code == code.upper())).one_or_none()


def list_stations(
    *, session: Session, actor: Principal, district_id: uuid.UUID | None = None
) -> list[PoliceStation]:
    """Police stations within scope, optionally of one district."""
    actor.require("org.read")
    query = select(PoliceStation).where(actor.district_filter(PoliceStation.district_id))
    if district_id is not None:
        query = query.where(PoliceStation.district_id == district_id)
    return list(session.scalars(query.order_by(PoliceStation.name)))


def list_sites(*, session: Session, actor: Principal, district_id: uuid.UUID | None = None) -> list[Site]:
    """Camera sites within scope, optionally of one district."""
    actor.require("org.read")
    query = select(Site).where(actor.district_filter(Site.district_id))
    if district_id is not None:
        query = query.where(Site.district_id == district_id)
    return list(session.scalars(query.order_by(Site.name)))


def _writable_district(session: Session, actor: Principal, district_id: uuid.UUID) -> District:
    actor.require("org.manage")
    return get_district(session=session, actor=actor, district_id=district_id)


def _check_unique(
    session: Session, model: type[PoliceStation] | type[Site], district_id: uuid.UUID, name: str
) -> None:
    taken = session.scalars(
        select(model.id).where(model.district_id == district_id, model.name == name)
    ).first()
    if taken is not None:
        raise Conflict(f"'{name}' already exists in this district", code="name_taken")


def add_station(*, session: Session, actor: Principal, data: PlaceIn) -> PoliceStation:
    """Add a police station to a district within scope."""
    _writable_district(session, actor, data.district_id)
    _check_unique(session, PoliceStation, data.district_id, data.name)
    station = PoliceStation(
        district_id=data.district_id, name=data.name, latitude=data.latitude, longitude=data.longitude
    )
    session.add(station)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="org.station.create",
        outcome="success",
        object_type="police_station",
        object_id=str(station.id),
        district_id=station.district_id,
    )
    return station


def add_site(*, session: Session, actor: Principal, data: PlaceIn) -> Site:
    """Add a camera site to a district within scope, optionally under a police station of that district."""
    _writable_district(session, actor, data.district_id)
    if data.police_station_id is not None:
        station = session.get(PoliceStation, data.police_station_id)
        if station is None or station.district_id != data.district_id:
            raise NotFound("no such police station in this district")
    _check_unique(session, Site, data.district_id, data.name)
    site = Site(
        district_id=data.district_id,
        police_station_id=data.police_station_id,
        name=data.name,
        latitude=data.latitude,
        longitude=data.longitude,
    )
    session.add(site)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="org.site.create",
        outcome="success",
        object_type="site",
        object_id=str(site.id),
        district_id=site.district_id,
    )
    return site


def search_places(*, session: Session, actor: Principal, text: str, limit: int = 10) -> list[PlaceHit]:
    """Districts, police stations and sites within scope whose name holds `text` (any case), for a map's
    search: names that start with it first, then the others, each by name; at most `limit`."""
    actor.require("org.read")
    needle = text.strip().casefold()
    if not needle:
        return []

    def named(column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
        return func.lower(column).contains(needle, autoescape=True)

    districts = session.scalars(
        select(District).where(actor.district_filter(District.id), named(District.name)).limit(limit)
    )
    hits = [
        PlaceHit(
            kind="district",
            id=d.id,
            name=d.name,
            district_id=d.id,
            district_name=d.name,
            latitude=d.latitude,
            longitude=d.longitude,
        )
        for d in districts
    ]
    for kind, model in (("station", PoliceStation), ("site", Site)):
        rows = session.execute(
            select(model.id, model.name, model.district_id, District.name, model.latitude, model.longitude)
            .join(District, District.id == model.district_id)
            .where(actor.district_filter(model.district_id), named(model.name))
            .limit(limit)
        )
        hits += [
            PlaceHit(
                kind=kind,
                id=place_id,
                name=name,
                district_id=district_id,
                district_name=district_name,
                latitude=latitude,
                longitude=longitude,
            )
            for place_id, name, district_id, district_name, latitude, longitude in rows
        ]
    hits.sort(key=lambda h: (not h.name.casefold().startswith(needle), h.name.casefold(), h.kind))
    return hits[:limit]
