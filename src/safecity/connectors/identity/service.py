"""Verifying an identity by CNIC for someone who states why; each verification is audited with its purpose."""

from __future__ import annotations

from sqlalchemy.orm import Session

from safecity.analytics.plates.service import require_purpose
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.connectors.identity.schemas import VerificationOut
from safecity.connectors.identity.services import IdentityService
from safecity.core.identifiers import format_cnic, normalise_cnic

READ = "records.read"


def verify(
    *, session: Session, principal: Principal, identity: IdentityService | None, cnic: str, purpose: str
) -> VerificationOut:
    """Who holds `cnic`, as the identity service says; audited with the purpose (found or not).

    Raises:
        InvalidInput: a malformed CNIC (bad_cnic) or no purpose (purpose_required).
        ConnectorError: the service timed out, is unavailable, refused us or answered garbage.
    """
    principal.require(READ)
    stated = require_purpose(purpose)
    key = format_cnic(normalise_cnic(cnic))
    found = identity.verify(cnic=key) if identity is not None else None
    audit.record(
        session=session,
        action="identity.verify",
        outcome="success",
        actor=principal,
        object_type="cnic",
        object_id=key,
        purpose=stated,
        detail={"found": found is not None, "connector": identity.name if identity else None},
    )
    return VerificationOut(cnic=key, configured=identity is not None, found=found is not None, identity=found)
