"""The interface in Urdu: every wrapped string is translated, the catalogs parse, extraction keeps them in
step with the code, and each page picks its language (the user's choice, the browser's, the default)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.auth.models import User
from safecity.cli import app as cli
from safecity.core.languages import LANGUAGES
from safecity.incidents import service as incidents
from safecity.incidents.pages import PRIORITY_NAMES
from safecity.web import i18n, i18n_catalogs
from safecity.web.pages import NAV

URDU_PO = Path("ur") / "LC_MESSAGES" / "safecity.po"


def test_every_wrapped_string_has_an_urdu_translation_and_the_catalogs_parse() -> None:
    assert i18n_catalogs.problems() == []


def test_the_labels_shown_through_variables_are_translated_too() -> None:
    """Navigation, incident categories and priorities reach the templates as values, then `_(label)`."""
    urdu = i18n.translations("ur")
    labels = (
        [item.label for item in NAV]
        + list(incidents.CATEGORY_LABELS.values())
        + list(PRIORITY_NAMES.values())
    )
    untranslated = [label for label in labels if urdu.gettext(label) == label]
    assert untranslated == []
    assert i18n.gettext_in("ur", "Incidents") == "واقعات"
    assert i18n.gettext_in("ur", "Rs %(amount)s", amount="1,500") == "1,500 روپے"


@pytest.fixture
def locale(tmp_path: Path) -> Path:
    """A copy of the committed catalogs to break or extend."""
    copy = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, copy)
    return copy


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A small package with strings wrapped each way the extractor knows."""
    root = tmp_path / "pkg"
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "page.html").write_text(
        '{% extends "base.html" %}{{ _("Incidents") }} {{ _("A sentence new in a template") }}\n'
        '{{ ngettext("%(num)s new camera", "%(num)s new cameras", n) }}\n'
        "{% trans %}A block of new words{% endtrans %}\n",
        encoding="utf-8",
    )
    (root / "views.py").write_text(
        "from safecity.web.i18n import N_, gettext_in\n"
        'LABEL = N_("A label new in Python")\n'
        'NAV = NavItem("A new menu entry", "/new", None)\n'
        'def say(lang): return gettext_in(lang, "Said in Python: %(n)s", n=1)\n'
        'def unrelated(): return "not wrapped"\n',
        encoding="utf-8",
    )
    return root


NEW = {
    "A sentence new in a template",
    "%(num)s new camera",
    "A block of new words",
    "A label new in Python",
    "A new menu entry",
    "Said in Python: %(n)s",
}


def test_extraction_finds_every_kind_of_wrapped_string(package: Path) -> None:
    found = {f.id if isinstance(f.id, str) else f.id[0] for f in i18n_catalogs.collect(package)}
    assert found == NEW | {"Incidents"}  # "not wrapped" is not a message


def test_a_new_wrapped_string_without_urdu_fails_the_check(locale: Path, package: Path) -> None:
    missing = i18n_catalogs.problems(locale, package)
    assert len(missing) == len(NEW) and all("ur: no translation of" in m for m in missing)
    assert not any("'Incidents'" in m for m in missing)  # translated already


def test_a_catalog_that_does_not_parse_or_lost_a_translation_fails_the_check(locale: Path) -> None:
    po = locale / URDU_PO
    text = po.read_text(encoding="utf-8")
    po.write_text(text.replace('msgstr "واقعات"', 'msgstr ""'), encoding="utf-8")
    [lost] = i18n_catalogs.problems(locale)
    assert lost.startswith("ur: no translation of 'Incidents' (safecity/")
    for broken_line in ('msgid "Incidents', 'msgid "Incidents" and more', "Incidents"):  # lost quotes
        po.write_text(text.replace('msgid "Incidents"', broken_line), encoding="utf-8")
        [broken] = i18n_catalogs.problems(locale)
        assert f"{po}:" in broken and "not a PO line" in broken, broken
        with pytest.raises(ValueError, match="not a PO line"):
            i18n.read_po_file(po, "ur")
    # A translation that drops a placeholder would show the wrong number: refused too.
    locked = "اکاؤنٹ %(minutes)s منٹ"  # in the lock-out message only (other strings have minutes too)
    po.write_text(text.replace(locked, "اکاؤنٹ دس منٹ"), encoding="utf-8")
    [dropped] = i18n_catalogs.problems(locale)
    assert "the account is locked" in dropped and "placeholders [] are not the msgid's ['minutes']" in dropped
    po.write_text(text.replace(locked, "اکاؤنٹ %(minute)s منٹ"), encoding="utf-8")  # a typo
    assert any("unknown named placeholder 'minute'" in p for p in i18n_catalogs.problems(locale))


def test_the_extract_command_merges_new_strings_and_keeps_the_translations(
    locale: Path, package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(i18n_catalogs, "LOCALE_DIR", locale)
    monkeypatch.setattr(i18n_catalogs, "PACKAGE", package)
    result = CliRunner().invoke(cli, ["i18n", "extract"])
    assert result.exit_code == 0, result.output
    assert f"{len(NEW)} to translate" in result.output
    with (locale / URDU_PO).open("rb") as po:
        catalog = read_po(po, locale="ur")
    assert {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id} == NEW | {"Incidents"}
    kept, waiting = catalog.get("Incidents"), catalog.get("A new menu entry")
    assert kept is not None and kept.string == "واقعات"  # kept
    assert waiting is not None and waiting.string == ""  # waiting for a translator
    with (locale / "safecity.pot").open("rb") as pot:
        assert {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(pot) if m.id} == NEW | {
            "Incidents"
        }
    check = CliRunner().invoke(cli, ["i18n", "check"])
    assert check.exit_code == 1 and "A new menu entry" in check.output


def test_the_committed_catalog_is_what_extraction_makes(locale: Path) -> None:
    """`safecity i18n extract` on the repository changes nothing: the catalog is in step with the code."""
    i18n_catalogs.extract_all(locale)
    for name in ("safecity.pot", str(URDU_PO)):
        with (i18n.LOCALE_DIR / name).open("rb") as a, (locale / name).open("rb") as b:
            committed, fresh = read_po(a), read_po(b)
        assert [(m.id, m.string) for m in committed] == [(m.id, m.string) for m in fresh], name


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ur-PK,ur;q=0.9,en;q=0.8", "ur"),
        ("en-US,en;q=0.9,ur;q=0.8", "en"),
        ("fr-FR, ur;q=0.5", "ur"),
        ("en;q=0.2, ur;q=0.7", "ur"),
        ("ur;q=0, en;q=0.1", "en"),
        ("fr, de", None),
        ("en;q=nonsense, ur", "ur"),
        ("", None),
    ],
)
def test_accept_language_picks_the_most_wanted_supported_language(header: str, expected: str | None) -> None:
    assert i18n.from_accept_language(header) == expected


def test_the_login_page_follows_the_browser_then_the_link_and_remembers_it(client: TestClient) -> None:
    english = client.get("/login")
    assert '<html lang="en" dir="ltr">' in english.text and ">Log in<" in english.text
    urdu = client.get("/login", headers={"Accept-Language": "ur-PK,ur;q=0.9"})
    assert '<html lang="ur" dir="rtl">' in urdu.text and "لاگ ان کریں" in urdu.text
    assert "Log in<" not in urdu.text and 'href="?lang=en"' in urdu.text  # the way back, in English

    picked = client.get("/login", params={"lang": "ur"})
    assert picked.cookies.get(i18n.COOKIE) == "ur"
    again = client.get("/login")  # the cookie keeps it, whatever the browser says
    assert '<html lang="ur" dir="rtl">' in again.text
    refused = client.post("/login", data={"username": "nobody", "password": "wrong password"})
    assert "صارف نام یا پاس ورڈ غلط ہے" in refused.text  # the refusal in Urdu too
    assert client.get("/login", params={"lang": "en"}).cookies.get(i18n.COOKIE) == "en"
    assert client.get("/login", params={"lang": "xx"}).status_code == 200  # unknown: ignored


def test_a_user_chooses_urdu_on_the_account_page_and_every_page_follows(
    factory: Factory, login_as: Callable[[User], TestClient], session: Session
) -> None:
    desk = factory.user("operator")
    client = login_as(desk)
    account = client.get("/account")
    assert '<html lang="en" dir="ltr">' in account.text and 'name="language"' in account.text

    chosen = client.post("/account/language", data={"language": "ur"})
    assert chosen.status_code == 204 and chosen.headers["HX-Redirect"] == "/account"
    session.expire_all()
    assert session.get(User, desk.id).language == "ur"  # type: ignore[union-attr]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "account.language")).one()
    assert entry.object_id == str(desk.id) and entry.detail == {"language": "ur"}

    for path, words in (
        ("/account", "میرا اکاؤنٹ"),
        ("/incidents", "واقعات"),
        ("/incidents/new", "کال درج کریں"),
    ):
        page = client.get(path, headers={"Accept-Language": "en"})  # the stored choice beats the browser's
        assert page.status_code == 200 and '<html lang="ur" dir="rtl">' in page.text, path
        assert words in page.text and ">لاگ آؤٹ<" in page.text, path
    nav = client.get("/incidents").text.split('<nav aria-label="مرکزی">')[1].split("</nav>")[0]
    assert ">ڈیش بورڈ<" in nav and ">واقعات<" in nav and ">Incidents<" not in nav

    # An unknown language is refused and nothing changes; "" goes back to the default (English).
    refused = client.post("/account/language", data={"language": "xx"})
    assert refused.headers["HX-Retarget"] == "#flash" and "unknown language" in refused.text
    assert client.post("/account/language", data={"language": ""}).status_code == 204
    assert '<html lang="en" dir="ltr">' in client.get("/incidents").text


def test_the_account_language_needs_the_forms_csrf_token(
    factory: Factory, login_as: Callable[[User], TestClient], session: Session
) -> None:
    desk = factory.user("operator")
    client = login_as(desk)
    del client.headers["X-CSRF-Token"]
    assert client.post("/account/language", data={"language": "ur"}).status_code == 403
    session.expire_all()
    assert session.get(User, desk.id).language is None  # type: ignore[union-attr]


def test_the_default_language_comes_from_the_settings(
    factory: Factory,
    login_as: Callable[[User], TestClient],
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    monkeypatch.setattr(settings, "default_language", "ur")
    assert '<html lang="ur" dir="rtl">' in client.get("/login").text
    assert '<html lang="ur" dir="rtl">' in client.get("/portal").text
    desk = login_as(factory.user("operator"))
    assert '<html lang="ur" dir="rtl">' in desk.get("/incidents").text
    assert '<html lang="en" dir="ltr">' in desk.get("/incidents", headers={"Accept-Language": "en"}).text


def test_the_urdu_fonts_are_served_and_nothing_else(client: TestClient) -> None:
    font = client.get("/fonts/urdu-naskh.ttf")
    assert font.status_code == 200 and font.headers["content-type"] == "font/ttf"
    assert font.content[:4] in (b"\x00\x01\x00\x00", b"OTTO", b"true")  # a TrueType/OpenType file
    assert client.get("/fonts/urdu-nastaliq.ttf").status_code == 200
    for bad in ("/fonts/NotoSans-Regular.ttf", "/fonts/..%2F..%2Fetc%2Fpasswd", "/fonts/"):
        assert client.get(bad).status_code == 404, bad


def test_every_language_is_in_the_settings_choice() -> None:
    from typing import get_args

    from safecity.config import Settings

    assert set(get_args(Settings.model_fields["default_language"].annotation)) == set(LANGUAGES)


def test_a_template_rendered_without_lang_takes_the_requests_language() -> None:
    """Another helper's fragment, rendered with only the request, still speaks the user's language."""
    from types import SimpleNamespace

    from safecity.web.pages import TEMPLATES

    fragment = TEMPLATES.env.from_string(
        '{{ _("Incidents") }} {{ ngettext("%(num)s permission:", "%(num)s permissions:", 3) }}'
    )
    request = SimpleNamespace(state=SimpleNamespace(language="ur"))
    assert fragment.render(request=request) == "واقعات 3 اجازتیں:"
    assert fragment.render(request=request, lang="en") == "Incidents 3 permissions:"  # an explicit lang wins
    assert fragment.render() == "Incidents 3 permissions:"  # no request: the source language
    escaped = TEMPLATES.env.from_string('{{ _("Revoke %(name)s now?", name=name) }}').render(
        name="<b>x</b>", lang="ur"
    )
    assert escaped == "&lt;b&gt;x&lt;/b&gt; ابھی منسوخ کریں؟"  # values are escaped, in Urdu too
