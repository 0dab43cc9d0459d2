"""The citizen portal's pages (public, no account), in English and Urdu: look-up, results, one challan
with its blurred evidence and the appeal form, and the QR code's verification page.

Every refusal is a page with a plain sentence in the visitor's language, never JSON. The appeal's upload
is read from the request stream here, so its size limit holds while it arrives: past
`max_attachment_bytes` nothing more is kept (the rest is read and dropped, so the browser gets the page).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.orm import Session

from safecity import __version__
from safecity.core.errors import InvalidInput, SafecityError, TooManyRequests
from safecity.core.identifiers import normalise_phone
from safecity.core.languages import LANGUAGES, supported
from safecity.traffic.appeals import service as appeals
from safecity.traffic.portal import service
from safecity.web import i18n
from safecity.web.deps import Db, client_addr, get_services
from safecity.web.i18n import N_, gettext_in
from safecity.web.pages import TEMPLATES

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

MAX_FIELD_BYTES = 32_768  # all the appeal form's text fields together (a 4000-character statement in Urdu
# is about 8 KB)
FORM_FIELDS = ("t", "statement", "phone", "email", "lang", "language")
NO_CACHE = {"Cache-Control": "no-store"}


def _tokens(request: Request) -> service.Tokens:
    return service.Tokens(get_services(request).settings.secret_key.get_secret_value())


def _other(lang: str) -> str:
    return "en" if lang == "ur" else "ur"


def language(request: Request, asked: str | None) -> str:
    """The visitor's language: the one asked for (each link and form carries it), else the browser's
    Accept-Language, else the configured default."""
    return (
        supported(asked)
        or i18n.from_accept_language(request.headers.get("accept-language", ""))
        or get_services(request).settings.default_language
    )


# What the pages show for a stored value: the English to translate (extracted from here by `N_`).
OFFENCES = {
    "red_light": N_("Crossing a red light"),
    "over_speed": N_("Over-speeding"),
    "wrong_way": N_("Driving the wrong way"),
    "no_parking": N_("Parking or stopping where it is not allowed"),
    "no_helmet": N_("Riding without a helmet"),
}
STATUSES = {
    "issued": N_("Unpaid"),
    "paid": N_("Paid"),
    "overdue": N_("Overdue"),
    "in_appeal": N_("Under appeal"),
    "cancelled": N_("Cancelled"),
}
EVIDENCE_ROLES = {
    "public_before": N_("Before the offence"),
    "public_at": N_("At the offence"),
    "public_after": N_("After the offence"),
}
OUTCOMES = {"cancelled": N_("the challan is cancelled"), "upheld": N_("the challan stands")}
DECISION_LANGUAGES = {"en": N_("English"), "ur": N_("اردو (Urdu)")}


def render(
    request: Request,
    template: str,
    lang: str,
    status_code: int = 200,
    *,
    switch_url: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A portal page in `lang` (Urdu: right to left) with a link to the same page in the other language."""
    zone = ZoneInfo(get_services(request).settings.timezone)

    def when(value: dt.datetime | None, with_time: bool = True) -> str:
        if value is None:
            return ""
        return value.astimezone(zone).strftime("%d-%m-%Y %H:%M" if with_time else "%d-%m-%Y")

    other = _other(lang)
    same = request.url.include_query_params(lang=other)  # this page in the other language, as a path
    return TEMPLATES.TemplateResponse(
        request,
        f"portal/{template}",
        {
            "lang": lang,
            "direction": i18n.direction(lang),
            "other_lang": other,
            "switch_url": switch_url or f"{same.path}?{same.query}",
            "when": when,
            "version": __version__,
            "max_mb": get_services(request).settings.challans.max_attachment_bytes / 1_000_000,
            "offences": OFFENCES,
            "statuses": STATUSES,
            "evidence_roles": EVIDENCE_ROLES,
            "outcomes": OUTCOMES,
            "decision_languages": DECISION_LANGUAGES,
            **context,
        },
        status_code=status_code,
        headers=NO_CACHE,
    )


def message(
    request: Request, lang: str, exc: SafecityError, *, switch_url: str | None = None, **extra: Any
) -> HTMLResponse:
    """A refusal as a plain page in the visitor's language."""
    response = render(
        request,
        "message.html",
        lang,
        exc.status,
        switch_url=switch_url,
        error=_say(lang, exc, request),
        **extra,
    )
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _say(lang: str, exc: SafecityError, request: Request) -> str:
    """The plain sentence for a refusal (its code picks it; an unknown code gets a general one)."""
    fields: dict[str, object] = {
        "mb": f"{get_services(request).settings.challans.max_attachment_bytes / 1e6:g}"
    }
    if isinstance(exc, TooManyRequests):
        fields["seconds"] = exc.retry_after
    sentence = REFUSALS.get(exc.code, GENERIC)
    return gettext_in(lang, sentence, **fields)  # each sentence takes the fields it names


NONE_FOUND = N_("No challan was found for this number plate and these CNIC digits.")
GENERIC = N_("Something went wrong. Please try again.")
# The refusals the portal explains, by error code.
REFUSALS = {
    "too_many_lookups": N_(
        "Too many look-ups from your connection. Please try again in %(seconds)s seconds."
    ),
    "bad_plate": N_("Enter the number plate in English letters and digits, for example LEB-1234."),
    "bad_digits": N_("Enter exactly four digits: the last four of the owner's CNIC."),
    "link_expired": N_("This page has expired. Please look up your challans again."),
    "bad_link": N_("This address is not valid. Please look up your challans again."),
    "not_found": N_("No such challan was found."),
    "not_appealable": N_("This challan cannot be appealed in its present state."),
    "appeal_window_closed": N_("The time to appeal this challan has passed."),
    "already_appealed": N_("This challan has been appealed already."),
    "bad_statement": N_("Write your statement in 10 to 4000 characters."),
    "bad_language": N_("Choose English or Urdu for the decision."),
    "no_contact": N_("Give a mobile number or an e-mail address for the decision."),
    "bad_phone": N_("Give a Pakistani mobile number, for example 0300 1234567."),
    "bad_email": N_("Give an e-mail address, for example name@example.com."),
    "bad_form": N_("The form could not be read. Please fill it in again."),
    "attachment_empty": N_("The attached file is empty."),
    "attachment_too_large": N_("The attached file is too large: at most %(mb)s MB."),
    "attachment_not_allowed": N_("Only a JPEG or PNG picture or a PDF can be attached."),
    "attachment_unreadable": N_("The attached file cannot be opened: it may be damaged."),
    "attachment_too_many_pixels": N_(
        "The attached picture is too large to open. Please send a smaller picture."
    ),
    "attachment_hidden_content": N_(
        "The attached file contains something other than a picture or a document."
    ),
    "attachment_active_pdf": N_("PDFs with scripts or embedded files cannot be accepted."),
}


# --- look-up ----------------------------------------------------------------------------------------


@router.get("/portal", response_class=HTMLResponse)
def lookup_page(request: Request, lang: str = "") -> Response:
    """The look-up form."""
    return render(request, "lookup.html", language(request, lang))


@router.post("/portal", response_class=HTMLResponse)
def lookup_submit(
    request: Request,
    db: Db,
    plate: Annotated[str, Form()] = "",
    digits: Annotated[str, Form()] = "",
    lang: Annotated[str, Form()] = "",
) -> Response:
    """Look up (throttled per address, audited); found: on to the results, carrying the look-up's token."""
    lang = language(request, lang)
    switch = f"/portal?lang={_other(lang)}"
    try:
        proof = service.read_lookup(plate, digits)
        found = service.lookup(
            session=db,
            proof=proof,
            settings=get_services(request).settings.challans,
            client_addr=client_addr(request),
        )
    except SafecityError as exc:
        response = render(
            request,
            "lookup.html",
            lang,
            exc.status,
            switch_url=switch,
            error=_say(lang, exc, request),
            plate=plate[:40],
        )
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if not found:  # a normal answer, so the look-up's audit entry (counted by the throttle) is committed
        return render(
            request,
            "lookup.html",
            lang,
            404,
            switch_url=switch,
            error=gettext_in(lang, NONE_FOUND),
            plate=plate[:40],
        )
    token = _tokens(request).issue(proof)
    return RedirectResponse(f"/portal/challans?t={token}&lang={lang}", status_code=303)


def _proof(request: Request, token: str) -> service.Proof:
    return _tokens(request).open(token)


@router.get("/portal/challans", response_class=HTMLResponse)
def results_page(request: Request, db: Db, t: str = "", lang: str = "") -> Response:
    """The challans of the look-up."""
    lang = language(request, lang)
    try:
        proof = _proof(request, t)
        found = service.challans(session=db, proof=proof, settings=get_services(request).settings.challans)
    except SafecityError as exc:
        return message(request, lang, exc)
    return render(request, "results.html", lang, challans=found, plate=proof.plate, token=t)


def _challan_page(
    request: Request,
    db: Session,
    lang: str,
    token: str,
    number: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    settings = get_services(request).settings.challans
    try:
        _, view = service.challan(session=db, proof=_proof(request, token), number=number, settings=settings)
    except SafecityError as exc:
        return message(request, lang, exc)
    return render(
        request,
        "challan.html",
        lang,
        status_code,
        switch_url=f"/portal/challans/{number}?t={token}&lang={_other(lang)}",
        c=view,
        token=token,
        appeal_days=settings.appeal_days,
        max_statement=appeals.MAX_STATEMENT_CHARS,
        languages=LANGUAGES,
        **context,
    )


@router.get("/portal/challans/{number}", response_class=HTMLResponse)
def challan_page(request: Request, db: Db, number: str, t: str = "", lang: str = "") -> Response:
    """One challan of the look-up: particulars, how to pay, the blurred evidence, the appeal form."""
    return _challan_page(request, db, language(request, lang), t, number[:32])


@router.get("/portal/challans/{number}/evidence/{role}")
def evidence(request: Request, db: Db, number: str, role: str, t: str = "") -> Response:
    """A blurred picture of the challan (public_before, public_at, public_after), for the look-up's token."""
    try:
        data = service.public_evidence(
            session=db,
            proof=_proof(request, t),
            number=number[:32],
            role=role,
            evidence_dir=get_services(request).settings.evidence_dir,
        )
    except SafecityError:
        return Response(status_code=404, headers=NO_CACHE)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})


# --- appeal -----------------------------------------------------------------------------------------


@dataclass
class Upload:
    """The appeal form as it arrived: its text fields, and the file (at most `limit` bytes kept)."""

    limit: int
    fields: dict[str, str] = field(default_factory=dict)
    file_data: bytearray = field(default_factory=bytearray)
    file_given: bool = False
    file_too_large: bool = False
    fields_too_large: bool = False


class _FormReader:
    """Feeds python-multipart's streaming parser and keeps only what the limits allow."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.headers: dict[bytes, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.name = ""
        self.is_file = False
        self.value = bytearray()
        self.field_bytes = 0

    def on_part_begin(self) -> None:
        self.headers, self.name, self.is_file, self.value = {}, "", False, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self.is_file = self.name == "attachment" and filename is not None
        if self.is_file and filename:
            self.upload.file_given = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.is_file:
            if len(self.upload.file_data) + len(chunk) > self.upload.limit:
                self.upload.file_too_large = True  # stop keeping: never more than the limit in memory
            elif not self.upload.file_too_large:
                self.upload.file_data += chunk
                self.upload.file_given = self.upload.file_given or bool(chunk)
            return
        self.field_bytes += len(chunk)
        if self.field_bytes > MAX_FIELD_BYTES:
            self.upload.fields_too_large = True
        elif self.name in FORM_FIELDS:
            self.value += chunk

    def on_part_end(self) -> None:
        if not self.is_file and self.name in FORM_FIELDS and not self.upload.fields_too_large:
            self.upload.fields[self.name] = self.value.decode("utf-8", "replace")


async def read_upload(request: Request, limit: int) -> Upload:
    """Read a multipart form from the stream; InvalidInput `bad_form` if it is not one."""
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InvalidInput("send the appeal form as multipart/form-data", code="bad_form")
    upload = Upload(limit)
    reader = _FormReader(upload)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": reader.on_part_begin,
            "on_part_data": reader.on_part_data,
            "on_part_end": reader.on_part_end,
            "on_header_field": reader.on_header_field,
            "on_header_value": reader.on_header_value,
            "on_header_end": reader.on_header_end,
            "on_headers_finished": reader.on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except Exception as exc:  # python-multipart raises its own errors on a malformed body
        logger.info("portal appeal: unreadable form (%s)", type(exc).__name__)
        raise InvalidInput("the form could not be read", code="bad_form") from None
    return upload


def _contact(phone: str, email: str) -> tuple[str, str]:
    phone, email = phone.strip(), email.strip()
    if phone:
        try:
            phone = normalise_phone(phone[:40])
        except InvalidInput:
            raise InvalidInput("give a Pakistani mobile number", code="bad_phone") from None
    if email:
        email = appeals.normalise_email(email[:300])
    return phone, email


@router.post("/portal/challans/{number}/appeal", response_class=HTMLResponse)
async def appeal_submit(request: Request, db: Db, number: str) -> Response:
    """File an appeal: the statement, a contact for the decision, its language and one attachment."""
    settings = get_services(request).settings
    number = number[:32]
    try:
        upload = await read_upload(request, settings.challans.max_attachment_bytes)
    except SafecityError as exc:
        return message(request, language(request, request.query_params.get("lang")), exc)
    form = upload.fields
    lang = language(request, form.get("lang"))
    token = form.get("t", "")

    def file() -> Response:
        try:
            proof = _proof(request, token)
            challan, _ = service.challan(session=db, proof=proof, number=number, settings=settings.challans)
        except SafecityError as exc:
            return message(request, lang, exc)
        try:
            if upload.fields_too_large:
                raise InvalidInput("the statement is too long", code="bad_statement")
            statement = form.get("statement", "").strip()
            phone, email = _contact(form.get("phone", ""), form.get("email", ""))
            attachment = None
            if upload.file_too_large:
                raise appeals.AttachmentRefused("the file is too large", reason="too_large")
            if upload.file_given:
                attachment = appeals.check_attachment(
                    bytes(upload.file_data), max_bytes=settings.challans.max_attachment_bytes
                )
            appeal = appeals.file_appeal(
                session=db,
                challan=challan,
                statement=statement,
                contact_phone=phone,
                contact_email=email,
                language=form.get("language") or lang,
                attachment=attachment,
                settings=settings.challans,
                challans_dir=settings.challans_dir,
                actor=service.actor(client_addr(request)),
            )
        except SafecityError as exc:
            db.rollback()
            return _challan_page(
                request,
                db,
                lang,
                token,
                number,
                exc.status,
                error=_say(lang, exc, request),
                form={k: form.get(k, "") for k in ("statement", "phone", "email", "language")},
            )
        return render(
            request,
            "appealed.html",
            lang,
            201,
            switch_url=f"/portal/challans/{number}?t={token}&lang={_other(lang)}",
            number=number,
            reference=service.appeal_reference(appeal.id),
            deadline=appeal.deadline_at,
            token=token,
        )

    return await run_in_threadpool(file)


# --- the QR code's target ---------------------------------------------------------------------------


@router.get("/portal/verify/{number}", response_class=HTMLResponse)
def verify_page(request: Request, db: Db, number: str, code: str = "", lang: str = "") -> Response:
    """Whether a printed challan is genuine: its number, date, offence, amount and status (no owner data)."""
    lang = language(request, lang)
    found = service.verify(session=db, number=number, code=code, client_addr=client_addr(request))
    return render(request, "verify.html", lang, 200 if found else 404, found=found, number=number[:32])
