"""ONVIF: find cameras on a subnet, read what they are and stream, and catch factory-default passwords.

Built on onvif-zeep-async (its WSDLs ship in the package, nothing is fetched). Every network call has a
deadline and concurrency is bounded, so a dead or hostile host can slow a scan down but never hang it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import secrets
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
from onvif import ONVIFService
from onvif.client import _WSDL_PATH
from onvif.definition import SERVICES
from onvif.util import is_auth_error, replace_host_port
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.passwords import KNOWN_DEFAULTS
from safecity.core.errors import InvalidInput

logger = logging.getLogger(__name__)

# zeep and the package's aiohttp transport log whole SOAP envelopes at DEBUG, WS-Security header included;
# a password digest with its nonce and timestamp can be cracked offline, so those never reach our logs.
for _name in ("zeep.transports", "zeep.wsdl.bindings.soap", "onvif.zeep_aiohttp"):
    logging.getLogger(_name).setLevel(logging.INFO)

WS_DISCOVERY_PORT = 3702
DEFAULT_PORTS = (80, 8000, 8080)
DEVICE_SERVICE_PATH = "/onvif/device_service"
MAX_SCAN_ADDRESSES = 1024  # a /22: a site's camera VLAN is far smaller, a whole /16 is a mistake
MEDIA_NS = SERVICES["media"]["ns"]
PERMISSION = "cameras.manage"
AUDIT_HOSTS = 64

_ENV = "http://www.w3.org/2003/05/soap-envelope"
_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{env}" xmlns:a="{wsa}" xmlns:d="{wsd}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<s:Header>
<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>
<a:MessageID>{message_id}</a:MessageID>
<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
</s:Header>
<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>
</s:Envelope>"""
# Keys that carry credentials in the query of a stream URI (besides user:pass@ in the authority).
_CREDENTIAL_KEYS = frozenset({"user", "username", "pass", "password", "pwd", "passwd", "auth"})


class OnvifError(InvalidInput):
    """A camera could not be read over ONVIF."""

    code = "onvif_error"


class DeviceUnreachable(OnvifError):
    """Nothing answered ONVIF at that address in time."""

    code = "onvif_unreachable"


class AuthenticationFailed(OnvifError):
    """The camera refused the username and password."""

    code = "onvif_auth_failed"


@dataclass(frozen=True)
class Profile:
    """One media profile: what the encoder sends, and where to pull it (a URI without credentials)."""

    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    stream_uri: str | None


@dataclass(frozen=True)
class DeviceInfo:
    """What a camera says about itself; `clock_skew_seconds` is its clock minus ours (positive: ahead)."""

    host: str
    port: int
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    hardware_id: str | None
    device_time: dt.datetime | None
    clock_skew_seconds: float | None
    profiles: tuple[Profile, ...]


@dataclass(frozen=True)
class Found:
    """An ONVIF device that answered a scan; `methods` says how ("ws-discovery", "device_service")."""

    host: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]
    methods: tuple[str, ...]

    @property
    def port(self) -> int:
        """The device service's port: from an XAddr on the scanned address, else the first XAddr, else 80."""
        ports = [(urlsplit(x).hostname, urlsplit(x).port or 80) for x in self.xaddrs]
        same_host = [p for h, p in ports if h == self.host]
        return (same_host or [p for _, p in ports] or [80])[0]

    def scope(self, kind: str) -> str | None:
        """A WS-Discovery scope value such as `name` or `hardware` (onvif://www.onvif.org/<kind>/<value>)."""
        prefix = f"onvif://www.onvif.org/{kind}/"
        return next((s.removeprefix(prefix) for s in self.scopes if s.startswith(prefix)), None)


@dataclass(frozen=True)
class Surveyed:
    """A found device, what it told us, and whether it accepts a factory-default password.

    `accepts_default_password` is None when the check could not be completed (the device stopped answering).
    """

    found: Found
    info: DeviceInfo | None
    accepts_default_password: bool | None
    error: str | None = None


# -- talking to one device


def device_url(host: str, port: int) -> str:
    """The ONVIF device service address of a host."""
    netloc = f"[{host}]" if ":" in host else host
    return f"http://{netloc}:{port}{DEVICE_SERVICE_PATH}"


@contextlib.asynccontextmanager
async def _service(
    name: str,
    xaddr: str,
    username: str | None = None,
    password: str | None = None,
    dt_diff: dt.timedelta | None = None,
) -> AsyncIterator[ONVIFService]:
    """One ONVIF service client, closed on exit; PasswordDigest auth, Created shifted by the camera's skew."""
    spec = SERVICES[name]
    service = ONVIFService(
        xaddr,
        username,
        password,
        str(Path(_WSDL_PATH) / spec["wsdl"]),
        encrypt=True,
        no_cache=True,  # the WSDLs are local files; the cache is for remote ones and writes a file in $HOME
        dt_diff=dt_diff,
        binding_name=f"{{{spec['ns']}}}{spec['binding']}",
    )
    try:
        await service.setup()
        yield service
    finally:
        await service.close()


def _is_network_error(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ClientConnectionError | TimeoutError | OSError)


def _is_refusal(exc: Exception) -> bool:
    # A SOAP NotAuthorized fault, or a bare HTTP 401/403 from a camera that wants HTTP authentication.
    return bool(is_auth_error(exc)) or getattr(exc, "status_code", None) in (401, 403)


async def _device_clock(url: str) -> tuple[dt.datetime | None, float | None]:
    """The device's UTC clock and its skew against ours, from GetSystemDateAndTime (which needs no login)."""
    async with _service("devicemgmt", url) as device:
        sent = dt.datetime.now(dt.UTC)
        try:
            answer = await device.authless_GetSystemDateAndTime()
        except Exception as exc:
            if _is_network_error(exc):
                raise
            # Some cameras want a login even for this; their skew stays unknown and Created unshifted.
            logger.info("ONVIF %s gave no clock without a login (%s)", url, type(exc).__name__)
            return None, None
        received = dt.datetime.now(dt.UTC)
    utc = getattr(answer, "UTCDateTime", None)
    if utc is None or utc.Date is None or utc.Time is None:
        return None, None  # some firmwares only give local time with a POSIX TZ string; not worth guessing
    device_time = dt.datetime(
        utc.Date.Year,
        utc.Date.Month,
        utc.Date.Day,
        utc.Time.Hour,
        utc.Time.Minute,
        utc.Time.Second,
        tzinfo=dt.UTC,
    )
    # The device stamped its answer somewhere between our send and receive: compare with the midpoint.
    return device_time, (device_time - (sent + (received - sent) / 2)).total_seconds()


def _skew_delta(skew: float | None) -> dt.timedelta | None:
    # WS-Security tokens carry a Created time that cameras check against their own clock.
    return dt.timedelta(seconds=skew) if skew is not None else None


def _same_host(xaddr: str, host: str, port: int) -> str:
    """Pin a device-advertised service address to the host and port we reached.

    Cameras behind NAT advertise LAN addresses we cannot reach, and an address pointing elsewhere must not
    make us send the camera's credentials to another machine.
    """
    if urlsplit(xaddr).hostname == host:
        return xaddr  # the same machine, whatever port it serves this on
    return replace_host_port(xaddr, host, port) or device_url(host, port)


def strip_credentials(uri: str, *, secret: str | None = None) -> str:
    """A URI without user:pass@ and without query parameters that carry credentials (or equal `secret`)."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() not in _CREDENTIAL_KEYS and not (secret and v == secret)]
    # Re-encoding can change how a query is written, so an untouched one is kept as the camera gave it.
    query = parts.query if len(kept) == len(pairs) else urlencode(kept)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _profile(raw: Any, stream_uri: str | None) -> Profile:
    encoder = getattr(raw, "VideoEncoderConfiguration", None)
    resolution = getattr(encoder, "Resolution", None)
    rate = getattr(encoder, "RateControl", None)
    fps = getattr(rate, "FrameRateLimit", None)
    return Profile(
        token=str(raw.token),
        name=str(getattr(raw, "Name", None) or raw.token),
        encoding=_text(getattr(encoder, "Encoding", None)),
        width=getattr(resolution, "Width", None),
        height=getattr(resolution, "Height", None),
        fps=float(fps) if fps is not None else None,
        stream_uri=stream_uri,
    )


async def _media_xaddr(device: ONVIFService, host: str, port: int) -> str:
    """The media service address, from GetServices or, on older devices, GetCapabilities."""
    with contextlib.suppress(Exception):  # an old device without GetServices answers with a fault
        for service in await device.GetServices({"IncludeCapability": False}) or []:
            if getattr(service, "Namespace", None) == MEDIA_NS and getattr(service, "XAddr", None):
                return _same_host(str(service.XAddr), host, port)
    capabilities = await device.GetCapabilities({"Category": "Media"})
    media = getattr(capabilities, "Media", None)
    if media is None or not getattr(media, "XAddr", None):
        raise OnvifError(f"the ONVIF device at {host}:{port} has no media service")
    return _same_host(str(media.XAddr), host, port)


async def _inspect(host: str, port: int, username: str | None, password: str | None) -> DeviceInfo:
    url = device_url(host, port)
    device_time, skew = await _device_clock(url)
    dt_diff = _skew_delta(skew)
    async with _service("devicemgmt", url, username, password, dt_diff) as device:
        try:
            about = await device.GetDeviceInformation()
        except Exception as exc:
            if _is_network_error(exc) or not _is_refusal(exc):
                raise
            raise AuthenticationFailed(
                f"the camera at {host}:{port} refused the username and password", code="onvif_auth_failed"
            ) from exc
        media_url = await _media_xaddr(device, host, port)
    profiles: list[Profile] = []
    async with _service("media", media_url, username, password, dt_diff) as media:
        for raw in await media.GetProfiles() or []:
            uri: str | None = None
            try:
                answer = await media.GetStreamUri(
                    {
                        "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                        "ProfileToken": raw.token,
                    }
                )
                uri = strip_credentials(str(answer.Uri), secret=password) if answer.Uri else None
            except Exception as exc:
                if _is_network_error(exc):
                    raise
                logger.info("ONVIF %s:%s gave no stream URI for profile %s", host, port, raw.token)
            profiles.append(_profile(raw, uri))
    return DeviceInfo(
        host=host,
        port=port,
        manufacturer=_text(about.Manufacturer),
        model=_text(about.Model),
        firmware=_text(about.FirmwareVersion),
        serial=_text(about.SerialNumber),
        hardware_id=_text(getattr(about, "HardwareId", None)),
        device_time=device_time,
        clock_skew_seconds=skew,
        profiles=tuple(profiles),
    )


async def inspect(
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - the API the registry calls; expiry becomes DeviceUnreachable
) -> DeviceInfo:
    """Read a camera: identity, clock skew, media profiles and their RTSP stream URIs (credentials removed).

    Args:
        host: IP address or name of the camera.
        port: Port of its ONVIF device service (HTTP).
        username: ONVIF user; with `password`, sent only as a WS-Security PasswordDigest.
        password: Its password.
        timeout: Deadline in seconds for the whole inspection.

    Returns:
        The device's information.

    Raises:
        DeviceUnreachable: nothing answered ONVIF in time.
        AuthenticationFailed: the camera refused the credentials.
        OnvifError: it answered, but not as an ONVIF camera with a media service.
    """
    try:
        async with asyncio.timeout(timeout):
            return await _inspect(host, port, username, password)
    except OnvifError:
        raise
    except Exception as exc:
        if _is_network_error(exc):
            raise DeviceUnreachable(
                f"no ONVIF answer from {host}:{port} within {timeout:g} s", code="onvif_unreachable"
            ) from exc
        logger.info("ONVIF %s:%s answered unexpectedly: %s", host, port, type(exc).__name__)
        raise OnvifError(f"the device at {host}:{port} did not answer as an ONVIF camera") from exc


# -- default passwords


def _pairs_for(manufacturer: str | None) -> list[tuple[str, str]]:
    """Distinct pairs to try; for a known vendor only its own defaults and the generic ones."""
    vendor = (manufacturer or "").casefold().replace(" ", "").replace("-", "")
    known = {c.vendor for c in KNOWN_DEFAULTS}
    match = next((v for v in known if v != "generic" and v in vendor), None)
    chosen = [c for c in KNOWN_DEFAULTS if match is None or c.vendor in (match, "generic")]
    return list(dict.fromkeys((c.username, c.password) for c in chosen))


async def _accepts(url: str, username: str, password: str, dt_diff: dt.timedelta | None) -> bool:
    """Whether an authenticated call succeeds with this pair; network failures propagate."""
    async with _service("devicemgmt", url, username, password, dt_diff) as device:
        try:
            await device.GetDeviceInformation()
        except Exception as exc:
            if _is_network_error(exc):
                raise
            if not _is_refusal(exc):
                logger.debug("ONVIF %s refused a login attempt with %s", url, type(exc).__name__)
            return False
    return True


async def _weak_credentials(
    host: str, port: int, *, seconds: float, manufacturer: str | None
) -> tuple[bool, list[tuple[str, str]]]:
    """(accepts any password at all, the default pairs it accepts)."""
    url = device_url(host, port)
    try:
        async with asyncio.timeout(seconds):
            _, skew = await _device_clock(url)
        dt_diff = _skew_delta(skew)
        # A camera with ONVIF authentication switched off answers anyone: find that out with one random
        # login instead of reporting each default pair as "accepted".
        async with asyncio.timeout(seconds):
            if await _accepts(url, "safecity-" + secrets.token_hex(4), secrets.token_urlsafe(18), dt_diff):
                logger.warning("ONVIF %s:%s accepts any username and password", host, port)
                return True, _pairs_for(manufacturer)
        accepted = []
        # One attempt at a time: cameras count failed logins per client and some lock the client out.
        for username, password in _pairs_for(manufacturer):
            async with asyncio.timeout(seconds):
                if await _accepts(url, username, password, dt_diff):
                    accepted.append((username, password))
    except OnvifError:
        raise
    except Exception as exc:
        if _is_network_error(exc):
            raise DeviceUnreachable(
                f"no ONVIF answer from {host}:{port} within {seconds:g} s", code="onvif_unreachable"
            ) from exc
        raise OnvifError(f"the device at {host}:{port} did not answer as an ONVIF camera") from exc
    if accepted:
        # The pairs themselves are public knowledge, but the log says only how many matched.
        logger.warning("ONVIF %s:%s accepts %d factory-default credential(s)", host, port, len(accepted))
    return False, accepted


async def check_default_credentials(
    host: str,
    port: int,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - a deadline per request, which asyncio.timeout cannot express
    manufacturer: str | None = None,
) -> list[tuple[str, str]]:
    """The known factory-default (username, password) pairs the camera accepts; empty when none.

    A camera that accepts any login at all (ONVIF authentication off) is reported as accepting every pair.

    Args:
        host: IP address or name of the camera.
        port: Port of its ONVIF device service.
        timeout: Deadline in seconds for each request.
        manufacturer: When known (e.g. "Dahua"), only that vendor's and the generic defaults are tried,
            which keeps the number of failed logins, and so the risk of a lock-out, down.

    Raises:
        DeviceUnreachable: the camera stopped answering, so nothing can be concluded.
    """
    _, accepted = await _weak_credentials(host, port, seconds=timeout, manufacturer=manufacturer)
    return accepted


# -- discovery


def scan_network(network: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse a subnet to scan, refusing anything larger than MAX_SCAN_ADDRESSES addresses."""
    try:
        net = ipaddress.ip_network(network.strip(), strict=False)
    except ValueError as exc:
        raise InvalidInput(
            f"{network!r} is not an IP network such as 10.20.30.0/24", code="bad_network"
        ) from exc
    if net.num_addresses > MAX_SCAN_ADDRESSES:
        smallest = 32 - (MAX_SCAN_ADDRESSES.bit_length() - 1) if net.version == 4 else 128 - 10
        raise InvalidInput(
            f"{net} has {net.num_addresses} addresses; scan at most /{smallest} "
            f"({MAX_SCAN_ADDRESSES} addresses) at a time",
            code="network_too_large",
        )
    return net


def _hosts(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    # hosts() leaves out the network and broadcast addresses, and yields the one address of a /32.
    return [str(h) for h in net.hosts()]


class _ProbeReplies(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes | None] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.replies.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.replies.put_nowait(None)  # ICMP port unreachable: nobody listens there


def _probe_matches(data: bytes, message_id: str) -> tuple[list[str], list[str]] | None:
    """(XAddrs, scopes) from a ProbeMatches answering our probe, or None."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None  # SOAP forbids DTDs; refusing them keeps entity tricks out of the parser
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs refused above, and expat fetches nothing
    except ET.ParseError:
        return None
    if (root.findtext(f"{{{_ENV}}}Header/{{{_WSA}}}RelatesTo") or "").strip() != message_id:
        return None
    matches = root.findall(f"{{{_ENV}}}Body/{{{_WSD}}}ProbeMatches/{{{_WSD}}}ProbeMatch")
    xaddrs = [x for m in matches for x in (m.findtext(f"{{{_WSD}}}XAddrs") or "").split()]
    scopes = [s for m in matches for s in (m.findtext(f"{{{_WSD}}}Scopes") or "").split()]
    return (xaddrs, scopes) if matches else None


async def _ws_discovery(host: str, port: int, seconds: float) -> tuple[list[str], list[str]] | None:
    """A unicast WS-Discovery Probe for NetworkVideoTransmitters; the host's answer, if any."""
    loop = asyncio.get_running_loop()
    message_id = f"uuid:{uuid.uuid4()}"
    probe = _PROBE.format(env=_ENV, wsa=_WSA, wsd=_WSD, message_id=message_id).encode()
    try:
        transport, protocol = await loop.create_datagram_endpoint(_ProbeReplies, remote_addr=(host, port))
    except OSError:
        return None
    try:
        deadline = loop.time() + seconds
        # UDP may drop a datagram: the probe goes again halfway through, as WS-Discovery suggests.
        resend_at: float | None = loop.time() + seconds / 2
        transport.sendto(probe)
        while (now := loop.time()) < deadline:
            try:
                data = await asyncio.wait_for(protocol.replies.get(), (resend_at or deadline) - now)
            except TimeoutError:
                if resend_at is not None:
                    transport.sendto(probe)
                    resend_at = None
                continue
            if data is None:
                return None  # refused: nobody listens there
            if (match := _probe_matches(data, message_id)) is not None:
                return match
        return None
    finally:
        transport.close()


async def _device_service(host: str, port: int, seconds: float) -> bool:
    """Whether host:port answers an ONVIF GetSystemDateAndTime (which needs no login)."""
    try:
        async with asyncio.timeout(seconds), _service("devicemgmt", device_url(host, port)) as device:
            answer = await device.authless_GetSystemDateAndTime()
    except Exception as exc:
        # A camera that wants a login even for the clock (Axis does) still shows it speaks ONVIF.
        if is_auth_error(exc):
            return True
        if not _is_network_error(exc):
            logger.debug("%s:%s answered but not as ONVIF (%s)", host, port, type(exc).__name__)
        return False
    return answer is not None


async def _probe_host(
    host: str, ports: Sequence[int], seconds: float, discovery_port: int, limit: asyncio.Semaphore
) -> Found | None:
    async with limit:
        probes = asyncio.gather(*(_device_service(host, p, seconds) for p in ports))
        udp, tcp = await asyncio.gather(_ws_discovery(host, discovery_port, seconds), probes)
    xaddrs: list[str] = []
    scopes: list[str] = []
    methods: list[str] = []
    if udp is not None:
        xaddrs += udp[0]
        scopes += udp[1]
        methods.append("ws-discovery")
    answered = [device_url(host, p) for p, ok in zip(ports, tcp, strict=True) if ok]
    if answered:
        methods.append("device_service")
        xaddrs += answered
    if not methods:
        return None
    return Found(host, tuple(dict.fromkeys(xaddrs)), tuple(dict.fromkeys(scopes)), tuple(methods))


async def discover(
    network: str,
    *,
    ports: Iterable[int] = DEFAULT_PORTS,
    timeout: float = 2.0,  # noqa: ASYNC109 - a deadline per host, which asyncio.timeout cannot express
    concurrency: int = 64,
    discovery_port: int = WS_DISCOVERY_PORT,
) -> list[Found]:
    """Find ONVIF devices on a subnet (at most /22) by WS-Discovery probe and by their device service.

    Args:
        network: The subnet, e.g. "10.20.30.0/24" (a host address means just that host).
        ports: HTTP ports where the ONVIF device service is tried.
        timeout: Per-host deadline in seconds.
        concurrency: Hosts probed at the same time.
        discovery_port: UDP port of WS-Discovery (3702; tests point it elsewhere).

    Returns:
        The devices that answered, in address order.
    """
    net = scan_network(network)
    port_list = list(dict.fromkeys(ports))
    if not port_list or any(not 0 < p < 65536 for p in port_list):
        raise InvalidInput("ports must be between 1 and 65535", code="bad_ports")
    limit = asyncio.Semaphore(max(1, concurrency))
    hosts = _hosts(net)
    logger.info("ONVIF scan of %s (%d hosts, ports %s)", net, len(hosts), port_list)
    found = await asyncio.gather(*(_probe_host(h, port_list, timeout, discovery_port, limit) for h in hosts))
    result = [f for f in found if f is not None]
    logger.info("ONVIF scan of %s found %d device(s)", net, len(result))
    return result


# -- discovery for the API: scan, read each device, check its passwords


async def survey(
    network: str,
    *,
    ports: Iterable[int] = DEFAULT_PORTS,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 2.0,  # noqa: ASYNC109 - a deadline per host and request
    concurrency: int = 64,
    discovery_port: int = WS_DISCOVERY_PORT,
) -> list[Surveyed]:
    """Discover devices, read each one (when given credentials) and check it for default passwords."""
    found = await discover(
        network, ports=ports, timeout=timeout, concurrency=concurrency, discovery_port=discovery_port
    )
    # Fewer devices at once than hosts: each one now takes a score of requests.
    limit = asyncio.Semaphore(max(1, min(concurrency, 8)))

    async def one(device: Found) -> Surveyed:
        async with limit:
            info: DeviceInfo | None = None
            error: str | None = None
            if username is not None:
                try:
                    info = await inspect(device.host, device.port, username, password, timeout=timeout * 5)
                except OnvifError as exc:
                    error = exc.message
            try:
                accepts_any, accepted = await _weak_credentials(
                    device.host,
                    device.port,
                    seconds=timeout,
                    manufacturer=info.manufacturer if info else device.scope("name"),
                )
                weak: bool | None = accepts_any or bool(accepted)
            except OnvifError as exc:
                weak = None
                error = error or exc.message
            return Surveyed(device, info, weak, error)

    return list(await asyncio.gather(*(one(d) for d in found)))


def discover_cameras(
    *,
    session: Session,
    actor: Principal,
    network: str,
    ports: Sequence[int] | None = None,
    username: str | None = None,
    password: str | None = None,
) -> list[Surveyed]:
    """Scan a subnet for ONVIF cameras for someone who manages cameras, and audit it (from sync code only)."""
    actor.require(PERMISSION)
    net = scan_network(network)  # refuse a bad request before any packet leaves
    chosen = tuple(ports) if ports else DEFAULT_PORTS
    devices = asyncio.run(survey(str(net), ports=chosen, username=username, password=password))
    audit.record(
        session=session,
        action="cameras.discover",
        outcome="success",
        actor=actor,
        object_type="network",
        object_id=str(net),
        # Capped lists: an audit detail is kept small, and a /22 can answer with hundreds of hosts.
        detail={
            "ports": list(chosen),
            "with_credentials": username is not None,
            "found": len(devices),
            "found_hosts": [d.found.host for d in devices][:AUDIT_HOSTS],
            "default_password_hosts": [d.found.host for d in devices if d.accepts_default_password][
                :AUDIT_HOSTS
            ],
        },
    )
    return devices
