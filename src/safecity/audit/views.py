"""REST API of the audit log (/api/v1/audit)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from safecity.audit import service as audit
from safecity.audit.schemas import AuditEntryOut, ProblemOut, VerifyOut
from safecity.core.schemas import IsoDateTime
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", response_model=list[AuditEntryOut])
def search(
    principal: CurrentPrincipal,
    db: Db,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Literal["success", "failure", "denied"] | None = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    purpose: Annotated[str | None, Query(max_length=500)] = None,
    object: Annotated[str | None, Query(max_length=200)] = None,
    purpose_contains: Annotated[str | None, Query(max_length=200)] = None,
) -> list[AuditEntryOut]:
    """Audit entries newest first; page with `before_seq` = the last seq received.

    `object`: an object type, id or name (camera name, incident or challan number …);
    `purpose_contains`: words of the recorded purpose; `purpose`: why you are reading the log.
    """
    entries = audit.search(
        session=db,
        principal=principal,
        actor=actor or None,
        action=action or None,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        before_seq=before_seq,
        purpose=purpose,
        object_text=object,
        purpose_contains=purpose_contains,
    )
    return [AuditEntryOut.model_validate(e) for e in entries]


@router.post("/audit/verify", response_model=VerifyOut)
def verify(principal: CurrentPrincipal, db: Db) -> VerifyOut:
    """Walk the keyed chain, check it against the checkpoints, and report any edit, deletion or rewind."""
    principal.require("audit.read")
    report = audit.verify(session=db)
    return VerifyOut(
        ok=report.ok,
        checked=report.checked,
        checkpoints=report.checkpoints,
        problems=[ProblemOut(seq=p.seq, reason=p.reason) for p in report.problems],
    )
