"""What a Gladly report stream is, as data: its columns, key, time column and windows.

Shared by the stream registry (``reports/streams.py``), the HTTP resource (which
sends a ``ReportWindow``), the CSV parser and the warehouse, so it sits low: of the
project it imports only what every declared table shares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar, Literal

from gladly_assets.declared_table import DeclaredTable
from gladly_assets.tables import SCHEMA

# The DuckDB type of each kind of report column (the contract's type names).
ColumnKind = Literal["instant", "date", "seconds", "count", "decimal", "boolean", "text"]
DUCKDB_TYPES: dict[str, str] = {
    "instant": "TIMESTAMPTZ",
    "date": "DATE",
    "seconds": "DOUBLE",
    "count": "BIGINT",
    "decimal": "DOUBLE",
    "boolean": "BOOLEAN",
    "text": "VARCHAR",
}

# Columns the loader adds to every report row.
REPORT_DAY_COLUMN = "_report_day"
FETCHED_AT_COLUMN = "_fetched_at"
# Raw text of the cells that did not parse as their declared type, as a JSON object
# {column: text}: the row is kept, the typed cell is NULL, and nothing is lost.
UNPARSED_COLUMN = "_unparsed"
# The key of event streams, which have no id of their own.
EVENT_KEY_COLUMN = "event_key"

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize_header(header: str) -> str:
    """Gladly's header -> snake_case: lowercase, each run of non-[a-z0-9] becomes ``_``, trimmed.
    ``Assigned Agent ID – Current`` -> ``assigned_agent_id_current``."""
    return _NOT_ALNUM.sub("_", header.strip().lower()).strip("_")


@dataclass(frozen=True)
class ReportColumn:
    name: str  # normalized (snake_case)
    kind: ColumnKind
    description: str
    # Other normalized spellings Gladly has used for this column (header drift).
    aliases: tuple[str, ...] = ()
    # Gladly's header as the report prints it (documentation, and the tests' CSVs).
    header: str = ""

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.kind]


@dataclass(frozen=True)
class ReportStream(DeclaredTable):
    """One report stream: a metric set stored as one DuckDB table, one partition per UTC day."""

    SCHEMA: ClassVar[str] = SCHEMA

    name: str
    metric_set: str
    description: str
    columns: tuple[ReportColumn, ...]
    # The column the report's window filters on: what places a row in a day.
    time_column: str
    # Columns whose values identify a row. Event streams derive EVENT_KEY_COLUMN from
    # ``event_columns`` instead (they have no id).
    key: tuple[str, ...]
    # Days back from the newest complete day whose rows can still change, and so are
    # re-read on a schedule (0: the day is read once).
    refresh_days: int
    # The set accepts startAtTime/endAtTime: a day at the row cap can be split in halves.
    takes_instants: bool = False
    # The set accepts only instants (no startAt/endAt dates).
    requires_instants: bool = False
    # For event streams: the columns hashed into EVENT_KEY_COLUMN.
    event_columns: tuple[str, ...] = ()
    # Key columns that may be empty (e.g. the agent of a contact nobody handled).
    nullable_key: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = {column.name for column in self.columns}
        missing = {self.time_column, *self.event_columns, *(k for k in self.key if k != EVENT_KEY_COLUMN)} - names
        if missing:
            raise ValueError(f"stream {self.name}: undeclared columns {sorted(missing)}")
        if self.requires_instants and not self.takes_instants:
            raise ValueError(f"stream {self.name}: requires_instants implies takes_instants")

    @property
    def is_event_stream(self) -> bool:
        return bool(self.event_columns)

    @property
    def columns_by_name(self) -> dict[str, ReportColumn]:
        return {column.name: column for column in self.columns}

    @property
    def aliases(self) -> dict[str, str]:
        """Every other spelling -> the declared name."""
        return {alias: column.name for column in self.columns for alias in column.aliases}

    @property
    def required_key(self) -> tuple[str, ...]:
        return tuple(column for column in self.key if column not in self.nullable_key)


@dataclass(frozen=True)
class ReportWindow:
    """What one report request asks for: a range of UTC days (``endAt`` inclusive), or a
    range of minutes given as instants (``endAtTime`` inclusive to the minute)."""

    start: datetime  # UTC, whole minute
    end: datetime  # UTC, whole minute, inclusive
    instants: bool

    @classmethod
    def day(cls, day: date, instants: bool = False) -> ReportWindow:
        start = datetime.combine(day, time(0, 0), tzinfo=UTC)
        return cls(start, start + timedelta(days=1) - timedelta(minutes=1), instants)

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60) + 1

    def halves(self) -> tuple[ReportWindow, ReportWindow]:
        """Two instant windows that together cover exactly this one's minutes."""
        if self.minutes < 2:
            raise ValueError(f"the window {self} is one minute long and cannot be split")
        middle = self.start + timedelta(minutes=self.minutes // 2)
        return (
            ReportWindow(self.start, middle - timedelta(minutes=1), True),
            ReportWindow(middle, self.end, True),
        )

    def request_body(self, metric_set: str) -> dict[str, str]:
        if self.instants:
            return {
                "metricSet": metric_set,
                "startAtTime": _minute(self.start),
                "endAtTime": _minute(self.end),
            }
        return {
            "metricSet": metric_set,
            "startAt": self.start.date().isoformat(),
            "endAt": self.end.date().isoformat(),
            "timezone": "UTC",
        }

    def __str__(self) -> str:
        if self.instants:
            return f"{_minute(self.start)}..{_minute(self.end)}"
        first, last = self.start.date().isoformat(), self.end.date().isoformat()
        return first if first == last else f"{first}..{last}"


def _minute(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
