"""REST API of identity verification (/api/v1/connectors/identity): a CNIC checked with a stated purpose."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from safecity.analytics.plates.service import MAX_PURPOSE
from safecity.connectors.identity import service
from safecity.connectors.identity.schemas import VerificationOut
from safecity.connectors.views import ERRORS
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/connectors/identity", tags=["connectors"])


@router.get("/{cnic}", response_model=VerificationOut, responses=ERRORS)
def verify(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    cnic: Annotated[str, Path(max_length=20)],
    purpose: Annotated[
        str, Query(max_length=MAX_PURPOSE * 2, description="why: a case, FIR or incident")
    ] = "",
) -> VerificationOut:
    """Who holds a CNIC (records.read), as the identity service says; audited with the purpose. The photo is
    a base64 JPEG. `configured: false` when no identity service is configured here."""
    services = get_services(request)
    services.connectors.sync(db)
    return service.verify(
        session=db, principal=principal, identity=services.identity, cnic=cnic, purpose=purpose
    )
