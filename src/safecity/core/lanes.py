"""Long work (decoding and encoding video) run off the request, a bounded number at a time per process.

Each piece takes a core while it runs; many at once would starve the cameras, so the rest wait their turn
in submission order on the lane's own threads. A lane's threads die with its process: what it was running
or had queued is left unfinished, and each caller marks such work failed when the process starts again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class Lane:
    """Work queued behind the work already queued, `at_once` pieces at a time, on threads named `name`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], None], *, at_once: int = 1) -> Future[None]:
        """Queue `work`; the lane's threads are started by its first submission, `at_once` of them (a setting
        of the process: later submissions do not change it)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=max(at_once, 1), thread_name_prefix=self._name)
            return self._pool.submit(work)
