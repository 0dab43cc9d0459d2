"""The cameras of one process, end to end: ingest, recording, retention, and camera-health alerts.

This is where the camera registry, the video pipeline and the alerts domain meet; each stays unaware of
the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics.plates import service as plates
from safecity.auth.principal import Principal
from safecity.cameras import service as cameras
from safecity.cameras.privacy import service as privacy
from safecity.cluster.leases import Assignment, LocalAssignment
from safecity.config import Settings
from safecity.core.bus import Bus, BusError
from safecity.core.db import utcnow
from safecity.events.alerts import service as alerts
from safecity.events.models import Severity
from safecity.forensics import service as forensics
from safecity.video import retention
from safecity.video.ingest import CameraSpec, IngestSupervisor
from safecity.video.packets import PacketSink
from safecity.video.recorder import LIVE_MAX_DRIFT, SegmentRecorder, segment_indexer
from safecity.video.status import CameraState, CameraStatus

logger = logging.getLogger(__name__)

SOURCE = "camera-health"
REFRESH_S = 30.0  # how often the registry is re-read for added, changed or removed cameras
RETENTION_S = 60.0
# Plate sightings and followed objects expire by the day: a pass every ten minutes is plenty.
PURGE_S = 600.0


@dataclass
class VideoRuntime:
    """Runs ingest and recording for the enabled, approved cameras that its assignment gives this process
    (on one box: all of them), and turns health changes into alerts.

    Analytics and traffic enforcement follow the supervisor's cameras, so they follow the assignment too.
    """

    settings: Settings
    session_factory: sessionmaker[Session]
    bus: Bus
    assignment: Assignment = field(default_factory=LocalAssignment)
    supervisor: IngestSupervisor = field(init=False)
    recording_allowed: bool = field(default=True, init=False)
    _recorded: set[uuid.UUID] = field(default_factory=set, init=False)
    _specs: list[CameraSpec] = field(default_factory=list, init=False)  # every active camera's
    _syncing: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.supervisor = IngestSupervisor(
            self.settings.video, on_status_change=self._on_status_change, sink_factory=self._sinks
        )
        # A camera gained or lost runs (or stops) at once, not at the next registry refresh.
        self.assignment.bind(self._run_owned)

    async def start(self) -> None:
        """Join the assignment (a worker id in use elsewhere refuses the start: `WorkerIdInUse`), reconcile
        the recording index with the disk, then start this process's cameras and the housekeeping loops.

        The assignment takes no camera before the first refresh tells it which cameras there are.
        """
        self._loop = asyncio.get_running_loop()
        await self.assignment.start()
        self.settings.recordings_dir.mkdir(parents=True, exist_ok=True)
        report = await asyncio.to_thread(self._reconcile)
        logger.info("recordings reconciled: %s", report)
        self.supervisor.start()
        await self.refresh()
        self._tasks = [
            asyncio.create_task(self._every(REFRESH_S, self.refresh), name="cameras-refresh"),
            asyncio.create_task(self._every(RETENTION_S, self.enforce_retention), name="retention"),
            asyncio.create_task(self._every(PURGE_S, self.purge_plates), name="plates-retention"),
            asyncio.create_task(self._every(PURGE_S, self.purge_tracks), name="tracks-retention"),
        ]

    async def stop(self) -> None:
        """Stop the loops and every worker (threads joined, streams closed)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.assignment.stop()  # its cameras stopped before their leases are given back
        await asyncio.to_thread(self.supervisor.stop)

    async def refresh(self) -> None:
        """Bring the running workers in line with the registry and this process's assignment."""
        self._specs = await asyncio.to_thread(self._load_specs)
        await self._run_owned(self.assignment.owned())

    async def _run_owned(self, owned: frozenset[uuid.UUID] | None) -> None:
        """Run the active cameras in `owned` (None: all), stopping the others; returns once they have."""
        specs = [s for s in self._specs if owned is None or s.camera_id in owned]
        async with self._syncing:
            await asyncio.to_thread(self.supervisor.sync, specs)

    def _load_specs(self) -> list[CameraSpec]:
        box = cameras.credentials_box(self.settings)
        with self.session_factory() as session:
            active = cameras.active_cameras(session=session)
            self._recorded = {c.id for c in active if c.recording}
            self.assignment.set_cameras({c.id: c.pinned_worker for c in active})
            return [
                CameraSpec(
                    camera_id=c.id, url=cameras.connect_url(c, box), name=c.name, district_id=c.district_id
                )
                for c in active
            ]

    def _sinks(self, spec: CameraSpec) -> Sequence[PacketSink]:
        if spec.camera_id not in self._recorded:
            return ()
        camera_id, session_factory = spec.camera_id, self.session_factory
        return (
            SegmentRecorder(
                spec.camera_id,
                self.settings.recordings_dir,
                self.settings.video.segment_seconds,
                segment_indexer(self.session_factory),
                allowed=lambda: self.recording_allowed,
                max_drift=LIVE_MAX_DRIFT,
                # Cached (read at most every REFRESH_S): asked at every key frame and masked picture.
                masks=lambda: privacy.CACHE.masks(session_factory, camera_id),
            ),
        )

    def _reconcile(self) -> retention.ReconcileReport:
        with self.session_factory() as session:
            report = retention.reconcile(session=session, recordings_dir=self.settings.recordings_dir)
            session.commit()
            return report

    # --- health -------------------------------------------------------------------------------

    def _on_status_change(
        self, camera_id: uuid.UUID, old: CameraState, new: CameraState, status: CameraStatus
    ) -> None:
        # Called on worker threads: hand over to the event loop and return at once.
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._status_changed(old, new, status), self._loop)

    async def _status_changed(self, old: CameraState, new: CameraState, status: CameraStatus) -> None:
        try:
            await self.bus.publish(
                f"cameras.status.{status.camera_id}",
                json.dumps(status.as_dict()).encode(),
                msg_id=f"{status.camera_id}:{status.since.isoformat()}:{new.value}",
            )
        except BusError:
            logger.warning("camera %s: status not published (bus unavailable)", status.camera_id)
        if new is CameraState.OFFLINE:
            await self._alert(
                "camera.offline",
                Severity.HIGH,
                f"{status.name or 'Camera'} is offline",
                status,
                {
                    "last_frame_at": status.last_frame_at.isoformat() if status.last_frame_at else None,
                    "last_error": status.last_error,
                },
            )
        elif new is CameraState.ONLINE and old is CameraState.OFFLINE:
            await self._recovered(status)

    async def _recovered(self, status: CameraStatus) -> None:
        """The camera is back: its "offline" alert, if nobody has handled it yet, closes itself with a note.

        One that an operator acknowledged or dismissed keeps their record; either way no second alert is
        raised, so a camera that recovers adds nothing to the operators' queue.
        """
        back = status.since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        try:
            await alerts.resolve_and_publish(
                session_factory=self.session_factory,
                bus=self.bus,
                source=SOURCE,
                dedup_key=f"camera.offline:{status.camera_id}",
                note=f"Auto-resolved: {status.name or 'the camera'} is back online since {back}",
            )
        except Exception:  # like raising: one camera's bookkeeping never stops the others' health
            logger.exception("camera %s: its offline alert could not be resolved", status.camera_id)

    async def _alert(
        self, kind: str, severity: Severity, title: str, status: CameraStatus, detail: dict[str, object]
    ) -> None:
        try:
            await alerts.raise_and_publish(
                session_factory=self.session_factory,
                bus=self.bus,
                kind=kind,
                severity=int(severity),
                title=title,
                source=SOURCE,
                camera_id=status.camera_id,
                detail=detail,
                dedup_key=f"{kind}:{status.camera_id}",
            )
        except Exception:  # an alert that cannot be stored must not stop the other cameras' health
            logger.exception("camera %s: %s alert could not be raised", status.camera_id, kind)

    # --- disk ---------------------------------------------------------------------------------

    async def enforce_retention(self) -> None:
        """Delete expired and over-quota footage; if only evidence is left, stop recording and alert."""
        report = await asyncio.to_thread(self._enforce)
        must_stop = report.recording_must_stop
        if must_stop and self.recording_allowed:
            logger.critical("recording stopped: %s", report.message)
            await alerts.raise_and_publish(
                session_factory=self.session_factory,
                bus=self.bus,
                kind="recording.stopped",
                severity=int(Severity.CRITICAL),
                title="Recording stopped: the disk is full of footage under evidence lock",
                source=SOURCE,
                detail={"message": report.message, "locked_bytes": report.locked_bytes},
                dedup_key="recording.stopped",
            )
        self.recording_allowed = not must_stop

    def _enforce(self) -> retention.RetentionReport:
        quota = int(self.settings.video.disk_quota_gb * 1024**3)
        with self.session_factory() as session:
            report = retention.enforce(
                session=session, recordings_dir=self.settings.recordings_dir, quota_bytes=quota, now=utcnow()
            )
            session.commit()
            return report

    async def purge_plates(self) -> None:
        """Delete plate sightings past their retention, with their pictures (read by this machine)."""
        deleted = await asyncio.to_thread(
            plates.purge,
            session_factory=self.session_factory,
            snapshots_dir=self.settings.snapshots_dir,
            retention_days=self.settings.plates.retention_days,
            now=utcnow(),
        )
        if deleted:
            logger.info("plate retention: %s expired sightings deleted", deleted)

    async def purge_tracks(self) -> None:
        """Delete the objects followed past their retention, with their best views (read by this machine)."""
        deleted = await asyncio.to_thread(
            forensics.purge,
            session_factory=self.session_factory,
            snapshots_dir=self.settings.snapshots_dir,
            retention_days=self.settings.forensics.track_retention_days,
            now=utcnow(),
        )
        if deleted:
            logger.info("object retention: %s expired objects deleted", deleted)

    @staticmethod
    async def _every(seconds: float, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception:  # housekeeping retries next round; it never takes the process down
                logger.exception("periodic %s failed", getattr(work, "__name__", work))


def delete_camera(
    *, session: Session, principal: Principal, settings: Settings, camera_id: uuid.UUID
) -> None:
    """Remove a camera with its recorded footage; refused while any of that footage is evidence."""
    cameras.camera_for(session=session, principal=principal, camera_id=camera_id, permission=cameras.MANAGE)
    retention.remove_camera_footage(
        session=session, recordings_dir=settings.recordings_dir, camera_id=camera_id
    )
    cameras.delete_camera(session=session, principal=principal, camera_id=camera_id)
