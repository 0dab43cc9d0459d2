"""Appeals against e-challans: filed by citizens on the portal, decided by adjudicating officers.

One appeal per challan, while the challan is issued or overdue and within `appeal_days` of its issue; the
challan is then IN_APPEAL and the appeal must be decided within `appeal_days` (its deadline). An
adjudicator (`appeals.decide`, within their districts) upholds it (the challan is ISSUED again, or
OVERDUE past its due date) or cancels it (CANCELLED); a conditional UPDATE on the appeal's status makes
two adjudicators acting at once give one decision. An attachment (a JPEG or PNG picture or a PDF) is
checked by its magic bytes and by opening it, then written atomically under <challans_dir>/appeals/
before the appeal's row is committed, and removed again if that commit fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import logging
import os
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.config import ChallanSettings
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound
from safecity.core.storage import contained
from safecity.events.alerts.models import Alert
from safecity.traffic.appeals.models import Appeal, AppealStatus
from safecity.traffic.appeals.schemas import AppealOut, DecisionIn, DecisionOutcome
from safecity.traffic.challans import flows as unpaid
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Challan, ChallanStatus, Delivery
from safecity.traffic.reviews import service as reviews
from safecity.traffic.violations.models import Violation

logger = logging.getLogger(__name__)

DECIDE = "appeals.decide"
DECISION = "appeal_decision"  # the Delivery purpose of a decision sent to the citizen
APPEALABLE = (ChallanStatus.ISSUED, ChallanStatus.OVERDUE)
MAX_STATEMENT_CHARS = 4000
MIN_STATEMENT_CHARS = 10
LANGUAGES = ("en", "ur")
MAX_QUEUE = 500
ORPHAN_BATCH = 500  # attachment files checked against the appeals per transaction
# A picture larger than this is refused before it is decoded: a small file that unpacks to gigabytes of
# pixels (a decompression bomb) must not reach memory. Pillow's own MAX_IMAGE_PIXELS guard stays on too.
MAX_ATTACHMENT_PIXELS = 30_000_000
EVIDENCE_ROLES = ("before", "at", "after", "plate")  # what the adjudicator sees (unblurred)
_EMAIL = re.compile(
    r"^[^@\s<>\"']{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)
_PDF_HEADER = re.compile(rb"^%PDF-[12]\.\d")
# Markup or archives hidden in an upload: a browser or an unzip tool would read them as something else.
# (Markers of five bytes or more: a shorter one turns up by chance in a few megabytes of compressed data.)
_HIDDEN = (b"<script", b"<html", b"<!doctype", b"<iframe", b"<?php", b"<?xml")
_PDF_ACTIVE = (b"/JavaScript", b"/Launch", b"/EmbeddedFile", b"/RichMedia")
_ZIP_END = b"PK\x05\x06"  # an archive's end record: a zip is read from its end, so it hides there
_ZIP_TAIL = 65_557  # the end record sits within the last 22 + 65,535 (comment) bytes
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"


class AttachmentRefused(InvalidInput):
    """An upload that is not a clean picture or PDF; `reason` names why, for a message in any language."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, code=f"attachment_{reason}")
        self.reason = reason


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed every check, ready to be stored."""

    data: bytes
    mime: str
    extension: str
    sha256: str


def _check_image(data: bytes, fmt: str) -> None:
    with warnings.catch_warnings():
        # Past MAX_IMAGE_PIXELS Pillow only warns (it refuses at twice that): a warning refuses here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                width, height = image.size
                limit = min(Image.MAX_IMAGE_PIXELS or MAX_ATTACHMENT_PIXELS, MAX_ATTACHMENT_PIXELS)
                if width * height > limit:
                    raise AttachmentRefused(
                        f"the picture is too large ({width} x {height} pixels)", reason="too_many_pixels"
                    )
                image.load()  # decodes every pixel: a truncated or corrupt picture fails here
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise AttachmentRefused("the picture is too large to open", reason="too_many_pixels") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise AttachmentRefused("the picture cannot be opened", reason="unreadable") from None
    end = _JPEG_END if fmt == "JPEG" else _PNG_END
    if not data.rstrip(b"\x00\r\n\t ").endswith(end):
        raise AttachmentRefused("the picture carries something after its end", reason="hidden_content")


def _check_pdf(data: bytes) -> None:
    tail = data[-1024:]
    end = tail.rfind(b"%%EOF")
    if end < 0 or tail[end + 5 :].strip():
        raise AttachmentRefused(
            "the PDF is incomplete or carries something after its end", reason="unreadable"
        )
    if b"startxref" not in data[-2048:]:
        raise AttachmentRefused("the PDF has no cross-reference table", reason="unreadable")
    if any(marker in data for marker in _PDF_ACTIVE):
        raise AttachmentRefused(
            "PDFs with scripts, actions or embedded files are refused", reason="active_pdf"
        )


def check_attachment(data: bytes, *, max_bytes: int) -> CheckedFile:
    """A JPEG or PNG picture or a PDF, checked by its magic bytes and by opening it; AttachmentRefused else.

    Refused: anything else (a zip, an HTML page), a file larger than `max_bytes`, a picture of more than
    MAX_ATTACHMENT_PIXELS, a file that does not open, and a polyglot (a second format hidden inside or
    after the first: markup, or a zip's end record).
    """
    if not data:
        raise AttachmentRefused("the file is empty", reason="empty")
    if len(data) > max_bytes:
        raise AttachmentRefused(f"the file is larger than {max_bytes} bytes", reason="too_large")
    if data.startswith(b"\xff\xd8\xff"):
        mime, extension, kind = "image/jpeg", ".jpg", "JPEG"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        mime, extension, kind = "image/png", ".png", "PNG"
    elif _PDF_HEADER.match(data):
        mime, extension, kind = "application/pdf", ".pdf", "PDF"
    else:
        raise AttachmentRefused("only a JPEG or PNG picture or a PDF can be attached", reason="not_allowed")
    lowered = data.lower()
    if any(marker in lowered for marker in _HIDDEN) or _ZIP_END in data[-_ZIP_TAIL:]:
        raise AttachmentRefused("the file hides another kind of content", reason="hidden_content")
    if kind == "PDF":
        _check_pdf(data)
    else:
        _check_image(data, kind)
    return CheckedFile(data, mime, extension, hashlib.sha256(data).hexdigest())


def appeals_dir(challans_dir: Path) -> Path:
    """Where attachments are stored: <challans_dir>/appeals/<yyyy-mm>/<appeal id>.<ext>."""
    return challans_dir / "appeals"


def appeal_closes_at(challan: Challan, settings: ChallanSettings) -> dt.datetime:
    """The end of a challan's appeal window."""
    return challan.issued_at + dt.timedelta(days=settings.appeal_days)


def appealable(challan: Challan, settings: ChallanSettings, now: dt.datetime | None = None) -> bool:
    """Whether an appeal may be filed against the challan now."""
    return challan.status in APPEALABLE and (now or utcnow()) <= appeal_closes_at(challan, settings)


def normalise_email(text: str) -> str:
    """An e-mail address as given (trimmed), or InvalidInput."""
    address = text.strip()
    if len(address) > 254 or not _EMAIL.fullmatch(address):
        raise InvalidInput("give an e-mail address such as name@example.com", code="bad_email")
    return address


def _write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder: no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    try:
        with partial.open("xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def file_appeal(
    *,
    session: Session,
    challan: Challan,
    statement: str,
    contact_phone: str,
    contact_email: str,
    language: str,
    attachment: CheckedFile | None,
    settings: ChallanSettings,
    challans_dir: Path,
    actor: Principal,
) -> Appeal:
    """File the citizen's appeal (checked input; contact normalised by the caller) and COMMIT it.

    The order leaves nothing half-written: the row is flushed (one per challan), the challan moved to
    IN_APPEAL by a conditional UPDATE, the attachment written atomically, then the commit; if anything
    fails the transaction is rolled back and the written file removed.
    """
    now = utcnow()
    if not MIN_STATEMENT_CHARS <= len(statement) <= MAX_STATEMENT_CHARS:
        raise InvalidInput(
            f"write the statement in {MIN_STATEMENT_CHARS} to {MAX_STATEMENT_CHARS} characters",
            code="bad_statement",
        )
    if language not in LANGUAGES:
        raise InvalidInput("choose English or Urdu", code="bad_language")
    if not contact_phone and not contact_email:
        raise InvalidInput("give a mobile number or an e-mail address for the decision", code="no_contact")
    if session.scalar(select(Appeal.id).where(Appeal.challan_id == challan.id)) is not None:
        raise Conflict("this challan has been appealed already", code="already_appealed")
    if challan.status not in APPEALABLE:
        raise Conflict(f"a challan that is {challan.status.value} cannot be appealed", code="not_appealable")
    if now > appeal_closes_at(challan, settings):
        raise Conflict("the time to appeal this challan has passed", code="appeal_window_closed")
    appeal = Appeal(
        id=uuid.uuid4(),
        challan_id=challan.id,
        district_id=challan.district_id,
        status=AppealStatus.PENDING,
        statement=statement,
        contact_phone=contact_phone,
        contact_email=contact_email,
        language=language,
        filed_at=now,
        deadline_at=now + dt.timedelta(days=settings.appeal_days),
    )
    stored: Path | None = None
    if attachment is not None:
        relative = f"{now:%Y-%m}/{appeal.id}{attachment.extension}"
        appeal.attachment_path = relative
        appeal.attachment_type = attachment.mime
        appeal.attachment_size = len(attachment.data)
        appeal.attachment_sha256 = attachment.sha256
    try:
        session.add(appeal)
        session.flush()
        moved = session.execute(
            update(Challan)
            .where(Challan.id == challan.id, Challan.status.in_(APPEALABLE))
            .values(status=ChallanStatus.IN_APPEAL)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not moved:
            raise Conflict("the challan changed while the appeal was filed", code="not_appealable")
        challans.audit_challan(
            session=session,
            action="portal.appeal",
            challan=challan,
            actor=actor,
            appeal_id=str(appeal.id),
            attachment_sha256=appeal.attachment_sha256,
            language=language,
        )
        if attachment is not None and appeal.attachment_path is not None:
            stored = appeals_dir(challans_dir) / appeal.attachment_path
            _write_atomically(stored, attachment.data)
        session.commit()
    except IntegrityError:
        _undo(session, stored)
        raise Conflict("this challan has been appealed already", code="already_appealed") from None
    except BaseException:
        _undo(session, stored)
        raise
    session.refresh(challan)
    logger.info("appeal %s filed against challan %s", appeal.id, challan.id)
    return appeal


def _undo(session: Session, stored: Path | None) -> None:
    session.rollback()
    if stored is not None:
        stored.unlink(missing_ok=True)


def _files_older_than(root: Path, cutoff: float) -> Iterator[str]:
    """The files under `root` (relative, POSIX) last written before `cutoff` (epoch seconds); links are
    neither followed nor counted."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            info = path.lstat()
            if path.is_file() and not path.is_symlink() and info.st_mtime < cutoff:
                yield path.relative_to(root).as_posix()


def _delete_orphans(session: Session, root: Path, pending: Iterator[str], batch: int) -> int:
    """Delete up to `batch` (or a few more) of the `pending` files that no appeal refers to."""
    deleted = 0
    while deleted < batch:
        chunk = list(itertools.islice(pending, batch))
        if not chunk:
            break
        held = set(session.scalars(select(Appeal.attachment_path).where(Appeal.attachment_path.in_(chunk))))
        for relative in chunk:
            if relative not in held:
                (root / relative).unlink(missing_ok=True)
                deleted += 1
    return deleted


def purge_orphans(
    *,
    session_factory: sessionmaker[Session],
    challans_dir: Path,
    grace_s: float,
    now: dt.datetime | None = None,
) -> int:
    """Delete the attachment files no appeal refers to (written before a crash stopped their appeal's
    commit, or a temporary file a crash left), once older than `grace_s`: a younger one may belong to an
    upload whose appeal is being committed. One audit entry with the count; returns it."""
    root = appeals_dir(challans_dir)
    if not root.is_dir():
        return 0
    cutoff = ((now or utcnow()) - dt.timedelta(seconds=grace_s)).timestamp()
    pending = iter(sorted(_files_older_than(root, cutoff)))
    deleted = audit.purged(
        session_factory=session_factory,
        purge_batch=lambda session: _delete_orphans(session, root, pending, ORPHAN_BATCH),
        batch=ORPHAN_BATCH,
        action="appeals.orphans.purge",
        object_type="traffic_appeals",
        detail={"grace_s": grace_s},
    )
    if deleted:
        logger.info("deleted %d appeal attachment files that no appeal refers to", deleted)
    return deleted


# --- the adjudicator's side -------------------------------------------------------------------------


def _in_scope(session: Session, principal: Principal, appeal_id: uuid.UUID) -> Appeal:
    principal.require(DECIDE)
    appeal = session.get(Appeal, appeal_id)
    if appeal is None or not principal.sees_district(appeal.district_id):
        raise NotFound("no appeal with that id in your districts")
    return appeal


T = TypeVar("T")


def _required(row: T | None) -> T:
    """A row a foreign key with ON DELETE RESTRICT guarantees."""
    if row is None:
        raise NotFound("the record this refers to is missing")
    return row


def out(session: Session, appeal: Appeal, now: dt.datetime | None = None) -> AppealOut:
    """The API's view of an appeal with its challan and the evidence roles the violation holds."""
    challan = _required(session.get(Challan, appeal.challan_id))
    if challan.status is ChallanStatus.CANCELLED:  # one unpaid fewer: the plate may leave the hotlist
        unpaid.sync_unpaid_hotlist(session=session, plates=[challan.plate])
    violation = _required(session.get(Violation, challan.violation_id))
    evidence: dict[str, Any] = violation.evidence or {}
    roles = {f.get("role") for f in evidence.get("files", []) if isinstance(f, dict)}
    now = now or utcnow()
    return AppealOut.model_validate(
        {
            **{name: getattr(appeal, name) for name in AppealOut.model_fields if hasattr(appeal, name)},
            "overdue": appeal.status is AppealStatus.PENDING and appeal.deadline_at < now,
            "challan_number": challan.number,
            "challan_status": challan.status.value,
            "plate": challan.plate,
            "offence": challan.offence.value,
            "amount_pkr": challan.amount_pkr,
            "violation_id": violation.id,
            "camera_id": violation.camera_id,
            "occurred_at": violation.occurred_at,
            "place": str((evidence.get("camera") or {}).get("name") or ""),
            "evidence_roles": [r for r in EVIDENCE_ROLES if r in roles],
        }
    )


def list_appeals(
    *,
    session: Session,
    principal: Principal,
    status: AppealStatus | None = AppealStatus.PENDING,
    limit: int = 200,
) -> list[AppealOut]:
    """Appeals in the principal's districts, oldest deadline first (pending ones by default)."""
    principal.require(DECIDE)
    query = select(Appeal).where(principal.district_filter(Appeal.district_id))
    if status is not None:
        query = query.where(Appeal.status == status)
    found = session.scalars(query.order_by(Appeal.deadline_at, Appeal.id).limit(min(limit, MAX_QUEUE)))
    now = utcnow()
    return [out(session, appeal, now) for appeal in found]


def get_appeal(*, session: Session, principal: Principal, appeal_id: uuid.UUID) -> AppealOut:
    """One appeal in the principal's districts; the read (a citizen's particulars) is audited."""
    appeal = _in_scope(session, principal, appeal_id)
    audit.record(
        session=session,
        action="appeals.read",
        outcome="success",
        actor=principal,
        object_type="appeal",
        object_id=str(appeal.id),
        district_id=appeal.district_id,
    )
    return out(session, appeal)


def read_attachment(
    *, session: Session, principal: Principal, appeal_id: uuid.UUID, challans_dir: Path
) -> tuple[Appeal, bytes]:
    """An appeal's attachment, checked against its SHA-256; the download is audited."""
    appeal = _in_scope(session, principal, appeal_id)
    if appeal.attachment_path is None:
        raise NotFound("this appeal has no attachment", code="no_attachment")
    path = contained(appeals_dir(challans_dir), appeal.attachment_path)
    try:
        data = path.read_bytes() if path is not None else None
    except FileNotFoundError:
        data = None
    if data is None:
        logger.error("the attachment of appeal %s is missing from disk", appeal.id)
        raise NotFound("the attachment's file is missing", code="no_attachment")
    if hashlib.sha256(data).hexdigest() != appeal.attachment_sha256:
        logger.error("the attachment of appeal %s fails its SHA-256 check", appeal.id)
        raise Conflict("the stored file does not match its checksum", code="attachment_corrupt")
    audit.record(
        session=session,
        action="appeals.attachment.read",
        outcome="success",
        actor=principal,
        object_type="appeal",
        object_id=str(appeal.id),
        district_id=appeal.district_id,
        detail={"sha256": appeal.attachment_sha256},
    )
    return appeal, data


def decision_deliveries(*, session: Session, appeal_id: uuid.UUID) -> list[Delivery]:
    """Every attempt to send an appeal's decision (Delivery rows of its challan, purpose appeal_decision)."""
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        return []
    query = select(Delivery).where(Delivery.challan_id == appeal.challan_id, Delivery.purpose == DECISION)
    return list(session.scalars(query.order_by(Delivery.at)))


def _challan_after(status: ChallanStatus, outcome: DecisionOutcome, overdue: bool) -> ChallanStatus | None:
    """What the decision makes of the challan (None: it stays as it is)."""
    if outcome is DecisionOutcome.CANCEL:
        return None if status is ChallanStatus.CANCELLED else ChallanStatus.CANCELLED
    if status is ChallanStatus.IN_APPEAL:
        return ChallanStatus.OVERDUE if overdue else ChallanStatus.ISSUED
    return None  # upheld while paid (the citizen paid during the appeal): it stays paid


def decide(
    *, session: Session, principal: Principal, appeal_id: uuid.UUID, data: DecisionIn, policy: ChallanSettings
) -> tuple[Appeal, Challan, Alert | None]:
    """Uphold or cancel a pending appeal (409 `already_decided` for the second of two adjudicators).

    Upheld: the challan is ISSUED again (OVERDUE past its due date); cancelled: CANCELLED and closed (a
    challan paid during the appeal is cancelled too, and its payment shows for a refund in the
    reconciliation). The outcome counts in the camera's precision, which may suspend it: the alert saying
    so is returned. The caller sends the decision to the citizen, and publishes the alert, once committed.
    """
    appeal = _in_scope(session, principal, appeal_id)
    now = utcnow()
    status = AppealStatus.CANCELLED if data.outcome is DecisionOutcome.CANCEL else AppealStatus.UPHELD
    claimed = session.execute(
        update(Appeal)
        .where(Appeal.id == appeal.id, Appeal.status == AppealStatus.PENDING)
        .values(status=status, decided_at=now, decided_by=principal.user_id, decision_reason=data.reason)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not claimed:
        raise Conflict("this appeal has been decided already", code="already_decided")
    session.refresh(appeal)
    challan = _required(session.get(Challan, appeal.challan_id))
    for _ in range(3):  # a payment may land between the read and the write: read again and redo
        session.refresh(challan)
        after = _challan_after(challan.status, data.outcome, challan.due_at < now)
        if after is None:
            break
        values: dict[str, Any] = {"status": after}
        if after is ChallanStatus.CANCELLED:
            values["closed_at"] = now
        changed = session.execute(
            update(Challan)
            .where(Challan.id == challan.id, Challan.status == challan.status)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            break
    else:
        raise Conflict("the challan keeps changing: try again", code="challan_busy")
    session.refresh(challan)
    audit.record(
        session=session,
        action="appeals.decide",
        outcome="success",
        actor=principal,
        object_type="appeal",
        object_id=str(appeal.id),
        district_id=appeal.district_id,
        detail={
            "number": challan.number,
            "outcome": data.outcome.value,
            "challan_status": challan.status.value,
        },
    )
    # The appeal's outcome is what the camera's precision reads (appeal.status per challan's violation).
    if challan.status is ChallanStatus.CANCELLED:  # one unpaid fewer: the plate may leave the hotlist
        unpaid.sync_unpaid_hotlist(session=session, plates=[challan.plate])
    violation = _required(session.get(Violation, challan.violation_id))
    recomputed = reviews.recompute(session=session, camera_id=violation.camera_id, policy=policy)
    return appeal, challan, recomputed.alert
