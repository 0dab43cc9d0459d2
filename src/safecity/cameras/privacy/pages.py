"""Pages of privacy masks: the list of liftings for auditors. The masks' panel on the camera page is the
template cameras/privacy/_panel.html with static/privacy.js, which work through the API (views.py)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from safecity.cameras.privacy import service as privacy
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)


@router.get("/privacy/unmasks", response_class=HTMLResponse)
def unmasks_page(page: CurrentPage, db: Db) -> Response:
    """Who lifted which camera's privacy masks, why, from when until when (audit.read), newest first."""
    rows = privacy.list_unmasks(session=db, principal=page.principal)
    return render(page, "cameras/privacy/unmasks.html", rows=rows)
