"""The one domain error type, mapped to a 4xx by the API and to a message by the UI."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; ``errors`` maps field paths to messages."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}

    @classmethod
    def for_field(cls, field: str, message: str) -> DomainError:
        """An error about one field, named by its dotted path."""
        return cls(f"{field}: {message}", errors={field: [message]})


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class NotAllowed(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class TooLarge(DomainError):
    status_code = 413
    code = "too_large"


class Locked(DomainError):
    """Too many failed password attempts; ``retry_after`` is the wait in seconds."""

    status_code = 429
    code = "locked"

    def __init__(
        self, message: str, *, retry_after: int, errors: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message, errors=errors)
        self.retry_after = retry_after
