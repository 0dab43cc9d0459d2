"""REST API of traffic enforcement: enforcement rules (/api/v1/traffic/enforcement-rules) and traffic signals
with their states (/api/v1/traffic/signals); signal controllers report states here too (signals.report).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from safecity.core.schemas import IsoDateTime
from safecity.traffic.violations import service
from safecity.traffic.violations.schemas import (
    EnforcementRuleIn,
    EnforcementRuleOut,
    EnforcementRuleUpdate,
    SignalIn,
    SignalOut,
    SignalStateIn,
    SignalStateOut,
    SignalUpdate,
    StateOut,
)
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1/traffic", tags=["traffic enforcement"])


@router.get("/enforcement-rules", response_model=list[EnforcementRuleOut])
def list_rules(
    principal: CurrentPrincipal, db: Db, camera_id: uuid.UUID | None = None
) -> list[EnforcementRuleOut]:
    """The enforcement rules on cameras of your districts (traffic.read or challans.review)."""
    rows = service.list_rules(session=db, principal=principal, camera_id=camera_id)
    return [service.rule_out(db, r) for r in rows]


@router.post("/enforcement-rules", response_model=EnforcementRuleOut, status_code=201)
def create_rule(body: EnforcementRuleIn, principal: CurrentPrincipal, db: Db) -> EnforcementRuleOut:
    """Enforce an offence on a camera (traffic.manage): red_light (a line_crossing stop line and a signal),
    over_speed (a calibration or a section), wrong_way, no_parking (a stopped_vehicle zone). no_helmet is
    refused (422 `no_helmet_detector`): no helmet detector is installed.
    """
    return service.rule_out(db, service.create_rule(session=db, principal=principal, data=body))


@router.get("/enforcement-rules/{rule_id}", response_model=EnforcementRuleOut)
def get_rule(rule_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> EnforcementRuleOut:
    """One enforcement rule."""
    return service.rule_out(db, service.get_rule(session=db, principal=principal, rule_id=rule_id))


@router.patch("/enforcement-rules/{rule_id}", response_model=EnforcementRuleOut)
def update_rule(
    rule_id: uuid.UUID, body: EnforcementRuleUpdate, principal: CurrentPrincipal, db: Db
) -> EnforcementRuleOut:
    """Rename a rule, change its parameters, enable or disable it (traffic.manage)."""
    row = service.update_rule(session=db, principal=principal, rule_id=rule_id, data=body)
    return service.rule_out(db, row)


@router.delete("/enforcement-rules/{rule_id}", status_code=204)
def delete_rule(rule_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """Stop enforcing a rule (traffic.manage); its violations stay."""
    service.delete_rule(session=db, principal=principal, rule_id=rule_id)
    return Response(status_code=204)


@router.get("/signals", response_model=list[SignalOut])
def list_signals(principal: CurrentPrincipal, db: Db) -> list[SignalOut]:
    """The signals of your districts with their current state."""
    return service.list_signals(session=db, principal=principal)


@router.post("/signals", response_model=SignalOut, status_code=201)
def create_signal(body: SignalIn, principal: CurrentPrincipal, db: Db) -> SignalOut:
    """Add a signal (traffic.manage): fed by its controller, or read from a lamp region of a camera."""
    return service.create_signal(session=db, principal=principal, data=body)


@router.get("/signals/{signal_id}", response_model=SignalOut)
def get_signal(signal_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> SignalOut:
    """One signal with its current state."""
    return service.get_signal(session=db, principal=principal, signal_id=signal_id)


@router.patch("/signals/{signal_id}", response_model=SignalOut)
def update_signal(signal_id: uuid.UUID, body: SignalUpdate, principal: CurrentPrincipal, db: Db) -> SignalOut:
    """Rename a signal or redraw its lamp region (traffic.manage)."""
    return service.update_signal(session=db, principal=principal, signal_id=signal_id, data=body)


@router.delete("/signals/{signal_id}", status_code=204)
def delete_signal(signal_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """Remove a signal no red-light rule uses (traffic.manage)."""
    service.delete_signal(session=db, principal=principal, signal_id=signal_id)
    return Response(status_code=204)


@router.get("/signals/{signal_id}/states", response_model=list[StateOut])
def signal_states(
    signal_id: uuid.UUID, principal: CurrentPrincipal, db: Db, since: IsoDateTime, until: IsoDateTime
) -> list[StateOut]:
    """The signal's changes of state in [since, until), oldest first, with where each was learnt."""
    rows = service.signal_states(
        session=db, principal=principal, signal_id=signal_id, since=since, until=until
    )
    return [StateOut.model_validate(r) for r in rows]


@router.post("/signals/{signal_id}/state", response_model=SignalStateOut)
def report_state(
    signal_id: uuid.UUID, body: SignalStateIn, principal: CurrentPrincipal, db: Db
) -> SignalStateOut:
    """A signal controller reports the light showing (signals.report); stored only when it changes."""
    return service.report_state(
        session=db, principal=principal, signal_id=signal_id, light=body.light, at=body.at
    )
