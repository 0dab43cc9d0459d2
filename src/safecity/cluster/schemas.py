"""What the workers page and /api/v1/workers show: workers, their cameras, load and health."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from safecity.core.schemas import OutModel


class CameraRef(OutModel):
    """A camera as the workers view names it (its name only within the reader's districts)."""

    id: uuid.UUID
    name: str | None
    since: dt.datetime | None = None  # when its current worker took it


class WorkerOut(OutModel):
    """One live worker."""

    worker_id: str
    host: str
    pid: int
    capacity: int  # cameras it may run at most
    load: float  # share of the capacity in use
    started_at: dt.datetime
    heartbeat_at: dt.datetime | None  # the NATS server's time of its last heartbeat (None: this process)
    clock_skew_s: float | None  # its clock minus the NATS server's
    accepting: bool  # False: it refuses cameras (clock off, or not measured yet)
    cameras: list[CameraRef]
    problems: list[str]  # recent, newest last: leases lost or changed, a clock off, a duplicated id


class WorkersOut(OutModel):
    """The workers sharing the cameras, and the active cameras no worker runs."""

    mode: Literal["local", "jetstream"]  # one box (memory bus) or many workers (NATS JetStream)
    workers: list[WorkerOut]
    unassigned: list[CameraRef]
    note: str | None = None
