"""The errors the Gladly resource raises: one home, one base class.

Every message is written for the person who has to fix the problem and never
contains the API token (the resource redacts what a server sent before it builds
a message, and only then cuts it short).
"""

from __future__ import annotations

import json
from collections.abc import Callable


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


class GladlyMalformedJob(GladlyResponseError):
    """One export job in a list cannot be used (a hostile or broken id, an unreadable date, ...).
    ``list_jobs`` skips it with a warning naming it; the rest of the list is used."""


class GladlyNotJsonl(GladlyResponseError):
    """A file came back as something other than a JSONL export: a ``Content-Type`` outside the
    JSON family (a proxy's ``text/html`` page), a body that starts like HTML or XML, a JSON array,
    or a JSON error object. Nothing is passed to the loader: the table's sync fails and the job is
    tried again on the next run."""


class GladlyEchoedCredentials(GladlyResponseError):
    """A file body holds the API token or its Basic-auth form: something between us and Gladly
    echoes the request. The file is not kept, so the token cannot reach the warehouse or a preview."""


class GladlyLimitExceeded(GladlyResponseError):
    """An answer went past one of the resource's limits (a file's size or compression ratio, the
    job list's size or job count). ``setting`` names the resource field that sets the limit."""

    def __init__(self, message: str, setting: str, status_code: int | None = None) -> None:
        super().__init__(message, status_code)
        self.setting = setting


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


def escape(text: str) -> str:
    """``text`` with newlines, NUL and other unprintable characters written as escapes, so a
    value from a server cannot forge or split a log line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _unchanged(text: str) -> str:
    return text


def shown(value: object, redact: Callable[[str], str] = _unchanged, limit: int = 200) -> str:
    """A value a server sent, for a message: redacted, then escaped, then cut to ``limit``.

    Only the head of a long value is looked at (16 times ``limit``), so a hostile megabyte
    costs no more than a short one; ``redact`` must then also catch a secret cut short at
    the end of that head (the resource's redactor removes any long enough piece of it)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = repr(type(value))
    return clip(escape(redact(text[: 16 * limit])), limit)


class ReportFormatError(GladlyResponseError):
    """A report body that is not the CSV its metric set promises: HTML or JSON, an error text,
    a declared column missing, broken quoting."""


class ReportTruncatedError(GladlyError):
    """A report window is at Gladly's row cap and cannot be split further: rows may be missing."""
