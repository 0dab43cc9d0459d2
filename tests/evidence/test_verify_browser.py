"""The self-contained verifier in Debian's chromium, opened from a file (file://) as a court would keep it:
it accepts a genuine package, and names the file in a copy with one byte changed, the forged key, and a
package it has no keys for until the deployment's keys.json is loaded. The CLI agrees on each."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from signing_data import VIDEO, build, edit_json, flip_one_byte, media, rewrite
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import screenshot, serve
from safecity.cli import app
from safecity.config import Settings
from safecity.core.db import utcnow
from safecity.evidence import package
from safecity.evidence.keys import pages as key_pages
from safecity.evidence.keys import service as keys
from safecity.evidence.package import Ed25519Signer

pytestmark = pytest.mark.browser
runner = CliRunner()


def open_verifier(chromium: Browser, html: Path) -> Page:
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    page.goto(html.as_uri())
    expect(page.locator("#verifier")).to_have_attribute("data-ready", "true")
    return page


def check(page: Page, zip_path: Path) -> None:
    """Choose the package and wait for the verdict on it (the page starts over on each file)."""
    page.set_input_files("#package-file", str(zip_path))
    expect(page.locator("#verdict[data-ok]")).to_contain_text(f": {zip_path.name}: ", timeout=30_000)


def forge(good: Path, destination: Path) -> tuple[Path, Ed25519Signer]:
    """The package's manifest edited and re-signed by a key of the forger's own."""
    forger = Ed25519Signer.generate()
    public = base64.b64encode(forger.public_key).decode()

    def edit(manifest: dict[str, object]) -> None:
        manifest["purpose"] = "for the defence"
        manifest["signing_key"] = {
            "algorithm": "Ed25519",
            "fingerprint": forger.fingerprint,
            "public_key": public,
        }

    with zipfile.ZipFile(good) as zf:
        manifest = edit_json(edit)(zf.read("manifest.json"))
    signature = package.canonical_json(
        {
            "algorithm": "Ed25519",
            "key_fingerprint": forger.fingerprint,
            "public_key": public,
            "signature": base64.b64encode(forger.sign(manifest)).decode(),
        }
    )
    replaced = {"manifest.json": lambda _: manifest, "signature.json": lambda _: signature}
    return rewrite(good, destination, replace=replaced), forger


def test_the_downloaded_verifier_accepts_a_package_and_names_the_changed_byte_the_forged_key(
    session: Session,
    settings: Settings,
    client: TestClient,
    chromium: Browser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = settings.secret_key.get_secret_value()
    signer = keys.signer(session=session, secret_key=secret)
    session.commit()
    download = client.get("/evidence/verify.html")
    assert download.status_code == 200
    verifier = tmp_path / "safecity-evidence-verifier.html"
    verifier.write_bytes(download.content)
    keyring = tmp_path / "keys.json"
    keyring.write_bytes(client.get("/evidence/keys.json").content)

    good = tmp_path / "FIR-123-2026.zip"
    build(good, signer, media(tmp_path / "media"), exported_at=utcnow(), verifier_html=download.text)
    bad = flip_one_byte(good, tmp_path / "FIR-123-2026-copy.zip", VIDEO)
    forged, forger = forge(good, tmp_path / "FIR-123-2026-forged.zip")

    page = open_verifier(chromium, verifier)
    expect(page.locator("#keyring-source")).to_contain_text(package.short(signer.fingerprint))
    expect(page.locator("table.fingerprints")).to_contain_text(signer.fingerprint)

    check(page, good)
    expect(page.locator("#verdict")).to_have_attribute("data-ok", "true")
    expect(page.locator("#verdict")).to_contain_text(
        "VERIFIED: FIR-123-2026.zip: every check passed (9 checks)."
    )
    expect(page.locator("li.check.ok")).to_have_count(9)
    expect(page.locator(f'li[data-subject="{VIDEO}"]')).to_contain_text("SHA-256 and size match")
    expect(page.locator("#summary")).to_contain_text("Case FIR-123/2026 (Snatching at the gate)")
    screenshot(page, "evidence-verifier-verified")

    check(page, bad)
    expect(page.locator("#verdict")).to_have_attribute("data-ok", "false")
    expect(page.locator("#verdict")).to_contain_text(
        "NOT VERIFIED: FIR-123-2026-copy.zip: 1 check(s) failed."
    )
    expect(page.locator("li.check.fail")).to_have_count(1)
    expect(page.locator(f'li.check.fail[data-subject="{VIDEO}"]')).to_have_text(
        f"FAIL {VIDEO}: SHA-256 differs: changed after export"
    )
    screenshot(page, "evidence-verifier-one-byte-changed")

    check(page, forged)
    expect(page.locator("#verdict")).to_have_attribute("data-ok", "false")
    expect(page.locator('li[data-subject="signature"]')).to_have_attribute("data-ok", "true")
    expect(page.locator('li.check.fail[data-subject="key"]')).to_contain_text(
        "signed by a key that is not in the trusted keyring "
        f"(fingerprint {package.short(forger.fingerprint)})"
    )

    not_zip = tmp_path / "statement.zip"
    not_zip.write_bytes(b"%PDF-1.7 a statement, not a package")
    check(page, not_zip)
    expect(page.locator('li.check.fail[data-subject="package"]')).to_contain_text(
        "statement.zip is not a ZIP file (or it is damaged)"
    )

    # The CLI agrees, from the keys.json the page offered.
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(tmp_path / "no-deployment"))
    assert runner.invoke(app, ["evidence", "verify", str(good), "--keyring", str(keyring)]).exit_code == 0
    refused = runner.invoke(app, ["evidence", "verify", str(bad), "--keyring", str(keyring)])
    assert refused.exit_code == 1 and f"FAIL {VIDEO}: SHA-256 differs: changed after export" in refused.output
    assert runner.invoke(app, ["evidence", "verify", str(forged), "--keyring", str(keyring)]).exit_code == 1


def test_a_verifier_without_keys_trusts_nothing_until_a_keyring_is_loaded(
    chromium: Browser, tmp_path: Path
) -> None:
    deployment = Ed25519Signer.generate()
    good = tmp_path / "case.zip"
    build(good, deployment, media(tmp_path / "media"))
    verifier = tmp_path / "VERIFY.html"
    verifier.write_text(key_pages.verifier_html(keys=[]), encoding="utf-8")
    ring = [package_key(deployment)]
    (tmp_path / "keys.json").write_text(ring_json(ring), encoding="utf-8")
    (tmp_path / "bad.json").write_text('[{"public_key": "not base64!"}]', encoding="utf-8")

    page = open_verifier(chromium, verifier)
    check(page, good)
    expect(page.locator("#verdict")).to_have_attribute("data-ok", "false")
    expect(page.locator('li.check.fail[data-subject="key"]')).to_have_text(
        "FAIL no trusted keys: pass --keyring (the deployment's keys.json)"
    )

    page.set_input_files("#keyring-file", str(tmp_path / "bad.json"))
    expect(page.locator("#keyring-source .error")).to_contain_text(
        "bad.json: keyring entry 1: public_key is not base64"
    )

    drop(page, good)  # dragged from a folder onto the page
    expect(page.locator("#verdict[data-ok]")).to_contain_text("NOT VERIFIED: case.zip:")

    page.set_input_files("#keyring-file", str(tmp_path / "keys.json"))
    expect(page.locator("#keyring-source")).to_contain_text(
        f"Trusted keys (from keys.json): {package.short(deployment.fingerprint)} (active)"
    )
    drop(page, good)
    expect(page.locator("#verdict[data-ok]")).to_contain_text("VERIFIED: case.zip: every check passed")
    expect(page.locator("#verdict")).to_have_attribute("data-ok", "true")


def drop(page: Page, zip_path: Path) -> None:
    """Drop the file on the page's drop zone, as dragging it from a file manager does."""
    page.evaluate("() => { const v = document.getElementById('verdict'); v.removeAttribute('data-ok'); }")
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: "application/zip"}));
            return dt;
        }""",
        [zip_path.name, base64.b64encode(zip_path.read_bytes()).decode()],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def package_key(signer: Ed25519Signer) -> dict[str, str | None]:
    return {
        "fingerprint": signer.fingerprint,
        "public_key": base64.b64encode(signer.public_key).decode(),
        "created_at": None,
        "retired_at": None,
    }


def ring_json(ring: list[dict[str, str | None]]) -> str:
    return json.dumps(ring)


def test_the_deployments_page_verifies_in_the_browser_under_its_content_security_policy(
    db_url: str, settings: Settings, chromium: Browser, tmp_path: Path
) -> None:
    """/evidence/verify, no login: the same checks from /static, the keys read from the page's JSON."""
    with serve(settings, db_url, tmp_path / "db") as live, live.services.session_factory() as session:
        signer = keys.signer(session=session, secret_key=settings.secret_key.get_secret_value())
        session.commit()
        good = tmp_path / "case.zip"
        build(good, signer, media(tmp_path / "media"), exported_at=utcnow())
        bad = flip_one_byte(good, tmp_path / "case-copy.zip", VIDEO)

        page = chromium.new_page(viewport={"width": 1366, "height": 768})
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{live.base}/evidence/verify")
        expect(page.locator("#verifier")).to_have_attribute("data-ready", "true")
        expect(page.get_by_role("heading", name="Verify an evidence package")).to_be_visible()
        expect(page.locator("table.fingerprints")).to_contain_text(package.short(signer.fingerprint))
        expect(page.get_by_test_id("download-verifier")).to_have_attribute("href", "/evidence/verify.html")

        check(page, good)
        expect(page.locator("#verdict")).to_have_attribute("data-ok", "true")
        check(page, bad)
        expect(page.locator(f'li.check.fail[data-subject="{VIDEO}"]')).to_contain_text("SHA-256 differs")
        screenshot(page, "evidence-verify-page")

        with page.expect_download() as started:
            page.get_by_test_id("download-verifier").click()
        saved = tmp_path / "downloaded.html"
        started.value.save_as(saved)
        assert started.value.suggested_filename == "safecity-evidence-verifier.html"
        offline = open_verifier(chromium, saved)
        check(offline, good)
        expect(offline.locator("#verdict")).to_have_attribute("data-ok", "true")
        assert refused == []
