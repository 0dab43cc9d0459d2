"""API shapes of investigation cases: what an investigator enters, what the case page and API read."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field, model_validator

from safecity.core.schemas import InModel, IsoDateTime, OutModel
from safecity.evidence.models import CaseStatus, CustodyAction, ItemKind

LINE = r"^[^\x00-\x1f\x7f]*$"  # one line of text: no control characters
TEXT = r"^[^\x00]*$"


class CaseIn(InModel):
    """A new case (POST /api/v1/cases)."""

    title: str = Field(min_length=3, max_length=200, pattern=LINE)
    summary: str = Field(default="", max_length=5000, pattern=TEXT)
    district_id: uuid.UUID | None = None  # default: the investigator's only district
    lead_id: uuid.UUID | None = None  # default: the creator


class CaseUpdate(InModel):
    """A change of a case's title, summary or lead (PATCH /api/v1/cases/{id}); fields left out stay."""

    title: str | None = Field(default=None, min_length=3, max_length=200, pattern=LINE)
    summary: str | None = Field(default=None, max_length=5000, pattern=TEXT)
    lead_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _something(self) -> CaseUpdate:
        if self.title is None and self.summary is None and self.lead_id is None:
            raise ValueError("give the title, summary or lead to change")
        return self


class ItemIn(InModel):
    """Something to link to a case: a row by its id, or (recording) a camera's footage over a time span."""

    kind: ItemKind
    ref_id: uuid.UUID | None = None
    camera_id: uuid.UUID | None = None
    start: IsoDateTime | None = None
    end: IsoDateTime | None = None
    reason: str = Field(min_length=3, max_length=500, pattern=LINE)

    @model_validator(mode="after")
    def _shape(self) -> ItemIn:
        if self.kind == ItemKind.RECORDING:
            if self.camera_id is None or self.start is None or self.end is None:
                raise ValueError("footage needs its camera, start and end")
        elif self.ref_id is None:
            raise ValueError(f"a {self.kind.value.replace('_', ' ')} item needs the id it points at (ref_id)")
        return self


class NoteIn(InModel):
    text: str = Field(min_length=1, max_length=5000, pattern=TEXT)


class TaskIn(InModel):
    title: str = Field(min_length=3, max_length=300, pattern=LINE)
    assignee_id: uuid.UUID | None = None
    due: dt.date | None = None


class MemberIn(InModel):
    user_id: uuid.UUID


class ShareIn(InModel):
    district_id: uuid.UUID
    reason: str = Field(min_length=3, max_length=500, pattern=LINE)


class CloseIn(InModel):
    reason: str = Field(min_length=3, max_length=500, pattern=LINE)


class CaseOut(OutModel):
    id: uuid.UUID
    number: str
    title: str
    summary: str
    district_id: uuid.UUID
    lead_id: uuid.UUID | None
    status: CaseStatus
    created_by: uuid.UUID | None
    created_at: dt.datetime
    closed_at: dt.datetime | None


class ItemOut(OutModel):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: ItemKind
    ref_id: uuid.UUID | None
    camera_id: uuid.UUID | None
    start: dt.datetime | None
    end: dt.datetime | None
    label: str
    added_by: uuid.UUID | None
    added_at: dt.datetime
    reason: str


class NoteOut(OutModel):
    id: uuid.UUID
    author_id: uuid.UUID | None
    text: str
    at: dt.datetime


class TaskOut(OutModel):
    id: uuid.UUID
    title: str
    assignee_id: uuid.UUID | None
    due: dt.date | None
    created_at: dt.datetime
    done_at: dt.datetime | None
    done_by: uuid.UUID | None


class MemberOut(OutModel):
    user_id: uuid.UUID
    added_by: uuid.UUID | None
    added_at: dt.datetime


class ShareOut(OutModel):
    district_id: uuid.UUID
    shared_by: uuid.UUID | None
    reason: str
    at: dt.datetime


class CustodyOut(OutModel):
    id: uuid.UUID
    item_id: uuid.UUID | None
    action: CustodyAction
    user_id: uuid.UUID | None
    username: str
    at: dt.datetime
    purpose: str
    detail: dict[str, Any]


class TimelineOut(OutModel):
    at: dt.datetime
    kind: str
    text: str


class CaseDetailOut(CaseOut):
    items: list[ItemOut]
    notes: list[NoteOut]
    tasks: list[TaskOut]
    members: list[MemberOut]
    shares: list[ShareOut]
    custody: list[CustodyOut]
    timeline: list[TimelineOut]
