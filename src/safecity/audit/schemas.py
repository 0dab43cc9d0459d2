"""API schemas of the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from safecity.core.schemas import OutModel


class AuditEntryOut(OutModel):
    seq: int
    at: dt.datetime
    actor_id: uuid.UUID | None
    actor_name: str
    action: str
    object_type: str | None
    object_id: str | None
    outcome: str
    purpose: str | None
    client_addr: str | None
    district_id: uuid.UUID | None
    detail: dict[str, Any]
    hash: str


class ProblemOut(OutModel):
    seq: int
    reason: str


class VerifyOut(OutModel):
    ok: bool
    checked: int
    checkpoints: int  # signed checkpoint lines read from outside the database
    problems: list[ProblemOut]
