"""In Debian's chromium: two citizens, without accounts, look up their challans on the portal, one in Urdu
(right to left) and one in English, see the blurred evidence, and appeal with a picture and a PDF; the
language switch keeps their place; no page breaks the Content-Security-Policy.
"""

# ruff: noqa: RUF001 - Urdu sentences end with the Urdu full stop (U+06D4), as they should

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from portal_data import challan, jpeg, photograph
from sqlalchemy import select
from test_appeals import a_pdf

from conftest import Factory, LiveApp, serve, wait_until
from safecity.config import Settings
from safecity.traffic.appeals.models import Appeal
from safecity.traffic.challans.models import Challan, ChallanStatus

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


def _watch_csp(page: Page) -> list[str]:
    refused: list[str] = []
    page.on(
        "console",
        lambda m: (
            refused.append(m.text) if "Content Security Policy" in m.text or "Refused to" in m.text else None
        ),
    )
    return refused


def _pictures_load(page: Page, count: int) -> None:
    pictures = page.locator("img[data-testid^='evidence-public_']")
    assert pictures.count() == count
    for i in range(count):
        picture = pictures.nth(i)
        wait_until(lambda p=picture: p.evaluate("img => img.complete && img.naturalWidth > 0"), within=5)


@pytest.mark.browser
def test_citizens_look_up_and_appeal_in_urdu_and_in_english(
    live_app: LiveApp, chromium: Browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    services = live_app.services
    evidence_dir = services.settings.evidence_dir
    with services.session_factory() as session:
        factory = Factory(session, services.mfa_box)
        district = factory.district("PSW")
        urdu = challan(session, evidence_dir, district, plate="LEB1234", cnic="35202-1234567-1", amount=500)
        english = challan(
            session, evidence_dir, district, plate="PR4455", cnic="17301-7654321-9", amount=1000
        )
        session.commit()
        urdu_number, english_number = urdu.challan.number, english.challan.number
    receipt = tmp_path / "receipt.jpg"
    receipt.write_bytes(jpeg(photograph()[:240, :320]))
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(a_pdf())

    # --- in Urdu ---------------------------------------------------------------------------------------
    page = chromium.new_page()
    refused = _watch_csp(page)
    page.goto(f"{live_app.base}/portal?lang=ur")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ur")
    page.get_by_label("نمبر پلیٹ").fill("leb-1234")
    page.get_by_label("مالک کے شناختی کارڈ کے آخری 4 ہندسے").fill("5670")  # a wrong digit first
    page.get_by_role("button", name="چالان تلاش کریں").click()
    expect(page.get_by_test_id("portal-error")).to_contain_text("کوئی چالان نہیں ملا")
    page.get_by_label("مالک کے شناختی کارڈ کے آخری 4 ہندسے").fill("5671")
    page.get_by_role("button", name="چالان تلاش کریں").click()
    row = page.get_by_test_id("portal-challan")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("سرخ بتی عبور کرنا")
    expect(row.get_by_test_id("portal-status")).to_have_text("غیر ادا شدہ")
    page.get_by_role("link", name=urdu_number).click()
    expect(page.get_by_test_id("payment-ref")).to_have_text(urdu.challan.payment_ref)
    _pictures_load(page, 3)
    page.get_by_label("آپ کا بیان (4000 حروف تک)").fill(
        "اس وقت میری گاڑی حیات آباد میں گھر پر کھڑی تھی۔ یہ نمبر پلیٹ کسی اور گاڑی پر لگی ہوئی ہے۔"
    )
    page.get_by_label("موبائل نمبر").fill("0333 1234567")
    page.locator("input[name=attachment]").set_input_files(str(receipt))
    page.get_by_role("button", name="اپیل جمع کرائیں").click()
    expect(page.get_by_test_id("appeal-filed")).to_contain_text("آپ کی اپیل موصول ہو گئی ہے")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    # The switch shows the same challan in English, now under appeal.
    page.get_by_test_id("switch-language").click()
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.get_by_test_id("portal-status")).to_have_text("Under appeal")
    expect(page.get_by_test_id("appeal-state")).to_contain_text("awaiting the decision")

    # --- in English, from another browser ------------------------------------------------------------
    other = chromium.new_page()
    refused_too = _watch_csp(other)
    other.goto(f"{live_app.base}/portal")
    expect(other.locator("html")).to_have_attribute("dir", "ltr")
    other.get_by_label("Number plate").fill("PR 4455")
    other.get_by_label("Last 4 digits of the owner's CNIC").fill("3219")
    other.get_by_role("button", name="Find challans").click()
    expect(other.get_by_test_id("portal-challan")).to_contain_text("Rs 1,000")
    other.get_by_role("link", name=english_number).click()
    _pictures_load(other, 3)
    other.get_by_label("Your statement (up to 4000 characters)").fill(
        "The vehicle was at the workshop on that day; the job card is attached."
    )
    other.get_by_label("E-mail address").fill("citizen@example.com")
    other.locator("input[name=attachment]").set_input_files(str(letter))
    other.get_by_role("button", name="Submit the appeal").click()
    expect(other.get_by_test_id("appeal-filed")).to_contain_text("Your appeal against challan")

    assert refused == [] and refused_too == [], refused + refused_too
    with services.session_factory() as session:
        rows = {a.challan_id: a for a in session.scalars(select(Appeal)).all()}
        by_number = {c.number: c for c in session.scalars(select(Challan)).all()}
        first, second = rows[by_number[urdu_number].id], rows[by_number[english_number].id]
        assert (first.language, first.contact_phone, first.attachment_type) == (
            "ur",
            "+923331234567",
            "image/jpeg",
        )
        assert (second.language, second.contact_email, second.attachment_type) == (
            "en",
            "citizen@example.com",
            "application/pdf",
        )
        assert {c.status for c in by_number.values()} == {ChallanStatus.IN_APPEAL}
