"""A fake ONVIF camera for tests: SOAP device and media services over HTTP, and a WS-Discovery responder.

It speaks just enough of ONVIF (Profile S) for onvif-zeep-async to parse its answers, checks WS-Security
UsernameToken digests against the credentials it was given (and, like a real camera, refuses a token whose
Created time is too far from its own clock), and can run its clock ahead of ours.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from xml.sax.saxutils import escape

from lxml import etree

ENV = "http://www.w3.org/2003/05/soap-envelope"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TT = "http://www.onvif.org/ver10/schema"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
DIGEST_TYPE = "#PasswordDigest"
# ONVIF's access classes: these answer anyone, everything else needs a valid user.
PRE_AUTH = frozenset({"GetSystemDateAndTime", "GetServices", "GetCapabilities"})
# A parser that never fetches or expands anything the client sent.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class FakeProfile:
    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: int


DEFAULT_PROFILES = (
    FakeProfile("Profile_101", "mainStream", "H264", 1920, 1080, 25),
    FakeProfile("Profile_102", "subStream", "H264", 640, 360, 15),
)


@dataclass
class FakeOnvifCamera:
    """Start with `with FakeOnvifCamera(...) as cam:`; `cam.port` serves SOAP, `cam.discovery_port` UDP."""

    username: str = "admin"
    password: str = "S3cure-Pa55"
    clock_offset: float = 0.0  # seconds the camera's clock runs ahead of real UTC
    max_created_skew: float | None = 30.0  # refuse tokens whose Created is further than this from our clock
    enforce_auth: bool = True
    manufacturer: str = "Hikvision"
    model: str = "DS-2CD2143G2-I"
    firmware: str = "V5.7.3 build 220112"
    serial: str = "DS-2CD2143G2-I20220101AAWRJ00000000"
    profiles: tuple[FakeProfile, ...] = DEFAULT_PROFILES
    # Requests it answered: (operation, username or None, outcome) — lets tests see what was tried.
    calls: list[tuple[str, str | None, str]] = field(default_factory=list)
    plaintext_passwords_seen: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", 0))
        self._udp.settimeout(0.1)
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True),
            threading.Thread(target=self._serve_discovery, daemon=True),
        ]

    # -- lifecycle

    def __enter__(self) -> FakeOnvifCamera:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._udp.close()

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def discovery_port(self) -> int:
        return int(self._udp.getsockname()[1])

    @property
    def device_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/onvif/device_service"

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_offset)

    def _record(self, operation: str, username: str | None, outcome: str) -> None:
        with self._lock:
            self.calls.append((operation, username, outcome))

    # -- WS-Discovery

    def _serve_discovery(self) -> None:
        while not self._stopping.is_set():
            try:
                data, sender = self._udp.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._probe_match(data)
            if reply is not None:
                self._udp.sendto(reply, sender)

    def _probe_match(self, data: bytes) -> bytes | None:
        try:
            root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError:
            return None
        if root.find(f"{{{ENV}}}Body/{{{WSD}}}Probe") is None:
            return None
        message_id = root.findtext(f"{{{ENV}}}Header/{{{WSA}}}MessageID") or ""
        self._record("Probe", None, "ok")
        scopes = " ".join(
            f"onvif://www.onvif.org/{kind}/{escape(value)}"
            for kind, value in [
                ("type", "video_encoder"),
                ("Profile", "Streaming"),
                ("hardware", self.model),
                ("name", self.manufacturer),
            ]
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="{ENV}" xmlns:wsa="{WSA}" xmlns:d="{WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
 <env:Header>
  <wsa:MessageID>uuid:5a7c0f6e-0000-4000-8000-{self.port:012d}</wsa:MessageID>
  <wsa:RelatesTo>{escape(message_id)}</wsa:RelatesTo>
  <wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>
  <wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>
 </env:Header>
 <env:Body><d:ProbeMatches><d:ProbeMatch>
  <wsa:EndpointReference><wsa:Address>urn:uuid:5a7c0f6e-0000-4000-8000-{self.port:012d}</wsa:Address></wsa:EndpointReference>
  <d:Types>dn:NetworkVideoTransmitter</d:Types>
  <d:Scopes>{scopes}</d:Scopes>
  <d:XAddrs>{self.device_url}</d:XAddrs>
  <d:MetadataVersion>1</d:MetadataVersion>
 </d:ProbeMatch></d:ProbeMatches></env:Body>
</env:Envelope>""".encode()

    # -- SOAP

    def handle_soap(self, body: bytes) -> tuple[int, str]:
        """Answer one SOAP request: (HTTP status, envelope)."""
        try:
            root = etree.fromstring(body, _PARSER)
        except etree.XMLSyntaxError:
            return 400, _fault("env:Sender", "ter:WellFormed", "Malformed request")
        request = root.find(f"{{{ENV}}}Body")
        if request is None or len(request) == 0:
            return 400, _fault("env:Sender", "ter:WellFormed", "No body")
        operation = etree.QName(request[0]).localname
        username = root.findtext(f".//{{{WSSE}}}UsernameToken/{{{WSSE}}}Username")
        if operation not in PRE_AUTH and self.enforce_auth and not self._authorised(root):
            self._record(operation, username, "refused")
            return 400, _fault("env:Sender", "ter:NotAuthorized", "Sender not Authorized")
        answer = getattr(self, f"_op_{operation}", None)
        if answer is None:
            self._record(operation, username, "unsupported")
            return 400, _fault("env:Receiver", "ter:ActionNotSupported", "Optional Action Not Implemented")
        self._record(operation, username, "ok")
        return 200, _envelope(answer(request[0]))

    def _authorised(self, root: etree._Element) -> bool:
        token = root.find(f".//{{{WSSE}}}UsernameToken")
        if token is None:
            return False
        username = token.findtext(f"{{{WSSE}}}Username") or ""
        password = token.find(f"{{{WSSE}}}Password")
        nonce = token.findtext(f"{{{WSSE}}}Nonce") or ""
        created = token.findtext(f"{{{WSU}}}Created") or ""
        if password is None or not hmac.compare_digest(username, self.username):
            return False
        if not (password.get("Type") or "").endswith(DIGEST_TYPE):
            with self._lock:
                self.plaintext_passwords_seen += 1
            return False
        try:
            when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
            raw_nonce = base64.b64decode(nonce, validate=True)
        except ValueError:
            return False
        if self.max_created_skew is not None and (
            when.tzinfo is None or abs((when - self.now()).total_seconds()) > self.max_created_skew
        ):
            return False
        expected = base64.b64encode(
            hashlib.sha1(
                raw_nonce + created.encode() + self.password.encode(), usedforsecurity=False
            ).digest()
        ).decode()
        return hmac.compare_digest((password.text or "").strip(), expected)

    def _op_GetSystemDateAndTime(self, _request: etree._Element) -> str:
        now = self.now()
        stamp = (
            f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}</tt:Year>"
            f"<tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date>"
        )
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime>{stamp}</tt:UTCDateTime><tt:LocalDateTime>{stamp}</tt:LocalDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def _op_GetServices(self, _request: etree._Element) -> str:
        services = [(TDS, "device_service", 2, 60), (TRT, "media_service", 2, 60)]
        return (
            "<tds:GetServicesResponse>"
            + "".join(
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace>"
                f"<tds:XAddr>http://127.0.0.1:{self.port}/onvif/{path}</tds:XAddr>"
                f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
                "</tds:Service>"
                for ns, path, major, minor in services
            )
            + "</tds:GetServicesResponse>"
        )

    def _op_GetCapabilities(self, _request: etree._Element) -> str:
        base = f"http://127.0.0.1:{self.port}/onvif"
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{base}/device_service</tt:XAddr></tt:Device>"
            f"<tt:Media><tt:XAddr>{base}/media_service</tt:XAddr><tt:StreamingCapabilities>"
            "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
            "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
            "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    def _op_GetDeviceInformation(self, _request: etree._Element) -> str:
        return (
            "<tds:GetDeviceInformationResponse>"
            f"<tds:Manufacturer>{escape(self.manufacturer)}</tds:Manufacturer>"
            f"<tds:Model>{escape(self.model)}</tds:Model>"
            f"<tds:FirmwareVersion>{escape(self.firmware)}</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{escape(self.serial)}</tds:SerialNumber>"
            "<tds:HardwareId>88</tds:HardwareId>"
            "</tds:GetDeviceInformationResponse>"
        )

    def _op_GetProfiles(self, _request: etree._Element) -> str:
        return (
            "<trt:GetProfilesResponse>" + "".join(map(_profile, self.profiles)) + "</trt:GetProfilesResponse>"
        )

    def _op_GetStreamUri(self, request: etree._Element) -> str:
        token = request.findtext(f"{{{TRT}}}ProfileToken") or ""
        channel = {p.token: i for i, p in enumerate(self.profiles, start=1)}.get(token)
        if channel is None:
            raise _Fault("ter:InvalidArgVal/ter:NoProfile", "The requested profile does not exist")
        # Like many cameras, it puts the caller's user name in the URI; the client must strip it.
        uri = (
            f"rtsp://{escape(self.username)}@127.0.0.1:554/Streaming/Channels/{100 + channel}"
            "?transportmode=unicast"
        )
        return (
            "<trt:GetStreamUriResponse><trt:MediaUri>"
            f"<tt:Uri>{uri}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
            "</trt:MediaUri></trt:GetStreamUriResponse>"
        )


class _Fault(Exception):
    def __init__(self, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason


def _profile(p: FakeProfile) -> str:
    return (
        f'<trt:Profiles token="{p.token}" fixed="true"><tt:Name>{p.name}</tt:Name>'
        '<tt:VideoSourceConfiguration token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name>'
        "<tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken>"
        '<tt:Bounds x="0" y="0" width="1920" height="1080"/></tt:VideoSourceConfiguration>'
        f'<tt:VideoEncoderConfiguration token="VideoEncoderToken_{p.token}">'
        f"<tt:Name>VideoEncoder_{p.token}</tt:Name><tt:UseCount>1</tt:UseCount>"
        f"<tt:Encoding>{p.encoding}</tt:Encoding>"
        f"<tt:Resolution><tt:Width>{p.width}</tt:Width><tt:Height>{p.height}</tt:Height></tt:Resolution>"
        "<tt:Quality>3</tt:Quality><tt:RateControl>"
        f"<tt:FrameRateLimit>{p.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>"
        "<tt:BitrateLimit>2048</tt:BitrateLimit></tt:RateControl>"
        "<tt:H264><tt:GovLength>50</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address>"
        "</tt:Address><tt:Port>8860</tt:Port><tt:TTL>128</tt:TTL><tt:AutoStart>false</tt:AutoStart>"
        "</tt:Multicast><tt:SessionTimeout>PT5S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
        "</trt:Profiles>"
    )


def _envelope(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<env:Envelope xmlns:env="{ENV}" xmlns:tds="{TDS}" xmlns:trt="{TRT}" xmlns:tt="{TT}">'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    )


def _fault(code: str, subcode: str, reason: str) -> str:
    # Nested subcodes are written "a/b" and become nested env:Subcode elements, as the ONVIF spec shows.
    nested = "".join(f"<env:Subcode><env:Value>{s}</env:Value>" for s in subcode.split("/"))
    nested += "</env:Subcode>" * len(subcode.split("/"))
    return _envelope(
        '<env:Fault xmlns:ter="http://www.onvif.org/ver10/error">'
        f"<env:Code><env:Value>{code}</env:Value>{nested}</env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escape(reason)}</env:Text></env:Reason></env:Fault>'
    )


def _handler_for(camera: FakeOnvifCamera) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                status, reply = camera.handle_soap(self.rfile.read(length))
            except _Fault as fault:
                status, reply = 400, _fault("env:Sender", fault.subcode, fault.reason)
            data = reply.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    return Handler
