"""The errors the Gladly resource raises: one home, one base class.

Every message is written for the person who has to fix the problem and never
contains the API token (the resource redacts it before building a message).
"""

from __future__ import annotations


class GladlyError(Exception):
    """Base class of every error raised by the Gladly resource."""


class GladlyConfigError(GladlyError, ValueError):
    """The organization, domain or another setting is not acceptable; raised before any request."""


class GladlyAuthError(GladlyError):
    """HTTP 401: Gladly rejected the agent email / API token pair."""


class GladlyPermissionError(GladlyError):
    """HTTP 403: the agent lacks the API User permission."""


class GladlyNotFound(GladlyError):
    """HTTP 404."""


class GladlyOrganizationNotFound(GladlyNotFound):
    """HTTP 404 on an organization-wide endpoint: no such organization at this host."""


class GladlyJobExpired(GladlyNotFound):
    """HTTP 404 on a job or one of its files: it expired (14 days) or never existed."""


class GladlyResponseError(GladlyError):
    """Gladly answered something this client cannot use: an unexpected status (400, ...) or a malformed body."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class GladlyRetriesExhausted(GladlyError):
    """A retryable failure (429, 5xx, timeout, reset) persisted through every attempt."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class GladlyConnectionError(GladlyRetriesExhausted):
    """The last of the attempts failed at the network level: refused, reset, timed out."""


def clip(value: object, limit: int = 200) -> str:
    """``value`` as text for an error message, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ReportFormatError(GladlyResponseError):
    """A report body that is not the CSV its metric set promises: HTML or JSON, an error text,
    a declared column missing, broken quoting."""


class ReportTruncatedError(GladlyError):
    """A report window is at Gladly's row cap and cannot be split further: rows may be missing."""
