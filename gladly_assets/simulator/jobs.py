"""Export jobs, the simulator's clock, and the time formats of the API."""

from __future__ import annotations

import random
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


FRACTION_DIGITS = range(2, 10)  # Gladly's instants carry 2 to 9 fraction digits


def truncate(instant: datetime, fraction_digits: int) -> datetime:
    """The instant an RFC 3339 text with this many fraction digits can express (to the microsecond)."""
    drop = 10 ** max(0, 6 - fraction_digits)
    return instant.replace(microsecond=instant.microsecond // drop * drop)


def format_instant(instant: datetime, fraction_digits: int, nanos: int | None = None) -> str:
    """RFC 3339 in UTC with 2 to 9 fraction digits, as Gladly writes ``updatedAt`` and windows.

    Python has no nanoseconds, so digits past the sixth are ``nanos`` or else
    derived from the instant itself: the same instant always renders the same
    string, which keeps duplicate ``updatedAt`` values exactly equal.
    """
    if fraction_digits not in FRACTION_DIGITS:
        raise ValueError("fraction_digits must be between 2 and 9")
    instant = as_utc(instant)
    if nanos is None:
        nanos = zlib.crc32(instant.isoformat().encode()) % 1000
    fraction = f"{instant.microsecond:06d}{nanos:03d}"[:fraction_digits]
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday at midnight: slot numbers count periods from it
WINDOW_MODES = ("contiguous", "overlapping", "gapped")


@dataclass(frozen=True)
class Schedule:
    """When an export schedule's windows start and end, and when their jobs complete.

    Windows start at the schedule's own time of day (``anchor`` past midnight
    or the hour, with a sub-second fraction), not on the hour, and run to the
    next period's same instant. Slot ``k`` is the ``k``-th period from a fixed
    epoch. ``windows`` makes every third window start ``shift`` early
    ("overlapping") or late ("gapped") instead of where the previous one ended.
    """

    period: timedelta
    anchor: timedelta
    fraction_digits: int
    lag_minutes: tuple[float, float]  # a job completes this long after its window ends
    seed: int
    windows: str = "contiguous"

    def __post_init__(self) -> None:
        if self.windows not in WINDOW_MODES:
            raise ValueError(f"windows must be one of {WINDOW_MODES}, not {self.windows!r}")
        if not timedelta(0) <= self.anchor < self.period:
            raise ValueError("the window anchor must lie within one period")

    @classmethod
    def for_frequency(
        cls, frequency: str, seed: int, anchor: timedelta | None = None, windows: str = "contiguous"
    ) -> Schedule:
        period = PERIODS[frequency]
        rng = random.Random(f"{seed}:schedule:{frequency}")
        digits = rng.choice((2, 3, 6, 7, 8, 8, 9, 9))
        if anchor is None:
            # Daily exports run during the UTC night; hourly ones at a fixed minute of the hour.
            seconds = rng.uniform(1800, 4.5 * 3600) if period >= timedelta(days=1) else rng.uniform(0, 3600)
            anchor = timedelta(seconds=seconds)
        anchor = timedelta(microseconds=int(anchor / timedelta(microseconds=1)))
        anchor -= timedelta(microseconds=anchor.microseconds % 10 ** max(0, 6 - digits))
        # Daily jobs finish minutes after their window; hourly ones appear about two hours after it.
        lag = (4.0, 25.0) if period >= timedelta(days=1) else (112.0, 135.0)
        return cls(period, anchor, digits, lag, seed, windows)

    def slot_start(self, slot: int) -> datetime:
        """Where slot ``slot`` begins on a contiguous schedule (conversations belong to slots)."""
        return _EPOCH + self.anchor + slot * self.period

    def slot_of(self, instant: datetime) -> int:
        """The slot whose contiguous window holds ``instant``."""
        return (as_utc(instant) - _EPOCH - self.anchor) // self.period

    def window(self, slot: int) -> tuple[datetime, datetime]:
        start, end = self.slot_start(slot), self.slot_start(slot + 1)
        if self.windows != "contiguous" and slot % 3 == 0:
            shift = timedelta(minutes=round(self.period / timedelta(minutes=1) / 12))
            start += -shift if self.windows == "overlapping" else shift
        return start, end

    def completion_time(self, slot: int) -> datetime:
        """When the job of that slot completes (stable per slot)."""
        low, high = self.lag_minutes
        minutes = random.Random(f"{self.seed}:done:{slot}").uniform(low, high)
        return self.slot_start(slot + 1) + timedelta(minutes=minutes)

    def last_completed_slot(self, instant: datetime) -> int:
        """The newest slot whose job has completed by ``instant``."""
        slot = self.slot_of(instant)
        while self.completion_time(slot) > instant:
            slot -= 1
        return slot

    def format(self, instant: datetime) -> str:
        """A window bound or ``nextStartAt`` as Gladly writes it (the schedule's fraction digits)."""
        # Every window bound shares the anchor's sub-second part, nanoseconds included.
        return format_instant(instant, self.fraction_digits, nanos=self.seed % 997 % 1000)

    def next_start(self, instant: datetime) -> datetime:
        return self.slot_start(self.slot_of(instant) + 1)


def parse_instant(text: str) -> datetime:
    """ISO 8601 as clients send it (``Z`` or offsets, 0-9 fraction digits, or a bare date)."""
    value = datetime.fromisoformat(text.strip())  # 3.11+: accepts Z and nanosecond fractions
    return as_utc(value)


@dataclass
class Job:
    id: str
    schedule_id: str | None  # None for a job no schedule made (regenerated by Gladly support)
    status: str
    updated_at: datetime
    updated_at_text: str
    start_at: datetime
    end_at: datetime
    window_text: tuple[str, str]  # startAt and endAt as the API writes them
    ordinal: int  # creation order: decides the state of customers, agents and topics
    slot: int  # the schedule period its window covers
    files: tuple[str, ...] = ()
    spec: JobSpec | None = None  # how to generate the files; None until COMPLETED
    mutate: Mutate | None = None  # the complete_job test hook
    deleted: bool = False  # DELETE'd, or expired by a fault
    directory: Path | None = None  # where its files are, once generated
    generation_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_api(self) -> dict[str, Any]:
        job: dict[str, Any] = {"id": self.id}
        if self.schedule_id is not None:
            job["scheduleId"] = self.schedule_id
        job |= {
            "status": self.status,
            "updatedAt": self.updated_at_text,
            "parameters": {"type": "CONVERSATIONS", "startAt": self.window_text[0], "endAt": self.window_text[1]},
            "files": list(self.files),
        }
        return job

    def visible(self, now: datetime) -> bool:
        """Listed and downloadable: not deleted, and inside the 14-day retention."""
        return not self.deleted and self.updated_at >= now - RETENTION
