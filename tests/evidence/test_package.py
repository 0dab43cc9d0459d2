"""Building a package: files byte for byte as recorded (STORED, no re-encoding), a manifest with every
file's SHA-256, size, camera, time span and source segments, the custody log, an Ed25519 signature over the
manifest's exact bytes; bad names refused; nothing half-written left behind."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import av
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from signing_data import CUSTODY, SNAPSHOT, VIDEO, build, media, sha256_of

from safecity.evidence import package
from safecity.evidence.package import Ed25519Signer, PackageError


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[package.PackageFile]:
    return media(tmp_path_factory.mktemp("media"))


def test_a_package_holds_the_media_as_recorded_the_manifest_the_custody_and_a_signature(
    tmp_path: Path, files: list[package.PackageFile]
) -> None:
    signer = Ed25519Signer.generate()
    info = build(tmp_path / "case.zip", signer, files)

    assert info.sha256 == sha256_of(tmp_path / "case.zip") and info.key_fingerprint == signer.fingerprint
    with zipfile.ZipFile(tmp_path / "case.zip") as zf:
        names = {i.filename for i in zf.infolist()}
        assert names == {VIDEO, SNAPSHOT, "manifest.json", "signature.json", "custody.json", "README.txt",
                         "VERIFY.html"}  # fmt: skip
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
        assert zf.read(VIDEO) == files[0].source.read_bytes()  # byte for byte: never re-encoded
        assert zf.read(SNAPSHOT) == files[1].source.read_bytes()
        manifest_bytes = zf.read("manifest.json")
        manifest = json.loads(manifest_bytes)
        signature = json.loads(zf.read("signature.json"))
        custody = json.loads(zf.read("custody.json"))
        (tmp_path / "out.mp4").write_bytes(zf.read(VIDEO))

    video = manifest["files"][0]
    assert video == {
        "name": VIDEO,
        "sha256": hashlib.sha256(files[0].source.read_bytes()).hexdigest(),
        "size": files[0].source.stat().st_size,
        "kind": "video",
        "item_id": "item-1",
        "camera_id": "cam-gate-1",
        "camera_name": "Gate 1",
        "start": "2026-12-06T10:00:00Z",
        "end": "2026-12-06T10:00:02Z",
        "source_segments": [dict(s) for s in files[0].source_segments],
        "redacted_from": None,
    }
    assert manifest["case"]["number"] == "FIR-123/2026"
    assert (manifest["exported_by"], manifest["exported_at"], manifest["purpose"]) == (
        "inspector.khan",
        "2026-12-06T13:00:00Z",
        "for the court",
    )
    assert (
        manifest["custody"]["sha256"]
        == hashlib.sha256(package.canonical_json({"case": manifest["case"], "entries": CUSTODY})).hexdigest()
    )
    assert [e["who"] for e in custody["entries"]] == ["inspector.khan", "si.ahmed", "inspector.khan"]
    assert [e["action"] for e in custody["entries"]] == ["added", "viewed", "exported"]
    assert custody["entries"][0]["at"] == "2026-12-06T11:00:00Z"

    # The signature is Ed25519 over manifest.json's exact bytes, by the key both files name.
    public = base64.b64decode(signature["public_key"])
    assert signature["algorithm"] == "Ed25519" and public == signer.public_key
    assert (
        signature["key_fingerprint"]
        == manifest["signing_key"]["fingerprint"]
        == hashlib.sha256(public).hexdigest()
    )
    Ed25519PublicKey.from_public_bytes(public).verify(
        base64.b64decode(signature["signature"]), manifest_bytes
    )

    # The packaged video still plays: 20 frames of 320x240 H.264.
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert (stream.codec_context.name, len(frames), frames[0].width, frames[0].height) == (
        "h264",
        20,
        320,
        240,
    )
    assert frames[10].to_ndarray(format="gray").std() > 20  # a real picture, not a blank frame


def test_the_readme_says_how_to_verify_and_which_key_signed(
    tmp_path: Path, files: list[package.PackageFile]
) -> None:
    signer = Ed25519Signer.generate()
    build(tmp_path / "case.zip", signer, files, verifier_html=None)
    with zipfile.ZipFile(tmp_path / "case.zip") as zf:
        readme = zf.read("README.txt").decode()
        assert "VERIFY.html" not in zf.namelist()
        extras = json.loads(zf.read("manifest.json"))["extras"]
    assert signer.fingerprint in readme and package.short(signer.fingerprint) in readme
    assert "safecity evidence verify" in readme and "FIR-123/2026" in readme
    assert [e["name"] for e in extras] == ["README.txt"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../escape.mp4", "'..'"),
        ("media/../../escape.mp4", "'..'"),
        ("/etc/passwd", "relative path"),
        ("C:/evil.mp4", "relative path"),
        ("media\\x.mp4", "relative path"),
        ("media//x.mp4", "'//'"),
        ("manifest.json", "reserved"),
        ("", "empty"),
    ],
)
def test_names_that_would_escape_or_collide_are_refused_and_nothing_is_left_behind(
    tmp_path: Path, files: list[package.PackageFile], name: str, problem: str
) -> None:
    with pytest.raises(PackageError, match=problem):
        build(tmp_path / "case.zip", Ed25519Signer.generate(), [replace(files[0], name=name)])
    assert list(tmp_path.iterdir()) == []


def test_a_duplicate_name_a_missing_file_or_a_naive_time_is_refused(
    tmp_path: Path, files: list[package.PackageFile]
) -> None:
    signer = Ed25519Signer.generate()
    with pytest.raises(PackageError, match="appears twice"):
        build(tmp_path / "case.zip", signer, [files[0], replace(files[1], name=VIDEO)])
    with pytest.raises(PackageError, match="does not exist"):
        build(tmp_path / "case.zip", signer, [replace(files[0], source=tmp_path / "gone.mp4")])
    with pytest.raises(PackageError, match="kind"):
        build(tmp_path / "case.zip", signer, [replace(files[0], kind="audio")])
    with pytest.raises(PackageError, match="timezone-aware"):
        build(tmp_path / "case.zip", signer, [replace(files[0], start=dt.datetime(2026, 12, 6, 10))])  # noqa: DTZ001
    assert list(tmp_path.iterdir()) == []


def test_an_existing_package_is_replaced_whole(tmp_path: Path, files: list[package.PackageFile]) -> None:
    first = build(tmp_path / "case.zip", Ed25519Signer.generate(), files[:1])
    second = build(tmp_path / "case.zip", Ed25519Signer.generate(), files)
    assert first.sha256 != second.sha256 == sha256_of(tmp_path / "case.zip")
    assert [p.name for p in tmp_path.iterdir()] == ["case.zip"]
