"""Appeals: attachments checked by magic bytes and by opening them (a JPEG, a PNG and a PDF pass; a zip, an
HTML page, polyglots, a decompression bomb and an oversize upload are refused with a plain message and
nothing written); one appeal per challan; the adjudicator's queue and decision, sent to the citizen by a
real SMTP server and a real HTTP SMS gateway the test runs; two adjudicators at once give one decision.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import functools
import hashlib
import io
import json
import os
import re
import socket
import threading
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from PIL import Image
from portal_data import challan, jpeg, photograph
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from conftest import TEST_SECRET_KEY, Factory, wait_until
from safecity.audit.models import AuditEntry
from safecity.config import ChallanSettings, Settings, VideoSettings
from safecity.core.crypto import SecretBox
from safecity.core.errors import Conflict
from safecity.traffic.appeals import service as appeals
from safecity.traffic.appeals.models import Appeal, AppealStatus
from safecity.traffic.appeals.schemas import DecisionIn, DecisionOutcome
from safecity.traffic.challans.models import Challan, ChallanStatus, Delivery
from safecity.traffic.portal import service as portal

MAX_BYTES = 300_000
REASON = "The signal controller logged a fault at this junction at the time: the red phase is not proven."


# --- a real SMTP server and a real HTTP SMS gateway -------------------------------------------------


class Mailbox:
    """aiosmtpd's handler: keeps every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with socket.socket() as probe:  # aiosmtpd checks it is up by connecting to the port it was given
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class Gateway:
    url: str
    texts: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def sms_gateway() -> Iterator[Gateway]:
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Gateway(f"http://127.0.0.1:{server.server_address[1]}/send", received)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(tmp_path: Path, mailbox: tuple[Mailbox, int], sms_gateway: Gateway) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key=SecretStr(TEST_SECRET_KEY),
        video=VideoSettings(run_in_web=False),
        challans=ChallanSettings(
            smtp_host="127.0.0.1",
            smtp_port=mailbox[1],
            sms_url=sms_gateway.url,
            max_attachment_bytes=MAX_BYTES,
            appeal_days=30,
        ),
    )


# --- files, real and hostile ------------------------------------------------------------------------


def a_jpeg() -> bytes:
    return jpeg(photograph()[:300, :400])


def a_png(width: int = 320, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.fromarray(photograph()[:height, :width, ::-1].copy()).save(out, "PNG")
    return out.getvalue()


def a_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Workshop receipt: the vehicle was under repair on the day of the offence.")
    return bytes(pdf.output())


def a_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("evidence.txt", "0" * 100_000)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


@functools.cache
def bomb_png(side: int = 20_000) -> bytes:
    """A valid PNG of side x side black pixels (400 MP: 400 MB once Pillow unpacks it) of about 50 KB."""
    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])  # 1 bit per pixel, greyscale
    rows = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + the packed row
    body = b"".join(rows.compress(row) for _ in range(side)) + rows.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")
    )


# --- the checks alone ---------------------------------------------------------------------------------


def test_pictures_and_pdfs_pass_and_hostile_files_are_refused() -> None:
    bomb = bomb_png()
    for data, mime in ((a_jpeg(), "image/jpeg"), (a_png(), "image/png"), (a_pdf(), "application/pdf")):
        checked = appeals.check_attachment(data, max_bytes=MAX_BYTES)
        assert checked.mime == mime and checked.sha256 == hashlib.sha256(data).hexdigest()
    assert len(bomb) < MAX_BYTES  # small on disk: only opening it would hurt

    hostile = {
        "not_allowed": [
            a_zip(),
            b"<!doctype html><html><script>alert(1)</script></html>",
            b"GIF89a" + b"0" * 50,
        ],
        "too_many_pixels": [bomb],
        "hidden_content": [
            a_jpeg() + a_zip(),  # a JPEG that is also a zip (read from its end)
            a_jpeg().replace(b"\xff\xd9", b"\xff\xfe\x00\x1e<script>alert(1)</script>..\xff\xd9"),
            a_png() + b"<html><body>hi</body></html>",
            a_pdf().replace(b"%%EOF", b"%%EOF\n") + a_zip(),
        ],
        "unreadable": [a_jpeg()[:4000], b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"],
        "active_pdf": [
            a_pdf().replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript >>")
        ],
        "too_large": [a_jpeg() + b"\x00" * MAX_BYTES],
        "empty": [b""],
    }
    for reason, files in hostile.items():
        for data in files:
            with pytest.raises(appeals.AttachmentRefused) as refused:
                appeals.check_attachment(data, max_bytes=MAX_BYTES)
            assert refused.value.reason == reason, (reason, refused.value.message)
            assert refused.value.code == f"attachment_{reason}"


# --- filing on the portal -----------------------------------------------------------------------------


def looked_up(client: TestClient, plate: str = "LEB1234", digits: str = "5671", lang: str = "en") -> str:
    """Look up on the portal as a citizen; the token the results page carries."""
    found = client.post(
        "/portal", data={"plate": plate, "digits": digits, "lang": lang}, follow_redirects=False
    )
    assert found.status_code == 303, found.text
    token = re.search(r"[?&]t=([^&]+)", found.headers["location"])
    assert token is not None
    return token.group(1)


def appeal(
    client: TestClient,
    number: str,
    token: str,
    *,
    file: tuple[str, bytes, str] | None = None,
    statement: str = "My car was parked at home in Hayatabad at that time; this is a cloned plate.",
    phone: str = "0300 1234567",
    mail: str = "",
    language: str = "en",
) -> Any:
    files = {"attachment": file} if file else {"attachment": ("", b"", "application/octet-stream")}
    return client.post(
        f"/portal/challans/{number}/appeal",
        data={
            "t": token,
            "statement": statement,
            "phone": phone,
            "email": mail,
            "lang": language,
            "language": language,
        },
        files=files,
    )


def appeals_on_disk(settings: Settings) -> list[Path]:
    root = appeals.appeals_dir(settings.challans_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_citizen_appeals_with_a_jpeg_and_a_second_appeal_is_refused(
    client: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    made = challan(session, settings.evidence_dir, factory.district())
    session.commit()
    token = looked_up(client)
    picture = a_jpeg()
    filed = appeal(client, made.challan.number, token, file=("receipt.jpg", picture, "image/jpeg"))
    assert filed.status_code == 201, filed.text
    assert "Your appeal against challan" in filed.text and "text/html" in filed.headers["content-type"]

    session.expire_all()
    row = session.scalars(select(Appeal).where(Appeal.challan_id == made.challan.id)).one()
    assert row.status is AppealStatus.PENDING and row.contact_phone == "+923001234567"
    assert row.deadline_at - row.filed_at == dt.timedelta(days=30)
    assert (
        row.attachment_type == "image/jpeg" and row.attachment_sha256 == hashlib.sha256(picture).hexdigest()
    )
    [stored] = appeals_on_disk(settings)
    assert stored.read_bytes() == picture and stored.name == f"{row.id}.jpg"
    assert session.get(Challan, made.challan.id).status is ChallanStatus.IN_APPEAL  # type: ignore[union-attr]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "portal.appeal")).one()
    assert (entry.actor_name, entry.client_addr) == ("portal", "testclient")

    again = appeal(client, made.challan.number, token)
    assert again.status_code == 409 and "appealed already" in again.text
    assert "application/json" not in again.headers["content-type"]


@pytest.mark.parametrize(
    ("name", "make", "mime", "said"),
    [
        ("evidence.zip", a_zip, "application/zip", "Only a JPEG or PNG picture or a PDF can be attached."),
        ("page.html", lambda: b"<html><script>alert(1)</script></html>", "text/html", "Only a JPEG or PNG"),
        ("bomb.png", bomb_png, "image/png", "too large to open"),
        ("big.jpg", lambda: a_jpeg() + b"\x00" * MAX_BYTES, "image/jpeg", "too large: at most 0.3 MB"),
        ("both.jpg", lambda: a_jpeg() + a_zip(), "image/jpeg", "something other than a picture"),
    ],
)
def test_hostile_or_oversize_uploads_get_a_plain_message_and_nothing_is_written(
    name: str,
    make: Callable[[], bytes],
    mime: str,
    said: str,
    client: TestClient,
    factory: Factory,
    session: Session,
    settings: Settings,
) -> None:
    made = challan(session, settings.evidence_dir, factory.district())
    session.commit()
    token = looked_up(client)
    refused = appeal(client, made.challan.number, token, file=(name, make(), mime))
    assert refused.status_code == 422, refused.text
    assert said in refused.text and "text/html" in refused.headers["content-type"]
    assert "cloned plate" in refused.text  # the statement is kept in the form to send again
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Appeal)) == 0
    assert session.get(Challan, made.challan.id).status is ChallanStatus.ISSUED  # type: ignore[union-attr]
    assert appeals_on_disk(settings) == []


def test_pdf_attachment_and_the_appeal_rules(
    client: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    district = factory.district()
    made = challan(session, settings.evidence_dir, district)
    old = challan(
        session, settings.evidence_dir, district, issued_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    )
    paid = challan(session, settings.evidence_dir, district, status=ChallanStatus.PAID)
    session.commit()
    token = looked_up(client)
    no_contact = appeal(client, made.challan.number, token, phone="")
    assert no_contact.status_code == 422 and "mobile number or an e-mail address" in no_contact.text
    bad_phone = appeal(client, made.challan.number, token, phone="12345")
    assert bad_phone.status_code == 422 and "Pakistani mobile number" in bad_phone.text
    too_long = appeal(client, made.challan.number, token, statement="x" * 4001)
    assert too_long.status_code == 422 and "10 to 4000 characters" in too_long.text
    closed = appeal(client, old.challan.number, token)
    assert closed.status_code == 409 and "time to appeal this challan has passed" in closed.text
    assert appeal(client, paid.challan.number, token).status_code == 409
    assert appeal(client, made.challan.number, "forged-token").status_code == 401

    document = a_pdf()
    filed = appeal(
        client,
        made.challan.number,
        token,
        file=("receipt.pdf", document, "application/pdf"),
        phone="",
        mail="citizen@example.com",
        language="ur",
    )
    assert filed.status_code == 201, filed.text
    row = session.scalars(select(Appeal)).one()
    assert (row.attachment_type, row.language, row.contact_email) == (
        "application/pdf",
        "ur",
        "citizen@example.com",
    )
    assert [p.suffix for p in appeals_on_disk(settings)] == [".pdf"]


# --- the adjudicator ------------------------------------------------------------------------------------


def _filed(session: Session, settings: Settings, made_challan: Challan, **kwargs: Any) -> Appeal:
    return appeals.file_appeal(
        session=session,
        challan=made_challan,
        statement=kwargs.get(
            "statement", "The vehicle was sold a month before; here is the transfer letter."
        ),
        contact_phone=kwargs.get("phone", "+923331234567"),
        contact_email=kwargs.get("email", "citizen@example.com"),
        language=kwargs.get("language", "ur"),
        attachment=kwargs.get("attachment"),
        settings=settings.challans,
        challans_dir=settings.challans_dir,
        actor=portal.actor("203.0.113.9"),
    )


def test_the_adjudicator_cancels_and_the_citizen_hears_by_mail_and_sms_in_urdu(
    factory: Factory,
    session: Session,
    settings: Settings,
    login_as: Callable[..., TestClient],
    mailbox: tuple[Mailbox, int],
    sms_gateway: Gateway,
) -> None:
    district, elsewhere = factory.district(), factory.district()
    made = challan(session, settings.evidence_dir, district)
    later = challan(session, settings.evidence_dir, district, plate="LEA777")
    picture = appeals.check_attachment(a_jpeg(), max_bytes=MAX_BYTES)
    filed = _filed(session, settings, made.challan, attachment=picture)
    second = _filed(session, settings, later.challan, language="en")
    session.execute(  # the first's deadline has passed: it is flagged and comes first
        Appeal.__table__.update()
        .where(Appeal.id == filed.id)
        .values(deadline_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    )
    session.commit()
    judge = login_as(factory.user("adjudicator", districts=[district]))

    queue = judge.get("/api/v1/traffic/appeals")
    assert queue.status_code == 200, queue.text
    assert [a["id"] for a in queue.json()] == [str(filed.id), str(second.id)]
    assert [a["overdue"] for a in queue.json()] == [True, False]
    one = judge.get(f"/api/v1/traffic/appeals/{filed.id}").json()
    assert one["challan_number"] == made.challan.number and one["evidence_roles"] == [
        "before",
        "at",
        "after",
        "plate",
    ]
    page = judge.get("/traffic/appeals")
    assert page.status_code == 200 and page.text.index(str(filed.id)) < page.text.index(str(second.id))
    assert 'data-testid="appeal-overdue"' in page.text
    detail = judge.get(f"/traffic/appeals/{filed.id}")
    assert f"/api/v1/traffic/violations/{made.violation.id}/evidence/at" in detail.text
    attachment = judge.get(f"/api/v1/traffic/appeals/{filed.id}/attachment")
    assert attachment.status_code == 200 and attachment.content == picture.data
    assert attachment.headers["content-security-policy"].startswith("sandbox")
    assert session.scalar(select(func.count()).where(AuditEntry.action == "appeals.attachment.read")) == 1

    outsider = login_as(factory.user("adjudicator", districts=[elsewhere]))
    assert outsider.get(f"/api/v1/traffic/appeals/{filed.id}").status_code == 404
    assert outsider.get("/api/v1/traffic/appeals").json() == []

    terse = judge.post(
        f"/api/v1/traffic/appeals/{filed.id}/decision", json={"outcome": "cancel", "reason": "ok"}
    )
    assert terse.status_code == 422  # a decision gives its reasons
    decided = judge.post(
        f"/api/v1/traffic/appeals/{filed.id}/decision", json={"outcome": "cancel", "reason": REASON}
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "cancelled" and decided.json()["challan_status"] == "cancelled"
    twice = judge.post(
        f"/api/v1/traffic/appeals/{filed.id}/decision", json={"outcome": "uphold", "reason": REASON}
    )
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_decided"

    session.expire_all()
    cancelled = session.get(Challan, made.challan.id)
    assert cancelled is not None and cancelled.status is ChallanStatus.CANCELLED and cancelled.closed_at
    box, _ = mailbox
    wait_until(lambda: box.messages and sms_gateway.texts, within=10)
    [mail] = box.messages
    assert mail["To"] == "citizen@example.com" and made.challan.number in mail["Subject"]
    assert "اپیل کا فیصلہ" in mail["Subject"]  # in the appeal's language: Urdu
    assert REASON in mail.get_content() and "منسوخ" in mail.get_content()
    [sms] = sms_gateway.texts
    assert sms["to"] == "+923331234567" and made.challan.number in sms["text"]
    deliveries = session.scalars(select(Delivery).where(Delivery.challan_id == made.challan.id)).all()
    assert sorted((d.channel.value, d.purpose, d.to, d.ok) for d in deliveries) == [
        ("email", "appeal_decision", "citizen@example.com", True),
        ("sms", "appeal_decision", "+923331234567", True),
    ]
    shown = judge.get(f"/traffic/appeals/{filed.id}")
    assert "email to citizen@example.com" in shown.text and "sent" in shown.text

    # Uphold the other: the challan is due again.
    upheld = judge.post(
        f"/api/v1/traffic/appeals/{second.id}/decision", json={"outcome": "uphold", "reason": REASON}
    )
    assert upheld.status_code == 200 and upheld.json()["challan_status"] == "issued"
    decisions = session.scalars(select(AuditEntry).where(AuditEntry.action == "appeals.decide")).all()
    assert sorted(d.detail["outcome"] for d in decisions) == ["cancel", "uphold"]


def test_uphold_past_the_due_date_makes_the_challan_overdue(
    factory: Factory, session: Session, settings: Settings
) -> None:
    made = challan(
        session,
        settings.evidence_dir,
        factory.district(),
        issued_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=12),
    )
    filed = _filed(session, settings, made.challan)
    judge = factory.principal(factory.user("adjudicator"))
    appeal_row, after, _ = appeals.decide(
        session=session,
        principal=judge,
        appeal_id=filed.id,
        data=DecisionIn(outcome=DecisionOutcome.UPHOLD, reason=REASON),
        policy=settings.challans,
    )
    assert appeal_row.status is AppealStatus.UPHELD and after.status is ChallanStatus.OVERDUE


def test_two_adjudicators_at_once_give_one_decision(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    _, factory_ = own_db
    with factory_() as session:
        factory = Factory(session, SecretBox(TEST_SECRET_KEY, "mfa"))
        made = challan(session, settings.evidence_dir, factory.district())
        filed = _filed(session, settings, made.challan)
        judges = [factory.principal(factory.user("adjudicator")) for _ in range(2)]
        session.commit()
        appeal_id, challan_id = filed.id, made.challan.id
    outcomes: list[str] = []
    gate = threading.Barrier(2)

    def decide(principal: Any, outcome: DecisionOutcome) -> None:
        with factory_() as session:
            gate.wait()
            try:
                appeals.decide(
                    session=session,
                    principal=principal,
                    appeal_id=appeal_id,
                    data=DecisionIn(outcome=outcome, reason=REASON),
                    policy=settings.challans,
                )
                session.commit()
                outcomes.append(outcome.value)
            except Conflict as exc:
                session.rollback()
                outcomes.append(exc.code)
            except Exception as exc:  # SQLite refuses the second writer outright: also not a decision
                session.rollback()
                outcomes.append(type(exc).__name__)

    threads = [
        threading.Thread(target=decide, args=(judges[0], DecisionOutcome.CANCEL)),
        threading.Thread(target=decide, args=(judges[1], DecisionOutcome.UPHOLD)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    decided = [o for o in outcomes if o in ("cancel", "uphold")]
    assert len(decided) == 1, outcomes
    with factory_() as session:
        row = session.get(Appeal, appeal_id)
        state = session.get(Challan, challan_id)
        assert row is not None and state is not None
        expected = ChallanStatus.CANCELLED if decided == ["cancel"] else ChallanStatus.ISSUED
        assert state.status is expected


# --- attachments left by a crash ------------------------------------------------------------------------


def _aged(path: Path, data: bytes, *, hours: float) -> Path:
    """A file as a filing left it, last written `hours` ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)).timestamp()
    os.utime(path, (then, then))
    return path


def test_attachments_no_appeal_refers_to_are_swept_after_the_grace_period(
    factory: Factory, session: Session, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    district = factory.district()
    made = challan(session, settings.evidence_dir, district)
    filed = _filed(
        session, settings, made.challan, attachment=appeals.check_attachment(a_jpeg(), max_bytes=MAX_BYTES)
    )
    root = appeals.appeals_dir(settings.challans_dir)
    assert filed.attachment_path is not None
    kept = root / filed.attachment_path
    os.utime(kept, (kept.stat().st_mtime - 86400, kept.stat().st_mtime - 86400))  # old, and an appeal's
    # A crash between the file's rename and the commit: the file, and no appeal row; and one mid-write.
    orphan = _aged(root / "2026-11" / f"{uuid.uuid4()}.jpg", a_jpeg(), hours=3)
    partial = _aged(root / "2026-11" / f".{uuid.uuid4()}.pdf.part", b"%PDF-1.7", hours=3)
    # An upload in flight: written a moment ago, its appeal about to commit.
    in_flight = _aged(root / "2026-12" / f"{uuid.uuid4()}.png", a_png(), hours=0)

    deleted = appeals.purge_orphans(
        session_factory=session_factory, challans_dir=settings.challans_dir, grace_s=3600
    )
    assert deleted == 2
    assert kept.exists() and in_flight.exists() and not orphan.exists() and not partial.exists()
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "appeals.orphans.purge")).all()
    assert entry.detail == {"deleted": 2, "grace_s": 3600}
    _, data = appeals.read_attachment(
        session=session,
        principal=factory.principal(factory.user("adjudicator", districts=[district])),
        appeal_id=filed.id,
        challans_dir=settings.challans_dir,
    )
    assert data == a_jpeg()  # the appeal's own file is whole

    # Nothing more to do: nothing deleted, nothing audited.
    assert (
        appeals.purge_orphans(
            session_factory=session_factory, challans_dir=settings.challans_dir, grace_s=3600
        )
        == 0
    )
    assert session.scalar(select(func.count()).where(AuditEntry.action == "appeals.orphans.purge")) == 1


def test_the_cli_sweeps_orphaned_attachments(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from safecity.cli import app

    url, _ = own_db
    root = appeals.appeals_dir(settings.challans_dir)
    orphan = _aged(root / "2026-11" / f"{uuid.uuid4()}.jpg", a_jpeg(), hours=2)
    young = _aged(root / "2026-11" / f"{uuid.uuid4()}.jpg", a_jpeg(), hours=0.5)
    monkeypatch.setenv("SAFECITY_DATABASE_URL", url)
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SAFECITY_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("SAFECITY_CHALLANS__ORPHAN_GRACE_S", "3600")
    result = CliRunner().invoke(app, ["challans", "purge-attachments"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 file" in result.output and not orphan.exists() and young.exists()
