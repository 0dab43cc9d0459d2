"""Alerts: raise them (folding repeats), publish them on the bus, list them within scope, acknowledge them.

Any part of the system raises alerts (camera health, analytics), and so do external systems through the
API. The database is the record; the bus carries each change of an alert to the live feeds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safecity.audit import service as audit
from safecity.auth.models import User, UserDistrict, UserRole
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.bus.base import Bus, BusError
from safecity.core.db import transaction, utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.events.alerts.models import Alert, AlertPreference, AlertStatus
from safecity.events.alerts.schemas import AckIn, AlertIn, AlertOut, PreferencesIn, PreferencesOut
from safecity.events.models import Severity
from safecity.events.schemas import SOURCE_PATTERN
from safecity.org.models import District

logger = logging.getLogger(__name__)

READ = "alerts.read"
HANDLE = "alerts.handle"
RAISE = "alerts.raise"
MAX_LIST_LIMIT = 1000
_SOURCE = re.compile(SOURCE_PATTERN)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'alert'}: {e['msg']}" for e in exc.errors())


def raise_alert(
    *,
    session: Session,
    kind: str,
    severity: int,
    title: str,
    source: str,
    camera_id: uuid.UUID | None = None,
    district_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> Alert:
    """Store an alert, or refresh the new one with the same source and `dedup_key`; does not commit.

    A camera's alert belongs to the camera's district unless `district_id` says so too (it must match).
    """
    try:
        data = AlertIn(
            kind=kind,
            severity=severity,
            title=title,
            camera_id=camera_id,
            district_id=district_id,
            detail=detail or {},
            dedup_key=dedup_key,
        )
    except ValidationError as exc:
        raise InvalidInput(_problems(exc)) from None
    if not 1 <= len(source) <= 128 or not _SOURCE.match(source):
        raise InvalidInput("source must be 1 to 128 characters without control characters")
    camera_name = None
    if data.camera_id is not None:
        camera = session.get(Camera, data.camera_id)
        if camera is None:
            raise NotFound("no camera with that id")
        if data.district_id is not None and data.district_id != camera.district_id:
            raise InvalidInput("the camera is in another district than the one given")
        district_id, camera_name = camera.district_id, camera.name
    elif data.district_id is not None and session.get(District, data.district_id) is None:
        raise NotFound("no district with that id")
    now = utcnow()
    if data.dedup_key is not None:
        open_alert = _open_alert(session, source, data.dedup_key)
        if open_alert is not None:
            return _refresh(session, open_alert, data, now)
    alert = Alert(
        id=uuid.uuid4(),
        raised_at=now,
        first_raised_at=now,
        repeat_count=1,
        source=source,
        kind=data.kind,
        severity=int(data.severity),
        title=data.title,
        detail=data.detail,
        camera_id=data.camera_id,
        camera_name=camera_name,
        district_id=district_id,
        status=AlertStatus.NEW,
        dedup_key=data.dedup_key,
    )
    if data.dedup_key is None:
        session.add(alert)
        session.flush()
        return alert
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        # Another writer opened the same key between the look above and this insert: fold into theirs.
        open_alert = _open_alert(session, source, data.dedup_key)
        if open_alert is None:
            raise
        return _refresh(session, open_alert, data, now)
    return alert


def _open_alert(session: Session, source: str, dedup_key: str) -> Alert | None:
    query = (
        select(Alert)
        .where(Alert.source == source, Alert.dedup_key == dedup_key, Alert.status == AlertStatus.NEW)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).one_or_none()


def _refresh(session: Session, alert: Alert, data: AlertIn, now: dt.datetime) -> Alert:
    """Fold a repeat into an open alert: it moves to the top, and its severity never drops unseen."""
    alert.raised_at = max(alert.raised_at, now)
    alert.repeat_count += 1
    alert.severity = max(alert.severity, int(data.severity))
    alert.title = data.title
    alert.detail = data.detail
    session.flush()
    return alert


def raise_external(*, session: Session, principal: Principal, data: AlertIn) -> Alert:
    """Raise an alert for an external system (an API token with `alerts.raise`), within its districts."""
    principal.require(RAISE)
    district_id = data.district_id
    if data.camera_id is not None:
        camera = session.get(Camera, data.camera_id)
        if camera is None or not principal.sees_district(camera.district_id):
            raise NotFound("no camera with that id")
        district_id = district_id or camera.district_id
    if not principal.sees_district(district_id):
        raise PermissionDenied(
            "you may raise alerts only in your own districts"
            if district_id is not None
            else "give a district or camera: only a province-wide account raises alerts for no district"
        )
    alert = raise_alert(
        session=session,
        source=f"external:{principal.username}",
        kind=data.kind,
        severity=data.severity,
        title=data.title,
        camera_id=data.camera_id,
        district_id=data.district_id,
        detail=data.detail,
        dedup_key=data.dedup_key,
    )
    audit.record(
        session=session,
        action="alerts.raise",
        outcome="success",
        actor=principal,
        object_type="alert",
        object_id=str(alert.id),
        district_id=alert.district_id,
        detail={"kind": alert.kind, "repeat_count": alert.repeat_count},
    )
    return alert


def list_alerts(
    *,
    session: Session,
    principal: Principal,
    status: AlertStatus | None = None,
    since: dt.datetime | None = None,
    camera_id: uuid.UUID | None = None,
    min_severity: int | None = None,
    limit: int = 100,
    order: Literal["newest", "queue"] = "newest",
) -> list[Alert]:
    """Alerts within the principal's districts, latest raised first; `since` is inclusive.

    `order="queue"` ranks them as an operator works them: the most severe first, then the longest waiting.
    """
    principal.require(READ)
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    if since is not None and since.utcoffset() is None:
        raise InvalidInput("'since' needs a time zone")
    query = select(Alert).where(principal.district_filter(Alert.district_id))
    if status is not None:
        query = query.where(Alert.status == status)
    if since is not None:
        query = query.where(Alert.raised_at >= since)
    if camera_id is not None:
        query = query.where(Alert.camera_id == camera_id)
    if min_severity is not None:
        query = query.where(Alert.severity >= min_severity)
    if order == "queue":
        query = query.order_by(Alert.severity.desc(), Alert.first_raised_at, Alert.id)
    else:
        query = query.order_by(Alert.raised_at.desc(), Alert.id)
    return list(session.scalars(query.limit(limit)))


def get_alert(*, session: Session, principal: Principal, alert_id: uuid.UUID) -> Alert:
    """One alert within the principal's districts (NotFound otherwise, so its existence does not leak)."""
    principal.require(READ)
    alert = session.get(Alert, alert_id)
    if alert is None or not principal.sees_district(alert.district_id):
        raise NotFound("no alert with that id")
    return alert


def acknowledge(
    *, session: Session, principal: Principal, alert_id: uuid.UUID, note: str | None = None
) -> Alert:
    """Record that the principal has seen to a new alert; audited. A second acknowledgement is a Conflict."""
    return _handle(session, principal, alert_id, AlertStatus.ACKNOWLEDGED, note, "alerts.ack")


def dismiss(*, session: Session, principal: Principal, alert_id: uuid.UUID, reason: str) -> Alert:
    """Dismiss a new alert as a false alarm; the reason is required and audited."""
    if not reason.strip():
        raise InvalidInput("give the reason for dismissing the alert", code="reason_required")
    return _handle(session, principal, alert_id, AlertStatus.DISMISSED, reason, "alerts.dismiss")


def _handle(
    session: Session,
    principal: Principal,
    alert_id: uuid.UUID,
    status: AlertStatus,
    note: str | None,
    action: str,
) -> Alert:
    principal.require(HANDLE)
    try:
        note = AckIn(note=note).note or None
    except ValidationError as exc:
        raise InvalidInput(_problems(exc)) from None
    # Locked, so of two operators handling it at once the second is told who was first.
    query = (
        select(Alert).where(Alert.id == alert_id).with_for_update().execution_options(populate_existing=True)
    )
    alert = session.scalars(query).one_or_none()
    if alert is None or not principal.sees_district(alert.district_id):
        raise NotFound("no alert with that id")
    if alert.status != AlertStatus.NEW:
        when = (
            f"{alert.acknowledged_at:%Y-%m-%d %H:%M:%S} UTC" if alert.acknowledged_at else "an unknown time"
        )
        raise Conflict(
            f"this alert was {alert.status.value} already, by {alert.acknowledged_by_name} at {when}",
            code=f"already_{alert.status.value}",
        )
    alert.status = status
    alert.acknowledged_by = principal.user_id
    alert.acknowledged_by_name = principal.username[:64]
    alert.acknowledged_at = utcnow()
    alert.ack_note = note
    session.flush()
    audit.record(
        session=session,
        action=action,
        outcome="success",
        actor=principal,
        object_type="alert",
        object_id=str(alert.id),
        district_id=alert.district_id,
        detail={"kind": alert.kind, "note": note},
    )
    return alert


def message_id(alert: AlertOut) -> str:
    """The bus id of this state of the alert: a replay of it is suppressed; a repeat, an ack or an
    escalation is not."""
    escalated = ":escalated" if alert.escalated_at is not None else ""
    return f"{alert.id}:{alert.repeat_count}:{alert.status}{escalated}"


async def publish_alert(bus: Bus, alert: Alert | AlertOut) -> None:
    """Publish the alert's current state on `alerts.<kind>`; publish only what is committed."""
    out = alert if isinstance(alert, AlertOut) else AlertOut.model_validate(alert)
    await bus.publish(f"alerts.{out.kind}", out.model_dump_json().encode(), msg_id=message_id(out))


async def publish_or_log(bus: Bus, alert: AlertOut) -> None:
    """Publish after a request; a bus failure is logged, not raised (the alert is stored, screens reload)."""
    try:
        await publish_alert(bus, alert)
    except BusError as exc:
        logger.warning(
            "alert %s (%s) stored but not published to the live feed: %s", alert.id, alert.kind, exc
        )


async def raise_and_publish(
    *,
    session_factory: sessionmaker[Session],
    bus: Bus,
    kind: str,
    severity: int,
    title: str,
    source: str,
    camera_id: uuid.UUID | None = None,
    district_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> AlertOut:
    """Raise an alert in a transaction of its own, then publish it: what workers (camera health) call."""

    def store() -> AlertOut:
        with transaction(session_factory) as session:
            alert = raise_alert(
                session=session,
                kind=kind,
                severity=severity,
                title=title,
                source=source,
                camera_id=camera_id,
                district_id=district_id,
                detail=detail,
                dedup_key=dedup_key,
            )
            return AlertOut.model_validate(alert)

    out = await asyncio.to_thread(store)
    await publish_alert(bus, out)
    return out


# --- closed by the system when the cause clears ------------------------------------------------------------


def resolve(*, session: Session, source: str, dedup_key: str, note: str) -> Alert | None:
    """Close the new alert of this source and key because its cause has cleared; audited; does not commit.

    What a camera coming back online does to its "offline" alert. None when no such alert is open (it was
    acknowledged or dismissed already: a person has seen to it, and their record stays as it is).
    """
    alert = _open_alert(session, source, dedup_key)
    if alert is None:
        return None
    alert.status = AlertStatus.RESOLVED
    alert.acknowledged_by = None
    alert.acknowledged_by_name = "system"
    alert.acknowledged_at = utcnow()
    alert.ack_note = note[:500]
    session.flush()
    audit.record(
        session=session,
        action="alerts.resolve",
        outcome="success",
        object_type="alert",
        object_id=str(alert.id),
        district_id=alert.district_id,
        detail={"kind": alert.kind, "note": alert.ack_note},
    )
    return alert


async def resolve_and_publish(
    *, session_factory: sessionmaker[Session], bus: Bus, source: str, dedup_key: str, note: str
) -> AlertOut | None:
    """Resolve in a transaction of its own, then publish the closed alert to the live feeds."""

    def store() -> AlertOut | None:
        with transaction(session_factory) as session:
            alert = resolve(session=session, source=source, dedup_key=dedup_key, note=note)
            return AlertOut.model_validate(alert) if alert is not None else None

    out = await asyncio.to_thread(store)
    if out is not None:
        await publish_or_log(bus, out)
    return out


# --- escalation of alerts left unacknowledged --------------------------------------------------------------

ESCALATE_BATCH = 200
MAX_NAMED = 20  # people named on an escalated alert (the role is named too)


def severity_limits(after_s: Iterable[tuple[str, float]]) -> dict[int, float]:
    """`settings.alerts.escalate_after_s.items()` ({"critical": 120, ...}) keyed by severity number."""
    return {int(Severity[name.upper()]): float(seconds) for name, seconds in after_s}


def role_holders(*, session: Session, role: str, district_id: uuid.UUID | None) -> list[str]:
    """Usernames of active users with `role` who see `district_id` (province-wide ones see every one)."""
    sees: ColumnElement[bool] = User.province_wide.is_(True)
    if district_id is not None:
        in_district = select(UserDistrict.user_id).where(UserDistrict.district_id == district_id)
        sees = or_(sees, User.id.in_(in_district))
    query = (
        select(User.username)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role_name == role, User.is_active.is_(True), sees)
        .order_by(User.username)
        .limit(MAX_NAMED)
    )
    return list(session.scalars(query))


def escalate_overdue(
    *, session: Session, limits: Mapping[int, float], role: str, now: dt.datetime | None = None
) -> list[Alert]:
    """Escalate new alerts left unacknowledged longer than their severity's limit to `role`; audited.

    Each alert is escalated once, counted from when it was first raised (a repeat does not restart the
    clock). Does not commit. Locked rows are skipped, so two processes never escalate the same alert twice.
    """
    now = now or utcnow()
    escalated: list[Alert] = []
    for severity, seconds in sorted(limits.items(), reverse=True):
        cutoff = now - dt.timedelta(seconds=seconds)
        query = (
            select(Alert)
            .where(
                Alert.status == AlertStatus.NEW,
                Alert.escalated_at.is_(None),
                Alert.severity == severity,
                Alert.first_raised_at <= cutoff,
            )
            .order_by(Alert.first_raised_at)
            .limit(ESCALATE_BATCH)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        for alert in session.scalars(query):
            names = role_holders(session=session, role=role, district_id=alert.district_id)
            alert.escalated_at = now
            alert.escalated_to_role = role
            alert.escalated_to_users = names
            audit.record(
                session=session,
                action="alerts.escalate",
                outcome="success",
                object_type="alert",
                object_id=str(alert.id),
                district_id=alert.district_id,
                detail={
                    "kind": alert.kind,
                    "severity": alert.severity,
                    "to_role": role,
                    "to_users": names,
                    "unacknowledged_s": round((now - alert.first_raised_at).total_seconds()),
                },
            )
            escalated.append(alert)
    session.flush()
    return escalated


# --- each user's console preferences -----------------------------------------------------------------------

PREFERENCES = "alerts.preferences"


def get_preferences(*, session: Session, principal: Principal, defaults: Sequence[int]) -> PreferencesOut:
    """The principal's console preferences, or `defaults` (the configured severities) when none stored."""
    principal.require(READ)
    stored = session.get(AlertPreference, principal.user_id) if principal.user_id else None
    if stored is None:
        return PreferencesOut(
            severities=[Severity(s) for s in defaults],
            sound=True,
            notifications=True,
            muted=False,
            stored=False,
        )
    return PreferencesOut(
        severities=[Severity(s) for s in stored.severities],
        sound=stored.sound,
        notifications=stored.notifications,
        muted=stored.muted,
        stored=True,
    )


def set_preferences(*, session: Session, principal: Principal, data: PreferencesIn) -> PreferencesOut:
    """Store the principal's console preferences; audited (a muted console is a supervisor's business)."""
    principal.require(READ)
    if principal.user_id is None:
        raise InvalidInput("only a person's account has console preferences")
    stored = session.get(AlertPreference, principal.user_id)
    if stored is None:
        stored = AlertPreference(user_id=principal.user_id)
        session.add(stored)
    stored.severities = sorted({int(s) for s in data.severities})
    stored.sound = data.sound
    stored.notifications = data.notifications
    stored.muted = data.muted
    stored.updated_at = utcnow()
    session.flush()
    audit.record(
        session=session,
        action=PREFERENCES,
        outcome="success",
        actor=principal,
        object_type="user",
        object_id=str(principal.user_id),
        detail={
            "severities": stored.severities,
            "sound": stored.sound,
            "notifications": stored.notifications,
            "muted": stored.muted,
        },
    )
    return get_preferences(session=session, principal=principal, defaults=stored.severities)
