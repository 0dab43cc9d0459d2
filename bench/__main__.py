"""Run every benchmark in turn (`python -m bench`); each prints its own figures."""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = (
    "bench.bench_event_store",
    "bench.bench_bus",
    "bench.bench_ingest",
    "bench.bench_capacity",
    "bench.bench_dispatch",
    "bench.bench_alert_feed",
    "bench.bench_analytics",
    "bench.bench_hotlist_hits",
    "bench.bench_challans",
    "bench.bench_violations",
    "bench.bench_faces",
    "bench.bench_synopsis",
)

for name in BENCHMARKS:
    print(f"\n=== {name} ===", flush=True)
    sys.argv = [name]
    runpy.run_module(name, run_name="__main__")
