"""The citizen portal, without an account: look-up by plate and the owner's CNIC digits (right and wrong),
the per-address limit shared through the database, only the blurred evidence, the QR code's verification,
English and Urdu pages, plain messages (never JSON) and templates the CSP lets through.
"""

# ruff: noqa: RUF001 - Urdu sentences end with the Urdu full stop (U+06D4), as they should

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from portal_data import OWNER_CNIC, challan
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_SECRET_KEY, Factory
from safecity.audit.models import AuditEntry
from safecity.config import ChallanSettings, Settings, VideoSettings
from safecity.traffic.challans.models import ChallanStatus
from safecity.traffic.portal import service as portal

PER_MINUTE = 4


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key=SecretStr(TEST_SECRET_KEY),
        video=VideoSettings(run_in_web=False),
        challans=ChallanSettings(portal_lookups_per_minute=PER_MINUTE),
    )


@pytest.fixture
def citizen(web_app: FastAPI) -> Iterator[TestClient]:
    """A visitor from one address, with no account and no cookie."""
    with TestClient(web_app, client=("198.51.100.7", 40000)) as c:
        yield c


def look_up(client: TestClient, plate: str, digits: str, lang: str = "en") -> tuple[int, str, str]:
    """Status, page and (when found) the look-up's token."""
    answer = client.post(
        "/portal", data={"plate": plate, "digits": digits, "lang": lang}, follow_redirects=False
    )
    if answer.status_code != 303:
        return answer.status_code, answer.text, ""
    token = re.search(r"[?&]t=([^&]+)", answer.headers["location"])
    assert token is not None
    page = client.get(answer.headers["location"])
    return page.status_code, page.text, token.group(1)


def assert_plain_page(text: str) -> None:
    """A page a person reads: HTML, no JSON error, nothing the CSP would refuse."""
    assert text.lstrip().startswith("<!doctype html>") and '"error"' not in text
    assert "<script" not in text and "style=" not in text and "<style" not in text


def test_look_up_with_the_right_digits_shows_the_challans_and_wrong_digits_nothing(
    citizen: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    district = factory.district("PSW")
    mine = challan(session, settings.evidence_dir, district, plate="LEB1234", amount=500)
    also = challan(session, settings.evidence_dir, district, plate="LEB1234", amount=1000)
    # The same plate, another owner (a plate re-registered): not shown for my digits.
    other = challan(session, settings.evidence_dir, district, plate="LEB1234", cnic="17301-7654321-9")
    session.commit()

    status, page, token = look_up(
        citizen, "leb-1234", "5671"
    )  # as typed: the plate's dash and case do not matter
    assert status == 200 and token
    assert_plain_page(page)
    assert mine.challan.number in page and also.challan.number in page and other.challan.number not in page
    assert mine.challan.payment_ref in page and "Rs 1,000" in page and "Crossing a red light" in page
    assert "Firdous Chowk" in page  # the place
    assert OWNER_CNIC not in page and "Imran Khan" not in page and "+923001234567" not in page

    for digits in ("5672", "1234", "0000"):
        status, page, token = look_up(citizen, "LEB1234", digits)
        assert (status, token) == (404, "")
        assert "No challan was found for this number plate and these CNIC digits." in page
        assert_plain_page(page)
    status, page, _ = look_up(citizen, "LEB1234", "56a1")
    assert status == 422 and "Enter exactly four digits" in page
    status, page, _ = look_up(citizen, "<script>", "5671")
    assert status == 422 and "English letters and digits" in page and "<script>" not in page

    lookups = select(AuditEntry).where(AuditEntry.action == "portal.lookup").order_by(AuditEntry.seq)
    audited = session.scalars(lookups).all()
    assert [(a.actor_name, a.client_addr, a.outcome) for a in audited[:2]] == [
        ("portal", "198.51.100.7", "success"),
        ("portal", "198.51.100.7", "failure"),
    ]


def test_look_ups_are_limited_per_address_with_a_plain_message(
    citizen: TestClient, web_app: FastAPI, factory: Factory, session: Session, settings: Settings
) -> None:
    challan(session, settings.evidence_dir, factory.district())
    session.commit()
    for _ in range(PER_MINUTE):  # found or not, each counts
        assert look_up(citizen, "LEB1234", "9999")[0] == 404
    refused = citizen.post("/portal", data={"plate": "LEB1234", "digits": "5671", "lang": "ur"})
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    assert "سیکنڈ بعد دوبارہ کوشش کریں" in refused.text  # in the visitor's language
    assert_plain_page(refused.text)
    # The right digits do not get past the limit either, and knocking does not extend it.
    assert citizen.post("/portal", data={"plate": "LEB1234", "digits": "5671"}).status_code == 429
    denied = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "portal.lookup", AuditEntry.outcome == "denied")
    ).all()
    assert len(denied) == 2
    # The count lives in the database, not in this process: a connection of its own from the same
    # address is refused too, and another address is not held up. (Not entered: the app already runs.)
    same_address = TestClient(web_app, client=("198.51.100.7", 40001))
    assert same_address.post("/portal", data={"plate": "LEB1234", "digits": "5671"}).status_code == 429
    neighbour = TestClient(web_app, client=("203.0.113.20", 40000))
    assert look_up(neighbour, "LEB1234", "5671")[0] == 200
    # A minute later the window has slid past the look-ups.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)
    portal.throttle(session=session, client_addr="198.51.100.7", per_minute=PER_MINUTE, now=later)


def test_evidence_only_the_blurred_pictures_and_only_with_the_look_ups_token(
    citizen: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    district = factory.district()
    made = challan(session, settings.evidence_dir, district)
    stranger = challan(session, settings.evidence_dir, district, plate="LEA999", cnic="11111-1111111-1")
    session.commit()
    _, _, token = look_up(citizen, "LEB1234", "5671")
    detail = citizen.get(f"/portal/challans/{made.challan.number}", params={"t": token})
    assert detail.status_code == 200
    assert_plain_page(detail.text)
    shown = re.findall(r'src="(/portal/challans/[^"]+)"', detail.text)
    assert [s.split("/evidence/")[1].split("?")[0] for s in shown] == [
        "public_before",
        "public_at",
        "public_after",
    ]
    for src in shown:
        picture = citizen.get(src.replace("&amp;", "&"))
        role = src.split("/evidence/")[1].split("?")[0]
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        assert (
            picture.content == made.files[role]
            and picture.content != made.files[role.removeprefix("public_")]
        )
    base = f"/portal/challans/{made.challan.number}/evidence"
    for role in ("at", "before", "plate", "clip", "../../etc/passwd"):
        assert citizen.get(f"{base}/{role}", params={"t": token}).status_code == 404
    assert citizen.get(f"{base}/public_at").status_code == 404  # no token
    assert citizen.get(f"{base}/public_at", params={"t": token[:-4] + "AAAA"}).status_code == 404
    # The token proves one plate and CNIC: another vehicle's challan is not reachable with it.
    elsewhere = f"/portal/challans/{stranger.challan.number}"
    assert citizen.get(elsewhere, params={"t": token}).status_code == 404
    assert citizen.get(f"{elsewhere}/evidence/public_at", params={"t": token}).status_code == 404
    # A token past its lifetime is refused with a plain message.
    old = portal.Tokens(TEST_SECRET_KEY).issue(
        portal.Proof("LEB1234", "5671"),
        now=dt.datetime.now(dt.UTC) - portal.TOKEN_TTL - dt.timedelta(seconds=5),
    )
    expired = citizen.get("/portal/challans", params={"t": old})
    assert expired.status_code == 401 and "This page has expired" in expired.text
    assert_plain_page(expired.text)


def test_pages_in_urdu_are_right_to_left_and_switch_to_english(
    citizen: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    made = challan(session, settings.evidence_dir, factory.district())
    session.commit()
    form = citizen.get("/portal", params={"lang": "ur"})
    assert '<html lang="ur" dir="rtl">' in form.text and "اپنے چالان تلاش کریں" in form.text
    assert 'href="/portal?lang=en"' in form.text
    english = citizen.get("/portal")
    assert '<html lang="en" dir="ltr">' in english.text and "Find your challans" in english.text
    status, page, token = look_up(citizen, "LEB1234", "5671", lang="ur")
    assert status == 200 and '<html lang="ur" dir="rtl">' in page and "سرخ بتی عبور کرنا" in page
    assert "500 روپے" in page and "غیر ادا شدہ" in page
    detail = citizen.get(f"/portal/challans/{made.challan.number}", params={"t": token, "lang": "ur"})
    assert "ادائیگی حوالہ" in detail.text and made.challan.payment_ref in detail.text
    assert f"/portal/challans/{made.challan.number}?t={token}&amp;lang=en" in detail.text  # the switch
    for text in (form.text, english.text, page, detail.text):
        assert_plain_page(text)


def test_the_qr_code_page_tells_a_genuine_challan_from_a_forged_one(
    citizen: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    made = challan(session, settings.evidence_dir, factory.district(), amount=2000, status=ChallanStatus.PAID)
    session.commit()
    url = f"/portal/verify/{made.challan.number}"
    genuine = citizen.get(url, params={"code": made.challan.verify_code})
    assert genuine.status_code == 200 and "This challan is genuine." in genuine.text
    assert made.challan.number in genuine.text and "Rs 2,000" in genuine.text and "Paid" in genuine.text
    for private in (made.challan.owner_name, OWNER_CNIC, made.challan.owner_phone, made.challan.plate):
        assert private not in genuine.text  # nothing about the owner, not even the plate
    urdu = citizen.get(url, params={"code": made.challan.verify_code, "lang": "ur"})
    assert "یہ چالان اصلی ہے۔" in urdu.text and 'dir="rtl"' in urdu.text
    for wrong in (citizen.get(url, params={"code": "x" * 24}), citizen.get("/portal/verify/PSW-2026-999999")):
        assert wrong.status_code == 404 and "could not be verified" in wrong.text
        assert "This challan is genuine." not in wrong.text and "Rs 2,000" not in wrong.text
        assert_plain_page(wrong.text)
