"""Known factory-default camera credentials, which the registry refuses."""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple


class DefaultCredential(NamedTuple):
    """One published factory default: the vendor that ships it, the username and the password."""

    vendor: str
    username: str
    password: str


def _load() -> tuple[DefaultCredential, ...]:
    text = resources.files("safecity.cameras").joinpath("default_passwords.txt").read_text(encoding="utf-8")
    found: list[DefaultCredential] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # Split on the first two commas only: a password may itself contain a comma.
        parts = line.split(",", 2)
        if len(parts) != 3:
            raise ValueError(f"default_passwords.txt line {number}: expected vendor,username,password")
        vendor, username, password = parts
        found.append(DefaultCredential(vendor.strip(), username.strip(), password))
    return tuple(found)


KNOWN_DEFAULTS: tuple[DefaultCredential, ...] = _load()

_DEFAULT_SET = frozenset((c.username.casefold(), c.password) for c in KNOWN_DEFAULTS)


def is_default_password(username: str | None, password: str | None) -> bool:
    """True when this username/password pair is a known factory default (username case-insensitive)."""
    return ((username or "").strip().casefold(), password or "") in _DEFAULT_SET
