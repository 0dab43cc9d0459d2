"""Requests to watch cameras shared "on request": police staff ask with a purpose and a time window, the
camera's owner grants or refuses (or the sharing policy grants at once, flagged), and the video code lets
nobody watch such a camera without a current grant.

The policy per sharing level is data: access_policy.toml beside this file. `require_video_access` is the
one check the live, playback and export code calls for every camera it is about to show.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import (
    AccessRequest,
    AccessScope,
    AccessStatus,
    Camera,
    Owner,
    Premises,
    Sharing,
)
from safecity.cameras.schemas import AccessDecisionIn, AccessRequestIn
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied

logger = logging.getLogger(__name__)

POLICY_FILE = Path(__file__).with_name("access_policy.toml")
LIVE = "video.live"
PLAYBACK = "video.playback"
EXPORT = "video.export"
REVIEW = "cameras.review"
MANAGE = "cameras.manage"
OWN = "cameras.own"
# A use of a grant is audited (with its purpose) at most this often: a player fetching segments one by
# one, or a wall polling snapshots, is one viewing, not hundreds. The video code audits each view itself.
USE_AUDIT_EVERY = dt.timedelta(seconds=60)
FLAGGED_DAYS = 30
LIST_LIMIT = 200


class AccessRequestRequired(PermissionDenied):
    """The camera is shared only on request and the caller holds no current grant for this kind of video."""

    code = "access_request_required"

    def __init__(self, camera: Camera) -> None:
        super().__init__(
            f"Camera '{camera.name}' belongs to {camera.owner_organisation or 'a private owner'} and is "
            f"shared only on request: you hold no current grant to watch it. Request access with a purpose "
            f"at /cameras/{camera.id}/access"
        )
        self.camera_id = camera.id


@dataclass(frozen=True)
class SharingPolicy:
    """What the law's policy says for one sharing level (see access_policy.toml)."""

    request_needed: bool
    max_hours: int = 24
    auto_grant_emergency: bool = False
    emergency_max_hours: int = 2


@functools.cache
def _policies() -> dict[Sharing, SharingPolicy]:
    raw = tomllib.loads(POLICY_FILE.read_text(encoding="utf-8"))
    return {Sharing(level): SharingPolicy(**values) for level, values in raw.items()}


def policy(sharing: Sharing) -> SharingPolicy:
    """The policy for a sharing level (a level the file does not name needs no request)."""
    return _policies().get(sharing, SharingPolicy(request_needed=False))


def request_needed(camera: Camera) -> bool:
    """Whether watching this camera needs a granted request (never for the police's own cameras)."""
    return camera.owner != Owner.POLICE and policy(camera.sharing).request_needed


def _covers(scope: AccessScope, permission: str) -> bool:
    if scope is AccessScope.BOTH:
        return True
    return scope is (AccessScope.LIVE if permission == LIVE else AccessScope.RECORDED)


def is_current(request: AccessRequest, now: dt.datetime | None = None) -> bool:
    """Whether a request is granted and its window is open now."""
    now = now or utcnow()
    return request.status is AccessStatus.GRANTED and request.starts_at <= now < request.ends_at


def _is_owner(session: Session, principal: Principal, camera: Camera) -> bool:
    if camera.premises_id is None or principal.user_id is None or not principal.can(OWN):
        return False
    premises = session.get(Premises, camera.premises_id)
    return premises is not None and premises.owner_user_id == principal.user_id


def current_grant(
    *, session: Session, principal: Principal, camera: Camera, permission: str
) -> AccessRequest | None:
    """The caller's granted request that lets them see this kind of video of the camera now, if any."""
    if principal.user_id is None:
        return None
    now = utcnow()
    query = (
        select(AccessRequest)
        .where(
            AccessRequest.camera_id == camera.id,
            AccessRequest.requester_id == principal.user_id,
            AccessRequest.status == AccessStatus.GRANTED,
            AccessRequest.starts_at <= now,
            AccessRequest.ends_at > now,
        )
        .order_by(AccessRequest.ends_at.desc())
    )
    return next((r for r in session.scalars(query) if _covers(r.scope, permission)), None)


def stream_deadline(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> dt.datetime | None:
    """When a live stream of the camera, opened now under a grant, must end (None: no grant needed)."""
    camera = session.get(Camera, camera_id)
    if camera is None or not request_needed(camera) or _is_owner(session, principal, camera):
        return None
    grant = current_grant(session=session, principal=principal, camera=camera, permission=LIVE)
    return grant.ends_at if grant is not None else utcnow()


def viewable(
    *, session: Session, principal: Principal, cameras: list[Camera], permission: str
) -> list[Camera]:
    """The cameras of `cameras` the caller may see `permission`'s kind of video of now, in their order.

    The batch form of `require_video_access` for lists (the wall, pickers): an on-request camera stays only
    under a current grant (or for its owner), with two queries for the whole list, and no use is audited.
    """
    pending = [c for c in cameras if request_needed(c)]
    if not pending or principal.user_id is None:
        return [c for c in cameras if not request_needed(c)]
    now = utcnow()
    granted = {
        r.camera_id
        for r in session.scalars(
            select(AccessRequest).where(
                AccessRequest.camera_id.in_([c.id for c in pending]),
                AccessRequest.requester_id == principal.user_id,
                AccessRequest.status == AccessStatus.GRANTED,
                AccessRequest.starts_at <= now,
                AccessRequest.ends_at > now,
            )
        )
        if _covers(r.scope, permission)
    }
    owned: set[uuid.UUID] = set()
    if principal.can(OWN):
        owned = set(
            session.scalars(
                select(Premises.id).where(
                    Premises.id.in_([c.premises_id for c in pending if c.premises_id is not None]),
                    Premises.owner_user_id == principal.user_id,
                )
            )
        )
    return [c for c in cameras if not request_needed(c) or c.id in granted or c.premises_id in owned]


def require_video_access(
    *, session: Session, principal: Principal, camera: Camera, permission: str
) -> AccessRequest | None:
    """Let the caller see `permission`'s kind of video (live, or recorded) of `camera`, or refuse.

    The one check for an on-request camera: without a current grant it raises AccessRequestRequired
    (403, code `access_request_required`, with where to ask). Under a grant the use is audited with the
    grant's purpose. Cameras that need no request pass (None); so does the camera's own owner.
    """
    if not request_needed(camera) or _is_owner(session, principal, camera):
        return None
    grant = current_grant(session=session, principal=principal, camera=camera, permission=permission)
    if grant is None:
        raise AccessRequestRequired(camera)
    now = utcnow()
    grant.uses += 1
    if grant.last_used_at is None or now - grant.last_used_at >= USE_AUDIT_EVERY:
        grant.last_used_at = now
        audit.record(
            session=session,
            action="camera.access.use",
            outcome="success",
            actor=principal,
            object_type="camera",
            object_id=str(camera.id),
            district_id=camera.district_id,
            purpose=_purpose_text(grant),
            detail={"request_id": str(grant.id), "permission": permission, "emergency": grant.emergency},
        )
    session.flush()
    return grant


def _purpose_text(request: AccessRequest) -> str:
    return f"{request.incident_ref}: {request.purpose}" if request.incident_ref else request.purpose


def purpose_of(grant: AccessRequest | None) -> str | None:
    """The purpose to audit a view under `grant` with (None: a camera that needs no request)."""
    return None if grant is None else _purpose_text(grant)


# --- requests -------------------------------------------------------------------------------------


def camera_to_request(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> Camera:
    """A camera in the caller's districts that they may ask to watch (they hold live or playback)."""
    if not (principal.can(LIVE) or principal.can(PLAYBACK)):
        raise PermissionDenied(
            "asking to watch a camera needs the 'video.live' or 'video.playback' permission"
        )
    camera = session.get(Camera, camera_id)
    if camera is None or not principal.sees_district(camera.district_id):
        raise NotFound("no such camera", code="camera_not_found")
    return camera


def file_request(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, data: AccessRequestIn
) -> AccessRequest:
    """File a request to watch an on-request camera; an emergency is granted at once where the policy says."""
    camera = camera_to_request(session=session, principal=principal, camera_id=camera_id)
    if principal.user_id is None:
        raise PermissionDenied("a request to watch is made by a person: log in")
    if not request_needed(camera):
        raise Conflict("this camera is shared without requests: watch it directly", code="no_request_needed")
    wanted = {AccessScope.LIVE: LIVE, AccessScope.RECORDED: PLAYBACK}
    for scope, permission in wanted.items():
        if data.scope in (scope, AccessScope.BOTH) and not principal.can(permission):
            raise PermissionDenied(f"watching {scope.value} video needs the '{permission}' permission")
    rules = policy(camera.sharing)
    now = utcnow()
    starts_at = max(data.starts_at or now, now - dt.timedelta(minutes=5))
    limit = rules.emergency_max_hours if data.emergency and rules.auto_grant_emergency else rules.max_hours
    if data.hours > limit:
        raise InvalidInput(
            f"ask for at most {limit} hours{' in an emergency' if data.emergency else ''}",
            code="window_too_long",
        )
    if starts_at > now + dt.timedelta(days=7):
        raise InvalidInput("the window must start within a week", code="window_too_far")
    request = AccessRequest(
        camera_id=camera.id,
        district_id=camera.district_id,
        requester_id=principal.user_id,
        requester_name=principal.username,
        scope=data.scope,
        purpose=data.purpose,
        incident_ref=data.incident_ref,
        emergency=data.emergency,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=data.hours),
        status=AccessStatus.PENDING,
    )
    if data.emergency and rules.auto_grant_emergency:
        request.status = AccessStatus.GRANTED
        request.auto_granted = True
        request.decided_at = now
        request.decided_by_name = "policy: emergency"
        request.decision_note = "Granted automatically for an emergency under the sharing policy."
    session.add(request)
    session.flush()
    audit.record(
        session=session,
        action="camera.access.request",
        outcome="success",
        actor=principal,
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        purpose=_purpose_text(request),
        detail={
            "request_id": str(request.id),
            "scope": request.scope.value,
            "starts_at": request.starts_at.isoformat(),
            "ends_at": request.ends_at.isoformat(),
            "emergency": request.emergency,
            "auto_granted": request.auto_granted,
        },
    )
    logger.info("access request %s for camera %s: %s", request.id, camera.id, request.status.value)
    return request


def my_requests(
    *, session: Session, principal: Principal, camera_id: uuid.UUID | None = None
) -> list[AccessRequest]:
    """The caller's own requests (for one camera, if given), newest first."""
    if principal.user_id is None:
        return []
    query = select(AccessRequest).where(AccessRequest.requester_id == principal.user_id)
    if camera_id is not None:
        query = query.where(AccessRequest.camera_id == camera_id)
    return list(session.scalars(query.order_by(AccessRequest.created_at.desc()).limit(LIST_LIMIT)))


def _decidable(session: Session, principal: Principal, request_id: uuid.UUID) -> tuple[AccessRequest, Camera]:
    """A request the caller may decide: on their own camera, or (a camera without an owner account)
    in a district they review."""
    request = session.get(AccessRequest, request_id)
    camera = session.get(Camera, request.camera_id) if request is not None else None
    if request is None or camera is None:
        raise NotFound("no such request")
    if camera.premises_id is not None:
        if not _is_owner(session, principal, camera):
            raise PermissionDenied("only the camera's owner grants or refuses requests to watch it")
    elif not (principal.can(REVIEW) or principal.can(MANAGE)):
        raise PermissionDenied("this needs the 'cameras.review' permission")
    elif not principal.sees_district(camera.district_id):
        raise NotFound("no such request")
    return request, camera


def decide(
    *, session: Session, principal: Principal, request_id: uuid.UUID, data: AccessDecisionIn
) -> AccessRequest:
    """Grant or refuse a pending request, or revoke a grant (a reason is needed to refuse or revoke)."""
    request, camera = _decidable(session, principal, request_id)
    now = utcnow()
    if data.decision in ("refuse", "revoke") and len(data.note.strip()) < 3:
        raise InvalidInput("give the requester a reason", code="reason_required")
    if data.decision == "revoke":
        if not is_current(request, now) and not (
            request.status is AccessStatus.GRANTED and request.starts_at > now
        ):
            raise Conflict("only a grant that has not expired can be revoked", code="not_revocable")
        request.status = AccessStatus.REVOKED
    else:
        if request.status is not AccessStatus.PENDING:
            raise Conflict(f"this request is already {request.status.value}", code="already_decided")
        if data.decision == "grant" and request.ends_at <= now:
            raise Conflict("the request's time window has passed: ask for a new one", code="window_passed")
        request.status = AccessStatus.GRANTED if data.decision == "grant" else AccessStatus.REFUSED
    request.decided_at = now
    request.decided_by_id = principal.user_id
    request.decided_by_name = principal.username
    request.decision_note = data.note.strip()
    session.flush()
    audit.record(
        session=session,
        action=f"camera.access.{data.decision}",
        outcome="success",
        actor=principal,
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        purpose=_purpose_text(request),
        detail={
            "request_id": str(request.id),
            "requester": request.requester_name,
            "note": request.decision_note,
        },
    )
    return request


def owner_requests(*, session: Session, principal: Principal) -> list[tuple[AccessRequest, Camera]]:
    """Requests to watch the owner's cameras: pending first, then the newest."""
    principal.require(OWN)
    query = (
        select(AccessRequest, Camera)
        .join(Camera, AccessRequest.camera_id == Camera.id)
        .join(Premises, Camera.premises_id == Premises.id)
        .where(Premises.owner_user_id == principal.user_id)
        .order_by((AccessRequest.status == AccessStatus.PENDING).desc(), AccessRequest.created_at.desc())
        .limit(LIST_LIMIT)
    )
    return [(r, c) for r, c in session.execute(query).all()]


def camera_requests(*, session: Session, camera_id: uuid.UUID) -> list[AccessRequest]:
    """Every request about one camera, newest first (the caller has checked they may see the camera)."""
    query = select(AccessRequest).where(AccessRequest.camera_id == camera_id)
    return list(session.scalars(query.order_by(AccessRequest.created_at.desc()).limit(LIST_LIMIT)))


def flagged_grants(*, session: Session, principal: Principal) -> list[tuple[AccessRequest, Camera]]:
    """Automatic (emergency) grants in the reviewer's districts over the last days, for review afterwards;
    with requests on cameras that have no owner account, which reviewers decide."""
    if not (principal.can(REVIEW) or principal.can(MANAGE)):
        raise PermissionDenied("this needs the 'cameras.review' permission")
    since = utcnow() - dt.timedelta(days=FLAGGED_DAYS)
    query = (
        select(AccessRequest, Camera)
        .join(Camera, AccessRequest.camera_id == Camera.id)
        .where(
            principal.district_filter(AccessRequest.district_id),
            or_(
                AccessRequest.auto_granted.is_(True),
                Camera.premises_id.is_(None) & (AccessRequest.status == AccessStatus.PENDING),
            ),
            AccessRequest.created_at >= since,
        )
        .order_by(AccessRequest.created_at.desc())
        .limit(LIST_LIMIT)
    )
    return [(r, c) for r, c in session.execute(query).all()]
