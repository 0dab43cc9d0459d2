"""Composition root: configuration → database → bus → services → web application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import NoMatchFound

from safecity import __version__
from safecity.analytics import flows as analytics_flows
from safecity.analytics import replay as replays
from safecity.analytics.plates.hotlists.flows import HotlistMatcher
from safecity.cameras import onboarding
from safecity.config import Settings, load_settings
from safecity.connectors import flows as connector_flows
from safecity.core import periodic
from safecity.core.db import utcnow
from safecity.dispatch import positions, simulator
from safecity.events import service as events
from safecity.events.alerts import flows as alert_flows
from safecity.evidence.exports import service as exports
from safecity.faces import service as faces
from safecity.federation import flows as federation
from safecity.forensics import flows as forensic_flows
from safecity.forensics.synopsis import service as synopsis
from safecity.incidents import feed as incident_feed
from safecity.incidents import flows as incident_flows
from safecity.runtime import Services, build_services
from safecity.traffic import flows as traffic
from safecity.traffic.appeals import service as appeals
from safecity.traffic.challans import flows as challans
from safecity.web import shell

logger = logging.getLogger(__name__)
SYNOPSIS_PURGE_S = 3600.0  # synopses expire by the day: a pass an hour is plenty


def _build_route_tables(app: FastAPI) -> None:
    """Have FastAPI build every router's route table now: built lazily, the first request would hold the
    event loop for about a second while it is done."""
    with contextlib.suppress(NoMatchFound):
        app.url_path_for("no such route: walks every table")


def _background_work(services: Services, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """The process's background loops (stores fed by the bus, timed sweeps and checks, connectors), running
    until `stop` is set."""
    # The stores' consumers: on NATS, events and plate reads reach the database only through them.
    event_store = asyncio.create_task(
        events.store_from_bus(bus=services.bus, session_factory=services.session_factory, stop=stop),
        name="event-store",
    )
    sighting_store = asyncio.create_task(
        analytics_flows.sightings_from_bus(
            bus=services.bus, session_factory=services.session_factory, stop=stop
        ),
        name="plate-sighting-store",
    )
    track_store = asyncio.create_task(
        forensic_flows.tracks_from_bus(bus=services.bus, session_factory=services.session_factory, stop=stop),
        name="object-track-store",
    )
    face_store = asyncio.create_task(
        analytics_flows.faces_from_bus(
            bus=services.bus,
            session_factory=services.session_factory,
            box=faces.biometric_box(services.settings),
            stop=stop,
        ),
        name="face-store",
    )
    # Traffic: average speeds of plates read at both ends of a section; congestion of road segments.
    traffic_tasks = [
        asyncio.create_task(
            traffic.section_control_from_bus(
                bus=services.bus, session_factory=services.session_factory, stop=stop
            ),
            name="traffic-sections",
        ),
        asyncio.create_task(
            traffic.run_congestion(session_factory=services.session_factory, bus=services.bus, stop=stop),
            name="traffic-congestion",
        ),
        # E-challans: confirmed violations issued and sent; reminders, overdue, the unpaid hotlist.
        asyncio.create_task(
            challans.Issuer(services.session_factory, services.settings).run(stop=stop),
            name="challans-issue",
        ),
        asyncio.create_task(
            challans.run_sweeps(
                session_factory=services.session_factory, settings=services.settings, stop=stop
            ),
            name="challans-sweep",
        ),
        # Appeal attachments whose appeal never committed (a crash between the file and the commit).
        asyncio.create_task(
            periodic.repeat(
                stop,
                services.settings.challans.sweep_every_s,
                lambda: asyncio.to_thread(
                    appeals.purge_orphans,
                    session_factory=services.session_factory,
                    challans_dir=services.settings.challans_dir,
                    grace_s=services.settings.challans.orphan_grace_s,
                ),
                what="the appeal attachments sweep",
            ),
            name="appeal-orphans",
        ),
    ]
    hotlist_matcher = asyncio.create_task(
        HotlistMatcher(services.session_factory, services.bus).run(stop=stop), name="hotlist-matcher"
    )
    # Owners' cameras: the compliance check runs by itself when one is registered or its stream changes.
    compliance = asyncio.create_task(
        onboarding.run_compliance_checks(
            session_factory=services.session_factory, settings=services.settings, stop=stop
        ),
        name="camera-compliance",
    )
    # Finished synopses past their retention go with their files, here where they are rendered.
    synopsis_purge = asyncio.create_task(
        periodic.repeat(
            stop,
            SYNOPSIS_PURGE_S,
            lambda: asyncio.to_thread(
                synopsis.purge,
                session_factory=services.session_factory,
                synopses_dir=services.settings.synopses_dir,
                retention_days=services.settings.forensics.synopsis_retention_days,
                now=utcnow(),
            ),
            what="synopsis retention",
        ),
        name="synopsis-retention",
    )
    dispatch = services.settings.dispatch
    units = (
        asyncio.create_task(
            positions.consume_positions(
                session_factory=services.session_factory,
                stop=stop,
                host=dispatch.mqtt_host,
                port=dispatch.mqtt_port,
                prefix=dispatch.topic_prefix,
            ),
            name="unit-positions",
        )
        if dispatch.mqtt_host
        else None
    )
    demo_units = (
        asyncio.create_task(
            simulator.run(session_factory=services.session_factory, stop=stop), name="demo-units"
        )
        if dispatch.simulate_units
        else None
    )
    # Incidents waiting for a unit past their priority's target raise an alert, once each.
    overdue = asyncio.create_task(
        incident_flows.run_overdue(
            session_factory=services.session_factory,
            bus=services.bus,
            targets_s=dispatch.dispatch_targets_s,
            stop=stop,
            every_s=dispatch.overdue_check_s,
        ),
        name="incidents-overdue",
    )
    # Alerts left unacknowledged past their severity's limit go to a supervisor.
    escalations = asyncio.create_task(
        alert_flows.run_escalations(
            session_factory=services.session_factory,
            bus=services.bus,
            settings=services.settings.alerts,
            stop=stop,
        ),
        name="alert-escalations",
    )
    # Connectors: prisons feeds polled, CT lists fetched, incidents delivered to Rescue 1122.
    connector_work = asyncio.create_task(
        connector_flows.run(
            session_factory=services.session_factory, bus=services.bus, hub=services.connectors, stop=stop
        ),
        name="connectors",
    )
    return [
        task
        for task in (
            *_federation_work(services, stop),
            event_store,
            sighting_store,
            track_store,
            face_store,
            hotlist_matcher,
            units,
            demo_units,
            overdue,
            *traffic_tasks,
            compliance,
            synopsis_purge,
            escalations,
            connector_work,
        )
        if task is not None
    ]


def _federation_work(services: Services, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """A district centre's uplink to the province; a province's store of what its centres send."""
    cfg = services.settings.federation
    tasks = []
    if cfg.centre is not None:
        uplink = federation.Uplink(cfg, services.session_factory, services.bus)
        tasks.append(asyncio.create_task(uplink.run(stop=stop), name="federation-uplink"))
    if cfg.centres:
        tasks.append(
            asyncio.create_task(
                federation.store_from_bus(
                    bus=services.bus, session_factory=services.session_factory, centres=cfg.centres, stop=stop
                ),
                name="federation-store",
            )
        )
    return tasks


def create_app(
    settings: Settings | None = None, *, services: Services | None = None, background: bool = True
) -> FastAPI:
    """The web application with its API, pages, health and metrics endpoints.

    `background=False` leaves out the background loops (`_background_work`): for an application whose
    sessions share one database connection with its caller (the tests' rolled-back connection), where a
    loop's transaction beside a request's would interleave their savepoints and undo the request's writes.
    """
    services = services or build_services(settings or load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(_build_route_tables, app)
        # Synopses this process was rendering when it stopped never finish: they are marked failed.
        await asyncio.to_thread(synopsis.fail_abandoned_jobs, services.session_factory)
        # So are the exports it was preparing or signing: they are marked failed, to be tried again.
        await asyncio.to_thread(exports.fail_abandoned, services.session_factory)
        # And so are its rule replays.
        await asyncio.to_thread(replays.fail_abandoned, services.session_factory)
        await services.bus.start()
        await services.alert_feed.start()
        await services.event_feed.start()
        if services.incident_feed is not None:
            await services.incident_feed.start()
        # Committed changes of incidents go to the live feed (the incident page follows it).
        stop_publishing = incident_feed.publish_after_commit(
            services.session_factory, services.bus, asyncio.get_running_loop()
        )
        if services.video is not None:
            await services.video.start()
        if services.analytics is not None:
            await services.analytics.start()
        if services.violations is not None:
            await services.violations.start()
        stop = asyncio.Event()
        tasks = _background_work(services, stop) if background else []
        logger.info("safecity %s started", __version__, extra={"mode": services.settings.mode})
        # What start-up built (modules, models, route tables) lives as long as the process: frozen, the
        # garbage collector no longer walks it, so its full collections, which run on the event loop's
        # thread like everything else there, stay short while serving.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            stop.set()
            # This process's rule replays end with it: their rows say so, which stops their work.
            await asyncio.to_thread(replays.fail_abandoned, services.session_factory, stopping=True)
            for task in tasks:
                await task
            services.connectors.close()
            if services.violations is not None:
                await services.violations.stop()
            if services.analytics is not None:
                await services.analytics.stop()
            if services.video is not None:
                await services.video.stop()
            stop_publishing()
            if services.incident_feed is not None:
                await services.incident_feed.stop()
            await services.event_feed.stop()
            await services.alert_feed.stop()
            await services.bus.close()
            if services.engine is not None:
                services.engine.dispose()

    app = FastAPI(
        title="safecity",
        version=__version__,
        description="Safe City platform: cameras, analytics, command and control.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.dispatch_notifier = services.dispatch_notifier
    shell.install(app)
    return app
