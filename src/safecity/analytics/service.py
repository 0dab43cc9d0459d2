"""Analytics rules on cameras: stored, read and changed within the camera's scope, every change audited."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safecity.analytics.models import AnalyticsRule
from safecity.analytics.schemas import RuleConfig, rule_adapter
from safecity.analytics.stats import AnalyticsStats
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras import service as cameras
from safecity.cameras.models import Camera
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)

READ = cameras.READ  # whoever sees a camera sees its rules
MANAGE = "analytics.manage"
MAX_RULES = 50  # per camera: more is a mistake, and each costs every frame a little


def _camera(session: Session, principal: Principal, camera_id: uuid.UUID, *, manage: bool) -> Camera:
    """The camera in the principal's scope; changing its rules also needs analytics.manage."""
    if manage:
        # Checked first: camera owners may see their own cameras, but only the police draw rules.
        principal.require(MANAGE)
    return cameras.camera_for(session=session, principal=principal, camera_id=camera_id, permission=READ)


def _rule(session: Session, camera: Camera, rule_id: uuid.UUID) -> AnalyticsRule:
    rule = session.get(AnalyticsRule, rule_id)
    if rule is None or rule.camera_id != camera.id:
        raise NotFound("no such rule on this camera")
    return rule


def _name_free(session: Session, camera_id: uuid.UUID, name: str, rule_id: uuid.UUID | None = None) -> None:
    query = select(AnalyticsRule.id).where(AnalyticsRule.camera_id == camera_id, AnalyticsRule.name == name)
    if rule_id is not None:
        query = query.where(AnalyticsRule.id != rule_id)
    if session.scalars(query).first() is not None:
        raise Conflict(f"this camera already has a rule named {name!r}", code="duplicate_rule_name")


def _store(rule: AnalyticsRule, config: RuleConfig, principal: Principal) -> None:
    rule.name, rule.kind, rule.enabled = config.name, config.kind, config.enabled
    rule.config = rule_adapter.dump_python(config, mode="json")
    rule.updated_at, rule.updated_by = utcnow(), principal.user_id


def _audit(session: Session, principal: Principal, action: str, camera: Camera, rule: AnalyticsRule) -> None:
    audit.record(
        session=session,
        actor=principal,
        action=action,
        outcome="success",
        object_type="analytics_rule",
        object_id=str(rule.id),
        district_id=camera.district_id,
        detail={"camera_id": str(camera.id), "name": rule.name, "kind": rule.kind, "enabled": rule.enabled},
    )


def list_rules(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> list[AnalyticsRule]:
    """The camera's rules, by name (cameras.read within the camera's district)."""
    camera = _camera(session, principal, camera_id, manage=False)
    query = select(AnalyticsRule).where(AnalyticsRule.camera_id == camera.id)
    return list(session.scalars(query.order_by(AnalyticsRule.name)))


def create_rule(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, config: RuleConfig
) -> AnalyticsRule:
    """Draw a new rule on the camera; its name must be new on that camera."""
    camera = _camera(session, principal, camera_id, manage=True)
    count = session.scalar(select(func.count()).where(AnalyticsRule.camera_id == camera.id)) or 0
    if count >= MAX_RULES:
        raise InvalidInput(f"a camera has at most {MAX_RULES} rules", code="too_many_rules")
    _name_free(session, camera.id, config.name)
    rule = AnalyticsRule(camera_id=camera.id, created_at=utcnow())
    _store(rule, config, principal)
    session.add(rule)
    session.flush()
    _audit(session, principal, "analytics.rule.create", camera, rule)
    return rule


def update_rule(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    rule_id: uuid.UUID,
    config: RuleConfig,
    expected_updated_at: dt.datetime | None = None,
) -> AnalyticsRule:
    """Replace a rule's configuration; with `expected_updated_at`, refuse if someone changed it since."""
    camera = _camera(session, principal, camera_id, manage=True)
    rule = _rule(session, camera, rule_id)
    if expected_updated_at is not None and expected_updated_at != rule.updated_at:
        raise Conflict(
            "someone changed this rule after you loaded it: reload the page and apply your change again",
            code="stale_rule",
        )
    _name_free(session, camera.id, config.name, rule.id)
    _store(rule, config, principal)
    session.flush()
    _audit(session, principal, "analytics.rule.update", camera, rule)
    return rule


def delete_rule(*, session: Session, principal: Principal, camera_id: uuid.UUID, rule_id: uuid.UUID) -> None:
    """Remove a rule from the camera."""
    camera = _camera(session, principal, camera_id, manage=True)
    rule = _rule(session, camera, rule_id)
    _audit(session, principal, "analytics.rule.delete", camera, rule)
    session.delete(rule)
    session.flush()


def rules_for_camera(*, session: Session, camera_id: uuid.UUID) -> list[tuple[uuid.UUID, RuleConfig]]:
    """The camera's enabled rules with their ids, for the analytics runtime (no principal: the system).

    A stored rule that no longer validates (written by another version) is logged and left out, so one
    bad row cannot stop a camera's analytics.
    """
    query = select(AnalyticsRule).where(AnalyticsRule.camera_id == camera_id, AnalyticsRule.enabled.is_(True))
    found: list[tuple[uuid.UUID, RuleConfig]] = []
    for rule in session.scalars(query.order_by(AnalyticsRule.name)):
        try:
            found.append((rule.id, rule_adapter.validate_python(rule.config)))
        except ValidationError as exc:
            logger.error("rule %s of camera %s is not valid, skipped: %s", rule.id, camera_id, exc.errors())
    return found


def cameras_with_rules(*, session: Session) -> set[uuid.UUID]:
    """The cameras that have at least one enabled rule (the ones worth analysing)."""
    query = select(AnalyticsRule.camera_id).where(AnalyticsRule.enabled.is_(True)).distinct()
    return set(session.scalars(query))


def scoped_stats(*, session: Session, principal: Principal, stats: AnalyticsStats) -> AnalyticsStats:
    """The process's analytics figures, keeping only the cameras within the principal's districts."""
    principal.require(READ)
    ids = [c.camera_id for c in stats.cameras]
    visible = set(
        session.scalars(
            select(Camera.id).where(Camera.id.in_(ids), principal.district_filter(Camera.district_id))
        )
    )
    return dataclasses.replace(stats, cameras=[c for c in stats.cameras if c.camera_id in visible])
