"""REST API of ONVIF discovery (/api/v1/cameras/discover)."""

from __future__ import annotations

from fastapi import APIRouter

from safecity.cameras.onvif import service as onvif
from safecity.cameras.onvif.schemas import DiscoverIn, DiscoverOut, device_out
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["cameras"])


@router.post("/cameras/discover", response_model=DiscoverOut)
def discover_cameras(body: DiscoverIn, principal: CurrentPrincipal, db: Db) -> DiscoverOut:
    """Scan a subnet (at most /22) for ONVIF cameras; say which still accept a factory-default password."""
    devices = onvif.discover_cameras(
        session=db,
        actor=principal,
        network=body.network,
        ports=body.ports,
        username=body.username or None,
        password=body.password.get_secret_value() if body.password else None,
    )
    return DiscoverOut(
        network=str(onvif.scan_network(body.network)), devices=[device_out(d) for d in devices]
    )
