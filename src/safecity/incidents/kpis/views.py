"""REST API of the response-time KPIs (/api/v1/kpis)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from safecity.core.schemas import IsoDateTime
from safecity.incidents.kpis import service as kpis
from safecity.incidents.kpis.schemas import ArrivalTarget, Day, DispatchTarget, GoalShare, Report
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["kpis"])


@router.get("/kpis", response_model=Report)
def get_kpis(
    principal: CurrentPrincipal,
    db: Db,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    dispatch_target_s: DispatchTarget = kpis.DEFAULT_DISPATCH_TARGET_S,
    arrival_target_s: ArrivalTarget = kpis.DEFAULT_ARRIVAL_TARGET_S,
    goal_share: GoalShare = kpis.DEFAULT_GOAL_SHARE,
) -> Report:
    """Times to dispatch and to arrive over a period (default: 30 days) per district, category, agency."""
    return kpis.response_report(
        session=db,
        principal=principal,
        since=since,
        until=until,
        dispatch_target_s=dispatch_target_s,
        arrival_target_s=arrival_target_s,
        goal_share=goal_share,
    )


@router.get("/kpis/daily", response_model=list[Day])
def get_daily(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
) -> list[Day]:
    """Per local day: incidents opened and their median times to dispatch and to arrive."""
    zone = get_services(request).settings.timezone
    return kpis.daily(session=db, principal=principal, since=since, until=until, timezone=zone)
