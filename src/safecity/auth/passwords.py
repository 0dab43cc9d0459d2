"""Password hashing (argon2id) and generation."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from safecity.core.errors import InvalidInput

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_LENGTH = 12
MAX_LENGTH = 256  # what the login form takes
_ALPHABET = string.ascii_letters + string.digits
# A real hash of a random password: verifying against it costs the same as against a user's hash,
# so an unknown username takes as long to refuse as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Hash a password with argon2id after checking it is long enough."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters", code="weak_password")
    return _hasher.hash(password)


def check_policy(password: str, *, username: str, field: str = "new_password") -> None:
    """Refuse a new password that is too short or too long, or that contains the username."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"a password needs at least {MIN_LENGTH} characters", code="weak_password", field=field
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            f"a password has at most {MAX_LENGTH} characters", code="weak_password", field=field
        )
    if username and username.lower() in password.lower():
        raise InvalidInput("a password must not contain the username", code="weak_password", field=field)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; a missing hash is checked against a dummy to keep timing flat."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def generate_password(length: int = 20) -> str:
    """A random password for a new account, shown once."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
