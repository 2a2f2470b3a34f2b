"""The export-job model: ``ExportJob`` and the instants of Gladly's API.

Shared by the HTTP resource (which parses jobs), the cursor, the sync and the
sensor, so it sits low: it imports nothing of the project but ``errors``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gladly_assets.errors import GladlyConfigError, GladlyResponseError, clip

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
    return datetime.fromisoformat(f"{day}T{clock}.{micros}{zone}").astimezone(UTC)


def format_instant(value: datetime) -> str:
    if value.tzinfo is None:
        raise GladlyConfigError(f"{value!r} has no time zone: pass an aware datetime (UTC)")
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


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
    def from_api(cls, obj: object) -> ExportJob:
        """Parse a job object; a job without ``id`` or a usable ``updatedAt`` fails loudly."""
        if not isinstance(obj, dict):
            raise GladlyResponseError(f"Gladly sent an export job that is not a JSON object: {clip(obj)}")
        job_id = obj.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise GladlyResponseError(f"Gladly sent an export job without an id: {clip(obj)}")

        def instant(value: object, field: str) -> datetime:
            try:
                return parse_instant(value)  # type: ignore[arg-type]
            except ValueError:
                raise GladlyResponseError(f"export job {job_id} has an unreadable {field}: {clip(value)}") from None

        updated_raw = obj.get("updatedAt")
        raw_parameters = obj.get("parameters")
        parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
        start, end = parameters.get("startAt"), parameters.get("endAt")
        files = obj.get("files")
        schedule_id = obj.get("scheduleId")
        return cls(
            id=job_id,
            status=str(obj.get("status") or ""),
            updated_at=instant(updated_raw, "updatedAt"),
            updated_at_raw=str(updated_raw),
            files=tuple(f for f in files if isinstance(f, str)) if isinstance(files, list) else (),
            window_start=None if start is None else instant(start, "parameters.startAt"),
            window_end=None if end is None else instant(end, "parameters.endAt"),
            schedule_id=schedule_id if isinstance(schedule_id, str) else None,
        )
