"""User-facing errors: a stable code, a clear message and an HTTP status."""

from __future__ import annotations


class SafecityError(Exception):
    """Base of every error shown to a user; `code` is stable and documented, `message` is for people."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(SafecityError):
    """Bad input; `field` names the form field it is about, so a form can show the message next to it."""

    status = 422
    code = "invalid_input"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class NotAuthenticated(SafecityError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(SafecityError):
    status = 403
    code = "permission_denied"


class NotFound(SafecityError):
    status = 404
    code = "not_found"


class Conflict(SafecityError):
    status = 409
    code = "conflict"


class Locked(SafecityError):
    status = 423
    code = "account_locked"


class TooManyRequests(SafecityError):
    """Refused for a while; `retry_after` (seconds) becomes the Retry-After header."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PasswordChangeRequired(SafecityError):
    """The account's password was reset: nothing else is allowed until its owner sets a new one."""

    status = 403
    code = "password_change_required"
