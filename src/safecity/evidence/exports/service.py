"""Evidence exports: who may ask for one, review its redaction, approve the originals and download it.

Exporting needs `video.export` and a case the exporter sees (NotFound otherwise, as for the case itself).
An export's redaction is reviewed before it is signed: each face or plate found keeps or loses its blur,
and boxes are added by hand. Asking for the originals without blurring needs a second person holding
`evidence.unredacted` to approve, with a reason; approving one's own request is refused (and audited as a
refused access). The long work (gathering, finding faces and plates, rendering, signing) is in flows.py.
"""

from __future__ import annotations

import copy
import logging
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from safecity.analytics.plates.service import require_purpose
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.core import lanes
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.core.storage import contained
from safecity.evidence import service as cases
from safecity.evidence.exports.models import EvidenceExport, ExportStatus
from safecity.evidence.exports.schemas import ApprovalIn, BlurIn, ExportIn, ManualIn
from safecity.evidence.models import Case, CaseStatus, CustodyAction
from safecity.evidence.redaction import RedactionPlan

logger = logging.getLogger(__name__)

EXPORT = "video.export"
UNREDACTED = "evidence.unredacted"
RUNNING = frozenset({ExportStatus.PREPARING, ExportStatus.EXPORTING})
QUEUED = "queued"  # the stage of an export waiting its turn in the lane
EXPORTS_FOLDER = "exports"  # under the deployment's evidence folder: one folder per export


def work_dir(evidence_dir: Path, export_id: uuid.UUID) -> Path:
    """Where an export's working files and package live."""
    return evidence_dir / EXPORTS_FOLDER / str(export_id)


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    case: Case,
    export: EvidenceExport,
    *,
    outcome: str = "success",
    purpose: str | None = None,
    **detail: Any,
) -> None:
    audit.record(
        session=session,
        action=action,
        outcome=outcome,
        actor=principal,
        object_type="evidence_export",
        object_id=str(export.id),
        purpose=purpose,
        district_id=case.district_id,
        detail={"case": case.number, **detail},
    )


def _case(session: Session, principal: Principal, case_id: uuid.UUID, *permissions: str) -> Case:
    """The case, if the principal holds one of `permissions` and sees it (NotFound when not seen)."""
    if not any(principal.can(p) for p in permissions):
        raise PermissionDenied(f"this needs the '{permissions[0]}' permission")
    return cases.get_case(session=session, principal=principal, case_id=case_id)


def _export(session: Session, case: Case, export_id: uuid.UUID) -> EvidenceExport:
    export = session.get(EvidenceExport, export_id)
    if export is None or export.case_id != case.id:
        raise NotFound("no such export of this case")
    return export


def get(
    *, session: Session, principal: Principal, case_id: uuid.UUID, export_id: uuid.UUID
) -> tuple[Case, EvidenceExport]:
    """An export and its case, for an exporter or an approver of originals who sees the case."""
    case = _case(session, principal, case_id, EXPORT, UNREDACTED)
    return case, _export(session, case, export_id)


def list_exports(*, session: Session, principal: Principal, case_id: uuid.UUID) -> list[EvidenceExport]:
    """The case's exports, newest first."""
    case = _case(session, principal, case_id, EXPORT, UNREDACTED)
    query = (
        select(EvidenceExport)
        .where(EvidenceExport.case_id == case.id)
        .order_by(EvidenceExport.created_at.desc(), EvidenceExport.id)
    )
    return list(session.scalars(query))


def create(*, session: Session, principal: Principal, case_id: uuid.UUID, data: ExportIn) -> EvidenceExport:
    """A draft export of chosen items of an open case, for a stated purpose (audited)."""
    case = _case(session, principal, case_id, EXPORT)
    principal.require(EXPORT)
    if not cases.may_work(session=session, principal=principal, case=case):
        raise PermissionDenied("only the case's team and investigators may export from it")
    if case.status == CaseStatus.CLOSED:
        raise Conflict("the case is closed", code="case_closed")
    purpose = require_purpose(data.purpose)
    items = {i.id: i for i in cases.list_items(session=session, case_id=case.id)}
    chosen: list[str] = []
    for item_id in data.item_ids:
        if item_id not in items:
            raise InvalidInput("an item chosen is not in this case", field="item_ids")
        if str(item_id) not in chosen:
            chosen.append(str(item_id))
    export = EvidenceExport(
        id=uuid.uuid4(),
        case_id=case.id,
        item_ids=chosen,
        purpose=purpose,
        status=ExportStatus.DRAFT,
        progress=0.0,
        stage="",
        media=[],
        unredacted=data.unredacted,
        unredacted_reason=" ".join(data.unredacted_reason.split()) if data.unredacted else "",
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(export)
    session.flush()
    _audit(
        session,
        principal,
        "evidence.export.create",
        case,
        export,
        purpose=purpose,
        items=len(chosen),
        unredacted=export.unredacted,
    )
    return export


def _owned(
    session: Session, principal: Principal, case_id: uuid.UUID, export_id: uuid.UUID
) -> tuple[Case, EvidenceExport]:
    """An export the principal may work on: an exporter who may work the case."""
    case = _case(session, principal, case_id, EXPORT)
    principal.require(EXPORT)
    if not cases.may_work(session=session, principal=principal, case=case):
        raise PermissionDenied("only the case's team and investigators may export from it")
    return case, _export(session, case, export_id)


def begin_preparing(
    *, session: Session, principal: Principal, case_id: uuid.UUID, export_id: uuid.UUID
) -> EvidenceExport:
    """Mark a draft as preparing (a failed one goes back through `retry`); the caller then queues
    flows.prepare (views.queue_step)."""
    _, export = _owned(session, principal, case_id, export_id)
    if export.status != ExportStatus.DRAFT:
        raise Conflict("this export is already prepared", code="export_prepared")
    _queued(export, ExportStatus.PREPARING)
    session.flush()
    return export


def _queued(export: EvidenceExport, step: ExportStatus) -> None:
    """The export waits its turn for `step` (preparing or exporting) on this process's lane, which runs a few
    at a time."""
    export.status, export.progress, export.stage, export.error = step, 0.0, QUEUED, None
    export.runner, export.heartbeat = lanes.runner_name(), utcnow()


def _reviewing(
    session: Session, principal: Principal, case_id: uuid.UUID, export_id: uuid.UUID
) -> tuple[Case, EvidenceExport]:
    case, export = _owned(session, principal, case_id, export_id)
    if export.status != ExportStatus.REVIEW:
        raise Conflict(
            "the export's redaction can be changed only while it is reviewed", code="not_in_review"
        )
    return case, export


def _entry(export: EvidenceExport, key: str) -> dict[str, Any]:
    for entry in export.media:
        if entry.get("key") == key:
            return entry
    raise NotFound("no such file in this export")


def _edit(export: EvidenceExport, key: str, change: Any) -> RedactionPlan:
    """Apply `change(plan)` to one file's plan and store it back (the JSON column is replaced)."""
    media = copy.deepcopy(export.media)
    entry = next((m for m in media if m.get("key") == key), None)
    if entry is None or not entry.get("plan"):
        raise NotFound("no such file in this export")
    plan = RedactionPlan.model_validate(entry["plan"])
    change(plan)
    entry["plan"] = plan.model_dump(mode="json")
    export.media = media
    flag_modified(export, "media")
    return plan


def set_blur(
    *, session: Session, principal: Principal, case_id: uuid.UUID, export_id: uuid.UUID, data: BlurIn
) -> EvidenceExport:
    """Keep or remove the blur of one region (audited: a removed blur shows a person or a plate)."""
    case, export = _reviewing(session, principal, case_id, export_id)
    _edit(export, data.media, lambda plan: plan.set_blur(data.region, data.blur))
    session.flush()
    _audit(
        session,
        principal,
        "evidence.export.redaction",
        case,
        export,
        media=data.media,
        region=data.region,
        blur=data.blur,
    )
    return export


def add_manual(
    *, session: Session, principal: Principal, case_id: uuid.UUID, export_id: uuid.UUID, data: ManualIn
) -> str:
    """Add a box to blur by hand over a time span; its region id."""
    case, export = _reviewing(session, principal, case_id, export_id)
    added: list[str] = []

    def change(plan: RedactionPlan) -> None:
        end = data.end if plan.duration > 0 else 0.0
        start = min(data.start, end) if plan.duration > 0 else 0.0
        added.append(plan.add_manual((data.x, data.y, data.w, data.h), start, end).id)

    _edit(export, data.media, change)
    session.flush()
    _audit(
        session,
        principal,
        "evidence.export.redaction",
        case,
        export,
        media=data.media,
        region=added[0],
        manual=[data.x, data.y, data.w, data.h, data.start, data.end],
    )
    return added[0]


def remove_manual(
    *,
    session: Session,
    principal: Principal,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
    media: str,
    region: str,
) -> EvidenceExport:
    """Take away a box drawn by hand."""
    case, export = _reviewing(session, principal, case_id, export_id)
    _edit(export, media, lambda plan: plan.remove_manual(region))
    session.flush()
    _audit(
        session,
        principal,
        "evidence.export.redaction",
        case,
        export,
        media=media,
        region=region,
        removed=True,
    )
    return export


def approve_unredacted(
    *, session: Session, principal: Principal, case_id: uuid.UUID, export_id: uuid.UUID, data: ApprovalIn
) -> EvidenceExport:
    """A second person holding `evidence.unredacted` approves exporting the originals, with a reason.

    Approving one's own request is refused (PermissionDenied, which the web layer audits as a refused
    access, code self_approval).
    """
    principal.require(UNREDACTED)
    case = cases.get_case(session=session, principal=principal, case_id=case_id)
    export = _export(session, case, export_id)
    if not export.unredacted:
        raise Conflict("this export does not ask for the originals", code="nothing_to_approve")
    if export.approved_by is not None:
        raise Conflict("the originals were approved already", code="already_approved")
    if principal.user_id is None or principal.user_id == export.created_by:
        raise PermissionDenied(
            "a second person must approve exporting the originals: not the one who asked",
            code="self_approval",
        )
    if export.status in (ExportStatus.EXPORTING, ExportStatus.READY):
        raise Conflict("the export was signed already", code="export_signed")
    reason = " ".join(data.reason.split())
    export.approved_by, export.approval_reason, export.approved_at = principal.user_id, reason, utcnow()
    session.flush()
    _audit(
        session,
        principal,
        "evidence.unredacted.approve",
        case,
        export,
        purpose=reason,
        requested_by=str(export.created_by) if export.created_by else None,
    )
    return export


def begin_signing(
    *, session: Session, principal: Principal, case_id: uuid.UUID, export_id: uuid.UUID
) -> EvidenceExport:
    """Mark a reviewed export as exporting; the caller then runs flows.sign off the loop.

    Originals asked for without a second person's approval are refused (PermissionDenied, which the web
    layer audits as a refused access, code unredacted_not_approved).
    """
    _, export = _owned(session, principal, case_id, export_id)
    if export.status != ExportStatus.REVIEW:
        raise Conflict("review the export's redaction first", code="not_in_review")
    _require_approval(export)
    _queued(export, ExportStatus.EXPORTING)
    session.flush()
    return export


def _require_approval(export: EvidenceExport) -> None:
    if export.unredacted and export.approved_by is None:
        raise PermissionDenied(
            "exporting the originals needs a supervisor's approval first", code="unredacted_not_approved"
        )


def retry(
    *, session: Session, principal: Principal, case_id: uuid.UUID, export_id: uuid.UUID
) -> EvidenceExport:
    """A failed export put back to the step it failed in (audited), by one who may take that step now.

    Its files prepared (the plans are written only as preparing ends), it failed being signed: it is signed
    again with its reviewed redaction and any approval of the originals kept (originals never approved are
    refused as by `begin_signing`). Otherwise it is prepared again, then reviewed. The caller then queues
    the step (views.queue_step).
    """
    case, export = _owned(session, principal, case_id, export_id)
    if export.status != ExportStatus.FAILED:
        raise Conflict("only a failed export is tried again", code="not_failed")
    prepared = bool(export.media) and all(m.get("plan") for m in export.media)
    if prepared:
        _require_approval(export)
    failed_with = export.error
    _queued(export, ExportStatus.EXPORTING if prepared else ExportStatus.PREPARING)
    session.flush()
    _audit(
        session,
        principal,
        "evidence.export.retry",
        case,
        export,
        purpose=export.purpose,
        step=export.status.value,
        error=failed_with,
    )
    return export


def fail_abandoned(session_factory: sessionmaker[Session]) -> int:
    """At start-up: the exports left preparing or signing by a process that went away (lanes.abandoned),
    marked failed, to be tried again (committed, in a session of its own)."""
    with session_factory() as session:
        count = 0
        for export in session.scalars(select(EvidenceExport).where(EvidenceExport.status.in_(RUNNING))):
            if not lanes.abandoned(export.runner, export.heartbeat or export.created_at):
                continue
            step = "prepared" if export.status == ExportStatus.PREPARING else "signed"
            export.status, export.stage = ExportStatus.FAILED, ""
            export.error = f"the server restarted while it was being {step}; retry"
            count += 1
        session.commit()
    if count:
        logger.warning("evidence exports: %d unfinished exports marked failed after a restart", count)
    return count


def package_for_download(
    *,
    session: Session,
    principal: Principal,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
    evidence_dir: Path,
) -> tuple[EvidenceExport, Path]:
    """The signed package, its download written in the case's custody log and the audit log."""
    case = _case(session, principal, case_id, EXPORT)
    export = _export(session, case, export_id)
    if export.status != ExportStatus.READY or not export.package_path:
        raise Conflict("the package is not ready", code="export_not_ready")
    path = contained(evidence_dir, export.package_path)
    if path is None or not path.is_file():
        raise NotFound("the package is missing from the disk", code="package_missing")
    cases.record_custody(
        session=session,
        case_id=case.id,
        item_id=None,
        action=CustodyAction.DOWNLOADED,
        principal=principal,
        purpose=export.purpose,
        detail={"export_id": str(export.id), "sha256": export.sha256, "size": export.size},
    )
    return export, path


def media_file(
    *,
    session: Session,
    principal: Principal,
    case_id: uuid.UUID,
    export_id: uuid.UUID,
    key: str,
    roots: dict[str, Path],
) -> tuple[EvidenceExport, dict[str, Any], Path]:
    """One file of an export (its original, to preview while reviewing) and its entry."""
    _, export = get(session=session, principal=principal, case_id=case_id, export_id=export_id)
    entry = _entry(export, key)
    path = resolve(entry, roots)
    return export, entry, path


def resolve(entry: dict[str, Any], roots: dict[str, Path]) -> Path:
    """The file an entry's original lies in (inside its root folder, never outside it)."""
    root = roots.get(str(entry.get("root")))
    path = contained(root, str(entry.get("path"))) if root is not None else None
    if path is None or not path.is_file():
        raise NotFound("the file is missing from the disk", code="media_missing")
    return path
