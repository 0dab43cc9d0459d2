"""The province's page over its district centres (/federation): each centre's link, the districts' latest
alerts and incidents, and a plate search across the districts (with their hotlist hits), which states a
purpose and is audited like the API's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import SearchMode
from safecity.core.errors import InvalidInput
from safecity.federation import service as federation
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)

LATEST = 50  # alerts and incidents shown per list
Text = Annotated[str, Query(max_length=200)]


@router.get("/federation", response_class=HTMLResponse)
def federation_page(
    request: Request,
    page: CurrentPage,
    db: Db,
    centre: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=40)] = "",
    mode: SearchMode = "exact",
    purpose: Text = "",
    go: str = "",
) -> Response:
    """The centres and their links; the latest alerts and incidents; with `go`, the plate search."""
    principal = page.principal
    configured = get_services(request).settings.federation.centres
    centres = federation.centres(session=db, principal=principal, configured=configured)
    chosen = federation.require_centre(configured, centre or None)
    context: dict[str, Any] = {"reads": None, "hits": None, "error": None}
    if principal.can(federation.READ_ALERTS):
        context["alerts"] = federation.alerts(session=db, principal=principal, centre=chosen, limit=LATEST)
    if principal.can(federation.READ_INCIDENTS):
        context["incidents"] = federation.incidents(
            session=db, principal=principal, centre=chosen, limit=LATEST
        )
    if go and principal.can(plates.READ):
        try:
            context["reads"] = federation.search_plates(
                session=db, principal=principal, q=q, purpose=purpose, mode=mode, centre=chosen
            )
            context["hits"] = federation.hits(
                session=db, principal=principal, purpose=purpose, centre=chosen, limit=LATEST
            )
        except InvalidInput as exc:
            context["error"] = exc.message
    return render(
        page,
        "federation/index.html",
        centres=centres,
        filters={"centre": centre, "q": q, "mode": mode, "purpose": purpose},
        **context,
    )
