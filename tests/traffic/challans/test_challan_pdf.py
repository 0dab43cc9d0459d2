"""The challan's PDF: one A4 page whose text (read back with pypdf) holds the number, the amount and the
Urdu as written; the evidence pictures are the packet's own files; the QR code decodes (OpenCV) to the
verification address, which is also the page's link; the same challan always renders to the same bytes;
a tampered picture, a tampered stored PDF or a missing font is a clear refusal.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from challan_data import confirmed_violation
from fpdf import FPDF
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory
from safecity.config import Settings
from safecity.core.errors import Conflict, NotFound
from safecity.traffic.challans import flows, pdf
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Challan
from safecity.traffic.violations.models import Offence

NOW = dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)


def _issued(session: Session, factory: Factory, settings: Settings) -> Challan:
    challans.ensure_fines(session=session)
    violation = confirmed_violation(
        session,
        settings,
        factory.district("PSW"),
        plate="LEA1234",
        offence=Offence.WRONG_WAY,
        occurred_at=NOW - dt.timedelta(days=1),
        registered_class="truck",
    )
    challan, _ = challans.issue(session=session, settings=settings, violation_id=violation.id, now=NOW)
    session.commit()
    return challan


def _text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    return reader.pages[0].extract_text()


def _qr_codes(data: bytes) -> list[str]:
    """What every QR code on the page says, decoded by OpenCV from the picture embedded in the PDF."""
    found = []
    for image in PdfReader(io.BytesIO(data)).pages[0].images:
        picture = np.asarray(image.image.convert("L"))
        if picture.shape[0] != picture.shape[1]:  # the evidence frames are not square
            continue
        text = _decode(picture)
        if text:
            found.append(text)
    return found


def _decode(picture: np.ndarray) -> str:
    # One OpenCV detector at one scale misses about 1 code in 20 (measured over random verify codes):
    # a scanner tries again, so do both detectors at several scales.
    for factor in (1, 2, 4, 8):
        big = cv2.resize(picture, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        bordered = cv2.copyMakeBorder(big, *(10 * factor,) * 4, cv2.BORDER_CONSTANT, value=255)
        for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
            text, _points, _ = detector.detectAndDecode(bordered)
            if text:
                return str(text)
    return ""


def test_the_page_reads_back_in_english_and_urdu_with_its_evidence_and_qr(
    session: Session, factory: Factory, settings: Settings
) -> None:
    challan = _issued(session, factory, settings)
    document = challans.document(session=session, settings=settings, challan=challan)
    data = challans.render([document])
    assert data.startswith(b"%PDF-")
    text = _text(data)
    for expected in (challan.number, "PKR 4,000", "LEA1234", challan.payment_ref, "Bus / truck / van"):
        assert expected in text, expected
    # The Urdu comes back as it was written (Nastaliq's extra glyphs carry no stray characters).
    for words in ("چالان", "ای چالان", "جرمانے کی رقم", "ادائیگی کی آخری تاریخ", "غلط سمت میں ڈرائیونگ"):
        assert words in text, words
    assert "03 Mar 2026" in text or "04 Mar 2026" in text  # the offence, in Peshawar time
    assert "15 Mar 2026" in text  # due: ten days after issue (5 March, Peshawar time)
    url = challans.verify_url(settings, challan)
    assert url == f"{settings.challans.public_url}/portal/verify/{challan.number}?code={challan.verify_code}"
    assert _qr_codes(data) == [url]
    page = PdfReader(io.BytesIO(data)).pages[0]
    links = [a.get_object()["/A"]["/URI"] for a in page.get("/Annots", [])]
    assert url in links
    # The blurred frames made when it was issued and the packet's plate crop, byte for byte.
    xobjects = page["/Resources"]["/XObject"].values()  # type: ignore[index]
    embedded = {hashlib.sha256(x.get_object().get_data()).hexdigest() for x in xobjects}
    packet = {f["role"]: f["sha256"] for f in document_manifest(session, challan)["files"]}
    public = {f["role"]: f["sha256"] for f in challan.public_evidence}
    assert set(public) == {"public_before", "public_at", "public_after"}
    assert set(public.values()) < embedded and packet["plate"] in embedded
    for role in ("before", "at", "after"):  # the frames with bystanders unblurred never go out
        assert packet[role] not in embedded, role
    # A pure function of the challan: rendered again, the same bytes.
    assert challans.render([challans.document(session=session, settings=settings, challan=challan)]) == data


def test_documents_render_alike_in_parallel_threads(
    session: Session, factory: Factory, settings: Settings
) -> None:
    """The fonts are shared between documents: four threads rendering at once get the sequential bytes."""
    challan = _issued(session, factory, settings)
    document = challans.document(session=session, settings=settings, challan=challan)
    expected = pdf.render(document)
    with ThreadPoolExecutor(max_workers=4) as pool:
        rendered = list(pool.map(lambda _: pdf.render(document), range(12)))
    assert all(data == expected for data in rendered)


def document_manifest(session: Session, challan: Challan) -> dict[str, object]:
    from safecity.traffic.violations.models import Violation

    violation = session.get(Violation, challan.violation_id)
    assert violation is not None
    return violation.evidence


def test_the_stored_pdf_is_checked_against_its_hash(
    session: Session, session_factory: sessionmaker[Session], factory: Factory, settings: Settings
) -> None:
    challan = _issued(session, factory, settings)
    finished = asyncio.run(
        flows.finish(session_factory=session_factory, settings=settings, challan_id=challan.id)
    )
    assert finished.pdf_path == f"2026/{challan.number}.pdf"
    path = settings.challans_dir / finished.pdf_path
    stored = path.read_bytes()
    session.refresh(challan)
    assert challan.pdf_sha256 == hashlib.sha256(stored).hexdigest()
    assert challans.read_pdf(settings=settings, challan=challan) == stored
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left behind
    # Made again (a second process at once): the same file, and the first record stands.
    again = asyncio.run(
        flows.finish(session_factory=session_factory, settings=settings, challan_id=challan.id)
    )
    assert again.pdf_sha256 == challan.pdf_sha256
    path.write_bytes(stored + b"%tampered\n")
    with pytest.raises(Conflict) as altered:
        challans.read_pdf(settings=settings, challan=challan)
    assert altered.value.code == "pdf_altered"
    path.unlink()
    with pytest.raises(NotFound):
        challans.read_pdf(settings=settings, challan=challan)


def test_a_tampered_evidence_picture_is_refused(
    session: Session, factory: Factory, settings: Settings
) -> None:
    challan = _issued(session, factory, settings)
    files = {f["role"]: f for f in challan.public_evidence}
    picture: Path = settings.evidence_dir / files["public_at"]["path"]
    picture.write_bytes(picture.read_bytes()[:-10] + b"\x00" * 8 + b"\xff\xd9")
    with pytest.raises(Conflict) as refused:
        challans.render([challans.document(session=session, settings=settings, challan=challan)])
    assert refused.value.code == "evidence_mismatch"
    assert "public_at" in refused.value.message


def test_no_challan_is_issued_on_a_packet_whose_frame_was_altered(
    session: Session, factory: Factory, settings: Settings
) -> None:
    challans.ensure_fines(session=session)
    violation = confirmed_violation(
        session, settings, factory.district("PSW"), plate="LEA1234", occurred_at=NOW - dt.timedelta(days=1)
    )
    files = {f["role"]: f for f in violation.evidence["files"]}
    picture: Path = settings.evidence_dir / files["after"]["path"]
    picture.write_bytes(picture.read_bytes()[:-10] + b"\x00" * 8 + b"\xff\xd9")
    with pytest.raises(Conflict) as refused:
        challans.issue(session=session, settings=settings, violation_id=violation.id, now=NOW)
    assert refused.value.code == "evidence_mismatch" and "after" in refused.value.message
    assert challans.challan_of_violation(session=session, violation_id=violation.id) is None


def test_a_missing_font_names_its_package(tmp_path: Path) -> None:
    cache = pdf._FontCache(files=(("nastaliq", "", tmp_path / "noto" / "NotoNastaliqUrdu-Regular.ttf"),))
    with pytest.raises(pdf.FontMissing) as missing:
        cache.install(FPDF())
    assert "fonts-noto-core" in str(missing.value)
