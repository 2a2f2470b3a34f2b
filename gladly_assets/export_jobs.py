"""The export-job model: ``ExportJob`` and the instants of Gladly's API.

Shared by the HTTP resource (which parses jobs), the cursor, the sync and the
sensor, so it sits low: it imports nothing of the project but ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gladly_assets.errors import GladlyConfigError, GladlyMalformedJob, GladlyResponseError, shown

_INSTANT = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:[.,](\d+))?([Zz]|[+-]\d{2}:?\d{2})")


def parse_instant(value: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime, whatever its number of fraction
    digits (Gladly sends 3 to 9): digits past the microsecond are truncated."""
    match = _INSTANT.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    day, clock, fraction, zone = match.groups()
    micros = (fraction or "")[:6].ljust(6, "0")
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{day}T{clock}.{micros}{zone}").astimezone(UTC)
    except (ValueError, OverflowError):  # month 13, year 0, or 9999-12-31T23:00-05:00 past datetime.max
        raise ValueError(f"not a representable RFC 3339 timestamp: {value!r}") from None


def format_instant(value: datetime) -> str:
    if value.tzinfo is None:
        raise GladlyConfigError(f"{value!r} has no time zone: pass an aware datetime (UTC)")
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Gladly's job ids are short URL-safe tokens; anything longer than a file name may be is refused.
MAX_JOB_ID_BYTES = 255
# Names a file of a job may have: anything else cannot be a table's file and is dropped.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class ExportJob:
    """One Gladly export job, as much of it as this project uses (unknown fields are ignored)."""

    id: str
    status: str
    updated_at: datetime
    updated_at_raw: str
    files: tuple[str, ...]
    window_start: datetime | None
    window_end: datetime | None
    schedule_id: str | None

    @classmethod
    def from_api(cls, obj: object, redact: Callable[[str], str] = _same) -> ExportJob:
        """Parse a job object from Gladly.

        A job without an id raises ``GladlyResponseError``; a job that has one but cannot be
        used (an id that is not printable text of at most MAX_JOB_ID_BYTES, holds a path
        separator or is "." or ".."; an unreadable or out-of-range date; a non-text status or
        schedule; ``files`` that is not a list; a field echoing the credentials) raises
        ``GladlyMalformedJob``. ``redact`` is applied to everything a message shows, before
        it is cut short, and a job whose text fields it would change is refused.
        """

        def show(value: object) -> str:
            return shown(value, redact)

        if not isinstance(obj, dict):
            raise GladlyMalformedJob(f"Gladly sent an export job that is not a JSON object: {show(obj)}")
        job_id = obj.get("id")
        if job_id is None or job_id == "":
            raise GladlyResponseError(f"Gladly sent an export job without an id: {show(obj)}")
        name = show(job_id)

        def malformed(problem: str) -> GladlyMalformedJob:
            return GladlyMalformedJob(f"export job {name} {problem}")

        if not isinstance(job_id, str):
            raise malformed(f"has an id of type {type(job_id).__name__}, not text")
        if len(job_id.encode("utf-8", "surrogatepass")) > MAX_JOB_ID_BYTES:
            raise malformed(f"has an id longer than {MAX_JOB_ID_BYTES} bytes")
        if not job_id.isprintable() or job_id.strip() != job_id or "/" in job_id or "\\" in job_id:
            raise malformed("has an id with control characters, surrounding spaces or a path separator")
        if job_id in (".", ".."):
            raise malformed("has an id that is a relative path")

        def instant(value: object, field: str) -> datetime:
            try:
                return parse_instant(value)  # type: ignore[arg-type]
            except ValueError:
                raise malformed(f"has an unreadable {field}: {show(value)}") from None

        def text(field: str) -> str | None:
            value = obj.get(field)
            if value is not None and not isinstance(value, str):
                raise malformed(f"has a {field} of type {type(value).__name__}, not text")
            return value

        status, schedule_id, updated_raw = text("status"), text("scheduleId"), obj.get("updatedAt")
        raw_parameters = obj.get("parameters")
        parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
        start, end = parameters.get("startAt"), parameters.get("endAt")
        files = obj.get("files", [])
        if not isinstance(files, list):
            raise malformed(f"has files of type {type(files).__name__}, not a list")
        job = cls(
            id=job_id,
            status=status or "",
            updated_at=instant(updated_raw, "updatedAt"),
            updated_at_raw=str(updated_raw),
            files=tuple(f for f in files if isinstance(f, str) and _FILE_NAME.fullmatch(f)),
            window_start=None if start is None else instant(start, "parameters.startAt"),
            window_end=None if end is None else instant(end, "parameters.endAt"),
            schedule_id=schedule_id,
        )
        kept = (job.id, job.status, job.updated_at_raw, job.schedule_id or "", *job.files)
        if any(redact(value) != value for value in kept):
            raise malformed("echoes the API credentials in its fields")
        return job
