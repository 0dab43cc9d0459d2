"""Incidents: numbered per district and year, a status lifecycle with reasons, SOPs, timeline and links.

Every change adds one line to the incident's timeline and one entry to the audit log. Changes of status
and priority carry the version the user saw, so of two operators acting on the same screen the second is
told the incident moved on (409) instead of silently overwriting.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
import re
import tomllib
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import next_in_sequence, utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.core.identifiers import normalise_phone
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert, AlertStatus
from safecity.incidents import feed
from safecity.incidents.models import (
    TRANSITIONS,
    Category,
    Incident,
    IncidentCounter,
    IncidentEvent,
    IncidentLink,
    IncidentSopItem,
    LinkKind,
    Source,
    Status,
)
from safecity.incidents.schemas import MAX_ATTACHMENT_BYTES, IncidentIn
from safecity.org.models import District

logger = logging.getLogger(__name__)

READ = "incidents.read"
MANAGE = "incidents.manage"
FACE_LEADS = "faces"  # the source of face-match alerts: leads that open incidents only once confirmed
MAX_LIST_LIMIT = 500
SOPS_FILE = Path(__file__).with_name("sops.toml")
CATEGORY_LABELS = {c: c.value.replace("_", " ").capitalize() for c in Category}
CATEGORY_LABELS[Category.WOMENS_SAFETY] = "Women's safety"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@cache
def sop_templates() -> dict[Category, tuple[str, ...]]:
    """The SOP checklist of every category, from sops.toml (read once)."""
    data = tomllib.loads(SOPS_FILE.read_text(encoding="utf-8"))
    return {c: tuple(data.get(c.value, {}).get("steps", ())) for c in Category}


def next_number(*, session: Session, district: District, year: int) -> str:
    """The next incident number of `district` and `year`, e.g. PSW-2026-000042; taken in this transaction."""
    last = next_in_sequence(session, IncidentCounter, district.id, year)
    return f"{district.code}-{year}-{last:06d}"


def add_timeline(
    *,
    session: Session,
    incident: Incident,
    actor: Principal | None,
    kind: str,
    text: str,
    detail: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Append one line to the incident's timeline (actor None: the system); does not commit or audit."""
    seq = session.scalar(
        select(func.coalesce(func.max(IncidentEvent.seq), 0)).where(IncidentEvent.incident_id == incident.id)
    )
    now = utcnow()
    event = IncidentEvent(
        id=uuid.uuid4(),
        seq=(seq or 0) + 1,
        at=now,
        actor_id=actor.user_id if actor else None,
        actor_name=(actor.username if actor else "system")[:64],
        kind=kind[:32],
        text=text,
        detail=detail or {},
    )
    incident.events.append(event)
    incident.updated_at = now
    session.flush()
    feed.note_change(session, incident.id, incident.district_id)
    return event


def _audit(session: Session, principal: Principal, action: str, incident: Incident, **detail: Any) -> None:
    audit.record(
        session=session,
        action=action,
        outcome="success",
        actor=principal,
        object_type="incident",
        object_id=str(incident.id),
        district_id=incident.district_id,
        detail={"number": incident.number, **detail},
    )


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'incident'}: {e['msg']}" for e in exc.errors())


def _district_for(session: Session, principal: Principal, district_id: uuid.UUID | None) -> District:
    if district_id is None:
        if principal.district_ids is None or len(principal.district_ids) != 1:
            raise InvalidInput("choose the district of the incident")
        (district_id,) = principal.district_ids
    if not principal.sees_district(district_id):
        raise PermissionDenied("you may open incidents only in your own districts")
    district = session.get(District, district_id)
    if district is None:
        raise NotFound("no district with that id")
    return district


def new_incident(
    session: Session,
    principal: Principal,
    district: District,
    *,
    category: Category,
    priority: int,
    title: str,
    source: Source,
    description: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    address: str | None = None,
    caller_name: str | None = None,
    caller_phone: str | None = None,
) -> Incident:
    """Open an incident with its number, SOP checklist and first timeline entry; the caller checks rights."""
    now = utcnow()
    incident = Incident(
        id=uuid.uuid4(),
        number=next_number(session=session, district=district, year=now.year),
        district_id=district.id,
        category=category,
        priority=priority,
        status=Status.NEW,
        title=title,
        description=description,
        latitude=latitude,
        longitude=longitude,
        address=address,
        caller_name=caller_name,
        caller_phone=caller_phone,
        source=source,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(incident)
    incident.sop_items = [
        IncidentSopItem(id=uuid.uuid4(), position=i, text=step)
        for i, step in enumerate(sop_templates()[category], start=1)
    ]
    session.flush()
    add_timeline(
        session=session,
        incident=incident,
        actor=principal,
        kind="created",
        text=f"{CATEGORY_LABELS[category]} incident opened (priority {priority}, from {source.value})",
        detail={"category": category.value, "priority": priority, "source": source.value},
    )
    logger.info("incident %s opened in district %s", incident.number, district.code)
    return incident


def create_incident(*, session: Session, principal: Principal, data: IncidentIn) -> Incident:
    """Log a new incident (a call-taker's form or an API client) with its category's SOP checklist."""
    principal.require(MANAGE)
    district = _district_for(session, principal, data.district_id)
    phone = normalise_phone(data.caller_phone) if data.caller_phone else None
    title = data.title or (
        f"{CATEGORY_LABELS[data.category]} at {data.address}"
        if data.address
        else CATEGORY_LABELS[data.category]
    )
    incident = new_incident(
        session,
        principal,
        district,
        category=data.category,
        priority=data.priority,
        title=title[:200],
        source=data.source,
        description=data.description,
        latitude=data.latitude,
        longitude=data.longitude,
        address=data.address or None,
        caller_name=data.caller_name or None,
        caller_phone=phone,
    )
    _audit(session, principal, "incidents.create", incident, category=data.category.value)
    return incident


def get_incident(*, session: Session, principal: Principal, incident_id: uuid.UUID) -> Incident:
    """One incident within the principal's districts (NotFound otherwise, so its existence does not leak)."""
    principal.require(READ)
    incident = session.get(Incident, incident_id)
    if incident is None or not principal.sees_district(incident.district_id):
        raise NotFound("no incident with that id")
    return incident


def read_incident(*, session: Session, principal: Principal, incident_id: uuid.UUID) -> Incident:
    """One incident with its caller's details, timeline, SOPs and links; the read is audited."""
    incident = get_incident(session=session, principal=principal, incident_id=incident_id)
    _audit(session, principal, "incidents.read", incident)
    return incident


def list_incidents(
    *,
    session: Session,
    principal: Principal,
    status: Status | None = None,
    category: Category | None = None,
    district_id: uuid.UUID | None = None,
    priority: int | None = None,
    open_only: bool = False,
    limit: int = 100,
) -> list[Incident]:
    """Incidents within the principal's districts: most urgent first, then newest."""
    principal.require(READ)
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    if district_id is not None and not principal.sees_district(district_id):
        raise PermissionDenied("that district is outside your scope")
    query = select(Incident).where(principal.district_filter(Incident.district_id))
    if status is not None:
        query = query.where(Incident.status == status)
    if open_only:
        query = query.where(Incident.status.not_in([Status.RESOLVED, Status.CLOSED]))
    if category is not None:
        query = query.where(Incident.category == category)
    if district_id is not None:
        query = query.where(Incident.district_id == district_id)
    if priority is not None:
        query = query.where(Incident.priority == priority)
    query = query.order_by(Incident.priority, Incident.created_at.desc(), Incident.id).limit(limit)
    return list(session.scalars(query))


def _locked(session: Session, principal: Principal, incident_id: uuid.UUID) -> Incident:
    """The incident, row-locked for a change by someone allowed to manage it."""
    principal.require(MANAGE)
    query = (
        select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    incident = session.scalars(query).one_or_none()
    if incident is None or not principal.sees_district(incident.district_id):
        raise NotFound("no incident with that id")
    return incident


def _check_version(incident: Incident, version: int) -> None:
    if incident.version != version:
        raise Conflict(
            f"incident {incident.number} was changed by someone else (now version {incident.version}, "
            f"you saw {version}): reload it and try again",
            code="stale_version",
        )


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("give a reason")
    return reason


CLOSING = frozenset({Status.RESOLVED, Status.CLOSED})


def waiting_overdue(incident: Incident, targets_s: dict[int, int], now: dt.datetime) -> int | None:
    """Seconds a new incident (no unit sent) has waited, if past its priority's target; else None."""
    target = targets_s.get(incident.priority)
    waited = (now - incident.created_at).total_seconds()
    if incident.status != Status.NEW or target is None or waited <= target:
        return None
    return int(waited)


def open_steps(incident: Incident) -> list[IncidentSopItem]:
    """The SOP steps of the incident not done yet, in checklist order."""
    return [item for item in incident.sop_items if item.done_at is None]


def change_status(
    *,
    session: Session,
    principal: Principal,
    incident_id: uuid.UUID,
    status: Status,
    reason: str,
    version: int,
    open_steps_reason: str = "",
) -> Incident:
    """Move the incident to `status` with a reason; refuses moves not in TRANSITIONS and stale versions.

    Resolving or closing with SOP steps not done needs `open_steps_reason` (why they were left): the
    steps and the reason go on the timeline and into the audit log.
    """
    reason = _reason(reason)
    incident = _locked(session, principal, incident_id)
    _check_version(incident, version)
    old = incident.status
    if status not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[old])) or "none (it is closed)"
        raise Conflict(
            f"an incident cannot go from {old.value} to {status.value}; allowed: {allowed}",
            code="invalid_transition",
        )
    undone = open_steps(incident) if status in CLOSING else []
    why_undone = open_steps_reason.strip()
    if undone and not why_undone:
        listed = ", ".join(str(item.position) for item in undone)
        raise InvalidInput(
            f"{len(undone)} of {len(incident.sop_items)} SOP steps are not done (step {listed}): "
            f"say why they were left before the incident is {status.value}"
        )
    incident.status = status
    incident.version += 1
    verb = "reopened" if old == Status.RESOLVED and status == Status.ON_SCENE else "status"
    detail: dict[str, Any] = {"from": old.value, "to": status.value, "reason": reason}
    text = f"Status {old.value} → {status.value} ({verb}): {reason}"
    if undone:
        detail["open_steps"] = [item.position for item in undone]
        detail["open_steps_reason"] = why_undone
        text += (
            f". {len(undone)} SOP step{'s' if len(undone) > 1 else ''} left undone "
            f"({', '.join(str(item.position) for item in undone)}): {why_undone}"
        )
    add_timeline(session=session, incident=incident, actor=principal, kind="status", text=text, detail=detail)
    extra = {"open_steps": detail["open_steps"], "open_steps_reason": why_undone} if undone else {}
    _audit(session, principal, "incidents.status", incident, to=status.value, reason=reason, **extra)
    return incident


def change_priority(
    *,
    session: Session,
    principal: Principal,
    incident_id: uuid.UUID,
    priority: int,
    reason: str,
    version: int,
) -> Incident:
    """Set a new priority (1 = highest … 4) with a reason, against the version the user saw."""
    reason = _reason(reason)
    if not 1 <= priority <= 4:
        raise InvalidInput("priority is 1 (highest) to 4")
    incident = _locked(session, principal, incident_id)
    _check_version(incident, version)
    if incident.status == Status.CLOSED:
        raise Conflict("the incident is closed", code="incident_closed")
    old = incident.priority
    if old == priority:
        return incident
    incident.priority = priority
    incident.version += 1
    add_timeline(
        session=session,
        incident=incident,
        actor=principal,
        kind="priority",
        text=f"Priority {old} → {priority}: {reason}",
        detail={"from": old, "to": priority, "reason": reason},
    )
    _audit(session, principal, "incidents.priority", incident, to=priority, reason=reason)
    return incident


def add_note(*, session: Session, principal: Principal, incident_id: uuid.UUID, text: str) -> IncidentEvent:
    """Add a free-text note to the timeline."""
    text = text.strip()
    if not text:
        raise InvalidInput("the note is empty")
    incident = _locked(session, principal, incident_id)
    event = add_timeline(session=session, incident=incident, actor=principal, kind="note", text=text)
    _audit(session, principal, "incidents.note", incident)
    return event


def tick_sop(
    *, session: Session, principal: Principal, incident_id: uuid.UUID, item_id: uuid.UUID, done: bool
) -> IncidentSopItem:
    """Tick (or untick) one SOP step; recorded on the timeline. Ticking a ticked step changes nothing."""
    incident = _locked(session, principal, incident_id)
    item = session.get(IncidentSopItem, item_id)
    if item is None or item.incident_id != incident.id:
        raise NotFound("no such SOP step on this incident")
    if (item.done_at is not None) == done:
        return item
    if done:
        item.done_by, item.done_by_name, item.done_at = principal.user_id, principal.username[:64], utcnow()
    else:
        item.done_by, item.done_by_name, item.done_at = None, None, None
    add_timeline(
        session=session,
        incident=incident,
        actor=principal,
        kind="sop",
        text=f"SOP step {item.position} {'done' if done else 'not done'}: {item.text}",
        detail={"item_id": str(item.id), "done": done},
    )
    _audit(session, principal, "incidents.sop", incident, position=item.position, done=done)
    return item


def _link(
    session: Session, principal: Principal, incident: Incident, kind: LinkKind, ref_id: uuid.UUID, label: str
) -> IncidentLink:
    existing = session.scalars(
        select(IncidentLink).where(
            IncidentLink.incident_id == incident.id, IncidentLink.kind == kind, IncidentLink.ref_id == ref_id
        )
    ).first()
    if existing is not None:
        return existing
    link = IncidentLink(
        id=uuid.uuid4(),
        kind=kind,
        ref_id=ref_id,
        label=label[:200],
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    incident.links.append(link)
    session.flush()
    add_timeline(
        session=session,
        incident=incident,
        actor=principal,
        kind="link",
        text=f"Linked {kind.value}: {label}",
        detail={"link_id": str(link.id), "kind": kind.value, "ref_id": str(ref_id)},
    )
    return link


def link(
    *, session: Session, principal: Principal, incident_id: uuid.UUID, kind: LinkKind, ref_id: uuid.UUID
) -> IncidentLink:
    """Link a camera or an alert of the principal's districts to the incident; linking twice is a no-op."""
    incident = _locked(session, principal, incident_id)
    if kind == LinkKind.CAMERA:
        camera = session.get(Camera, ref_id)
        if camera is None or not principal.sees_district(camera.district_id):
            raise NotFound("no camera with that id")
        label = camera.name
    elif kind == LinkKind.ALERT:
        alert = session.get(Alert, ref_id)
        if alert is None or not principal.sees_district(alert.district_id):
            raise NotFound("no alert with that id")
        if alert.source == FACE_LEADS:  # a lead acts on an incident only through its confirmed match
            raise Conflict(
                "a face match is a lead: it opens its own incident from its page once two examiners "
                "confirmed it",
                code="face_match_not_confirmed",
            )
        label = alert.title
    else:
        raise InvalidInput("upload files as attachments")
    result = _link(session, principal, incident, kind, ref_id, label)
    _audit(session, principal, "incidents.link", incident, kind=kind.value, ref_id=str(ref_id))
    return result


def escalate_alert(
    *,
    session: Session,
    principal: Principal,
    alert_id: uuid.UUID,
    category: Category,
    priority: int,
    title: str | None = None,
    confirmed_lead: bool = False,
) -> Incident:
    """Open an incident from an alert in its district, link the alert and its camera, acknowledge the alert.

    An alert already acknowledged is still linked; an alert already escalated is a Conflict. The alert is
    acknowledged only for a principal allowed to handle alerts (a dispatcher's escalation says so instead).
    A face match's alert is a lead, not a decision: it is refused (Conflict, `face_match_not_confirmed`)
    unless the faces domain opens it from a match two examiners confirmed (`confirmed_lead`).
    """
    principal.require(MANAGE)
    if not 1 <= priority <= 4:
        raise InvalidInput("priority is 1 (highest) to 4")
    alert = session.get(Alert, alert_id)
    if alert is None or not principal.sees_district(alert.district_id):
        raise NotFound("no alert with that id")
    if alert.source == FACE_LEADS and not confirmed_lead:
        raise Conflict(
            "a face match is a lead: two different examiners must confirm it on its page, "
            "and the incident is opened from there",
            code="face_match_not_confirmed",
        )
    if alert.district_id is None:
        raise InvalidInput("this alert belongs to no district; open the incident by hand")
    earlier = session.scalars(
        select(Incident.number)
        .join(IncidentLink, IncidentLink.incident_id == Incident.id)
        .where(IncidentLink.kind == LinkKind.ALERT, IncidentLink.ref_id == alert.id)
    ).first()
    if earlier is not None:
        raise Conflict(f"this alert was escalated already, to {earlier}", code="already_escalated")
    district = _district_for(session, principal, alert.district_id)
    camera = session.get(Camera, alert.camera_id) if alert.camera_id else None
    incident = new_incident(
        session,
        principal,
        district,
        category=category,
        priority=priority,
        title=(title or alert.title)[:200],
        source=Source.ALERT,
        description=f"Escalated from alert: {alert.title}",
        latitude=camera.latitude if camera else None,
        longitude=camera.longitude if camera else None,
        address=camera.name if camera else None,
    )
    _link(session, principal, incident, LinkKind.ALERT, alert.id, alert.title)
    if camera is not None:
        _link(session, principal, incident, LinkKind.CAMERA, camera.id, camera.name)
    if alert.status == AlertStatus.NEW and principal.can(alerts.HANDLE):
        alerts.acknowledge(
            session=session, principal=principal, alert_id=alert.id, note=f"escalated to {incident.number}"
        )
    elif alert.status == AlertStatus.NEW:
        add_timeline(
            session=session,
            incident=incident,
            actor=principal,
            kind="link",
            text="The alert stays open: acknowledging it needs the alerts.handle permission",
        )
    _audit(session, principal, "incidents.escalate", incident, alert_id=str(alert.id))
    return incident


def attachments_root(data_dir: Path) -> Path:
    """Where attachments are stored: <data_dir>/attachments/<incident id>/."""
    return data_dir / "attachments"


def sanitise_name(name: str) -> str:
    """A file name safe on any disk: the last path part, with odd characters replaced, at most 100 chars."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    safe = _UNSAFE_NAME.sub("_", base).strip("._") or "file"
    return safe[-100:]


def _stored_path(root: Path, link: IncidentLink) -> Path:
    return root / str(link.incident_id) / f"{link.id}_{link.file_name}"


def attach_file(
    *,
    session: Session,
    principal: Principal,
    incident_id: uuid.UUID,
    file_name: str,
    content_type: str,
    data: bytes,
    root: Path,
) -> IncidentLink:
    """Store a file (≤ 10 MB) under the incident with its SHA-256, and link it."""
    if not data:
        raise InvalidInput("the file is empty")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
    incident = _locked(session, principal, incident_id)
    digest = hashlib.sha256(data).hexdigest()
    link = IncidentLink(
        id=uuid.uuid4(),
        incident_id=incident.id,
        kind=LinkKind.ATTACHMENT,
        label=file_name[:200],
        file_name=sanitise_name(file_name),
        content_type=content_type,
        size=len(data),
        sha256=digest,
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    path = _stored_path(root, link)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)  # a reader never sees half a file
    incident.links.append(link)
    session.flush()
    add_timeline(
        session=session,
        incident=incident,
        actor=principal,
        kind="link",
        text=f"Attached file {link.file_name} ({len(data)} bytes)",
        detail={"link_id": str(link.id), "sha256": digest},
    )
    _audit(session, principal, "incidents.attachment.add", incident, file=link.file_name, sha256=digest)
    return link


def decode_base64(text: str) -> bytes:
    """Bytes from strict base64, or InvalidInput."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("data_base64 is not valid base64") from None


def read_attachment(
    *, session: Session, principal: Principal, incident_id: uuid.UUID, link_id: uuid.UUID, root: Path
) -> tuple[IncidentLink, bytes]:
    """An attachment's record and bytes, checked against its SHA-256; the download is audited."""
    incident = get_incident(session=session, principal=principal, incident_id=incident_id)
    link = session.get(IncidentLink, link_id)
    if link is None or link.incident_id != incident.id or link.kind != LinkKind.ATTACHMENT:
        raise NotFound("no attachment with that id")
    try:
        data = _stored_path(root, link).read_bytes()
    except FileNotFoundError:
        logger.error("attachment %s of incident %s is missing from disk", link.id, incident.id)
        raise NotFound("the attachment's file is missing") from None
    if hashlib.sha256(data).hexdigest() != link.sha256:
        logger.error("attachment %s of incident %s fails its SHA-256 check", link.id, incident.id)
        raise Conflict("the stored file does not match its checksum", code="attachment_corrupt")
    audit.record(
        session=session,
        action="incidents.attachment.read",
        outcome="success",
        actor=principal,
        object_type="incident_attachment",
        object_id=str(link.id),
        district_id=incident.district_id,
        detail={"number": incident.number, "file": link.file_name, "sha256": link.sha256},
    )
    return link, data


def validate_incident(**fields: Any) -> IncidentIn:
    """An IncidentIn from form fields, with pydantic's problems as InvalidInput."""
    try:
        return IncidentIn(**fields)
    except ValidationError as exc:
        raise InvalidInput(_problems(exc)) from None
