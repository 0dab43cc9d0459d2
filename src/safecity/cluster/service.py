"""The workers' view: who runs which camera, with the registry's names and the cameras nobody runs."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from safecity.auth.principal import Principal
from safecity.cameras import service as cameras
from safecity.cluster.leases import ClusterView
from safecity.cluster.schemas import CameraRef, WorkerOut, WorkersOut
from safecity.core.errors import SafecityError

READ = "cluster.read"
NO_LOCAL_WORKER = (
    "This process runs no cameras and the bus is in-process (memory://): `safecity worker` runs them in a "
    "process of its own. Use the NATS bus to see every worker from here."
)


class BusUnavailable(SafecityError):
    """NATS, where the workers keep their heartbeats and leases, does not answer."""

    status = 503
    code = "bus_unavailable"


def overview(*, session: Session, principal: Principal, view: ClusterView | None) -> WorkersOut:
    """The workers of `view` with their cameras, and the active cameras that no worker holds.

    `view` None: this process runs no cameras on the memory bus, so it cannot see the worker that does.
    """
    principal.require(READ)
    active = cameras.active_cameras(session=session)
    names = {c.id: c.name if principal.sees_district(c.district_id) else None for c in active}
    if view is None:
        return WorkersOut(mode="local", workers=[], unassigned=[], note=NO_LOCAL_WORKER)
    since = {lease.camera_id: lease.since for lease in view.leases}

    def ref(camera_id: uuid.UUID) -> CameraRef:
        return CameraRef(id=camera_id, name=names.get(camera_id), since=since.get(camera_id))

    workers = [
        WorkerOut(
            worker_id=w.worker_id,
            host=w.host,
            pid=w.pid,
            capacity=w.capacity,
            load=round(w.load, 3),
            started_at=w.started_at,
            heartbeat_at=w.heartbeat_at,
            clock_skew_s=w.clock_skew_s,
            accepting=w.accepting,
            cameras=[ref(c) for c in w.cameras],
            problems=list(w.problems),
        )
        for w in view.workers
    ]
    unassigned = [ref(c) for c in sorted(set(names) - since.keys(), key=str)]
    return WorkersOut(mode=view.kind, workers=workers, unassigned=unassigned)
