"""Signed evidence packages: a case's chosen items in one ZIP that anyone can check offline.

Layout of a package (every entry STORED, uncompressed: video is compressed already, and the browser
verifier then needs no inflate):

    manifest.json    what the package holds: the case, who exported it, when and why, and for every file
                     its SHA-256, size, kind, camera, time span and the recorded segments it came from;
                     the custody log's and the helper files' hashes; the signing key
    signature.json   Ed25519 over the exact bytes of manifest.json, with the signing key's fingerprint
    custody.json     the chain of custody: who added, viewed and exported each item, when and why
    media/..., snapshots/..., documents/...   the files, byte for byte as recorded (no re-encoding)
    README.txt       how to verify
    VERIFY.html      the offline verifier page, for convenience; it is not what makes a key trusted

This module is pure (no database): the caller gathers files and custody, and passes a `Signer`.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FORMAT = "safecity-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
CUSTODY = "custody.json"
README = "README.txt"
VERIFIER = "VERIFY.html"
RESERVED = frozenset({MANIFEST, SIGNATURE, CUSTODY, README, VERIFIER})
KINDS = frozenset({"video", "image", "document"})
ALGORITHM = "Ed25519"
CHUNK = 1 << 20  # files are copied and hashed a mebibyte at a time, never read whole


def fingerprint(public_key: bytes) -> str:
    """A key's fingerprint: hex SHA-256 of its raw 32-byte public key (people compare the first 16)."""
    return hashlib.sha256(public_key).hexdigest()


def short(fingerprint_hex: str) -> str:
    """The part of a fingerprint people read and compare: its first 16 hex digits, in groups of four."""
    head = fingerprint_hex[:16]
    return " ".join(head[i : i + 4] for i in range(0, len(head), 4))


class Signer(Protocol):
    """What signs a manifest: the deployment's active key (evidence.keys.service) or, in tests, any key."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


class Ed25519Signer:
    """A `Signer` over an Ed25519 private key held in memory."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """A signer over a fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self._public)

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature of `data` (64 bytes)."""
        return self._key.sign(data)


@dataclass(frozen=True)
class PackageFile:
    """One file to put in a package, copied byte for byte from `source`."""

    name: str  # path inside the ZIP, e.g. "media/cam-gate-1/2026-12-06T10-00-00Z.mp4"
    source: Path  # file on disk, copied byte for byte
    kind: str  # "video" | "image" | "document"
    item_id: str | None  # the case item it belongs to
    camera_id: str | None
    camera_name: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    source_segments: tuple[dict[str, str], ...] = ()  # [{"path": ..., "sha256": ...}] recorded segments
    redacted_from: str | None = None  # sha256 of the original when this is a redacted copy


@dataclass(frozen=True)
class PackageInfo:
    """What `build` wrote: the package, its manifest's hash and the signing key."""

    path: Path
    size: int
    sha256: str  # of the whole ZIP, for the export's audit entry and the custody log
    manifest_sha256: str
    key_fingerprint: str
    files: int
    manifest: dict[str, Any] = field(repr=False)


class PackageError(ValueError):
    """A package cannot be built as asked (a bad name, a duplicate, a missing file)."""


def check_name(name: str) -> str:
    """`name` if it is a safe relative path inside a package, else PackageError saying why."""
    if not name or name != name.strip():
        raise PackageError(f"{name!r}: a file name in a package must not be empty or padded")
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise PackageError(f"{name!r}: a file name in a package must be a relative path with '/'")
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".", "") for part in name.split("/")) or not parts:
        raise PackageError(f"{name!r}: a file name in a package must not contain '..' or '.' or '//'")
    if any(ord(c) < 32 for c in name):
        raise PackageError(f"{name!r}: a file name in a package must not contain control characters")
    if name in RESERVED:
        raise PackageError(f"{name!r} is reserved for the package's own files")
    return name


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise PackageError("times in a package must be timezone-aware (UTC)")
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)  # UUIDs, paths, enums


def canonical_json(document: Any) -> bytes:
    """The bytes a package stores for a JSON document: sorted keys, indented, UTF-8, final newline."""
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default)
    return (text + "\n").encode()


def _write_entry(archive: zipfile.ZipFile, name: str, source: Path, when: dt.datetime) -> tuple[str, int]:
    """Copy `source` into the archive as a STORED entry, hashing as it streams; its SHA-256 and size."""
    info = zipfile.ZipInfo(name, date_time=_zip_time(when))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = source.stat().st_size  # lets zipfile choose ZIP64 for very large files up front
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as src, archive.open(info, "w") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    if size != info.file_size:
        raise PackageError(f"{name}: the file changed size while it was being packaged")
    return digest.hexdigest(), size


def _write_bytes(archive: zipfile.ZipFile, name: str, data: bytes, when: dt.datetime) -> None:
    info = zipfile.ZipInfo(name, date_time=_zip_time(when))
    info.compress_type = zipfile.ZIP_STORED
    archive.writestr(info, data)


def _zip_time(when: dt.datetime) -> tuple[int, int, int, int, int, int]:
    utc = when.astimezone(dt.UTC)
    return (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)


def _readme(case: dict[str, Any], signer: Signer, exported_at: dt.datetime) -> bytes:
    ref = case.get("number") or case.get("id") or "the case"
    return (
        f"Evidence package for {ref}, exported {_iso(exported_at)} (UTC).\n"
        "\n"
        "What is inside\n"
        "  manifest.json   every file with its SHA-256, size, camera, time span and source segments\n"
        "  signature.json  an Ed25519 signature over the exact bytes of manifest.json\n"
        "  custody.json    the chain of custody: who added, viewed and exported each item, when and why\n"
        "  media/, snapshots/, documents/   the files, exactly as recorded\n"
        "  VERIFY.html     an offline verifier page (open it in a browser)\n"
        "\n"
        "How to verify\n"
        "  1. Get the deployment's public keys (keys.json) or its verifier page from the police force\n"
        "     itself (its /evidence/verify page, or a copy it published), NOT from this package: anyone\n"
        "     who altered the package could also have replaced VERIFY.html.\n"
        f"  2. This package says it was signed by the key with fingerprint\n"
        f"       {short(signer.fingerprint)}  (full: {signer.fingerprint})\n"
        "     Compare it with the fingerprint the police force publishes.\n"
        "  3. Run `safecity evidence verify PACKAGE.zip --keyring keys.json`, or open the verifier page\n"
        "     in a browser and choose this ZIP. Every check must pass: the signature, the key, each\n"
        "     file's SHA-256 and size, the custody log, and no file added or removed.\n"
        "\n"
        "Checking by hand: the SHA-256 of each file (e.g. `sha256sum`) must equal the value listed for it\n"
        "in manifest.json, and the Ed25519 signature in signature.json must verify over manifest.json.\n"
    ).encode()


def build(
    *,
    destination: Path,
    case: dict[str, Any],
    files: Sequence[PackageFile],
    custody: Sequence[dict[str, Any]],
    signer: Signer,
    exported_by: str,
    exported_at: dt.datetime,
    purpose: str,
    verifier_html: str | None,
) -> PackageInfo:
    """Write a signed evidence package to `destination` (atomically: a temporary file, then a rename).

    Args:
        destination: the ZIP to write; its folder must exist.
        case: the case summary (id, number, title, ...), JSON-serialisable.
        files: the files to copy in, byte for byte; names must be unique, relative, without "..".
        custody: the custody log's entries (who, action, item, when, why), JSON-serialisable.
        signer: the key that signs the manifest.
        exported_by: who exported it (a username).
        exported_at: when (timezone-aware).
        purpose: why (the reason given for the export).
        verifier_html: the verifier page to include as VERIFY.html, or None for none.

    Returns:
        The package's path, size, SHA-256, its manifest's SHA-256 and the signing key's fingerprint.

    Raises:
        PackageError: a bad or duplicate name, an unknown kind, a missing source file.
    """
    seen: set[str] = set()
    for item in files:
        check_name(item.name)
        if item.name in seen:
            raise PackageError(f"{item.name!r} appears twice in the package")
        seen.add(item.name)
        if item.kind not in KINDS:
            raise PackageError(
                f"{item.name}: kind must be one of {', '.join(sorted(KINDS))}, not {item.kind!r}"
            )
        if not item.source.is_file():
            raise PackageError(f"{item.name}: the source file {item.source} does not exist")
    if exported_at.tzinfo is None:
        raise PackageError("exported_at must be timezone-aware (UTC)")

    destination = Path(destination)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "w+b") as raw,
            zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED, allowZip64=True) as zf,
        ):
            listed: list[dict[str, Any]] = []
            for item in files:
                sha, size = _write_entry(zf, item.name, item.source, exported_at)
                listed.append(
                    {
                        "name": item.name,
                        "sha256": sha,
                        "size": size,
                        "kind": item.kind,
                        "item_id": item.item_id,
                        "camera_id": item.camera_id,
                        "camera_name": item.camera_name,
                        "start": _iso(item.start),
                        "end": _iso(item.end),
                        "source_segments": [dict(s) for s in item.source_segments],
                        "redacted_from": item.redacted_from,
                    }
                )
            custody_bytes = canonical_json({"case": case, "entries": list(custody)})
            _write_bytes(zf, CUSTODY, custody_bytes, exported_at)
            extras: list[dict[str, Any]] = []
            helpers = [(README, _readme(case, signer, exported_at))]
            if verifier_html is not None:
                helpers.append((VERIFIER, verifier_html.encode()))
            for name, data in helpers:
                _write_bytes(zf, name, data, exported_at)
                extras.append({"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
            public_b64 = base64.b64encode(signer.public_key).decode()
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "case": case,
                "exported_by": exported_by,
                "exported_at": _iso(exported_at),
                "purpose": purpose,
                "files": listed,
                "custody": {
                    "name": CUSTODY,
                    "sha256": hashlib.sha256(custody_bytes).hexdigest(),
                    "size": len(custody_bytes),
                    "entries": len(custody),
                },
                "extras": extras,
                "signing_key": {
                    "algorithm": ALGORITHM,
                    "fingerprint": signer.fingerprint,
                    "public_key": public_b64,
                },
            }
            manifest_bytes = canonical_json(manifest)
            signature = {
                "algorithm": ALGORITHM,
                "key_fingerprint": signer.fingerprint,
                "public_key": public_b64,
                "signature": base64.b64encode(signer.sign(manifest_bytes)).decode(),
            }
            _write_bytes(zf, MANIFEST, manifest_bytes, exported_at)
            _write_bytes(zf, SIGNATURE, canonical_json(signature), exported_at)
        digest = hashlib.sha256()
        with tmp.open("rb") as done:
            while chunk := done.read(CHUNK):
                digest.update(chunk)
            os.fsync(done.fileno())
        tmp.replace(destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return PackageInfo(
        path=destination,
        size=destination.stat().st_size,
        sha256=digest.hexdigest(),
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        key_fingerprint=signer.fingerprint,
        files=len(listed),
        manifest=manifest,
    )
