"""The workers page (/admin/workers): who runs which camera, with load and health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from safecity.cluster import service as cluster
from safecity.cluster.views import read_cluster
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)


@router.get("/admin/workers", response_class=HTMLResponse)
def workers_page(request: Request, page: CurrentPage, db: Db) -> Response:
    overview = cluster.overview(
        session=db, principal=page.principal, view=read_cluster(request, page.principal)
    )
    return render(page, "cluster/workers.html", overview=overview)
