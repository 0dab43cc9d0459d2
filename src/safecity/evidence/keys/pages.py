"""The public verifier: /evidence/verify (no login: courts and defence lawyers use it), the self-contained
verifier as a download (/evidence/verify.html, the deployment's public keys embedded) and the keyring
(/evidence/keys.json).

Only public keys are ever shown here. The fingerprints are printed in clear so that a reader can compare
them with the ones the police force publishes elsewhere (a letter, a gazette, its website).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from safecity.core.db import utcnow
from safecity.core.errors import SafecityError
from safecity.evidence.keys import service
from safecity.evidence.package import short
from safecity.evidence.verify import TrustedKey, keyring_document
from safecity.web import i18n
from safecity.web.deps import Db, get_login, get_principal, get_services
from safecity.web.pages import TEMPLATES, Page, get_page, render, render_public

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
SCRIPT = STATIC / "evidence_verify.js"
STYLE = STATIC / "evidence_verify.css"
NO_CACHE = {"Cache-Control": "no-store"}


@cache
def _assets() -> tuple[str, str]:
    """The verifier's script and style, to inline into the self-contained page."""
    script, css = SCRIPT.read_text(encoding="utf-8"), STYLE.read_text(encoding="utf-8")
    if "</script" in script.lower() or "</style" in css.lower():
        raise RuntimeError("the verifier's assets must not close their own element")
    return script, css


def _embedded(keys: Sequence[TrustedKey]) -> str:
    """The keyring as JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(keyring_document(keys), indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _rows(keys: Sequence[TrustedKey]) -> list[dict[str, Any]]:
    def when(value: dt.datetime | None) -> str:
        return "" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")

    return [
        {
            "fingerprint": k.fingerprint,
            "short": short(k.fingerprint),
            "created": when(k.created_at),
            "retired": when(k.retired_at),
        }
        for k in keys
    ]


def verifier_html(*, keys: Sequence[TrustedKey], lang: str = "en", deployment: str = "safecity") -> str:
    """The self-contained verifier page (inline script and style, no network) trusting `keys`: what
    /evidence/verify.html downloads and what a package carries as VERIFY.html."""
    script, css = _assets()
    return TEMPLATES.get_template("evidence/verify.html").render(
        lang=lang,
        direction=i18n.direction(lang),
        keys=_rows(keys),
        keyring_json=_embedded(keys),
        script=script,
        css=css,
        deployment=deployment,
        made=utcnow().strftime("%Y-%m-%d %H:%M"),
    )


def _signed_in_page(request: Request, db: Db) -> Page | None:
    """The page context when someone signed in opens the verifier (their menu stays); else None."""
    if not request.cookies and "authorization" not in request.headers:
        return None
    try:
        return get_page(request, get_principal(request, db), get_login(request, db))
    except SafecityError:
        return None


@router.get("/evidence/verify", response_class=HTMLResponse)
def verify_page(request: Request, db: Db) -> HTMLResponse:
    """The verifier in the browser, with this deployment's keys; public (no login)."""
    keys = service.trusted_keys(session=db)
    rows, embedded = _rows(keys), _embedded(keys)
    page = _signed_in_page(request, db)
    if page is not None:
        return render(page, "evidence/verify_page.html", keys=rows, keyring_json=embedded)
    return render_public(request, "evidence/verify_page.html", keys=rows, keyring_json=embedded)


@router.get("/evidence/verify.html")
def verify_download(request: Request, db: Db) -> Response:
    """The self-contained verifier as one HTML file to keep and open offline; public."""
    lang = i18n.choose(request, default=get_services(request).settings.default_language)
    html = verifier_html(keys=service.trusted_keys(session=db), lang=lang, deployment=request.url.netloc)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="safecity-evidence-verifier.html"', **NO_CACHE},
    )


@router.get("/evidence/keys.json")
def keyring(db: Db) -> Response:
    """The deployment's public keyring (every signing key, active and retired); public."""
    return Response(
        service.keyring_json(session=db),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="keys.json"', **NO_CACHE},
    )
