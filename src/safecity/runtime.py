"""The runtime objects one process shares: settings, database, bus, live feeds, cameras, analytics."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics.flows import AnalyticsRuntime
from safecity.audit.chain import AuditChain
from safecity.cluster.leases import create_assignment
from safecity.config import DispatchSettings, RegistrySettings, Settings
from safecity.connectors.base import Connector
from safecity.connectors.hub import ConnectorHub
from safecity.connectors.identity.services import IdentityService
from safecity.connectors.vehicles.registries import VehicleRegistry, build_registry
from safecity.core.bus import Bus, create_bus
from safecity.core.crypto import SecretBox
from safecity.core.db import create_db_engine, create_session_factory
from safecity.dispatch.notifiers import Notifier, build_notifier
from safecity.events.feed import AlertFeed, EventFeed, consumer_name
from safecity.faces.service import SharedFaceEngine
from safecity.incidents.feed import IncidentFeed
from safecity.traffic.violations.flows import ViolationsRuntime
from safecity.video.flows import VideoRuntime


@dataclass
class Services:
    """What every request handler and worker of one process shares."""

    settings: Settings
    session_factory: sessionmaker[Session]
    bus: Bus
    mfa_box: SecretBox
    alert_feed: AlertFeed
    event_feed: EventFeed  # analytics events, live
    video: VideoRuntime | None = None  # the cameras run by this process, if any
    analytics: AnalyticsRuntime | None = None  # the analytics of those cameras, if enabled
    violations: ViolationsRuntime | None = None  # traffic enforcement where those cameras run
    dispatch_notifier: Notifier | None = None  # how units are told of an assignment; None: by radio
    engine: Engine | None = None  # owned (and disposed) here unless a session factory was handed in
    # The vehicle registry connector (its circuit breaker and cache are shared by the process's requests).
    vehicle_registry: VehicleRegistry = field(default_factory=lambda: build_registry(RegistrySettings()))
    incident_feed: IncidentFeed | None = None  # changes of incidents, live (the incident page follows it)
    # The connectors an administrator configured (/admin/connectors), one shared instance each.
    connectors: ConnectorHub = field(init=False)
    # The face engine for enrolments made in this process (built on first use, one thread at a time).
    faces: SharedFaceEngine = field(init=False)

    def __post_init__(self) -> None:
        self.faces = SharedFaceEngine(self.settings.faces)
        box = SecretBox(self.settings.secret_key.get_secret_value(), "connectors")
        self.connectors = ConnectorHub(box, self.session_factory)

    @property
    def identity(self) -> IdentityService | None:
        """The identity verification service (by CNIC), if one is configured."""
        return next((c for c in self.connectors.all() if isinstance(c, IdentityService)), None)

    def fixed_connectors(self) -> list[Connector]:
        """The connectors the settings file configures (listed, tested, not edited on the admin page)."""
        return [self.vehicle_registry]


def build_services(settings: Settings, *, session_factory: sessionmaker[Session] | None = None) -> Services:
    """Wire the process's services from its configuration."""
    engine = None
    if session_factory is None:
        engine = create_db_engine(settings.effective_database_url)
        session_factory = create_session_factory(
            engine, info=AuditChain.from_settings(settings).session_info()
        )
    bus = create_bus(settings.bus_url.get_secret_value())
    # On the NATS bus a web process that runs cameras takes its share through leases like any worker.
    assignment = create_assignment(settings.bus_url.get_secret_value(), settings.cluster)
    video = VideoRuntime(settings, session_factory, bus, assignment) if settings.video.run_in_web else None
    return Services(
        settings=settings,
        session_factory=session_factory,
        bus=bus,
        mfa_box=SecretBox(settings.secret_key.get_secret_value(), "mfa"),
        alert_feed=AlertFeed(bus, durable=consumer_name()),
        event_feed=EventFeed(bus, durable=consumer_name("event-feed")),
        video=video,
        analytics=analytics_for(settings, session_factory, bus, video),
        violations=violations_for(settings, session_factory, bus, video),
        dispatch_notifier=_notifier(settings.dispatch),
        engine=engine,
        vehicle_registry=build_registry(settings.registry),
        incident_feed=IncidentFeed(bus, durable=consumer_name("incident-feed")),
    )


def analytics_for(
    settings: Settings, session_factory: sessionmaker[Session], bus: Bus, video: VideoRuntime | None
) -> AnalyticsRuntime | None:
    """Analytics of the cameras this process ingests, unless switched off."""
    if video is None or not settings.analytics.enabled:
        return None
    return AnalyticsRuntime(settings, session_factory, bus, video.supervisor)


def violations_for(
    settings: Settings, session_factory: sessionmaker[Session], bus: Bus, video: VideoRuntime | None
) -> ViolationsRuntime | None:
    """Traffic enforcement (violations from events, their evidence from the recordings, signal states)
    where the cameras are run: their events, recordings and frames are there.
    """
    if video is None:
        return None
    return ViolationsRuntime(settings, session_factory, bus, video.supervisor, video.assignment.owned)


def _notifier(cfg: DispatchSettings) -> Notifier | None:
    if cfg.mqtt_host:
        return build_notifier(
            {"type": "mqtt", "host": cfg.mqtt_host, "port": cfg.mqtt_port, "prefix": cfg.topic_prefix}
        )
    if cfg.webhook_url:
        return build_notifier({"type": "webhook", "url": cfg.webhook_url})
    return None
