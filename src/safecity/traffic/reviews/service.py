"""Human review of violations before any challan: the queue, the evidence, officers' decisions (a second
officer for unsure or corrected reads, one decision when two act at once), the cloned-plate check against
the vehicle registry, and each camera's precision, which suspends a camera that falls below the threshold.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import tomllib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.analytics.plates.hotlists.schemas import normalise_plate
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import ChallanSettings
from safecity.connectors.base import ConnectorUnavailable
from safecity.connectors.vehicles import service as vehicles
from safecity.connectors.vehicles.registries import VehicleRegistry
from safecity.connectors.vehicles.schemas import LookupOut, canonical_colour
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.core.storage import contained
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert
from safecity.traffic.appeals.models import Appeal, AppealStatus
from safecity.traffic.challans.models import Challan
from safecity.traffic.reviews.models import Decision, Review, Suspension
from safecity.traffic.reviews.schemas import (
    PrecisionOut,
    PrecisionRow,
    ReasonOut,
    ReviewOut,
    ViolationDetail,
    ViolationOut,
)
from safecity.traffic.violations.models import EnforcementRule, Violation, ViolationStatus

logger = logging.getLogger(__name__)

REVIEW = "challans.review"
READ = "challans.read"
APPEALS = "appeals.decide"
PRECISION_READ = "traffic.read"
MANAGE = "traffic.manage"
EVIDENCE_READERS = (REVIEW, READ, APPEALS)
REVIEWABLE = (ViolationStatus.PENDING, ViolationStatus.SECOND_REVIEW)
DECIDED = (ViolationStatus.CONFIRMED, ViolationStatus.REJECTED)
EVIDENCE_ROLES = ("before", "at", "after", "plate", "clip")
EVIDENCE_TYPES = frozenset({"image/jpeg", "video/mp4"})
# Reason codes of the cloned-plate check (set by the system, never chosen by a reviewer).
REGISTRY_MISMATCH = "registry_mismatch"
NOT_REGISTERED = "not_registered"
MAX_LIST = 500
SUSPENSION_ALERT = "traffic.camera_suspended"
ALERT_SOURCE = "traffic-reviews"

# What a camera's detector class may be in the fine schedule's classes. COCO has no rickshaw: a detector
# calls one a car or a motorcycle; its "truck" also takes in pickups, which registries class as cars.
SEEN_AS: dict[str, frozenset[str]] = {
    "car": frozenset({"car", "rickshaw"}),
    "motorcycle": frozenset({"motorcycle", "rickshaw"}),
    "bus": frozenset({"large"}),
    "truck": frozenset({"large", "car"}),
    "rickshaw": frozenset({"rickshaw"}),
    "large": frozenset({"large"}),
}
SEEN_CLASS = {"car": "car", "motorcycle": "motorcycle", "bus": "large", "truck": "large"}
# Colours a camera's measurement confuses (light and shade shift them): not a mismatch.
NEAR_COLOURS = frozenset(
    frozenset(pair)
    for pair in (
        ("white", "silver"), ("silver", "grey"), ("grey", "black"), ("red", "orange"), ("orange", "yellow"),
        ("orange", "brown"), ("red", "brown"), ("yellow", "brown"),
    )
)  # fmt: skip


@dataclass(frozen=True)
class Reason:
    code: str
    label: str
    against_precision: bool


@functools.cache
def reasons() -> dict[str, Reason]:
    """The reason codes a reviewer may give for a rejection (reasons.toml), in the file's order."""
    data = tomllib.loads(Path(__file__).with_name("reasons.toml").read_text(encoding="utf-8"))
    return {code: Reason(code, str(v["label"]), bool(v["against_precision"])) for code, v in data.items()}


def reason_list() -> list[ReasonOut]:
    """The reason codes as the API shows them."""
    return [
        ReasonOut(code=r.code, label=r.label, against_precision=r.against_precision)
        for r in reasons().values()
    ]


def _require_any(principal: Principal, permissions: Iterable[str]) -> None:
    wanted = tuple(permissions)
    if not any(principal.can(p) for p in wanted):
        raise PermissionDenied("this needs one of the permissions " + ", ".join(f"'{p}'" for p in wanted))


def _plate(text: str) -> str:
    try:
        return normalise_plate(text)
    except ValueError as exc:
        raise InvalidInput(f"plate: {exc}", code="bad_plate") from None


# --- the queue, searches and one violation ----------------------------------------------------------


def _outs(session: Session, rows: Sequence[Violation]) -> list[ViolationOut]:
    ids = {r.camera_id for r in rows}
    names = (
        {r.id: r.name for r in session.execute(select(Camera.id, Camera.name).where(Camera.id.in_(ids)))}
        if ids
        else {}
    )
    return [
        ViolationOut.model_validate(r).model_copy(update={"camera_name": names.get(r.camera_id, "")})
        for r in rows
    ]


def queue(*, session: Session, principal: Principal, limit: int = 100) -> list[ViolationOut]:
    """The review queue of the principal's districts, oldest first: pending violations, and those awaiting a
    second officer that this one has not reviewed yet."""
    principal.require(REVIEW)
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
    mine = select(Review.violation_id).where(Review.reviewer_id == principal.user_id)
    query = (
        select(Violation)
        .where(
            principal.district_filter(Violation.district_id),
            or_(
                Violation.status == ViolationStatus.PENDING,
                and_(Violation.status == ViolationStatus.SECOND_REVIEW, Violation.id.not_in(mine)),
            ),
        )
        .order_by(Violation.occurred_at, Violation.id)
        .limit(limit)
    )
    return _outs(session, session.scalars(query).all())


def search(
    *,
    session: Session,
    principal: Principal,
    status: ViolationStatus | None = None,
    camera_id: uuid.UUID | None = None,
    plate: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
) -> list[ViolationOut]:
    """Violations in the principal's districts that match, newest first."""
    _require_any(principal, EVIDENCE_READERS)
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
    conditions: list[ColumnElement[bool]] = [principal.district_filter(Violation.district_id)]
    if status is not None:
        conditions.append(Violation.status == status)
    if camera_id is not None:
        conditions.append(Violation.camera_id == camera_id)
    if plate:
        wanted = _plate(plate)
        conditions.append(or_(Violation.plate == wanted, Violation.plate_read == wanted))
    if since is not None:
        conditions.append(Violation.occurred_at >= since)
    if until is not None:
        conditions.append(Violation.occurred_at < until)
    query = (
        select(Violation).where(*conditions).order_by(Violation.occurred_at.desc(), Violation.id).limit(limit)
    )
    return _outs(session, session.scalars(query).all())


def get(
    *,
    session: Session,
    principal: Principal,
    violation_id: uuid.UUID,
    permissions: Iterable[str] = EVIDENCE_READERS,
) -> Violation:
    """One violation in the principal's districts (NotFound outside them, as if it did not exist)."""
    _require_any(principal, permissions)
    row = session.get(Violation, violation_id)
    if row is None or not principal.sees_district(row.district_id):
        raise NotFound("no such violation")
    return row


def reviews_of(*, session: Session, violation_id: uuid.UUID) -> list[Review]:
    """Every decision on a violation, in order."""
    return list(
        session.scalars(select(Review).where(Review.violation_id == violation_id).order_by(Review.at))
    )


def needs_second_review(violation: Violation, plate: str | None, *, threshold: float) -> bool:
    """Whether confirming `plate` needs a second officer: the read was unsure, missing, or corrected."""
    if violation.plate_read is None or violation.plate_confidence is None or plate is None:
        return True
    try:
        read = normalise_plate(violation.plate_read)
    except ValueError:
        return True
    return violation.plate_confidence < threshold or plate != read


def detail(
    *,
    session: Session,
    principal: Principal,
    violation_id: uuid.UUID,
    policy: ChallanSettings,
    audited: bool = True,
) -> ViolationDetail:
    """One violation with its evidence, measurements, reviews and registry check; the read is audited."""
    row = get(session=session, principal=principal, violation_id=violation_id)
    return _detail(session, principal, row, policy, audited=audited)


def _detail(
    session: Session, principal: Principal, row: Violation, policy: ChallanSettings, *, audited: bool
) -> ViolationDetail:
    rule = session.get(EnforcementRule, row.rule_id) if row.rule_id else None
    base = _outs(session, [row])[0]
    plate = row.plate or row.plate_read
    out = ViolationDetail(
        **base.model_dump(),
        rule_name=rule.name if rule else None,
        measured=row.measured or {},
        evidence=row.evidence or {},
        evidence_sha256=row.evidence_sha256,
        registry_check=row.registry_check,
        reviews=[ReviewOut.model_validate(r) for r in reviews_of(session=session, violation_id=row.id)],
        needs_second_review=row.status == ViolationStatus.SECOND_REVIEW
        or needs_second_review(row, _clean(plate), threshold=policy.second_review_below),
    )
    if audited:
        audit.record(
            session=session,
            action="traffic.violations.view",
            outcome="success",
            actor=principal,
            object_type="traffic_violations",
            object_id=str(row.id),
            district_id=row.district_id,
        )
    return out


def _clean(plate: str | None) -> str | None:
    if plate is None:
        return None
    try:
        return normalise_plate(plate)
    except ValueError:
        return None


def evidence_file(
    *,
    session: Session,
    principal: Principal,
    violation_id: uuid.UUID,
    role: str,
    evidence_dir: Path,
    audited: bool = True,
) -> tuple[Path, str]:
    """The file of one role in a violation's evidence (path inside `evidence_dir`, media type); audited
    unless the caller says this request continues one that was (a video's later byte ranges)."""
    row = get(session=session, principal=principal, violation_id=violation_id)
    files = row.evidence.get("files") if isinstance(row.evidence, dict) else None
    entry = next(
        (f for f in files or [] if isinstance(f, dict) and f.get("role") == role),
        None,
    )
    media = entry.get("type") if entry else None
    path = contained(evidence_dir, str(entry.get("path") or "")) if entry else None
    if entry is None or media not in EVIDENCE_TYPES or path is None or not path.is_file():
        raise NotFound(f"the evidence holds no '{role}' file", code="no_evidence_file")
    if not audited:
        return path, str(media)
    audit.record(
        session=session,
        action="traffic.evidence.view",
        outcome="success",
        actor=principal,
        object_type="traffic_violations",
        object_id=str(row.id),
        district_id=row.district_id,
        detail={"role": role},
    )
    return path, str(media)


# --- decisions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decided:
    """A decision's outcome: the violation after it, the review recorded, and an alert to publish (if the
    camera was suspended by it)."""

    violation: Violation
    review: Review
    alert: Alert | None


def registry_check(
    *, session: Session, principal: Principal, registry: VehicleRegistry, violation: Violation, plate: str
) -> tuple[dict[str, Any], LookupOut]:
    """The registry's vehicle of `plate` against what the camera saw (Violation.registry_check's shape), and
    the look-up, whose audit entry (purpose "e-challan review <id>") the caller writes.

    ConnectorError when the registry cannot answer (nothing is decided then).
    """
    found = vehicles.fetch(
        session=session,
        principal=principal,
        registry=registry,
        plate=plate,
        purpose=_purpose(violation),
        permission=REVIEW,
    )
    check = compare(
        found, seen_class=seen_class(violation), seen_colour=violation.colour, source=registry.type
    )
    return check, found


def seen_class(violation: Violation) -> str | None:
    """The class the camera saw: the detector's own (kept in `measured` by the violations work), which
    tells a truck (perhaps a pickup, registered as a car) from a bus where the fine class, "large", cannot.
    """
    measured = violation.measured if isinstance(violation.measured, dict) else {}
    detected = measured.get("detected_class")
    if isinstance(detected, str) and detected.lower() in SEEN_AS:
        return detected.lower()
    return violation.vehicle_class


def _purpose(violation: Violation) -> str:
    return f"e-challan review {violation.id}"


def compare(
    found: LookupOut, *, seen_class: str | None, seen_colour: str | None, source: str
) -> dict[str, Any]:
    """The check's record: registered vehicle and owner, what was seen, and what does not fit; a stale
    answer (the registry could not be asked) is marked so, with the time it was fetched."""
    seen = {"vehicle_class": SEEN_CLASS.get(seen_class or "", seen_class), "colour": seen_colour}
    if not found.found or found.vehicle is None or found.owner is None:
        return {
            "found": False,
            "source": source,
            "checked_at": found.checked_at.isoformat(),
            "vehicle": None,
            "owner": None,
            "seen": seen,
            "mismatches": [NOT_REGISTERED],
        }
    vehicle, owner = found.vehicle, found.owner
    mismatches = []
    possible = SEEN_AS.get((seen_class or "").lower())
    if possible is not None and vehicle.vehicle_class not in possible:
        mismatches.append("vehicle_class")
    registered, measured = canonical_colour(vehicle.colour), canonical_colour(seen_colour)
    if (
        registered
        and measured
        and registered != measured
        and frozenset((registered, measured)) not in NEAR_COLOURS
    ):
        mismatches.append("colour")
    # A stale answer says so and when it was fetched (a fresh check keeps the shape challans copy from).
    marked = (
        {"stale": True, "fetched_at": found.updated_at.isoformat()}
        if found.stale and found.updated_at
        else {}
    )
    return marked | {
        "found": True,
        "source": found.source or source,
        "checked_at": found.checked_at.isoformat(),
        "vehicle": {
            "plate": vehicle.plate,
            "make": vehicle.make,
            "model": vehicle.model,
            "colour": vehicle.colour,
            "vehicle_class": vehicle.vehicle_class,
            "status": vehicle.status,
            "province_code": vehicle.province_code,
        },
        "owner": owner.model_dump(),
        "seen": seen,
        "mismatches": mismatches,
    }


def _stale_registry(found: LookupOut) -> ConnectorUnavailable:
    """A confirm against a stale answer: a challan copies the owner and the class from the check, and an
    answer the registry could not renew may name a previous owner; so it waits for a fresh one."""
    return ConnectorUnavailable(
        f"the registry cannot answer now ({found.stale_reason}); its last answer for {found.plate} is stale, "
        "and a challan needs a fresh one: nothing is decided, try again when the registry is back"
    )


def _already_decided() -> Conflict:
    return Conflict(
        "this violation has been decided or changed by someone else since you opened it: reload it",
        code="already_decided",
    )


def decide(
    *,
    session: Session,
    principal: Principal,
    violation_id: uuid.UUID,
    decision: Decision,
    version: int,
    registry: VehicleRegistry,
    policy: ChallanSettings,
    plate: str | None = None,
    reason_code: str | None = None,
    note: str = "",
) -> Decided:
    """Record an officer's decision on the violation as it was at `version`.

    A reject needs a reason code. A confirm needs a complete evidence packet and a plate (the read, or the
    officer's correction); an unsure read (below `policy.second_review_below`) or a corrected one goes to
    SECOND_REVIEW until a different officer confirms the same plate. The confirm that settles it checks the
    registry: a vehicle that is not registered, or whose class or colour is not what the camera saw, goes
    to INVESTIGATE (never CONFIRMED). When the registry cannot answer, its last answer held (stale) may
    send a mismatch to INVESTIGATE (marked stale: an investigation is no ticket), but never confirms: that
    is 503 and nothing is decided. Two officers acting at once give one decision: the update applies only
    at `version`, and the other gets 409 `already_decided`.

    Returns:
        The violation after the decision, the review, and an alert when the decision suspended the camera.
    """
    row = get(session=session, principal=principal, violation_id=violation_id, permissions=(REVIEW,))
    if principal.user_id is None:
        raise PermissionDenied("a decision on a violation is a person's, not a machine's")
    if row.status not in REVIEWABLE or row.version != version:
        raise _already_decided()
    earlier = reviews_of(session=session, violation_id=row.id)
    if any(r.reviewer_id == principal.user_id for r in earlier):
        raise Conflict(
            "you have reviewed this violation already: a different officer must", code="already_reviewed"
        )
    now = utcnow()
    values: dict[str, Any]
    chosen: str | None
    looked_up: LookupOut | None = None
    if decision == Decision.REJECT:
        if not reason_code or reason_code not in reasons():
            raise InvalidInput(
                "choose the reason for the rejection: " + ", ".join(reasons()), code="reason_required"
            )
        chosen = _plate(plate) if plate else None
        values = {"status": ViolationStatus.REJECTED, "reason_code": reason_code, "decided_at": now}
    else:
        evidence = row.evidence if isinstance(row.evidence, dict) else {}
        if not evidence.get("complete") or evidence.get("missing"):
            missing = ", ".join(map(str, evidence.get("missing") or [])) or "not assembled"
            raise InvalidInput(
                f"the evidence packet is incomplete ({missing}): it cannot be confirmed",
                code="evidence_incomplete",
            )
        given = plate or row.plate or row.plate_read
        if not given:
            raise InvalidInput("give the plate as you read it in the evidence", code="plate_required")
        chosen = _plate(given)
        agreed = any(r.decision == Decision.CONFIRM and r.plate == chosen for r in earlier)
        settled = (
            agreed
            if row.status == ViolationStatus.SECOND_REVIEW
            else not needs_second_review(row, chosen, threshold=policy.second_review_below)
        )
        if not settled:
            values = {"status": ViolationStatus.SECOND_REVIEW, "plate": chosen}
        else:
            check, looked_up = registry_check(
                session=session, principal=principal, registry=registry, violation=row, plate=chosen
            )
            mismatches = check["mismatches"]
            if looked_up.stale and not mismatches:
                raise _stale_registry(looked_up)
            values = {"plate": chosen, "registry_check": check, "decided_at": now}
            if mismatches:
                code = NOT_REGISTERED if NOT_REGISTERED in mismatches else REGISTRY_MISMATCH
                values |= {"status": ViolationStatus.INVESTIGATE, "reason_code": code}
            else:
                values |= {"status": ViolationStatus.CONFIRMED, "reason_code": None}
    # Optimistic concurrency: only the first writer at this version (and still reviewable) changes the row.
    # Nothing is audited before this update: every decision locks the violation's row, then the audit head.
    result = session.execute(
        update(Violation)
        .where(Violation.id == row.id, Violation.version == version, Violation.status.in_(REVIEWABLE))
        .values(version=Violation.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _already_decided()
    session.refresh(row)
    review = Review(
        id=uuid.uuid4(),
        violation_id=row.id,
        reviewer_id=principal.user_id,
        reviewer_name=principal.username[:64],
        decision=decision,
        plate=chosen,
        reason_code=reason_code if decision == Decision.REJECT else None,
        note=note.strip()[:500],
        at=now,
    )
    session.add(review)
    session.flush()
    if looked_up is not None:
        vehicles.record_lookup(
            session=session, principal=principal, registry=registry, found=looked_up, purpose=_purpose(row)
        )
    audit.record(
        session=session,
        action="traffic.violations.decide",
        outcome="success",
        actor=principal,
        object_type="traffic_violations",
        object_id=str(row.id),
        district_id=row.district_id,
        detail={
            "decision": decision.value,
            "status": row.status.value,
            "plate": chosen,
            "reason_code": row.reason_code,
            "version": row.version,
        },
    )
    logger.info("violation %s: %s by %s -> %s", row.id, decision.value, principal.username, row.status.value)
    alert = None
    if row.status in DECIDED:
        alert = recompute(session=session, camera_id=row.camera_id, policy=policy).alert
    return Decided(row, review, alert)


# --- precision and suspensions -----------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    confirmed: int
    false: int

    @property
    def decided(self) -> int:
        return self.confirmed + self.false

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.decided if self.decided else None


def _against() -> list[str]:
    return [r.code for r in reasons().values() if r.against_precision]


def _tally_query(key: Any, conditions: Sequence[ColumnElement[bool]]) -> Any:
    """Confirmed and false violations per `key`, counting decisions since the camera's suspension was last
    lifted (a camera put right starts afresh). A challan cancelled on appeal makes its violation false."""
    cancelled = Appeal.status == AppealStatus.CANCELLED
    confirmed = case(
        (and_(Violation.status == ViolationStatus.CONFIRMED, or_(Appeal.status.is_(None), ~cancelled)), 1),
        else_=0,
    )
    false = case(
        (
            or_(
                and_(Violation.status == ViolationStatus.REJECTED, Violation.reason_code.in_(_against())),
                and_(Violation.status == ViolationStatus.CONFIRMED, cancelled),
            ),
            1,
        ),
        else_=0,
    )
    lifted = (
        select(Suspension.camera_id, func.max(Suspension.lifted_at).label("at"))
        .group_by(Suspension.camera_id)
        .subquery()
    )
    return (
        select(key, func.coalesce(func.sum(confirmed), 0), func.coalesce(func.sum(false), 0))
        .select_from(Violation)
        .outerjoin(Challan, Challan.violation_id == Violation.id)
        .outerjoin(Appeal, Appeal.challan_id == Challan.id)
        .outerjoin(lifted, lifted.c.camera_id == Violation.camera_id)
        .where(
            Violation.status.in_(DECIDED),
            or_(lifted.c.at.is_(None), Violation.decided_at > lifted.c.at),
            *conditions,
        )
        .group_by(key)
    )


def tally(*, session: Session, camera_id: uuid.UUID) -> Tally:
    """A camera's confirmed and false violations (see _tally_query)."""
    row = session.execute(_tally_query(Violation.camera_id, [Violation.camera_id == camera_id])).first()
    return Tally(int(row[1]), int(row[2])) if row else Tally(0, 0)


def active_suspension(*, session: Session, camera_id: uuid.UUID) -> Suspension | None:
    """The camera's suspension in force (lifted_at null), if any."""
    query = select(Suspension).where(Suspension.camera_id == camera_id, Suspension.lifted_at.is_(None))
    return session.scalars(query.order_by(Suspension.suspended_at.desc()).limit(1)).first()


@dataclass(frozen=True)
class Recomputed:
    """A camera's figures after a decision or an appeal's outcome; a new suspension and its alert, if any."""

    camera_id: uuid.UUID
    tally: Tally
    suspension: Suspension | None
    alert: Alert | None


def recompute(*, session: Session, camera_id: uuid.UUID, policy: ChallanSettings) -> Recomputed:
    """Recount a camera's precision; below `policy.min_precision` with at least `policy.min_decided`
    decided, suspend it (its new violations are WITHHELD) and raise an alert. Does not commit.

    Called after every review decision, and by the appeals work after an appeal's outcome; publish the
    returned alert (alerts.publish_or_log) once the transaction has committed.
    """
    figures = tally(session=session, camera_id=camera_id)
    precision = figures.precision
    if (
        precision is None
        or figures.decided < policy.min_decided
        or precision >= policy.min_precision
        or active_suspension(session=session, camera_id=camera_id) is not None
    ):
        return Recomputed(camera_id, figures, None, None)
    camera = session.get(Camera, camera_id)
    suspension = Suspension(
        id=uuid.uuid4(), camera_id=camera_id, precision=round(precision, 4), decided=figures.decided
    )
    try:
        with session.begin_nested():  # another decision's recount may have suspended it a moment ago
            session.add(suspension)
    except IntegrityError:
        return Recomputed(camera_id, figures, None, None)
    name = camera.name if camera else str(camera_id)
    alert = alerts.raise_alert(
        session=session,
        kind=SUSPENSION_ALERT,
        severity=3,
        title=f"{name}: e-challans suspended, precision {precision:.0%} over {figures.decided} decided",
        source=ALERT_SOURCE,
        camera_id=camera_id,
        detail={
            "suspension_id": str(suspension.id),
            "precision": round(precision, 4),
            "decided": figures.decided,
            "min_precision": policy.min_precision,
        },
        dedup_key=f"suspension:{suspension.id}",
    )
    audit.record(
        session=session,
        action="traffic.suspensions.suspend",
        outcome="success",
        object_type="traffic_suspensions",
        object_id=str(suspension.id),
        district_id=camera.district_id if camera else None,
        detail={"camera_id": str(camera_id), "precision": round(precision, 4), "decided": figures.decided},
    )
    logger.warning(
        "camera %s suspended from e-challans: precision %.2f over %d", camera_id, precision, figures.decided
    )
    return Recomputed(camera_id, figures, suspension, alert)


def precision(*, session: Session, principal: Principal, policy: ChallanSettings) -> PrecisionOut:
    """Precision per camera and per enforcement rule in the principal's districts, lowest first."""
    principal.require(PRECISION_READ)
    scope = [principal.district_filter(Violation.district_id)]
    by_camera = session.execute(_tally_query(Violation.camera_id, scope)).all()
    by_rule = session.execute(_tally_query(Violation.rule_id, scope)).all()
    camera_ids = {r[0] for r in by_camera}
    suspended = {
        s.camera_id: s
        for s in session.scalars(
            select(Suspension).where(
                Suspension.lifted_at.is_(None),
                Suspension.camera_id.in_(
                    select(Camera.id).where(principal.district_filter(Camera.district_id))
                ),
            )
        )
    }
    camera_ids |= set(suspended)
    names = (
        {
            r.id: r.name
            for r in session.execute(select(Camera.id, Camera.name).where(Camera.id.in_(camera_ids)))
        }
        if camera_ids
        else {}
    )
    counted = {r[0]: Tally(int(r[1]), int(r[2])) for r in by_camera}
    cameras = []
    for camera_id in camera_ids:
        figures = counted.get(camera_id, Tally(0, 0))
        held = suspended.get(camera_id)
        cameras.append(
            PrecisionRow(
                key=camera_id,
                name=names.get(camera_id, str(camera_id)),
                camera_id=camera_id,
                confirmed=figures.confirmed,
                false=figures.false,
                decided=figures.decided,
                precision=figures.precision,
                suspension_id=held.id if held else None,
                suspended_at=held.suspended_at if held else None,
            )
        )
    rule_ids = {r[0] for r in by_rule if r[0] is not None}
    rules_by_id = (
        {r.id: r for r in session.scalars(select(EnforcementRule).where(EnforcementRule.id.in_(rule_ids)))}
        if rule_ids
        else {}
    )
    rules = []
    for rule_id, confirmed, false in by_rule:
        figures = Tally(int(confirmed), int(false))
        rule = rules_by_id.get(rule_id) if rule_id else None
        rules.append(
            PrecisionRow(
                key=rule_id,
                name=rule.name if rule else "(rule removed)",
                camera_id=rule.camera_id if rule else None,
                offence=rule.offence if rule else None,
                confirmed=figures.confirmed,
                false=figures.false,
                decided=figures.decided,
                precision=figures.precision,
            )
        )

    def order(row: PrecisionRow) -> tuple[float, str]:
        return (row.precision if row.precision is not None else 2.0, row.name)

    return PrecisionOut(
        min_precision=policy.min_precision,
        min_decided=policy.min_decided,
        cameras=sorted(cameras, key=order),
        rules=sorted(rules, key=order),
    )


def lift(
    *, session: Session, principal: Principal, suspension_id: uuid.UUID, release_withheld: bool = True
) -> Suspension:
    """Lift a camera's suspension (traffic.manage, in the camera's district): its violations feed the queue
    again and its precision is counted afresh from now; audited.

    With `release_withheld` the violations withheld while it was in force go to the review queue too (each
    still needs its human check); without, they stay withheld: kept as they are, never ticketed.
    """
    principal.require(MANAGE)
    suspension = session.get(Suspension, suspension_id)
    camera = session.get(Camera, suspension.camera_id) if suspension else None
    if suspension is None or camera is None or not principal.sees_district(camera.district_id):
        raise NotFound("no such suspension")
    if suspension.lifted_at is not None:
        raise Conflict("this suspension has been lifted already", code="already_lifted")
    now = utcnow()
    result = session.execute(
        update(Suspension)
        .where(Suspension.id == suspension.id, Suspension.lifted_at.is_(None))
        .values(lifted_at=now, lifted_by=principal.user_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this suspension has been lifted already", code="already_lifted")
    if release_withheld:
        released = session.execute(
            update(Violation)
            .where(Violation.camera_id == camera.id, Violation.status == ViolationStatus.WITHHELD)
            .values(status=ViolationStatus.PENDING, version=Violation.version + 1)
            .execution_options(synchronize_session=False)
        )
        suspension.released = released.rowcount  # type: ignore[attr-defined]
    session.flush()
    session.refresh(suspension)
    audit.record(
        session=session,
        action="traffic.suspensions.lift",
        outcome="success",
        actor=principal,
        object_type="traffic_suspensions",
        object_id=str(suspension.id),
        district_id=camera.district_id,
        detail={
            "camera_id": str(camera.id),
            "precision": suspension.precision,
            "decided": suspension.decided,
            "released": suspension.released,
        },
    )
    return suspension
