"""API schemas of accounts and access."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import AwareDatetime, Field, model_validator

from safecity.core.schemas import InModel, OutModel

USERNAME = r"^[A-Za-z0-9_.-]{3,64}$"


class LoginIn(InModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class CodeIn(InModel):
    code: str = Field(pattern=r"^\s*\d{3}\s?\d{3}\s*$")


class LoginOut(OutModel):
    mfa_step: str | None
    csrf_token: str


class EnrolmentOut(OutModel):
    secret: str
    uri: str
    qr_svg: str


class ScopeIn(InModel):
    roles: list[str] = Field(default_factory=list, max_length=20)
    province_wide: bool = False
    district_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _one_scope(self) -> ScopeIn:
        if self.province_wide and self.district_ids:
            raise ValueError("give either province_wide or district_ids, not both")
        return self

    @property
    def scope(self) -> frozenset[uuid.UUID] | None:
        return None if self.province_wide else frozenset(self.district_ids)


class UserIn(ScopeIn):
    username: str = Field(pattern=USERNAME)
    full_name: str = Field(default="", max_length=120)
    password: str = Field(min_length=12, max_length=256)


class UserOut(OutModel):
    id: uuid.UUID
    username: str
    full_name: str
    is_active: bool
    province_wide: bool
    mfa_enabled: bool
    roles: list[str]
    district_ids: list[uuid.UUID]
    locked_until: dt.datetime | None
    created_at: dt.datetime
    must_change_password: bool = False


class MeOut(OutModel):
    id: uuid.UUID | None
    username: str
    permissions: list[str]
    province_wide: bool
    district_ids: list[uuid.UUID]
    via: str


class RolePermissionsIn(InModel):
    permissions: list[str] = Field(max_length=200)


class RoleOut(OutModel):
    name: str
    description: str
    permissions: list[str]


class PermissionOut(OutModel):
    name: str
    description: str
    sensitive: bool


class TokenIn(InModel):
    name: str = Field(min_length=1, max_length=80)
    permissions: list[str] = Field(min_length=1, max_length=100)
    expires_at: AwareDatetime | None = None


class TokenOut(OutModel):
    id: uuid.UUID
    name: str
    permissions: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenCreatedOut(TokenOut):
    secret: str


class PasswordChangeIn(InModel):
    """One's own password change: the current password, and the new one twice."""

    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)
    repeat_password: str = Field(max_length=256)


class PasswordResetOut(OutModel):
    """An administrator's reset: the temporary password is shown this once."""

    user: UserOut
    temporary_password: str
