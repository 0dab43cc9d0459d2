"""Rescue 1122 both ways: the outbox of our incidents (delivered by a background loop, failures retried
with back-off) and their incidents from the signed webhook (each made into one of ours, once).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.connectors.base import ConnectorError
from safecity.connectors.rescue1122.links import RescueLink
from safecity.connectors.rescue1122.models import Delivery, Received
from safecity.connectors.rescue1122.schemas import OurIncident, ReceivedOut, RescueIncidentIn
from safecity.core.crypto import check_signed
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotAuthenticated
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, Incident, Source
from safecity.org.models import District

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
BATCH = 50  # incidents delivered per round and link
MAX_BACKOFF_S = 3600.0


def _actor(link: RescueLink, client_addr: str | None = None) -> Principal:
    return Principal(
        user_id=None,
        username=f"rescue1122:{link.name}"[:64],
        permissions=frozenset(),
        district_ids=None,
        client_addr=client_addr,
        via="system",
    )


# --- ours to them -----------------------------------------------------------------------------------


def pending(
    *, session: Session, link: RescueLink, now: dt.datetime
) -> Sequence[tuple[Incident, Delivery | None]]:
    """Our incidents of the link's kinds whose status they have not heard yet (and not waiting out a
    back-off), changed within the link's window; never theirs back to them."""
    delivery = and_(Delivery.incident_id == Incident.id, Delivery.connector == link.name)
    query = (
        select(Incident, Delivery)
        .outerjoin(Delivery, delivery)
        .where(
            Incident.category.in_(sorted(link.categories)),
            Incident.source != Source.RESCUE1122,
            Incident.updated_at >= now - dt.timedelta(seconds=link.window_s),
            or_(
                Delivery.id.is_(None),
                Delivery.delivered_status.is_(None),
                Delivery.delivered_status != Incident.status,
            ),
            or_(Delivery.next_try_at.is_(None), Delivery.next_try_at <= now),
        )
        .order_by(Incident.updated_at)
        .limit(BATCH)
    )
    return [(incident, held) for incident, held in session.execute(query)]


def deliver_pending(*, session: Session, link: RescueLink, now: dt.datetime | None = None) -> tuple[int, int]:
    """Deliver what they have not heard; a failure waits (doubling, at most an hour) and is tried again.
    Does not commit. Returns (delivered, failed)."""
    now = now or utcnow()
    delivered = failed = 0
    for incident, held in pending(session=session, link=link, now=now):
        row = held
        if row is None:
            row = Delivery(id=uuid.uuid4(), connector=link.name, incident_id=incident.id, attempts=0)
            session.add(row)
        message = OurIncident(
            id=incident.id,
            number=incident.number,
            category=incident.category.value,
            status=incident.status.value,
            priority=incident.priority,
            title=incident.title,
            latitude=incident.latitude,
            longitude=incident.longitude,
            address=incident.address,
            created_at=incident.created_at,
            updated_at=incident.updated_at,
        )
        try:
            link.deliver(message)
        except ConnectorError as exc:
            failed += 1
            row.attempts += 1
            wait = min(MAX_BACKOFF_S, link.push_every_s * 2**row.attempts)
            row.next_try_at, row.last_error = now + dt.timedelta(seconds=wait), exc.message[:300]
            continue
        delivered += 1
        row.delivered_status, row.delivered_at = incident.status.value, now
        row.attempts, row.next_try_at, row.last_error = 0, None, None
        audit.record(
            session=session,
            action="rescue1122.deliver",
            outcome="success",
            object_type="incident",
            object_id=str(incident.id),
            district_id=incident.district_id,
            detail={"connector": link.name, "status": incident.status.value, "number": incident.number},
        )
    session.flush()
    if delivered or failed:
        logger.info("rescue 1122 %s: %d incidents delivered, %d failed", link.name, delivered, failed)
    return delivered, failed


# --- theirs to us -----------------------------------------------------------------------------------


def authenticate(
    *,
    session: Session,
    links: Sequence[RescueLink],
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    client_addr: str | None = None,
) -> RescueLink:
    """The link whose key signed this call; NotAuthenticated (401: unsigned, bad_signature,
    stale_timestamp) otherwise, with the refusal audited and committed (nothing else is written)."""
    problem = "unsigned" if not signature or not timestamp else "bad_signature"
    for link in links:
        if link.hmac_key is None:
            continue
        found = check_signed(
            secret=link.hmac_key,
            body=body,
            signature=signature,
            timestamp=timestamp,
            max_skew_s=link.max_skew_s,
        )
        if found is None:
            return link
        if found == "stale_timestamp":
            problem = found
    audit.record(
        session=session,
        action="rescue1122.receive",
        outcome="denied",
        actor=Principal(
            user_id=None,
            username="rescue1122:unknown",
            permissions=frozenset(),
            district_ids=None,
            client_addr=client_addr,
            via="system",
        ),
        detail={"reason": problem},
    )
    session.commit()
    messages = {
        "unsigned": f"sign the call: {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required",
        "bad_signature": "the signature does not match the body",
        "stale_timestamp": "the timestamp is too far from now",
    }
    raise NotAuthenticated(messages[problem], code=problem)


def receive(
    *, session: Session, link: RescueLink, body: bytes, client_addr: str | None = None
) -> ReceivedOut:
    """Make their incident one of ours (source rescue1122, with a timeline note), once: a repeat of the same
    id answers the incident it made. InvalidInput for a body that does not fit or an unknown district."""
    try:
        data = RescueIncidentIn.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems[:500], code="bad_rescue_incident") from None
    known = _known(session, link, data.id)
    if known is not None:
        return known
    code = data.district.upper() or link.default_district
    district = session.scalars(select(District).where(District.code == code)).first() if code else None
    if district is None:
        raise InvalidInput(f"no district with code {code!r} here", code="unknown_district")
    actor = _actor(link, client_addr)
    try:
        with session.begin_nested():
            incident = incidents.new_incident(
                session,
                actor,
                district,
                category=Category(data.category),
                priority=data.priority,
                title=data.title,
                source=Source.RESCUE1122,
                description=data.description,
                latitude=data.latitude,
                longitude=data.longitude,
                address=data.address or None,
            )
            session.add(
                Received(id=uuid.uuid4(), connector=link.name, remote_id=data.id, incident_id=incident.id)
            )
            session.flush()
    except IntegrityError:  # the same incident of theirs, received by another request meanwhile
        again = _known(session, link, data.id)
        if again is None:
            raise
        return again
    incidents.add_timeline(
        session=session,
        incident=incident,
        actor=actor,
        kind="note",
        text=f"Shared by Rescue 1122 ({link.name}), their incident {data.id}",
        detail={"connector": link.name, "remote_id": data.id},
    )
    audit.record(
        session=session,
        action="rescue1122.receive",
        outcome="success",
        actor=actor,
        object_type="incident",
        object_id=str(incident.id),
        district_id=district.id,
        detail={"connector": link.name, "remote_id": data.id, "number": incident.number},
    )
    return ReceivedOut(incident_id=incident.id, number=incident.number, replayed=False, status="created")


def _known(session: Session, link: RescueLink, remote_id: str) -> ReceivedOut | None:
    row = session.scalars(
        select(Received).where(Received.connector == link.name, Received.remote_id == remote_id)
    ).first()
    if row is None:
        return None
    incident = session.get(Incident, row.incident_id)
    number = incident.number if incident is not None else ""
    return ReceivedOut(incident_id=row.incident_id, number=number, replayed=True, status="known")
