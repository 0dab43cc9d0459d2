"""The camera registry: create, read, change and remove cameras within district scope; bulk CSV import.

Credentials never rest in clear: they are split out of stream URLs, sealed with a SecretBox of purpose
"camera-credentials", and joined back in only by `connect_url` for the worker that opens the stream.
"""

from __future__ import annotations

import csv
import io
import logging
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from pydantic import ValidationError
from sqlalchemy import Text, cast, event, select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras import access
from safecity.cameras.models import Approval, Camera, Owner, Premises
from safecity.cameras.passwords import is_default_password
from safecity.cameras.schemas import CameraIn, CameraUpdate, ImportReport, RowProblem
from safecity.config import Settings
from safecity.core import geo
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotFound, PermissionDenied
from safecity.org.models import District, Site

logger = logging.getLogger(__name__)

READ = "cameras.read"
MANAGE = "cameras.manage"
OWN = "cameras.own"
CREDENTIALS_PURPOSE = "camera-credentials"
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
# Query parameters some cameras take a password in (http://cam/video.cgi?user=admin&pwd=…).
_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "pass", "pw", "key", "token"})

# The CSV import's columns, in this order (the header row is required). Empty optional cells take the
# defaults of CameraIn; `tags` are separated by ";"; credentials may sit in stream_url (rtsp://u:p@host/…).
CSV_HEADER = (
    "name",
    "district_code",
    "site",
    "latitude",
    "longitude",
    "bearing",
    "field_of_view",
    "stream_url",
    "substream_url",
    "owner",
    "owner_organisation",
    "sharing",
    "tags",
    "retention_days",
)
MAX_IMPORT_CHARS = 512 * 1024
MAX_IMPORT_ROWS = 2000
# Text a spreadsheet would run as a formula when the file is opened again (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_TEXT_COLUMNS = ("name", "site", "stream_url", "substream_url", "owner_organisation", "tags")
_CSV_FIELD_OF = {"district_id": "district_code", "site_id": "site"}


def credentials_box(settings: Settings) -> SecretBox:
    """The box that seals camera credentials at rest."""
    return SecretBox(settings.secret_key.get_secret_value(), CREDENTIALS_PURPOSE)


# --- stream URLs and credentials ------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    username: str | None
    password: str | None


@dataclass(frozen=True)
class StreamRules:
    """What a stream URL may name: a file (demo footage), and whether only public addresses."""

    files: bool
    public_only: bool  # an owner's camera: public addresses, or those in `allowed_networks`
    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()


def stream_rules(*, settings: Settings, principal: Principal, owner_camera: bool) -> StreamRules:
    """The rules for setting a camera's streams, whoever sets them (its owner, the authority, an import).

    An owner's camera (one at premises) may point only at public addresses, or at ranges an administrator
    allows: otherwise its owner could aim the server at itself or its internal network. A file path reaches
    every district's files, so only a province-wide camera administrator may give one, and only in the demo.
    """
    return StreamRules(
        files=settings.file_streams_allowed
        and not owner_camera
        and principal.can(MANAGE)
        and principal.province_wide,
        public_only=owner_camera,
        allowed_networks=tuple(settings.cameras.owner_allowed_networks),
    )


NOT_ALLOWED = "stream_url_not_allowed"
# Never routed on the Internet (RFC 5737, RFC 3849): they reach nothing, and examples and tests use them.
_DOCUMENTATION = tuple(
    ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_NAT64 = ip_network("64:ff9b::/96")


def _embedded(address: IPv4Address | IPv6Address) -> list[IPv4Address | IPv6Address]:
    """The address and any IPv4 address inside it (mapped, 6to4, NAT64), which is where it leads."""
    found: list[IPv4Address | IPv6Address] = [address]
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address in _NAT64:
            found.append(IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _public(address: IPv4Address | IPv6Address, allowed: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    if any(address in network for network in allowed):
        return True
    return all(a.is_global or any(a in n for n in _DOCUMENTATION) for a in _embedded(address))


def _resolve(host: str, port: int | None) -> list[IPv4Address | IPv6Address]:
    """The addresses `host` stands for (an IP literal, or what name resolution says); [] if none.

    Blocking: callers run in a worker thread (sync route handlers), never on the event loop.
    """
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


def _refuse_internal(host: str, port: int | None, rules: StreamRules) -> None:
    addresses = _resolve(host, port)
    if addresses and all(_public(a, rules.allowed_networks) for a in addresses):
        return
    # One answer for "no such name" and "an internal address": the message must not map the server's network.
    found = ", ".join(str(a) for a in addresses) or "nothing"
    logger.info("stream host %s refused for an owner's camera: it resolves to %s", host, found)
    raise InvalidInput(
        "the camera's address must be a public IP address or host name that the police network can reach "
        "over the Internet (the address your router forwards to the camera), not a local or private one; "
        "if your cameras join through a private link, ask the authority to allow its address range",
        code=NOT_ALLOWED,
    )


def check_stream_url(url: str, rules: StreamRules) -> tuple[str, Credentials | None]:
    """Check a stream URL's form, scheme and target against `rules`; return it and its credentials apart.

    This is the one check for every way a stream URL is set. A path (no scheme) is a file of demo footage;
    any `user:password@` is taken out of a URL and returned beside it.
    """
    if not url or url != url.strip() or any(ord(ch) < 32 or ch == "\x7f" for ch in url):
        raise InvalidInput(
            "a stream URL must not be empty, start or end with spaces, or hold control characters"
        )
    if "://" not in url:  # a file path may hold spaces; a URL may not
        if not rules.files:
            raise InvalidInput(
                "give the camera's network address: rtsp://, rtsps://, http:// or https:// "
                "(file paths are demo footage, for a province-wide administrator in development mode only)",
                code=NOT_ALLOWED,
            )
        return url, None
    if " " in url:
        raise InvalidInput("a stream URL must not hold spaces: write them as %20")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput("the stream URL is not a valid URL") from exc
    if parts.scheme.lower() not in STREAM_SCHEMES:
        raise InvalidInput(
            "a stream URL starts with rtsp://, rtsps://, http:// or https://", code=NOT_ALLOWED
        )
    if not parts.hostname:
        raise InvalidInput("the stream URL names no host")
    if any(key.lower() in _SECRET_QUERY_KEYS for key, _ in parse_qsl(parts.query, keep_blank_values=True)):
        raise InvalidInput(
            "the stream URL carries a password in its query: put it in the password field instead",
            code="credentials_in_query",
        )
    if rules.public_only:
        _refuse_internal(parts.hostname, port, rules)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    credentials = Credentials(unquote(user) or None, unquote(password) if has_password else None)
    return parts._replace(netloc=hostport).geturl(), credentials


def connect_url(camera: Camera, box: SecretBox, *, substream: bool = False) -> str:
    """The stream URL with the camera's credentials joined back in, for the worker that opens it."""
    url = camera.substream_url if substream and camera.substream_url else camera.stream_url
    if camera.username is None or "://" not in url:
        return url
    userinfo = quote(camera.username, safe="")
    if camera.password_encrypted is not None:
        userinfo += ":" + quote(box.decrypt(camera.password_encrypted), safe="")
    parts = urlsplit(url)
    return parts._replace(netloc=f"{userinfo}@{parts.netloc}").geturl()


def _one_set(found: Iterable[Credentials | None]) -> Credentials | None:
    distinct = {c for c in found if c is not None}
    if len(distinct) > 1:
        raise InvalidInput(
            "the stream URLs and the credential fields disagree: give the camera's credentials once",
            code="credentials_conflict",
        )
    return distinct.pop() if distinct else None


def refuse_default_password(username: str | None, password: str | None) -> None:
    """Raise InvalidInput(code="default_password") for a vendor's factory-default credentials."""
    if (username or password) and is_default_password(username, password):
        raise InvalidInput(
            "these are a camera vendor's factory-default credentials: set a strong password on the "
            "camera first, then register it with that",
            code="default_password",
        )


def _store_credentials(camera: Camera, box: SecretBox, credentials: Credentials | None) -> None:
    username = credentials.username if credentials else None
    password = credentials.password if credentials else None
    if password and not username:
        raise InvalidInput("a password needs a username")
    refuse_default_password(username, password)
    camera.username = username
    camera.password_encrypted = box.encrypt(password) if password else None


def _field_credentials(username: str | None, password: str | None) -> Credentials | None:
    if username is None and password is None:
        return None
    return Credentials(username or None, password or None)


def _apply_streams(
    camera: Camera,
    box: SecretBox,
    *,
    stream_url: str,
    substream_url: str | None,
    fields: Credentials | None,
    rules: StreamRules,
    replace_credentials: bool,
) -> bool:
    """Set the stream URLs (without credentials) and seal the credentials found in the URLs or fields.

    Without credentials given anywhere, the stored ones are kept unless `replace_credentials`.
    Returns whether the credentials were set.
    """
    main, in_main = check_stream_url(stream_url, rules)
    sub, in_sub = check_stream_url(substream_url, rules) if substream_url else (None, None)
    given = _one_set((fields, in_main, in_sub))
    camera.stream_url, camera.substream_url = main, sub
    if given is None and not replace_credentials:
        return False
    _store_credentials(camera, box, given)
    return True


def set_streams(
    camera: Camera,
    box: SecretBox,
    *,
    stream_url: str,
    substream_url: str | None,
    username: str | None,
    password: str | None,
    rules: StreamRules,
) -> None:
    """Set a new camera's streams and credentials (from the URLs or the fields), refusing default ones."""
    _apply_streams(
        camera,
        box,
        stream_url=stream_url,
        substream_url=substream_url,
        fields=_field_credentials(username, password),
        rules=rules,
        replace_credentials=True,
    )


# --- the compliance check, due ----------------------------------------------------------------------

# The compliance runners of this process (onboarding.run_compliance_checks): each is woken when a
# transaction that made a check due commits. A runner also looks for due checks now and then by itself
# (after a restart, or ones made due by another process).
COMPLIANCE_WAKERS: set[Callable[[], None]] = set()


def mark_compliance_due(session: Session, camera: Camera) -> None:
    """Have the camera's compliance checked in the background, once this transaction commits."""
    camera.compliance_due_at = utcnow()

    def wake(_session: Session) -> None:
        for waker in list(COMPLIANCE_WAKERS):
            waker()

    event.listen(session, "after_commit", wake, once=True)


# --- scope ----------------------------------------------------------------------------------------


def owns(*, session: Session, principal: Principal, camera: Camera) -> bool:
    """Whether `principal` is the owner of the premises where `camera` stands."""
    if camera.premises_id is None or principal.user_id is None or not principal.can(OWN):
        return False
    premises = session.get(Premises, camera.premises_id)
    return premises is not None and premises.owner_user_id == principal.user_id


def camera_for(*, session: Session, principal: Principal, camera_id: uuid.UUID, permission: str) -> Camera:
    """A camera the principal may act on with `permission` in its districts, or as the camera's owner."""
    camera = session.get(Camera, camera_id)
    if principal.can(permission):
        if camera is None or not principal.sees_district(camera.district_id):
            raise NotFound("no such camera")
        return camera
    if not principal.can(OWN):
        principal.require(permission)  # raises: the principal holds neither
    if camera is None:
        raise NotFound("no such camera")
    if not owns(session=session, principal=principal, camera=camera):
        raise PermissionDenied("this camera is not one of yours")
    return camera


def _district_in_scope(session: Session, principal: Principal, district_id: uuid.UUID) -> District:
    district = session.get(District, district_id)
    if district is None or not principal.sees_district(district.id):
        raise NotFound("no such district")
    return district


def _site_of(session: Session, district_id: uuid.UUID, site_id: uuid.UUID | None) -> uuid.UUID | None:
    if site_id is None:
        return None
    site = session.get(Site, site_id)
    if site is None or site.district_id != district_id:
        raise NotFound("no such site in this district")
    return site.id


def districts_for(*, session: Session, principal: Principal) -> list[District]:
    """Districts to offer in forms: the principal's own, or every district to a camera owner."""
    query = select(District).order_by(District.name)
    if not (principal.can(OWN) and not principal.can(READ)):
        query = query.where(principal.district_filter(District.id))
    return list(session.scalars(query))


def sites_for(*, session: Session, principal: Principal) -> list[Site]:
    """Camera sites in the principal's districts, by name."""
    query = select(Site).where(principal.district_filter(Site.district_id))
    return list(session.scalars(query.order_by(Site.name)))


# --- the registry ---------------------------------------------------------------------------------


def list_cameras(
    *,
    session: Session,
    principal: Principal,
    district_id: uuid.UUID | None = None,
    owner: Owner | None = None,
    tag: str | None = None,
    approval: Approval | None = None,
    search: str | None = None,
) -> list[Camera]:
    """Cameras in the principal's districts, by name, optionally filtered."""
    principal.require(READ)
    query = select(Camera).where(principal.district_filter(Camera.district_id))
    if district_id is not None:
        query = query.where(Camera.district_id == district_id)
    if owner is not None:
        query = query.where(Camera.owner == owner)
    if approval is not None:
        query = query.where(Camera.approval == approval)
    if tag:
        # Tags are restricted to plain characters, so the quoted tag matches one whole element of the JSON
        # list as stored, the same way on SQLite and PostgreSQL.
        needle = '"' + tag.strip().lower() + '"'
        query = query.where(cast(Camera.tags, Text).contains(needle, autoescape=True))
    if search:
        query = query.where(Camera.name.icontains(search.strip(), autoescape=True))
    return list(session.scalars(query.order_by(Camera.name, Camera.id)))


def active_cameras(*, session: Session) -> list[Camera]:
    """The cameras workers should stream and record: enabled and approved, in every district."""
    query = select(Camera).where(Camera.enabled.is_(True), Camera.approval == Approval.APPROVED)
    return list(session.scalars(query.order_by(Camera.id)))


def nearby(
    *,
    session: Session,
    principal: Principal,
    latitude: float,
    longitude: float,
    permission: str,
    radius_m: float = 1000.0,
    limit: int = 6,
) -> list[tuple[Camera, float]]:
    """The cameras nearest a point, with their distances in metres: within `radius_m`, in the principal's
    districts, working (enabled, approved), and ones the principal may see `permission`'s kind of video of
    (an on-request camera only under a grant): the cameras to pull up around a scene."""
    south, west, north, east = geo.bounding_box(latitude, longitude, radius_m)
    query = select(Camera).where(
        principal.district_filter(Camera.district_id),
        Camera.enabled.is_(True),
        Camera.approval == Approval.APPROVED,
        Camera.latitude.between(south, north),
        Camera.longitude.between(west, east),
    )
    found = access.viewable(
        session=session, principal=principal, cameras=list(session.scalars(query)), permission=permission
    )
    near = [(c, geo.haversine_m(latitude, longitude, c.latitude, c.longitude)) for c in found]
    return sorted((pair for pair in near if pair[1] <= radius_m), key=lambda pair: pair[1])[:limit]


def get_camera(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> Camera:
    """One camera in scope (or one of the owner's own)."""
    return camera_for(session=session, principal=principal, camera_id=camera_id, permission=READ)


def _new_camera(
    session: Session, box: SecretBox, data: CameraIn, *, site_id: uuid.UUID | None, rules: StreamRules
) -> Camera:
    camera = Camera(
        name=data.name,
        district_id=data.district_id,
        site_id=site_id,
        latitude=data.latitude,
        longitude=data.longitude,
        bearing=data.bearing,
        field_of_view=data.field_of_view,
        owner=data.owner,
        owner_organisation=data.owner_organisation,
        sharing=data.sharing,
        approval=Approval.APPROVED,  # registered by the authority itself
        tags=data.tags,
        retention_days=data.retention_days,
        enabled=data.enabled,
        recording=data.recording,
        pinned_worker=data.pinned_worker,
    )
    set_streams(
        camera,
        box,
        stream_url=data.stream_url,
        substream_url=data.substream_url,
        username=data.username,
        password=data.password.get_secret_value() if data.password is not None else None,
        rules=rules,
    )
    session.add(camera)
    session.flush()
    return camera


def _audit(
    session: Session, principal: Principal, action: str, camera: Camera, detail: dict[str, Any] | None = None
) -> None:
    audit.record(
        session=session,
        actor=principal,
        action=action,
        outcome="success",
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail=detail,
    )


def create_camera(
    *, session: Session, principal: Principal, box: SecretBox, settings: Settings, data: CameraIn
) -> Camera:
    """Register a camera in a district of the principal's scope."""
    principal.require(MANAGE)
    _district_in_scope(session, principal, data.district_id)
    camera = _new_camera(
        session,
        box,
        data,
        site_id=_site_of(session, data.district_id, data.site_id),
        rules=stream_rules(settings=settings, principal=principal, owner_camera=False),
    )
    _audit(
        session,
        principal,
        "camera.create",
        camera,
        {"name": camera.name, "owner": camera.owner.value, "has_credentials": camera.username is not None},
    )
    logger.info("camera %s registered", camera.id)
    return camera


_CLEARABLE = frozenset({"bearing", "field_of_view", "pinned_worker"})
_PLAIN_FIELDS = frozenset(
    {
        "name",
        "latitude",
        "longitude",
        "bearing",
        "field_of_view",
        "owner",
        "owner_organisation",
        "sharing",
        "tags",
        "retention_days",
        "enabled",
        "recording",
        "pinned_worker",
    }
)
# What a camera owner may change on their own camera; the rest (who owns it, how it is shared, whether it
# records, where it belongs) is the authority's to decide.
_OWNER_FIELDS = frozenset(
    {
        "name",
        "latitude",
        "longitude",
        "bearing",
        "field_of_view",
        "stream_url",
        "substream_url",
        "username",
        "password",
        "clear_credentials",
    }
)


def _reopen_review(camera: Camera) -> None:
    """Send an owner's camera back to review: its approval and compliance report were for the old stream."""
    camera.approval = Approval.PENDING
    camera.review_reason = camera.reviewed_at = None
    camera.compliance = camera.compliance_checked_at = None


def update_camera(
    *,
    session: Session,
    principal: Principal,
    box: SecretBox,
    settings: Settings,
    camera_id: uuid.UUID,
    data: CameraUpdate,
) -> Camera:
    """Change the fields given in `data`; credentials change only when given, or cleared on request.

    An owner changes only their camera's name, position, view and streams; a new stream sends the camera
    back to review (it stops recording until approved again).
    """
    camera = camera_for(session=session, principal=principal, camera_id=camera_id, permission=MANAGE)
    given = data.model_fields_set
    as_owner = not principal.can(MANAGE)  # camera_for let them in as the camera's owner
    if as_owner and (refused := sorted(given - _OWNER_FIELDS)):
        raise PermissionDenied(
            f"a camera owner cannot change {', '.join(refused)}: ask the authority of the camera's district",
            code="owner_field_not_editable",
        )
    changed: list[str] = []
    for name in _PLAIN_FIELDS & given:
        value = getattr(data, name)
        # Only bearing, field of view and the pin may be cleared with null; elsewhere null is "unchanged".
        if (value is not None or name in _CLEARABLE) and getattr(camera, name) != value:
            setattr(camera, name, value)
            changed.append(name)
    if "district_id" in given and data.district_id is not None and data.district_id != camera.district_id:
        _district_in_scope(session, principal, data.district_id)
        camera.district_id = data.district_id
        changed.append("district_id")
        if "site_id" not in given:
            camera.site_id = None
    if "site_id" in given or "district_id" in changed:
        site_id = _site_of(session, camera.district_id, data.site_id)
        if site_id != camera.site_id:
            camera.site_id = site_id
            changed.append("site_id")
    if data.clear_credentials:
        camera.username = camera.password_encrypted = None
        changed.append("credentials")
    stream_fields = {"stream_url", "substream_url", "username", "password"} & given
    if stream_fields:
        before = (camera.stream_url, camera.substream_url)
        password = data.password.get_secret_value() if data.password is not None else None
        fields = _field_credentials(data.username, password) if {"username", "password"} & given else None
        credentials_set = _apply_streams(
            camera,
            box,
            stream_url=data.stream_url if data.stream_url is not None else camera.stream_url,
            substream_url=data.substream_url if "substream_url" in given else camera.substream_url,
            fields=fields,
            rules=stream_rules(
                settings=settings, principal=principal, owner_camera=camera.premises_id is not None
            ),
            replace_credentials=False,
        )
        changed.extend(
            name
            for name, old, new in zip(
                ("stream_url", "substream_url"),
                before,
                (camera.stream_url, camera.substream_url),
                strict=True,
            )
            if old != new
        )
        if credentials_set:
            changed.append("credentials")
    detail: dict[str, Any] = {"changed": sorted(set(changed))}
    stream_changed = bool({"stream_url", "substream_url", "credentials"} & set(changed))
    if as_owner and stream_changed:
        _reopen_review(camera)
        detail["review"] = "reopened"
    if stream_changed and camera.premises_id is not None:
        mark_compliance_due(session, camera)  # an owner's camera is checked again, in the background
        detail["compliance"] = "due"
    session.flush()
    _audit(session, principal, "camera.update", camera, detail)
    return camera


def delete_camera(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> None:
    """Remove a camera from the registry (its recordings follow their own retention)."""
    camera = camera_for(session=session, principal=principal, camera_id=camera_id, permission=MANAGE)
    _audit(session, principal, "camera.delete", camera, {"name": camera.name})
    session.delete(camera)
    session.flush()
    logger.info("camera %s removed", camera_id)


# --- CSV import -----------------------------------------------------------------------------------


def decode_csv(raw: bytes) -> str:
    """A CSV upload as text: UTF-8 (a byte-order mark is dropped), or a clear refusal."""
    if len(raw) > MAX_IMPORT_CHARS:
        raise InvalidInput(f"the file is larger than {MAX_IMPORT_CHARS // 1024} KiB", code="import_too_large")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the file is not UTF-8 text (byte {exc.start + 1}): save it as 'CSV UTF-8'", code="bad_encoding"
        ) from exc


@dataclass
class _Row:
    line: int
    data: CameraIn
    site_id: uuid.UUID | None


class _Checker:
    """Checks the rows of one import against the registry and the importer's scope."""

    def __init__(self, session: Session, principal: Principal, box: SecretBox, rules: StreamRules) -> None:
        self.session, self.principal, self.box, self.rules = session, principal, box, rules
        self.problems: list[RowProblem] = []
        self.districts = {
            d.code.upper(): d
            for d in session.scalars(select(District).where(principal.district_filter(District.id)))
        }
        self.sites: dict[tuple[uuid.UUID, str], uuid.UUID] = {
            (s.district_id, s.name.casefold()): s.id
            for s in session.scalars(select(Site).where(principal.district_filter(Site.district_id)))
        }
        self.names: dict[tuple[uuid.UUID, str], int] = {
            (district_id, name.casefold()): 0
            for district_id, name in session.execute(
                select(Camera.district_id, Camera.name).where(principal.district_filter(Camera.district_id))
            )
        }

    def problem(self, line: int, field: str, text: str) -> None:
        self.problems.append(RowProblem(row=line, field=field, problem=text))

    def row(self, line: int, cells: dict[str, str]) -> _Row | None:
        before = len(self.problems)
        for column in _TEXT_COLUMNS:
            if cells[column].startswith(_FORMULA_STARTS):
                self.problem(
                    line, column, f"starts with {cells[column][0]!r}, which spreadsheets run as a formula"
                )
        district = self.districts.get(cells["district_code"].upper())
        if district is None:
            self.problem(line, "district_code", f"no district {cells['district_code']!r} among yours")
        site_id = None
        if district is not None and cells["site"]:
            site_id = self.sites.get((district.id, cells["site"].casefold()))
            if site_id is None:
                self.problem(line, "site", f"no site {cells['site']!r} in {district.name}")
        if len(self.problems) > before:
            return None
        assert district is not None  # noqa: S101 - a missing district was reported above
        data = self._validate(line, cells, district.id)
        if data is None:
            return None
        key = (district.id, data.name.casefold())
        if key in self.names:
            where = f"row {self.names[key]} of this file" if self.names[key] else "the registry"
            self.problem(
                line, "name", f"a camera named {data.name!r} is already in {district.name} ({where})"
            )
            return None
        self.names[key] = line
        try:  # the same checks as a real registration, on a throwaway camera
            set_streams(
                Camera(),
                self.box,
                stream_url=data.stream_url,
                substream_url=data.substream_url,
                username=None,
                password=None,
                rules=self.rules,
            )
        except InvalidInput as exc:
            self.problem(line, "stream_url", exc.message)
            return None
        return _Row(line, data, site_id)

    def _validate(self, line: int, cells: dict[str, str], district_id: uuid.UUID) -> CameraIn | None:
        # Empty cells take CameraIn's defaults; a required one left empty is reported as missing.
        values: dict[str, Any] = {
            name: cells[name].lower() if name in ("owner", "sharing") else cells[name]
            for name in CSV_HEADER
            if cells[name] and name not in ("district_code", "site", "tags")
        }
        values["district_id"] = district_id
        values["tags"] = [t for t in cells["tags"].split(";") if t.strip()]
        try:
            return CameraIn.model_validate(values)
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else "row"
                text = "is empty, but needed" if error["type"] == "missing" else error["msg"]
                self.problem(line, _CSV_FIELD_OF.get(field, field), text)
            return None


def _read_rows(text: str, checker: _Checker) -> tuple[int, list[_Row]]:
    if len(text) > MAX_IMPORT_CHARS:
        raise InvalidInput(f"the file is larger than {MAX_IMPORT_CHARS // 1024} KiB", code="import_too_large")
    if "\x00" in text:
        raise InvalidInput(
            "the file holds NUL bytes: is it a spreadsheet rather than CSV?", code="bad_encoding"
        )
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise InvalidInput(f"line 1 is not valid CSV: {exc}") from exc
    if header != list(CSV_HEADER):
        missing = [c for c in CSV_HEADER if c not in header]
        extra = [c for c in header if c not in CSV_HEADER]
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(extra)}" if extra else "",
            )
            if part
        )
        checker.problem(
            1, "header", f"the header must be {','.join(CSV_HEADER)}" + (f" ({detail})" if detail else "")
        )
        return 0, []
    rows: list[_Row] = []
    count = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            checker.problem(reader.line_num, "row", f"not valid CSV: {exc}")
            break
        if not any(c.strip() for c in cells):
            continue
        count += 1
        if count > MAX_IMPORT_ROWS:
            raise InvalidInput(f"import at most {MAX_IMPORT_ROWS} cameras at a time", code="import_too_large")
        if len(cells) != len(CSV_HEADER):
            checker.problem(reader.line_num, "row", f"has {len(cells)} cells; expected {len(CSV_HEADER)}")
            continue
        row = checker.row(reader.line_num, {n: c.strip() for n, c in zip(CSV_HEADER, cells, strict=True)})
        if row is not None:
            rows.append(row)
    return count, rows


def import_csv(
    *, session: Session, principal: Principal, box: SecretBox, settings: Settings, text: str, dry_run: bool
) -> ImportReport:
    """Check every row of a CSV of cameras; unless `dry_run`, register them all, but only if none is bad."""
    principal.require(MANAGE)
    rules = stream_rules(settings=settings, principal=principal, owner_camera=False)
    checker = _Checker(session, principal, box, rules)
    count, rows = _read_rows(text, checker)
    if count == 0 and not checker.problems:
        checker.problem(2, "row", "the file has no cameras")
    if dry_run or checker.problems:
        return ImportReport(dry_run=dry_run, rows=count, imported=0, problems=checker.problems)
    cameras = [_new_camera(session, box, row.data, site_id=row.site_id, rules=rules) for row in rows]
    for camera in cameras:
        _audit(session, principal, "camera.create", camera, {"name": camera.name, "via": "import"})
    audit.record(
        session=session,
        actor=principal,
        action="camera.import",
        outcome="success",
        object_type="camera",
        detail={"imported": len(cameras)},
    )
    logger.info("imported %d cameras", len(cameras))
    return ImportReport(dry_run=False, rows=count, imported=len(cameras), problems=[])
