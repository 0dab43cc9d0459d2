"""The languages the interface speaks: their codes, their own names, and which are written right to left."""

from __future__ import annotations

SOURCE = "en"  # the language the strings are written in (the msgids of the gettext catalogs)
# Each language by its own name, as a person who reads only that language looks for it.
LANGUAGES: dict[str, str] = {"en": "English", "ur": "اردو"}
RIGHT_TO_LEFT = frozenset({"ur"})


def supported(value: str | None) -> str | None:
    """`value` if it is a language the interface speaks, else None."""
    return value if value in LANGUAGES else None
