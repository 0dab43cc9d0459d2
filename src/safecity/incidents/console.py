"""The operator console: the live alert feed, a map of cameras, incidents and units, the selected camera."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from safecity.events import alerts_pages
from safecity.incidents.models import Category
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)


@router.get("/console", response_class=HTMLResponse)
def console_page(page: CurrentPage, db: Db) -> Response:
    page.principal.require("alerts.read")
    return render(
        page,
        "incidents/console.html",
        **alerts_pages.feed_context(page, db, "new"),
        categories=[c.value for c in Category],
        can_escalate=page.principal.can("incidents.manage"),
        can_watch=page.principal.can("video.live"),
    )
