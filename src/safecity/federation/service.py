"""Federation of district centres: signing and checking what a centre sends, storing it at the province
once per (centre, original id), and what the province's users read of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import SearchMode
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.config import CentreSettings
from safecity.core.db import insert_new, utcnow
from safecity.core.errors import InvalidInput, NotFound, SafecityError
from safecity.federation.models import (
    FederatedAlert,
    FederatedHit,
    FederatedIncident,
    FederatedPlateRead,
    FederationLink,
)
from safecity.federation.schemas import (
    AlertRecord,
    CentreOut,
    Envelope,
    IncidentRecord,
    Kind,
    PlateReadRecord,
    Record,
    Signed,
)
from safecity.org.models import District

logger = logging.getLogger(__name__)

READ_ALERTS = "alerts.read"
READ_INCIDENTS = "incidents.read"
READ_CENTRES = "org.read"
LIVE = "video.live"
PLAYBACK = "video.playback"
VideoKind = Literal["snapshot.jpg", "live.mjpeg", "playback.m3u8"]
SUBJECTS = "federation.>"
MAX_LIMIT = 500
# Rows of the province are keyed by a name-based id of (centre, original id): a redelivery is the same row.
_ROW_IDS = uuid.UUID("6c1c7f52-63a4-4c55-9b1e-3f4f0a8a2f11")
_RECORDS: dict[Kind, type[Record]] = {
    "alert": AlertRecord,
    "incident": IncidentRecord,
    "sighting": PlateReadRecord,
}


def subject(centre: str, kind: Kind) -> str:
    """The province's subject for a centre's records of `kind` (kept by the FEDERATION stream)."""
    return f"federation.{centre}.{kind}"


def row_id(centre: str, original_id: uuid.UUID) -> uuid.UUID:
    """The province's id of a centre's record: the same however often it is delivered."""
    return uuid.uuid5(_ROW_IDS, f"{centre}:{original_id}")


# --- signing (district) and checking (province) -----------------------------------------------------------


def _mac(key: str, body: str) -> str:
    return hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()


def sign(*, centre: str, key: str, kind: Kind, record: Record, sent_at: dt.datetime) -> bytes:
    """The message for a record: its envelope, signed with the centre's key."""
    envelope = Envelope(centre=centre, kind=kind, sent_at=sent_at, record=record.model_dump(mode="json"))
    body = envelope.model_dump_json()
    return Signed(body=body, signature=_mac(key, body)).model_dump_json().encode()


@dataclass(frozen=True)
class Accepted:
    """A record whose centre is known and whose signature is right."""

    centre: str
    kind: Kind
    sent_at: dt.datetime
    record: Record


@dataclass(frozen=True)
class Refused:
    """A message refused: an unknown centre, a wrong signature or a malformed message."""

    centre: str | None  # as the message claims it (unverified), None if it could not be read
    reason: str
    ref: str  # the message's id on the bus, for the log and the audit entry


Received = Accepted | Refused
Upserted = TypeVar("Upserted", FederatedAlert, FederatedIncident)


def verify(data: bytes, *, centres: Mapping[str, CentreSettings], ref: str = "") -> Received:
    """The message checked: from a known centre, signed with its key, a well-formed record; never raises.

    The signature is checked before anything inside the envelope is trusted or parsed further.
    """
    try:
        signed = Signed.model_validate_json(data)
        claimed = json.loads(signed.body).get("centre")
    except (ValidationError, ValueError, AttributeError):
        return Refused(None, "malformed", ref)
    centre = claimed if isinstance(claimed, str) else None
    settings = centres.get(centre) if centre is not None else None
    if centre is None or settings is None:
        return Refused(centre[:32] if centre else None, "unknown centre", ref)
    expected = _mac(settings.key.get_secret_value(), signed.body)
    if not hmac.compare_digest(expected, signed.signature):
        return Refused(centre, "bad signature", ref)
    try:
        envelope = Envelope.model_validate_json(signed.body)
        record = _RECORDS[envelope.kind].model_validate(envelope.record)
    except ValidationError as exc:
        # Field locations and error types only: the values may hold personal data.
        problems = sorted({f"{'.'.join(map(str, e['loc'])) or '<root>'}:{e['type']}" for e in exc.errors()})
        return Refused(centre, f"malformed: {', '.join(problems)}"[:200], ref)
    return Accepted(centre, envelope.kind, envelope.sent_at, record)


# --- storing at the province ------------------------------------------------------------------------------


def store(*, session: Session, received: Sequence[Received], centres: Mapping[str, CentreSettings]) -> int:
    """Store accepted records once per (centre, original id), a later state replacing an earlier one, and
    note each refusal (counted on its centre's link, audited, logged); how many records were new. The
    caller commits."""
    districts = _districts(session, centres)
    new = 0
    now = utcnow()
    for item in received:
        if isinstance(item, Refused):
            _refuse(session, item, known=item.centre in centres)
            continue
        district_id = districts.get(item.centre)
        new += _store_record(session, item, district_id)
        link = _link(session, item.centre)
        link.last_received_at = now
        link.last_sent_at = item.sent_at
        link.received += 1
    session.flush()
    return new


def _districts(session: Session, centres: Mapping[str, CentreSettings]) -> dict[str, uuid.UUID]:
    codes = {settings.district: code for code, settings in centres.items()}
    rows = session.execute(select(District.code, District.id).where(District.code.in_(codes)))
    by_code: dict[str, uuid.UUID] = dict(rows.all())
    return {code: by_code[s.district] for code, s in centres.items() if s.district in by_code}


def _link(session: Session, centre: str) -> FederationLink:
    link = session.get(FederationLink, centre)
    if link is None:
        link = FederationLink(centre=centre, received=0, refused=0)
        session.add(link)
    return link


def _refuse(session: Session, item: Refused, *, known: bool) -> None:
    logger.warning("federation: message %s from centre %r refused: %s", item.ref, item.centre, item.reason)
    if known and item.centre is not None:
        _link(session, item.centre).refused += 1
    audit.record(
        session=session,
        action="federation.refused",
        outcome="failure",
        object_type="federation_message",
        object_id=item.ref[:200] or None,
        detail={"centre": item.centre, "reason": item.reason},
    )


def _store_record(session: Session, item: Accepted, district_id: uuid.UUID | None) -> int:
    record = item.record
    common = {"id": row_id(item.centre, record.id), "centre": item.centre, "original_id": record.id}
    if isinstance(record, PlateReadRecord):
        folded = plates.fold(record.plate) if record.plate is not None else None
        row = {
            **common,
            "district_id": district_id,
            **record.model_dump(exclude={"id"}),
            "folded": folded,
            "folded_rev": folded[::-1] if folded is not None else None,
        }
        return len(insert_new(session, FederatedPlateRead, [row]))
    if isinstance(record, IncidentRecord):
        return _upsert(session, FederatedIncident, common, district_id, record.model_dump(exclude={"id"}))
    new = _upsert(session, FederatedAlert, common, district_id, record.model_dump(exclude={"id", "hit"}))
    if record.hit is not None:
        hit = {
            "id": row_id(item.centre, record.hit.id),
            "centre": item.centre,
            "original_id": record.hit.id,
            "district_id": district_id,
            **record.hit.model_dump(exclude={"id"}),
            "camera_name": record.camera_name,
            "seen_at": record.raised_at,
        }
        insert_new(session, FederatedHit, [hit])
    return new


def _upsert(
    session: Session,
    model: type[Upserted],
    common: dict[str, Any],
    district_id: uuid.UUID | None,
    values: dict[str, Any],
) -> int:
    """Insert the record, or replace the stored state with it unless the stored one is later; 1 if new."""
    row = session.get(model, common["id"], with_for_update=True)
    if row is None:
        session.add(model(**common, district_id=district_id, **values))
        session.flush()
        return 1
    if values["changed_at"] >= row.changed_at:
        for name, value in values.items():
            setattr(row, name, value)
    return 0


# --- what the province's users read -----------------------------------------------------------------------


def centres(
    *, session: Session, principal: Principal, configured: Mapping[str, CentreSettings]
) -> list[CentreOut]:
    """The configured centres with their link's health: last message, its lag, counts received and refused."""
    principal.require(READ_CENTRES)
    links = {link.centre: link for link in session.scalars(select(FederationLink))}
    districts = _districts(session, configured)
    out = []
    for code, settings in sorted(configured.items()):
        if not principal.sees_district(districts.get(code)):
            continue
        link = links.get(code)
        lag = None
        if link is not None and link.last_received_at is not None and link.last_sent_at is not None:
            lag = max((link.last_received_at - link.last_sent_at).total_seconds(), 0.0)
        out.append(
            CentreOut(
                code=code,
                name=settings.name or code,
                district=settings.district,
                last_received_at=link.last_received_at if link else None,
                lag_s=lag,
                received=link.received if link else 0,
                refused=link.refused if link else 0,
            )
        )
    return out


def _listing(model: Any, principal: Principal, centre: str | None, limit: int, order: Any) -> Select[Any]:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    query = select(model).where(principal.district_filter(model.district_id))
    if centre is not None:
        query = query.where(model.centre == centre)
    return query.order_by(order.desc(), model.id).limit(limit)


def alerts(
    *, session: Session, principal: Principal, centre: str | None = None, limit: int = 100
) -> list[FederatedAlert]:
    """The districts' alerts in the principal's districts, newest first."""
    principal.require(READ_ALERTS)
    query = _listing(FederatedAlert, principal, centre, limit, FederatedAlert.raised_at)
    return list(session.scalars(query))


def incidents(
    *, session: Session, principal: Principal, centre: str | None = None, limit: int = 100
) -> list[FederatedIncident]:
    """The districts' incidents in the principal's districts, newest first."""
    principal.require(READ_INCIDENTS)
    query = _listing(FederatedIncident, principal, centre, limit, FederatedIncident.opened_at)
    return list(session.scalars(query))


def hits(
    *, session: Session, principal: Principal, purpose: str, centre: str | None = None, limit: int = 100
) -> list[FederatedHit]:
    """The districts' hotlist hits in the principal's districts, newest first; audited with the purpose."""
    principal.require(plates.READ)
    purpose = plates.require_purpose(purpose)
    rows = list(session.scalars(_listing(FederatedHit, principal, centre, limit, FederatedHit.seen_at)))
    _audit(session, principal, "federation.hits", purpose, {"centre": centre, "results": len(rows)})
    return rows


def search_plates(
    *,
    session: Session,
    principal: Principal,
    q: str,
    purpose: str,
    mode: SearchMode = "exact",
    centre: str | None = None,
    limit: int = 100,
) -> list[FederatedPlateRead]:
    """Plate reads of every district in the principal's scope, newest first, found as the district's own
    plate search finds them (exact, prefix, wildcard, fuzzy); audited with the purpose."""
    principal.require(plates.READ)
    purpose = plates.require_purpose(purpose)
    text = plates.normalise(q, mode)
    conditions: list[ColumnElement[bool]] = plates.plate_conditions(
        session,
        text,
        mode,
        plate=FederatedPlateRead.plate,
        folded=FederatedPlateRead.folded,
        folded_rev=FederatedPlateRead.folded_rev,
    )
    query = _listing(FederatedPlateRead, principal, centre, limit, FederatedPlateRead.seen_at)
    rows = list(session.scalars(query.where(or_(*conditions))))
    detail = {"q": text, "mode": mode, "centre": centre, "results": len(rows)}
    _audit(session, principal, "federation.plates.search", purpose, detail)
    return rows


def _audit(session: Session, principal: Principal, action: str, purpose: str, detail: dict[str, Any]) -> None:
    audit.record(
        session=session,
        action=action,
        outcome="success",
        actor=principal,
        object_type="federation",
        purpose=purpose,
        detail=detail,
    )


def require_centre(configured: Mapping[str, CentreSettings], centre: str | None) -> str | None:
    """The centre filter, checked against the configured centres (NotFound for another)."""
    if centre is not None and centre not in configured:
        raise NotFound("no such district centre")
    return centre


# --- a district's live video, through that district's stack ----------------------------------------------


class DistrictUnreachable(SafecityError):
    """The district centre's web stack did not answer (the link is down, or it is)."""

    status = 502
    code = "district_unreachable"


@dataclass(frozen=True)
class DistrictVideo:
    """Where the province fetches a district camera's video, and the token it shows there."""

    url: str
    token: str


def open_district(
    *,
    session: Session,
    principal: Principal,
    configured: Mapping[str, CentreSettings],
    centre: str,
    path: str,
    permission: str,
    purpose: str | None,
    audited: dict[str, Any] | None = None,
) -> DistrictVideo:
    """Check the principal may see this of the centre (`permission`, the centre's district in scope), audit
    it here with the `purpose` when `audited` (its object and detail), and say where the district serves it
    (`path` on the centre's configured web address, never an address from the request); the district
    audits the token's use in its own log.
    """
    principal.require(permission)
    if purpose is not None:
        purpose = plates.require_purpose(purpose)
    settings = configured.get(centre)
    district_id = _districts(session, {centre: settings}).get(centre) if settings is not None else None
    if settings is None or not principal.sees_district(district_id):
        raise NotFound("no such district centre")
    if settings.web_url is None or settings.api_token is None:
        raise NotFound("this district centre's video is not reachable from here", code="no_district_video")
    if audited is not None:
        audit.record(
            session=session,
            action=audited["action"],
            outcome="success",
            actor=principal,
            object_type="camera",
            object_id=audited["object_id"],
            purpose=purpose,
            district_id=district_id,
            detail={"centre": centre, **audited["detail"]},
        )
    return DistrictVideo(
        url=f"{settings.web_url.rstrip('/')}{path}", token=settings.api_token.get_secret_value()
    )


def open_district_camera(
    *,
    session: Session,
    principal: Principal,
    configured: Mapping[str, CentreSettings],
    centre: str,
    camera_id: uuid.UUID,
    kind: VideoKind,
    purpose: str,
) -> DistrictVideo:
    """A district camera's live view (`video.live`) or recordings' playlist (`video.playback`), with a
    purpose, audited here."""
    action = "federation.video.playback" if kind == "playback.m3u8" else "federation.video.live"
    return open_district(
        session=session,
        principal=principal,
        configured=configured,
        centre=centre,
        path=f"/api/v1/cameras/{camera_id}/{kind}",
        permission=PLAYBACK if kind == "playback.m3u8" else LIVE,
        purpose=purpose,
        audited={"action": action, "object_id": f"{centre}:{camera_id}", "detail": {"view": kind}},
    )


def relayed_playlist(text: str, *, centre: str) -> str:
    """A district's HLS playlist with its segments fetched through the province (same recording ids)."""
    return text.replace("/api/v1/recordings/", f"/api/v1/federation/centres/{centre}/recordings/")
