"""Pakistani identifiers as people type them and as they are stored: CNICs and mobile numbers.

One place for the rules, so a CNIC typed on a panic registration, an Excise extract, a person's record or
a search box is the same string everywhere.
"""

from __future__ import annotations

import re

from safecity.core.errors import InvalidInput

# 13 digits, dashes optional; the first digit is the province of issue (1 KP, 2 former FATA, 3 Punjab,
# 4 Sindh, 5 Balochistan, 6 ICT, 7 Gilgit-Baltistan), so 0, 8 and 9 there are typing errors.
_CNIC = re.compile(r"([1-7]\d{4})-?(\d{7})-?(\d)")
_MOBILE = re.compile(r"(?:\+92|0092|0)?(3\d{9})")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")

CNIC_HELP = "a CNIC is 13 digits, written 12345-1234567-1 (the first digit 1 to 7)"
PHONE_HELP = "give a Pakistani mobile number, such as 0300 1234567 or +92 300 1234567"


def cnic_digits(text: str) -> str:
    """A CNIC as its 13 digits; ValueError (saying what a CNIC looks like) when it is none."""
    match = _CNIC.fullmatch("".join(text.split()))
    if match is None:
        raise ValueError(CNIC_HELP)
    return "".join(match.groups())


def format_cnic(text: str) -> str:
    """A CNIC written NNNNN-NNNNNNN-N; ValueError when it is none."""
    digits = cnic_digits(text)
    return f"{digits[:5]}-{digits[5:12]}-{digits[12]}"


def is_cnic(text: str) -> bool:
    """Whether `text` is a CNIC (with or without its dashes)."""
    return _CNIC.fullmatch("".join(text.split())) is not None


def mobile(text: str) -> str:
    """A Pakistani mobile number as +923NNNNNNNNN; ValueError when it is none."""
    match = _MOBILE.fullmatch(_PHONE_PUNCTUATION.sub("", text))
    if match is None:
        raise ValueError(PHONE_HELP)
    return "+92" + match.group(1)


def normalise_phone(text: str) -> str:
    """`mobile` for a form or API field: InvalidInput (422 bad_phone) instead of ValueError."""
    try:
        return mobile(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_phone") from None


def normalise_cnic(text: str) -> str:
    """`cnic_digits` for a form or API field: InvalidInput (422 bad_cnic) instead of ValueError."""
    try:
        return cnic_digits(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_cnic") from None
