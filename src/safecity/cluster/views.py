"""REST API of the workers that share the cameras (/api/v1/workers)."""

from __future__ import annotations

import asyncio

import nats.errors
from fastapi import APIRouter, Request

from safecity.auth.principal import Principal
from safecity.cluster import service as cluster
from safecity.cluster.leases import ClusterView, current_view
from safecity.cluster.schemas import WorkersOut
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["cluster"])


def read_cluster(request: Request, principal: Principal) -> ClusterView | None:
    """The cluster as this process can see it (blocking: a short connection to NATS on the NATS bus)."""
    principal.require(cluster.READ)  # before reaching out to NATS
    services = get_services(request)
    local = services.video.assignment if services.video is not None else None
    url = services.settings.bus_url.get_secret_value()
    try:
        # Its own event loop, on this request's worker thread: the connection lives only for the read.
        return asyncio.run(current_view(url, services.settings.cluster, local))
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        raise cluster.BusUnavailable(
            f"NATS does not answer, so the workers cannot be listed ({exc!r})"
        ) from exc


@router.get("/workers", response_model=WorkersOut)
def list_workers(request: Request, principal: CurrentPrincipal, db: Db) -> WorkersOut:
    """The live workers with their cameras, capacity, load and health, and the cameras no worker runs."""
    return cluster.overview(session=db, principal=principal, view=read_cluster(request, principal))
