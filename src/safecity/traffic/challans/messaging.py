"""How an owner hears about a challan: SMS through a gateway plugin and e-mail through SMTP.

Every attempt, delivered or not, is a Delivery row: what the owner was told, when, and by which channel
is part of the challan's record (a reminder counts only if it was sent). A failing channel never stops
the other; the caller decides what an undelivered notice means (post remains).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import smtplib
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, ClassVar, Literal, cast

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy.orm import Session, sessionmaker

from safecity.config import ChallanSettings
from safecity.core.plugins import Registry
from safecity.traffic.challans.models import Challan, Channel, Delivery

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 10.0


class DeliveryError(Exception):
    """A notice could not be handed to its channel; the message says why (no personal data)."""


# Filled by SmsGateway's subclasses as they are defined (below, and in plugins' modules).
GATEWAYS: Registry[SmsGateway] = Registry("SMS gateway", [__name__])


class SmsConfig(BaseModel):
    """Base of every SMS gateway's configuration; `type` picks the gateway."""

    model_config = ConfigDict(extra="forbid")
    type: str


class HttpSmsConfig(SmsConfig):
    type: Literal["http"] = "http"
    url: str
    token: SecretStr | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class SmsGateway(abc.ABC):
    """Sends one text message to one mobile number."""

    name: ClassVar[str]  # the config's `type`
    config_class: ClassVar[type[SmsConfig]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        GATEWAYS.add(cls.name, cls)

    def __init__(self, config: SmsConfig) -> None:
        self.config = config

    @abc.abstractmethod
    async def send(self, *, to: str, text: str) -> None:
        """Deliver `text` to `to` (+923NNNNNNNNN); raise DeliveryError if the gateway does not take it."""


class HttpSmsGateway(SmsGateway):
    """POSTs {"to", "text"} as JSON to the gateway, with a bearer token; any 2xx is accepted."""

    name = "http"
    config_class = HttpSmsConfig

    async def send(self, *, to: str, text: str) -> None:
        """Hand the message to the gateway."""
        config = cast(HttpSmsConfig, self.config)
        headers = {}
        if config.token is not None:
            headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
        try:
            async with httpx.AsyncClient(timeout=config.timeout_s) as client:
                answer = await client.post(config.url, json={"to": to, "text": text}, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS gateway unreachable: {type(exc).__name__}") from exc
        if not answer.is_success:
            raise DeliveryError(f"SMS gateway answered {answer.status_code}")


def sms_gateway(settings: ChallanSettings) -> SmsGateway | None:
    """The configured SMS gateway (None: no `sms_url`, so no SMS)."""
    if not settings.sms_url:
        return None
    cls = GATEWAYS.get(settings.sms_gateway)
    return cls(cls.config_class.model_validate({"url": settings.sms_url, "token": settings.sms_token}))


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    mime: str = "application/pdf"


def send_email(
    settings: ChallanSettings, *, to: str, subject: str, text: str, attachments: list[Attachment]
) -> None:
    """Send one e-mail through the configured SMTP server; blocking, so run it off the event loop."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text, charset="utf-8")
    for item in attachments:
        main, _, sub = item.mime.partition("/")
        message.add_attachment(item.data, maintype=main, subtype=sub, filename=item.filename)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_user, password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"mail server refused or unreachable: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class Notice:
    """What to tell a challan's owner: the SMS text, the e-mail's subject and body, its attachments."""

    purpose: str  # challan, reminder, overdue, appeal_decision
    sms: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()


def _record(
    session_factory: sessionmaker[Session], challan_id: uuid.UUID, notice: Notice, rows: list[Delivery]
) -> list[Delivery]:
    with session_factory() as session:
        session.add_all(rows)
        session.commit()
        for row in rows:
            session.refresh(row)
            session.expunge(row)
    logger.info(
        "challan %s: %s notice, %s",
        challan_id,
        notice.purpose,
        ", ".join(f"{r.channel.value} {'sent' if r.ok else 'failed'}" for r in rows) or "no channel",
    )
    return rows


async def notify(
    *, session_factory: sessionmaker[Session], settings: ChallanSettings, challan: Challan, notice: Notice
) -> list[Delivery]:
    """Send a notice to the challan's owner by SMS and e-mail (where both a channel and an address exist)
    and record every attempt; returns the Delivery rows (none: no channel reached the owner).
    """
    rows: list[Delivery] = []
    gateway = sms_gateway(settings)
    if gateway is not None and challan.owner_phone:
        try:
            await gateway.send(to=challan.owner_phone, text=notice.sms)
            rows.append(_delivery(challan, Channel.SMS, notice, challan.owner_phone, ok=True))
        except DeliveryError as exc:
            rows.append(
                _delivery(challan, Channel.SMS, notice, challan.owner_phone, ok=False, detail=str(exc))
            )
    if settings.smtp_host and challan.owner_email:
        try:
            await asyncio.to_thread(
                send_email,
                settings,
                to=challan.owner_email,
                subject=notice.subject,
                text=notice.body,
                attachments=list(notice.attachments),
            )
            rows.append(_delivery(challan, Channel.EMAIL, notice, challan.owner_email, ok=True))
        except DeliveryError as exc:
            rows.append(
                _delivery(challan, Channel.EMAIL, notice, challan.owner_email, ok=False, detail=str(exc))
            )
    return await asyncio.to_thread(_record, session_factory, challan.id, notice, rows)


def _delivery(
    challan: Challan, channel: Channel, notice: Notice, to: str, *, ok: bool, detail: str = ""
) -> Delivery:
    return Delivery(
        id=uuid.uuid4(),
        challan_id=challan.id,
        channel=channel,
        purpose=notice.purpose,
        to=to,
        ok=ok,
        detail=detail,
    )
