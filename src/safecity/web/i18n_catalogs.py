"""The gettext catalogs' upkeep: collect the wrapped strings (`safecity i18n extract`) and check that every
language has them all (`safecity i18n check`, and tests/web/test_i18n.py)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract
from babel.messages.pofile import write_po

import safecity
from safecity.core.languages import LANGUAGES, SOURCE
from safecity.web.i18n import DOMAIN, LOCALE_DIR, read_po_file

PACKAGE = Path(safecity.__file__).parent
# Python: gettext_in(lang, "…"), ngettext_in(lang, "…", "…", n), N_("…") and the navigation's labels.
PYTHON_KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "gettext_in": (2,),
    "ngettext_in": (2, 3),
    "N_": None,
    "NavItem": None,
}
# Templates: Jinja's _(), gettext, ngettext, pgettext, npgettext and {% trans %} blocks.
TEMPLATE_OPTIONS = {
    "extensions": "jinja2.ext.i18n",
    "newstyle_gettext": "true",
    "trimmed": "true",
    "silent": "false",  # a template that does not parse is an error, not a file without strings
}


HEADER = """\
# The safecity interface's strings (README.md, "Translating": how to translate them).
# Made by `safecity i18n extract` from the code; a translator fills in each msgstr."""


@dataclass(frozen=True)
class Found:
    """One wrapped string: its msgid (or singular, plural), where it is, and whether it has placeholders."""

    id: str | tuple[str, str]
    location: tuple[str, int]
    comments: tuple[str, ...]


def _sources(package: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(package.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, "python"
    for path in sorted(package.rglob("*.html")):
        if "templates" in path.parts:
            yield path, "jinja2"


def collect(package: Path | None = None) -> list[Found]:
    """Every wrapped string in the package's Python and templates."""
    package = package or PACKAGE
    found: list[Found] = []
    for path, method in _sources(package):
        keywords = PYTHON_KEYWORDS if method == "python" else DEFAULT_KEYWORDS
        options = {} if method == "python" else TEMPLATE_OPTIONS
        where = path.relative_to(package.parent).as_posix()
        with path.open("rb") as source:
            for lineno, message, comments, _context in extract(
                "jinja2.ext:babel_extract" if method == "jinja2" else "python",
                source,
                keywords=keywords,
                comment_tags=("Translators:",),
                options=options,
                strip_comment_tags=True,
            ):
                ident = message if isinstance(message, str) else (message[0], message[1])
                found.append(Found(ident, (where, lineno), tuple(comments)))
    return found


def template(found: list[Found]) -> Catalog:
    """The POT catalog of `found`."""
    catalog = Catalog(
        project="safecity",
        domain=DOMAIN,
        charset="utf-8",
        creation_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),  # fixed: no diff on every run
        fuzzy=False,
        header_comment=HEADER,
    )
    for item in found:
        text = item.id if isinstance(item.id, str) else item.id[0]
        flags = (
            ("python-format",) if "%(" in text or (isinstance(item.id, tuple) and "%(" in item.id[1]) else ()
        )
        catalog.add(item.id, locations=[item.location], flags=flags, auto_comments=item.comments)
    return catalog


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(
            out,
            catalog,
            width=100,
            sort_output=True,
            include_lineno=False,
            ignore_obsolete=True,
            omit_header=False,
        )


def extract_all(locale_dir: Path | None = None, package: Path | None = None) -> dict[Path, int]:
    """Write safecity.pot and merge it into every language's PO file; how many strings each file lacks."""
    locale_dir = locale_dir or LOCALE_DIR
    pot = template(collect(package or PACKAGE))
    _write(pot, locale_dir / f"{DOMAIN}.pot")
    missing: dict[Path, int] = {}
    for lang in LANGUAGES:
        if lang == SOURCE:
            continue
        path = locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        if path.exists():
            catalog = read_po_file(path, lang)
        else:
            catalog = Catalog(
                locale=lang,
                domain=DOMAIN,
                project="safecity",
                charset="utf-8",
                fuzzy=False,
                header_comment=HEADER,
            )
        # No fuzzy matching: a guessed translation of a similar sentence is worse than none.
        catalog.update(pot, no_fuzzy_matching=True, update_header_comment=False)
        catalog.revision_date = pot.creation_date
        _write(catalog, path)
        missing[path] = sum(1 for m in catalog if m.id and not _translated(m))
    return missing


def _translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return not message.fuzzy and all(strings)


def problems(locale_dir: Path | None = None, package: Path | None = None) -> list[str]:
    """What is wrong with the catalogs: a PO file that does not parse, a wrapped string without a translation
    (or a fuzzy one), a translation whose placeholders differ from its msgid's."""
    locale_dir = locale_dir or LOCALE_DIR
    wrapped = collect(package or PACKAGE)
    found: list[str] = []
    for lang in LANGUAGES:
        if lang == SOURCE:
            continue
        path = locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        try:
            catalog = read_po_file(path, lang)
        except (OSError, ValueError) as exc:
            found.append(f"{path}: {exc}")
            continue
        seen: set[str] = set()
        for item in wrapped:
            key = item.id if isinstance(item.id, str) else item.id[0]
            message = catalog.get(key)
            if key not in seen and (message is None or not _translated(message)):
                found.append(f"{lang}: no translation of {key!r} ({item.location[0]}:{item.location[1]})")
            seen.add(key)
        for message, errors in catalog.check():  # babel: a placeholder the msgid lacks, a wrong type
            if message.id:
                found += [f"{lang}: {message.id!r}: {error}" for error in errors]
        for message in catalog:  # and here: one it dropped (the page would lose the number or the name)
            plain = isinstance(message.id, str) and message.string
            if plain and _fields(message.id) != _fields(message.string):
                found.append(
                    f"{lang}: {message.id!r}: the translation's placeholders "
                    f"{sorted(_fields(message.string))} are not the msgid's {sorted(_fields(message.id))}"
                )
    return found


_FIELD = re.compile(r"%\((\w+)\)")


def _fields(text: object) -> set[str]:
    return set(_FIELD.findall(text)) if isinstance(text, str) else set()
