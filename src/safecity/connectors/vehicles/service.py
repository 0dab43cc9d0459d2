"""The vehicle registry: owner look-ups (each audited with its purpose), Excise extract imports (dry run,
all or nothing) and the connector's health.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from safecity.analytics.plates.hotlists.schemas import normalise_plate
from safecity.analytics.plates.service import require_purpose
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.connectors import csvimport
from safecity.connectors.vehicles.models import Registration
from safecity.connectors.vehicles.registries import Resolved, VehicleRegistry
from safecity.connectors.vehicles.schemas import (
    CSV_HEADER,
    HealthOut,
    ImportReport,
    LookupOut,
    OwnerOut,
    RegistrationIn,
    RowResult,
    VehicleOut,
    plate_key,
)
from safecity.core import csvfile
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput

logger = logging.getLogger(__name__)

LOOKUP = "registry.lookup"
IMPORT = "registry.import"
MAX_IMPORT_BYTES = csvimport.MAX_IMPORT_BYTES
MAX_REPORTED = csvimport.MAX_REPORTED
_CHUNK = 1000  # plates per IN (...) query


def clean_plate(plate: str) -> str:
    """A plate someone typed as A-Z0-9; InvalidInput (bad_plate) when it is no plate."""
    try:
        return normalise_plate(plate)
    except ValueError as exc:
        raise InvalidInput(f"plate: {exc}", code="bad_plate") from None


def lookup(
    *,
    session: Session,
    principal: Principal,
    registry: VehicleRegistry,
    plate: str,
    purpose: str,
    permission: str = LOOKUP,
) -> LookupOut:
    """The registration of a plate with its owner, for someone who states why; audited with the purpose.

    Args:
        registry: the process's registry connector (REST or extract).
        plate: as typed or read (`LEB-1O5` finds `LEB105`: look-alike characters fold).
        purpose: why (a case, FIR, incident or e-challan review); required.
        permission: what the caller must hold: registry.lookup, or challans.review for the cloned-plate
            check of a review.

    Returns:
        The answer; `stale` when the registry could not answer and its last answer for the plate (within
        the connector's `stale_max_age_s`) stands in, fetched at `updated_at`.

    Raises:
        InvalidInput: no purpose, or no plate.
        ConnectorError: the registry timed out (503), is unavailable (503) with no recent answer held, or
            answered garbage (502).
    """
    found = fetch(
        session=session,
        principal=principal,
        registry=registry,
        plate=plate,
        purpose=purpose,
        permission=permission,
    )
    record_lookup(session=session, principal=principal, registry=registry, found=found, purpose=purpose)
    return found


def fetch(
    *,
    session: Session,
    principal: Principal,
    registry: VehicleRegistry,
    plate: str,
    purpose: str,
    permission: str = LOOKUP,
) -> LookupOut:
    """`lookup` without its audit entry, which the caller must write with `record_lookup` in the same
    transaction (the review writes it after its own guarded update, so every writer takes locks in one
    order: the violation's row, then the audit chain's head)."""
    principal.require(permission)
    require_purpose(purpose)
    asked = clean_plate(plate)
    return answer(plate_key(asked), registry.resolve(session=session, plate=asked))


def record_lookup(
    *, session: Session, principal: Principal, registry: VehicleRegistry, found: LookupOut, purpose: str
) -> None:
    """The audit entry of an owner look-up, with its purpose (and when a stale answer was fetched)."""
    detail: dict[str, Any] = {"found": found.found, "connector": registry.type}
    if found.stale and found.updated_at is not None:
        detail |= {"stale": True, "fetched_at": found.updated_at.isoformat()}
    audit.record(
        session=session,
        action="registry.lookup",
        outcome="success",
        actor=principal,
        object_type="registry_vehicles",
        object_id=found.plate,
        purpose=require_purpose(purpose),
        detail=detail,
    )


def answer(key: str, resolved: Resolved) -> LookupOut:
    """A look-up's answer from the registry's, marked stale when it is the last answer held."""
    found = out(key, resolved.row)
    if not resolved.stale:
        return found
    return found.model_copy(update={"stale": True, "stale_reason": resolved.reason})


def out(key: str, row: Registration | None) -> LookupOut:
    """A look-up's answer from the registration row (or its absence)."""
    if row is None:
        return LookupOut(
            plate=key, found=False, source="", checked_at=utcnow(), updated_at=None, vehicle=None, owner=None
        )
    return LookupOut(
        plate=key,
        found=True,
        source=row.source,
        checked_at=utcnow(),
        updated_at=row.updated_at,
        vehicle=VehicleOut.model_validate(row),
        owner=OwnerOut(
            name=row.owner_name,
            cnic=row.owner_cnic,
            phone=row.owner_phone,
            email=row.owner_email,
            address=row.owner_address,
        ),
    )


def health(*, session: Session, registry: VehicleRegistry) -> HealthOut:
    """The connector's state, with how many registrations are held and when an extract last came."""
    state = registry.health()
    rows = session.scalar(select(func.count()).select_from(Registration)) or 0
    last_import = session.scalar(
        select(func.max(Registration.updated_at)).where(Registration.source.like("import:%"))
    )
    return HealthOut(**vars(state), registrations=rows, last_import_at=last_import)


# --- CSV import of an Excise extract ----------------------------------------------------------------


def decode_csv(raw: bytes) -> str:
    """An uploaded extract as text (csvfile.decode_csv within this import's size limit)."""
    return csvfile.decode_csv(raw, limit=MAX_IMPORT_BYTES)


def _existing(session: Session, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        found.update(session.scalars(select(Registration.plate).where(Registration.plate.in_(chunk))))
    return found


def held_plates(*, session: Session, plates: Sequence[str]) -> set[str]:
    """Which of `plates` (as written) the registry has a row for; reads keys only, no owner (not audited)."""
    keys = {plate: plate_key(plate) for plate in plates}
    found = _existing(session, sorted(set(keys.values())))
    return {plate for plate, key in keys.items() if key in found}


def import_csv(
    *, session: Session, principal: Principal, text: str, dry_run: bool, file_name: str = "extract.csv"
) -> ImportReport:
    """Check every row of an Excise extract; unless `dry_run`, store them all, but only if none is bad.

    A plate already held is replaced by the file's row (an extract is the registry's newer word). CNICs are
    stored as NNNNN-NNNNNNN-N, phones as +923NNNNNNNNN, plates as their folded keys, classes as the fine
    schedule's. The import is one audit entry with its counts.
    """
    principal.require(IMPORT)
    name = csvfile.file_label(file_name, "extract.csv")
    checked = csvimport.check_rows(
        text,
        header=CSV_HEADER,
        model=RegistrationIn,
        key=lambda r: r.plate,
        what="vehicles",
        limit=MAX_IMPORT_BYTES,
    )
    good, rows = checked.good, checked.rows
    bad = [RowResult(row=b.row, plate=b.shown, problems=b.problems) for b in checked.bad]
    held = _existing(session, [r.plate for r in good])
    report = ImportReport(
        dry_run=dry_run,
        file_name=name,
        rows=rows,
        new=len(good) - len(held),
        updated=len(held),
        imported=0,
        errors=len(bad),
        results=bad[:MAX_REPORTED],
    )
    if dry_run or bad:
        return report
    now = utcnow()
    source = f"import:{name}"
    values: list[dict[str, Any]] = [r.row(source=source, now=now) for r in good]
    fresh = [v for v in values if v["plate"] not in held]
    known = [v for v in values if v["plate"] in held]
    for start in range(0, len(fresh), _CHUNK * 10):
        session.execute(insert(Registration), fresh[start : start + _CHUNK * 10])
    for start in range(0, len(known), _CHUNK * 10):
        session.execute(update(Registration), known[start : start + _CHUNK * 10])  # by primary key
    session.flush()
    audit.record(
        session=session,
        action="registry.import",
        outcome="success",
        actor=principal,
        object_type="registry_vehicles",
        detail={"file": name, "rows": rows, "new": report.new, "updated": report.updated},
    )
    logger.info("vehicle registry: imported %d registrations (%d new)", len(values), report.new)
    return report.model_copy(update={"imported": len(values)})
