"""Who is acting: the user (or machine token) behind a request, with permissions and district scope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import InstrumentedAttribute

from safecity.core.errors import PermissionDenied


@dataclass(frozen=True)
class Principal:
    """The acting user; service functions take it and filter every query by its scope."""

    user_id: uuid.UUID | None
    username: str
    permissions: frozenset[str]
    district_ids: frozenset[uuid.UUID] | None  # None means the whole province
    client_addr: str | None = None
    via: Literal["session", "token", "system"] = "session"

    @property
    def province_wide(self) -> bool:
        return self.district_ids is None

    def can(self, permission: str) -> bool:
        """Whether this principal holds `permission`."""
        return permission in self.permissions

    def require(self, permission: str) -> None:
        """Raise PermissionDenied unless this principal holds `permission`."""
        if permission not in self.permissions:
            raise PermissionDenied(f"this needs the '{permission}' permission")

    def sees_district(self, district_id: uuid.UUID | None) -> bool:
        """Whether a record of `district_id` is within scope (records of no district: province-wide only)."""
        if self.district_ids is None:
            return True
        return district_id is not None and district_id in self.district_ids

    def district_filter(
        self, column: InstrumentedAttribute[uuid.UUID] | InstrumentedAttribute[uuid.UUID | None]
    ) -> ColumnElement[bool]:
        """A WHERE clause that keeps only rows whose `column` is within scope."""
        if self.district_ids is None:
            return true()
        return column.in_(self.district_ids)


SYSTEM = Principal(user_id=None, username="system", permissions=frozenset(), district_ids=None, via="system")
