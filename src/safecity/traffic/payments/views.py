"""REST API of payments (/api/v1/traffic/payments): the banks' signed callback and the reconciliation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from safecity.traffic.payments import service
from safecity.traffic.payments.schemas import CallbackIn, CallbackOut, ReconciliationOut
from safecity.web.deps import CurrentPrincipal, Db, client_addr, get_services

router = APIRouter(prefix="/api/v1/traffic/payments", tags=["payments"])
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}, "description": "the report"}}


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers these bytes, not a re-serialised parse."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


@router.post(
    "/callback",
    response_model=CallbackOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CallbackIn.model_json_schema()}},
        }
    },
)
def callback(request: Request, db: Db, body: RawBody) -> CallbackOut:
    """A bank reports a payment (no login: HMAC-SHA256 of "<X-Timestamp>.<body>" in `X-Signature` as
    `sha256=<hex>`, `X-Timestamp` in Unix seconds).

    Body {transaction_id, payment_ref, amount_pkr, paid_at, provider}. 401 `unsigned`, `bad_signature` or
    `stale_timestamp`; 503 `payments_not_configured`; 404 `unknown_reference`; 422 `amount_mismatch`;
    409 `challan_cancelled`, `already_paid` or `transaction_conflict`. A replayed transaction gets its
    first answer again (`replayed`: true) and pays nothing twice.
    """
    # The headers are read here rather than declared: no generated value could sign a body anyway.
    settings = get_services(request).settings.challans
    addr = client_addr(request)
    service.verify_signature(
        session=db,
        settings=settings,
        body=body,
        signature=request.headers.get(service.SIGNATURE_HEADER),
        timestamp=request.headers.get(service.TIMESTAMP_HEADER),
        client_addr=addr,
    )
    data = service.parse_callback(body)
    return service.receive(session=db, data=data, body=body, client_addr=addr)


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(get_services(request).settings.timezone)


@router.get("/reconciliation", response_model=list[ReconciliationOut])
def reconciliation(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    date: dt.date,
    district_id: uuid.UUID | None = None,
) -> list[ReconciliationOut]:
    """A local day per district in scope (payments.reconcile): challans issued (count, amount), paid and
    outstanding of them, payments received, and mismatches (a wrong amount, a cancelled or paid challan).
    """
    return service.reconcile(
        session=db, principal=principal, day=date, zone=_zone(request), district_id=district_id
    )


@router.get("/reconciliation.csv", response_class=StreamingResponse, responses=CSV)
def reconciliation_csv(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    date: dt.date,
    district_id: uuid.UUID | None = None,
) -> StreamingResponse:
    """The same report as CSV: a `district` record per district, then a `mismatch` record each."""
    rows = service.reconcile(
        session=db, principal=principal, day=date, zone=_zone(request), district_id=district_id
    )
    name = f"reconciliation-{date.isoformat()}.csv"
    return StreamingResponse(
        service.reconciliation_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
