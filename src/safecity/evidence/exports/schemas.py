"""API shapes of evidence exports: what an investigator asks for, what a reviewer changes, what is shown."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field, model_validator

from safecity.core.schemas import InModel, OutModel
from safecity.evidence.exports.models import ExportStatus

LINE = r"^[^\x00-\x1f\x7f]*$"  # one line of text: no control characters


class ExportIn(InModel):
    """A new export of case items (POST /api/v1/cases/{case_id}/exports)."""

    item_ids: list[uuid.UUID] = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=3, max_length=500, pattern=LINE)
    unredacted: bool = False  # the originals too: needs a second person's approval
    unredacted_reason: str = Field(default="", max_length=500, pattern=LINE)

    @model_validator(mode="after")
    def _reason(self) -> ExportIn:
        if self.unredacted and len(self.unredacted_reason.strip()) < 3:
            raise ValueError("say why the originals (without blurring) are needed")
        return self


class BlurIn(InModel):
    """Keep or remove the blur of one region of one file."""

    media: str = Field(min_length=1, max_length=16)
    region: str = Field(min_length=1, max_length=16)
    blur: bool


class ManualIn(InModel):
    """A box the reviewer draws to blur too (pixels of the file), over a time span (seconds; pictures: 0)."""

    media: str = Field(min_length=1, max_length=16)
    x: int = Field(ge=0, le=16384)
    y: int = Field(ge=0, le=16384)
    w: int = Field(ge=1, le=16384)
    h: int = Field(ge=1, le=16384)
    start: float = Field(default=0.0, ge=0)
    end: float = Field(default=0.0, ge=0)


class ApprovalIn(InModel):
    """A supervisor's approval of exporting the originals, with the reason."""

    reason: str = Field(min_length=3, max_length=500, pattern=LINE)


class RegionOut(OutModel):
    """One region of a file as the reviewer sees it."""

    id: str
    kind: str
    start: float
    end: float
    blur: bool
    score: float
    key_t: float


class MediaOut(OutModel):
    """One file of an export and its regions."""

    key: str
    item_id: str
    kind: str
    label: str
    sha256: str
    regions: list[RegionOut]


class ExportOut(OutModel):
    """An export as the API shows it."""

    id: uuid.UUID
    case_id: uuid.UUID
    item_ids: list[str]
    purpose: str
    status: ExportStatus
    progress: float
    stage: str
    error: str | None
    unredacted: bool
    unredacted_reason: str
    approved_by: uuid.UUID | None
    approval_reason: str | None
    approved_at: dt.datetime | None
    sha256: str | None
    size: int | None
    created_by: uuid.UUID | None
    created_at: dt.datetime
    exported_at: dt.datetime | None
    media: list[MediaOut] = Field(default_factory=list)

    @classmethod
    def of(cls, export: Any) -> ExportOut:
        """The export with its files' regions (from their plans)."""
        media = [
            MediaOut(
                key=m["key"],
                item_id=m["item_id"],
                kind=m["kind"],
                label=m.get("label", ""),
                sha256=m["sha256"],
                regions=[
                    RegionOut(
                        id=t["id"],
                        kind=t["kind"],
                        start=t["start"],
                        end=t["end"],
                        blur=t["blur"],
                        score=t["score"],
                        key_t=t["key_t"],
                    )
                    for t in (m.get("plan") or {}).get("tracks", [])
                ],
            )
            for m in export.media or []
        ]
        fields = {name: getattr(export, name) for name in cls.model_fields if name != "media"}
        return cls.model_validate({**fields, "media": media})
