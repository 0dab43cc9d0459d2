"""Tables of the evidence-signing keys: every key the deployment ever signed packages with.

Exactly one key is active (`active` is True on it and NULL on every retired key, under a unique
constraint, so two processes can never both create an active key). Retired keys are never deleted: the
packages they signed must stay verifiable. The private key is sealed with the deployment's secret key
(`SecretBox`, purpose "evidence-signing"); the public key is stored raw.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class EvidenceKey(Base):
    """One Ed25519 key pair that signs evidence packages' manifests."""

    __tablename__ = "evidence_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # hex SHA-256 of the raw 32-byte public key; people compare its first 16 characters
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    private_key: Mapped[bytes] = mapped_column(LargeBinary)  # SecretBox-sealed raw 32-byte private key
    active: Mapped[bool | None] = mapped_column(Boolean, unique=True)  # True, or NULL once retired
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
