"""The challan as a document: one A4 page in English and Urdu with the evidence pictures and a QR code.

Latin text is set in DejaVu Sans; Urdu in Noto Nastaliq Urdu, shaped right to left by HarfBuzz (fpdf2's
text shaping), so it reads as it is written. The fonts are parsed once per process and copied into each
document (parsing them is most of what a page costs otherwise). A page is a pure function of its
`ChallanDocument`: the same challan renders to the same bytes (its creation date is the issue time), so the
stored PDF's SHA-256 can be checked against the record at any time.

The evidence pictures are the packet's own JPEG files, embedded as they are (fpdf2 passes JPEG data
through), after their SHA-256 is checked against the packet's manifest: a page never shows a picture that
is not the evidence.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import tempfile
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import segno
from fontTools import subset as ftsubset  # type: ignore[import-untyped]
from fontTools import ttLib
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import HarfBuzzFont, SubsetMap, TTFFont
from fpdf.output import OutputProducer
from fpdf.syntax import PDFContentStream

from safecity.traffic.violations.models import Offence

LATIN = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LATIN_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
URDU = Path("/usr/share/fonts/truetype/noto/NotoNastaliqUrdu-Regular.ttf")
_FONT_FILES = (("dejavu", "", LATIN), ("dejavu", "B", LATIN_BOLD), ("nastaliq", "", URDU))
# Tables fpdf2 drops from every embedded font (fpdf/output.py), so they need not be read at all.
_DROPPED = frozenset(
    {"FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC", "EBDT", "EBLC", "EBSC"}
    | {"SVG ", "CPAL", "COLR"}
)

OFFENCE_EN = {
    Offence.RED_LIGHT: "Crossing a red signal",
    Offence.OVER_SPEED: "Over-speeding",
    Offence.WRONG_WAY: "Driving the wrong way",
    Offence.NO_PARKING: "Parking where it is not allowed",
    Offence.NO_HELMET: "Riding a motorcycle without a helmet",
}
OFFENCE_UR = {
    Offence.RED_LIGHT: "سرخ بتی کی خلاف ورزی",
    Offence.OVER_SPEED: "حد رفتار سے تجاوز",
    Offence.WRONG_WAY: "غلط سمت میں ڈرائیونگ",
    Offence.NO_PARKING: "ممنوعہ جگہ پر پارکنگ",
    Offence.NO_HELMET: "ہیلمٹ کے بغیر موٹر سائیکل چلانا",
}
CLASS_EN = {
    "motorcycle": "Motorcycle",
    "rickshaw": "Rickshaw",
    "car": "Car / jeep",
    "large": "Bus / truck / van",
}
CLASS_UR = {"motorcycle": "موٹر سائیکل", "rickshaw": "رکشہ", "car": "کار / جیپ", "large": "بس / ٹرک / وین"}

# The rows of the ticket: English label, Urdu label (the values are set between them).
ROWS = (
    ("number", "Challan number", "چالان نمبر"),
    ("occurred", "Date and time of the offence", "خلاف ورزی کی تاریخ اور وقت"),
    ("place", "Place (camera)", "مقام (کیمرہ)"),
    ("offence", "Offence", "خلاف ورزی"),
    ("plate", "Registration number", "گاڑی کا نمبر"),
    ("class", "Vehicle class", "گاڑی کی قسم"),
    ("amount", "Fine", "جرمانے کی رقم"),
    ("due", "Pay by", "ادائیگی کی آخری تاریخ"),
    ("payment_ref", "Payment reference (PSID)", "ادائیگی کا حوالہ نمبر"),
    ("owner", "Registered owner", "رجسٹرڈ مالک"),
)
TITLE_UR = "ای چالان: ٹریفک کی خلاف ورزی کا نوٹس"
PAY_UR = (
    "جرمانہ آخری تاریخ تک کسی بھی بینک ایپ، اے ٹی ایم، ون لنک یا موبائل والٹ سے"
    " ادائیگی کے حوالہ نمبر کے ذریعے ادا کریں۔"  # noqa: RUF001
)
APPEAL_UR = "اگر آپ اس چالان سے متفق نہیں ہیں تو آخری تاریخ سے پہلے نیچے دیے گئے پورٹل پر اپیل دائر کریں۔"  # noqa: RUF001
EVIDENCE_UR = "ثبوت کی تصاویر"
VERIFY_UR = "تصدیق کے لیے کوڈ اسکین کریں"
IMAGE_LABELS = {"public_before": "Before", "public_at": "At the offence", "public_after": "After"}


class FontMissing(RuntimeError):
    """A font the challan needs is not installed; the message names the Debian package."""


class EvidenceError(RuntimeError):
    """An evidence picture is missing or is not the file the packet's manifest names (its SHA-256)."""


@dataclass(frozen=True)
class EvidenceImage:
    """One picture of the evidence packet: its role, where it is, and the SHA-256 the manifest gives."""

    role: str
    path: Path
    sha256: str


@dataclass(frozen=True)
class ChallanDocument:
    """Everything printed on a challan, read from the database once (rendering reads nothing else)."""

    number: str
    issued_at: dt.datetime
    occurred_at: dt.datetime
    timezone: str
    district: str
    province: str
    place: str
    offence: Offence
    measured: str  # what the camera measured, e.g. "speed 82 km/h (limit 60)"
    plate: str
    vehicle_class: str
    amount_pkr: int
    due_at: dt.datetime
    payment_ref: str
    owner_name: str
    owner_address: str
    verify_url: str
    portal_url: str
    evidence_sha256: str
    legal_reference: str
    images: tuple[EvidenceImage, ...]  # public_before, public_at, public_after (those there are)
    plate_image: EvidenceImage | None


# --- fonts, parsed once ------------------------------------------------------------------------------


class _FontCache:
    """The three fonts, parsed once; each document gets copies that share what never changes (metrics,
    character maps, the HarfBuzz face), so documents can be rendered in several threads at once.

    fpdf2 subsets a font in place when it writes a document, so every copy gets its own TrueType object,
    read lazily from the font's bytes held here (only the tables the subset needs are decoded).
    """

    def __init__(self, files: Sequence[tuple[str, str, Path]] = _FONT_FILES) -> None:
        self._files = tuple(files)
        self._lock = threading.Lock()
        self._prototypes: dict[str, TTFFont] = {}
        self._faces: dict[str, Any] = {}  # HarfBuzz faces (immutable, so shared across threads)
        self._data: dict[str, bytes] = {}

    def _load(self) -> None:
        for _family, _style, path in self._files:
            if not path.is_file():
                package = "fonts-noto-core" if "noto" in path.parts else "fonts-dejavu-core"
                raise FontMissing(
                    f"the challan PDF needs the font {path}: install Debian's {package} "
                    f"(as root: apt-get install {package})"
                )
        loader = FPDF()
        with tempfile.TemporaryDirectory(prefix="safecity-fonts-") as folder:
            for family, style, path in self._files:
                source = path
                if path in (LATIN, LATIN_BOLD):  # 6,000 glyphs, of which a challan needs Latin's few hundred
                    source = Path(folder) / path.name
                    source.write_bytes(_latin_subset(path))
                loader.add_font(family, style, str(source))
            for key, font in loader.fonts.items():
                if isinstance(font, TTFFont):
                    self._faces[key] = font.hbfont.face  # read once; every document's font shapes with it
                    self._prototypes[key] = font
                    self._data[key] = Path(font.ttffile).read_bytes()

    def install(self, pdf: FPDF) -> None:
        """Give `pdf` its own copies of the fonts (families "dejavu", "dejavu" bold and "nastaliq")."""
        with self._lock:
            if not self._prototypes:
                self._load()
        for key, prototype in self._prototypes.items():
            font = copy.copy(prototype)
            font.ttfont = ttLib.TTFont(io.BytesIO(self._data[key]), recalcTimestamp=False, lazy=True)
            for tag in _DROPPED & set(font.ttfont.keys()):
                # fpdf2 leaves these out of the embedded subset anyway (HarfBuzz shapes from the file), but
                # fontTools' subsetter would first decode them, which would be a third of a page's time.
                del font.ttfont[tag]
            # What fpdf2 changes while it writes or shapes a document is the document's own: its font
            # descriptor (given an object number) and its HarfBuzz font (given the size it shapes at).
            font.desc = copy.copy(prototype.desc)
            font._hbfont = HarfBuzzFont(self._faces[key])
            font.missing_glyphs = []
            font.biggest_size_pt = 0
            font.i = len(pdf.fonts) + 1
            font.subset = SubsetMap(font)
            pdf.fonts[key] = font


_FONTS = _FontCache()


def check_fonts() -> None:
    """Load the fonts now (FontMissing names the package to install if one is not there)."""
    _FONTS.install(FPDF())


# What Latin text on a challan may hold: Latin letters with their accents, punctuation, currency signs.
LATIN_RANGES = ((0x20, 0x7E), (0xA0, 0x24F), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x214F))


def _latin_subset(path: Path) -> bytes:
    """DejaVu cut down to LATIN_RANGES, once per process: each document then reads a tenth of the font."""
    font = ttLib.TTFont(path, recalcTimestamp=False)
    options = ftsubset.Options()
    options.layout_features = []  # Latin is not shaped here
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.glyph_names = True
    options.drop_tables += ["FFTM"]  # FontForge's timestamp, which fontTools cannot subset
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(unicodes=[c for low, high in LATIN_RANGES for c in range(low, high + 1)])
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


class _Producer(OutputProducer):
    """fpdf2's writer, with glyphs that stand for no character of their own mapped to none.

    Nastaliq draws some letters as several glyphs (a base and its dots): fpdf2 gives the letter to the
    first and leaves the others out of the font's ToUnicode map, so a reader copying the text (or a PDF
    text extractor) gets stray codes in the middle of words. Mapping them to the empty string keeps the
    copied Urdu as it was written.
    """

    def _add_fonts(self, *args: Any, **kwargs: Any) -> Any:
        objects = super()._add_fonts(*args, **kwargs)
        for font in self.fpdf.fonts.values():
            if not isinstance(font, TTFFont) or font.color_font:
                continue
            composite = objects.get(font.i)
            if composite is None or getattr(composite, "to_unicode", None) is None:
                continue
            empty = sorted(
                code for glyph, code in font.subset.items() if glyph is not None and not glyph.unicode
            )
            if not empty:
                continue
            lines = [f"<{code:04X}> <>\n" for code in empty]
            lines += [
                f"<{code:04X}> <{''.join(_utf16(u) for u in glyph.unicode)}>\n"
                for glyph, code in font.subset.items()
                if glyph is not None and isinstance(glyph.unicode, tuple) and glyph.unicode
            ]
            blocks = "".join(
                f"{len(chunk)} beginbfchar\n{''.join(chunk)}endbfchar\n"
                for chunk in (lines[i : i + 100] for i in range(0, len(lines), 100))
            )
            stream = PDFContentStream(
                (
                    "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
                    "/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n"
                    "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
                    "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
                    f"{blocks}endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
                ).encode("latin-1"),
                compress=self.fpdf.compress,
            )
            self._add_pdf_obj(stream, "fonts")
            composite.to_unicode = stream
        return objects


def _utf16(code: int) -> str:
    if code > 0xFFFF:
        code -= 0x10000
        return f"{0xD800 | (code >> 10):04X}{0xDC00 | (code & 0x3FF):04X}"
    return f"{code:04X}"


# --- the page ------------------------------------------------------------------------------------------

PAGE_W, MARGIN = 210.0, 12.0
CONTENT_W = PAGE_W - 2 * MARGIN
ROW_H = 8.2
LABEL_W, URDU_W = 50.0, 50.0
VALUE_W = CONTENT_W - LABEL_W - URDU_W
INK, GREY, ACCENT = (20, 20, 20), (95, 95, 95), (0, 84, 48)


def _has_arabic(text: str) -> bool:
    return any("ARABIC" in unicodedata.name(ch, "") for ch in text)


def _urdu(pdf: FPDF, text: str, *, x: float, y: float, w: float, h: float, size: float) -> None:
    pdf.set_font("nastaliq", "", size)
    pdf.set_text_shaping(use_shaping_engine=True, direction="rtl", script="arab", language="urd")
    pdf.set_xy(x, y)
    pdf.cell(w, h, text, align="R")
    pdf.set_text_shaping(False)


def _urdu_lines(
    pdf: FPDF, lines: Sequence[str], *, x: float, y: float, w: float, size: float, line_h: float
) -> float:
    """Urdu lines (broken by hand: fpdf2's line breaking shapes the text again for every word), right-aligned;
    returns the y below them."""
    for line in lines:
        _urdu(pdf, line, x=x, y=y, w=w, h=line_h, size=size)
        y += line_h
    return y


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """`text` shortened with an ellipsis to fit `width` in the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _value(pdf: FPDF, text: str, *, x: float, y: float, w: float, h: float, bold: bool = False) -> None:
    if _has_arabic(text):  # an owner's name or address written in Urdu
        _urdu(pdf, text, x=x, y=y, w=w, h=h, size=10)
        return
    sizes = (10.5,) if bold else (9.5, 8.5, 7.5)  # a long place or address is set smaller before it is cut
    for size in sizes:
        pdf.set_font("dejavu", "B" if bold else "", size)
        if pdf.get_string_width(text) <= w - 1:
            break
    pdf.set_xy(x, y)
    pdf.cell(w, h, _fit(pdf, text, w - 1))


def _image_bytes(image: EvidenceImage) -> bytes:
    try:
        data = image.path.read_bytes()
    except OSError:
        raise EvidenceError(f"evidence picture {image.role} is missing from the evidence store") from None
    if hashlib.sha256(data).hexdigest() != image.sha256:
        raise EvidenceError(f"evidence picture {image.role} does not match its SHA-256 in the packet")
    return data


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height of a JPEG from its start-of-frame marker (no decoding)."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    raise EvidenceError("an evidence picture is not a JPEG image")


def _picture(pdf: FPDF, data: bytes, *, x: float, y: float, w: float, max_h: float) -> float:
    """Place a JPEG in a w x max_h box keeping its proportions; returns the height used."""
    width, height = _jpeg_size(data)
    h = w * height / width
    if h > max_h:
        w, h = max_h * width / height, max_h
    pdf.image(io.BytesIO(data), x=x, y=y, w=w, h=h)
    return h


def _qr_png(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=4, border=2)
    return out.getvalue()


def _local(moment: dt.datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d %b %Y %H:%M")


def _draw(pdf: FPDF, doc: ChallanDocument) -> None:
    zone = ZoneInfo(doc.timezone)
    pdf.add_page()
    pdf.set_text_color(*INK)
    # Title, English on the left, Urdu on the right.
    pdf.set_font("dejavu", "B", 17)
    pdf.set_text_color(*ACCENT)
    pdf.set_xy(MARGIN, 10)
    pdf.cell(90, 10, "E-CHALLAN")
    pdf.set_text_color(*INK)
    _urdu(pdf, TITLE_UR, x=MARGIN + 80, y=9, w=CONTENT_W - 80, h=12, size=14)
    pdf.set_font("dejavu", "", 8.5)
    pdf.set_text_color(*GREY)
    pdf.set_xy(MARGIN, 20)
    pdf.cell(CONTENT_W, 5, f"Traffic violation notice · {doc.district} district, {doc.province} · Safe City")
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.6)
    pdf.line(MARGIN, 27, PAGE_W - MARGIN, 27)
    pdf.set_line_width(0.2)
    pdf.set_draw_color(200, 200, 200)

    values = {
        "number": doc.number,
        "occurred": f"{_local(doc.occurred_at, zone)} ({doc.timezone})",
        "place": doc.place,
        "offence": OFFENCE_EN[doc.offence] + (f": {doc.measured}" if doc.measured else ""),
        "plate": doc.plate,
        "class": CLASS_EN.get(doc.vehicle_class, doc.vehicle_class),
        "amount": f"PKR {doc.amount_pkr:,}",
        "due": doc.due_at.astimezone(zone).strftime("%d %b %Y"),
        "payment_ref": doc.payment_ref,
        "owner": ", ".join(p for p in (doc.owner_name, doc.owner_address) if p) or "not on record",
    }
    y = 29.0
    for key, english, urdu in ROWS:
        pdf.set_text_color(*GREY)
        pdf.set_font("dejavu", "", 8)
        pdf.set_xy(MARGIN, y)
        pdf.cell(LABEL_W, ROW_H, english)
        pdf.set_text_color(*INK)
        bold = key in ("number", "amount", "due", "payment_ref", "plate")
        _value(pdf, values[key], x=MARGIN + LABEL_W, y=y, w=VALUE_W, h=ROW_H, bold=bold)
        if key == "offence":  # the offence in Urdu goes with the value, after its label
            label = f"{urdu}: {OFFENCE_UR[doc.offence]}"
        elif key == "class":
            label = f"{urdu}: {CLASS_UR.get(doc.vehicle_class, '')}".rstrip(": ")
        else:
            label = urdu
        pdf.set_text_color(*GREY)
        _urdu(pdf, label, x=MARGIN + LABEL_W + VALUE_W, y=y - 0.6, w=URDU_W, h=ROW_H, size=9)
        pdf.line(MARGIN, y + ROW_H, PAGE_W - MARGIN, y + ROW_H)
        y += ROW_H
    pdf.set_text_color(*INK)

    # The evidence: the blurred frames side by side, then the plate crop and the QR code.
    y += 2
    pdf.set_font("dejavu", "B", 9)
    pdf.set_xy(MARGIN, y)
    pdf.cell(120, 7, "Evidence (bystanders' faces and other vehicles' plates are blurred)")
    _urdu(pdf, EVIDENCE_UR, x=MARGIN + 120, y=y - 1, w=CONTENT_W - 120, h=8, size=10)
    y += 8
    slot_w, gap = (CONTENT_W - 6) / 3, 3.0
    tallest = 0.0
    for index, image in enumerate(doc.images[:3]):
        x = MARGIN + index * (slot_w + gap)
        height = _picture(pdf, _image_bytes(image), x=x, y=y, w=slot_w, max_h=44)
        tallest = max(tallest, height)
        pdf.set_font("dejavu", "", 7.5)
        pdf.set_text_color(*GREY)
        pdf.set_xy(x, y + height + 0.5)
        pdf.cell(slot_w, 4, IMAGE_LABELS.get(image.role, image.role), align="C")
        pdf.set_text_color(*INK)
    if not doc.images:
        pdf.set_font("dejavu", "", 8.5)
        pdf.set_xy(MARGIN, y)
        pdf.cell(CONTENT_W, 8, "The evidence pictures can be seen on the portal.")
        tallest = 8.0
    y += tallest + 7

    qr_size = 38.0
    qr_x = PAGE_W - MARGIN - qr_size
    pdf.image(io.BytesIO(_qr_png(doc.verify_url)), x=qr_x, y=y, w=qr_size, h=qr_size, link=doc.verify_url)
    pdf.set_font("dejavu", "", 7)
    pdf.set_xy(qr_x - 6, y + qr_size)
    pdf.cell(qr_size + 6, 4, "Scan to verify this challan", align="C")
    _urdu(pdf, VERIFY_UR, x=qr_x - 10, y=y + qr_size + 3, w=qr_size + 10, h=7, size=8)
    if doc.plate_image is not None:
        _picture(pdf, _image_bytes(doc.plate_image), x=MARGIN, y=y, w=48, max_h=18)
        pdf.set_font("dejavu", "", 7.5)
        pdf.set_text_color(*GREY)
        pdf.set_xy(MARGIN, y + 18.5)
        pdf.cell(48, 4, "Number plate as read", align="C")
        pdf.set_text_color(*INK)
    text_x, text_w = MARGIN + 52, qr_x - MARGIN - 56
    pdf.set_font("dejavu", "B", 8.5)
    pdf.set_xy(text_x, y)
    pdf.cell(text_w, 5, "How to pay")
    pdf.set_font("dejavu", "", 8)
    pdf.set_xy(text_x, y + 5)
    pdf.multi_cell(
        text_w,
        3.8,
        f"Pay PKR {doc.amount_pkr:,} by {doc.due_at.astimezone(zone):%d %b %Y} with payment reference "
        f"{doc.payment_ref} through any bank's app, an ATM, 1Link or a mobile wallet. Unpaid challans are "
        "reminded, then marked overdue; ten or more unpaid put the vehicle on a watch list.",
    )
    pdf.set_font("dejavu", "B", 8.5)
    pdf.set_x(text_x)
    pdf.cell(text_w, 6, "How to appeal", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font("dejavu", "", 8)
    pdf.set_x(text_x)
    pdf.multi_cell(
        text_w,
        3.8,
        f"If you dispute this challan, appeal before the due date at {doc.portal_url} (look it up with the "
        "registration number and the last digits of the owner's CNIC). An appeal pauses the payment.",
    )
    y = max(pdf.get_y(), y + qr_size + 8) + 2
    y = _urdu_lines(pdf, (PAY_UR, APPEAL_UR), x=MARGIN, y=y, w=CONTENT_W, size=9.5, line_h=8)
    pdf.set_font("dejavu", "B", 9)  # the address left to right, on a line of its own
    pdf.set_xy(MARGIN, y)
    pdf.cell(CONTENT_W, 5, doc.portal_url, align="R")

    # The footer: what ties this page to its evidence and its law.
    pdf.set_draw_color(*ACCENT)
    pdf.line(MARGIN, 268, PAGE_W - MARGIN, 268)
    pdf.set_text_color(*GREY)
    pdf.set_font("dejavu", "", 6.8)
    lines = (
        f"Evidence packet SHA-256: {doc.evidence_sha256}",
        f"Verify: {doc.verify_url}",
        f"Fine: {doc.legal_reference}",
        f"Issued {_local(doc.issued_at, zone)} ({doc.timezone}). Computer-generated: valid without a "
        "signature.",
    )
    for index, line in enumerate(lines):
        pdf.set_xy(MARGIN, 269 + index * 3.6)
        pdf.cell(CONTENT_W, 3.6, _fit(pdf, line, CONTENT_W))
    pdf.set_text_color(*INK)


def _new_pdf(creation: dt.datetime, title: str) -> FPDF:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    _FONTS.install(pdf)
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_creation_date(creation)
    pdf.set_title(title)
    pdf.set_author("Safe City traffic police")
    pdf.set_creator("safecity")
    pdf.set_producer("safecity")
    pdf.set_lang("en")
    return pdf


def _output(pdf: FPDF) -> bytes:
    try:
        return bytes(pdf.output(output_producer_class=_Producer))
    finally:
        # fpdf2 memoises glyph look-ups per document on the class: without this every document's fonts
        # would stay in memory for the life of the process.
        SubsetMap.get_glyph.cache_clear()


def render(doc: ChallanDocument) -> bytes:
    """The challan as a one-page PDF; the same document gives the same bytes."""
    pdf = _new_pdf(doc.issued_at, f"E-challan {doc.number}")
    _draw(pdf, doc)
    return _output(pdf)


def render_many(docs: Sequence[ChallanDocument], *, created: dt.datetime, title: str) -> bytes:
    """Several challans as one PDF, a page each (a batch for the post)."""
    pdf = _new_pdf(created, title)
    for doc in docs:
        _draw(pdf, doc)
    return _output(pdf)
