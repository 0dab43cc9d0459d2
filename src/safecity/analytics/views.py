"""REST API of analytics: the rules drawn on each camera, how its detector is fed, what its counting lines
counted, and the status of the analytics running here.
"""

from __future__ import annotations

import dataclasses
import uuid

from fastapi import APIRouter, Request, Response

from safecity.analytics import service as analytics
from safecity.analytics.schemas import (
    AnalyticsStatusOut,
    DetectionOut,
    DetectionSettings,
    LineCountOut,
    RuleConfig,
    RuleOut,
)
from safecity.core.schemas import IsoDateTime
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["analytics"])


@router.get("/cameras/{camera_id}/rules", response_model=list[RuleOut])
def list_rules(camera_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> list[RuleOut]:
    """The rules drawn on a camera, by name."""
    return [RuleOut.of(r) for r in analytics.list_rules(session=db, principal=principal, camera_id=camera_id)]


@router.post("/cameras/{camera_id}/rules", response_model=RuleOut, status_code=201)
def create_rule(camera_id: uuid.UUID, body: RuleConfig, principal: CurrentPrincipal, db: Db) -> RuleOut:
    """Draw a rule on a camera (geometry in fractions 0..1 of the frame); names are unique per camera."""
    rule = analytics.create_rule(session=db, principal=principal, camera_id=camera_id, config=body)
    return RuleOut.of(rule)


@router.put("/cameras/{camera_id}/rules/{rule_id}", response_model=RuleOut)
def update_rule(
    camera_id: uuid.UUID,
    rule_id: uuid.UUID,
    body: RuleConfig,
    principal: CurrentPrincipal,
    db: Db,
    expected_updated_at: IsoDateTime | None = None,
) -> RuleOut:
    """Replace a rule; with `expected_updated_at` (its last `updated_at`), a 409 if it changed since."""
    rule = analytics.update_rule(
        session=db,
        principal=principal,
        camera_id=camera_id,
        rule_id=rule_id,
        config=body,
        expected_updated_at=expected_updated_at,
    )
    return RuleOut.of(rule)


@router.delete("/cameras/{camera_id}/rules/{rule_id}", status_code=204)
def delete_rule(camera_id: uuid.UUID, rule_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """Remove a rule from a camera."""
    analytics.delete_rule(session=db, principal=principal, camera_id=camera_id, rule_id=rule_id)
    return Response(status_code=204)


@router.get("/cameras/{camera_id}/detection", response_model=DetectionOut)
def get_detection(
    request: Request, camera_id: uuid.UUID, principal: CurrentPrincipal, db: Db
) -> DetectionOut:
    """How the camera's frames are fed to the detector: its own settings, or the global ones (`own` false)."""
    defaults = get_services(request).settings.analytics
    return analytics.get_detection(session=db, principal=principal, camera_id=camera_id, defaults=defaults)


@router.put("/cameras/{camera_id}/detection", response_model=DetectionOut)
def set_detection(
    request: Request,
    camera_id: uuid.UUID,
    body: DetectionSettings,
    principal: CurrentPrincipal,
    db: Db,
    expected_updated_at: IsoDateTime | None = None,
) -> DetectionOut:
    """Give the camera its own detector settings (they apply within seconds, no restart); with
    `expected_updated_at` (the last `updated_at`), a 409 if they changed since.
    """
    return analytics.set_detection(
        session=db,
        principal=principal,
        camera_id=camera_id,
        settings=body,
        defaults=get_services(request).settings.analytics,
        expected_updated_at=expected_updated_at,
    )


@router.delete("/cameras/{camera_id}/detection", response_model=DetectionOut)
def reset_detection(
    request: Request,
    camera_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: Db,
    expected_updated_at: IsoDateTime | None = None,
) -> DetectionOut:
    """Drop the camera's own detector settings: it follows the global ones again (answered with them)."""
    return analytics.reset_detection(
        session=db,
        principal=principal,
        camera_id=camera_id,
        defaults=get_services(request).settings.analytics,
        expected_updated_at=expected_updated_at,
    )


@router.get("/cameras/{camera_id}/counts", response_model=list[LineCountOut], response_model_by_alias=True)
def get_counts(
    camera_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: Db,
    since: IsoDateTime,
    until: IsoDateTime,
    interval: int = 15,
    rule_id: uuid.UUID | None = None,
) -> list[LineCountOut]:
    """Counts of the camera's counting lines (or of one, `rule_id`): per `interval`-minute bucket starting in
    [since, until), per direction and class; buckets where nothing crossed are left out.
    """
    rows = analytics.line_counts(
        session=db,
        principal=principal,
        camera_id=camera_id,
        interval=interval,
        since=since,
        until=until,
        rule_id=rule_id,
    )
    return [LineCountOut.of(r) for r in rows]


@router.get("/analytics/status", response_model=AnalyticsStatusOut)
def status(request: Request, principal: CurrentPrincipal, db: Db) -> AnalyticsStatusOut:
    """Figures of the analytics this process runs (cameras within the caller's districts only).

    A process that runs no analytics (a web process beside separate workers) answers `running: false`
    with no cameras, rather than an error: the page shows that plainly.
    """
    principal.require(analytics.READ)
    source = get_services(request).analytics
    if source is None:
        return AnalyticsStatusOut(running=False)
    stats = analytics.scoped_stats(session=db, principal=principal, stats=source.stats())
    return AnalyticsStatusOut.model_validate({"running": True, **dataclasses.asdict(stats)})
