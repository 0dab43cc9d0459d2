"""Base classes of every API schema: strict in, plain out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class InModel(BaseModel):
    """Input: unknown fields are refused, text is trimmed, and strings are not coerced to numbers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=False)


class OutModel(BaseModel):
    """Output, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)
