"""The latest work of each camera, waiting for a shared worker (the detector, the plate reader, the face
matcher): at most one pending job per camera, served in the order the cameras first asked.

A camera that hands over newer work before the worker took its last replaces it (or merges into it) in
place: it keeps its turn, the worker always sees the newest picture, and what was replaced counts as a drop.
Frames are never queued in bulk, so a slow worker makes each camera skip to its newest work instead of
falling behind, and one camera that floods frames cannot hold up another.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from prometheus_client import Counter

Key = TypeVar("Key", bound=Hashable)
Job = TypeVar("Job")
Member = TypeVar("Member")


class LatestQueue(Generic[Key, Job, Member]):
    """One pending job per key, oldest key first; and the members (cameras) a worker looks after.

    Members are registered apart from their jobs so the worker can look after a camera that hands nothing
    over (keep its gallery current, end its passes).
    """

    def __init__(self, drops_metric: Counter | None = None) -> None:
        self._pending: OrderedDict[Key, Job] = OrderedDict()
        self._members: dict[Hashable, Member] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._drops_metric = drops_metric
        self.drops = 0

    def put(self, key: Key, job: Job) -> None:
        """Queue a job, replacing the one the key has waiting (a drop)."""
        self.update(key, lambda waiting: (job, 0 if waiting is None else 1))

    def update(self, key: Key, change: Callable[[Job | None], tuple[Job, int]]) -> None:
        """Replace the key's waiting job (None when none waits) by what `change` makes of it; `change`
        also says how many items it dropped. It runs under the queue's lock: it must be quick.
        """
        with self._cond:
            job, dropped = change(self._pending.get(key))
            self._pending[key] = job
            if dropped:
                self.drops += dropped
                if self._drops_metric is not None:
                    self._drops_metric.inc(dropped)
            self._cond.notify()

    def get(self, timeout: float) -> Job | None:
        """The longest-waiting key's job, or None after `timeout` s or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._closed, timeout)
            if not self._pending:
                return None
            return self._pending.popitem(last=False)[1]

    def discard(self, key: Key, when: Callable[[Job], bool] = lambda _: True) -> None:
        """Forget the key's waiting job (only if `when` holds for it)."""
        with self._cond:
            job = self._pending.get(key)
            if job is not None and when(job):
                del self._pending[key]

    def register(self, key: Hashable, member: Member) -> None:
        """Let the worker look after this member (a newer one under the same key replaces it)."""
        with self._cond:
            self._members[key] = member

    def unregister(self, key: Hashable, member: Member) -> None:
        """Forget the member, if it is still the one registered under `key`."""
        with self._cond:
            if self._members.get(key) is member:
                del self._members[key]

    def members(self) -> list[Member]:
        """The members registered."""
        with self._cond:
            return list(self._members.values())

    def __len__(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """Wake every waiting worker; they get None from now on once the queue is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
