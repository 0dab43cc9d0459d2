"""The evidence-signing keys: created at set-up, rotated on demand, retired keys kept for verification.

The private key never leaves the database unsealed except in memory while signing; it is sealed with the
deployment's secret key under the purpose "evidence-signing" (so a leaked key of another purpose opens
nothing here). Rotating a key is audited.
"""

from __future__ import annotations

import json
import logging

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.evidence.keys.models import EvidenceKey
from safecity.evidence.package import Ed25519Signer, fingerprint, short
from safecity.evidence.verify import TrustedKey, keyring_document

logger = logging.getLogger(__name__)

PURPOSE = "evidence-signing"


def _box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key, PURPOSE)


def _new_key(session: Session, secret_key: str) -> EvidenceKey:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    key = EvidenceKey(
        fingerprint=fingerprint(public),
        public_key=public,
        private_key=_box(secret_key).encrypt_bytes(raw),
        active=True,
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return key


def active(*, session: Session) -> EvidenceKey | None:
    """The key that signs new packages, or None before one was created."""
    return session.scalars(select(EvidenceKey).where(EvidenceKey.active.is_(True))).one_or_none()


def ensure_key(*, session: Session, secret_key: str) -> EvidenceKey:
    """The active signing key, created when the deployment has none yet (at set-up: `safecity migrate`).

    The first key's creation is not an audit entry (set-up writes none; the key's `created_at` and the
    keyring record it); every later change of key is, through `rotate`.
    """
    key = active(session=session)
    if key is not None:
        return key
    try:
        with session.begin_nested():  # another process making the first key at the same moment wins
            key = _new_key(session, secret_key)
    except IntegrityError:
        return session.scalars(select(EvidenceKey).where(EvidenceKey.active.is_(True))).one()
    logger.info("created the evidence-signing key %s", short(key.fingerprint))
    return key


def rotate(
    *, session: Session, secret_key: str, actor: Principal | None, reason: str | None = None
) -> EvidenceKey:
    """Retire the active key (kept, to verify what it signed) and make a new one active; audited."""
    old = active(session=session)
    if old is not None:
        old.active, old.retired_at = None, utcnow()
        session.flush()  # the unique `active` must be free before the new key takes it
    key = _new_key(session, secret_key)
    audit.record(
        session=session,
        action="evidence.key.rotate",
        outcome="success",
        actor=actor,
        object_type="evidence_key",
        object_id=key.fingerprint,
        purpose=reason,
        detail={"fingerprint": key.fingerprint, "retired": old.fingerprint if old is not None else None},
    )
    logger.info("rotated the evidence-signing key to %s", short(key.fingerprint))
    return key


def list_keys(*, session: Session) -> list[EvidenceKey]:
    """Every signing key, the active one first, then retired ones newest first."""
    keys = session.scalars(select(EvidenceKey).order_by(EvidenceKey.created_at.desc())).all()
    return sorted(keys, key=lambda k: k.active is not True)


def signer(*, session: Session, secret_key: str) -> Ed25519Signer:
    """A Signer over the active key (created first when there is none): what `package.build` signs with.

    Raises ValueError when the sealed key cannot be opened (the secret key was changed).
    """
    key = ensure_key(session=session, secret_key=secret_key)
    raw = _box(secret_key).decrypt_bytes(key.private_key)
    return Ed25519Signer(Ed25519PrivateKey.from_private_bytes(raw))


def trusted_keys(*, session: Session) -> list[TrustedKey]:
    """Every key of this deployment, active and retired, as the verifier trusts them."""
    return [
        TrustedKey(
            fingerprint=k.fingerprint,
            public_key=k.public_key,
            created_at=k.created_at,
            retired_at=k.retired_at,
        )
        for k in list_keys(session=session)
    ]


def keyring_json(*, session: Session) -> str:
    """The deployment's public keyring as JSON: [{fingerprint, public_key, created_at, retired_at}]."""
    return json.dumps(keyring_document(trusted_keys(session=session)), indent=2) + "\n"
