"""Assembles the web application: middleware, error handlers, every domain's routers, health and metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from safecity.analytics import pages as analytics_pages
from safecity.analytics import views as analytics_views
from safecity.analytics.plates import pages as plates_pages
from safecity.analytics.plates import views as plates_views
from safecity.analytics.plates.hotlists import pages as hotlists_pages
from safecity.analytics.plates.hotlists import views as hotlists_views
from safecity.audit import pages as audit_pages
from safecity.audit import views as audit_views
from safecity.auth import pages as auth_pages
from safecity.auth import views as auth_views
from safecity.cameras import pages as cameras_pages
from safecity.cameras import views as cameras_views
from safecity.cameras.onvif import views as onvif_views
from safecity.cameras.privacy import pages as privacy_pages
from safecity.cameras.privacy import views as privacy_views
from safecity.cluster import pages as cluster_pages
from safecity.cluster import views as cluster_views
from safecity.connectors import pages as connectors_pages
from safecity.connectors import views as connectors_views
from safecity.connectors.ctlist import views as ctlist_views
from safecity.connectors.identity import views as identity_views
from safecity.connectors.rescue1122 import views as rescue_views
from safecity.connectors.vehicles import pages as registry_pages
from safecity.connectors.vehicles import views as registry_views
from safecity.core.db import ping
from safecity.dispatch import pages as dispatch_pages
from safecity.dispatch import views as dispatch_views
from safecity.events import views as events_views
from safecity.events.alerts import pages as alerts_pages
from safecity.events.alerts import views as alerts_views
from safecity.evidence import pages as evidence_pages
from safecity.evidence import views as evidence_views
from safecity.evidence.exports import pages as evidence_exports_pages
from safecity.evidence.exports import views as evidence_exports_views
from safecity.evidence.keys import pages as evidence_keys_pages
from safecity.faces import pages as faces_pages
from safecity.faces import views as faces_views
from safecity.faces.matches import pages as face_matches_pages
from safecity.faces.matches import views as face_matches_views
from safecity.faces.search import pages as face_search_pages
from safecity.faces.search import views as face_search_views
from safecity.federation import pages as federation_pages
from safecity.federation import views as federation_views
from safecity.forensics import pages as forensics_pages
from safecity.forensics import views as forensics_views
from safecity.forensics.synopsis import pages as synopsis_pages
from safecity.forensics.synopsis import views as synopsis_views
from safecity.incidents import pages as incidents_pages
from safecity.incidents import views as incidents_views
from safecity.incidents.kpis import pages as kpis_pages
from safecity.incidents.kpis import views as kpis_views
from safecity.incidents.panic import views as panic_views
from safecity.incidents.sharing import views as sharing_views
from safecity.org import pages as org_pages
from safecity.org import service as org
from safecity.org import views as org_views
from safecity.records import pages as records_pages
from safecity.records import views as records_views
from safecity.records.quality import pages as records_quality_pages
from safecity.records.quality import views as records_quality_views
from safecity.records.search import pages as records_search_pages
from safecity.records.search import views as records_search_views
from safecity.traffic import pages as traffic_pages
from safecity.traffic import views as traffic_views
from safecity.traffic.appeals import pages as appeals_pages
from safecity.traffic.appeals import views as appeals_views
from safecity.traffic.challans import pages as challans_pages
from safecity.traffic.challans import views as challans_views
from safecity.traffic.payments import pages as payments_pages
from safecity.traffic.payments import views as payments_views
from safecity.traffic.portal import pages as portal_pages
from safecity.traffic.reviews import pages as reviews_pages
from safecity.traffic.reviews import views as reviews_views
from safecity.traffic.violations import pages as enforcement_pages
from safecity.traffic.violations import views as enforcement_views
from safecity.video import views as video_views
from safecity.video.playback import pages as playback_pages
from safecity.video.playback import views as playback_views
from safecity.video.wall import pages as wall_pages
from safecity.video.wall import views as wall_views
from safecity.web import errors, i18n
from safecity.web.deps import CurrentPrincipal, Db, get_services
from safecity.web.middleware import GuardMiddleware, ObservabilityMiddleware
from safecity.web.pages import CurrentPage, render

STATIC = Path(__file__).with_name("static")

ops = APIRouter(tags=["operations"])
READY_TIMEOUT_S = 2.0


@ops.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@ops.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The process can serve: its database answers within READY_TIMEOUT_S and its bus is connected."""
    services = get_services(request)
    checks: dict[str, str] = {}
    try:
        # On a worker thread, outside any transaction: a busy database never holds up the event loop.
        await asyncio.wait_for(asyncio.to_thread(ping, services.session_factory), READY_TIMEOUT_S)
        checks["database"] = "ok"
    except TimeoutError:
        checks["database"] = f"error: no answer within {READY_TIMEOUT_S:g} s"
    except Exception as exc:  # any failure means not ready; the reason is shown to the operator
        checks["database"] = f"error: {type(exc).__name__}"
    checks["bus"] = "ok" if services.bus.connected else "error: disconnected"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )


@ops.get("/metrics")
def metrics(principal: CurrentPrincipal) -> Response:
    """Prometheus metrics of this process, for an API token holding `metrics.read` (they name cameras)."""
    principal.require("metrics.read")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


home = APIRouter(include_in_schema=False)

# Every domain's API (views) and pages modules; each exports one `router`.
DOMAIN_ROUTES: tuple[ModuleType, ...] = (
    auth_views,
    auth_pages,
    org_views,
    org_pages,
    audit_views,
    audit_pages,
    evidence_keys_pages,  # the evidence verifier: public; before any /evidence/{...} route
    events_views,
    alerts_views,
    alerts_pages,
    cameras_views,
    cameras_pages,
    onvif_views,
    privacy_views,
    privacy_pages,
    video_views,
    wall_views,
    wall_pages,
    playback_views,
    playback_pages,
    incidents_views,
    incidents_pages,
    kpis_views,
    kpis_pages,
    panic_views,
    sharing_views,
    dispatch_views,
    dispatch_pages,
    analytics_views,
    analytics_pages,
    traffic_views,
    traffic_pages,
    challans_views,
    challans_pages,
    enforcement_views,
    enforcement_pages,
    plates_views,
    plates_pages,
    hotlists_views,
    hotlists_pages,
    face_matches_views,  # before any /faces/{...} route: "matches" is not another id
    face_matches_pages,
    face_search_views,
    face_search_pages,
    synopsis_views,
    synopsis_pages,
    registry_views,
    registry_pages,
    records_search_views,
    records_search_pages,
    evidence_views,
    evidence_pages,
    evidence_exports_views,
    evidence_exports_pages,
    records_quality_views,
    records_quality_pages,
    identity_views,  # before connectors_views: /identity/{cnic} is not a connector's name
    ctlist_views,
    rescue_views,  # Rescue 1122's webhook: public, signed
    connectors_views,
    connectors_pages,
    records_views,
    records_pages,
    faces_views,
    faces_pages,
    forensics_views,
    forensics_pages,
    reviews_views,
    reviews_pages,
    payments_views,
    payments_pages,
    appeals_views,
    appeals_pages,
    cluster_views,
    cluster_pages,
    federation_views,
    federation_pages,
    portal_pages,  # the citizen portal: public, no account
    i18n,  # the Urdu fonts (public)
)


@home.get("/", response_class=HTMLResponse)
def dashboard(page: CurrentPage, db: Db) -> Response:
    districts = org.list_districts(session=db, actor=page.principal) if page.principal.can("org.read") else []
    return render(
        page, "dashboard.html", districts=districts, districts_geo=org_pages.map_points(districts, "district")
    )


def install(app: FastAPI) -> None:
    """Attach everything the web process serves to `app`."""
    settings = app.state.services.settings
    i18n.load()  # the translations: a catalog that does not parse stops the start
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=settings.web.max_body_bytes,
        max_upload_bytes=settings.web.max_upload_bytes,
    )
    app.add_middleware(ObservabilityMiddleware)
    errors.install(app)
    app.include_router(ops)
    app.include_router(home)
    for module in DOMAIN_ROUTES:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
