"""Camera ingest against a real RTSP server and real footage: sampling, outages, corrupt streams, slots."""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import RtspCamera, encode_cctv_clip, wait_until
from safecity.config import VideoSettings
from safecity.video.ingest import (
    BACKOFF_BASE_S,
    Backoff,
    CameraSpec,
    Frame,
    FrameSlot,
    IngestSupervisor,
    IngestWorker,
)
from safecity.video.sources import file_url, probe
from safecity.video.status import CameraState, CameraStatus

FAST = VideoSettings(open_timeout_s=3, read_timeout_s=2, offline_after_s=3, reconnect_max_s=2)


def _open_fds() -> set[tuple[str, str]]:
    """The process's open descriptors with what each refers to (other tests' threads may close theirs)."""
    listing = Path("/proc/self/fd")
    opened = set()
    for fd in listing.iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed while listed
            continue
        if target != str(listing.resolve()):  # the listing's own
            opened.add((fd.name, target))
    return opened


def _frames(slot: FrameSlot, count: int, within: float = 30.0) -> list[Frame]:
    """The next `count` frames a reader gets from `slot`; fails if they do not come within `within` s."""
    frames: list[Frame] = []
    wait_until(lambda: slot.latest() is not None, within=within, message="no frame came")
    seq = slot.latest().seq  # type: ignore[union-attr]  # from the next one: the first may be unstamped

    def more() -> bool:
        nonlocal seq
        if (frame := slot.wait_newer(seq, 0.5)) is not None:
            frames.append(frame)
            seq = frame.seq
        return len(frames) >= count

    wait_until(more, within=within, message=f"{len(frames)} of {count} frames came")
    return frames


def _gaps(frames: list[Frame]) -> list[float]:
    """The stream time between consecutive frames (their timestamps, not the wall clock)."""
    stamps = [f.pts_time for f in frames]
    assert None not in stamps
    return [float(b) - float(a) for a, b in itertools.pairwise(stamps)]  # type: ignore[arg-type]


class Changes:
    """Records the state changes a supervisor reports."""

    def __init__(self) -> None:
        self.seen: list[tuple[uuid.UUID, CameraState, CameraState]] = []
        self.lock = threading.Lock()

    def __call__(self, camera_id: uuid.UUID, old: CameraState, new: CameraState, _s: CameraStatus) -> None:
        with self.lock:
            self.seen.append((camera_id, old, new))

    def states(self, camera_id: uuid.UUID) -> list[CameraState]:
        with self.lock:
            return [new for cid, _old, new in self.seen if cid == camera_id]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real CCTV footage, 320x240 H.264 at 10 fps with a key frame every second."""
    path = tmp_path_factory.mktemp("ingest") / "cctv.mp4"
    return encode_cctv_clip(path, width=320, height=240, fps=10, seconds=6)


def test_probe_reports_the_stream(rtsp_camera: Callable[..., RtspCamera]) -> None:
    camera = rtsp_camera(width=320, height=240, fps=10, seconds=20)
    info = probe(camera.url, timeout=5)
    assert (info.width, info.height, info.codec) == (320, 240, "h264")
    assert info.fps is not None and 9 <= info.fps <= 11


def test_worker_samples_frames_from_an_rtsp_camera(rtsp_camera: Callable[..., RtspCamera]) -> None:
    camera = rtsp_camera(width=320, height=240, fps=10, seconds=20)
    settings = FAST.model_copy(update={"analytics_fps": 5.0})
    worker = IngestWorker(CameraSpec(uuid.uuid4(), camera.url, "gate"), settings)
    worker.start()
    try:
        frames = _frames(worker.slot, 12)
        status = worker.status()
    finally:
        assert worker.stop()
    # 5 of the camera's 10 frames/s, by their timestamps: a reader may miss one, never get them faster.
    assert min(_gaps(frames)) >= 0.15, _gaps(frames)
    images = [f.image for f in frames]
    assert all(image.shape == (240, 320, 3) for image in images)
    assert float(np.std(images[-1])) > 20, "a real picture, not a blank frame"
    assert status.state is CameraState.ONLINE
    assert 8 <= status.fps <= 12 and 3.5 <= status.decoded_fps <= 6.5
    assert status.codec == "h264" and (status.width, status.height) == (320, 240)
    assert status.bitrate_kbps > 10
    assert worker.status().state is CameraState.STOPPED


def test_keyframes_only_decodes_one_frame_per_gop(clip: Path) -> None:
    settings = FAST.model_copy(update={"keyframes_only": True})
    worker = IngestWorker(CameraSpec(uuid.uuid4(), file_url(clip), "demo"), settings)
    worker.start()
    try:
        frames = _frames(worker.slot, 3)
        status = worker.status()
    finally:
        worker.stop()
    assert all(f.keyframe for f in frames)
    assert min(_gaps(frames)) >= 0.9, "one frame per GOP: a key frame every second of the stream"
    assert 8 <= status.fps <= 12, "every packet still arrives (for the recorder)"


def test_an_outage_is_reported_within_20_s_and_recovers_without_leaks(
    rtsp_camera: Callable[..., RtspCamera],
) -> None:
    camera = rtsp_camera(width=320, height=240, fps=10, seconds=30)
    fds, threads = _open_fds(), set(threading.enumerate())
    changes = Changes()
    cid = uuid.uuid4()
    # Default timeouts and offline threshold: the alert deadline must hold with them.
    supervisor = IngestSupervisor(VideoSettings(reconnect_max_s=2), on_status_change=changes)
    supervisor.start()
    try:
        supervisor.sync([CameraSpec(cid, camera.url, "bazaar")])
        wait_until(lambda: supervisor.status(cid).state is CameraState.ONLINE, within=30)

        camera.stop()
        # The requirement, as a bound: reported offline within 20 s of the outage.
        wait_until(lambda: supervisor.status(cid).state is CameraState.OFFLINE, within=20)
        offline = supervisor.status(cid)
        assert offline is not None and offline.last_error and offline.reconnects >= 1

        camera.start()
        wait_until(lambda: supervisor.status(cid).state is CameraState.ONLINE, within=30)
        slot = supervisor.slot(cid)
        assert slot is not None
        latest = slot.latest()
        fresh = slot.wait_newer(latest.seq if latest else 0, 5)
        assert fresh is not None and float(np.std(fresh.image)) > 20
    finally:
        supervisor.stop()
    assert changes.states(cid) == [
        CameraState.ONLINE,
        CameraState.OFFLINE,
        CameraState.ONLINE,
        CameraState.STOPPED,
    ]
    camera.stop()  # the test server's own pipe, opened anew by its restart
    assert set(threading.enumerate()) <= threads, "a thread the camera started is still running"
    assert _open_fds() <= fds, "a descriptor the camera opened is still open"


def test_a_corrupt_camera_backs_off_while_another_keeps_delivering(clip: Path, tmp_path: Path) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(7).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    good, bad, cut = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    settings = FAST.model_copy(update={"reconnect_max_s": 4.0})
    with IngestSupervisor(settings) as supervisor:
        supervisor.sync(
            [
                CameraSpec(good, file_url(clip), "good"),
                CameraSpec(bad, file_url(noise), "noise"),
                CameraSpec(cut, file_url(truncated), "cut"),
            ]
        )
        slot = supervisor.slot(good)
        assert slot is not None
        # While the broken ones fail and retry, the good camera keeps delivering.
        assert len(_frames(slot, 25)) == 25
        wait_until(lambda: all(supervisor.status(c).reconnects >= 2 for c in (bad, cut)))
        statuses = supervisor.statuses()
    for broken in (bad, cut):
        status = statuses[broken]
        assert status.state is CameraState.OFFLINE
        assert status.last_error and "Error" in status.last_error
    assert statuses[good].state is CameraState.ONLINE and statuses[good].reconnects == 0


def test_reconnect_delays_double_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(cap_s=4.0, rng=random.Random(7))
    ceilings = [BACKOFF_BASE_S * 2**n for n in range(4)] + [4.0, 4.0]  # 0.5, 1, 2, 4, then the cap
    delays = [backoff.next_delay() for _ in ceilings]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays
    backoff.reset()
    assert backoff.next_delay() <= BACKOFF_BASE_S, "a working connection starts again from the shortest"


def test_errors_and_logs_never_show_camera_credentials(
    rtsp_camera: Callable[..., RtspCamera], caplog: pytest.LogCaptureFixture
) -> None:
    camera = rtsp_camera(width=320, height=240, fps=10, seconds=20, user="viewer", password="s3cret-Pw")
    wrong = camera.url.replace("rtsp://", "rtsp://viewer:wr0ng-Pw@")
    caplog.set_level(logging.INFO, logger="safecity")
    worker = IngestWorker(CameraSpec(uuid.uuid4(), wrong, "vault"), FAST)
    worker.start()
    try:
        wait_until(lambda: worker.status().reconnects >= 1)
    finally:
        worker.stop()
    status = worker.status()
    assert status.last_error and "wr0ng" not in status.last_error
    assert "wr0ng-Pw" not in caplog.text and "viewer:" not in caplog.text
    assert "vault" in status.name and status.reconnects >= 1

    right = camera.url.replace("rtsp://", "rtsp://viewer:s3cret-Pw@")
    worker = IngestWorker(CameraSpec(uuid.uuid4(), right, "vault"), FAST)
    worker.start()
    try:
        wait_until(lambda: worker.slot.latest() is not None, within=30)
    finally:
        worker.stop()
    assert "s3cret" not in caplog.text


def test_a_dead_worker_thread_is_restarted(clip: Path) -> None:
    class Boom(BaseException):
        """Escapes the worker's error handling, as a bug in a sink might."""

    class ExplodingSink:
        def __init__(self) -> None:
            self.opened = 0
            self.written = 0

        def open(self, stream: av.video.stream.VideoStream, *, started_at: object) -> None:
            self.opened += 1

        def write(self, packet: av.Packet) -> None:
            self.written += 1
            if self.opened == 1 and self.written == 5:
                raise Boom

        def close(self) -> None:
            pass

    sink = ExplodingSink()
    cid = uuid.uuid4()
    with IngestSupervisor(FAST, sink_factory=lambda _spec: [sink]) as supervisor:
        supervisor.sync([CameraSpec(cid, file_url(clip), "demo")])
        wait_until(lambda: sink.opened >= 2, within=30)
        slot = supervisor.slot(cid)
        assert slot is not None
        assert _frames(slot, 1), "frames flow again after the restart"
    assert sink.written > 5


def test_a_stalled_worker_is_replaced_and_the_camera_comes_back(clip: Path) -> None:
    release = threading.Event()

    class HangingSink:
        """A sink stuck on its first connection, as a recorder on a hung disk would be."""

        def __init__(self) -> None:
            self.written = 0

        def open(self, stream: av.video.stream.VideoStream, *, started_at: object) -> None:
            pass

        def write(self, packet: av.Packet) -> None:
            self.written += 1
            if self is sinks[0] and self.written == 3:
                release.wait(30)

        def close(self) -> None:
            pass

    sinks: list[HangingSink] = []

    def factory(_spec: CameraSpec) -> list[HangingSink]:
        sinks.append(HangingSink())
        return sinks[-1:]

    cid, changes = uuid.uuid4(), Changes()
    settings = FAST.model_copy(
        update={"open_timeout_s": 1, "read_timeout_s": 1, "reconnect_max_s": 1, "offline_after_s": 1.5}
    )
    supervisor = IngestSupervisor(settings, sink_factory=factory, on_status_change=changes, stall_grace_s=1)
    supervisor.start()
    try:
        supervisor.sync([CameraSpec(cid, file_url(clip), "demo")])
        started = time.monotonic()
        wait_until(lambda: len(sinks) == 2, within=30)
        # A lower bound (load can only make it later): replaced only once it was found stalled.
        assert time.monotonic() - started >= supervisor.stall_after_s, "replaced before it stalled"
        wait_until(lambda: supervisor.status(cid).state is CameraState.ONLINE, within=30)
        slot = supervisor.slot(cid)
        assert slot is not None and _frames(slot, 1), "frames flow from the replacement"
        wait_until(lambda: sinks[1].written > 3, message="the replacement's sink got no packets")
    finally:
        release.set()
        supervisor.stop()
    assert changes.states(cid) == [
        CameraState.ONLINE,
        CameraState.OFFLINE,
        CameraState.ONLINE,
        CameraState.STOPPED,
    ]


def test_a_slow_reader_never_blocks_the_writer_and_gets_the_newest_frame() -> None:
    slot = FrameSlot()
    images = [np.full((4, 4, 3), i % 256, dtype=np.uint8) for i in range(400)]
    received: list[int] = []
    busy, done = threading.Event(), threading.Event()

    def slow_reader() -> None:
        seq = 0
        while len(received) < 2 and (frame := slot.wait_newer(seq, 30)) is not None:
            received.append(frame.seq)
            seq = frame.seq
            busy.set()
            done.wait(30)  # a slow consumer, e.g. a detector, busy with its frame

    reader = threading.Thread(target=slow_reader)
    reader.start()
    published = [slot.publish(images[0])]
    wait_until(busy.is_set)
    # A fast camera goes on while the reader is busy: the writer never waits for it.
    writer = threading.Thread(target=lambda: published.extend(slot.publish(i) for i in images[1:]))
    writer.start()
    writer.join(30)
    assert not writer.is_alive(), "the writer waited for the reader"
    done.set()
    reader.join(30)
    # The reader skips the 398 frames it had no time for and goes on with the newest.
    assert received == [published[0].seq, published[-1].seq]
    last = slot.latest()
    assert last is not None and last.image is images[-1], "readers get the frame itself, not a copy"
    assert not last.image.flags.writeable


def test_a_late_reader_gets_the_newest_frame_not_the_oldest() -> None:
    slot = FrameSlot()
    frames = [slot.publish(np.full((2, 2, 3), i, dtype=np.uint8)) for i in range(5)]
    newest = slot.wait_newer(0, timeout=0)
    assert newest is frames[-1]
    assert slot.wait_newer(newest.seq, timeout=0.05) is None
