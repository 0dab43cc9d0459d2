"""Offline verification of an evidence package: every check, with a message that says exactly what fails.

Pure (no database, no network): the caller says which public keys it trusts. A package whose signature is
valid but made by a key outside that keyring fails ("forged key"): anyone can sign a manifest with a key
of their own, so only the deployment's published keys make a package genuine.

The ZIP is read from its central directory and each STORED entry's bytes straight from the file (as the
browser verifier does), hashed a mebibyte at a time, so a changed byte shows as a changed SHA-256 rather
than as zipfile's CRC error, and a large video never sits in memory.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import struct
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from safecity.evidence.package import (
    ALGORITHM,
    CHUNK,
    CUSTODY,
    FORMAT,
    MANIFEST,
    SIGNATURE,
    fingerprint,
    short,
)

NO_TRUSTED_KEYS = "no trusted keys: pass --keyring (the deployment's keys.json)"
BAD_SIGNATURE = "the signature does not match the manifest: the manifest was changed or the signature swapped"
SWAPPED_KEY = (
    "the signature was made by another key than the one the manifest names: the signature was swapped"
)
MAX_JSON = 64 << 20  # manifest, signature and custody are read whole; a bigger one is not a package


@dataclass(frozen=True)
class TrustedKey:
    """A public key this verifier trusts: the deployment's current or a retired signing key."""

    fingerprint: str
    public_key: bytes
    created_at: dt.datetime | None = None
    retired_at: dt.datetime | None = None


@dataclass(frozen=True)
class Check:
    """One check: what was checked (`subject`), whether it passed, and a sentence saying so."""

    subject: str
    ok: bool
    message: str


@dataclass
class Report:
    """Every check run on a package, in order; the package verifies when every one passed."""

    package: str
    checks: list[Check] = field(default_factory=list)
    case: dict[str, Any] | None = None
    exported_by: str | None = None
    exported_at: str | None = None
    key_fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, subject: str, ok: bool, message: str) -> None:
        self.checks.append(Check(subject, ok, message))

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (for `safecity evidence verify --json`)."""
        return {
            "package": self.package,
            "ok": self.ok,
            "case": self.case,
            "exported_by": self.exported_by,
            "exported_at": self.exported_at,
            "key_fingerprint": self.key_fingerprint,
            "checks": [{"subject": c.subject, "ok": c.ok, "message": c.message} for c in self.checks],
        }


class KeyringError(ValueError):
    """A keyring file that cannot be read as a list of public keys."""


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def load_keyring(data: bytes | str) -> list[TrustedKey]:
    """The keys in a keyring JSON file ([{fingerprint, public_key (base64), created_at, retired_at}], or
    {"keys": [...]}); KeyringError when it is not one or a fingerprint does not match its key."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyringError(f"the keyring is not JSON: {exc}") from None
    entries = document.get("keys") if isinstance(document, dict) else document
    if not isinstance(entries, list) or not entries:
        raise KeyringError("the keyring holds no keys (expected a list of {fingerprint, public_key})")
    keys: list[TrustedKey] = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("public_key"), str):
            raise KeyringError(f"keyring entry {number} has no public_key")
        try:
            raw = base64.b64decode(entry["public_key"], validate=True)
        except binascii.Error:
            raise KeyringError(f"keyring entry {number}: public_key is not base64") from None
        if len(raw) != 32:
            raise KeyringError(f"keyring entry {number}: public_key is not a 32-byte Ed25519 key")
        stated = entry.get("fingerprint")
        if stated is not None and stated != fingerprint(raw):
            raise KeyringError(f"keyring entry {number}: the fingerprint does not match the public key")
        keys.append(
            TrustedKey(
                fingerprint=fingerprint(raw),
                public_key=raw,
                created_at=_parse_time(entry.get("created_at")),
                retired_at=_parse_time(entry.get("retired_at")),
            )
        )
    return keys


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def keyring_document(keys: Iterable[TrustedKey]) -> list[dict[str, Any]]:
    """A keyring as the JSON list `load_keyring` reads (public keys only)."""
    return [
        {
            "fingerprint": k.fingerprint,
            "public_key": base64.b64encode(k.public_key).decode(),
            "created_at": _iso(k.created_at),
            "retired_at": _iso(k.retired_at),
        }
        for k in keys
    ]


# --- reading entries straight from the ZIP ----------------------------------------------------------

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


def _data_offset(fh: IO[bytes], info: zipfile.ZipInfo) -> int:
    fh.seek(info.header_offset)
    header = fh.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
        raise ValueError("its local header is missing or damaged")
    fields = _LOCAL_HEADER.unpack(header)
    return int(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])


def _entry_digest(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int]:
    """SHA-256 and size of an entry's content; STORED entries are read raw (no CRC check in the way)."""
    digest = hashlib.sha256()
    size = 0
    if info.compress_type == zipfile.ZIP_STORED:
        with path.open("rb") as fh:
            fh.seek(_data_offset(fh, info))
            left = info.compress_size
            while left > 0:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    raise ValueError("the package ends in the middle of it (truncated)")
                digest.update(chunk)
                size += len(chunk)
                left -= len(chunk)
        return digest.hexdigest(), size
    try:
        with archive.open(info) as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"its compressed data is damaged ({exc})") from None
    return digest.hexdigest(), size


def _read_small(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_JSON:
        raise ValueError(f"it is too large ({info.file_size} bytes)")
    if info.compress_type == zipfile.ZIP_STORED:
        with path.open("rb") as fh:
            fh.seek(_data_offset(fh, info))
            data = fh.read(info.compress_size)
        if len(data) != info.compress_size:
            raise ValueError("the package ends in the middle of it (truncated)")
        return data
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"its compressed data is damaged ({exc})") from None


def _json(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))


# --- the checks ---------------------------------------------------------------------------------


def _check_signature(
    report: Report,
    manifest_bytes: bytes,
    manifest: dict[str, Any],
    signature: Any,
    trusted: Sequence[TrustedKey],
) -> None:
    if not isinstance(signature, dict) or signature.get("algorithm") != ALGORITHM:
        report.add("signature", False, f"{SIGNATURE} is not an {ALGORITHM} signature")
        return
    try:
        public = base64.b64decode(str(signature.get("public_key", "")), validate=True)
        sig = base64.b64decode(str(signature.get("signature", "")), validate=True)
    except binascii.Error:
        report.add("signature", False, f"{SIGNATURE}: the public key or signature is not base64")
        return
    if len(public) != 32 or len(sig) != 64:
        report.add("signature", False, f"{SIGNATURE}: the public key or signature has the wrong length")
        return
    named = fingerprint(public)
    report.key_fingerprint = named
    if signature.get("key_fingerprint") != named:
        report.add("signature", False, f"{SIGNATURE}: the key fingerprint does not match its public key")
        return
    signing_key = manifest.get("signing_key") if isinstance(manifest, dict) else None
    if not isinstance(signing_key, dict) or signing_key.get("fingerprint") != named:
        report.add(
            "signature",
            False,
            SWAPPED_KEY,
        )
    else:
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(sig, manifest_bytes)
            report.add("signature", True, f"the {ALGORITHM} signature matches the manifest")
        except InvalidSignature:
            report.add(
                "signature",
                False,
                BAD_SIGNATURE,
            )
    if not trusted:
        report.add("key", False, NO_TRUSTED_KEYS)
        return
    known = {k.fingerprint: k for k in trusted}
    key = known.get(named)
    if key is None or key.public_key != public:
        report.add(
            "key",
            False,
            f"signed by a key that is not in the trusted keyring (fingerprint {short(named)}): a forged key, "
            "or a key of another deployment",
        )
        return
    exported_at = _parse_time(manifest.get("exported_at")) if isinstance(manifest, dict) else None
    if key.retired_at is not None and exported_at is not None and exported_at > key.retired_at:
        report.add(
            "key",
            False,
            f"signed by key {short(named)} with a date after the key was retired "
            f"({_iso(key.retired_at)}): a retired key signs nothing new",
        )
        return
    state = "retired, still valid for what it signed" if key.retired_at else "active"
    report.add("key", True, f"signed by a trusted key of this deployment: {short(named)} ({state})")


def _check_listed(
    report: Report,
    path: Path,
    archive: zipfile.ZipFile,
    entries: dict[str, zipfile.ZipInfo],
    listed: dict[str, Any],
    what: str,
) -> None:
    name = str(listed.get("name", ""))
    info = entries.get(name)
    if info is None:
        report.add(name, False, f"{name}: listed in the manifest but missing from the package ({what})")
        return
    try:
        sha, size = _entry_digest(path, archive, info)
    except ValueError as exc:
        report.add(name, False, f"{name}: cannot be read: {exc}")
        return
    problems = []
    if sha != listed.get("sha256"):
        problems.append("SHA-256 differs")
    if size != listed.get("size"):
        problems.append(f"size differs ({size} bytes, the manifest says {listed.get('size')})")
    if problems:
        report.add(name, False, f"{name}: {'; '.join(problems)}: changed after export")
    else:
        report.add(name, True, f"{name}: SHA-256 and size match ({size} bytes)")


def verify(package: Path, trusted: Sequence[TrustedKey]) -> Report:
    """Check a package offline: the ZIP, the manifest, the signature, that the signing key is trusted,
    every listed file's SHA-256 and size, the custody log, and that no file was added or removed.

    Args:
        package: the ZIP to check.
        trusted: the public keys to trust (the deployment's keyring); none trusted means the key check fails.

    Returns:
        A Report with one Check per thing checked; `report.ok` when all passed.
    """
    package = Path(package)
    report = Report(package=str(package))
    try:
        archive = zipfile.ZipFile(package)
    except FileNotFoundError:
        report.add("package", False, f"{package}: no such file")
        return report
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        report.add("package", False, f"{package.name} is not a ZIP file (or it is damaged): {exc}")
        return report
    with archive:
        infos = archive.infolist()
        counts = Counter(i.filename for i in infos)
        twice = sorted(n for n, c in counts.items() if c > 1)
        entries = {i.filename: i for i in infos if not i.is_dir()}
        report.add("package", True, f"{package.name} is a ZIP file with {_count(len(entries), 'file')}")
        for name in twice:
            report.add(
                name, False, f"{name}: appears {counts[name]} times in the package (one was slipped in)"
            )

        if MANIFEST not in entries:
            report.add(MANIFEST, False, f"{MANIFEST} is missing: this is not an evidence package")
            return report
        try:
            manifest_bytes = _read_small(package, archive, entries[MANIFEST])
            manifest = _json(manifest_bytes)
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ValueError(f"its format is not {FORMAT}")
            if not isinstance(manifest.get("files"), list):
                raise ValueError("it lists no files")
        except (ValueError, UnicodeDecodeError) as exc:
            report.add(MANIFEST, False, f"{MANIFEST} cannot be read: {exc}")
            return report
        report.add(MANIFEST, True, f"{MANIFEST} lists {_count(len(manifest['files']), 'file')}")
        report.case = manifest.get("case") if isinstance(manifest.get("case"), dict) else None
        report.exported_by = str(manifest.get("exported_by"))
        report.exported_at = str(manifest.get("exported_at"))

        if SIGNATURE not in entries:
            report.add("signature", False, f"{SIGNATURE} is missing: the package is not signed")
        else:
            try:
                signature = _json(_read_small(package, archive, entries[SIGNATURE]))
            except (ValueError, UnicodeDecodeError) as exc:
                report.add("signature", False, f"{SIGNATURE} cannot be read: {exc}")
            else:
                _check_signature(report, manifest_bytes, manifest, signature, trusted)
        if not trusted and not any(c.subject == "key" for c in report.checks):
            report.add("key", False, NO_TRUSTED_KEYS)

        expected: set[str] = {MANIFEST, SIGNATURE}
        for listed in manifest["files"]:
            if isinstance(listed, dict):
                expected.add(str(listed.get("name")))
                _check_listed(report, package, archive, entries, listed, "removed after export")
        custody = manifest.get("custody")
        if isinstance(custody, dict) and custody.get("name") == CUSTODY:
            expected.add(CUSTODY)
            _check_listed(report, package, archive, entries, custody, "the custody log was removed")
        else:
            report.add(CUSTODY, False, "the manifest does not list the custody log")
        for extra in manifest.get("extras") or []:
            if isinstance(extra, dict):
                expected.add(str(extra.get("name")))
                _check_listed(report, package, archive, entries, extra, "removed after export")
        for name in sorted(set(entries) - expected):
            report.add(
                name, False, f"{name}: in the package but not listed in the manifest (added after export)"
            )
    return report


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
