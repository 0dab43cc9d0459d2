"""The enforcement page: rules and signals per camera of the reader's districts with the signals' latest
states, and (traffic.manage) forms to add and remove them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from safecity.core.errors import InvalidInput
from safecity.traffic.violations import service
from safecity.traffic.violations.models import Offence, SignalSource
from safecity.traffic.violations.schemas import EnforcementRuleIn, EnforcementRuleUpdate, SignalIn
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, htmx_action, render

router = APIRouter(include_in_schema=False)
PAGE = "/traffic/enforcement"
OFFENCES = {
    Offence.RED_LIGHT: "Red light (stop line + signal)",
    Offence.OVER_SPEED: "Over-speed (two lines or a section)",
    Offence.WRONG_WAY: "Wrong way",
    Offence.NO_PARKING: "No parking (grace: the zone's dwell time)",
    Offence.NO_HELMET: "No helmet (needs a helmet detector plugin)",
}


def _parse(build: Callable[[], Any]) -> Any:
    try:
        return build()
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise InvalidInput("; ".join(problems)) from None


def _uuid(text: str) -> uuid.UUID | None:
    return uuid.UUID(text) if text.strip() else None


def _number(text: str, what: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{what} must be a number") from None


def _region(text: str) -> list[tuple[float, float]] | None:
    """Points as "x,y x,y x,y" (fractions of the picture)."""
    if not text.strip():
        return None
    try:
        return [(float(x), float(y)) for x, y in (p.split(",") for p in text.split())]
    except ValueError:
        raise InvalidInput("give the lamp region as points x,y (fractions 0-1) separated by spaces") from None


@router.get(PAGE, response_class=HTMLResponse)
def enforcement_page(page: CurrentPage, db: Db) -> Response:
    """Rules per camera and signals with their latest states; forms for those who manage traffic."""
    cameras = service.camera_choices(session=db, principal=page.principal)
    signals = service.list_signals(session=db, principal=page.principal)
    can_manage = page.principal.can(service.MANAGE)
    return render(
        page,
        "traffic/enforcement.html",
        cameras=cameras,
        signals=signals,
        camera_names={c.camera.id: c.camera.name for c in cameras},
        offences=OFFENCES,
        sources=list(SignalSource),
        can_manage=can_manage,
        districts=service.districts(session=db, principal=page.principal) if can_manage else [],
        helmet_note=service.NO_HELMET_DETECTOR,
    )


@router.post(f"{PAGE}/rules")
def rule_add(
    page: CurrentPage,
    db: Db,
    name: Annotated[str, Form(max_length=120)],
    camera_id: Annotated[str, Form(max_length=40)],
    offence: Annotated[str, Form(max_length=24)],
    analytics_rule_id: Annotated[str, Form(max_length=40)] = "",
    signal_id: Annotated[str, Form(max_length=40)] = "",
    measured_by: Annotated[str, Form(max_length=60)] = "",
    limit_kmh: Annotated[str, Form(max_length=16)] = "",
    tolerance_kmh: Annotated[str, Form(max_length=16)] = "",
    min_red_s: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Add an enforcement rule from the page (traffic.manage); audited."""

    def add() -> None:
        chosen = Offence(offence) if offence in set(Offence) else None
        if chosen is None:
            raise InvalidInput("choose an offence")
        params: dict[str, Any] = {}
        if chosen == Offence.OVER_SPEED:
            limit, tolerance = _number(limit_kmh, "the limit"), _number(tolerance_kmh, "the tolerance")
            params = {k: v for k, v in (("limit_kmh", limit), ("tolerance_kmh", tolerance)) if v is not None}
        elif chosen == Offence.RED_LIGHT and (seconds := _number(min_red_s, "the red margin")) is not None:
            params = {"min_red_s": seconds}
        kind, _, ref = measured_by.partition(":")  # "calibration:<id>" or "section:<id>"
        data = _parse(
            lambda: EnforcementRuleIn(
                name=name,
                camera_id=uuid.UUID(camera_id),
                offence=chosen,
                analytics_rule_id=_uuid(analytics_rule_id) if chosen != Offence.OVER_SPEED else None,
                signal_id=_uuid(signal_id) if chosen == Offence.RED_LIGHT else None,
                calibration_id=_uuid(ref) if chosen == Offence.OVER_SPEED and kind == "calibration" else None,
                section_id=_uuid(ref) if chosen == Offence.OVER_SPEED and kind == "section" else None,
                params=params,
            )
        )
        service.create_rule(session=db, principal=page.principal, data=data)

    def guarded() -> None:
        try:
            add()
        except ValueError as exc:  # a tampered id in the form
            raise InvalidInput("choose the camera and what the rule is built on from the lists") from exc

    return htmx_action(db, guarded, PAGE, audit_refusal=page)


@router.post(PAGE + "/rules/{rule_id}/enabled")
def rule_enable(
    page: CurrentPage, db: Db, rule_id: uuid.UUID, enabled: Annotated[str, Form(max_length=5)]
) -> Response:
    """Enable or disable a rule (traffic.manage); audited."""
    data = EnforcementRuleUpdate(enabled=enabled == "1")
    return htmx_action(
        db,
        lambda: service.update_rule(session=db, principal=page.principal, rule_id=rule_id, data=data),
        PAGE,
        audit_refusal=page,
    )


@router.post(PAGE + "/rules/{rule_id}/delete")
def rule_delete(page: CurrentPage, db: Db, rule_id: uuid.UUID) -> Response:
    """Remove a rule (traffic.manage); audited."""
    return htmx_action(
        db,
        lambda: service.delete_rule(session=db, principal=page.principal, rule_id=rule_id),
        PAGE,
        audit_refusal=page,
    )


@router.post(f"{PAGE}/signals")
def signal_add(
    page: CurrentPage,
    db: Db,
    name: Annotated[str, Form(max_length=120)],
    source: Annotated[str, Form(max_length=16)],
    district_id: Annotated[str, Form(max_length=40)] = "",
    camera_id: Annotated[str, Form(max_length=40)] = "",
    lamp_region: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Add a signal from the page (traffic.manage); audited."""

    def add() -> None:
        try:
            district, camera = _uuid(district_id), _uuid(camera_id)
        except ValueError:
            raise InvalidInput("choose the district and camera from the lists") from None
        region = _region(lamp_region)
        data = _parse(
            lambda: SignalIn.model_validate(
                {
                    "name": name,
                    "source": source,
                    "district_id": district,
                    "camera_id": camera,
                    "lamp_region": region,
                }
            )
        )
        service.create_signal(session=db, principal=page.principal, data=data)

    return htmx_action(db, add, PAGE, audit_refusal=page)


@router.post(PAGE + "/signals/{signal_id}/delete")
def signal_delete(page: CurrentPage, db: Db, signal_id: uuid.UUID) -> Response:
    """Remove a signal (traffic.manage); audited."""
    return htmx_action(
        db,
        lambda: service.delete_signal(session=db, principal=page.principal, signal_id=signal_id),
        PAGE,
        audit_refusal=page,
    )
