"""Base classes of every API schema: strict in, plain out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def has_nul(value: object) -> bool:
    """Whether a NUL character hides in `value` (text, or the keys and items of JSON containers)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class InModel(BaseModel):
    """Input: unknown fields are refused, text is trimmed, and strings are not coerced to numbers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL in text (SQLite can): refused alike on both, never a 500.
        if has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class OutModel(BaseModel):
    """Output, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)
