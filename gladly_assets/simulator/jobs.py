"""Export jobs, the simulator's clock, and the time formats of the API."""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .generator import JobSpec, Mutate

RETENTION = timedelta(days=14)
PERIODS = {"DAILY": timedelta(days=1), "HOURLY": timedelta(hours=1)}
STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")


class Clock:
    """Real UTC time, or a virtual instant that only ``advance`` moves."""

    def __init__(self, frozen_at: datetime | None) -> None:
        self._frozen = as_utc(frozen_at) if frozen_at is not None else None
        self._lock = threading.Lock()

    @property
    def virtual(self) -> bool:
        return self._frozen is not None

    def now(self) -> datetime:
        with self._lock:
            return self._frozen if self._frozen is not None else datetime.now(UTC)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            if self._frozen is None:
                raise RuntimeError("the simulator follows real time; pass now=... to get a clock you can advance")
            self._frozen += delta
            return self._frozen


def as_utc(instant: datetime) -> datetime:
    """Aware UTC datetime; a naive one is taken to be UTC already."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def floor_period(instant: datetime, period: timedelta) -> datetime:
    instant = as_utc(instant)
    if period >= timedelta(days=1):
        return instant.replace(hour=0, minute=0, second=0, microsecond=0)
    return instant.replace(minute=0, second=0, microsecond=0)


def format_window(instant: datetime) -> str:
    """Window bounds, as in Gladly's example: ``2026-11-19T00:00:00.000Z``."""
    return as_utc(instant).strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def truncate(instant: datetime, fraction_digits: int) -> datetime:
    """The instant an ``updatedAt`` with this many fraction digits can express."""
    if fraction_digits == 3:
        return instant.replace(microsecond=instant.microsecond // 1000 * 1000)
    return instant


def format_updated_at(instant: datetime, fraction_digits: int) -> str:
    """``updatedAt`` with 3, 6 or 9 fraction digits (Gladly sends all of these).

    Python has no nanoseconds, so the last three of nine digits are derived from
    the instant itself: the same instant always renders the same string, which
    keeps duplicate ``updatedAt`` values exactly duplicate.
    """
    if fraction_digits not in (3, 6, 9):
        raise ValueError("fraction_digits must be 3, 6 or 9")
    micros = instant.microsecond
    if fraction_digits == 3:
        fraction = f"{micros // 1000:03d}"
    elif fraction_digits == 6:
        fraction = f"{micros:06d}"
    else:
        nanos = zlib.crc32(instant.isoformat().encode()) % 1000
        fraction = f"{micros:06d}{nanos:03d}"
    return as_utc(instant).strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def parse_instant(text: str) -> datetime:
    """ISO 8601 as clients send it (``Z`` or offsets, 0-9 fraction digits, or a bare date)."""
    value = datetime.fromisoformat(text.strip())  # 3.11+: accepts Z and nanosecond fractions
    return as_utc(value)


@dataclass
class Job:
    id: str
    schedule_id: str
    status: str
    updated_at: datetime
    updated_at_text: str
    start_at: datetime
    end_at: datetime
    ordinal: int  # creation order: decides the state of customers, agents and topics
    files: tuple[str, ...] = ()
    spec: JobSpec | None = None  # how to generate the files; None until COMPLETED
    mutate: Mutate | None = None  # the complete_job test hook
    deleted: bool = False  # DELETE'd, or expired by a fault
    directory: Path | None = None  # where its files are, once generated
    generation_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scheduleId": self.schedule_id,
            "status": self.status,
            "updatedAt": self.updated_at_text,
            "parameters": {
                "type": "CONVERSATIONS",
                "startAt": format_window(self.start_at),
                "endAt": format_window(self.end_at),
            },
            "files": list(self.files),
        }

    def visible(self, now: datetime) -> bool:
        """Listed and downloadable: not deleted, and inside the 14-day retention."""
        return not self.deleted and self.updated_at >= now - RETENTION
