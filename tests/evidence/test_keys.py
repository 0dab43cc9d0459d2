"""The deployment's signing keys: made at set-up (sealed, one active), rotated with an audit entry, retired
keys kept so old packages still verify; the keyring exported; the public verifier page, its download and
keys.json served to anyone, fingerprints in clear; the CLI's keys commands on a real database file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from signing_data import VIDEO, build, flip_one_byte, media
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.auth.principal import SYSTEM
from safecity.cli import app
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.evidence import package
from safecity.evidence import verify as verifier
from safecity.evidence.keys import pages as key_pages
from safecity.evidence.keys import service as keys
from safecity.evidence.keys.models import EvidenceKey

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[package.PackageFile]:
    return media(tmp_path_factory.mktemp("media"))


def secret(settings: Settings) -> str:
    return settings.secret_key.get_secret_value()


def test_a_key_is_made_once_sealed_and_signs(session: Session, settings: Settings) -> None:
    key = keys.ensure_key(session=session, secret_key=secret(settings))
    assert keys.ensure_key(session=session, secret_key=secret(settings)).id == key.id
    assert session.scalars(select(EvidenceKey)).all() == [key]
    assert key.active is True and key.retired_at is None
    assert key.fingerprint == package.fingerprint(key.public_key) and len(key.public_key) == 32

    # The private key is sealed for its purpose: no other purpose's key opens it.
    opened = SecretBox(secret(settings), "evidence-signing").decrypt_bytes(key.private_key)
    assert len(opened) == 32 and opened not in key.private_key
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(secret(settings), "biometrics").decrypt_bytes(key.private_key)

    signer = keys.signer(session=session, secret_key=secret(settings))
    assert signer.fingerprint == key.fingerprint


def test_rotation_retires_the_key_keeps_it_and_old_packages_still_verify(
    session: Session, settings: Settings, files: list[package.PackageFile], tmp_path: Path
) -> None:
    first = keys.signer(session=session, secret_key=secret(settings))
    build(tmp_path / "before.zip", first, files, exported_at=utcnow())  # signed before the rotation

    new = keys.rotate(session=session, secret_key=secret(settings), actor=SYSTEM, reason="yearly rotation")
    second = keys.signer(session=session, secret_key=secret(settings))
    assert second.fingerprint == new.fingerprint != first.fingerprint
    build(tmp_path / "after.zip", second, files)

    listed = keys.list_keys(session=session)
    assert [(k.fingerprint, k.active) for k in listed] == [(new.fingerprint, True), (first.fingerprint, None)]
    assert listed[1].retired_at is not None

    trusted = keys.trusted_keys(session=session)
    assert verifier.verify(tmp_path / "before.zip", trusted).ok
    assert verifier.verify(tmp_path / "after.zip", trusted).ok
    before = verifier.verify(tmp_path / "before.zip", trusted)
    assert (
        "(retired, still valid for what it signed)"
        in next(c for c in before.checks if c.subject == "key").message
    )

    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "evidence.key.rotate")).all()
    assert (entry.object_id, entry.purpose, entry.outcome) == (new.fingerprint, "yearly rotation", "success")
    assert entry.detail == {"fingerprint": new.fingerprint, "retired": first.fingerprint}


def test_the_database_refuses_a_second_active_key(session: Session, settings: Settings) -> None:
    key = keys.ensure_key(session=session, secret_key=secret(settings))
    twin = EvidenceKey(fingerprint="f" * 64, public_key=b"\x01" * 32, private_key=b"x", active=True)
    session.add(twin)
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    del key


def test_the_keyring_holds_every_public_key_and_no_private_one(session: Session, settings: Settings) -> None:
    keys.ensure_key(session=session, secret_key=secret(settings))
    keys.rotate(session=session, secret_key=secret(settings), actor=SYSTEM)
    document = json.loads(keys.keyring_json(session=session))
    assert [set(entry) for entry in document] == [
        {"fingerprint", "public_key", "created_at", "retired_at"}
    ] * 2
    assert [entry["retired_at"] is None for entry in document] == [True, False]
    loaded = verifier.load_keyring(keys.keyring_json(session=session))
    assert [k.fingerprint for k in loaded] == [k.fingerprint for k in keys.list_keys(session=session)]


# --- the public pages -------------------------------------------------------------------------------


def test_the_verifier_page_keys_json_and_download_answer_anyone(
    session: Session, settings: Settings, client: TestClient
) -> None:
    old = keys.ensure_key(session=session, secret_key=secret(settings))
    new = keys.rotate(session=session, secret_key=secret(settings), actor=SYSTEM)
    session.commit()  # the app reads with its own sessions

    page = client.get("/evidence/verify")
    assert page.status_code == 200 and "/login" not in str(page.url)
    for key in (old, new):
        assert package.short(key.fingerprint) in page.text and key.fingerprint in page.text
    assert '<script src="/static/evidence_verify.js" defer></script>' in page.text
    assert 'href="/evidence/verify.html"' in page.text and 'href="/evidence/keys.json"' in page.text
    embedded = re.search(r'<script type="application/json" id="keyring">(.*?)</script>', page.text, re.S)
    assert embedded is not None
    assert [k.fingerprint for k in verifier.load_keyring(embedded.group(1))] == [
        new.fingerprint,
        old.fingerprint,
    ]

    ring = client.get("/evidence/keys.json")
    assert ring.status_code == 200 and ring.headers["content-type"] == "application/json"
    assert "attachment" in ring.headers["content-disposition"]
    assert {k.fingerprint for k in verifier.load_keyring(ring.content)} == {old.fingerprint, new.fingerprint}

    download = client.get("/evidence/verify.html")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="safecity-evidence-verifier.html"'
    html = download.text
    assert (
        "<script src=" not in html
        and "<link " not in html
        and "http://" not in html.replace("http://www.w3", "")
    )
    assert "crypto.subtle.verify" in html and new.fingerprint in html
    assert html.count("<script>") == 1 and "<style>" in html


def test_someone_signed_in_keeps_their_menu_on_the_verifier(
    session: Session, settings: Settings, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    keys.ensure_key(session=session, secret_key=secret(settings))
    client = login_as(factory.user("operator"))
    page = client.get("/evidence/verify")
    assert page.status_code == 200
    assert (
        '<nav aria-label="Main">' in page.text and 'href="/evidence/verify" aria-current="page"' in page.text
    )


def test_the_page_in_urdu(session: Session, settings: Settings, client: TestClient) -> None:
    keys.ensure_key(session=session, secret_key=secret(settings))
    session.commit()
    page = client.get("/evidence/verify", headers={"Accept-Language": "ur"})
    assert page.status_code == 200 and 'dir="rtl"' in page.text and "شواہد کے پیکج کی تصدیق کریں" in page.text
    download = client.get("/evidence/verify.html", headers={"Accept-Language": "ur"})
    assert 'dir="rtl"' in download.text and "اس نظام کی دستخطی کلیدیں" in download.text


def test_the_verifier_page_embeds_no_keys_before_set_up() -> None:
    html = key_pages.verifier_html(keys=[])
    assert (
        "No keys are embedded in this page" in html
        and '<script type="application/json" id="keyring">[]' in html
    )


# --- the CLI on a real database file ------------------------------------------------------------


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "safecity.db"
    monkeypatch.setenv("SAFECITY_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFECITY_SECRET_KEY", "cli-test-secret-key-0123456789abcdef")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    return path


def _keys_in(path: Path) -> list[tuple[str, bool | None]]:
    engine = create_engine(f"sqlite:///{path}")
    with Session(engine) as s:
        found = [
            (k.fingerprint, k.active) for k in s.scalars(select(EvidenceKey).order_by(EvidenceKey.created_at))
        ]
    engine.dispose()
    return found


def test_migrate_makes_the_key_and_the_cli_lists_rotates_exports_and_verifies(
    db_file: Path, tmp_path: Path, files: list[package.PackageFile]
) -> None:
    [(first, active)] = _keys_in(db_file)
    assert active is True
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert _keys_in(db_file) == [(first, True)]  # a second migrate keeps the key

    listing = runner.invoke(app, ["evidence", "keys", "list"])
    assert listing.exit_code == 0 and package.short(first) in listing.output and "active" in listing.output

    # A package signed with the deployment's key, as an export would (the key from the database).
    from safecity.config import load_settings
    from safecity.core.db import create_db_engine, create_session_factory

    settings = load_settings()
    engine = create_db_engine(settings.effective_database_url)
    with create_session_factory(engine)() as s:
        signer = keys.signer(session=s, secret_key=settings.secret_key.get_secret_value())
    engine.dispose()
    build(tmp_path / "case.zip", signer, files, exported_at=utcnow())

    rotated = runner.invoke(app, ["evidence", "keys", "rotate", "--reason", "yearly"])
    assert rotated.exit_code == 0, rotated.output
    [(old, old_state), (new, new_state)] = _keys_in(db_file)
    assert (
        (old, old_state, new_state) == (first, None, True)
        and package.short(new) in rotated.output
        and package.short(first) in rotated.output
    )

    # Without --keyring, verify trusts this deployment's keys (retired ones too).
    verified = runner.invoke(app, ["evidence", "verify", str(tmp_path / "case.zip")])
    assert verified.exit_code == 0, verified.output
    assert "signed by a trusted key of this deployment" in verified.output

    exported = runner.invoke(app, ["evidence", "keys", "export", str(tmp_path / "keys.json")])
    assert exported.exit_code == 0 and "Wrote 2 public key(s)" in exported.output
    ring = json.loads((tmp_path / "keys.json").read_text())
    assert [e["fingerprint"] for e in ring] == [new, old]
    with_ring = runner.invoke(
        app, ["evidence", "verify", str(tmp_path / "case.zip"), "--keyring", str(tmp_path / "keys.json")]
    )
    assert with_ring.exit_code == 0

    bad = flip_one_byte(tmp_path / "case.zip", tmp_path / "bad.zip", VIDEO)
    refused = runner.invoke(app, ["evidence", "verify", str(bad)])
    assert refused.exit_code == 1 and f"{VIDEO}: SHA-256 differs: changed after export" in refused.output

    audited = runner.invoke(app, ["audit", "verify"])
    assert audited.exit_code == 0, audited.output
    engine = create_engine(f"sqlite:///{db_file}")
    with Session(engine) as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("evidence.key.%"))))
    engine.dispose()
    assert actions == ["evidence.key.rotate"]


def test_two_processes_making_the_first_key_at_once_end_with_one(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second one did not see the first's key yet: its insert fails on the unique `active`, it takes
    the key that won, and its transaction goes on."""
    winner = keys.ensure_key(session=session, secret_key=secret(settings))
    monkeypatch.setattr(keys, "active", lambda *, session: None)  # what a racing process saw a moment ago
    assert keys.ensure_key(session=session, secret_key=secret(settings)).id == winner.id
    assert [k.id for k in session.scalars(select(EvidenceKey))] == [winner.id]
