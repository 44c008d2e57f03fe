"""Domain errors. Each carries a stable code and a plain message; api/problems.py alone maps the
families below (NotFound, Forbidden, Conflict, Invalid, TooLarge, UnsupportedType, Unauthenticated,
Throttled, Unavailable) to HTTP statuses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    code = "conflict"


class Invalid(DomainError):
    code = "invalid"


class ReasonRequired(Invalid):
    """A decision that must say why (a rejection, an objection, a deduction) was sent without a reason."""

    code = "reason_required"


class TooLarge(DomainError):
    code = "too_large"


class UnsupportedType(DomainError):
    code = "unsupported_type"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Throttled(DomainError):
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, **detail: Any) -> None:
        super().__init__(message, retry_after=retry_after, **detail)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A service outside Shanzhi that this request needs (the SMS provider) failed; nothing was changed, and trying
    again later may work."""

    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 60, **detail: Any) -> None:
        super().__init__(message, retry_after=retry_after, **detail)
        self.retry_after = retry_after
