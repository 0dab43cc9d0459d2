"""A confirmed violation becomes a challan through the issuing loop: its PDF is e-mailed through a real SMTP
server and an SMS goes through a real HTTP gateway, each attempt recorded; a replay sends nothing twice;
a refusing gateway is recorded and the e-mail still goes; staff can send it again.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

from challan_data import OWNER, confirmed_violation, mail_server, sms_gateway, with_delivery
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory, login
from safecity.app import create_app
from safecity.audit.models import AuditEntry
from safecity.config import Settings
from safecity.runtime import build_services
from safecity.traffic.challans import flows
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Challan, Channel, Delivery


def _deliveries(session: Session, challan: Challan) -> list[Delivery]:
    session.expire_all()
    return challans.deliveries(session=session, challan_id=challan.id)


def test_the_issuing_loop_issues_mails_and_texts_the_challan(
    session: Session, session_factory: sessionmaker[Session], factory: Factory, settings: Settings
) -> None:
    challans.ensure_fines(session=session)
    violation = confirmed_violation(session, settings, factory.district("PSW"), plate="LEB5678")
    session.commit()
    with mail_server() as box, sms_gateway() as sms:
        live = with_delivery(settings, box, sms)
        issuer = flows.Issuer(session_factory, live)
        issued = asyncio.run(issuer.issue_pending())
        assert [c.violation_id for c in issued] == [violation.id]
        challan = issued[0]
        stored = (live.challans_dir / str(challan.pdf_path)).read_bytes()

        (mail,) = box.messages
        assert mail["To"] == OWNER["email"] and challan.number in mail["Subject"]
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None and challan.payment_ref in body.get_content()
        (attachment,) = list(mail.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == f"{challan.number}.pdf"
        document = attachment.get_content()
        assert document == stored
        text = PdfReader(io.BytesIO(document)).pages[0].extract_text()
        assert challan.number in text and "PKR 1,000" in text and "چالان" in text

        (sms_sent,) = sms.messages
        due = challan.due_at.astimezone(challans.local_zone(live)).strftime("%d %b %Y")
        assert sms_sent["to"] == OWNER["phone"]
        for part in (
            challan.number,
            "PKR 1,000",
            due,
            challan.payment_ref,
            challans.verify_url(live, challan),
        ):
            assert part in sms_sent["text"], part
        assert challans.verify_url(live, challan).startswith(
            "https://echallan.kppolice.example/portal/verify/"
        )

        sent = _deliveries(session, challan)
        assert sorted((d.channel, d.purpose, d.ok, d.to) for d in sent) == [
            (Channel.EMAIL, "challan", True, OWNER["email"]),
            (Channel.SMS, "challan", True, OWNER["phone"]),
        ]
        # Replayed: the loop again, and the same violation issued directly: nothing new, nothing sent.
        assert asyncio.run(issuer.issue_pending()) == []
        again, created = asyncio.run(
            flows.issue_and_send(session_factory=session_factory, settings=live, violation_id=violation.id)
        )
        assert (again.id, created) == (challan.id, False)
        assert (len(box.messages), len(sms.messages)) == (1, 1)
        assert len(_deliveries(session, challan)) == 2


def test_a_refusing_gateway_is_recorded_and_the_mail_still_goes(
    session: Session, session_factory: sessionmaker[Session], factory: Factory, settings: Settings
) -> None:
    challans.ensure_fines(session=session)
    violation = confirmed_violation(session, settings, factory.district("PSW"))
    session.commit()
    with mail_server() as box, sms_gateway() as sms:
        live = with_delivery(settings, box, sms)
        live = live.model_copy(update={"challans": live.challans.model_copy(update={"sms_token": None})})
        challan, created = asyncio.run(
            flows.issue_and_send(session_factory=session_factory, settings=live, violation_id=violation.id)
        )
        assert created and sms.refused == 1 and len(box.messages) == 1
        outcome = {d.channel: (d.ok, d.detail) for d in _deliveries(session, challan)}
        assert outcome == {Channel.SMS: (False, "SMS gateway answered 401"), Channel.EMAIL: (True, "")}


def test_staff_send_a_challan_again(
    session: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
    settings: Settings,
    login_as: Callable[..., TestClient],
) -> None:
    challans.ensure_fines(session=session)
    district = factory.district("PSW")
    violation = confirmed_violation(session, settings, district)
    officer = factory.user("traffic_officer", districts=[district])
    adjudicator = factory.user("adjudicator", districts=[district])
    session.commit()
    with mail_server() as box, sms_gateway() as sms:
        live = with_delivery(settings, box, sms)
        challan, _ = asyncio.run(
            flows.issue_and_send(session_factory=session_factory, settings=live, violation_id=violation.id)
        )
        app = create_app(services=build_services(live, session_factory=session_factory))
        with TestClient(app) as client:
            login(client, factory, officer, session)
            answer = client.post(f"/api/v1/traffic/challans/{challan.id}/resend")
            assert answer.status_code == 202, answer.text
            assert answer.json() == {"challan_id": str(challan.id), "number": challan.number, "queued": True}
        assert (len(box.messages), len(sms.messages)) == (2, 2)
        assert box.messages[1].get_body(preferencelist=("plain",)) is not None
        assert len(_deliveries(session, challan)) == 4
        refused = login_as(adjudicator).post(f"/api/v1/traffic/challans/{challan.id}/resend")
        assert refused.status_code == 403  # hearing appeals is not sending challans
    resent = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "challans.resend", AuditEntry.object_id == str(challan.id)
        )
    ).all()
    assert [e.actor_name for e in resent] == [officer.username]
