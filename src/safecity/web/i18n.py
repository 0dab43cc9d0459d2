"""The interface in English and Urdu: gettext catalogs, the language of each request, and Jinja's i18n.

Strings are written in English and wrapped where they are made:
- templates: `{{ _("Log in") }}`, `{{ _("Challans of %(plate)s", plate=plate) }}`, `ngettext(...)`,
  `{% trans %}…{% endtrans %}` (Jinja's `jinja2.ext.i18n`, new-style: placeholders are `%(name)s`, filled
  after translation, so a literal `%` is written `%%`);
- Python that makes a page's text: `gettext_in(lang, "…", name=value)` / `ngettext_in(...)`;
- a string defined once and translated where it is shown: `N_("…")`, or a `NavItem`'s label, then
  `{{ _(item.label) }}` / `gettext_in(lang, label)`.

`safecity i18n extract` collects them into web/locale/safecity.pot and merges that into each language's
web/locale/<lang>/LC_MESSAGES/safecity.po (text, committed); a translator fills in the msgstr lines. The
process reads the .po files at start-up (`load`): no compiled .mo anywhere. tests/web/test_i18n.py fails
while a wrapped string has no translation.

A page's language: the signed-in user's stored choice (account page); else, as for pages without an account,
a `lang` query parameter (remembered in a cookie), the cookie, the browser's Accept-Language, and last the
configured `default_language`. Urdu pages are right to left (`<html dir="rtl">`).
"""

from __future__ import annotations

import functools
import gettext
import io
import re
from pathlib import Path
from typing import Any

import jinja2
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from jinja2 import pass_context
from jinja2.runtime import Context

from safecity.core.languages import LANGUAGES, RIGHT_TO_LEFT, SOURCE, supported

DOMAIN = "safecity"
LOCALE_DIR = Path(__file__).with_name("locale")
COOKIE = "safecity_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

router = APIRouter(include_in_schema=False)


def N_(message: str) -> str:
    """Mark `message` for extraction; it is translated where it is shown."""
    return message


def catalog_path(lang: str) -> Path:
    """The PO file of `lang`."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


# A PO file's lines: blank, a comment, a keyword with one quoted string, or a quoted continuation. Babel's
# reader forgives a lost quote (it reads on, mangling the string), so each line is checked first.
_STRING = r'"(?:[^"\\]|\\.)*"'
_PO_LINE = re.compile(rf"^(?:|#.*|(?:msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+{_STRING}|{_STRING})$")


def read_po_file(path: Path, lang: str | None = None) -> Catalog:
    """The catalog in the PO file at `path`; ValueError naming the line when it is not well formed."""
    text = path.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not _PO_LINE.match(line.strip()):
            raise ValueError(f"{path}:{number}: not a PO line: {line[:80]!r}")
    try:
        return read_po(io.BytesIO(text.encode("utf-8")), locale=lang, domain=DOMAIN, abort_invalid=True)
    except PoFileError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def read_catalog(lang: str) -> Catalog:
    """The catalog of `lang` as written in its PO file (ValueError when it is malformed)."""
    return read_po_file(catalog_path(lang), lang)


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The translations of `lang` (English, the source, and an unknown code: the strings as written)."""
    if lang == SOURCE or supported(lang) is None:
        return gettext.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(lang), use_fuzzy=False)  # in memory only; fuzzy entries stay English
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def load() -> None:
    """Read every language's catalog now (at start-up), so a broken catalog stops the start, not a page."""
    for lang in LANGUAGES:
        translations(lang)


def gettext_in(lang: str, message: str, /, **variables: Any) -> str:
    """`message` in `lang`, its `%(name)s` placeholders filled from `variables`."""
    text = translations(lang).gettext(message)
    return text % variables if variables else text


def ngettext_in(lang: str, singular: str, plural: str, n: int, /, **variables: Any) -> str:
    """The form of `singular`/`plural` for `n` in `lang` (`%(num)s` is `n`)."""
    return translations(lang).ngettext(singular, plural, n) % {"num": n, **variables}


def direction(lang: str) -> str:
    """The writing direction of `lang`: "rtl" or "ltr"."""
    return "rtl" if lang in RIGHT_TO_LEFT else "ltr"


def from_accept_language(header: str) -> str | None:
    """The supported language the browser prefers most (Accept-Language, with its q-values), if any."""
    best: tuple[float, str] | None = None
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        lang = supported(tag.strip().lower().split("-")[0])
        # Higher quality wins; between equals, the earlier one (a small penalty for position).
        if lang and quality > 0 and (best is None or quality - position * 1e-6 > best[0]):
            best = (quality - position * 1e-6, lang)
    return best[1] if best else None


def choose(request: Request, *, preference: str | None = None, default: str = SOURCE) -> str:
    """The language of this request's page: the user's stored choice, else `lang` in the query, the
    cookie, Accept-Language, and last `default`."""
    return (
        supported(preference)
        or supported(request.query_params.get("lang"))
        or supported(request.cookies.get(COOKIE))
        or from_accept_language(request.headers.get("accept-language", ""))
        or supported(default)
        or SOURCE
    )


def remember(request: Request, response: Response, chosen: str | None = None) -> None:
    """Keep the language in a cookie, so the next pages (login, MFA) stay in it: `chosen`, else a `lang`
    asked for in the query (neither: leave the cookie as it is)."""
    lang = supported(chosen) or supported(request.query_params.get("lang"))
    if lang and request.cookies.get(COOKIE) != lang:
        secure = request.app.state.services.settings.web.cookie_secure
        response.set_cookie(
            COOKIE, lang, max_age=COOKIE_MAX_AGE, path="/", samesite="lax", httponly=True, secure=secure
        )


def forget(response: Response) -> None:
    """Drop the language cookie: the pages follow the browser's Accept-Language again."""
    response.delete_cookie(COOKIE, path="/")


def _language_of(context: Context) -> str:
    lang = context.get("lang")
    if supported(lang) is None:  # a template rendered without `lang`: the request's, as get_page found it
        lang = getattr(getattr(context.get("request"), "state", None), "language", None)
    return supported(lang) or SOURCE


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(_language_of(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(_language_of(context)).ngettext(singular, plural, n)


@pass_context
def _pgettext(context: Context, msgctxt: str, message: str) -> str:
    return translations(_language_of(context)).pgettext(msgctxt, message)


@pass_context
def _npgettext(context: Context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return translations(_language_of(context)).npgettext(msgctxt, singular, plural, n)


def install(env: jinja2.Environment) -> None:
    """Give `env` Jinja's i18n extension, translating into each template's `lang`."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )
    env.globals["languages"] = LANGUAGES


# --- the Urdu fonts, from Debian's fonts-noto-core (what the challan PDFs use too) ---------------------

NOTO = Path("/usr/share/fonts/truetype/noto")
FONTS: dict[str, Path] = {
    "urdu-nastaliq.ttf": NOTO / "NotoNastaliqUrdu-Regular.ttf",
    "urdu-nastaliq-bold.ttf": NOTO / "NotoNastaliqUrdu-Bold.ttf",
    "urdu-naskh.ttf": NOTO / "NotoNaskhArabic-Regular.ttf",
    "urdu-naskh-bold.ttf": NOTO / "NotoNaskhArabic-Bold.ttf",
}


@router.get("/fonts/{name}")
def font(name: str) -> Response:
    """One of the Urdu fonts, for browsers that lack it (public: the login page and the portal use it)."""
    path = FONTS.get(name)
    if path is None or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, media_type="font/ttf", headers={"Cache-Control": "public, max-age=604800"})
