"""Errors that operations raise; views and the API turn them into pages and JSON."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request that cannot be carried out; nothing has been changed (the caller rolls back)."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: Any,
        *,
        code: str | None = None,
        fields: dict[str, list[Any]] | None = None,
    ) -> None:
        super().__init__(str(message))
        self.message = message  # usually a lazy translation: rendered in the user's language
        self.fields = fields or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"

    def __init__(self, message: Any, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
