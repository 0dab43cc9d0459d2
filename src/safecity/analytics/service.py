"""Analytics rules and detector settings of cameras: stored, read and changed within the camera's scope,
every change audited; and the counts of counting lines, written in batches and read for charts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections import Counter

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safecity.analytics.counting import INTERVALS, CountKey
from safecity.analytics.detectors import DetectorConfig
from safecity.analytics.models import AnalyticsRule, CameraDetection, LineCount
from safecity.analytics.schemas import DetectionOut, DetectionSettings, RuleConfig, rule_adapter
from safecity.analytics.stats import AnalyticsStats
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras import service as cameras
from safecity.cameras.models import Camera
from safecity.config import AnalyticsSettings
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)

READ = cameras.READ  # whoever sees a camera sees its rules
MANAGE = "analytics.manage"
MAX_RULES = 50  # per camera: more is a mistake, and each costs every frame a little
COUNTS_READ = "alerts.read"  # counts are read by whoever reads the analytics events
MAX_COUNT_ROWS = 20_000  # per answer: a year of hourly buckets of a few classes both ways


def _camera(session: Session, principal: Principal, camera_id: uuid.UUID, *, manage: bool) -> Camera:
    """The camera in the principal's scope; changing its rules also needs analytics.manage."""
    if manage:
        # Checked first: camera owners may see their own cameras, but only the police draw rules.
        principal.require(MANAGE)
    return cameras.camera_for(session=session, principal=principal, camera_id=camera_id, permission=READ)


def camera_in_scope(*, session: Session, principal: Principal, camera_id: uuid.UUID, manage: bool) -> Camera:
    """The camera in the principal's scope for its analytics settings (`manage`: analytics.manage too)."""
    return _camera(session, principal, camera_id, manage=manage)


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


# --- detector settings per camera --------------------------------------------------------------------


def _stored(row: CameraDetection) -> DetectionSettings | None:
    """A camera's stored settings, or None (logged) where they no longer validate (another version's)."""
    try:
        return DetectionSettings.model_validate(row.settings)
    except ValidationError as exc:
        logger.error("detector settings of camera %s are not valid, ignored: %s", row.camera_id, exc.errors())
        return None


def _detection_out(camera: Camera, row: CameraDetection | None, defaults: AnalyticsSettings) -> DetectionOut:
    glob = DetectionSettings.of_settings(defaults)
    own = _stored(row) if row is not None else None
    return DetectionOut(
        camera_id=camera.id,
        own=own is not None,
        detector=defaults.detector,
        settings=own or glob,
        defaults=glob,
        updated_at=row.updated_at if row is not None else None,
        updated_by=row.updated_by if row is not None else None,
    )


def get_detection(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, defaults: AnalyticsSettings
) -> DetectionOut:
    """The camera's detector settings in effect: its own, or the global `defaults` (cameras.read)."""
    camera = _camera(session, principal, camera_id, manage=False)
    return _detection_out(camera, session.get(CameraDetection, camera.id), defaults)


def _check_fresh(
    row: CameraDetection | None, expected_updated_at: dt.datetime | None, expect_global: bool
) -> None:
    """Conflict where the settings changed since they were read: other than `expected_updated_at`, or
    (`expect_global`) the camera has its own now where the reader saw the global ones.
    """
    if expect_global and row is not None:
        stale = True
    else:
        stale = expected_updated_at is not None and (row is None or row.updated_at != expected_updated_at)
    if stale:
        raise Conflict(
            "someone changed this camera's detector settings after you loaded them: reload and apply your "
            "change again",
            code="stale_detection",
        )


def _audit_detection(
    session: Session,
    principal: Principal,
    action: str,
    camera: Camera,
    before: DetectionOut,
    after: DetectionOut,
) -> None:
    audit.record(
        session=session,
        actor=principal,
        action=action,
        outcome="success",
        object_type="camera_detection",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={
            "camera_id": str(camera.id),
            "before": before.settings.model_dump(mode="json") if before.own else None,
            "after": after.settings.model_dump(mode="json") if after.own else None,
        },
    )


def set_detection(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    settings: DetectionSettings,
    defaults: AnalyticsSettings,
    expected_updated_at: dt.datetime | None = None,
    expect_global: bool = False,
) -> DetectionOut:
    """Give the camera its own detector settings (analytics.manage); they apply within the analytics' refresh.

    With `expected_updated_at` (the `updated_at` last read), refuse if they changed since; with
    `expect_global`, refuse if the camera has its own settings (the caller saw the global ones).
    """
    camera = _camera(session, principal, camera_id, manage=True)
    try:  # what only the configured model can judge, such as the input sizes it takes
        settings.detector_config(defaults.detector)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(
            f"the detector {defaults.detector} cannot be fed this way ({problems})", code="bad_detection"
        ) from exc
    row = session.get(CameraDetection, camera.id)
    _check_fresh(row, expected_updated_at, expect_global)
    before = _detection_out(camera, row, defaults)
    if row is None:
        row = CameraDetection(camera_id=camera.id)
        session.add(row)
    row.settings = settings.model_dump(mode="json")
    row.updated_at, row.updated_by = utcnow(), principal.user_id
    session.flush()
    after = _detection_out(camera, row, defaults)
    _audit_detection(session, principal, "analytics.detection.update", camera, before, after)
    return after


def reset_detection(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    defaults: AnalyticsSettings,
    expected_updated_at: dt.datetime | None = None,
) -> DetectionOut:
    """Drop the camera's own detector settings, so it follows the global ones again (analytics.manage);
    `expected_updated_at` as for `set_detection`.
    """
    camera = _camera(session, principal, camera_id, manage=True)
    row = session.get(CameraDetection, camera.id)
    _check_fresh(row, expected_updated_at, expect_global=False)
    if row is None:
        return _detection_out(camera, None, defaults)
    before = _detection_out(camera, row, defaults)
    session.delete(row)
    session.flush()
    after = _detection_out(camera, None, defaults)
    _audit_detection(session, principal, "analytics.detection.reset", camera, before, after)
    return after


def detection_configs(
    *, session: Session, camera_ids: set[uuid.UUID], defaults: AnalyticsSettings
) -> dict[uuid.UUID, DetectorConfig]:
    """How the shared detector is fed for each camera, for the analytics runtime (no principal: the system).

    Cameras without their own settings, or whose stored ones the configured detector refuses (written for
    another model), get the global settings; the refusal is logged, and the camera keeps running.
    """
    glob = DetectionSettings.of_settings(defaults).detector_config(defaults.detector)
    found = dict.fromkeys(camera_ids, glob)
    if not camera_ids:
        return found
    for row in session.scalars(select(CameraDetection).where(CameraDetection.camera_id.in_(camera_ids))):
        own = _stored(row)
        if own is None:
            continue
        try:
            found[row.camera_id] = own.detector_config(defaults.detector)
        except ValidationError as exc:
            logger.error(
                "camera %s: detector %s refuses its settings, the global ones apply: %s",
                row.camera_id,
                defaults.detector,
                exc.errors(),
            )
    return found


# --- counting lines --------------------------------------------------------------------------------


def add_counts(*, session: Session, rows: Counter[CountKey]) -> int:
    """Add drained counts to the stored ones (upsert per bucket); returns the rows written. Does not commit.

    Counts of a line deleted since they were counted are dropped.
    """
    rule_ids = {k.rule_id for k in rows}
    if not rule_ids:
        return 0
    alive = set(session.scalars(select(AnalyticsRule.id).where(AnalyticsRule.id.in_(rule_ids))))
    values = [
        {
            "rule_id": k.rule_id,
            "interval_min": k.interval_min,
            "bucket_start": k.bucket_start,
            "direction": k.direction,
            "class_name": k.class_name,
            "camera_id": k.camera_id,
            "count": n,
        }
        for k, n in rows.items()
        if k.rule_id in alive
    ]
    if not values:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(LineCount)
    upsert = insert.on_conflict_do_update(
        index_elements=["rule_id", "interval_min", "bucket_start", "direction", "class_name"],
        set_={"count": LineCount.count + insert.excluded.count},
    )
    session.execute(upsert, values)
    return len(values)


def line_counts(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    interval: int,
    since: dt.datetime,
    until: dt.datetime,
    rule_id: uuid.UUID | None = None,
) -> list[LineCount]:
    """The camera's counts (or one line's) per `interval`-minute bucket starting in [since, until).

    Read with the permission of the analytics events, within the camera's district.
    """
    principal.require(COUNTS_READ)
    camera = session.get(Camera, camera_id)
    if camera is None or not principal.sees_district(camera.district_id):
        raise NotFound("no such camera")
    return read_counts(
        session=session, camera_id=camera.id, interval=interval, since=since, until=until, rule_id=rule_id
    )


def read_counts(
    *,
    session: Session,
    camera_id: uuid.UUID,
    interval: int,
    since: dt.datetime,
    until: dt.datetime,
    rule_id: uuid.UUID | None = None,
) -> list[LineCount]:
    """A camera's counts as `line_counts` reads them, for a caller that has checked the reader's access."""
    if interval not in INTERVALS:
        allowed = ", ".join(map(str, INTERVALS))
        raise InvalidInput(f"interval must be one of {allowed} minutes", code="bad_interval")
    if until <= since:
        raise InvalidInput("the end of the period must be after its start", code="bad_period")
    query = select(LineCount).where(
        LineCount.camera_id == camera_id,
        LineCount.interval_min == interval,
        LineCount.bucket_start >= since,
        LineCount.bucket_start < until,
    )
    if rule_id is not None:
        query = query.where(LineCount.rule_id == rule_id)
    order = (LineCount.rule_id, LineCount.bucket_start, LineCount.direction, LineCount.class_name)
    found = list(session.scalars(query.order_by(*order).limit(MAX_COUNT_ROWS + 1)))
    if len(found) > MAX_COUNT_ROWS:
        raise InvalidInput(
            f"more than {MAX_COUNT_ROWS} counts in that period: shorten it or choose a longer interval",
            code="too_many_counts",
        )
    return found
