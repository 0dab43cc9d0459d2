"""Capacity plan: cores, memory, disk and network per 100 cameras at 1080p with recording and analytics,
and what phase one (710 cameras), phase two (1,310) and the province need.

Run: `python -m bench.bench_capacity [--seconds 20] [--rounds 3] [--bitrate 4000000] [--analysed-fps 2]
[--retention-days 30] [--districts 35] [--district-cameras 100]`.

Everything is measured here, on real CCTV footage (opencv-doc's vtest.avi scaled to 1920x1080, H.264 at 25
fps, a key frame every 2 s, at a camera's constant bitrate):
- ingest + recorder: our camera worker (every packet remuxed into the recording, frames sampled at the
  analytics rate) over the clip as fast as it decodes; CPU is process time per second of video, so it is
  the share of one core a camera takes, whatever else runs on the machine. Printed against a bare PyAV
  decode of the same clip, measured in the same run (the worker must cost no more than decoding does).
- masked recording: the same worker recording a camera that has a privacy mask (the recorder decodes,
  masks and encodes again with libx264), against the remuxing worker.
- analytics: the configured detector (tiles at near native resolution, road users, riders, colours) on
  decoded 1080p frames; process time per analysed frame, times the analysed frames per second per camera
  (the motion gate keeps a quiet camera well below it: this is the busy-street figure).
- memory: in a fresh process, the RSS it adds while running 6 cameras at once (each its own decoder, frame
  slot and recorder), per camera; and the process's own RSS before any camera (a worker's base).
- disk: the recorded bytes (fragmented MP4, no re-encoding) per camera-hour, kept `--retention-days`.
- network: the cameras' streams into the workers (viewers add their own, on demand).
The plan sizes cores at 70 % utilisation and adds 25 % to memory; PostgreSQL and NATS are sized apart
(README: deployment).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import av.video.stream
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.bench_ingest import FPS, RemuxSink, Run, bare_decode, make_clip
from safecity.analytics.flows import configured_detector
from safecity.analytics.types import Image
from safecity.config import AnalyticsSettings, VideoSettings
from safecity.video.ingest import CameraSpec, FrameSlot, IngestWorker
from safecity.video.packets import PacketSink
from safecity.video.recorder import SegmentRecorder
from safecity.video.sources import VideoSource

WIDTH, HEIGHT = 1920, 1080
UTILISATION = 0.7  # plan cores so that machines run at most this busy (peaks, failover of a worker)
MEMORY_MARGIN = 1.25
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}  # as the recorder writes
PHASE_ONE, PHASE_TWO = 710, 1310
WINDOW = (((0.1, 0.1), (0.4, 0.1), (0.4, 0.5), (0.1, 0.5)),)  # one privacy mask: a home's window


class DiscardingRemux(RemuxSink):
    """The recorder's remux, written to /dev/null: a recording kept in memory would count as the camera's."""

    def open(self, stream: av.video.stream.VideoStream, *, started_at: object) -> None:
        self.container = av.open(os.devnull, "w", format="mp4", options=FRAGMENTED)
        self.stream = self.container.add_stream_from_template(stream)


def ingest(
    path: Path, settings: VideoSettings, realtime: bool = False, sink: PacketSink | None = None
) -> Run:
    """Our camera worker over one pass of the clip: every packet into a recording, frames sampled."""
    worker = IngestWorker(
        CameraSpec(uuid.uuid4(), str(path), "bench"),
        settings,
        slot=FrameSlot(),
        sinks=[sink or DiscardingRemux()],
        realtime=realtime,
    )
    cpu, wall = time.process_time(), time.perf_counter()
    with VideoSource(str(path), open_timeout_s=5, read_timeout_s=5, realtime=realtime, loop=False) as source:
        frames = worker.process(source)
    return Run(frames, time.process_time() - cpu, time.perf_counter() - wall)


def recorded_bytes(path: Path, out: Path) -> int:
    """The size of the clip remuxed as the recorder writes it (fragmented MP4, packets copied)."""
    with (
        av.open(str(path)) as source,
        av.open(str(out), "w", format="mp4", options=FRAGMENTED) as sink,
    ):
        stream = source.streams.video[0]
        copy = sink.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is not None:
                packet.stream = copy
                sink.mux(packet)
    return out.stat().st_size


def frames_of(path: Path, count: int) -> list[Image]:
    """`count` decoded frames spread over the clip, as BGR pictures."""
    with av.open(str(path)) as container:
        every = [np.asarray(f.to_ndarray(format="bgr24"), dtype=np.uint8) for f in container.decode(video=0)]
    step = max(1, len(every) // count)
    return every[::step][:count]


def detector_ms(frames: list[Image]) -> float:
    """CPU milliseconds (process time, all threads) per 1080p frame through the configured detector."""
    detector = configured_detector(AnalyticsSettings())
    detector.detect(frames[0])  # warm-up: the first run allocates
    cpu = time.process_time()
    for frame in frames:
        detector.detect(frame)
    return 1000 * (time.process_time() - cpu) / len(frames)


def camera_memory_mb(path: Path, cameras: int) -> tuple[float, float]:
    """A fresh process's RSS (MiB) before it runs any camera, and the most it adds while running `cameras`
    camera workers at once over the clip."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_capacity", "--rss-probe", str(path), "--cameras", str(cameras)],
        check=True,
        capture_output=True,
        text=True,
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    return float(probe["before_mb"]), float(probe["added_mb"])


def _rss_mb() -> float:
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * resource.getpagesize() / 2**20


def _rss_probe(path: Path, cameras: int) -> None:
    settings = VideoSettings(analytics_fps=5)
    _model = configured_detector(AnalyticsSettings())  # a worker holds its model: part of its base
    before = _rss_mb()
    # Paced as cameras send, so that every camera's decoder and buffers are alive at the same time.
    with ThreadPoolExecutor(cameras) as pool:
        running = [pool.submit(ingest, path, settings, True) for _ in range(cameras)]
        most = before
        while not all(f.done() for f in running):
            most = max(most, _rss_mb())
            time.sleep(0.2)
        for done in running:
            done.result()  # a camera that failed fails the probe
    print(json.dumps({"before_mb": before, "added_mb": most - before}))


@dataclass(frozen=True)
class PerCamera:
    """What one 1080p camera costs."""

    ingest_cores: float
    detect_cores: float
    memory_mb: float
    worker_base_mb: float
    disk_gb_per_day: float
    network_mbit: float

    @property
    def cores(self) -> float:
        return self.ingest_cores + self.detect_cores


def plan(cameras: int, per: PerCamera, retention_days: int) -> tuple[float, float, float, float]:
    """Cores, memory (GiB), disk (TB) and network (Mbit/s) for `cameras` cameras, with their margins."""
    cores = cameras * per.cores / UTILISATION
    workers = max(1, math.ceil(cores / 16))  # 16-core worker machines
    memory = (cameras * per.memory_mb + workers * per.worker_base_mb) * MEMORY_MARGIN / 1024
    disk = cameras * per.disk_gb_per_day * retention_days / 1000
    return cores, memory, disk, cameras * per.network_mbit


def main() -> None:
    """Parse options, measure, and print the per-camera figures and the plan."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20, help="length of the 1080p25 clip")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--bitrate", type=int, default=4_000_000, help="the cameras' H.264 bitrate, bits/s")
    parser.add_argument("--analysed-fps", type=float, default=2.0, help="detector frames/s per busy camera")
    parser.add_argument("--retention-days", type=int, default=30)
    parser.add_argument("--districts", type=int, default=35, help="district centres beyond the capital")
    parser.add_argument("--district-cameras", type=int, default=100, help="cameras per district centre")
    parser.add_argument("--rss-probe", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cameras", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_probe is not None:
        _rss_probe(args.rss_probe, args.cameras)
        return
    console = Console(width=120)
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp:
        console.print(
            f"encoding a {args.seconds:g} s {WIDTH}x{HEIGHT} clip at {args.bitrate / 1e6:g} Mbit/s ..."
        )
        clip = make_clip(
            Path(tmp) / "clip.mp4", args.seconds, width=WIDTH, height=HEIGHT, bitrate=args.bitrate
        )
        video_s = args.seconds
        best: dict[str, Run] = {}
        cases: dict[str, Callable[[], Run]] = {
            "bare decode (baseline)": lambda: bare_decode(clip, convert=False),
            "worker: recorder + 5 fps sampled": lambda: ingest(clip, VideoSettings(analytics_fps=5)),
            "worker: masked recorder": lambda: ingest(
                clip,
                VideoSettings(analytics_fps=5),
                sink=SegmentRecorder(uuid.uuid4(), Path(tmp), 3600, lambda _: None, masks=lambda: WINDOW),
            ),
        }
        for _ in range(args.rounds):
            for name, case in cases.items():
                result = case()
                if name not in best or result.cpu_s < best[name].cpu_s:
                    best[name] = result
        frames = frames_of(clip, 12)
        ms = detector_ms(frames)
        size = recorded_bytes(clip, Path(tmp) / "recorded.mp4")
        base, _ = camera_memory_mb(clip, 1)
        _, six = camera_memory_mb(clip, 6)
    per_camera_mb = six / 6
    per = PerCamera(
        ingest_cores=best["worker: recorder + 5 fps sampled"].cpu_s / video_s,
        detect_cores=ms / 1000 * args.analysed_fps,
        memory_mb=per_camera_mb,
        worker_base_mb=base,
        disk_gb_per_day=size / video_s * 86_400 / 1e9,
        network_mbit=size * 8 / video_s / 1e6,
    )

    measured = Table(title=f"one camera, {WIDTH}x{HEIGHT} {FPS} fps H.264 at {args.bitrate / 1e6:g} Mbit/s")
    measured.add_column("measured")
    measured.add_column("value", justify="right")
    bare, worker = best["bare decode (baseline)"], best["worker: recorder + 5 fps sampled"]
    measured.add_row("bare decode, cores per camera (baseline)", f"{bare.cpu_s / video_s:.3f}")
    measured.add_row("worker (recorder + 5 fps sampled), cores per camera", f"{per.ingest_cores:.3f}")
    measured.add_row("worker / bare decode, CPU", f"{worker.cpu_s / bare.cpu_s:.2f}x")
    masked = best["worker: masked recorder"]
    measured.add_row("worker recording masked (decode, mask, encode), cores", f"{masked.cpu_s / video_s:.3f}")
    measured.add_row("masked / remuxing worker, CPU", f"{masked.cpu_s / worker.cpu_s:.2f}x")
    measured.add_row("detector, CPU ms per 1080p frame (tiles)", f"{ms:.0f}")
    measured.add_row(
        f"detector at {args.analysed_fps:g} analysed fps, cores per camera", f"{per.detect_cores:.3f}"
    )
    measured.add_row("memory per camera, MiB (6 running at once)", f"{per.memory_mb:.0f}")
    measured.add_row("memory of a worker process itself, MiB", f"{per.worker_base_mb:.0f}")
    measured.add_row("recording, GB per camera-day", f"{per.disk_gb_per_day:.1f}")
    measured.add_row("network in, Mbit/s per camera", f"{per.network_mbit:.2f}")
    console.print(measured)

    province = PHASE_TWO + args.districts * args.district_cameras
    sizes = Table(
        title=f"plan: cores at {UTILISATION:.0%} busy, memory +{MEMORY_MARGIN - 1:.0%}, "
        f"recordings kept {args.retention_days} days"
    )
    for column in ("cameras", "cores", "memory GiB", "disk TB", "network Mbit/s", "16-core workers"):
        sizes.add_column(column, justify="right")
    for label, cameras in (
        ("per 100 cameras", 100),
        (f"a district centre ({args.district_cameras})", args.district_cameras),
        ("phase one (710)", PHASE_ONE),
        ("phase two (1,310)", PHASE_TWO),
        (f"province ({province:,}: + {args.districts} district centres)", province),
    ):
        cores, memory, disk, network = plan(cameras, per, args.retention_days)
        sizes.add_row(
            label,
            f"{cores:.0f}",
            f"{memory:.0f}",
            f"{disk:.1f}",
            f"{network:,.0f}",
            f"{math.ceil(cores / 16)}",
        )
    console.print(sizes)
    console.print(
        f"[dim]the detector's share of the cores: {per.detect_cores / per.cores:.0%}; a camera analysed at "
        f"5 fps all day would take {per.ingest_cores + ms / 1000 * 5:.2f} cores[/dim]"
    )


if __name__ == "__main__":
    main()
