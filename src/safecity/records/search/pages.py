"""The records search page (/records/search?q=…), where the header's search box leads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from safecity.core.errors import InvalidInput
from safecity.records.search import service
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, render

router = APIRouter(include_in_schema=False)


@router.get("/records/search", response_class=HTMLResponse)
def search_page(
    page: CurrentPage, db: Db, q: Annotated[str, Query(max_length=service.MAX_QUERY * 2)] = ""
) -> Response:
    page.principal.require(service.READ)
    if not q.strip():
        return render(page, "records/search/results.html", q="", found=None, error=None)
    try:
        found = service.search(session=db, principal=page.principal, q=q)
    except InvalidInput as exc:
        return render(
            page, "records/search/results.html", q=q, found=None, error=exc.message, status_code=422
        )
    return render(page, "records/search/results.html", q=q, found=found, error=None)
