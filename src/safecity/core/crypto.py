"""Secrets at rest: authenticated encryption with keys derived from the configured secret key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"v1"


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A 256-bit key per purpose (HKDF-SHA256), so one leaked purpose key opens nothing else."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"safecity:" + purpose.encode())
    return hkdf.derive(secret_key.encode())


class SecretBox:
    """AES-256-GCM under a key derived per purpose."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        self._aead = AESGCM(derive_key(secret_key, purpose))
        self._purpose = purpose.encode()

    def encrypt(self, plaintext: str) -> str:
        """Encrypt text; the result is printable and safe to store."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), self._purpose)
        return (_VERSION + b"." + base64.urlsafe_b64encode(nonce + sealed)).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt what `encrypt` produced; raises ValueError if it was altered or sealed by another key."""
        version, _, body = token.encode().partition(b".")
        if version != _VERSION:
            raise ValueError("unknown secret format")
        raw = base64.urlsafe_b64decode(body)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], self._purpose).decode()
        except InvalidTag as exc:
            raise ValueError("secret cannot be decrypted with the configured key") from exc

    def encrypt_bytes(self, plaintext: bytes) -> bytes:
        """Encrypt bytes (a picture, an embedding): version, nonce and sealed data, for a binary column."""
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, self._purpose)

    def decrypt_bytes(self, sealed: bytes) -> bytes:
        """Decrypt what `encrypt_bytes` produced; ValueError if it was altered or sealed by another key."""
        if sealed[: len(_VERSION)] != _VERSION or len(sealed) < len(_VERSION) + 12 + 16:
            raise ValueError("unknown secret format")
        body = sealed[len(_VERSION) :]
        try:
            return self._aead.decrypt(body[:12], body[12:], self._purpose)
        except InvalidTag as exc:
            raise ValueError("secret cannot be decrypted with the configured key") from exc


def token_digest(token: str) -> str:
    """SHA-256 of a bearer secret (session or API token); only the digest is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


SIGNATURE_PREFIX = "sha256="
SignatureProblem = Literal["unsigned", "bad_signature", "stale_timestamp"]


def sign_body(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of "<timestamp>.<body>" under a shared secret (a signed callback)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def check_signed(
    *,
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    max_skew_s: float,
    now: float | None = None,
) -> SignatureProblem | None:
    """What is wrong with a signed callback (constant-time), or None when it is genuine and fresh.

    `timestamp` is Unix seconds; one further than `max_skew_s` from now is stale (a replay of an old one).
    """
    if not signature or not timestamp:
        return "unsigned"
    if not hmac.compare_digest(signature.strip().encode(), sign_body(secret, timestamp, body).encode()):
        return "bad_signature"
    try:
        sent = int(timestamp)
    except ValueError:
        return "stale_timestamp"
    current = time.time() if now is None else now
    return "stale_timestamp" if abs(current - sent) > max_skew_s else None
