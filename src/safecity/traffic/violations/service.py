"""Traffic enforcement: the rules that turn what cameras saw into offences, the signals red-light rules
consult, and the violations themselves, from their creation (COLLECTING) to their evidence packet (PENDING,
or WITHHELD while their camera is suspended).

Rules and signals are scoped by district (a rule through its camera); changes are audited. Violations
are keyed by what raised them (`source_key`), so a replayed event, passage or speed never makes a second
one. A helmet rule (`no_helmet`) is a plugin slot: no helmet detector can be installed from a package
(see ../shared/MODELS.md), so creating one is refused until a detector plugin provides it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from safecity.analytics.models import AnalyticsRule
from safecity.analytics.plates.models import Sighting
from safecity.analytics.schemas import VEHICLE_NAMES
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import insert_new, utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.events.models import Event
from safecity.events.schemas import EventOut
from safecity.org.models import District
from safecity.traffic import service as traffic
from safecity.traffic.models import Section, SectionPassage, SpeedCalibration
from safecity.traffic.reviews.models import Suspension
from safecity.traffic.speeds import VehicleSpeed
from safecity.traffic.violations.models import (
    EnforcementRule,
    Offence,
    Signal,
    SignalLight,
    SignalSource,
    SignalState,
    Violation,
    ViolationStatus,
)
from safecity.traffic.violations.schemas import (
    PARAMS,
    EnforcementRuleIn,
    EnforcementRuleOut,
    EnforcementRuleUpdate,
    OverSpeedParams,
    RedLightParams,
    SignalIn,
    SignalOut,
    SignalStateOut,
    SignalUpdate,
    utc,
)
from safecity.video.models import Recording
from safecity.video.recorder import MAX_SEGMENT

logger = logging.getLogger(__name__)

READ = "traffic.read"
MANAGE = "traffic.manage"
REVIEW = "challans.review"
REPORT = "signals.report"
# The analytics rule each offence is drawn as.
RULE_KINDS = {
    Offence.RED_LIGHT: "line_crossing",
    Offence.WRONG_WAY: "wrong_way",
    Offence.NO_PARKING: "stopped_vehicle",
}
EVENT_OFFENCES = {f"analytics.{kind}": offence for offence, kind in RULE_KINDS.items()}
NO_HELMET_DETECTOR = (
    "no helmet detector is installed: no helmet model can be had from a package, so a no_helmet rule "
    "needs a detector plugin first"
)
FUTURE_SLACK = dt.timedelta(seconds=5)  # a controller's report may be this far ahead of our clock
MAX_STATES = 5000
# Fine schedule classes by what the detector saw (COCO names); others are kept as seen.
FINE_CLASSES = {"motorcycle": "motorcycle", "car": "car", "bus": "large", "truck": "large"}
SIGHTING_SLACK = dt.timedelta(seconds=2)  # a plate read's pass must cover the offence, within this
HOLD = "violation"  # what keeps a violation's plate sighting past the plates' retention


# --- scope -------------------------------------------------------------------------------------------


def _require_any(principal: Principal, *permissions: str) -> None:
    if not any(principal.can(p) for p in permissions):
        raise PermissionDenied(f"this needs one of the permissions {', '.join(repr(p) for p in permissions)}")


def _camera(session: Session, principal: Principal, camera_id: uuid.UUID) -> Camera:
    camera = session.get(Camera, camera_id)
    if camera is None or not principal.sees_district(camera.district_id):
        raise NotFound("no such camera")
    return camera


def _params(offence: Offence, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        model: BaseModel = PARAMS[offence].model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise InvalidInput(f"bad parameters for {offence.value}: {problems}", code="bad_params") from None
    return model.model_dump(exclude_none=True)


# --- enforcement rules ---------------------------------------------------------------------------------


def _analytics_rule(
    session: Session, camera: Camera, rule_id: uuid.UUID | None, offence: Offence
) -> AnalyticsRule:
    kind = RULE_KINDS[offence]
    if rule_id is None:
        raise InvalidInput(f"a {offence.value} rule needs analytics_rule_id (a {kind} rule)", code="no_rule")
    rule = session.get(AnalyticsRule, rule_id)
    if rule is None or rule.camera_id != camera.id:
        raise InvalidInput("the analytics rule must be one of this camera's", code="rule_not_on_camera")
    if rule.kind != kind:
        raise InvalidInput(
            f"a {offence.value} rule is built on a {kind} rule, not a {rule.kind}", code="wrong_rule_kind"
        )
    if not set(rule.config.get("classes", [])) & set(VEHICLE_NAMES):
        raise InvalidInput(
            f"the analytics rule {rule.name!r} watches no vehicles: add car, motorcycle, bus or truck",
            code="rule_sees_no_vehicles",
        )
    return rule


def _check_refs(
    session: Session, principal: Principal, camera: Camera, data: EnforcementRuleIn
) -> dict[str, Any]:
    """Validate what the rule is built on; its parameters, normalised."""
    offence = data.offence
    if offence == Offence.NO_HELMET:
        raise InvalidInput(NO_HELMET_DETECTOR, code="no_helmet_detector")
    given = {
        "analytics_rule_id": data.analytics_rule_id,
        "signal_id": data.signal_id,
        "calibration_id": data.calibration_id,
        "section_id": data.section_id,
    }
    allowed = {
        Offence.RED_LIGHT: {"analytics_rule_id", "signal_id"},
        Offence.WRONG_WAY: {"analytics_rule_id"},
        Offence.NO_PARKING: {"analytics_rule_id"},
        Offence.OVER_SPEED: {"calibration_id", "section_id"},
    }[offence]
    extra = sorted(k for k, v in given.items() if v is not None and k not in allowed)
    if extra:
        raise InvalidInput(f"a {offence.value} rule takes no {', '.join(extra)}", code="bad_reference")
    params = _params(offence, data.params)
    if offence in RULE_KINDS:
        _analytics_rule(session, camera, data.analytics_rule_id, offence)
    if offence == Offence.RED_LIGHT:
        signal = session.get(Signal, data.signal_id) if data.signal_id else None
        if signal is None or not principal.sees_district(signal.district_id):
            raise InvalidInput(
                "a red_light rule needs signal_id, a signal of your districts", code="no_signal"
            )
        if signal.district_id != camera.district_id:
            raise InvalidInput("the signal must be in the camera's district", code="signal_elsewhere")
    if offence == Offence.OVER_SPEED:
        if (data.calibration_id is None) == (data.section_id is None):
            raise InvalidInput(
                "an over_speed rule needs either calibration_id (two lines) or section_id (two ANPR cameras)",
                code="no_measurement",
            )
        limit: float | None
        if data.calibration_id is not None:
            calibration = session.get(SpeedCalibration, data.calibration_id)
            if calibration is None or calibration.camera_id != camera.id:
                raise InvalidInput(
                    "the calibration must be one of this camera's", code="calibration_elsewhere"
                )
            limit = calibration.speed_limit_kmh
        else:
            section = session.get(Section, data.section_id)
            if section is None or not principal.sees_district(section.district_id):
                raise InvalidInput("no such section in your districts", code="no_section")
            if section.camera_b_id != camera.id:
                raise InvalidInput(
                    "a section's over_speed rule is on the section's exit camera (camera_b)",
                    code="section_elsewhere",
                )
            limit = section.speed_limit_kmh
        if params.get("limit_kmh") is None and limit is None:
            raise InvalidInput(
                "give params.limit_kmh: the calibration has no speed limit of its own", code="no_limit"
            )
    return params


def _duplicate(session: Session, data: EnforcementRuleIn) -> bool:
    query = select(EnforcementRule.id).where(
        EnforcementRule.camera_id == data.camera_id, EnforcementRule.offence == data.offence
    )
    for column, value in (
        (EnforcementRule.analytics_rule_id, data.analytics_rule_id),
        (EnforcementRule.calibration_id, data.calibration_id),
        (EnforcementRule.section_id, data.section_id),
    ):
        query = query.where(column.is_(None) if value is None else column == value)
    return session.scalars(query).first() is not None


def rule_out(session: Session, row: EnforcementRule) -> EnforcementRuleOut:
    """The API's view of a rule, with its camera's, analytics rule's and signal's names."""
    camera = session.get(Camera, row.camera_id)
    drawn = session.get(AnalyticsRule, row.analytics_rule_id) if row.analytics_rule_id else None
    signal = session.get(Signal, row.signal_id) if row.signal_id else None
    out = EnforcementRuleOut.model_validate(row)
    return out.model_copy(
        update={
            "camera_name": camera.name if camera else "",
            "district_id": camera.district_id if camera else None,
            "analytics_rule_name": drawn.name if drawn else None,
            "signal_name": signal.name if signal else None,
        }
    )


def create_rule(*, session: Session, principal: Principal, data: EnforcementRuleIn) -> EnforcementRule:
    """Enforce an offence on a camera (traffic.manage in its district); audited."""
    principal.require(MANAGE)
    camera = _camera(session, principal, data.camera_id)
    params = _check_refs(session, principal, camera, data)
    if _duplicate(session, data):
        raise Conflict(
            "this offence is already enforced with that rule on this camera", code="duplicate_rule"
        )
    row = EnforcementRule(
        name=data.name,
        camera_id=camera.id,
        offence=data.offence,
        analytics_rule_id=data.analytics_rule_id,
        signal_id=data.signal_id,
        calibration_id=data.calibration_id,
        section_id=data.section_id,
        params=params,
        enabled=data.enabled,
        created_by=principal.user_id,
    )
    session.add(row)
    session.flush()
    traffic.audit_change(
        session,
        principal,
        "traffic.enforcement_rule.create",
        "traffic_enforcement_rule",
        row.id,
        camera.district_id,
        {"offence": data.offence.value, "camera_id": str(camera.id), "params": params},
    )
    return row


def list_rules(
    *, session: Session, principal: Principal, camera_id: uuid.UUID | None = None
) -> list[EnforcementRule]:
    """The rules on cameras of the principal's districts (traffic.read or challans.review), by name."""
    _require_any(principal, READ, REVIEW)
    query = (
        select(EnforcementRule)
        .join(Camera, Camera.id == EnforcementRule.camera_id)
        .where(principal.district_filter(Camera.district_id))
    )
    if camera_id is not None:
        query = query.where(EnforcementRule.camera_id == camera_id)
    return list(session.scalars(query.order_by(Camera.name, EnforcementRule.name)))


def get_rule(
    *, session: Session, principal: Principal, rule_id: uuid.UUID, manage: bool = False
) -> EnforcementRule:
    """One rule of the principal's districts."""
    if manage:
        principal.require(MANAGE)
    else:
        _require_any(principal, READ, REVIEW)
    row = session.get(EnforcementRule, rule_id)
    if row is None:
        raise NotFound("no such enforcement rule")
    _camera(session, principal, row.camera_id)
    return row


def update_rule(
    *, session: Session, principal: Principal, rule_id: uuid.UUID, data: EnforcementRuleUpdate
) -> EnforcementRule:
    """Rename, re-parameterise, enable or disable a rule; audited with what changed."""
    row = get_rule(session=session, principal=principal, rule_id=rule_id, manage=True)
    changed: dict[str, Any] = {}
    if data.name is not None and data.name != row.name:
        changed["name"] = {"from": row.name, "to": data.name}
        row.name = data.name
    if data.params is not None:
        params = _params(row.offence, data.params)
        if row.offence == Offence.OVER_SPEED and params.get("limit_kmh") is None:
            calibration = session.get(SpeedCalibration, row.calibration_id) if row.calibration_id else None
            if calibration is not None and calibration.speed_limit_kmh is None:
                raise InvalidInput("give params.limit_kmh: the calibration has no limit", code="no_limit")
        if params != row.params:
            changed["params"] = {"from": row.params, "to": params}
            row.params = params
    if data.enabled is not None and data.enabled != row.enabled:
        changed["enabled"] = {"from": row.enabled, "to": data.enabled}
        row.enabled = data.enabled
    session.flush()
    if changed:
        camera = session.get(Camera, row.camera_id)
        traffic.audit_change(
            session,
            principal,
            "traffic.enforcement_rule.update",
            "traffic_enforcement_rule",
            row.id,
            camera.district_id if camera else None,
            changed,
        )
    return row


def delete_rule(*, session: Session, principal: Principal, rule_id: uuid.UUID) -> None:
    """Stop enforcing a rule (its violations stay, unlinked); audited."""
    row = get_rule(session=session, principal=principal, rule_id=rule_id, manage=True)
    camera = session.get(Camera, row.camera_id)
    detail = {"offence": row.offence.value, "name": row.name, "camera_id": str(row.camera_id)}
    session.delete(row)
    session.flush()
    traffic.audit_change(
        session,
        principal,
        "traffic.enforcement_rule.delete",
        "traffic_enforcement_rule",
        rule_id,
        camera.district_id if camera else None,
        detail,
    )


# --- signals ---------------------------------------------------------------------------------------------


def _signal(session: Session, principal: Principal, signal_id: uuid.UUID) -> Signal:
    row = session.get(Signal, signal_id)
    if row is None or not principal.sees_district(row.district_id):
        raise NotFound("no such signal")
    return row


def state_at(
    *, session: Session, signal_id: uuid.UUID, at: dt.datetime
) -> tuple[SignalLight, str | None, dt.datetime | None]:
    """The signal's light at `at`: (light, where it was learnt, since when); UNKNOWN with no report yet.

    `since` is when the light began showing: the start of the run of stored states of that light (a
    report that arrived late may sit between two of the same).
    """
    latest = session.scalars(
        select(SignalState)
        .where(SignalState.signal_id == signal_id, SignalState.at <= at)
        .order_by(SignalState.at.desc())
        .limit(1)
    ).first()
    if latest is None:
        return SignalLight.UNKNOWN, None, None
    before = session.scalars(
        select(SignalState.at)
        .where(
            SignalState.signal_id == signal_id, SignalState.at < latest.at, SignalState.light != latest.light
        )
        .order_by(SignalState.at.desc())
        .limit(1)
    ).first()
    query = select(SignalState.at).where(SignalState.signal_id == signal_id, SignalState.at <= latest.at)
    if before is not None:
        query = query.where(SignalState.at > before)
    since = session.scalars(query.order_by(SignalState.at).limit(1)).first() or latest.at
    return latest.light, latest.source, since


def record_state(
    *, session: Session, signal_id: uuid.UUID, light: SignalLight, at: dt.datetime, source: str
) -> bool:
    """Store a reported light as a change of the signal's state, only if it differs from the light then
    showing; whether it was stored. Does not commit.
    """
    current, _, _ = state_at(session=session, signal_id=signal_id, at=at)
    if current == light:
        return False
    try:
        with session.begin_nested():
            session.add(SignalState(signal_id=signal_id, at=at, light=light, source=source))
            session.flush()
    except IntegrityError:  # a state at that very moment is stored already (or the signal went away)
        return False
    return True


def report_state(
    *,
    session: Session,
    principal: Principal,
    signal_id: uuid.UUID,
    light: SignalLight,
    at: dt.datetime | None,
) -> SignalStateOut:
    """A signal controller's report by API (signals.report in the signal's district)."""
    principal.require(REPORT)
    signal = _signal(session, principal, signal_id)
    now = utcnow()
    moment = now if at is None else utc(at)
    if moment > now + FUTURE_SLACK:
        raise InvalidInput(
            "the state's time is in the future: check the controller's clock", code="future_state"
        )
    if signal.source != SignalSource.CONTROLLER:
        raise Conflict("this signal's state is read from its lamps by a camera", code="lamp_signal")
    changed = record_state(session=session, signal_id=signal.id, light=light, at=moment, source="api")
    shown, source, since = state_at(session=session, signal_id=signal.id, at=max(moment, now))
    return SignalStateOut(signal_id=signal.id, light=shown, source=source, since=since, changed=changed)


def controller_report(
    *, session: Session, signal_id: uuid.UUID, light: SignalLight, at: dt.datetime | None, source: str
) -> bool:
    """A report that came by MQTT (the broker's access control vouches for it); whether it was a change."""
    signal = session.get(Signal, signal_id)
    if signal is None:
        raise NotFound("no such signal", code="no_signal")
    if signal.source != SignalSource.CONTROLLER:
        raise Conflict("this signal's state is read from its lamps", code="lamp_signal")
    now = utcnow()
    moment = now if at is None else utc(at)
    if moment > now + FUTURE_SLACK:
        raise InvalidInput("the state's time is in the future", code="future_state")
    return record_state(session=session, signal_id=signal.id, light=light, at=moment, source=source)


def _signal_out(session: Session, row: Signal, now: dt.datetime) -> SignalOut:
    light, source, since = state_at(session=session, signal_id=row.id, at=now)
    out = SignalOut.model_validate(row)
    return out.model_copy(
        update={"state": SignalStateOut(signal_id=row.id, light=light, source=source, since=since)}
    )


def _check_lamp(
    session: Session, principal: Principal, source: SignalSource, camera_id: uuid.UUID | None, region: object
) -> Camera | None:
    camera = _camera(session, principal, camera_id) if camera_id is not None else None
    if source == SignalSource.LAMP and (camera is None or region is None):
        raise InvalidInput(
            "a lamp-read signal needs camera_id and lamp_region (the lamps drawn on its picture)",
            code="no_lamp_region",
        )
    return camera


def create_signal(*, session: Session, principal: Principal, data: SignalIn) -> SignalOut:
    """Add a signal (traffic.manage in its district); audited."""
    principal.require(MANAGE)
    camera = _check_lamp(session, principal, data.source, data.camera_id, data.lamp_region)
    district = camera.district_id if camera is not None else data.district_id
    if district is None:
        raise InvalidInput("give district_id (or the camera that sees the signal)", code="no_district")
    if camera is not None and data.district_id is not None and data.district_id != camera.district_id:
        raise InvalidInput("the signal's district is its camera's", code="district_mismatch")
    if not principal.sees_district(district) or session.get(District, district) is None:
        raise NotFound("no such district")
    if session.scalars(select(Signal.id).where(Signal.name == data.name)).first() is not None:
        raise Conflict(f"a signal named {data.name!r} exists", code="duplicate_signal_name")
    row = Signal(
        name=data.name,
        district_id=district,
        source=data.source,
        camera_id=camera.id if camera is not None else None,
        lamp_region=[[x, y] for x, y in data.lamp_region] if data.lamp_region else None,
    )
    session.add(row)
    session.flush()
    traffic.audit_change(
        session,
        principal,
        "traffic.signal.create",
        "traffic_signal",
        row.id,
        district,
        {"source": row.source.value},
    )
    return _signal_out(session, row, utcnow())


def list_signals(*, session: Session, principal: Principal) -> list[SignalOut]:
    """The signals of the principal's districts with their current state, by name."""
    _require_any(principal, READ, REVIEW)
    query = select(Signal).where(principal.district_filter(Signal.district_id)).order_by(Signal.name)
    now = utcnow()
    return [_signal_out(session, row, now) for row in session.scalars(query)]


def get_signal(*, session: Session, principal: Principal, signal_id: uuid.UUID) -> SignalOut:
    """One signal with its current state."""
    _require_any(principal, READ, REVIEW)
    return _signal_out(session, _signal(session, principal, signal_id), utcnow())


def update_signal(
    *, session: Session, principal: Principal, signal_id: uuid.UUID, data: SignalUpdate
) -> SignalOut:
    """Rename a signal or redraw its lamp region; audited."""
    principal.require(MANAGE)
    row = _signal(session, principal, signal_id)
    changed: dict[str, Any] = {}
    if data.name is not None and data.name != row.name:
        taken = select(Signal.id).where(Signal.name == data.name, Signal.id != row.id)
        if session.scalars(taken).first() is not None:
            raise Conflict(f"a signal named {data.name!r} exists", code="duplicate_signal_name")
        changed["name"] = {"from": row.name, "to": data.name}
        row.name = data.name
    if data.lamp_region is not None:
        if row.source != SignalSource.LAMP:
            raise InvalidInput("only a lamp-read signal has a lamp region", code="not_a_lamp_signal")
        changed["lamp_region"] = True
        row.lamp_region = [[x, y] for x, y in data.lamp_region]
    session.flush()
    if changed:
        traffic.audit_change(
            session, principal, "traffic.signal.update", "traffic_signal", row.id, row.district_id, changed
        )
    return _signal_out(session, row, utcnow())


def delete_signal(*, session: Session, principal: Principal, signal_id: uuid.UUID) -> None:
    """Remove a signal no rule uses (its states go with it); audited."""
    principal.require(MANAGE)
    row = _signal(session, principal, signal_id)
    if session.scalars(select(EnforcementRule.id).where(EnforcementRule.signal_id == row.id)).first():
        raise Conflict("a red-light rule uses this signal: remove the rule first", code="signal_in_use")
    district = row.district_id
    session.delete(row)
    session.flush()
    traffic.audit_change(session, principal, "traffic.signal.delete", "traffic_signal", signal_id, district)


def signal_states(
    *, session: Session, principal: Principal, signal_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[SignalState]:
    """The signal's changes of state in [since, until), oldest first."""
    _require_any(principal, READ, REVIEW)
    row = _signal(session, principal, signal_id)
    if until <= since:
        raise InvalidInput("the end of the period must be after its start", code="bad_period")
    query = (
        select(SignalState)
        .where(SignalState.signal_id == row.id, SignalState.at >= since, SignalState.at < until)
        .order_by(SignalState.at)
        .limit(MAX_STATES)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class LampSignal:
    """A lamp-read signal as the watcher samples it."""

    id: uuid.UUID
    camera_id: uuid.UUID
    region: tuple[tuple[float, float], ...]


def lamp_signals(*, session: Session) -> list[LampSignal]:
    """Every lamp-read signal with its camera and region (no principal: the system's watcher)."""
    query = select(Signal).where(Signal.source == SignalSource.LAMP, Signal.camera_id.is_not(None))
    return [
        LampSignal(row.id, row.camera_id, tuple((float(x), float(y)) for x, y in row.lamp_region))
        for row in session.scalars(query)
        if row.camera_id is not None and row.lamp_region
    ]


# --- the page's choices ---------------------------------------------------------------------------------


@dataclass
class CameraChoices:
    """A camera of the reader's districts with what enforcement rules may be built on, and its rules."""

    camera: Camera
    lines: list[AnalyticsRule] = field(default_factory=list)  # line crossings: stop lines
    wrong_way: list[AnalyticsRule] = field(default_factory=list)
    stopped: list[AnalyticsRule] = field(default_factory=list)
    calibrations: list[SpeedCalibration] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)  # ending at this camera
    rules: list[EnforcementRuleOut] = field(default_factory=list)


def camera_choices(*, session: Session, principal: Principal) -> list[CameraChoices]:
    """The cameras of the principal's districts that have something to enforce on, or rules, by name."""
    _require_any(principal, READ, REVIEW)
    cameras = {
        c.id: CameraChoices(c)
        for c in session.scalars(
            select(Camera).where(principal.district_filter(Camera.district_id)).order_by(Camera.name)
        )
    }
    ids = set(cameras)
    kinds = {"line_crossing": "lines", "wrong_way": "wrong_way", "stopped_vehicle": "stopped"}
    drawn = select(AnalyticsRule).where(AnalyticsRule.camera_id.in_(ids), AnalyticsRule.kind.in_(kinds))
    for rule in session.scalars(drawn.order_by(AnalyticsRule.name)):
        getattr(cameras[rule.camera_id], kinds[rule.kind]).append(rule)
    for calibration in session.scalars(select(SpeedCalibration).where(SpeedCalibration.camera_id.in_(ids))):
        cameras[calibration.camera_id].calibrations.append(calibration)
    for section in session.scalars(
        select(Section).where(Section.camera_b_id.in_(ids)).order_by(Section.name)
    ):
        cameras[section.camera_b_id].sections.append(section)
    for enforced in list_rules(session=session, principal=principal):
        cameras[enforced.camera_id].rules.append(rule_out(session, enforced))
    return [
        c
        for c in cameras.values()
        if c.rules or c.lines or c.wrong_way or c.stopped or c.calibrations or c.sections
    ]


def districts(*, session: Session, principal: Principal) -> list[District]:
    """The districts a signal of this principal may be in, by name."""
    query = select(District).where(principal.district_filter(District.id)).order_by(District.name)
    return list(session.scalars(query))


# --- violations: creation ------------------------------------------------------------------------------


def fine_class(detected: str | None) -> str | None:
    """The fine schedule's vehicle class of what the detector saw (kept as seen when it has none)."""
    if detected is None:
        return None
    return FINE_CLASSES.get(detected, detected)


def _violation_values(
    *,
    source_key: str,
    rule: EnforcementRule,
    camera: Camera,
    occurred_at: dt.datetime,
    measured: dict[str, Any],
    track_id: int | None = None,
    box: list[float] | None = None,
    event_id: uuid.UUID | None = None,
    detected_class: str | None = None,
    colour: str | None = None,
    sighting_id: uuid.UUID | None = None,
    plate_read: str | None = None,
    plate_confidence: float | None = None,
) -> dict[str, Any]:
    """A new violation's columns (COLLECTING, with a new id)."""
    return {
        "id": uuid.uuid4(),
        "source_key": source_key,
        "rule_id": rule.id,
        "offence": rule.offence,
        "camera_id": camera.id,
        "district_id": camera.district_id,
        "occurred_at": occurred_at,
        "status": ViolationStatus.COLLECTING,
        "track_id": track_id,
        "box": box,
        "event_id": event_id,
        "sighting_id": sighting_id,
        "plate_read": plate_read,
        "plate_confidence": plate_confidence,
        "vehicle_class": fine_class(detected_class),
        "colour": colour,
        "measured": {**measured, "detected_class": detected_class},
        "evidence": {},
        "version": 0,
        "created_at": utcnow(),
    }


def create_violation(
    *,
    session: Session,
    source_key: str,
    rule: EnforcementRule,
    camera: Camera,
    occurred_at: dt.datetime,
    measured: dict[str, Any],
    track_id: int | None = None,
    box: list[float] | None = None,
    event_id: uuid.UUID | None = None,
    detected_class: str | None = None,
    colour: str | None = None,
    sighting_id: uuid.UUID | None = None,
    plate_read: str | None = None,
    plate_confidence: float | None = None,
) -> Violation | None:
    """Store a violation (COLLECTING), unless one with this `source_key` exists; None then. Does not commit.

    The insert runs in a savepoint: two deliveries of one event racing each other give one violation, and
    the loser's transaction goes on.
    """
    if session.scalars(select(Violation.id).where(Violation.source_key == source_key)).first() is not None:
        return None
    row = Violation(
        **_violation_values(
            source_key=source_key,
            rule=rule,
            camera=camera,
            occurred_at=occurred_at,
            measured=measured,
            track_id=track_id,
            box=box,
            event_id=event_id,
            detected_class=detected_class,
            colour=colour,
            sighting_id=sighting_id,
            plate_read=plate_read,
            plate_confidence=plate_confidence,
        )
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def _enabled(session: Session, *conditions: Any) -> list[EnforcementRule]:
    query = select(EnforcementRule).where(EnforcementRule.enabled.is_(True), *conditions)
    return list(session.scalars(query))


def _red_light(
    session: Session, rule: EnforcementRule, at: dt.datetime, max_age_s: float, history: SignalHistory
) -> dict[str, Any] | None:
    """The signal's state when the stop line was crossed, if it makes the crossing an offence."""
    if rule.signal_id is None:
        return None
    light, source, since = history.state_at(session, at)
    name = history.name
    if light != SignalLight.RED or since is None:
        logger.info(
            "rule %s: stop line crossed on %s (signal %s); no red-light violation", rule.id, light.value, name
        )
        return None
    into = (at - since).total_seconds()
    if into > max_age_s:
        logger.warning(
            "rule %s: signal %s has shown red for %.0f s, over %.0f s: a stale state, no violation",
            rule.id,
            name,
            into,
            max_age_s,
        )
        return None
    params = RedLightParams.model_validate(rule.params)
    if into < params.min_red_s:
        logger.info(
            "rule %s: crossed %.2f s into red, within the %.2f s allowed", rule.id, into, params.min_red_s
        )
        return None
    return {
        "light": light.value,
        "source": source,
        "red_since": since.isoformat(),
        "seconds_into_red": round(into, 3),
        "signal_id": str(rule.signal_id),
        "signal_name": name,
        "min_red_s": params.min_red_s,
    }


def _colour(obj: dict[str, Any]) -> str | None:
    track = obj.get("track")
    found = track.get("colour") if isinstance(track, dict) else None
    found = found or obj.get("colour")
    return str(found)[:32] if found else None


@dataclass
class SignalHistory:
    """A signal's states over a batch of events, read at once: those from `max_age_s` before the first
    event to the last, after the latest one before them (`bounded`: there is one)."""

    signal_id: uuid.UUID
    name: str
    states: list[SignalState]
    bounded: bool

    @classmethod
    def read(
        cls, session: Session, signal_id: uuid.UUID, first: dt.datetime, last: dt.datetime, max_age_s: float
    ) -> SignalHistory:
        """The states an event between `first` and `last` may need (two queries)."""
        start = first - dt.timedelta(seconds=max_age_s)
        before = session.scalars(
            select(SignalState)
            .where(SignalState.signal_id == signal_id, SignalState.at <= start)
            .order_by(SignalState.at.desc())
            .limit(1)
        ).first()
        window = session.scalars(
            select(SignalState)
            .where(SignalState.signal_id == signal_id, SignalState.at > start, SignalState.at <= last)
            .order_by(SignalState.at)
        ).all()
        signal = session.get(Signal, signal_id)
        name = signal.name if signal is not None else str(signal_id)
        return cls(
            signal_id, name, ([before] if before is not None else []) + list(window), before is not None
        )

    def state_at(
        self, session: Session, at: dt.datetime
    ) -> tuple[SignalLight, str | None, dt.datetime | None]:
        """What `state_at` answers for `at`, from the states read; a light that began before them (older
        than `max_age_s`: stale) is asked of the database, so its start is exact."""
        index = bisect.bisect_right([s.at for s in self.states], at) - 1
        if index < 0:
            return SignalLight.UNKNOWN, None, None
        latest = self.states[index]
        first = index
        while first > 0 and self.states[first - 1].light == latest.light:
            first -= 1
        if first == 0 and self.bounded:
            return state_at(session=session, signal_id=self.signal_id, at=at)
        return latest.light, latest.source, self.states[first].at


@dataclass
class _Crossing:
    """An analytics event that names vehicles under enabled rules, with what they refer to."""

    event: EventOut
    at: dt.datetime
    rules: list[EnforcementRule]
    camera: Camera
    drawn: AnalyticsRule
    vehicles: list[dict[str, Any]]
    detail: dict[str, Any]


def _crossing(session: Session, event: EventOut, known: dict[Any, Any]) -> _Crossing | None:
    """The event's enabled rules, camera and drawn rule (each read once a batch, kept in `known`)."""
    offence = EVENT_OFFENCES.get(event.kind)
    payload = event.payload
    if offence is None or event.camera_id is None:
        return None
    try:
        drawn_id = uuid.UUID(str(payload.get("rule_id")))
    except ValueError:
        return None
    key = ("rules", drawn_id, event.camera_id, offence)
    if key not in known:
        known[key] = _enabled(
            session,
            EnforcementRule.analytics_rule_id == drawn_id,
            EnforcementRule.camera_id == event.camera_id,
            EnforcementRule.offence == offence,
        )
    rules: list[EnforcementRule] = known[key]
    if not rules:
        return None
    for model, row_id in ((Camera, event.camera_id), (AnalyticsRule, drawn_id)):
        if (model, row_id) not in known:
            known[model, row_id] = session.get(model, row_id)
    camera, drawn = known[Camera, event.camera_id], known[AnalyticsRule, drawn_id]
    if camera is None or drawn is None:
        return None
    objects = payload.get("objects")
    vehicles = [
        o
        for o in (objects if isinstance(objects, list) else [])
        if isinstance(o, dict) and o.get("class") in VEHICLE_NAMES
    ]
    raw = payload.get("detail")
    return _Crossing(
        event, utc(event.occurred_at), rules, camera, drawn, vehicles, raw if isinstance(raw, dict) else {}
    )


def _violations_of(
    session: Session, found: _Crossing, histories: dict[uuid.UUID, SignalHistory], max_signal_age_s: float
) -> list[dict[str, Any]]:
    """The new violations' columns of one event: one per vehicle and rule whose offence it proves."""
    event, at, detail, drawn = found.event, found.at, found.detail, found.drawn
    made: list[dict[str, Any]] = []
    for rule in found.rules:
        measured: dict[str, Any] | None
        if rule.offence == Offence.RED_LIGHT:
            history = histories.get(rule.signal_id) if rule.signal_id is not None else None
            measured = None if history is None else _red_light(session, rule, at, max_signal_age_s, history)
            if measured is not None:
                measured["direction"] = detail.get("direction")
        elif rule.offence == Offence.WRONG_WAY:
            measured = {"angle_deg": detail.get("angle_deg"), "direction": drawn.config.get("direction")}
        else:
            measured = {"grace_s": drawn.config.get("dwell_s"), "stopped_s": detail.get("stopped_s")}
        if measured is None:
            continue
        for index, obj in enumerate(found.vehicles):
            track = obj.get("track_id")
            track_id = int(track) if isinstance(track, int) else None
            box = obj.get("box")
            made.append(
                _violation_values(
                    source_key=f"event:{event.id}:{track_id if track_id is not None else f'#{index}'}",
                    rule=rule,
                    camera=found.camera,
                    occurred_at=at,
                    measured=measured,
                    track_id=track_id,
                    box=[float(v) for v in box] if isinstance(box, list) and len(box) == 4 else None,
                    event_id=event.id,
                    detected_class=str(obj.get("class")),
                    colour=_colour(obj),
                )
            )
    return made


def from_events(*, session: Session, events: Sequence[EventOut], max_signal_age_s: float) -> list[Violation]:
    """The violations analytics events make under the enabled rules built on their rules: one per vehicle
    an event names (a red-light crossing only while its signal showed red). Does not commit.

    A burst is checked in a few statements: each rule, camera and drawn rule read once, each signal's
    states over the burst's span read once, and the violations inserted together, skipping those whose
    event was seen before (a replayed event makes none; two deliveries racing make one). An event that
    fails for anything but the database is logged and skipped.
    """
    known: dict[Any, Any] = {}
    crossings: list[_Crossing] = []
    for event in events:
        try:
            found = _crossing(session, event, known)
        except SQLAlchemyError:
            raise
        except Exception:  # a bug for this event must not stop the others
            logger.exception("event %s could not be checked for violations; dropped", event.id)
            continue
        if found is not None:
            crossings.append(found)
    times: dict[uuid.UUID, list[dt.datetime]] = {}
    for found in crossings:
        for rule in found.rules:
            if rule.offence == Offence.RED_LIGHT and rule.signal_id is not None:
                times.setdefault(rule.signal_id, []).append(found.at)
    histories = {
        signal_id: SignalHistory.read(session, signal_id, min(moments), max(moments), max_signal_age_s)
        for signal_id, moments in times.items()
    }
    rows: dict[str, dict[str, Any]] = {}
    for found in crossings:
        try:
            made = _violations_of(session, found, histories, max_signal_age_s)
        except SQLAlchemyError:
            raise
        except Exception:
            logger.exception("event %s could not be checked for violations; dropped", found.event.id)
            continue
        for values in made:
            rows.setdefault(values["source_key"], values)
    ids = set(insert_new(session, Violation, list(rows.values()), key="source_key"))
    if not ids:
        return []
    stored = {row.id: row for row in session.scalars(select(Violation).where(Violation.id.in_(ids)))}
    return [stored[values["id"]] for values in rows.values() if values["id"] in stored]


def from_event(*, session: Session, event: EventOut, max_signal_age_s: float) -> list[Violation]:
    """The violations one analytics event makes (`from_events` of it alone). Does not commit."""
    return from_events(session=session, events=[event], max_signal_age_s=max_signal_age_s)


def _limit(rule: EnforcementRule, default: float | None) -> tuple[float, float] | None:
    params = OverSpeedParams.model_validate(rule.params)
    limit = params.limit_kmh if params.limit_kmh is not None else default
    return None if limit is None else (limit, params.tolerance_kmh)


def record_speeds(*, session: Session, speeds: Sequence[VehicleSpeed]) -> list[Violation]:
    """Over-speed violations of the vehicles measured between calibrated lines over their rule's limit
    plus tolerance (called in the transaction that writes the speeds). Does not commit.

    A database error is raised (the caller retries the whole write); any other failure is logged and
    leaves the speeds to be written without violations, so a fault here never stops speed measurement.
    """
    try:
        return _record_speeds(session, speeds)
    except SQLAlchemyError:
        raise
    except Exception:
        logger.exception("over-speed violations of %d speeds not made", len(speeds))
        return []


def _record_speeds(session: Session, speeds: Sequence[VehicleSpeed]) -> list[Violation]:
    by_calibration: dict[uuid.UUID, list[EnforcementRule]] = {}
    ids = {s.calibration.id for s in speeds}
    if not ids:
        return []
    for rule in _enabled(
        session, EnforcementRule.offence == Offence.OVER_SPEED, EnforcementRule.calibration_id.in_(ids)
    ):
        if rule.calibration_id is not None:
            by_calibration.setdefault(rule.calibration_id, []).append(rule)
    made: list[Violation] = []
    for speed in speeds:
        for rule in by_calibration.get(speed.calibration.id, []):
            calibration = session.get(SpeedCalibration, speed.calibration.id)
            camera = session.get(Camera, rule.camera_id)
            limits = _limit(rule, calibration.speed_limit_kmh if calibration else None)
            if calibration is None or camera is None or limits is None:
                continue
            limit, tolerance = limits
            if speed.kmh <= limit + tolerance:
                continue
            row = create_violation(
                session=session,
                source_key=f"speed:{calibration.id}:{speed.track_id}:{utc(speed.at).isoformat()}",
                rule=rule,
                camera=camera,
                occurred_at=utc(speed.at),
                measured={
                    "method": "two_lines",
                    "speed_kmh": round(speed.kmh, 1),
                    "limit_kmh": limit,
                    "tolerance_kmh": tolerance,
                    "direction": speed.direction,
                    "calibration": {
                        "id": str(calibration.id),
                        "line_a_id": str(calibration.line_a_id),
                        "line_b_id": str(calibration.line_b_id),
                        "distance_m": calibration.distance_m,
                        "speed_limit_kmh": calibration.speed_limit_kmh,
                        "updated_at": calibration.updated_at.isoformat(),
                    },
                },
                track_id=speed.track_id,
                detected_class=speed.class_name,
            )
            if row is not None:
                made.append(row)
    return made


def record_passages(*, session: Session, passages: Sequence[SectionPassage]) -> list[Violation]:
    """Over-speed violations of section passages over their rule's limit plus tolerance, at the exit
    camera with the exit read as the plate (called in the transaction that stores the passages; errors
    as for `record_speeds`).
    """
    try:
        return _record_passages(session, passages)
    except SQLAlchemyError:
        raise
    except Exception:
        logger.exception("over-speed violations of %d section passages not made", len(passages))
        return []


def _record_passages(session: Session, passages: Sequence[SectionPassage]) -> list[Violation]:
    ids = {p.section_id for p in passages}
    if not ids:
        return []
    by_section: dict[uuid.UUID, list[EnforcementRule]] = {}
    for rule in _enabled(
        session, EnforcementRule.offence == Offence.OVER_SPEED, EnforcementRule.section_id.in_(ids)
    ):
        if rule.section_id is not None:
            by_section.setdefault(rule.section_id, []).append(rule)
    made: list[Violation] = []
    for passage in passages:
        for rule in by_section.get(passage.section_id, []):
            section = session.get(Section, passage.section_id)
            camera = session.get(Camera, rule.camera_id)
            limits = _limit(rule, section.speed_limit_kmh if section else None)
            if section is None or camera is None or limits is None:
                continue
            limit, tolerance = limits
            if passage.speed_kmh <= limit + tolerance:
                continue
            exit_read = session.get(Sighting, passage.sighting_b_id)
            row = create_violation(
                session=session,
                source_key=f"passage:{passage.id}",
                rule=rule,
                camera=camera,
                occurred_at=passage.exited_at,
                measured={
                    "method": "section",
                    "speed_kmh": round(passage.speed_kmh, 1),
                    "limit_kmh": limit,
                    "tolerance_kmh": tolerance,
                    "entered_at": passage.entered_at.isoformat(),
                    "exited_at": passage.exited_at.isoformat(),
                    "travel_s": round((passage.exited_at - passage.entered_at).total_seconds(), 3),
                    "passage_id": str(passage.id),
                    "sighting_a_id": str(passage.sighting_a_id),
                    "sighting_b_id": str(passage.sighting_b_id),
                    "section": {
                        "id": str(section.id),
                        "name": section.name,
                        "camera_a_id": str(section.camera_a_id),
                        "camera_b_id": str(section.camera_b_id),
                        "distance_m": section.distance_m,
                        "speed_limit_kmh": section.speed_limit_kmh,
                        "max_travel_s": section.max_travel_s,
                    },
                },
                track_id=exit_read.track_id if exit_read else None,
                detected_class=passage.vehicle_class,
                colour=exit_read.colour if exit_read else None,
                sighting_id=passage.sighting_b_id,
                plate_read=passage.plate,
                plate_confidence=exit_read.confidence if exit_read else None,
            )
            if row is not None:
                made.append(row)
    return made


# --- violations: evidence --------------------------------------------------------------------------------


def due_for_evidence(
    *,
    session: Session,
    before: dt.datetime,
    limit: int = 100,
    camera_ids: Collection[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """COLLECTING violations that happened before `before` (their clip's end has passed), oldest first;
    only those of `camera_ids` when given."""
    query = (
        select(Violation.id)
        .where(Violation.status == ViolationStatus.COLLECTING, Violation.occurred_at <= before)
        .order_by(Violation.occurred_at)
        .limit(limit)
    )
    if camera_ids is not None:
        query = query.where(Violation.camera_id.in_(camera_ids))
    return list(session.scalars(query))


@dataclass(frozen=True)
class PlateRef:
    """The plate read of a violation's vehicle: its sighting."""

    id: uuid.UUID
    plate: str | None
    confidence: float
    alternatives: list[dict[str, Any]]
    crop: str | None  # under the snapshots directory
    vehicle: str | None  # the vehicle's picture, same place


@dataclass(frozen=True)
class EvidencePlan:
    """What a violation's packet is built from, read from the database in one go."""

    violation_id: uuid.UUID
    camera_id: uuid.UUID
    district_id: uuid.UUID
    occurred_at: dt.datetime
    offence: Offence
    track_id: int | None
    box: tuple[float, float, float, float] | None
    frame_size: tuple[int, int] | None  # the analytics frame the box is in
    snapshot: str | None  # the event's snapshot, under the snapshots directory
    others: tuple[tuple[float, float, float, float], ...]  # the event's other objects
    plate: PlateRef | None
    segments: tuple[tuple[str, dt.datetime], ...]  # recorded files (under recordings) and their starts
    keep_sharp: tuple[tuple[float, float], ...] | None  # the signal's lamps, kept sharp in public copies
    manifest: dict[str, Any]  # rule, measured, camera, time: the manifest's parts known from the database


def find_sighting(
    *, session: Session, camera_id: uuid.UUID, track_id: int | None, at: dt.datetime
) -> Sighting | None:
    """The plate read of the camera's track whose pass covers `at` (the latest, if several)."""
    if track_id is None:
        return None
    query = (
        select(Sighting)
        .where(
            Sighting.camera_id == camera_id,
            Sighting.track_id == track_id,
            Sighting.first_seen <= at + SIGHTING_SLACK,
            Sighting.last_seen >= at - SIGHTING_SLACK,
        )
        .order_by(Sighting.seen_at.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _box(value: object) -> tuple[float, float, float, float] | None:
    if isinstance(value, list | tuple) and len(value) == 4 and all(isinstance(v, int | float) for v in value):
        x1, y1, x2, y2 = (float(v) for v in value)
        return (x1, y1, x2, y2)
    return None


def _rule_part(session: Session, row: Violation) -> dict[str, Any]:
    rule = session.get(EnforcementRule, row.rule_id) if row.rule_id else None
    if rule is None:
        return {"id": None, "offence": row.offence.value}
    part: dict[str, Any] = {
        "id": str(rule.id),
        "name": rule.name,
        "offence": rule.offence.value,
        "params": rule.params,
    }
    drawn = session.get(AnalyticsRule, rule.analytics_rule_id) if rule.analytics_rule_id else None
    if drawn is not None:
        part["analytics_rule"] = {
            "id": str(drawn.id),
            "name": drawn.name,
            "kind": drawn.kind,
            "config": drawn.config,
        }
    signal = session.get(Signal, rule.signal_id) if rule.signal_id else None
    if signal is not None:
        part["signal"] = {"id": str(signal.id), "name": signal.name, "source": signal.source.value}
    if rule.calibration_id is not None:
        part["calibration_id"] = str(rule.calibration_id)
    if rule.section_id is not None:
        part["section_id"] = str(rule.section_id)
    return part


def preload(*, session: Session, violation_ids: Sequence[uuid.UUID]) -> list[Violation]:
    """The violations and their analytics events, read in two queries: `plan_evidence` then finds them in
    the session (while the caller keeps the rows returned, or the session keeps what it loads)."""
    rows = list(session.scalars(select(Violation).where(Violation.id.in_(violation_ids))))
    event_ids = [row.event_id for row in rows if row.event_id is not None]
    if event_ids:
        session.scalars(select(Event).where(Event.id.in_(event_ids))).all()
    return rows


def plan_evidence(
    *,
    session: Session,
    violation_id: uuid.UUID,
    now: dt.datetime,
    clip_s: float,
    wait_s: float,
    plate_wait_s: float,
) -> EvidencePlan | None:
    """What to build the packet from, once it can be built: the recording covers the clip's end (or it
    has been waited for `wait_s`) and the plate is read (or waited for `plate_wait_s`). None: not yet.
    """
    row = session.get(Violation, violation_id)
    if row is None or row.status != ViolationStatus.COLLECTING:
        return None
    at = row.occurred_at
    late = now >= at + dt.timedelta(seconds=wait_s)
    end = at + dt.timedelta(seconds=clip_s)
    recorded = session.scalars(
        select(Recording.id).where(
            Recording.camera_id == row.camera_id, Recording.start > end - MAX_SEGMENT, Recording.end >= end
        )
    ).first()
    if recorded is None and not late:
        return None
    sighting = session.get(Sighting, row.sighting_id) if row.sighting_id else None
    if sighting is None:
        sighting = find_sighting(session=session, camera_id=row.camera_id, track_id=row.track_id, at=at)
    if sighting is None and not late and now < at + dt.timedelta(seconds=plate_wait_s):
        return None
    camera = session.get(Camera, row.camera_id)
    rows = [
        (r.path, r.start)
        for r in session.scalars(
            select(Recording)
            .where(
                Recording.camera_id == row.camera_id,
                Recording.start < end,
                Recording.start > at - dt.timedelta(seconds=clip_s) - MAX_SEGMENT,
                Recording.end > at - dt.timedelta(seconds=clip_s),
            )
            .order_by(Recording.start)
        )
    ]
    event = session.get(Event, row.event_id) if row.event_id else None
    payload = event.payload if event is not None else {}
    frame_size = payload.get("frame_size")
    others = tuple(
        box
        for o in payload.get("objects", []) or []
        if isinstance(o, dict)
        and o.get("track_id") != row.track_id
        and (box := _box(o.get("box"))) is not None
    )
    rule = session.get(EnforcementRule, row.rule_id) if row.rule_id else None
    signal = session.get(Signal, rule.signal_id) if rule is not None and rule.signal_id else None
    keep = (
        tuple((float(x), float(y)) for x, y in signal.lamp_region)
        if signal is not None and signal.lamp_region and signal.camera_id == row.camera_id
        else None
    )
    plate = (
        PlateRef(
            sighting.id,
            sighting.plate,
            sighting.confidence,
            list(sighting.alternatives),
            sighting.crop,
            sighting.snapshot,
        )
        if sighting is not None
        else None
    )
    return EvidencePlan(
        violation_id=row.id,
        camera_id=row.camera_id,
        district_id=row.district_id,
        occurred_at=at,
        offence=row.offence,
        track_id=row.track_id,
        box=_box(row.box),
        frame_size=(int(frame_size[0]), int(frame_size[1]))
        if isinstance(frame_size, list) and len(frame_size) == 2
        else None,
        snapshot=payload.get("snapshot") if isinstance(payload.get("snapshot"), str) else None,
        others=others,
        plate=plate,
        segments=tuple(rows),
        keep_sharp=keep,
        manifest={
            "rule": _rule_part(session, row),
            "measured": dict(row.measured),
            "camera": {
                "id": str(row.camera_id),
                "name": camera.name if camera else None,
                "latitude": camera.latitude if camera else None,
                "longitude": camera.longitude if camera else None,
            },
            "time": {
                "occurred_at": at.isoformat(),
                "clock": "server UTC: when the ingesting server decoded the frame (its clock kept by NTP)",
            },
        },
    )


def suspended(*, session: Session, camera_id: uuid.UUID) -> bool:
    """Whether the camera's violations are withheld from the queue (an active suspension)."""
    query = select(Suspension.id).where(Suspension.camera_id == camera_id, Suspension.lifted_at.is_(None))
    return session.scalars(query).first() is not None


def finish_burst(
    *, session: Session, packets: Sequence[tuple[EvidencePlan, dict[str, Any], str]]
) -> list[Violation | None]:
    """Store each packet's manifest and hash, audit the hash, and queue its violation (PENDING; WITHHELD
    while its camera is suspended); per packet the violation, or None if another worker finished it
    first. Does not commit.

    Every violation is updated before the first audit entry: the audit head's lock, which serialises all
    writers until the commit, is taken last and held only for the entries.
    """
    withheld = {
        camera_id: suspended(session=session, camera_id=camera_id)
        for camera_id in {plan.camera_id for plan, _, _ in packets}
    }
    done: list[Violation | None] = []
    for plan, manifest, digest in packets:
        status = ViolationStatus.WITHHELD if withheld[plan.camera_id] else ViolationStatus.PENDING
        plate = plan.plate
        values: dict[str, Any] = {"evidence": manifest, "evidence_sha256": digest, "status": status}
        if plate is not None:
            values.update(sighting_id=plate.id, plate_read=plate.plate, plate_confidence=plate.confidence)
        row = session.scalars(
            update(Violation)
            .where(Violation.id == plan.violation_id, Violation.status == ViolationStatus.COLLECTING)
            .values(**values)
            .returning(Violation),
            execution_options={"populate_existing": True},
        ).one_or_none()
        if row is not None and plate is not None:
            session.execute(
                update(Sighting)
                .where(Sighting.id == plate.id, Sighting.hold.is_(None))
                .values(hold=HOLD)
                .execution_options(synchronize_session=False)
            )
        done.append(row)
    for (plan, manifest, digest), row in zip(packets, done, strict=True):
        if row is None:
            continue
        traffic.audit_change(
            session,
            None,
            "traffic.violation.evidence",
            "traffic_violation",
            plan.violation_id,
            plan.district_id,
            {
                "sha256": digest,
                "complete": manifest["complete"],
                "missing": manifest["missing"],
                "status": row.status.value,
            },
        )
    return done
