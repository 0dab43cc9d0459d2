"""REST API of the records search (/api/v1/records): one search box, and an officer's quick check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from safecity.analytics.plates.service import MAX_PURPOSE
from safecity.records.search import service
from safecity.records.search.schemas import CheckOut, SearchOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1/records", tags=["records"])


@router.get("/search", response_model=SearchOut)
def search(
    principal: CurrentPrincipal,
    db: Db,
    q: Annotated[str, Query(max_length=service.MAX_QUERY * 2, description="name, CNIC, phone, plate or FIR")],
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 20,
) -> SearchOut:
    """Persons and vehicles matching `q`, ranked, each with why it matched (records.read; audited)."""
    return service.search(session=db, principal=principal, q=q, limit=limit)


@router.get("/check", response_model=CheckOut)
def check(
    principal: CurrentPrincipal,
    db: Db,
    purpose: Annotated[str, Query(max_length=MAX_PURPOSE * 2, description="why: a call, case or FIR")] = "",
    cnic: Annotated[str | None, Query(max_length=20)] = None,
    plate: Annotated[str | None, Query(max_length=40)] = None,
) -> CheckOut:
    """Wanted, missing, stolen or on a hotlist? for one CNIC or plate (records.read; audited with purpose)."""
    return service.check(session=db, principal=principal, purpose=purpose, cnic=cnic, plate=plate)
