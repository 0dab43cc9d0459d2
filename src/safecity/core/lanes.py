"""Long work (decoding and encoding video) run off the request, a bounded number at a time per process.

Each piece takes a core while it runs; many at once would starve the cameras, so the rest wait their turn
in submission order on the lane's own threads. A lane's threads die with its process: what it was running
or had queued is left unfinished. Work records its `runner` and a heartbeat; when a process starts, it
marks failed what `abandoned` says will never finish, leaving other nodes' live work alone.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from safecity.core.db import utcnow

STALE = dt.timedelta(minutes=5)  # work whose heartbeat is older has lost its process


def runner_name() -> str:
    """This process, as written on the work it runs (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def silent(heartbeat: dt.datetime) -> bool:
    """Whether work last heard of at `heartbeat` has been silent past STALE."""
    return utcnow() - heartbeat > STALE


def alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def abandoned(runner: str | None, heartbeat: dt.datetime) -> bool:
    """Whether unfinished work will never finish, judged by a process of this host as it starts: work of
    this host whose process is gone took its lane with it (another web process of this host may still run
    its own); another node's work is given up only when silent past STALE (it may still be running there)."""
    if runner is None:
        return True
    host, _, pid = runner.rpartition(":")
    if host == runner_name().rpartition(":")[0]:
        return not pid.isdigit() or int(pid) == os.getpid() or not alive(int(pid))
    return silent(heartbeat)


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
