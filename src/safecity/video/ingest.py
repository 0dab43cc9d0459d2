"""Camera ingest: one thread per camera demuxes once, hands packets to sinks and samples decoded frames.

Compressed packets go to every `PacketSink` (the recorder) untouched; frames are decoded only as far as
analytics needs (at `analytics_fps`, or key frames only) and published to a `FrameSlot` that readers poll
for the newest frame (converted to BGR when first read). A supervisor runs the workers, watches them every
second, reports each camera's state changes, restarts a thread that died and replaces one that hangs.
One camera's failure never touches another's thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

import av
import av.video.frame
import av.video.stream
import numpy as np
import numpy.typing as npt

from safecity.config import VideoSettings
from safecity.core.db import utcnow
from safecity.video.packets import PacketSink
from safecity.video.sources import NoVideoStream, VideoSource, describe_error, redact_url
from safecity.video.status import CameraState, CameraStatus, RateMeter

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
StatusCallback = Callable[[uuid.UUID, CameraState, CameraState, CameraStatus], None]
SinkFactory = Callable[["CameraSpec"], Sequence[PacketSink]]

BACKOFF_BASE_S = 0.5
STABLE_AFTER_S = 5.0  # a connection that streamed this long resets the backoff
SAMPLE_SLACK_S = 1e-3  # timestamps are rounded to the stream's time base


class Frame:
    """One decoded picture; `image` (BGR, read-only) is converted on first use and shared by every reader.

    Converting only when someone looks saves the CPU of cameras nobody watches or analyses (at 720p a
    conversion costs half to all of a frame's decoding), and a slow reader converts only what it takes.
    """

    __slots__ = (
        "_image",
        "_lock",
        "_source",
        "captured_at",
        "height",
        "keyframe",
        "monotonic",
        "pts_time",
        "seq",
        "width",
    )

    def __init__(
        self,
        picture: Image | av.video.frame.VideoFrame,
        *,
        seq: int,
        captured_at: dt.datetime,
        monotonic: float,
        pts_time: float | None = None,
        keyframe: bool = False,
    ) -> None:
        self.seq = seq
        self.captured_at = captured_at  # wall clock (UTC) when it was decoded
        self.monotonic = monotonic
        self.pts_time = pts_time  # stream timestamp in seconds
        self.keyframe = keyframe
        self._lock = threading.Lock()
        self._source: av.video.frame.VideoFrame | None = None
        self._image: Image | None = None
        if isinstance(picture, av.video.frame.VideoFrame):
            self._source, self.width, self.height = picture, picture.width, picture.height
        else:
            picture.flags.writeable = False
            self._image, self.height, self.width = picture, int(picture.shape[0]), int(picture.shape[1])

    @property
    def image(self) -> Image:
        """The picture as a BGR array (converted once, by the first reader that asks)."""
        image = self._image
        if image is not None:
            return image
        with self._lock:
            image = self._image
            if image is None:  # then the decoded frame is still here
                image = to_bgr(cast(av.video.frame.VideoFrame, self._source))
                image.flags.writeable = False
                self._image, self._source = image, None  # the decoder's buffer is released
        return image


class FrameSlot:
    """The newest frame of a camera: the writer replaces it, readers wait for one newer than they had.

    No queue and no copy: a slow reader simply gets the newest frame when it next asks, and the writer
    only ever holds the lock for an assignment, so it never waits for a reader.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._seq = 0

    def publish(
        self,
        picture: Image | av.video.frame.VideoFrame,
        *,
        pts_time: float | None = None,
        keyframe: bool = False,
    ) -> Frame:
        """Make `picture` the newest frame and wake the readers waiting for one."""
        with self._cond:
            self._seq += 1
            frame = Frame(
                picture,
                seq=self._seq,
                captured_at=utcnow(),
                monotonic=time.monotonic(),
                pts_time=pts_time,
                keyframe=keyframe,
            )
            self._frame = frame
            self._cond.notify_all()
        return frame

    def latest(self) -> Frame | None:
        """The newest frame, if any has been published."""
        return self._frame

    def wait_newer(self, seq: int, timeout: float) -> Frame | None:
        """The newest frame if its sequence number is above `seq`, waiting up to `timeout` s for one."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None and self._frame.seq > seq, timeout)
            frame = self._frame
        return frame if frame is not None and frame.seq > seq else None


@dataclass(frozen=True)
class CameraSpec:
    """A camera handed to ingest; `url` may carry credentials and is never logged as is."""

    camera_id: uuid.UUID
    url: str
    name: str = ""
    district_id: uuid.UUID | None = None


class Sampler:
    """Picks frames at a steady rate by their timestamps (a frame without one is always taken)."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self._due: float | None = None  # stream time (s) of the next frame to take

    def take(self, at: float | None) -> bool:
        """Whether the frame stamped `at` (seconds) is due."""
        if at is None:
            return True
        due = self._due
        if due is None or at < due - 2 * self.interval or at >= due + self.interval:
            self._due = at + self.interval  # the first frame, or the timestamps jumped: start afresh
            return True
        if at >= due - SAMPLE_SLACK_S:
            self._due = due + self.interval  # on a fixed grid, so 7 fps sampled at 5 fps gives 5, not 3.5
            return True
        return False


@dataclass
class Backoff:
    """Exponential reconnect delays with jitter, so cameras that failed together do not retry together."""

    cap_s: float
    base_s: float = BACKOFF_BASE_S
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        ceiling = min(self.cap_s, self.base_s * 2.0**self.attempts)
        self.attempts = min(self.attempts + 1, 32)
        return ceiling * self.rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        """The connection worked: start again from the shortest delay."""
        self.attempts = 0


class IngestWorker:
    """Ingest of one camera on a thread of its own: connect, demux, sample, reconnect with backoff."""

    def __init__(
        self,
        spec: CameraSpec,
        settings: VideoSettings,
        *,
        slot: FrameSlot | None = None,
        sinks: Sequence[PacketSink] = (),
        on_status_change: StatusCallback | None = None,
        realtime: bool | None = None,
        state: CameraState = CameraState.CONNECTING,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.slot = slot or FrameSlot()
        self.sinks = tuple(sinks)
        self.realtime = realtime
        self._on_status_change = on_status_change
        self._stop = threading.Event()  # once set, the worker is finished: a new one takes its place
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the status fields below
        self._notify_lock = threading.Lock()  # keeps state-change callbacks in the order they happened
        self._state = state
        self._since = utcnow()
        self._active_mono = time.monotonic()  # last packet, or the start of the wait for the first one
        self._beat = time.monotonic()  # last sign of life of the thread: a packet, an attempt, a failure
        self._last_frame_at: dt.datetime | None = None
        self._last_error: str | None = None
        self._reconnects = 0
        self._size: tuple[int, int] | None = None
        self._codec: str | None = None
        self._packets = RateMeter()
        self._decoded = RateMeter()
        self._log_name = f"{spec.camera_id} ({redact_url(spec.url)})"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start (or, after it died, restart) the worker's thread; a stopped worker stays stopped."""
        if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
            return
        with self._lock:
            self._active_mono = self._beat = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"ingest-{self.spec.camera_id}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop at its next packet or timeout (see `join`)."""
        self._stop.set()

    def detach(self) -> None:
        """Stop reporting state changes: a replacement worker reports for this camera now."""
        self._on_status_change = None

    def stalled_for(self, now: float | None = None) -> float:
        """Seconds since the thread last showed a sign of life."""
        return (time.monotonic() if now is None else now) - self._beat

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        self._set_state(CameraState.STOPPED)
        return True

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread and wait for it (a blocked open or read ends within its timeout)."""
        self.request_stop()
        limit = max(self.settings.open_timeout_s, self.settings.read_timeout_s) + 2.0
        return self.join(limit if timeout is None else timeout)

    @property
    def alive(self) -> bool:
        """Whether the worker's thread is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self._stop.is_set()

    # --- status ----------------------------------------------------------------------------------

    def status(self) -> CameraStatus:
        """The camera's current status."""
        with self._lock:
            return self._status_locked()

    def _status_locked(self) -> CameraStatus:
        fps, byte_rate = self._packets.rates()
        decoded_fps, _ = self._decoded.rates()
        if time.monotonic() - self._active_mono > self._packets.window_s:  # stalled: nothing is arriving
            fps = byte_rate = decoded_fps = 0.0
        width, height = self._size or (None, None)
        return CameraStatus(
            camera_id=self.spec.camera_id,
            name=self.spec.name,
            district_id=self.spec.district_id,
            state=self._state,
            since=self._since,
            fps=fps,
            decoded_fps=decoded_fps,
            bitrate_kbps=byte_rate * 8 / 1000,
            width=width,
            height=height,
            codec=self._codec,
            last_frame_at=self._last_frame_at,
            last_error=self._last_error,
            reconnects=self._reconnects,
        )

    def _set_state(self, new: CameraState) -> None:
        with self._notify_lock:
            with self._lock:
                old = self._state
                if old == new:
                    return
                self._state, self._since = new, utcnow()
                status = self._status_locked()
            logger.info("camera %s: %s -> %s", self.spec.camera_id, old.value, new.value)
            if self._on_status_change is not None:
                try:
                    self._on_status_change(self.spec.camera_id, old, new, status)
                except Exception:  # a listener's bug must not stop the camera
                    logger.exception("camera %s: status listener failed", self.spec.camera_id)

    def check(self, now: float | None = None) -> None:
        """Mark the camera offline if no frame arrived for `offline_after_s` (called by the watchdog)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            silent = now - self._active_mono >= self.settings.offline_after_s
            state = self._state
        if silent and state in (CameraState.CONNECTING, CameraState.ONLINE):
            self._set_state(CameraState.OFFLINE)

    # --- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:  # logged here; the watchdog sees the dead thread and restarts it
            logger.exception("camera %s: ingest thread died", self.spec.camera_id)

    def _loop(self) -> None:
        backoff = Backoff(cap_s=self.settings.reconnect_max_s)
        while not self._stop.is_set():
            started = self._beat = time.monotonic()
            streamed = False
            try:
                with VideoSource(
                    self.spec.url,
                    open_timeout_s=self.settings.open_timeout_s,
                    read_timeout_s=self.settings.read_timeout_s,
                    stop=self._stop,
                    realtime=self.realtime,
                ) as source:
                    streamed = self.process(source) > 0
                failure = "the stream ended"
            except (av.FFmpegError, NoVideoStream, OSError) as exc:
                failure = describe_error(exc)
            except Exception as exc:  # an unexpected decoder or sink surprise: retry like any failure
                logger.exception("camera %s: ingest failed", self.spec.camera_id)
                failure = describe_error(exc)
            if self._stop.is_set():
                return
            if streamed and time.monotonic() - started >= STABLE_AFTER_S:
                backoff.reset()
            delay = backoff.next_delay()
            with self._lock:
                self._last_error = failure
                self._reconnects += 1
            logger.warning("camera %s: %s; reconnecting in %.1f s", self._log_name, failure, delay)
            self._beat = time.monotonic()
            self._stop.wait(delay)

    def process(self, source: VideoSource) -> int:
        """Ingest one open connection until it ends or breaks; returns the packets handled.

        The worker thread calls this for each connection; benchmarks call it directly.
        """
        stream = source.stream
        context = stream.codec_context
        keyframes_only = self.settings.keyframes_only
        if keyframes_only:
            context.skip_frame = "NONKEY"  # the decoder drops anything else it is given
        with self._lock:
            self._codec = context.name
            if context.width and context.height:
                self._size = (context.width, context.height)
        self._packets.reset()
        self._decoded.reset()
        sinks = self._open_sinks(stream)
        sampler = Sampler(self.settings.analytics_fps)
        time_base = float(stream.time_base or 0)  # floats: Fraction arithmetic per packet costs real CPU
        count = 0
        try:
            for packet in source.packets():
                count += 1
                ts = packet.pts if packet.pts is not None else packet.dts
                at = ts * time_base if ts is not None and time_base else None
                self._on_packet(packet.size, at)
                for sink in list(sinks):
                    try:
                        sink.write(packet)
                    except Exception:  # one failing sink must not stop ingest or the other sinks
                        logger.exception(
                            "camera %s: packet sink failed; dropped until reconnect", self._log_name
                        )
                        sinks.remove(sink)
                if keyframes_only:
                    # Other packets never reach the decoder; key frames faster than the rate are skipped too.
                    if packet.is_keyframe and sampler.take(at):
                        for frame in stream.decode(packet):
                            self._publish(frame, at)
                    continue
                # Inter frames depend on the ones before: decode all, convert only the sampled ones.
                for frame in stream.decode(packet):
                    frame_at = frame.pts * time_base if frame.pts is not None and time_base else None
                    if sampler.take(frame_at):
                        self._publish(frame, frame_at)
        finally:
            for sink in sinks:
                try:
                    sink.close()
                except Exception:
                    logger.exception("camera %s: packet sink failed to close", self._log_name)
        return count

    def _open_sinks(self, stream: av.video.stream.VideoStream) -> list[PacketSink]:
        opened = []
        started_at = utcnow()
        for sink in self.sinks:
            try:
                sink.open(stream, started_at=started_at)
                opened.append(sink)
            except Exception:
                logger.exception("camera %s: packet sink failed to open", self._log_name)
        return opened

    def _on_packet(self, size: int, at: float | None) -> None:
        now = self._beat = time.monotonic()
        self._packets.add(size, now if at is None else at)
        with self._lock:
            self._active_mono = now
            self._last_frame_at = utcnow()
            online = self._state is CameraState.ONLINE
        if not online:
            self._set_state(CameraState.ONLINE)

    def _publish(self, frame: av.video.frame.VideoFrame, at: float | None) -> None:
        published = self.slot.publish(frame, pts_time=at, keyframe=frame.key_frame)
        self._decoded.add(0, published.monotonic if at is None else at)
        with self._lock:
            self._size = (frame.width, frame.height)


def to_bgr(frame: av.video.frame.VideoFrame) -> Image:
    """A decoded frame as a BGR image (OpenCV's order), for analytics and live view."""
    return cast(Image, frame.to_ndarray(format="bgr24"))


@dataclass
class _Camera:
    spec: CameraSpec
    worker: IngestWorker


class IngestSupervisor:
    """Runs one ingest worker per camera, watches them every second, and reports state changes.

    `on_status_change(camera_id, old, new, status)` is called from worker and watchdog threads; it must
    return quickly (hand the change to an event loop or queue).
    """

    def __init__(
        self,
        settings: VideoSettings,
        *,
        on_status_change: StatusCallback | None = None,
        sink_factory: SinkFactory | None = None,
        realtime: bool | None = None,
        watchdog_interval_s: float = 1.0,
        stall_grace_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.on_status_change = on_status_change
        self.sink_factory = sink_factory
        self.realtime = realtime
        self.watchdog_interval_s = watchdog_interval_s
        # A working thread shows life at least this often: no wait (open, read, backoff) lasts longer.
        self.stall_after_s = (
            max(settings.open_timeout_s, settings.read_timeout_s, settings.reconnect_max_s) + stall_grace_s
        )
        self._cameras: dict[uuid.UUID, _Camera] = {}
        self._slots: dict[uuid.UUID, FrameSlot] = {}  # kept across restarts, so readers keep theirs
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    def __enter__(self) -> IngestSupervisor:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the watchdog (workers start as cameras are added)."""
        if self._watchdog is not None:
            return
        self._stop.clear()
        self._watchdog = threading.Thread(target=self._watch, name="ingest-watchdog", daemon=True)
        self._watchdog.start()

    def sync(self, specs: Iterable[CameraSpec]) -> None:
        """Ingest exactly these cameras: start new ones, stop removed ones, restart those with a new URL."""
        wanted = {spec.camera_id: spec for spec in specs}
        with self._lock:
            gone = [cid for cid in self._cameras if cid not in wanted]
            stopping = [self._cameras.pop(cid).worker for cid in gone]
            for cid in gone:
                self._slots.pop(cid, None)
            for spec in wanted.values():
                current = self._cameras.get(spec.camera_id)
                if current is None:
                    self._launch(spec)
                elif current.spec.url != spec.url:
                    current.worker.detach()  # the old worker's "stopped" would follow the new one's news
                    stopping.append(current.worker)
                    self._launch(spec)
                elif current.spec != spec:  # a new name or district: no need to reconnect
                    current.spec = spec
                    current.worker.spec = replace(
                        current.worker.spec, name=spec.name, district_id=spec.district_id
                    )
        _stop_all(stopping)

    def add(self, spec: CameraSpec) -> None:
        """Start ingesting one camera (or restart it with a new URL)."""
        with self._lock:
            specs = [c.spec for c in self._cameras.values() if c.spec.camera_id != spec.camera_id]
        self.sync([*specs, spec])

    def remove(self, camera_id: uuid.UUID) -> None:
        """Stop ingesting one camera."""
        with self._lock:
            specs = [c.spec for c in self._cameras.values() if c.spec.camera_id != camera_id]
        self.sync(specs)

    def _launch(self, spec: CameraSpec, state: CameraState = CameraState.CONNECTING) -> None:
        slot = self._slots.setdefault(spec.camera_id, FrameSlot())
        sinks = self.sink_factory(spec) if self.sink_factory else ()
        worker = IngestWorker(
            spec,
            self.settings,
            slot=slot,
            sinks=sinks,
            on_status_change=self.on_status_change,
            realtime=self.realtime,
            state=state,
        )
        self._cameras[spec.camera_id] = _Camera(spec, worker)
        worker.start()

    def camera_ids(self) -> list[uuid.UUID]:
        """The cameras being ingested."""
        with self._lock:
            return list(self._cameras)

    def slot(self, camera_id: uuid.UUID) -> FrameSlot | None:
        """Where a camera's newest frame is, if it is ingested here."""
        with self._lock:
            return self._slots.get(camera_id)

    def status(self, camera_id: uuid.UUID) -> CameraStatus | None:
        """One camera's status, if it is ingested here."""
        with self._lock:
            camera = self._cameras.get(camera_id)
        return camera.worker.status() if camera else None

    def statuses(self) -> dict[uuid.UUID, CameraStatus]:
        """Every ingested camera's status."""
        with self._lock:
            workers = [c.worker for c in self._cameras.values()]
        return {w.spec.camera_id: w.status() for w in workers}

    def _watch(self) -> None:
        while not self._stop.wait(self.watchdog_interval_s):
            with self._lock:
                workers = [c.worker for c in self._cameras.values()]
            for worker in workers:
                try:
                    if not worker.alive and not worker.stopping:
                        logger.warning(
                            "camera %s: ingest thread not running; restarting", worker.spec.camera_id
                        )
                        worker.start()
                    elif worker.alive and worker.stalled_for() > self.stall_after_s:
                        self._replace_stalled(worker)
                    worker.check()
                except Exception:  # the watchdog must outlive any one camera's trouble
                    logger.exception("camera %s: watchdog check failed", worker.spec.camera_id)

    def _replace_stalled(self, worker: IngestWorker) -> None:
        """Put a new worker in place of one whose thread hangs."""
        # A thread cannot be killed: the old one is told to stop, no longer heard, and left to end.
        logger.error(
            "camera %s: ingest thread stalled for %.0f s; replacing it",
            worker.spec.camera_id,
            worker.stalled_for(),
        )
        worker.detach()
        worker.request_stop()
        with self._lock:
            current = self._cameras.get(worker.spec.camera_id)
            if current is not None and current.worker is worker:
                self._launch(current.spec, worker.status().state)

    def stop(self) -> None:
        """Stop every worker and the watchdog, and wait for their threads to end."""
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join()
            self._watchdog = None
        with self._lock:
            workers = [c.worker for c in self._cameras.values()]
            self._cameras.clear()
        _stop_all(workers)


def _stop_all(workers: Sequence[IngestWorker]) -> None:
    """Stop workers together: ask all first, then wait, so blocked reads time out in parallel."""
    for worker in workers:
        worker.request_stop()
    for worker in workers:
        if not worker.stop():
            logger.error("camera %s: ingest thread did not stop in time", worker.spec.camera_id)
