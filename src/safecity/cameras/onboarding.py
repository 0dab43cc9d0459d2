"""Commercial cameras: owners register premises and cameras, an automated compliance check, the authority's
review, and a transparency view of who watched an owner's cameras (read from the audit log).

An owner (permission cameras.own) sees only their own premises and cameras, in any district: ownership,
not district, is their scope. The authority (cameras.manage, or a camera reviewer's cameras.review) reviews
within its districts.

The compliance check runs by itself: registering an owner's camera, or changing its stream or credentials,
marks the check due (Camera.compliance_due_at) and `run_compliance_checks`, a task of the web process,
runs it in a worker thread with a session of its own and stores the report. The button re-runs it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import av
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.audit import service as audit
from safecity.audit.models import AuditEntry
from safecity.auth.principal import SYSTEM, Principal
from safecity.cameras import service as registry
from safecity.cameras.models import Approval, Camera, Owner, Premises
from safecity.cameras.passwords import is_default_password
from safecity.cameras.schemas import ComplianceItem, ComplianceReport, OwnerCameraIn, PremisesIn, ReviewIn
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.core.identifiers import normalise_phone
from safecity.org.models import District

logger = logging.getLogger(__name__)

# Pakistani mobile numbers: (+92|0092|0)?3NNNNNNNNN, stored as +923NNNNNNNNN (see shared/PAKISTAN.md).
# The audit actions of watching a camera, recorded by the live, playback and export code.
VIEW_ACTIONS = ("video.live", "video.playback", "video.export")
REVIEW = "cameras.review"
# A reviewer who approves a camera that has not passed its check explains why, in at least this many letters.
MIN_OVERRIDE_REASON = 10
# How often the background runner looks for due checks by itself (it is woken at once when this process
# makes one due), and how many it runs at once.
DUE_POLL_S = 60.0
DUE_BATCH = 4
MAX_VIEWERS = 1000
RTSP_DEFAULT_PORT = 554
# How long the check samples packets to measure the frame rate (stream time), and at most how many.
FPS_SAMPLE_SECONDS = 1.0
FPS_SAMPLE_PACKETS = 120


# --- premises and their cameras -------------------------------------------------------------------


def list_premises(*, session: Session, principal: Principal) -> list[Premises]:
    """The owner's own premises, by name."""
    principal.require(registry.OWN)
    query = select(Premises).where(Premises.owner_user_id == principal.user_id)
    return list(session.scalars(query.order_by(Premises.name, Premises.id)))


def create_premises(*, session: Session, principal: Principal, data: PremisesIn) -> Premises:
    """Register premises of the acting owner, in any district."""
    principal.require(registry.OWN)
    if principal.user_id is None:
        raise PermissionDenied("premises belong to a person: log in as the owner")
    if session.get(District, data.district_id) is None:
        raise NotFound("no such district")
    premises = Premises(
        owner_user_id=principal.user_id,
        district_id=data.district_id,
        name=data.name,
        organisation=data.organisation,
        address=data.address,
        contact_phone=normalise_phone(data.contact_phone),
        latitude=data.latitude,
        longitude=data.longitude,
    )
    session.add(premises)
    session.flush()
    audit.record(
        session=session,
        actor=principal,
        action="premises.create",
        outcome="success",
        object_type="premises",
        object_id=str(premises.id),
        district_id=premises.district_id,
    )
    return premises


def own_premises(*, session: Session, principal: Principal, premises_id: uuid.UUID) -> Premises:
    """One of the owner's premises (someone else's reads as not found)."""
    principal.require(registry.OWN)
    premises = session.get(Premises, premises_id)
    if premises is None or premises.owner_user_id != principal.user_id:
        raise NotFound("no such premises among yours")
    return premises


def owner_cameras(
    *, session: Session, principal: Principal, premises_id: uuid.UUID | None = None
) -> list[Camera]:
    """The owner's cameras (at one of their premises, if given), by name."""
    principal.require(registry.OWN)
    query = (
        select(Camera)
        .join(Premises, Camera.premises_id == Premises.id)
        .where(Premises.owner_user_id == principal.user_id)
    )
    if premises_id is not None:
        query = query.where(Premises.id == premises_id)
    return list(session.scalars(query.order_by(Camera.name, Camera.id)))


def register_camera(
    *,
    session: Session,
    principal: Principal,
    box: SecretBox,
    settings: Settings,
    premises_id: uuid.UUID,
    data: OwnerCameraIn,
) -> Camera:
    """Connect a camera at the owner's premises; it waits for the authority's review."""
    premises = own_premises(session=session, principal=principal, premises_id=premises_id)
    camera = Camera(
        name=data.name,
        district_id=premises.district_id,
        premises_id=premises.id,
        latitude=premises.latitude if data.latitude is None else data.latitude,
        longitude=premises.longitude if data.longitude is None else data.longitude,
        bearing=data.bearing,
        field_of_view=data.field_of_view,
        owner=Owner.COMMERCIAL,
        owner_organisation=premises.organisation,
        sharing=data.sharing,
        approval=Approval.PENDING,
        tags=[],
    )
    registry.set_streams(
        camera,
        box,
        stream_url=data.stream_url,
        substream_url=data.substream_url,
        username=data.username,
        password=data.password.get_secret_value() if data.password is not None else None,
        rules=registry.stream_rules(settings=settings, principal=principal, owner_camera=True),
    )
    session.add(camera)
    registry.mark_compliance_due(session, camera)  # checked in the background: see run_compliance_checks
    session.flush()
    audit.record(
        session=session,
        actor=principal,
        action="camera.register",
        outcome="success",
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={"premises_id": str(premises.id), "sharing": camera.sharing.value},
    )
    logger.info("commercial camera %s registered, awaiting review", camera.id)
    return camera


# --- the automated compliance check ---------------------------------------------------------------


@dataclass(frozen=True)
class _Probe:
    width: int
    height: int
    fps: float | None
    seconds: float


def _open_options(url: str) -> dict[str, str]:
    return {"rtsp_transport": "tcp"} if url.lower().startswith(("rtsp://", "rtsps://")) else {}


def _measured_fps(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    """Frames per second from the timestamps of the first packets (cameras often declare none)."""
    if stream.time_base is None:
        return None
    stamps: set[int] = set()
    for packet in container.demux(stream):
        if packet.pts is not None:
            stamps.add(packet.pts)
        span = (max(stamps) - min(stamps)) * stream.time_base if len(stamps) > 1 else Fraction(0)
        if span >= FPS_SAMPLE_SECONDS or len(stamps) >= FPS_SAMPLE_PACKETS:
            break
    if len(stamps) < 2:
        return None
    span = (max(stamps) - min(stamps)) * stream.time_base
    return float((len(stamps) - 1) / span) if span > 0 else None


def _probe(url: str, settings: Settings) -> _Probe:
    """Open the stream, read its size, measure its frame rate; raises av.FFmpegError or ValueError."""
    started = time.monotonic()
    timeout = (settings.video.open_timeout_s, settings.video.read_timeout_s)
    with av.open(url, options=_open_options(url), timeout=timeout) as container:
        if not container.streams.video:
            raise ValueError("the stream holds no video")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = _measured_fps(container, stream)
        if fps is None and stream.average_rate:
            fps = float(stream.average_rate)
    return _Probe(width, height, fps, time.monotonic() - started)


def camera_clock(url: str, timeout: float) -> dt.datetime | None:
    """The camera's clock from the Date header of its reply to a raw RTSP OPTIONS request, if it sends one."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or RTSP_DEFAULT_PORT
    if host is None:
        return None
    public = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no credentials on the wire
    request = f"OPTIONS {public} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: safecity\r\n\r\n".encode()
    reply = b""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(request)
        while b"\r\n\r\n" not in reply and len(reply) < 16384:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    for line in reply.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "date":
            try:
                moment = email.utils.parsedate_to_datetime(value.strip())
            except (TypeError, ValueError):
                return None
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return None


def clock_item(camera_time: dt.datetime | None, local_time: dt.datetime, max_skew_s: float) -> ComplianceItem:
    """Judge the camera's clock (a Date header: whole seconds) against the server's at the same moment."""
    title = "Clock in step"
    if camera_time is None:
        return ComplianceItem(
            key="clock",
            title=title,
            status="not_measurable",
            reason="The camera did not tell its time (no Date header in its RTSP reply).",
        )
    # The Date header drops the fraction of a second: on average the camera's clock is half a second later.
    skew = (camera_time - local_time).total_seconds() + 0.5
    direction = "ahead of" if skew > 0 else "behind"
    text = f"The camera's clock is {abs(skew):.1f} s {direction} the server's (allowed: {max_skew_s:g} s)."
    if abs(skew) <= max_skew_s:
        return ComplianceItem(key="clock", title=title, status="passed", reason=text)
    return ComplianceItem(
        key="clock",
        title=title,
        status="failed",
        reason=text + " Set the camera to use network time (NTP) and the time zone Asia/Karachi.",
    )


def _clock(url: str, settings: Settings) -> ComplianceItem:
    scheme = urlsplit(url).scheme.lower() if "://" in url else "file"
    if scheme != "rtsp":
        return ComplianceItem(
            key="clock",
            title="Clock in step",
            status="not_measurable",
            reason=f"Only a plain rtsp:// camera is asked for its time; this stream is {scheme}.",
        )
    before = utcnow()
    try:
        camera_time = camera_clock(url, settings.video.open_timeout_s)
    except OSError:
        camera_time = None
    after = utcnow()
    return clock_item(camera_time, before + (after - before) / 2, settings.compliance.max_clock_skew_s)


def _password_item(camera: Camera, box: SecretBox) -> ComplianceItem:
    title = "Not a default password"
    password = None if camera.password_encrypted is None else box.decrypt(camera.password_encrypted)
    if not password:
        return ComplianceItem(
            key="password",
            title=title,
            status="failed",
            reason="No password is set: the camera's stream must require one.",
        )
    if is_default_password(camera.username, password):
        return ComplianceItem(
            key="password",
            title=title,
            status="failed",
            reason="The camera uses a vendor's factory-default password. Change it on the camera, then here.",
        )
    return ComplianceItem(
        key="password",
        title=title,
        status="passed",
        reason="A password is set and it is not a known default.",
    )


# What a camera owner can act on when the stream does not open. Never the server's own view (errno texts,
# HTTP codes, ports): with those, the check would map whatever network the server sees.
UNREACHABLE = (
    "The stream could not be reached from the police network: check the camera's address and port, that it "
    "is switched on and online, and that your router forwards that port to it."
)
CREDENTIALS_REFUSED = (
    "The camera refused the username and password: check them on the camera, then enter them here again."
)
NO_VIDEO = (
    "The camera answered, but sent no video at this address: check the stream path (the part after the "
    "address, from the camera's manual) and that the camera sends H.264 or H.265 video."
)


def _failure_reason(camera: Camera, exc: Exception) -> str:
    """The owner's reason a stream did not open; the server's own detail goes to its log (no URL in it)."""
    if isinstance(exc, av.FFmpegError | OSError):  # their str() names the URL, credentials and all
        detail = f"{type(exc).__name__} (errno {exc.errno}): {exc.strerror}"
    else:
        detail = str(exc)  # our own words (_probe's ValueError)
    logger.info("camera %s compliance: the stream did not open: %s", camera.id, detail)
    if isinstance(exc, av.HTTPUnauthorizedError | av.HTTPForbiddenError):
        return CREDENTIALS_REFUSED
    if isinstance(exc, av.HTTPClientError | av.HTTPError | ValueError):  # InvalidDataError is a ValueError
        return NO_VIDEO
    return UNREACHABLE


def check_compliance(*, camera: Camera, box: SecretBox, settings: Settings) -> ComplianceReport:
    """Check a camera against the network's minimums: reachable, resolution, frame rate, clock, password."""
    rules = settings.compliance
    url = registry.connect_url(camera, box)
    items: list[ComplianceItem] = []
    try:
        probe: _Probe | None = _probe(url, settings)
    except (av.FFmpegError, OSError, ValueError) as exc:
        probe = None
        items.append(
            ComplianceItem(
                key="reachable",
                title="Stream reachable",
                status="failed",
                reason=_failure_reason(camera, exc),
            )
        )
    if probe is None:
        why = "Not measured: the stream could not be opened."
        items.append(
            ComplianceItem(key="resolution", title="Resolution", status="not_measurable", reason=why)
        )
        items.append(
            ComplianceItem(key="frame_rate", title="Frame rate", status="not_measurable", reason=why)
        )
    else:
        items.append(
            ComplianceItem(
                key="reachable",
                title="Stream reachable",
                status="passed",
                reason=f"The stream opened and sent video within {probe.seconds:.1f} s.",
            )
        )
        size, minimum = f"{probe.width}x{probe.height}", f"{rules.min_width}x{rules.min_height}"
        big_enough = probe.width >= rules.min_width and probe.height >= rules.min_height
        items.append(
            ComplianceItem(
                key="resolution",
                title="Resolution",
                status="passed" if big_enough else "failed",
                reason=f"{size} {'meets' if big_enough else 'is below'} the minimum of {minimum}.",
            )
        )
        if probe.fps is None:
            items.append(
                ComplianceItem(
                    key="frame_rate",
                    title="Frame rate",
                    status="not_measurable",
                    reason="The stream's timestamps did not tell its frame rate.",
                )
            )
        else:
            fast_enough = probe.fps >= rules.min_fps - 0.05  # measured rates wobble around the nominal one
            items.append(
                ComplianceItem(
                    key="frame_rate",
                    title="Frame rate",
                    status="passed" if fast_enough else "failed",
                    reason=f"{probe.fps:.1f} frames per second "
                    f"{'meets' if fast_enough else 'is below'} the minimum of {rules.min_fps:g}.",
                )
            )
    items.append(_clock(url, settings))
    items.append(_password_item(camera, box))
    return ComplianceReport(checked_at=utcnow(), passed=all(i.status != "failed" for i in items), items=items)


def reviewable_camera(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> Camera:
    """A camera the caller may check and review: in a district they review, or (checking only) their own."""
    if principal.can(REVIEW) and not principal.can(registry.MANAGE):
        camera = session.get(Camera, camera_id)
        if camera is None or not principal.sees_district(camera.district_id):
            raise NotFound("no such camera")
        return camera
    return registry.camera_for(
        session=session, principal=principal, camera_id=camera_id, permission=registry.MANAGE
    )


def _store_report(session: Session, camera: Camera, report: ComplianceReport, actor: Principal) -> None:
    camera.compliance = report.model_dump(mode="json")
    camera.compliance_checked_at = report.checked_at
    camera.compliance_due_at = None
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="camera.compliance",
        outcome="success",
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={
            "passed": report.passed,
            "failed": [i.key for i in report.items if i.status == "failed"],
            "automatic": actor is SYSTEM,
        },
    )
    logger.info("camera %s compliance checked: passed=%s", camera.id, report.passed)


def _checked(
    camera: Camera, box: SecretBox, settings: Settings, principal: Principal, *, refuse: bool = False
) -> ComplianceReport:
    """The check of a camera. An owner's camera whose address no longer passes the rules is not opened:
    with `refuse` (a person pressed the button) that is an InvalidInput, else a failed report to keep."""
    if camera.premises_id is not None:
        # The owner's host name may point elsewhere since it was checked (or the camera predates the check).
        rules = registry.stream_rules(settings=settings, principal=principal, owner_camera=True)
        try:
            for url in filter(None, (camera.stream_url, camera.substream_url)):
                registry.check_stream_url(url, rules)
        except InvalidInput as exc:
            if refuse:
                raise
            item = ComplianceItem(
                key="reachable", title="Stream reachable", status="failed", reason=exc.message
            )
            return ComplianceReport(checked_at=utcnow(), passed=False, items=[item])
    return check_compliance(camera=camera, box=box, settings=settings)


def run_compliance_check(
    *, session: Session, principal: Principal, box: SecretBox, settings: Settings, camera_id: uuid.UUID
) -> ComplianceReport:
    """Run the check on a camera now (its owner, or a reviewer in its district) and keep the report on it."""
    camera = reviewable_camera(session=session, principal=principal, camera_id=camera_id)
    report = _checked(camera, box, settings, principal, refuse=True)
    _store_report(session, camera, report, principal)
    return report


def check_due_camera(
    *, session_factory: sessionmaker[Session], box: SecretBox, settings: Settings, camera_id: uuid.UUID
) -> ComplianceReport | None:
    """Run one due check (blocking: from a worker thread) and store it, unless the stream changed meanwhile.

    The stream is probed outside any transaction, so a slow camera holds no database lock.
    """
    with session_factory() as session:
        camera = session.get(Camera, camera_id)
        if camera is None or camera.compliance_due_at is None:
            return None
        due = camera.compliance_due_at
        report = _checked(camera, box, settings, SYSTEM)
        session.rollback()  # end the read transaction: the probe took seconds
        camera = session.get(Camera, camera_id)
        if camera is None or camera.compliance_due_at != due:
            return None  # removed, or changed again: a newer check is due
        _store_report(session, camera, report, SYSTEM)
        session.commit()
        return report


def due_cameras(*, session: Session, limit: int = DUE_BATCH) -> list[uuid.UUID]:
    """Cameras whose compliance check is due, longest waiting first."""
    query = select(Camera.id).where(Camera.compliance_due_at.is_not(None)).order_by(Camera.compliance_due_at)
    return list(session.scalars(query.limit(limit)))


async def run_compliance_checks(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    stop: asyncio.Event,
    poll_s: float = DUE_POLL_S,
) -> None:
    """Run due compliance checks until `stop` is set: each in a worker thread with its own session.

    Woken when this process commits a check due (service.mark_compliance_due); otherwise it looks every
    `poll_s` seconds, first after one wait. A check that fails unexpectedly is logged and tried again at
    the next look; it never stops the task.
    """
    box = registry.credentials_box(settings)
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def waker() -> None:  # called in whichever thread committed
        loop.call_soon_threadsafe(wake.set)

    def due() -> list[uuid.UUID]:
        with session_factory() as session:
            found = due_cameras(session=session, limit=DUE_BATCH + len(failed))
        return [c for c in found if c not in failed][:DUE_BATCH]

    registry.COMPLIANCE_WAKERS.add(waker)
    failed: set[uuid.UUID] = set()
    try:
        while not stop.is_set():
            woken = asyncio.ensure_future(wake.wait())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({woken, stopped}, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
            woken.cancel()
            stopped.cancel()
            wake.clear()
            while not stop.is_set():
                try:
                    camera_ids = await asyncio.to_thread(due)
                except Exception:
                    logger.exception("compliance: could not read the due checks")
                    break
                if not camera_ids:
                    break
                await asyncio.gather(
                    *(
                        asyncio.to_thread(_check_logged, session_factory, box, settings, camera_id, failed)
                        for camera_id in camera_ids
                    )
                )
            failed.clear()  # tried again at the next look
    finally:
        registry.COMPLIANCE_WAKERS.discard(waker)


def _check_logged(
    session_factory: sessionmaker[Session],
    box: SecretBox,
    settings: Settings,
    camera_id: uuid.UUID,
    failed: set[uuid.UUID],
) -> None:
    try:
        check_due_camera(session_factory=session_factory, box=box, settings=settings, camera_id=camera_id)
        failed.discard(camera_id)
    except Exception:
        logger.exception("compliance: the check of camera %s failed; trying again later", camera_id)
        failed.add(camera_id)


# --- the authority's review -----------------------------------------------------------------------


def _require_reviewer(principal: Principal) -> None:
    if not (principal.can(registry.MANAGE) or principal.can(REVIEW)):
        raise PermissionDenied(f"this needs the '{REVIEW}' permission")


def review_queue(*, session: Session, principal: Principal) -> list[Camera]:
    """Commercial cameras waiting for review in the principal's districts, oldest first."""
    _require_reviewer(principal)
    query = select(Camera).where(
        principal.district_filter(Camera.district_id),
        Camera.owner == Owner.COMMERCIAL,
        Camera.approval == Approval.PENDING,
    )
    return list(session.scalars(query.order_by(Camera.created_at, Camera.id)))


def compliance_state(camera: Camera) -> str:
    """Where a camera's compliance stands: passed, failed, running (a check is due) or not_checked."""
    if camera.compliance_due_at is not None or camera.compliance is None:
        return "running" if camera.compliance_due_at is not None else "not_checked"
    return "passed" if camera.compliance.get("passed") else "failed"


def review_camera(*, session: Session, principal: Principal, camera_id: uuid.UUID, data: ReviewIn) -> Camera:
    """Approve or reject a commercial camera; the owner sees the outcome.

    A reason is needed to reject, and to approve a camera that has not passed its compliance check (failed,
    not yet checked, or its check still running): the reviewer has been shown the findings and approves
    regardless; the reason and the findings overridden are kept on the camera and in the audit log.
    """
    _require_reviewer(principal)  # first: camera_for alone would let an owner review their own camera
    camera = reviewable_camera(session=session, principal=principal, camera_id=camera_id)
    if camera.owner != Owner.COMMERCIAL:
        raise Conflict("only commercial cameras are reviewed", code="not_reviewable")
    reason = data.reason.strip()
    if data.decision == "reject" and not reason:
        raise InvalidInput("give the owner a reason for the rejection", code="reason_required")
    state = compliance_state(camera)
    failed = [i["key"] for i in (camera.compliance or {}).get("items", []) if i.get("status") == "failed"]
    override = data.decision == "approve" and state != "passed"
    if override and len(reason) < MIN_OVERRIDE_REASON:
        why = {
            "failed": f"failed its compliance check ({', '.join(failed)})",
            "running": "is still being checked",
        }
        raise InvalidInput(
            f"this camera {why.get(state, 'has not been checked')}: to approve it anyway, write why "
            f"(at least {MIN_OVERRIDE_REASON} characters); the reason is recorded and audited",
            code="override_reason_required",
        )
    camera.approval = Approval.APPROVED if data.decision == "approve" else Approval.REJECTED
    camera.review_reason = reason or None
    camera.reviewed_at = utcnow()
    session.flush()
    detail: dict[str, object] = {"decision": data.decision, "reason": reason, "compliance": state}
    if override:
        detail |= {"override": True, "failed": failed}
    audit.record(
        session=session,
        actor=principal,
        action="camera.review",
        outcome="success",
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail=detail,
    )
    return camera


# --- transparency ---------------------------------------------------------------------------------


def camera_viewers(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, limit: int = MAX_VIEWERS
) -> list[AuditEntry]:
    """Who watched, played back or exported a camera's video, newest first (owner or authority)."""
    camera = registry.camera_for(
        session=session, principal=principal, camera_id=camera_id, permission=registry.MANAGE
    )
    if not 1 <= limit <= MAX_VIEWERS:
        raise InvalidInput(f"limit must be between 1 and {MAX_VIEWERS}")
    query = (
        select(AuditEntry)
        .where(
            AuditEntry.action.in_(VIEW_ACTIONS),
            AuditEntry.object_type == "camera",
            AuditEntry.object_id == str(camera.id),
        )
        .order_by(AuditEntry.seq.desc())
        .limit(limit)
    )
    entries = list(session.scalars(query))
    audit.record(
        session=session,
        actor=principal,
        action="camera.viewers.read",
        outcome="success",
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={"returned": len(entries)},
    )
    return entries


def views_per_day(
    entries: list[AuditEntry], *, zone: ZoneInfo, days: int = 14, today: dt.date | None = None
) -> list[tuple[dt.date, int]]:
    """How many viewings fell on each of the last `days` local days, oldest first (zeros included)."""
    today = today or utcnow().astimezone(zone).date()
    counts = Counter(entry.at.astimezone(zone).date() for entry in entries)
    return [(day, counts[day]) for day in (today - dt.timedelta(days=n) for n in range(days - 1, -1, -1))]
