"""Review pages: the queue (/traffic/review), one violation's evidence side by side with the decision
(/traffic/review/{id}), and the precision dashboard (/traffic/precision) with its suspensions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import HTMLResponse, Response

from safecity.core.errors import InvalidInput, SafecityError
from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut
from safecity.traffic.reviews import service
from safecity.traffic.reviews.models import Decision
from safecity.traffic.reviews.schemas import PrecisionRow
from safecity.web import charts
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, htmx_action, refuse, render

router = APIRouter(include_in_schema=False)

FRAMES = (("before", "Before"), ("at", "At the offence"), ("after", "After"))
SURE, UNSURE = 0.9, 0.6  # a character's confidence at or above: shown as sure / unsure (below: doubtful)


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A measurement or rule (nested JSON) as (name, value) rows: `signal.state: red`."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, list):
        return [(prefix, ", ".join(str(v) for v in value))]
    if isinstance(value, float):
        return [(prefix, f"{value:.2f}".rstrip("0").rstrip("."))]
    return [(prefix, "—" if value is None else str(value))]


def characters(read: dict[str, Any]) -> list[tuple[str, float | None, str]]:
    """Each character of the read with its confidence and how sure it looks (sure, unsure, doubtful)."""
    plate = str(read.get("plate") or "")
    scores = read.get("char_confidences") or read.get("chars") or []
    found = []
    for i, char in enumerate(plate):
        score = scores[i] if i < len(scores) and isinstance(scores[i], int | float) else None
        level = (
            "unknown"
            if score is None
            else "sure"
            if score >= SURE
            else "unsure"
            if score >= UNSURE
            else "doubtful"
        )
        found.append((char, score, level))
    return found


@router.get("/traffic/review", response_class=HTMLResponse)
def queue_page(page: CurrentPage, db: Db) -> Response:
    return render(
        page,
        "traffic/review_queue.html",
        items=service.queue(session=db, principal=page.principal, limit=200),
        threshold=get_services(page.request).settings.challans.second_review_below,
    )


@router.get("/traffic/review/{violation_id}", response_class=HTMLResponse)
def review_page(page: CurrentPage, db: Db, violation_id: uuid.UUID) -> Response:
    policy = get_services(page.request).settings.challans
    violation = service.detail(session=db, principal=page.principal, violation_id=violation_id, policy=policy)
    evidence = violation.evidence
    roles = {f.get("role") for f in evidence.get("files") or [] if isinstance(f, dict)}
    given = evidence.get("read")
    read: dict[str, Any] = given if isinstance(given, dict) else {}
    reviewed = any(r.reviewer_id == page.principal.user_id for r in violation.reviews)
    return render(
        page,
        "traffic/review.html",
        v=violation,
        files=f"/api/v1/traffic/violations/{violation.id}/evidence",
        frames=[(role, label) for role, label in FRAMES if role in roles],
        roles=roles,
        read=read,
        characters=characters(read or {"plate": violation.plate_read}),
        alternatives=read.get("alternatives") or [],
        measured=flatten(violation.measured),
        rule=flatten(evidence.get("rule") or {}),
        reasons=service.reasons(),
        can_decide=page.principal.can(service.REVIEW)
        and violation.status in service.REVIEWABLE
        and not reviewed,
        reviewed=reviewed,
        threshold=policy.second_review_below,
    )


@router.post("/traffic/review/{violation_id}/decision")
def decision_submit(
    page: CurrentPage,
    db: Db,
    background: BackgroundTasks,
    violation_id: uuid.UUID,
    decision: Annotated[str, Form(max_length=10)],
    version: Annotated[int, Form(ge=0)],
    plate: Annotated[str, Form(max_length=40)] = "",
    reason_code: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    services = get_services(page.request)
    try:
        if decision not in {d.value for d in Decision}:
            raise InvalidInput("confirm or reject", code="bad_decision")
        decided = service.decide(
            session=db,
            principal=page.principal,
            violation_id=violation_id,
            decision=Decision(decision),
            version=version,
            plate=plate or None,
            reason_code=reason_code or None,
            note=note,
            registry=services.vehicle_registry,
            policy=services.settings.challans,
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    if decided.alert is not None:
        background.add_task(alerts.publish_or_log, services.bus, AlertOut.model_validate(decided.alert))
    return Response(status_code=204, headers={"HX-Redirect": f"/traffic/review/{violation_id}"})


def precision_chart(rows: list[PrecisionRow]) -> charts.Chart:
    """A bar per camera: its precision in per cent (cameras with nothing decided are left out)."""
    return charts.bar_chart(
        [
            charts.Bucket(
                r.name[:14], f"{r.name}: {r.precision:.0%} of {r.decided} decided", r.precision * 100
            )
            for r in rows
            if r.precision is not None
        ],
        top=100,
        unit="%",
    )


@router.get("/traffic/precision", response_class=HTMLResponse)
def precision_page(page: CurrentPage, db: Db) -> Response:
    figures = service.precision(
        session=db, principal=page.principal, policy=get_services(page.request).settings.challans
    )
    return render(
        page,
        "traffic/precision.html",
        figures=figures,
        chart=precision_chart(figures.cameras),
        can_lift=page.principal.can(service.MANAGE),
    )


@router.post("/traffic/precision/suspensions/{suspension_id}/lift")
def lift_submit(
    page: CurrentPage,
    db: Db,
    suspension_id: uuid.UUID,
    release_withheld: Annotated[bool, Form()] = False,  # an unticked box sends nothing
) -> Response:
    return htmx_action(
        db,
        lambda: service.lift(
            session=db,
            principal=page.principal,
            suspension_id=suspension_id,
            release_withheld=release_withheld,
        ),
        "/traffic/precision",
        audit_refusal=page,
    )
