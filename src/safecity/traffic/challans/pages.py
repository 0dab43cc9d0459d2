"""E-challan pages: the fine schedules with each line's history (and a form for a new line), the challans
with filters and the batch print for the post, and one challan with its PDF, deliveries and history.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from safecity.core.errors import InvalidInput, SafecityError
from safecity.traffic.challans import flows, service
from safecity.traffic.challans.models import ChallanStatus, Fine
from safecity.traffic.challans.pdf import CLASS_EN, OFFENCE_EN
from safecity.traffic.challans.schemas import VEHICLE_CLASSES, FineIn
from safecity.traffic.violations.models import Offence
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, htmx_action, refuse, render

router = APIRouter(include_in_schema=False)


def _date(text: str, what: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"give the {what} as a date such as 2026-03-31") from None


@router.get("/traffic/fines", response_class=HTMLResponse)
def fines_page(page: CurrentPage, db: Db) -> Response:
    fines = service.list_fines(session=db, principal=page.principal)
    today = dt.datetime.now(page.timezone).date()
    # Per province: offence -> class -> its lines, latest first; the first that took effect is in force.
    schedules: dict[str, dict[Offence, dict[str, list[Fine]]]] = defaultdict(lambda: defaultdict(dict))
    for fine in fines:
        schedules[fine.province_code][fine.offence].setdefault(fine.vehicle_class, []).append(fine)
    in_force = {
        (p, o, c): next((f for f in lines if f.effective_from <= today), None)
        for p, offences in schedules.items()
        for o, classes in offences.items()
        for c, lines in classes.items()
    }
    return render(
        page,
        "traffic/fines.html",
        schedules={p: dict(o) for p, o in sorted(schedules.items())},
        in_force=in_force,
        today=today,
        offences=list(Offence),
        offence_labels=OFFENCE_EN,
        classes=VEHICLE_CLASSES,
        class_labels=CLASS_EN,
        threshold=service.unpaid_hotlist_threshold(),
        can_manage=page.principal.can(service.MANAGE_FINES),
    )


@router.post("/traffic/fines")
def fine_submit(
    page: CurrentPage,
    db: Db,
    province_code: Annotated[str, Form(max_length=8)],
    vehicle_class: Annotated[str, Form(max_length=24)],
    offence: Annotated[str, Form(max_length=24)],
    amount_pkr: Annotated[str, Form(max_length=12)],
    effective_from: Annotated[str, Form(max_length=20)],
    legal_reference: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    def add() -> None:
        try:
            data = FineIn.model_validate(
                {
                    "province_code": province_code.strip().upper(),
                    "vehicle_class": vehicle_class,
                    "offence": offence,
                    "amount_pkr": amount_pkr.replace(",", "").strip(),
                    "effective_from": effective_from,
                    "legal_reference": legal_reference,
                }
            )
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors()]
            raise InvalidInput("; ".join(problems)) from None
        today = dt.datetime.now(page.timezone).date()
        service.add_fine(session=db, principal=page.principal, data=data, today=today)

    return htmx_action(db, add, "/traffic/fines", audit_refusal=page)


@router.get("/traffic/challans", response_class=HTMLResponse)
def challans_page(
    page: CurrentPage,
    db: Db,
    status: str = "",
    plate: str = "",
    date: str = "",
    district_id: str = "",
) -> Response:
    try:
        chosen = ChallanStatus(status) if status else None
        day = _date(date, "day")
        district = uuid.UUID(district_id) if district_id else None
    except (ValueError, InvalidInput):
        chosen, day, district = None, None, None
    clean = "".join(c for c in plate.upper() if c.isascii() and c.isalnum())[:16]
    found = service.list_challans(
        session=db,
        principal=page.principal,
        zone=page.timezone,
        status=chosen,
        plate=clean or None,
        day=day,
        district_id=district,
        limit=200,
    )
    return render(
        page,
        "traffic/challans.html",
        challans=found,
        statuses=list(ChallanStatus),
        status=chosen,
        plate=clean,
        day=day,
        district_id=district,
        districts=service.districts_in_scope(session=db, principal=page.principal),
        offence_labels=OFFENCE_EN,
        today=dt.datetime.now(page.timezone).date(),
    )


@router.get("/traffic/challans/{challan_id}", response_class=HTMLResponse)
def challan_page(page: CurrentPage, db: Db, challan_id: uuid.UUID) -> Response:
    challan = service.get_challan(session=db, principal=page.principal, challan_id=challan_id)
    sent = service.deliveries(session=db, challan_id=challan.id)
    return render(
        page,
        "traffic/challan.html",
        challan=challan,
        deliveries=sent,
        channels=service.delivery_channels(get_services(page.request).settings.challans, challan),
        history=service.history(challan, sent),
        offence_labels=OFFENCE_EN,
        class_labels=CLASS_EN,
        can_resend=page.principal.can(service.REVIEW) and challan.status in service.OPEN,
    )


@router.post("/traffic/challans/{challan_id}/resend")
def resend_submit(page: CurrentPage, db: Db, background: BackgroundTasks, challan_id: uuid.UUID) -> Response:
    try:
        challan = service.check_resend(session=db, principal=page.principal, challan_id=challan_id)
    except SafecityError as exc:
        return refuse(db, exc, page)
    services = get_services(page.request)
    background.add_task(
        flows.resend_logged,
        session_factory=services.session_factory,
        settings=services.settings,
        challan_id=challan.id,
    )
    return Response(status_code=204, headers={"HX-Redirect": f"/traffic/challans/{challan.id}"})
