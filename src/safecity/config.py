"""One configuration tree for the whole system, read from SAFECITY_* variables and an optional TOML file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# Well-known development values: fine on a laptop, refused in production.
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 - a marker refused in production, not a secret
# The demo bank's key for signing payment callbacks (`safecity challans pay-demo`): development mode only.
DEV_PAYMENT_SECRET = "dev-only-payment-secret-change-me"  # noqa: S105 - a marker refused in production
CONFIG_FILE_ENV = "SAFECITY_CONFIG_FILE"
# Empty, a path on this site, or http(s)://host[:port]/..., the host optionally "{s}." + a domain.
TILES_URL = r"^(|/([^/].*)?|https?://(\{s\}\.)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/.*)$"


class Section(BaseModel):
    """A configuration section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class WebSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cookie_secure: bool = False
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(default=16 * 1_048_576, ge=1024)  # file uploads (base64 in JSON)
    public_url: str = ""  # the address people open (e.g. behind a proxy); empty: http://<host>:<port>
    # Map tiles, e.g. an internal tile server "https://tiles.police.local/{z}/{x}/{y}.png"; empty = no tiles.
    # A path ("/tiles/{z}/{x}/{y}.png") is served by this site; a server elsewhere is named by its origin,
    # which the Content-Security-Policy then lets pictures come from.
    map_tiles_url: str = Field(default="", pattern=TILES_URL)

    @property
    def map_tiles_origin(self) -> str:
        """The tile server's origin as a CSP source (`{s}` subdomains as `*`); empty for this site or none."""
        if "://" not in self.map_tiles_url:
            return ""
        scheme, rest = self.map_tiles_url.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0].replace('{s}', '*')}"

    def base_url(self, *, host: str | None = None, port: int | None = None) -> str:
        """Where people reach this server: `public_url` if set, else the address it listens on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        shown = host or self.host
        if shown in ("0.0.0.0", "::"):  # noqa: S104 (listening everywhere: this machine's own address works)
            shown = "127.0.0.1"
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{port or self.port}"


class AuthSettings(Section):
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=10, ge=1)
    # Failed logins from one client address in a sliding window, after which that address is refused
    # (429) for every username: it slows guessing and bounds how many accounts one address can lock.
    # Behind a reverse proxy, serve with the proxy's address in uvicorn's forwarded_allow_ips.
    address_max_failures: int = Field(default=20, ge=1)
    address_window_minutes: int = Field(default=15, ge=1)
    session_idle_minutes: int = Field(default=30, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    mfa_issuer: str = "safecity"


class AuditSettings(Section):
    """The audit chain's key and the checkpoints of its head, which `safecity audit verify` checks against."""

    # The chain is keyed (HMAC) with a key derived from this, or from secret_key when unset. Set it to keep
    # the log verifiable when secret_key is rotated; changing it makes every existing entry fail to verify.
    key: SecretStr | None = None
    # Append-only lines of signed (seq, hash, time) of the chain's head. Put it where whoever can rewrite
    # the database cannot (another disk or machine); default <data_dir>/audit-checkpoints.jsonl.
    checkpoint_path: Path | None = None
    checkpoint_every_entries: int = Field(default=1000, ge=1)
    checkpoint_every_seconds: float = Field(default=10.0, gt=0)


class VideoSettings(Section):
    # Embedded mode: the web process also runs the cameras. Set false where `safecity worker` runs them.
    run_in_web: bool = True
    recordings_dir: Path | None = None  # default: <data_dir>/recordings
    segment_seconds: int = Field(default=10, ge=2, le=300)
    disk_quota_gb: float = Field(default=100.0, gt=0)
    analytics_fps: float = Field(default=5.0, gt=0, le=60)  # frames handed to analytics per second
    keyframes_only: bool = False  # decode only key frames for analytics (much cheaper)
    open_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=5.0, gt=0)
    offline_after_s: float = Field(default=10.0, gt=0)  # no frame for this long: the camera is offline
    reconnect_max_s: float = Field(default=30.0, gt=0)
    # Evidence exports prepared or signed at once by a web process (each decodes and encodes video on a core
    # of its own; the rest wait their turn, shown as queued).
    exports_at_once: int = Field(default=1, ge=1, le=8)


class CameraSettings(Section):
    """Where camera streams may point."""

    # Owners' cameras must have public addresses; these ranges (CIDR, e.g. "10.8.0.0/16" for a VPN that
    # joins owners' recorders to the police network) are allowed too. Empty: public addresses only.
    owner_allowed_networks: list[IPvAnyNetwork] = []
    # Demo footage: a province-wide camera administrator may give a file path as a stream. Only ever in
    # development mode, whatever this says (a path reaches every file the server can read).
    file_streams: bool = True


class ComplianceSettings(Section):
    """Minimums a commercial camera must meet to join the network."""

    min_width: int = 1280
    min_height: int = 720
    min_fps: float = 10.0
    max_clock_skew_s: float = 5.0


class DispatchSettings(Section):
    """How units are reached: positions, acknowledgements and statuses over MQTT, or a webhook."""

    mqtt_host: str = ""  # e.g. 127.0.0.1; empty: this process neither listens to units nor tells them by MQTT
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    topic_prefix: str = "safecity/units"
    webhook_url: str = ""  # tell units through this URL instead of MQTT
    simulate_units: bool = False  # demo only: units patrol and drive to the incidents they are sent to
    # Time to dispatch per priority (1 = highest): an incident with no unit sent past it raises an alert.
    dispatch_targets_s: dict[int, int] = Field(default_factory=lambda: {1: 60, 2: 180, 3: 600, 4: 1800})
    overdue_check_s: float = Field(default=15.0, gt=0, le=600)  # how often waiting incidents are checked

    @model_validator(mode="after")
    def _targets(self) -> DispatchSettings:
        if any(p not in (1, 2, 3, 4) or not 1 <= s <= 86_400 for p, s in self.dispatch_targets_s.items()):
            raise ValueError("dispatch_targets_s maps priorities 1-4 to 1 to 86400 seconds")
        return self


class AnalyticsSettings(Section):
    """The AI analytics run by this process: which detector, how eagerly, and what becomes an alert."""

    enabled: bool = True  # analyse the cameras this process ingests (those with at least one rule)
    detector: Literal["ssd_mobilenet_v2", "yolov3_tiny"] = "ssd_mobilenet_v2"
    # Detections below this are ignored; new tracks still need ACTIVATION_SCORE (0.5), so the weaker
    # ones only keep existing tracks alive (measured: 0.3 finds a tenth more vehicles, no more wrong boxes).
    min_score: float = Field(default=0.3, gt=0, lt=1)
    class_scores: dict[str, float] = Field(default_factory=dict)  # min_score per class, where different
    tiling: bool = True  # detect on overlapping tiles at near native resolution (costs a model run each)
    tile_grid: tuple[int, int] | None = None  # columns x rows; None: tiles about square
    whole_frame: bool = False  # also a pass on the whole frame (for big, close objects)
    keepalive_s: float = Field(default=3.0, gt=0, le=60)  # detect this often even when nothing moves
    motion_threshold: float = Field(default=0.002, gt=0, lt=1)  # fraction of pixels changed that is motion
    alert_severity: int = Field(default=3, ge=0, le=4)  # events this severe (3 high, 4 critical) also alert
    snapshots_dir: Path | None = None  # default: <data_dir>/snapshots
    # Keep every object the analysed cameras followed (class, colour, direction, path, best view) for
    # forensic search, routes and synopses.
    keep_tracks: bool = True


class PlatesSettings(Section):
    """Number-plate sightings: how long they are kept."""

    # Sightings older than this are deleted with their pictures, unless held (a hotlist hit, a case).
    retention_days: int = Field(default=90, ge=1, le=3650)


class ForensicsSettings(Section):
    """Forensics: how long the objects the cameras followed and the rendered synopses are kept."""

    # Objects (with their best views) older than this are deleted, unless a case refers to them.
    track_retention_days: int = Field(default=30, ge=1, le=3650)
    # Finished, failed or cancelled synopses older than this are deleted with their files.
    synopsis_retention_days: int = Field(default=7, ge=1, le=365)


class FaceQualitySettings(Section):
    """The limits a face must meet to be recognised (enrolled, matched or searched with)."""

    min_size: int = Field(default=40, ge=16, le=1024)  # face width in the picture, pixels
    # Variance of the Laplacian of the aligned face: sharp enrolment photos measure 60-500, the astronaut
    # photo blurred by a Gaussian of sigma 1 measures 32 and of sigma 2 measures 10.
    min_sharpness: float = Field(default=20.0, ge=0)
    max_yaw: float = Field(default=0.7, gt=0, le=1)  # 0 frontal, 1 in profile
    min_brightness: float = Field(default=40.0, ge=0, le=255)
    max_brightness: float = Field(default=220.0, ge=0, le=255)


class FaceSettings(Section):
    """Face recognition: the engine, its same-person threshold, and how long unmatched faces are kept."""

    detector: dict[str, Any] = Field(default_factory=lambda: {"type": "retinaface"})  # a face-detector plugin
    quality: FaceQualitySettings = FaceQualitySettings()
    # Cosine similarity at or above which two faces are the same person. dlib's raw descriptors have a norm
    # of about 1.45, so its published raw distances d map to 1 - d²/(2·1.45²): d 0.6 (0.5 % false accepts
    # on LFW) ≈ 0.914, d 0.56 (0.1 %) ≈ 0.925. 0.92 (d ≈ 0.58) sits between; on ORL it gave 99.94 % true
    # and 0.61 % false accepts (bench/bench_faces.py prints the figures).
    threshold: float = Field(default=0.92, gt=-1, lt=1)
    # Faces seen by the cameras that matched nothing are deleted after this (retrospective search window).
    unmatched_retention_hours: int = Field(default=24, ge=1, le=24 * 31)
    # Threads matching live cameras' faces, each with its own engine (about 100 MB); one keeps about five
    # cameras at 2 fps (an embedding costs some 80 ms of a core): see bench/bench_live_faces.py.
    live_threads: int = Field(default=2, ge=1, le=64)


class ChallanSettings(Section):
    """E-challans: review, issue, delivery, payment and appeal."""

    second_review_below: float = Field(default=0.9, gt=0, le=1)  # plate reads less sure need two officers
    # A camera whose share of confirmed violations (review and appeals) falls below `min_precision`, once
    # `min_decided` of its violations are decided, stops feeding the review queue and raises an alert.
    min_precision: float = Field(default=0.8, ge=0, le=1)
    min_decided: int = Field(default=20, ge=1)
    due_days: int = Field(default=10, ge=1, le=365)  # from issue to the due date
    reminder_days: int = Field(default=3, ge=0, le=60)  # a reminder this many days before the due date
    appeal_days: int = Field(default=30, ge=1, le=365)  # an appeal must be decided within
    # The public address of this system, printed in challans' QR codes (the verification page) and links;
    # unset: the web's (`web.public_url`, else the address served).
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    # The HMAC key banks sign payment callbacks with; unset: no payments are taken (development mode: the
    # demo's DEV_PAYMENT_SECRET, refused in production).
    payment_secret: SecretStr | None = None
    payment_max_skew_s: int = Field(default=300, ge=1)  # a callback's timestamp may be this old at most
    sms_gateway: str = "http"  # which SMS gateway plugin (traffic/challans/messaging.py)
    sms_url: str = ""  # the SMS gateway's endpoint; empty: no SMS
    sms_token: SecretStr | None = None
    smtp_host: str = ""  # empty: no e-mail
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: SecretStr | None = None
    mail_from: str = "e-challan@safecity.invalid"
    portal_lookups_per_minute: int = Field(default=20, ge=1)  # per address, on the citizen portal
    max_attachment_bytes: int = Field(default=5_000_000, ge=10_000)
    challans_dir: Path | None = None  # PDFs and appeal attachments; default: <data_dir>/challans
    # How often the web process looks for confirmed violations without a challan (one small query when there
    # are none), and how often it sends reminders, marks overdue challans and updates the unpaid hotlist.
    issue_every_s: float = Field(default=30.0, gt=0, le=3600)
    sweep_every_s: float = Field(default=3600.0, gt=0, le=86400)
    # An appeal attachment no appeal refers to (its filing crashed before the commit) is deleted by the
    # sweep once it is this old; a younger one may be an upload whose appeal is being committed.
    orphan_grace_s: float = Field(default=3600.0, ge=60, le=30 * 86400)
    # Violations' evidence: the clip covers this many seconds either side of the offence; a violation waits
    # this long for its recording (then its packet is marked incomplete) and for its plate read (then the
    # plate is unreadable), with this many packets assembled at once.
    evidence_clip_s: float = Field(default=5.0, ge=1, le=30)
    evidence_wait_s: float = Field(default=120.0, ge=5, le=3600)
    evidence_plate_wait_s: float = Field(default=60.0, ge=0, le=3600)
    evidence_workers: int = Field(default=2, ge=1, le=32)
    # Traffic signals: controllers may report on MQTT topic <signals_topic_prefix>/<signal id>; lamp-read
    # signals are sampled this often; a state older than signal_max_age_s is unknown (no red-light offence).
    signals_mqtt: bool = False
    signals_mqtt_host: str = "127.0.0.1"
    signals_mqtt_port: int = Field(default=1883, ge=1, le=65535)
    signals_topic_prefix: str = Field(default="safecity/signals", pattern=r"^[A-Za-z0-9_/-]+$")
    lamp_sample_hz: float = Field(default=2.0, gt=0, le=10)
    signal_max_age_s: float = Field(default=300.0, gt=0)


class RegistrySettings(Section):
    """The provincial vehicle registry: a live REST service, or only the imported extracts."""

    type: Literal["extract", "rest"] = "extract"
    url: str = ""  # rest: the look-up endpoint; GET <url>/<plate>
    token: SecretStr | None = None
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=10)
    cache_ttl_s: int = Field(default=3600, ge=0)
    breaker_failures: int = Field(default=5, ge=1)  # consecutive failures that open the circuit
    breaker_reset_s: float = Field(default=30.0, gt=0)  # how long an open circuit refuses before a trial
    # rest: while the registry cannot answer (timeout, 5xx, circuit open), the last answer held for a plate
    # is shown, marked stale, if it was fetched within this many seconds; 0: never (the look-up fails).
    stale_max_age_s: int = Field(default=7 * 86400, ge=0)


SeverityName = Literal["info", "low", "medium", "high", "critical"]
SeverityNumber = Literal[0, 1, 2, 3, 4]


def _escalate_after() -> dict[SeverityName, float]:
    return {"critical": 120.0, "high": 300.0, "medium": 900.0}


def _attention() -> list[SeverityNumber]:
    return [3, 4]


class AlertSettings(Section):
    """The console's alerts: when an unacknowledged one goes to a supervisor, what calls for attention."""

    # Seconds a new alert of each severity may stay unacknowledged before it is escalated; a severity not
    # named here is never escalated. E.g. SAFECITY_ALERTS__ESCALATE_AFTER_S='{"critical": 60, "high": 300}'.
    escalate_after_s: dict[SeverityName, float] = Field(default_factory=_escalate_after)
    escalate_to_role: str = Field(default="supervisor", min_length=1, max_length=40)
    escalate_every_s: float = Field(default=15.0, gt=0, le=3600)  # how often overdue alerts are looked for
    # Severities that sound and notify on a console until the user chooses otherwise (3 high, 4 critical).
    attention_severities: list[SeverityNumber] = Field(default_factory=_attention)


class ClusterSettings(Section):
    """How `safecity worker` processes share the cameras through JetStream leases (NATS bus only)."""

    # Unique among the live workers; letters, digits, "-", "_" and "." (a NATS KV key). Default: host-pid.
    worker_id: str | None = Field(default=None, pattern=r"^[-_.A-Za-z0-9]{1,100}$")
    capacity: int = Field(default=100, ge=1, le=10_000)  # cameras this worker may run at most
    lease_s: float = Field(default=6.0, ge=2.0, le=300.0)  # a lease (and a heartbeat) not renewed expires
    renew_s: float = Field(default=1.5, gt=0.0, le=60.0)  # how often leases and the heartbeat are renewed
    # A worker that could not renew stops its cameras this long before its lease could expire.
    stop_margin_s: float = Field(default=2.0, gt=0.0, le=60.0)
    # Refuse cameras when this worker's clock and the NATS server's differ by more (timestamps would lie).
    max_clock_skew_s: float = Field(default=2.0, gt=0.0, le=3600.0)
    # Names the KV buckets (<prefix>_workers, <prefix>_leases): stacks sharing one NATS use their own.
    kv_prefix: str = Field(default="safecity", pattern=r"^[A-Za-z0-9_-]{1,40}$")

    @model_validator(mode="after")
    def _renewals_fit_in_a_lease(self) -> ClusterSettings:
        if self.renew_s * 2 > self.lease_s - self.stop_margin_s:
            raise ValueError("cluster: lease_s must leave room for two renewals before the stop margin")
        return self


# A centre's code is one token of a NATS subject (federation.<centre>.<kind>): no dots, no wildcards.
CENTRE_CODE = r"^[a-z0-9_-]{1,32}$"
MIN_FEDERATION_KEY = 32


class CentreSettings(Section):
    """A district centre as the province knows it: the key its messages are signed with, and its district."""

    key: SecretStr  # shared with that centre only: a message signed with another key is refused
    district: str = Field(min_length=1, max_length=8)  # the province's district code the centre covers
    name: str = Field(default="", max_length=120)
    # Its web stack (scheme, host, port only), through which the province opens its cameras' live video,
    # and the API token (`video.live`) its administrators issued to the province for that.
    web_url: str | None = Field(default=None, pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+/?$")
    api_token: SecretStr | None = None

    @model_validator(mode="after")
    def _long_key(self) -> CentreSettings:
        if len(self.key.get_secret_value()) < MIN_FEDERATION_KEY:
            raise ValueError(f"federation: a centre's key needs at least {MIN_FEDERATION_KEY} characters")
        return self


class FederationSettings(Section):
    """District centres federated to a province: a district's uplink, and the province's centres."""

    # District side: this stack's centre code; set, its alerts, incidents and plate reads go to the province.
    centre: str | None = Field(default=None, pattern=CENTRE_CODE)
    province_url: SecretStr = SecretStr("")  # the province's NATS (nats://host:port), reached by the uplink
    key: SecretStr = SecretStr("")  # this centre's signing key, as the province's `centres.<code>.key`
    retry_s: float = Field(default=2.0, gt=0.0, le=300.0)  # pause between tries while the link is down
    # Province side: the centres whose messages are accepted (by code), on this stack's own bus.
    centres: dict[str, CentreSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _uplink_complete(self) -> FederationSettings:
        if self.centre is not None:
            if not self.province_url.get_secret_value():
                raise ValueError("federation: a centre needs province_url (the province's NATS)")
            if len(self.key.get_secret_value()) < MIN_FEDERATION_KEY:
                raise ValueError(f"federation: a centre's key needs at least {MIN_FEDERATION_KEY} characters")
        bad = [code for code in self.centres if not re.match(CENTRE_CODE, code)]
        if bad:
            raise ValueError(f"federation: centre codes are a-z, 0-9, '-' and '_': {', '.join(sorted(bad))}")
        return self


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = True


class Settings(BaseSettings):
    """The effective configuration of one safecity process."""

    model_config = SettingsConfigDict(
        env_prefix="SAFECITY_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: SecretStr = SecretStr("")
    bus_url: SecretStr = SecretStr("memory://")
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    timezone: str = "Asia/Karachi"
    default_language: Literal["en", "ur"] = "en"  # the interface's, until a user or browser picks one
    web: WebSettings = WebSettings()
    auth: AuthSettings = AuthSettings()
    audit: AuditSettings = AuditSettings()
    video: VideoSettings = VideoSettings()
    cameras: CameraSettings = CameraSettings()
    compliance: ComplianceSettings = ComplianceSettings()
    dispatch: DispatchSettings = DispatchSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    plates: PlatesSettings = PlatesSettings()
    forensics: ForensicsSettings = ForensicsSettings()
    faces: FaceSettings = FaceSettings()
    challans: ChallanSettings = ChallanSettings()
    registry: RegistrySettings = RegistrySettings()
    log: LogSettings = LogSettings()
    alerts: AlertSettings = AlertSettings()
    cluster: ClusterSettings = ClusterSettings()
    federation: FederationSettings = FederationSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order of precedence: arguments, environment, then the TOML file named by SAFECITY_CONFIG_FILE."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get(CONFIG_FILE_ENV)
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        """Challans link to the web's address unless given their own; development mode takes the demo's
        signed payments unless given a payment secret.
        """
        update: dict[str, Any] = {}
        if "public_url" not in self.challans.model_fields_set:
            update["public_url"] = self.web.base_url()
        if self.mode == "development" and self.challans.payment_secret is None:
            update["payment_secret"] = SecretStr(DEV_PAYMENT_SECRET)
        if update:
            self.challans = self.challans.model_copy(update=update)
        return self

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.mode != "production":
            return self
        problems = []
        payment = self.challans.payment_secret
        if payment is not None and payment.get_secret_value() == DEV_PAYMENT_SECRET:
            problems.append("challans.payment_secret must not be the development value")
        key = self.secret_key.get_secret_value()
        if key == DEV_SECRET_KEY or len(key) < 32:
            problems.append("secret_key must be set to a random value of at least 32 characters")
        if self.audit.key is not None and len(self.audit.key.get_secret_value()) < 32:
            problems.append("audit.key, when set, must be a random value of at least 32 characters")
        if not self.database_url.get_secret_value():
            problems.append("database_url must be set explicitly")
        if not self.web.cookie_secure:
            problems.append("web.cookie_secure must be true (sessions travel over HTTPS only)")
        if problems:
            raise ValueError("refusing to start in production mode: " + "; ".join(problems))
        return self

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file under data_dir."""
        url = self.database_url.get_secret_value()
        return url or f"sqlite:///{self.data_dir / 'safecity.db'}"

    @property
    def file_streams_allowed(self) -> bool:
        """Whether camera streams may be file paths (demo footage): development mode only."""
        return self.mode == "development" and self.cameras.file_streams

    @property
    def audit_checkpoint_path(self) -> Path:
        """Where the signed checkpoints of the audit chain's head are appended."""
        return self.audit.checkpoint_path or self.data_dir / "audit-checkpoints.jsonl"

    @property
    def recordings_dir(self) -> Path:
        """Where recorded segments are written."""
        return self.video.recordings_dir or self.data_dir / "recordings"

    @property
    def snapshots_dir(self) -> Path:
        """Where analytics event snapshots (JPEG, boxes drawn) are written."""
        return self.analytics.snapshots_dir or self.data_dir / "snapshots"

    @property
    def synopses_dir(self) -> Path:
        """Where video synopses are rendered to (one folder each)."""
        return self.data_dir / "synopses"

    @property
    def evidence_dir(self) -> Path:
        """Where evidence packets (violations' frames, crops and clips) are written."""
        return self.data_dir / "evidence"

    @property
    def challans_dir(self) -> Path:
        """Where challan PDFs and appeal attachments are written."""
        return self.challans.challans_dir or self.data_dir / "challans"

    def redacted(self) -> dict[str, Any]:
        """The configuration as plain data with every secret masked, for display and logs."""
        data = self.model_dump(mode="json")
        data["database_url"] = _mask_url(self.effective_database_url)
        data["bus_url"] = _mask_url(self.bus_url.get_secret_value())
        data["secret_key"] = "**********"  # noqa: S105 - the mask, not a secret
        return data


def _mask_url(url: str) -> str:
    """Hide the password part of a URL such as postgresql://user:pw@host/db."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def load_settings(**overrides: Any) -> Settings:
    """Read the configuration from the environment (and TOML file), with optional overrides."""
    return Settings(**overrides)
