"""E-challans: the versioned fine schedule; a challan issued for a confirmed violation (numbered per district
and year, fined by the schedule's line in force on the day of the offence); its document and delivery
records; batches printed for the post; reminders and the overdue marking of unpaid challans.

Challans hold owners' particulars: reading them needs `challans.read` and every read is audited; a batch
for the post needs `challans.read` or `challans.review`; sending one again `challans.review`. The schedule
is read with `challans.read` or `fines.manage` and extended (never edited) with `fines.manage`. Challans
are district-scoped like everything else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
import tomllib
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import ChallanSettings, Settings
from safecity.core.db import next_in_sequence, utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, SafecityError
from safecity.core.storage import contained
from safecity.org.models import District, Province, Site
from safecity.traffic.challans import pdf
from safecity.traffic.challans.models import Challan, ChallanStatus, Channel, Counter, Delivery, Fine
from safecity.traffic.challans.schemas import VEHICLE_CLASSES, FineIn
from safecity.traffic.violations import evidence
from safecity.traffic.violations.models import Offence, Violation, ViolationStatus

logger = logging.getLogger(__name__)

READ = "challans.read"
REVIEW = "challans.review"
MANAGE_FINES = "fines.manage"
FINES_FILE = Path(__file__).with_name("fines.toml")
UNPAID = (ChallanStatus.ISSUED, ChallanStatus.OVERDUE)  # what counts towards the unpaid hotlist
OPEN = (ChallanStatus.ISSUED, ChallanStatus.OVERDUE, ChallanStatus.IN_APPEAL)  # not paid, not cancelled
MAX_LIST = 500
MAX_PRINT = 500
OVERDUE_BATCH = 500  # challans marked overdue in one transaction
PUBLIC_ROLES = ("public_before", "public_at", "public_after")  # the blurred frames, for the document
PAYMENT_REF_DIGITS = 18  # like a PSID: 17 random digits and a Luhn check digit

# Vehicle classes as detectors and registries name them -> the fine schedule's four classes.
FINE_CLASSES = {
    **dict.fromkeys(("car", "sedan", "jeep", "suv", "taxi", "pickup", "hatchback", "saloon"), "car"),
    **dict.fromkeys(("motorcycle", "motorbike", "motor_cycle", "scooter", "moped"), "motorcycle"),
    **dict.fromkeys(("rickshaw", "auto_rickshaw", "qingqi", "three_wheeler", "chingchi"), "rickshaw"),
    **dict.fromkeys(
        ("large", "bus", "minibus", "coaster", "truck", "lorry", "van", "trailer", "tractor"), "large"
    ),
}


class Unavailable(SafecityError):
    """A part the challans need is not installed or not reachable (the message says which)."""

    status = 503
    code = "unavailable"


def audit_challan(
    *,
    session: Session,
    action: str,
    challan: Challan,
    actor: Principal | None = None,
    ok: bool = True,
    **detail: Any,
) -> None:
    """Audit something done to or with a challan (its number always in the detail; no actor: the system)."""
    audit.record(
        session=session,
        action=action,
        outcome="success" if ok else "failure",
        actor=actor,
        object_type="challan",
        object_id=str(challan.id),
        district_id=challan.district_id,
        detail={"number": challan.number, **detail},
    )


def _require_any(principal: Principal, *permissions: str) -> None:
    if not any(principal.can(p) for p in permissions):
        raise PermissionDenied(f"this needs the '{permissions[0]}' permission")


def local_zone(settings: Settings) -> ZoneInfo:
    """The time zone people read dates in (Asia/Karachi)."""
    return ZoneInfo(settings.timezone)


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC start and end of a local day (of this era: a year 1 or 9999 is a mistake, not a day)."""
    if not 2000 <= day.year <= 2200:
        raise InvalidInput("give a day between the years 2000 and 2200", code="bad_day")
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


# --- the fine schedule --------------------------------------------------------------------------------


def fine_class(name: str | None) -> str:
    """The fine schedule's class (motorcycle, rickshaw, car, large) of a detector's or registry's class."""
    key = (name or "").strip().lower().replace("-", "_").replace(" ", "_")
    found = FINE_CLASSES.get(key)
    if found is None:
        raise InvalidInput(f"no fine class for a vehicle of class {name!r}", code="unknown_vehicle_class")
    return found


@dataclass(frozen=True)
class SeedLine:
    """One line of fines.toml."""

    province_code: str
    vehicle_class: str
    offence: Offence
    amount_pkr: int
    effective_from: dt.date
    legal_reference: str


@cache
def _schedule_file() -> dict[str, Any]:
    return tomllib.loads(FINES_FILE.read_text(encoding="utf-8"))


def unpaid_hotlist_threshold() -> int:
    """How many unpaid challans put a vehicle on the unpaid-challans hotlist (fines.toml)."""
    return int(_schedule_file()["unpaid_hotlist_threshold"])


def seed_lines() -> list[SeedLine]:
    """Every line of the schedules in fines.toml; ValueError names a line that is not well formed."""
    lines = []
    for schedule in _schedule_file()["schedule"]:
        province, since, reference = (
            schedule["province_code"],
            schedule["effective_from"],
            schedule["legal_reference"],
        )
        for offence, classes in schedule["fines"].items():
            for vehicle_class, spec in classes.items():
                note = spec.get("note")
                line = SeedLine(
                    province_code=province,
                    vehicle_class=vehicle_class,
                    offence=Offence(offence),
                    amount_pkr=int(spec["amount"]),
                    effective_from=since,
                    legal_reference=f"{reference}; {note}" if note else reference,
                )
                if (
                    vehicle_class not in VEHICLE_CLASSES
                    or line.amount_pkr <= 0
                    or len(line.legal_reference) > 200
                ):
                    raise ValueError(f"fines.toml: bad line {province} {offence} {vehicle_class}")
                lines.append(line)
    return lines


def ensure_fines(*, session: Session) -> list[str]:
    """Add the lines of fines.toml the database lacks; a line it has is never changed (idempotent)."""
    have = {
        (p, c, Offence(o), d): amount
        for p, c, o, d, amount in session.execute(
            select(Fine.province_code, Fine.vehicle_class, Fine.offence, Fine.effective_from, Fine.amount_pkr)
        )
    }
    added: dict[tuple[str, dt.date], int] = defaultdict(int)
    for line in seed_lines():
        key = (line.province_code, line.vehicle_class, line.offence, line.effective_from)
        if key in have:
            if have[key] != line.amount_pkr:
                logger.warning(
                    "fines.toml gives %s %s %s from %s as %d, the database %d: the database's line stands "
                    "(a change is a new line with a later date)",
                    *key,
                    line.amount_pkr,
                    have[key],
                )
            continue
        session.add(
            Fine(
                id=uuid.uuid4(),
                province_code=line.province_code,
                vehicle_class=line.vehicle_class,
                offence=line.offence,
                amount_pkr=line.amount_pkr,
                effective_from=line.effective_from,
                legal_reference=line.legal_reference,
                created_at=utcnow(),
            )
        )
        added[(line.province_code, line.effective_from)] += 1
    session.flush()
    return [f"fines {p} from {d} ({n} lines)" for (p, d), n in sorted(added.items())]


def fine_for(
    *, session: Session, province_code: str, vehicle_class: str, offence: Offence | str, on: dt.date
) -> Fine:
    """The line of the schedule in force on `on` (the latest that took effect on or before it)."""
    query = (
        select(Fine)
        .where(
            Fine.province_code == province_code,
            Fine.vehicle_class == vehicle_class,
            Fine.offence == Offence(offence),
            Fine.effective_from <= on,
        )
        .order_by(Fine.effective_from.desc())
        .limit(1)
    )
    fine = session.scalars(query).first()
    if fine is None:
        raise NotFound(
            f"the fine schedule of {province_code} has no line for {Offence(offence).value} by a "
            f"{vehicle_class} on {on.isoformat()}: an administrator must add one",
            code="no_fine",
        )
    return fine


def list_fines(*, session: Session, principal: Principal, province_code: str | None = None) -> list[Fine]:
    """Every line of the schedules (all versions), by province, offence, class and date, latest first."""
    _require_any(principal, READ, MANAGE_FINES)
    query = select(Fine)
    if province_code:
        query = query.where(Fine.province_code == province_code.upper())
    order = (Fine.province_code, Fine.offence, Fine.vehicle_class, Fine.effective_from.desc())
    return list(session.scalars(query.order_by(*order)))


def add_fine(*, session: Session, principal: Principal, data: FineIn, today: dt.date) -> Fine:
    """A new line, in force from a day not yet passed and after the line it follows; audited with the old
    and the new amount. Lines are never edited: a challan keeps the line it was fined by.
    """
    principal.require(MANAGE_FINES)
    if data.effective_from < today:
        raise InvalidInput(
            "a fine cannot change for days that have passed: give today or a later date",
            code="fine_backdated",
        )
    key = (
        Fine.province_code == data.province_code,
        Fine.vehicle_class == data.vehicle_class,
        Fine.offence == data.offence,
    )
    latest = session.scalars(select(Fine).where(*key).order_by(Fine.effective_from.desc()).limit(1)).first()
    if latest is not None and data.effective_from <= latest.effective_from:
        raise Conflict(
            f"the line in force from {latest.effective_from.isoformat()} is the latest: a change must take "
            "effect after it",
            code="fine_not_later",
        )
    fine = Fine(
        id=uuid.uuid4(),
        province_code=data.province_code,
        vehicle_class=data.vehicle_class,
        offence=data.offence,
        amount_pkr=data.amount_pkr,
        effective_from=data.effective_from,
        legal_reference=data.legal_reference,
        created_at=utcnow(),
        created_by=principal.user_id,
    )
    try:
        with session.begin_nested():
            session.add(fine)
            session.flush()
    except IntegrityError:
        raise Conflict("a line for that day was just added by someone else", code="fine_exists") from None
    audit.record(
        session=session,
        action="fines.create",
        outcome="success",
        actor=principal,
        object_type="fine",
        object_id=str(fine.id),
        detail={
            "province_code": fine.province_code,
            "vehicle_class": fine.vehicle_class,
            "offence": fine.offence.value,
            "effective_from": fine.effective_from.isoformat(),
            "old_amount_pkr": latest.amount_pkr if latest else None,
            "old_fine_id": str(latest.id) if latest else None,
            "new_amount_pkr": fine.amount_pkr,
            "legal_reference": fine.legal_reference,
        },
    )
    return fine


# --- issuing ------------------------------------------------------------------------------------------


def next_number(*, session: Session, district: District, year: int) -> str:
    """The next challan number of `district` and `year`, e.g. PSW-2026-000123; taken in this transaction."""
    last = next_in_sequence(session, Counter, district.id, year)
    return f"{district.code}-{year}-{last:06d}"


def _luhn_digit(digits: str) -> int:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def new_payment_ref() -> str:
    """A fresh payment reference: 17 random digits (no leading zero) and a Luhn check digit."""
    body = str(10**16 + secrets.randbelow(9 * 10**16))
    return body + str(_luhn_digit(body))


def payment_ref_valid(ref: str) -> bool:
    """Whether `ref` is a well-formed payment reference (its check digit catches one mistyped digit)."""
    return len(ref) == PAYMENT_REF_DIGITS and ref.isdigit() and _luhn_digit(ref[:-1]) == int(ref[-1])


def challan_of_violation(*, session: Session, violation_id: uuid.UUID) -> Challan | None:
    """The challan issued for a violation, if any."""
    return session.scalars(select(Challan).where(Challan.violation_id == violation_id)).first()


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def vehicle_class_of(violation: Violation) -> str:
    """The fine class: the registry's vehicle (what the plate is registered to), else what the camera saw."""
    registered = _dict(_dict(violation.registry_check).get("vehicle")).get("vehicle_class")
    for name in (registered, violation.vehicle_class):
        if isinstance(name, str) and name:
            try:
                return fine_class(name)
            except InvalidInput:
                continue
    raise InvalidInput(
        f"the vehicle's class ({registered or violation.vehicle_class or 'none'}) has no fine class",
        code="unknown_vehicle_class",
    )


def _owner(violation: Violation) -> dict[str, str]:
    owner = _dict(_dict(violation.registry_check).get("owner"))
    limits = {"name": 120, "cnic": 15, "phone": 16, "email": 254, "address": 300}
    return {f"owner_{field}": str(owner.get(field) or "").strip()[:limit] for field, limit in limits.items()}


def due_at(issued_at: dt.datetime, *, days: int, zone: ZoneInfo) -> dt.datetime:
    """The end of the local day `days` after issue: a challan paid on its due date is never overdue."""
    day = issued_at.astimezone(zone).date() + dt.timedelta(days=days)
    end = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=zone)
    return end.astimezone(dt.UTC)


def issue(
    *,
    session: Session,
    settings: Settings,
    violation_id: uuid.UUID,
    actor: Principal | None = None,
    now: dt.datetime | None = None,
) -> tuple[Challan, bool]:
    """The challan of a confirmed violation, issued now if it has none; returns it and whether it is new.

    The violation's row is locked first, so issuers of the same violation queue and the later ones find the
    first one's challan; the unique violation_id stops any other path to a second. Owner particulars are
    copied from the registry check made when the violation was confirmed; the frames' public copies are
    made (blocking: run it off the event loop). Audited. The caller commits, then makes the document and
    sends it (flows.py).
    """
    now = now or utcnow()
    query = (
        select(Violation)
        .where(Violation.id == violation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    violation = session.scalars(query).one_or_none()
    if violation is None:
        raise NotFound("no violation with that id", code="no_violation")
    existing = challan_of_violation(session=session, violation_id=violation.id)
    if existing is not None:
        return existing, False
    if violation.status != ViolationStatus.CONFIRMED:
        raise Conflict(f"the violation is {violation.status.value}, not confirmed", code="not_confirmed")
    if not violation.plate:
        raise Conflict("the violation has no confirmed plate", code="no_plate")
    if not violation.evidence_sha256 or not _dict(violation.evidence).get("files"):
        raise Conflict("the violation has no evidence packet", code="no_evidence")
    try:  # the frames as the owner and the portal will see them: made now, for the violations ticketed only
        public = evidence.write_public_copies(_dict(violation.evidence), settings.evidence_dir)
    except (OSError, ValueError, cv2.error) as exc:
        raise Conflict(f"the evidence packet cannot be shown: {exc}", code="evidence_mismatch") from None
    vehicle_class = vehicle_class_of(violation)
    district = session.get(District, violation.district_id)
    if district is None:
        raise NotFound("the violation's district is gone", code="no_district")
    province = session.get(Province, district.province_id)
    zone = local_zone(settings)
    fine = fine_for(
        session=session,
        province_code=province.code if province else "",
        vehicle_class=vehicle_class,
        offence=violation.offence,
        on=violation.occurred_at.astimezone(zone).date(),
    )
    challan: Challan | None = None
    for _attempt in range(3):
        try:
            with session.begin_nested():
                challan = Challan(
                    id=uuid.uuid4(),
                    number=next_number(session=session, district=district, year=now.astimezone(zone).year),
                    violation_id=violation.id,
                    district_id=district.id,
                    plate=violation.plate,
                    offence=violation.offence,
                    vehicle_class=vehicle_class,
                    fine_id=fine.id,
                    amount_pkr=fine.amount_pkr,
                    status=ChallanStatus.ISSUED,
                    issued_at=now,
                    issued_by=actor.user_id if actor else None,
                    due_at=due_at(now, days=settings.challans.due_days, zone=zone),
                    payment_ref=new_payment_ref(),
                    verify_code=secrets.token_urlsafe(16),
                    reminders_sent=0,
                    public_evidence=public,
                    **_owner(violation),
                )
                session.add(challan)
                session.flush()
            break
        except IntegrityError:
            existing = challan_of_violation(session=session, violation_id=violation.id)
            if existing is not None:
                return existing, False
            challan = None  # a payment reference drawn twice (1 in 10^17): draw again
    if challan is None:
        raise Conflict("no free payment reference after three draws", code="payment_ref_taken")
    audit_challan(
        session=session,
        action="challans.issue",
        challan=challan,
        actor=actor,
        violation_id=str(violation.id),
        evidence_sha256=violation.evidence_sha256,
        plate=challan.plate,
        offence=challan.offence.value,
        vehicle_class=vehicle_class,
        fine_id=str(fine.id),
        amount_pkr=challan.amount_pkr,
        due_at=challan.due_at.isoformat(),
    )
    logger.info("challan %s issued for violation %s", challan.number, violation.id)
    return challan, True


def confirmed_without_challan(
    *, session: Session, since: dt.datetime | None = None, limit: int = 200
) -> list[uuid.UUID]:
    """Confirmed violations that have no challan yet (occurred since `since`, if given), oldest first.

    With `since`, the district/status/time index bounds the search to recent violations: the query the
    issuing loop runs every interval stays small however many challans there are.
    """
    query = select(Violation.id).where(
        Violation.status == ViolationStatus.CONFIRMED,
        ~exists().where(Challan.violation_id == Violation.id),
    )
    if since is not None:
        districts = select(District.id).scalar_subquery()
        query = query.where(Violation.district_id.in_(districts), Violation.occurred_at >= since)
    return list(session.scalars(query.order_by(Violation.occurred_at).limit(limit)))


def without_document(*, session: Session, limit: int = 200) -> list[uuid.UUID]:
    """Open challans whose PDF was never made (the process stopped between issuing and rendering)."""
    query = select(Challan.id).where(Challan.status.in_(OPEN), Challan.pdf_path.is_(None))
    return list(session.scalars(query.order_by(Challan.issued_at).limit(limit)))


# --- the document -------------------------------------------------------------------------------------


def _measured(values: dict[str, Any]) -> str:
    """What the camera measured, in words, from the violation's `measured` (the keys it has)."""
    parts = []
    speed = values.get("speed_kmh", values.get("kmh"))
    if isinstance(speed, int | float):
        limit = values.get("limit_kmh")
        parts.append(
            f"{speed:.0f} km/h" + (f" (limit {limit:.0f})" if isinstance(limit, int | float) else "")
        )
    light = values.get("signal", values.get("light"))
    if isinstance(light, str):
        text = f"signal {light}"
        red_for = values.get("red_for_s")
        if isinstance(red_for, int | float):
            text += f" for {red_for:.1f} s"
        source = values.get("signal_source", values.get("source"))
        if isinstance(source, str):
            text += f" ({source})"
        parts.append(text)
    dwell = values.get("dwell_s", values.get("stopped_s"))
    if isinstance(dwell, int | float):
        parts.append(f"stopped {dwell:.0f} s")
    return ", ".join(parts)


def _evidence_file(settings: Settings, item: dict[str, Any]) -> pdf.EvidenceImage:
    relative, digest = item.get("path"), item.get("sha256")
    path = contained(settings.evidence_dir, relative) if isinstance(relative, str) else None
    if path is None or not isinstance(digest, str):
        raise Conflict(
            f"evidence {item.get('role')} has no valid path in the packet", code="evidence_invalid"
        )
    return pdf.EvidenceImage(str(item.get("role")), path, digest)


def verify_url(settings: Settings, challan: Challan) -> str:
    """The public verification page of a challan (the QR code's target)."""
    base = settings.challans.public_url.rstrip("/")
    return f"{base}/portal/verify/{challan.number}?code={challan.verify_code}"


def document(*, session: Session, settings: Settings, challan: Challan) -> pdf.ChallanDocument:
    """What the challan's page shows, read from the database."""
    violation = session.get(Violation, challan.violation_id)
    district = session.get(District, challan.district_id)
    fine = session.get(Fine, challan.fine_id)
    if violation is None or district is None or fine is None:
        raise NotFound("the challan's violation, district or fine is gone", code="challan_incomplete")
    province = session.get(Province, district.province_id)
    camera = session.get(Camera, violation.camera_id)
    site = session.get(Site, camera.site_id) if camera is not None and camera.site_id else None
    manifest = _dict(violation.evidence)
    files = {f.get("role"): f for f in manifest.get("files", []) if isinstance(f, dict)}
    public = {f.get("role"): f for f in challan.public_evidence if isinstance(f, dict)}
    seen = _dict(manifest.get("camera"))
    name = str(seen.get("name") or (camera.name if camera else "camera"))
    latitude = seen.get("latitude", camera.latitude if camera else None)
    longitude = seen.get("longitude", camera.longitude if camera else None)
    place = name + (f", {site.name}" if site and site.name not in name else "")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        place += f" ({latitude:.5f}, {longitude:.5f})"
    base = settings.challans.public_url.rstrip("/")
    return pdf.ChallanDocument(
        number=challan.number,
        issued_at=challan.issued_at,
        occurred_at=violation.occurred_at,
        timezone=settings.timezone,
        district=district.name,
        province=province.name if province else "",
        place=place,
        offence=challan.offence,
        measured=_measured(_dict(violation.measured)),
        plate=challan.plate,
        vehicle_class=challan.vehicle_class,
        amount_pkr=challan.amount_pkr,
        due_at=challan.due_at,
        payment_ref=challan.payment_ref,
        owner_name=challan.owner_name,
        owner_address=challan.owner_address,
        verify_url=verify_url(settings, challan),
        portal_url=f"{base}/portal",
        evidence_sha256=violation.evidence_sha256 or "",
        legal_reference=fine.legal_reference,
        images=tuple(_evidence_file(settings, public[role]) for role in PUBLIC_ROLES if role in public),
        plate_image=_evidence_file(settings, files["plate"]) if "plate" in files else None,
    )


def render(docs: list[pdf.ChallanDocument], *, created: dt.datetime | None = None, title: str = "") -> bytes:
    """One challan's PDF (or several, a page each); a missing font or a bad picture is a clear error."""
    try:
        if len(docs) == 1 and created is None:
            return pdf.render(docs[0])
        return pdf.render_many(docs, created=created or utcnow(), title=title)
    except pdf.FontMissing as exc:
        raise Unavailable(str(exc), code="font_missing") from None
    except pdf.EvidenceError as exc:
        raise Conflict(str(exc), code="evidence_mismatch") from None


def pdf_relative_path(number: str) -> str:
    """Where a challan's PDF lives under the challans directory: <year>/<number>.pdf."""
    return f"{number.split('-')[-2]}/{number}.pdf"


def write_pdf(*, settings: Settings, number: str, data: bytes) -> tuple[str, str]:
    """Store a challan's PDF atomically (a reader never sees half a file); returns its path and SHA-256."""
    relative = pdf_relative_path(number)
    path = settings.challans_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)
    return relative, hashlib.sha256(data).hexdigest()


def record_pdf(*, session: Session, challan_id: uuid.UUID, relative: str, sha256: str) -> bool:
    """Note the stored PDF on its challan, unless another process did first; True if this call did."""
    result = session.execute(
        update(Challan)
        .where(Challan.id == challan_id, Challan.pdf_path.is_(None))
        .values(pdf_path=relative, pdf_sha256=sha256)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def read_pdf(*, settings: Settings, challan: Challan) -> bytes:
    """A challan's stored PDF, checked against its recorded SHA-256."""
    path = contained(settings.challans_dir, challan.pdf_path) if challan.pdf_path else None
    if path is None or not path.is_file():
        raise NotFound("this challan's PDF is not made yet", code="no_pdf")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != challan.pdf_sha256:
        raise Conflict("the stored PDF does not match its recorded SHA-256", code="pdf_altered")
    return data


# --- staff: reading, printing, sending again --------------------------------------------------------------


def list_challans(
    *,
    session: Session,
    principal: Principal,
    zone: ZoneInfo,
    status: ChallanStatus | None = None,
    plate: str | None = None,
    day: dt.date | None = None,
    district_id: uuid.UUID | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Challan]:
    """Challans in the principal's districts, latest first; `plate` matches from its start, `day` is the
    local day of issue. The read is audited (owners' particulars).
    """
    principal.require(READ)
    if not 1 <= limit <= MAX_LIST or offset < 0:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, offset not negative")
    query = select(Challan).where(principal.district_filter(Challan.district_id))
    if status is not None:
        query = query.where(Challan.status == status)
    clean = "".join(c for c in (plate or "").upper() if c.isascii() and c.isalnum())
    if clean:
        query = query.where(Challan.plate.startswith(clean, autoescape=True))
    if day is not None:
        start, end = day_bounds(day, zone)
        query = query.where(Challan.issued_at >= start, Challan.issued_at < end)
    if district_id is not None:
        query = query.where(Challan.district_id == district_id)
    order = (Challan.issued_at.desc(), Challan.number.desc())
    found = list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))
    audit.record(
        session=session,
        action="challans.list",
        outcome="success",
        actor=principal,
        object_type="challan",
        detail={
            "status": status.value if status else None,
            "plate": clean or None,
            "day": day.isoformat() if day else None,
            "district_id": str(district_id) if district_id else None,
            "shown": len(found),
        },
    )
    return found


def get_challan(
    *, session: Session, principal: Principal, challan_id: uuid.UUID, audited: bool = True
) -> Challan:
    """One challan in the principal's districts (NotFound otherwise); the read is audited."""
    principal.require(READ)
    challan = session.get(Challan, challan_id)
    if challan is None or not principal.sees_district(challan.district_id):
        raise NotFound("no challan with that id")
    if audited:
        audit_challan(session=session, action="challans.read", challan=challan, actor=principal)
    return challan


def deliveries(*, session: Session, challan_id: uuid.UUID) -> list[Delivery]:
    """Every attempt to deliver a challan or a notice about it, oldest first."""
    query = select(Delivery).where(Delivery.challan_id == challan_id).order_by(Delivery.at, Delivery.id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class ChannelNote:
    """Whether this server can reach a challan's owner by one channel, and why not, said plainly."""

    channel: Channel
    ready: bool
    note: str


def delivery_channels(settings: ChallanSettings, challan: Challan) -> list[ChannelNote]:
    """SMS and e-mail as `notify` would use them for this challan: a channel without its server configured,
    or an owner without that address, is skipped, and no delivery is recorded for it.
    """
    sms = (
        ChannelNote(Channel.SMS, False, "not sent: no SMS gateway is configured (challans.sms_url)")
        if not settings.sms_url
        else ChannelNote(Channel.SMS, False, "not sent: the registry has no mobile number for the owner")
        if not challan.owner_phone
        else ChannelNote(Channel.SMS, True, f"through the SMS gateway to {challan.owner_phone}")
    )
    email = (
        ChannelNote(Channel.EMAIL, False, "not sent: no mail server is configured (challans.smtp_host)")
        if not settings.smtp_host
        else ChannelNote(Channel.EMAIL, False, "not sent: the registry has no e-mail address for the owner")
        if not challan.owner_email
        else ChannelNote(
            Channel.EMAIL, True, f"through the mail server to {challan.owner_email}, with the PDF"
        )
    )
    return [sms, email]


def pdf_for(
    *, session: Session, principal: Principal, settings: Settings, challan_id: uuid.UUID
) -> tuple[Challan, bytes]:
    """A challan's PDF for staff, checked against its SHA-256; audited."""
    challan = get_challan(session=session, principal=principal, challan_id=challan_id, audited=False)
    data = read_pdf(settings=settings, challan=challan)
    audit_challan(
        session=session,
        action="challans.pdf.read",
        challan=challan,
        actor=principal,
        sha256=challan.pdf_sha256,
    )
    return challan, data


def check_resend(*, session: Session, principal: Principal, challan_id: uuid.UUID) -> Challan:
    """A challan that may be sent to its owner again (open, with its PDF made); audited."""
    principal.require(REVIEW)
    challan = get_challan(session=session, principal=principal, challan_id=challan_id, audited=False)
    if challan.status not in OPEN:
        raise Conflict(f"the challan is {challan.status.value}: nothing to send", code="challan_closed")
    if challan.pdf_path is None:
        raise Conflict("the challan's PDF is not made yet: it is sent when it is", code="no_pdf")
    audit_challan(session=session, action="challans.resend", challan=challan, actor=principal)
    return challan


def print_batch(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    district_id: uuid.UUID,
    day: dt.date,
    only_unposted: bool = True,
    limit: int = 200,
) -> tuple[bytes, list[Challan]]:
    """One PDF of a district's open challans issued on a local day (those not posted yet, unless told),
    a page each by number; each is recorded as posted (a Delivery by post to the owner's address). Audited.
    """
    _require_any(principal, READ, REVIEW)
    if not 1 <= limit <= MAX_PRINT:
        raise InvalidInput(f"limit must be between 1 and {MAX_PRINT}")
    district = session.get(District, district_id)
    if district is None or not principal.sees_district(district_id):
        raise NotFound("no district with that id", code="no_district")
    start, end = day_bounds(day, local_zone(settings))
    query = select(Challan).where(
        Challan.district_id == district_id,
        Challan.issued_at >= start,
        Challan.issued_at < end,
        Challan.status.in_(OPEN),
    )
    if only_unposted:
        # Printed before, posted or not (one without an address is not printed again and again).
        posted = exists().where(Delivery.challan_id == Challan.id, Delivery.channel == Channel.POST)
        query = query.where(~posted)
    challans = list(session.scalars(query.order_by(Challan.number).limit(limit)))
    if not challans:
        raise NotFound(
            f"no challans of {district.name} issued on {day.isoformat()} to print", code="nothing_to_print"
        )
    docs = [document(session=session, settings=settings, challan=c) for c in challans]
    data = render(docs, created=utcnow(), title=f"E-challans {district.code} {day.isoformat()}")
    for challan in challans:
        address = challan.owner_address.strip()
        session.add(
            Delivery(
                id=uuid.uuid4(),
                challan_id=challan.id,
                channel=Channel.POST,
                purpose="challan",
                to=(f"{challan.owner_name}, {address}" if address else "")[:254],
                at=utcnow(),
                ok=bool(address),
                detail="" if address else "no postal address on record",
            )
        )
    session.flush()
    audit.record(
        session=session,
        action="challans.print",
        outcome="success",
        actor=principal,
        object_type="challan_batch",
        object_id=f"{district.code}/{day.isoformat()}",
        district_id=district.id,
        detail={"day": day.isoformat(), "count": len(challans), "numbers": [c.number for c in challans]},
    )
    return data, challans


def districts_in_scope(*, session: Session, principal: Principal) -> list[District]:
    """The districts whose challans the principal sees, by name (for filters and the batch print)."""
    query = select(District).where(principal.district_filter(District.id)).order_by(District.name)
    return list(session.scalars(query))


@dataclass(frozen=True)
class HistoryItem:
    """One step in a challan's life, as the detail page lists it."""

    at: dt.datetime
    what: str
    detail: str = ""


def history(challan: Challan, sent: Iterable[Delivery]) -> list[HistoryItem]:
    """The challan's steps from its own record and its deliveries, oldest first."""
    items = [HistoryItem(challan.issued_at, "issued", f"{challan.number}, PKR {challan.amount_pkr:,}")]
    for delivery in sent:
        outcome = "sent" if delivery.ok else f"failed: {delivery.detail}"
        items.append(HistoryItem(delivery.at, f"{delivery.purpose} by {delivery.channel.value}", outcome))
    if challan.status == ChallanStatus.OVERDUE or (challan.closed_at is None and challan.due_at <= utcnow()):
        items.append(
            HistoryItem(challan.due_at, "due date passed", "unpaid" if challan.paid_at is None else "")
        )
    if challan.paid_at is not None:
        items.append(HistoryItem(challan.paid_at, "paid"))
    if challan.closed_at is not None and challan.status == ChallanStatus.CANCELLED:
        items.append(HistoryItem(challan.closed_at, "cancelled"))
    return sorted(items, key=lambda item: item.at)


# --- reminders, overdue, the unpaid -----------------------------------------------------------------------


def reminders_due(
    *, session: Session, settings: Settings, now: dt.datetime, limit: int = 500
) -> list[uuid.UUID]:
    """Issued challans due within `reminder_days` that were not reminded yet (issued at least a day ago:
    a challan issued close to its due date needs no reminder on top of itself).
    """
    horizon = now + dt.timedelta(days=settings.challans.reminder_days)
    query = select(Challan.id).where(
        Challan.status == ChallanStatus.ISSUED,
        Challan.due_at > now,
        Challan.due_at <= horizon,
        Challan.reminders_sent == 0,
        Challan.issued_at <= now - dt.timedelta(days=1),
    )
    return list(session.scalars(query.order_by(Challan.due_at).limit(limit)))


def claim_reminder(*, session: Session, challan_id: uuid.UUID, now: dt.datetime) -> Challan | None:
    """Mark a challan reminded, unless it was already (or was paid meanwhile): the caller then sends it."""
    result = session.execute(
        update(Challan)
        .where(Challan.id == challan_id, Challan.status == ChallanStatus.ISSUED, Challan.reminders_sent == 0)
        .values(reminders_sent=Challan.reminders_sent + 1, last_reminder_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.get(Challan, challan_id, populate_existing=True)


def mark_overdue(*, session: Session, now: dt.datetime, limit: int = OVERDUE_BATCH) -> list[Challan]:
    """Issued challans past their due date become overdue (each audited); returns them, to be told."""
    query = (
        select(Challan)
        .where(Challan.status == ChallanStatus.ISSUED, Challan.due_at <= now)
        .order_by(Challan.due_at)
        .limit(limit)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = list(session.scalars(query))
    for challan in found:
        challan.status = ChallanStatus.OVERDUE
        audit_challan(
            session=session, action="challans.overdue", challan=challan, due_at=challan.due_at.isoformat()
        )
    session.flush()
    return found


def unpaid_numbers(*, session: Session, plates: Iterable[str] | None = None) -> dict[str, list[str]]:
    """The unpaid (issued or overdue) challan numbers of each plate (of `plates`, if given)."""
    query = select(Challan.plate, Challan.number).where(Challan.status.in_(UNPAID))
    if plates is not None:
        query = query.where(Challan.plate.in_(list(plates)))
    found: dict[str, list[str]] = defaultdict(list)
    for plate, number in session.execute(query.order_by(Challan.plate, Challan.number)):
        found[plate].append(number)
    return dict(found)


def plates_over(*, session: Session, threshold: int) -> list[str]:
    """Plates with at least `threshold` unpaid challans."""
    query = (
        select(Challan.plate)
        .where(Challan.status.in_(UNPAID))
        .group_by(Challan.plate)
        .having(func.count() >= threshold)
        .order_by(Challan.plate)
    )
    return list(session.scalars(query))
