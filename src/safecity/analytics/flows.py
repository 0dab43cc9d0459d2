"""Analytics of the cameras this process ingests, end to end: rules from the database, one shared detector,
and each rule firing turned into a stored, published event with its snapshot (and an alert if severe);
counting lines' crossings are counted in memory and written every few seconds by a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime as dt
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics import attributes, snapshots
from safecity.analytics import service as analytics
from safecity.analytics.counting import CountBook
from safecity.analytics.detectors import Detector, DetectorConfig, build_detector
from safecity.analytics.faces.engine import FaceEngine
from safecity.analytics.faces.live import CameraFaces, FaceFound, FaceQueue, FaceWorker
from safecity.analytics.faces.types import Embedding
from safecity.analytics.pipeline import (
    CameraAnalytics,
    CameraInfo,
    Followed,
    Hit,
    InferenceQueue,
    InferenceWorker,
    summarise,
)
from safecity.analytics.plates import build_reader
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.live import CameraPlates, CameraRef, Finished, PlateQueue, PlateWorker
from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import Alternative, PlateSettings, SightingIn, SightingOut
from safecity.analytics.replay import ReplayJob, ReplayResult, recording_pictures, replay
from safecity.analytics.schemas import DetectionSettings, RuleConfig
from safecity.analytics.stats import AnalyticsStats
from safecity.cameras.models import Camera
from safecity.cameras.privacy import service as privacy
from safecity.config import AnalyticsSettings, Settings
from safecity.core.bus import Bus
from safecity.core.bus.store import StoreConsumer, hand_over, store_here
from safecity.core.crypto import SecretBox
from safecity.core.db import READ_ONLY, transaction, utcnow
from safecity.events import service as events
from safecity.events.alerts import service as alerts
from safecity.events.schemas import EventIn, EventOut
from safecity.faces import service as faces
from safecity.faces.matches import flows as face_matches
from safecity.faces.matches import service as face_sightings
from safecity.faces.matches.schemas import Candidate, FaceSeenIn
from safecity.faces.models import AuthorisationKind
from safecity.forensics import flows as forensic_flows
from safecity.forensics import service as forensics
from safecity.forensics.schemas import TrackIn
from safecity.records import flows as records
from safecity.traffic import flows as traffic
from safecity.traffic.speeds import SpeedBook
from safecity.video.ingest import IngestSupervisor

logger = logging.getLogger(__name__)

SOURCE = "analytics"
PLATE_READER = {"type": "rapidocr"}
REFRESH_S = 5.0  # how soon a rule drawn, or a detector setting changed, in the UI starts to apply
SIGHTING_STORE = "plate-sighting-store"  # the sighting store's durable consumer, shared by every process
FACE_STORE = "face-store"  # the faces seen store's durable consumer, shared by every process
MASKED_PLATE = 0.5  # a plate with more of its box than this inside a privacy mask is not kept


@dataclass(frozen=True)
class CameraPlan:
    """What one camera's analytics run with: the camera, its enabled rules, how its frames are detected."""

    info: CameraInfo
    rules: list[tuple[uuid.UUID, RuleConfig]]
    detection: DetectorConfig
    plates: PlateSettings | None = None  # how it reads number plates (None: it does not)
    faces: bool = False  # a current live authorisation covers it: faces are matched

    @property
    def needs_detector(self) -> bool:
        """Whether the shared detector must run for this camera (a dedicated ANPR camera, or face matching,
        alone needs none).
        """
        if self.rules:
            return True
        if self.plates is not None:
            return self.plates.mode == "vehicles"
        return not self.faces


def configured_detector(cfg: AnalyticsSettings) -> Detector:
    """The detector these settings run, fed as the pipeline feeds a camera without settings of its own
    (tiles, road users, riders).
    """
    return build_detector(DetectionSettings.of_settings(cfg).detector_config(cfg.detector))


def subject(camera_id: uuid.UUID) -> str:
    """The bus subject a camera's analytics events are published on (kept by the EVENTS stream)."""
    return f"events.analytics.{camera_id}"


@dataclass
class AnalyticsRuntime:
    """Runs analytics on every ingested camera that has rules, sharing one detector between them."""

    settings: Settings
    session_factory: sessionmaker[Session]
    bus: Bus
    supervisor: IngestSupervisor
    queue: InferenceQueue = field(default_factory=InferenceQueue, init=False)
    worker: InferenceWorker | None = field(default=None, init=False)
    cameras: dict[uuid.UUID, CameraAnalytics] = field(default_factory=dict, init=False)
    counts: CountBook = field(default_factory=CountBook, init=False)  # crossings not yet written
    speeds: SpeedBook = field(default_factory=SpeedBook, init=False)  # traffic: crossings, paired into speeds
    plate_queue: PlateQueue = field(default_factory=PlateQueue, init=False)
    plate_worker: PlateWorker | None = field(default=None, init=False)
    face_queue: FaceQueue = field(default_factory=FaceQueue, init=False)
    face_worker: FaceWorker | None = field(default=None, init=False)  # the keeper of the galleries
    face_helpers: list[FaceWorker] = field(default_factory=list, init=False)  # more threads that only match
    # Seconds from a frame's decoding to its event being kept (stored, or on a bus that outlives this
    # process, from where the event store takes it), for the latest events.
    event_latencies: deque[float] = field(default_factory=lambda: deque(maxlen=500), init=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    # Sightings, faces and finished tracks being stored.
    _sightings: set[concurrent.futures.Future[None]] = field(default_factory=set, init=False)
    _face_box: SecretBox | None = field(default=None, init=False)
    # Faces are stored one at a time: a lead's look for the same person's earlier lead on the camera must see
    # the one stored just before it (one camera is analysed by one process, so one lock per process does).
    _face_store: threading.Lock = field(default_factory=threading.Lock, init=False)

    async def start(self) -> None:
        """Start analysing the cameras with rules, and follow rule changes."""
        self._loop = asyncio.get_running_loop()
        await self.refresh()
        self._task = asyncio.create_task(self._follow(), name="analytics-rules")

    async def stop(self) -> None:
        """Stop every camera's analytics and the detector."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for camera in self.cameras.values():
            await asyncio.to_thread(camera.stop)
        self.cameras.clear()
        if self.worker is not None:
            await asyncio.to_thread(self.worker.stop)
        if self.plate_worker is not None:  # after the cameras: it finishes the passes they left open
            await asyncio.to_thread(self.plate_worker.stop)
        for worker in [*self.face_helpers, *([self.face_worker] if self.face_worker else [])]:
            await asyncio.to_thread(worker.stop)
        await asyncio.gather(*(asyncio.wrap_future(f) for f in list(self._sightings)), return_exceptions=True)
        await asyncio.to_thread(self.flush_counts)

    def stats(self) -> AnalyticsStats:
        """Per-camera and total rates, detector latency and queue drops."""
        detector = self.worker.detector.name if self.worker else self.settings.analytics.detector
        if self.worker is None:
            return AnalyticsStats(detector, [], 0.0, 0.0, None, None, self.queue.drops)
        return summarise(detector, list(self.cameras.values()), self.worker, self.queue)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except Exception:  # the database may be away for a moment: keep the running rules
                logger.exception("analytics rules could not be refreshed")
            await asyncio.to_thread(self.flush_counts)

    def flush_counts(self) -> None:
        """Write what the counting lines counted since the last flush (kept for the next one on failure)."""
        # Traffic: the speeds between calibrated lines, written (and alerted) with the counts.
        traffic.flush_speeds(self.speeds, self.session_factory, bus=self.bus, loop=self._loop)
        rows = self.counts.drain()
        if not rows:
            return
        try:
            with self.session_factory() as session:
                analytics.add_counts(session=session, rows=rows)
                session.commit()
        except Exception:
            logger.exception("line counts could not be written; kept for the next try")
            self.counts.put_back(rows)

    async def refresh(self) -> None:
        """Analyse exactly the ingested cameras that have enabled rules or read plates, as now configured."""
        wanted = await asyncio.to_thread(self._load, set(self.supervisor.camera_ids()))
        if self.worker is None and any(p.needs_detector for p in wanted.values()):
            # The model is loaded once some camera needs it.
            detector = await asyncio.to_thread(configured_detector, self.settings.analytics)
            self.worker = InferenceWorker(detector, self.queue)
            self.worker.start()
        if self.plate_worker is None and any(p.plates is not None for p in wanted.values()):
            reader = await asyncio.to_thread(build_reader, PLATE_READER)
            self.plate_worker = PlateWorker(reader, self.plate_queue)
            self.plate_worker.start()
        if self.face_worker is None and any(p.faces for p in wanted.values()):
            self._face_box = faces.biometric_box(self.settings)
            engine = await asyncio.to_thread(FaceEngine, self.settings.faces)
            self.face_worker = FaceWorker(
                engine, self.face_queue, self._galleries, self._gallery_stamp, purge=self._purge_faces
            )
            self.face_worker.start()
            for n in range(1, self.settings.faces.live_threads):
                helper = FaceWorker(
                    await asyncio.to_thread(FaceEngine, self.settings.faces),
                    self.face_queue,
                    self._galleries,
                    self._gallery_stamp,
                    keeper=False,
                    name=f"analytics-faces-{n}",
                )
                helper.start()
                self.face_helpers.append(helper)
        for camera_id in [c for c in self.cameras if c not in wanted]:
            await asyncio.to_thread(self.cameras.pop(camera_id).stop)
        for camera_id, plan in wanted.items():
            info, rules = plan.info, plan.rules
            running = self.cameras.get(camera_id)
            if running is not None and running.info == info:
                if running.rules != rules:
                    running.set_rules(rules)
                # Read by the detector thread per frame: the next frame is detected the new way.
                running.detection = plan.detection
                reading = running.plates.settings if running.plates is not None else None
                if reading != plan.plates:
                    await asyncio.to_thread(running.set_plates, self._camera_plates(plan))
                if (running.faces is not None) != plan.faces:
                    running.set_faces(self._camera_faces(plan))
                continue
            if running is not None:
                await asyncio.to_thread(running.stop)
            slot = self.supervisor.slot(camera_id)
            if slot is None:
                continue
            camera = CameraAnalytics(
                info,
                slot,
                self.queue,
                rules,
                sink=self._on_hit,
                timezone=self.settings.timezone,
                fps=self.settings.video.analytics_fps,
                keepalive_s=self.settings.analytics.keepalive_s,
                motion_threshold=self.settings.analytics.motion_threshold,
                detection=plan.detection,
                plates=self._camera_plates(plan),
                faces=self._camera_faces(plan),
                on_track=self._on_track if self.settings.analytics.keep_tracks else None,
            )
            camera.start()
            self.cameras[camera_id] = camera
            logger.info("camera %s: analytics started with %d rules", camera_id, len(rules))

    def _camera_plates(self, plan: CameraPlan) -> CameraPlates | None:
        if plan.plates is None or self.plate_worker is None:
            return None
        info = plan.info
        ref = CameraRef(info.camera_id, info.name, info.district_id)
        floor = self.plate_worker.reader.config.min_confidence
        return CameraPlates(ref, plan.plates, self.plate_queue, sink=self._on_sighting, floor=floor)

    def _camera_faces(self, plan: CameraPlan) -> CameraFaces | None:
        if not plan.faces or self.face_worker is None:
            return None
        info = plan.info
        return CameraFaces(
            CameraRef(info.camera_id, info.name, info.district_id), self.face_queue, sink=self._on_face
        )

    def _load(self, ingested: set[uuid.UUID]) -> dict[uuid.UUID, CameraPlan]:
        if not self.settings.analytics.enabled or not ingested:
            return {}
        with self.session_factory() as session:
            reading = plates.reading_cameras(session=session)
            matching = live_face_cameras(session=session)
            ids = (analytics.cameras_with_rules(session=session) | set(reading) | matching) & ingested
            found = session.scalars(select(Camera).where(Camera.id.in_(ids))).all()
            detection = analytics.detection_configs(
                session=session, camera_ids={c.id for c in found}, defaults=self.settings.analytics
            )
            return {
                c.id: CameraPlan(
                    CameraInfo(c.id, c.name, c.district_id),
                    analytics.rules_for_camera(session=session, camera_id=c.id),
                    detection[c.id],
                    reading.get(c.id),
                    c.id in matching,
                )
                for c in found
            }

    # --- from a face seen to a stored sighting and perhaps a lead ------------------------------------

    def _galleries(
        self, camera_ids: Sequence[uuid.UUID], known: Mapping[uuid.UUID, Embedding]
    ) -> dict[uuid.UUID, faces.LiveGallery]:
        """What the cameras may be matched against now (the face worker's thread asks)."""
        if self._face_box is None:
            raise RuntimeError("face matching has not started")
        with self.session_factory() as session:
            session.connection(execution_options=READ_ONLY)  # reads only: no write lock on SQLite
            return faces.live_galleries(
                session=session, box=self._face_box, camera_ids=camera_ids, at=utcnow(), known=known
            )

    def _gallery_stamp(self) -> str:
        with self.session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            return faces.gallery_stamp(session=session)

    def _purge_faces(self) -> int:
        return face_sightings.purge(session_factory=self.session_factory)

    def _on_face(self, found: FaceFound) -> None:
        # Called on the face worker's thread: hand over to the event loop and return at once.
        if self._loop is not None and self._face_box is not None:
            pending = asyncio.run_coroutine_threadsafe(self._record_face(found, self._face_box), self._loop)
            self._sightings.add(pending)
            pending.add_done_callback(self._sightings.discard)

    async def _record_face(self, found: FaceFound, box: SecretBox) -> None:
        camera_id = found.camera.camera_id
        keep_for = dt.timedelta(hours=self.settings.faces.unmatched_retention_hours)
        raised: list[face_matches.Stored] = []

        def store() -> None:
            with self._face_store:
                raised.extend(store_faces(self.session_factory, box, [seen]))

        try:
            seen = await asyncio.to_thread(face_seen, found, box=box, keep_for=keep_for)
            stored = await asyncio.to_thread(
                store_here, bus=self.bus, store=store, what="face seen", key=str(seen.id)
            )
            await hand_over(
                bus=self.bus,
                subject=face_sightings.subject(camera_id),
                msg_id=str(seen.id),
                data=seen.model_dump_json().encode(),
                store=store,
                stored=stored,
                what="face seen",
            )
        except Exception:
            logger.exception("camera %s: a face seen could not be stored", camera_id)
            return
        for lead in raised:  # stored here: on NATS the store's consumer raises them
            if lead.alert is not None:
                await alerts.publish_or_log(self.bus, lead.alert)

    # --- from a finished track to a stored object (forensic search) ---------------------------------

    def _on_track(self, followed: Followed) -> None:
        # Called on the detector thread: hand over to the event loop and return at once.
        if self._loop is not None:
            pending = asyncio.run_coroutine_threadsafe(self._record_track(followed), self._loop)
            self._sightings.add(pending)
            pending.add_done_callback(self._sightings.discard)

    async def _record_track(self, followed: Followed) -> None:
        camera_id = followed.camera.camera_id
        try:
            track, stored = await asyncio.to_thread(self._make_track, followed)
            await hand_over(
                bus=self.bus,
                subject=forensics.subject(camera_id),
                msg_id=str(track.id),
                data=track.model_dump_json().encode(),
                store=partial(forensic_flows.store_tracks, self.session_factory, [track]),
                stored=stored,
                what="object track",
            )
        except Exception:
            logger.exception("camera %s: a finished track could not be stored", camera_id)

    def _make_track(self, followed: Followed) -> tuple[TrackIn, bool]:
        """The record of a finished track (its view written), stored here on the in-process bus."""
        masks = privacy.CACHE.masks(self.session_factory, followed.camera.camera_id)
        track = forensic_flows.track_of(followed, snapshots_dir=self.settings.snapshots_dir, masks=masks)
        stored = store_here(
            bus=self.bus,
            store=partial(forensic_flows.store_tracks, self.session_factory, [track]),
            what="object track",
            key=str(track.id),
        )
        return track, stored

    # --- from a rule firing to an event ---------------------------------------------------------

    def _on_hit(self, hit: Hit) -> None:
        # Called on the detector thread: count, or hand over to the event loop, and return at once.
        if hit.firing.rule.kind == "counting_line":
            self.counts.add(hit.camera.camera_id, hit.firing, hit.frame.captured_at)
            self.speeds.add(hit.camera.camera_id, hit.firing, hit.frame.captured_at)  # traffic speeds
        elif self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._record(hit), self._loop)

    async def _record(self, hit: Hit) -> None:
        try:
            event, stored = await asyncio.to_thread(self._make_event, hit)
            out = EventOut.model_validate(event.model_dump())
            await events.submit(
                bus=self.bus,
                session_factory=self.session_factory,
                subject=subject(hit.camera.camera_id),
                event=event,
                published=out.model_dump_json().encode(),
                stored=stored,
            )
            self.event_latencies.append(time.monotonic() - hit.frame.monotonic)
        except Exception:
            logger.exception("camera %s: an analytics event could not be stored", hit.camera.camera_id)
            return
        if event.severity >= self.settings.analytics.alert_severity:
            await self._alert(hit, event)

    def _make_event(self, hit: Hit) -> tuple[EventIn, bool]:
        """The event of a hit (its snapshot written), stored here on the in-process bus; blocking."""
        event = self._event_of(hit)
        return event, events.store_here(bus=self.bus, session_factory=self.session_factory, event=event)

    def _event_of(self, hit: Hit) -> EventIn:
        """Write the snapshot, then make the event; the snapshot exists before anything refers to it."""
        rule, firing, camera_id = hit.firing.rule, hit.firing, hit.camera.camera_id
        event_id = uuid.uuid4()
        relative = snapshots.relative_path(camera_id, event_id, hit.frame.captured_at)
        # The camera's privacy masks are blacked out before the picture is ever written.
        masks = privacy.CACHE.masks(self.session_factory, camera_id)
        picture = snapshots.draw(
            privacy.apply_masks(hit.image, masks), hit.detections, set(firing.track_ids), rule
        )
        snapshots.save(picture, self.settings.snapshots_dir, relative)
        height, width = hit.image.shape[:2]
        # Loiterers: since when; every object: what its track shows (colour, size, direction, speed).
        since = {track.track_id: track.first_wall.isoformat() for track in hit.tracks}
        described = {track.track_id: attributes.describe_track(track) for track in hit.tracks}
        event = EventIn(
            id=event_id,
            occurred_at=hit.frame.captured_at,
            kind=f"analytics.{rule.kind}",
            source=SOURCE,
            district_id=hit.camera.district_id,
            camera_id=camera_id,
            severity=rule.severity,
            payload={
                "rule_id": str(firing.rule_id),
                "rule_name": rule.name,
                "rule_kind": rule.kind,
                "camera_name": hit.camera.name,
                "objects": [
                    {**o, "first_seen": since.get(o["track_id"]), "track": described.get(o["track_id"])}
                    for o in hit.objects.as_dicts()
                ],
                "detail": firing.detail,
                "snapshot": relative,
                "frame_size": [width, height],
                # Where the recording shows it: this camera's footage at this moment.
                "recording": {"camera_id": str(camera_id), "at": hit.frame.captured_at.isoformat()},
            },
        )
        return event

    # --- from a vehicle pass to a plate sighting ----------------------------------------------------

    def _on_sighting(self, done: Finished) -> None:
        # Called on the plate reader's thread: hand over to the event loop and return at once.
        if self._loop is not None:
            pending = asyncio.run_coroutine_threadsafe(self._record_sighting(done), self._loop)
            self._sightings.add(pending)
            pending.add_done_callback(self._sightings.discard)

    async def _record_sighting(self, done: Finished) -> None:
        camera_id = done.camera.camera_id
        try:
            made = await asyncio.to_thread(self._make_sighting, done)
            if made is None:
                return
            sighting, stored = made
            await hand_over(
                bus=self.bus,
                subject=plates.subject(camera_id),
                msg_id=str(sighting.id),
                data=as_published(sighting).model_dump_json().encode(),
                store=partial(store_sightings, self.session_factory, [sighting]),
                stored=stored,
                what="plate sighting",
            )
        except Exception:
            logger.exception("camera %s: a plate sighting could not be stored", camera_id)

    def _make_sighting(self, done: Finished) -> tuple[SightingIn, bool] | None:
        """The sighting of a finished pass (its pictures written, the camera's privacy masks blacked out),
        stored here on the in-process bus; None for a plate in a masked area. Blocking.
        """
        masks = privacy.CACHE.masks(self.session_factory, done.camera.camera_id)
        sighting = sighting_of(done, snapshots_dir=self.settings.snapshots_dir, masks=masks)
        if sighting is None:
            return None
        stored = store_here(
            bus=self.bus,
            store=partial(store_sightings, self.session_factory, [sighting]),
            what="plate sighting",
            key=str(sighting.id),
        )
        return sighting, stored

    async def _alert(self, hit: Hit, event: EventIn) -> None:
        rule = hit.firing.rule
        what = ", ".join(sorted({o["class"] for o in event.payload["objects"]})) or "object"
        try:
            await alerts.raise_and_publish(
                session_factory=self.session_factory,
                bus=self.bus,
                kind=event.kind,
                severity=int(event.severity),
                title=f"{rule.name}: {what} at {hit.camera.name}",
                source=SOURCE,
                camera_id=hit.camera.camera_id,
                detail={
                    "event_id": str(event.id),
                    "rule_name": rule.name,
                    "snapshot_url": f"/api/v1/events/{event.id}/snapshot.jpg",
                    "objects": len(event.payload["objects"]),
                },
                dedup_key=f"{SOURCE}:{hit.firing.rule_id}",
            )
        except Exception:  # the event is stored; a failed alert must not stop the next one
            logger.exception("camera %s: alert for event %s not raised", hit.camera.camera_id, event.id)


def sighting_of(done: Finished, *, snapshots_dir: Path, masks: privacy.Masks = ()) -> SightingIn | None:
    """A finished pass as a sighting with a new id, its plate crop and vehicle picture written first (so
    they exist before anything refers to them) with the camera's privacy `masks` blacked out; blocking: run
    it off the event loop and the reader's thread.

    None when the plate lies mostly inside a mask: a masked area is not watched, so its plates are not
    kept (the text was read from the clear frame, but nothing of it may be stored).
    """
    if masked_share(done, masks) > MASKED_PLATE:
        return None
    camera_id, vote = done.camera.camera_id, done.vote
    sighting_id = uuid.uuid4()
    crop = plates.crop_path(camera_id, sighting_id, done.seen_at, part="crop")
    vehicle = plates.crop_path(camera_id, sighting_id, done.seen_at, part="vehicle")
    frame_size = done.frame_size
    snapshots.save(
        privacy.mask_crop(done.plate_crop, masks, box=done.plate_cut, frame_size=frame_size),
        snapshots_dir,
        crop,
    )
    snapshots.save(
        privacy.mask_crop(done.vehicle, masks, box=done.vehicle_cut, frame_size=frame_size),
        snapshots_dir,
        vehicle,
    )
    return SightingIn(
        id=sighting_id,
        camera_id=camera_id,
        district_id=done.camera.district_id,
        seen_at=done.seen_at,
        first_seen=done.first_seen,
        last_seen=done.last_seen,
        plate=vote.text,
        confidence=min(1.0, vote.confidence),
        char_confidences=list(vote.char_confidences),
        alternatives=[Alternative(text=t, confidence=c) for t, c in vote.alternatives],
        layout=vote.layout,
        jurisdiction=vote.jurisdiction,
        vehicle_class=done.vehicle_class,
        colour=done.colour,
        direction=done.direction,
        track_id=done.track_id,
        box=list(done.box),
        frames=vote.frames,
        crop=crop,
        snapshot=vehicle,
    )


def masked_share(done: Finished, masks: privacy.Masks) -> float:
    """How much of the plate's box (0..1) lies inside the camera's privacy masks."""
    if not masks:
        return 0.0
    x, y, w, h = done.box
    plate = np.full((max(1, h), max(1, w)), 255, dtype=np.uint8)
    masked = privacy.mask_crop(plate, masks, box=(x, y, x + w, y + h), frame_size=done.frame_size)
    return float((masked == 0).mean())


def as_published(sighting: SightingIn) -> SightingOut:
    """The sighting as the bus carries it (and the API shows it): as stored, held by nothing yet."""
    return SightingOut.model_validate({**sighting.model_dump(), "hold": None})


def as_stored(sighting: SightingOut) -> SightingIn:
    """A published sighting as the store takes it; ValidationError if it is not storable."""
    return SightingIn.model_validate(sighting.model_dump(exclude={"hold"}))


def _published_as_stored(data: bytes) -> SightingIn:
    """A sighting from the bus, as the store takes it; ValidationError if it is malformed."""
    return as_stored(SightingOut.model_validate_json(data))


def record_sightings(*, session: Session, sightings: Sequence[SightingIn]) -> int:
    """Store sightings (skipping ids already stored) and attach the new ones to the records' vehicles with
    their plate; returns how many were new. The caller commits.
    """
    new = plates.record_many(session=session, sightings=sightings)
    if new:
        rows = session.scalars(select(Sighting).where(Sighting.id.in_(new), Sighting.folded.is_not(None)))
        for row in rows.all():
            records.attach_plate_sighting(session=session, sighting=row)  # the records' vehicles seen
    return len(new)


def store_sightings(session_factory: sessionmaker[Session], sightings: list[SightingIn]) -> int:
    """`record_sightings` in a transaction of its own; blocking."""
    with session_factory() as session:
        stored = record_sightings(session=session, sightings=sightings)
        session.commit()
    return stored


def store_sighting(
    done: Finished, *, session_factory: sessionmaker[Session], snapshots_dir: Path, masks: privacy.Masks = ()
) -> SightingOut | None:
    """Write a finished pass's pictures, then store the sighting that refers to them (as `sighting_of`:
    None for a plate in a masked area); blocking.
    """
    sighting = sighting_of(done, snapshots_dir=snapshots_dir, masks=masks)
    if sighting is None:
        return None
    store_sightings(session_factory, [sighting])
    return as_published(sighting)


async def sightings_from_bus(
    *,
    bus: Bus,
    session_factory: sessionmaker[Session],
    stop: asyncio.Event,
    subject: str = "plates.sighting.>",
    durable: str = SIGHTING_STORE,
    batch_size: int = 500,
    max_wait: float = 0.2,
    ack_wait: float = 30.0,
) -> None:
    """Store the plate sightings published on the bus in batches until `stop` is set: commit, then ack.

    On NATS this is how sightings reach the store (the readers only publish them); on the in-process bus
    it finds them stored already.
    """
    consumer = StoreConsumer(
        what="plate sighting",
        parse=_published_as_stored,
        commit=partial(store_sightings, session_factory),
        key=lambda sighting: sighting.id,
    )
    await consumer.run(
        bus=bus,
        subject=subject,
        durable=durable,
        stop=stop,
        batch_size=batch_size,
        max_wait=max_wait,
        ack_wait=ack_wait,
    )


def replay_recordings(
    job: ReplayJob,
    *,
    settings: Settings,
    camera: CameraInfo,
    segments: list[tuple[Path, dt.datetime]],
    detection: DetectorConfig,
) -> ReplayResult:
    """Run a replay job over a camera's recorded segments, in the job's thread, with a detector of its own
    fed as the camera's live analytics feed it (`detection`).
    """
    pictures = recording_pictures(
        segments, since=job.since, until=job.until, fps=settings.video.analytics_fps
    )
    return replay(
        pictures,
        camera=camera,
        rules=job.rules,
        detector=configured_detector(settings.analytics),
        detection=detection,
        settings=settings,
        on_event=job.add,
        speed=0,
        cancel=job.cancel,
        on_frame=job.advance,
    )


def live_face_cameras(*, session: Session) -> set[uuid.UUID]:
    """The cameras a current live face-matching authorisation names."""
    current = faces.current_authorisations(
        session=session, kind=AuthorisationKind.LIVE, camera_id=None, at=utcnow()
    )
    targets = faces.authorisation_targets(session=session, authorisation_ids=[a.id for a in current])
    return {camera_id for _, cameras in targets.values() for camera_id in cameras}


def face_seen(found: FaceFound, *, box: SecretBox, keep_for: dt.timedelta) -> FaceSeenIn:
    """A face seen as the bus carries it to the store, its picture and embedding sealed; blocking."""
    seen = found.seen
    if seen.embedding is None:
        raise ValueError("a face the quality gate refused is never stored")
    ok, jpeg = cv2.imencode(".jpg", seen.chip, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise ValueError("the face could not be encoded as JPEG")
    embedding = np.asarray(seen.embedding, dtype="<f4").tobytes()
    enrolled = found.best
    return FaceSeenIn(
        id=uuid.uuid4(),
        camera_id=found.camera.camera_id,
        seen_at=found.seen_at,
        face_box=seen.face.box,
        quality=seen.quality.as_json(),
        chip=base64.b64encode(box.encrypt_bytes(jpeg.tobytes())).decode(),
        embedding=base64.b64encode(box.encrypt_bytes(embedding)).decode(),
        authorisation_id=found.authorisation_id,
        keep_for_s=keep_for.total_seconds(),
        threshold=found.threshold,
        # Only the face that raised its track's lead makes one: the track's later faces are kept as sightings.
        best=None
        if not found.lead or enrolled is None or found.score is None
        else Candidate(
            enrolled.enrolment_id, enrolled.entry_id, enrolled.watchlist_id, enrolled.person_id, found.score
        ),
    )


def store_faces(
    session_factory: sessionmaker[Session], box: SecretBox, seen: Sequence[FaceSeenIn]
) -> list[face_matches.Stored]:
    """Store the faces seen not stored yet (with their leads and alerts) in one transaction; what became of
    the new ones. Blocking."""
    with transaction(session_factory) as session:
        done = face_sightings.stored_ids(session=session, ids=[s.id for s in seen])
        stored = []
        for record in seen:
            if record.id in done:
                continue
            done.add(record.id)
            stored.append(
                face_matches.record_face(
                    session=session,
                    box=box,
                    sighting_id=record.id,
                    camera_id=record.camera_id,
                    seen_at=record.seen_at,
                    face_box=record.face_box,
                    quality=record.quality,
                    chip_jpeg=box.decrypt_bytes(base64.b64decode(record.chip)),
                    embedding=np.frombuffer(
                        box.decrypt_bytes(base64.b64decode(record.embedding)), dtype="<f4"
                    ),
                    authorisation_id=record.authorisation_id,
                    keep_for=dt.timedelta(seconds=record.keep_for_s),
                    threshold=record.threshold,
                    best=record.best,
                )
            )
        return stored


async def faces_from_bus(
    *,
    bus: Bus,
    session_factory: sessionmaker[Session],
    box: SecretBox,
    stop: asyncio.Event,
    subject: str = "faces.seen.>",
    durable: str = FACE_STORE,
    batch_size: int = 100,
    max_wait: float = 0.2,
    ack_wait: float = 30.0,
) -> None:
    """Store the faces seen published on the bus until `stop` is set: commit, then ack; the leads' alerts
    are published once committed. On the in-process bus it finds them stored already.
    """
    loop = asyncio.get_running_loop()

    def commit(seen: list[FaceSeenIn]) -> int:
        stored = store_faces(session_factory, box, seen)
        for raised in (s.alert for s in stored if s.alert is not None):
            asyncio.run_coroutine_threadsafe(alerts.publish_or_log(bus, raised), loop)
        return len(stored)

    consumer = StoreConsumer(
        what="face seen", parse=FaceSeenIn.model_validate_json, commit=commit, key=lambda seen: seen.id
    )
    await consumer.run(
        bus=bus,
        subject=subject,
        durable=durable,
        stop=stop,
        batch_size=batch_size,
        max_wait=max_wait,
        ack_wait=ack_wait,
    )
