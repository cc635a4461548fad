"""The platform's answers as typed errors, one base (`PlatformError`, a `RecbotError`), as httpx draws its own:
what a refusal means decides what recbot does next (docs/architecture.md, "Errors")."""

from __future__ import annotations

from bot.errors import RecbotError


class PlatformError(RecbotError):
    """The platform refused or could not do what was asked; `message` is the platform's own words."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(PlatformError):
    status = 404


class Conflict(PlatformError):
    """Wrong state for the action, or a recording already active."""

    status = 409


class Unauthorized(PlatformError):
    status = 401


class Disconnected(Unauthorized):
    """The workspace's own account that holds this meeting was disconnected (`/rec disconnect`)."""


class InvalidRequest(PlatformError):
    status = 400


class RateLimited(PlatformError):
    status = 429

    def __init__(self, message: str, retry_after: float = 1.0):
        super().__init__(message, 429)
        self.retry_after = retry_after


class PlatformUnavailable(PlatformError):
    """5xx, timeout or connection failure: the platform could not answer."""
