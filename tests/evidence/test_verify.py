"""Verifying a package offline: a genuine one passes every check; each way of tampering with it (a changed
byte, a removed or added file, an edited manifest or custody log, a swapped signature, a forged key, not a
ZIP at all) fails with a message that names the problem; the CLI says the same and exits 1."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from signing_data import SNAPSHOT, VIDEO, build, edit_json, flip_one_byte, media, rewrite
from typer.testing import CliRunner

from safecity.cli import app
from safecity.evidence import package
from safecity.evidence import verify as verifier
from safecity.evidence.package import Ed25519Signer
from safecity.evidence.verify import BAD_SIGNATURE, NO_TRUSTED_KEYS, SWAPPED_KEY, Report, TrustedKey

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[package.PackageFile]:
    return media(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="module")
def deployment() -> Ed25519Signer:
    return Ed25519Signer.generate()


@pytest.fixture(scope="module")
def trusted(deployment: Ed25519Signer) -> list[TrustedKey]:
    return [TrustedKey(deployment.fingerprint, deployment.public_key)]


@pytest.fixture(scope="module")
def good(
    tmp_path_factory: pytest.TempPathFactory, files: list[package.PackageFile], deployment: Ed25519Signer
) -> Path:
    path = tmp_path_factory.mktemp("good") / "case.zip"
    build(path, deployment, files)
    return path


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory, trusted: list[TrustedKey]) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    path.write_text(json.dumps(verifier.keyring_document(trusted)))
    return path


@pytest.fixture(autouse=True)
def no_deployment_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI runs where no deployment is configured: the trusted keys come from --keyring only."""
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.delenv("SAFECITY_DATABASE_URL", raising=False)
    monkeypatch.setenv("SAFECITY_SECRET_KEY", "verify-test-secret-key-0123456789abcdef")


def failures(report: Report) -> list[tuple[str, str]]:
    return [(c.subject, c.message) for c in report.failures]


def test_a_genuine_package_passes_every_check(good: Path, trusted: list[TrustedKey], keyring: Path) -> None:
    report = verifier.verify(good, trusted)
    assert report.ok, failures(report)
    subjects = [c.subject for c in report.checks]
    assert subjects == ["package", "manifest.json", "signature", "key", VIDEO, SNAPSHOT, "custody.json",
                        "README.txt", "VERIFY.html"]  # fmt: skip
    assert report.case is not None and report.case["number"] == "FIR-123/2026"

    result = runner.invoke(app, ["evidence", "verify", str(good), "--keyring", str(keyring)])
    assert result.exit_code == 0, result.output
    assert "VERIFIED: every check passed (9 checks)" in result.output
    assert f"{VIDEO}: SHA-256 and size match" in result.output
    assert result.output.count("ok  ") == 9 and "FAIL" not in result.output


def test_one_changed_byte_in_a_video_names_the_file(
    good: Path, trusted: list[TrustedKey], keyring: Path, tmp_path: Path
) -> None:
    bad = flip_one_byte(good, tmp_path / "bad.zip", VIDEO)
    assert failures(verifier.verify(bad, trusted)) == [
        (VIDEO, f"{VIDEO}: SHA-256 differs: changed after export")
    ]

    result = runner.invoke(app, ["evidence", "verify", str(bad), "--keyring", str(keyring)])
    assert result.exit_code == 1
    assert f"FAIL {VIDEO}: SHA-256 differs: changed after export" in result.output
    assert "NOT VERIFIED: 1 check(s) failed." in result.output
    as_json = json.loads(
        runner.invoke(app, ["evidence", "verify", str(bad), "--keyring", str(keyring), "--json"]).output
    )
    assert as_json["ok"] is False
    assert [c["subject"] for c in as_json["checks"] if not c["ok"]] == [VIDEO]


def test_a_removed_file_and_an_added_file_are_named(
    good: Path, trusted: list[TrustedKey], tmp_path: Path
) -> None:
    removed = rewrite(good, tmp_path / "removed.zip", drop=frozenset({SNAPSHOT}))
    assert failures(verifier.verify(removed, trusted)) == [
        (SNAPSHOT, f"{SNAPSHOT}: listed in the manifest but missing from the package (removed after export)")
    ]
    added = rewrite(good, tmp_path / "added.zip", add={"media/planted.jpg": b"\xff\xd8not really"})
    assert failures(verifier.verify(added, trusted)) == [
        (
            "media/planted.jpg",
            "media/planted.jpg: in the package but not listed in the manifest (added after export)",
        )
    ]


def test_an_edited_manifest_breaks_the_signature(
    good: Path, trusted: list[TrustedKey], tmp_path: Path
) -> None:
    def later(manifest: dict[str, object]) -> None:
        manifest["purpose"] = "for the defence"

    edited = rewrite(good, tmp_path / "edited.zip", replace={"manifest.json": edit_json(later)})
    assert failures(verifier.verify(edited, trusted)) == [("signature", BAD_SIGNATURE)]


def test_a_manifest_edited_to_cover_a_changed_file_still_fails(
    good: Path, trusted: list[TrustedKey], tmp_path: Path
) -> None:
    """Swap the video and write its new hash into the manifest: the files agree, the signature does not."""
    new_video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100

    def cover(manifest: dict[str, object]) -> None:
        listed = manifest["files"][0]  # type: ignore[index]
        listed["sha256"] = hashlib.sha256(new_video).hexdigest()
        listed["size"] = len(new_video)

    swapped = rewrite(
        good,
        tmp_path / "swapped.zip",
        replace={VIDEO: lambda _: new_video, "manifest.json": edit_json(cover)},
    )
    assert failures(verifier.verify(swapped, trusted)) == [("signature", BAD_SIGNATURE)]


def test_a_signature_swapped_from_another_package_is_refused(
    good: Path,
    files: list[package.PackageFile],
    deployment: Ed25519Signer,
    trusted: list[TrustedKey],
    tmp_path: Path,
) -> None:
    other = tmp_path / "other.zip"
    build(other, deployment, files[:1], purpose="another case")
    with zipfile.ZipFile(other) as zf:
        other_signature = zf.read("signature.json")
    swapped = rewrite(good, tmp_path / "swapped.zip", replace={"signature.json": lambda _: other_signature})
    assert failures(verifier.verify(swapped, trusted)) == [("signature", BAD_SIGNATURE)]


def test_a_package_re_signed_by_a_forged_key_is_refused_though_its_signature_is_valid(
    good: Path, trusted: list[TrustedKey], tmp_path: Path
) -> None:
    """The forger edits the manifest and signs it with a key of their own, naming it everywhere."""
    forger = Ed25519Signer.generate()
    public = base64.b64encode(forger.public_key).decode()

    def forge(manifest: dict[str, object]) -> None:
        manifest["purpose"] = "for the defence"
        manifest["signing_key"] = {
            "algorithm": "Ed25519",
            "fingerprint": forger.fingerprint,
            "public_key": public,
        }

    with zipfile.ZipFile(good) as zf:
        manifest_bytes = edit_json(forge)(zf.read("manifest.json"))
    signature = package.canonical_json(
        {
            "algorithm": "Ed25519",
            "key_fingerprint": forger.fingerprint,
            "public_key": public,
            "signature": base64.b64encode(forger.sign(manifest_bytes)).decode(),
        }
    )
    forged = rewrite(
        good,
        tmp_path / "forged.zip",
        replace={"manifest.json": lambda _: manifest_bytes, "signature.json": lambda _: signature},
    )
    report = verifier.verify(forged, trusted)
    assert next(
        c for c in report.checks if c.subject == "signature"
    ).ok  # a valid signature, by the wrong key
    assert failures(report) == [
        (
            "key",
            "signed by a key that is not in the trusted keyring "
            f"(fingerprint {package.short(forger.fingerprint)}): "
            "a forged key, or a key of another deployment",
        )
    ]
    # Only the signature file replaced by the forger's (the manifest still names the deployment's key).
    half = rewrite(good, tmp_path / "half.zip", replace={"signature.json": lambda _: signature})
    assert ("signature", SWAPPED_KEY) in failures(verifier.verify(half, trusted))


def test_an_edited_custody_log_is_named(good: Path, trusted: list[TrustedKey], tmp_path: Path) -> None:
    def hide_viewer(custody: dict[str, object]) -> None:
        custody["entries"] = [e for e in custody["entries"] if e["who"] != "si.ahmed"]  # type: ignore[attr-defined]

    edited = rewrite(good, tmp_path / "custody.zip", replace={"custody.json": edit_json(hide_viewer)})
    [(subject, message)] = failures(verifier.verify(edited, trusted))
    assert subject == "custody.json" and message.startswith("custody.json: SHA-256 differs; size differs (")
    assert message.endswith(": changed after export")


def test_not_a_zip_a_missing_manifest_and_a_slipped_in_duplicate(
    good: Path, trusted: list[TrustedKey], tmp_path: Path
) -> None:
    not_zip = tmp_path / "case.zip"
    not_zip.write_bytes(b"%PDF-1.7 this is a document, not a package")
    assert failures(verifier.verify(not_zip, trusted)) == [
        ("package", "case.zip is not a ZIP file (or it is damaged): File is not a zip file")
    ]
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert failures(verifier.verify(truncated, trusted))[0][0] == "package"

    bare = rewrite(good, tmp_path / "bare.zip", drop=frozenset({"manifest.json"}))
    assert failures(verifier.verify(bare, trusted)) == [
        ("manifest.json", "manifest.json is missing: this is not an evidence package")
    ]
    unsigned = rewrite(good, tmp_path / "unsigned.zip", drop=frozenset({"signature.json"}))
    assert failures(verifier.verify(unsigned, trusted)) == [
        ("signature", "signature.json is missing: the package is not signed")
    ]

    twice = tmp_path / "twice.zip"
    twice.write_bytes(good.read_bytes())
    with zipfile.ZipFile(twice, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr(VIDEO, b"a second video under the same name")
    assert (VIDEO, f"{VIDEO}: appears 2 times in the package (one was slipped in)") in failures(
        verifier.verify(twice, trusted)
    )


def test_without_trusted_keys_nothing_verifies_and_the_cli_says_to_pass_a_keyring(good: Path) -> None:
    assert failures(verifier.verify(good, [])) == [("key", NO_TRUSTED_KEYS)]
    result = runner.invoke(app, ["evidence", "verify", str(good)])
    assert result.exit_code == 1
    assert "FAIL no trusted keys: pass --keyring" in result.output


def test_a_bad_keyring_is_refused_with_the_reason(
    good: Path, tmp_path: Path, trusted: list[TrustedKey]
) -> None:
    document = verifier.keyring_document(trusted)
    document[0]["fingerprint"] = "0" * 64
    (tmp_path / "lying.json").write_text(json.dumps(document))
    with pytest.raises(verifier.KeyringError, match="fingerprint does not match"):
        verifier.load_keyring((tmp_path / "lying.json").read_bytes())
    result = runner.invoke(app, ["evidence", "verify", str(good), "--keyring", str(tmp_path / "lying.json")])
    assert result.exit_code == 2 and "fingerprint does not match the public key" in result.output
    for text, reason in [("[]", "holds no keys"), ("{", "not JSON"), ('[{"public_key": "AAAA"}]', "32-byte")]:
        with pytest.raises(verifier.KeyringError, match=reason):
            verifier.load_keyring(text)


def test_a_retired_key_verifies_what_it_signed_before_but_nothing_dated_after(
    good: Path, deployment: Ed25519Signer
) -> None:
    retired_later = TrustedKey(
        deployment.fingerprint, deployment.public_key, retired_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    )
    report = verifier.verify(good, [retired_later])
    assert report.ok and "(retired, still valid for what it signed)" in report.checks[3].message
    retired_before = TrustedKey(
        deployment.fingerprint, deployment.public_key, retired_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    )
    [(subject, message)] = failures(verifier.verify(good, [retired_before]))
    assert subject == "key" and "after the key was retired (2026-12-01T00:00:00Z)" in message
