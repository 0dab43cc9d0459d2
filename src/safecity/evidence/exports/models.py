"""Evidence exports: one row per export of a case's items, from draft to a signed package.

    draft ─ prepare ─▶ preparing (files gathered, faces and plates found) ─▶ review (blurs kept or removed,
    manual boxes added) ─ sign ─▶ exporting (redacted copies rendered, package signed) ─▶ ready | failed

`media` holds one entry per file to export (a recording item's footage, an event's or sighting's picture):
where its original is, its SHA-256, and its redaction (a video's plan, a picture's regions) as JSON.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Enum, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class ExportStatus(enum.StrEnum):
    """Where an export stands."""

    DRAFT = "draft"
    PREPARING = "preparing"
    REVIEW = "review"
    EXPORTING = "exporting"
    READY = "ready"
    FAILED = "failed"


class EvidenceExport(Base):
    """An export of chosen case items for a stated purpose: its redaction, approval and signed package."""

    __tablename__ = "evidence_exports"
    __table_args__ = (Index("ix_evidence_exports_case_id_created_at", "case_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    item_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[ExportStatus] = mapped_column(
        Enum(
            ExportStatus,
            name="evidence_export_status",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=ExportStatus.DRAFT,
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0-1 while preparing or exporting
    stage: Mapped[str] = mapped_column(String(200), default="")  # what it is doing, for the page
    error: Mapped[str | None] = mapped_column(Text)
    runner: Mapped[str | None] = mapped_column(String(120))  # the process preparing or signing it (host:pid)
    heartbeat: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # its last progress written
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # files and their redaction
    unredacted: Mapped[bool] = mapped_column(Boolean, default=False)  # originals asked for too
    unredacted_reason: Mapped[str] = mapped_column(Text, default="")  # why the requester asks
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approval_reason: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    package_path: Mapped[str | None] = mapped_column(String(400))  # relative to the evidence folder
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
