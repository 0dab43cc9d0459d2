"""Rescue 1122's webhook (/api/v1/connectors/rescue1122/incidents): their incidents become ours.

No login: the call is signed with the link's shared key, HMAC-SHA256 of "<X-Timestamp>.<body>" in
`X-Signature` as `sha256=<hex>`, `X-Timestamp` in Unix seconds (core.crypto.check_signed, as the banks'
payment callback). A forged or stale call gets 401 and changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from safecity.connectors.rescue1122 import service
from safecity.connectors.rescue1122.links import RescueLink
from safecity.connectors.rescue1122.schemas import ReceivedOut, RescueIncidentIn
from safecity.web.deps import Db, client_addr, get_services

router = APIRouter(prefix="/api/v1/connectors/rescue1122", tags=["connectors"])


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers these bytes."""
    return await request.body()


@router.post(
    "/incidents",
    response_model=ReceivedOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RescueIncidentIn.model_json_schema()}},
        }
    },
)
def incident(request: Request, db: Db, body: Annotated[bytes, Depends(raw_body)]) -> ReceivedOut:
    """Their incident {id, category (fire, medical, road_accident), title, description, priority, latitude,
    longitude, address, district} becomes one of ours (source rescue1122), once per id (`replayed`: true
    on a repeat). 401 `unsigned`, `bad_signature`, `stale_timestamp`; 422 `bad_rescue_incident`,
    `unknown_district`."""
    services = get_services(request)
    services.connectors.sync(db)
    links = [c for c in services.connectors.all() if isinstance(c, RescueLink)]
    addr = client_addr(request)
    link = service.authenticate(
        session=db,
        links=links,
        body=body,
        signature=request.headers.get(service.SIGNATURE_HEADER),
        timestamp=request.headers.get(service.TIMESTAMP_HEADER),
        client_addr=addr,
    )
    return service.receive(session=db, link=link, body=body, client_addr=addr)
