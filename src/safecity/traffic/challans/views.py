"""REST API of e-challans (/api/v1/traffic/fines, /api/v1/traffic/challans): the fine schedule, challans with
their deliveries and PDFs, batches printed for the post, and sending a challan again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import Response

from safecity.traffic.challans import flows, service
from safecity.traffic.challans.models import ChallanStatus
from safecity.traffic.challans.schemas import (
    ChallanDetailOut,
    ChallanOut,
    DeliveryOut,
    FineIn,
    FineOut,
    ResendOut,
)
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/traffic", tags=["challans"])
PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}, "description": "the PDF"}}


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/fines", response_model=list[FineOut])
def list_fines(
    principal: CurrentPrincipal,
    db: Db,
    province_code: Annotated[str | None, Query(max_length=8, pattern="^[A-Za-z]{2,8}$")] = None,
) -> list[FineOut]:
    """Every line of the fine schedules, all versions (challans.read or fines.manage)."""
    found = service.list_fines(session=db, principal=principal, province_code=province_code)
    return [FineOut.model_validate(f) for f in found]


@router.post("/fines", response_model=FineOut, status_code=201)
def add_fine(request: Request, body: FineIn, principal: CurrentPrincipal, db: Db) -> FineOut:
    """A new line of a schedule from a day not yet passed, after the line it follows (fines.manage); lines
    are never edited. Audited with the old and the new amount.
    """
    zone = service.local_zone(get_services(request).settings)
    today = dt.datetime.now(zone).date()
    return FineOut.model_validate(service.add_fine(session=db, principal=principal, data=body, today=today))


@router.get("/challans", response_model=list[ChallanOut])
def list_challans(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    status: ChallanStatus | None = None,
    plate: Annotated[str | None, Query(max_length=16, pattern="^[A-Za-z0-9 -]*$")] = None,
    day: Annotated[dt.date | None, Query(alias="date")] = None,
    district_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ChallanOut]:
    """Challans in the caller's districts, latest first: by status, plate (from its start) and local day of
    issue. The read is audited.
    """
    found = service.list_challans(
        session=db,
        principal=principal,
        zone=service.local_zone(get_services(request).settings),
        status=status,
        plate=plate,
        day=day,
        district_id=district_id,
        limit=limit,
        offset=offset,
    )
    return [ChallanOut.model_validate(c) for c in found]


@router.get("/challans/print", response_class=Response, responses=PDF)
def print_batch(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    district_id: uuid.UUID,
    day: Annotated[dt.date, Query(alias="date")],
    only_unposted: bool = True,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PRINT)] = 200,
) -> Response:
    """One PDF of a district's open challans issued on a day, for the post (challans.read or challans.review);
    each is recorded as posted. By default only those not posted before (404 `nothing_to_print` if none).
    """
    data, _ = service.print_batch(
        session=db,
        principal=principal,
        settings=get_services(request).settings,
        district_id=district_id,
        day=day,
        only_unposted=only_unposted,
        limit=limit,
    )
    return _pdf(data, f"challans-{day.isoformat()}.pdf")


@router.get("/challans/{challan_id}", response_model=ChallanDetailOut)
def get_challan(challan_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> ChallanDetailOut:
    """One challan with every attempt to deliver it; the read is audited."""
    challan = service.get_challan(session=db, principal=principal, challan_id=challan_id)
    sent = [DeliveryOut.model_validate(d) for d in service.deliveries(session=db, challan_id=challan.id)]
    return ChallanDetailOut.model_validate(
        ChallanOut.model_validate(challan).model_dump() | {"deliveries": sent}
    )


@router.get("/challans/{challan_id}/pdf", response_class=Response, responses=PDF)
def challan_pdf(request: Request, challan_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """The challan's PDF, checked against its recorded SHA-256 (409 `pdf_altered` if not); audited."""
    challan, data = service.pdf_for(
        session=db, principal=principal, settings=get_services(request).settings, challan_id=challan_id
    )
    return _pdf(data, f"{challan.number}.pdf")


@router.post("/challans/{challan_id}/resend", response_model=ResendOut, status_code=202)
def resend(
    request: Request, background: BackgroundTasks, challan_id: uuid.UUID, principal: CurrentPrincipal, db: Db
) -> ResendOut:
    """Send the challan to its owner again by SMS and e-mail (challans.review): after the answer, each
    attempt recorded as a delivery.
    """
    challan = service.check_resend(session=db, principal=principal, challan_id=challan_id)
    services = get_services(request)
    background.add_task(
        flows.resend_logged,
        session_factory=services.session_factory,
        settings=services.settings,
        challan_id=challan.id,
    )
    return ResendOut(challan_id=challan.id, number=challan.number, queued=True)
