"""The code location's GLADLY_* settings, declared once as data and read tolerantly.

A value that cannot be used never stops the code location from loading: the
setting falls back to its default, and the problem is logged and shown in the
UI (the assets' and the sensor's descriptions, the sensor's skip reasons).
README's settings table is generated from ``SETTINGS`` (``python -m
gladly_assets.settings``); a test keeps the two equal.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar, cast

import dagster as dg

from gladly_assets.reports.assets import DEFAULT_START_DATE as REPORTS_DEFAULT_START_DATE
from gladly_assets.resources.warehouse import DEFAULT_MEMORY_LIMIT
from gladly_assets.sensors import DEFAULT_INTERVAL_SECONDS

T = TypeVar("T")

logger = logging.getLogger(__name__)

# A bad value is quoted in the UI: long enough to recognise, short enough to read.
_SHOWN_CHARACTERS = 60


@dataclass(frozen=True)
class Setting(Generic[T]):
    name: str
    default: T
    # Turns the (stripped, non-empty) environment value into the setting; ValueError says why not.
    parse: Callable[[str], T]
    description: str  # Markdown, for README's table
    default_text: str  # the default as README and the problem messages show it
    secret: bool = False  # never shown, not even when it is wrong

    def read(self, env: Mapping[str, str]) -> tuple[T, str | None]:
        """The value (the default when unset or unusable) and, if unusable, why."""
        raw = env.get(self.name, "").strip()
        if not raw:
            return self.default, None
        try:
            return self.parse(raw), None
        except ValueError as error:
            shown = "" if self.secret else f"={_clip(raw)!r}"
            return self.default, f"{self.name}{shown} is not usable ({error}); using the default, {self.default_text}."


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARACTERS else text[:_SHOWN_CHARACTERS] + "..."


def _text(raw: str) -> str:
    return raw


def _one_of(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.upper() not in options:
            raise ValueError(f"expected {' or '.join(options)}")
        return raw.upper()

    return parse


def _sensor_status(raw: str) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus[_one_of("RUNNING", "STOPPED")(raw)]


def _whole_number(least: int, unit: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not raw.isdigit() or int(raw) < least:
            raise ValueError(f"expected a whole number of {unit}, at least {least}")
        return int(raw)

    return parse


def _day(raw: str) -> str:
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise ValueError("expected a date such as 2024-01-01") from None


def _seconds(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError("expected a whole number of seconds, at least 1")
    return int(raw)


_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KIB|MIB|GIB|TIB|%)", re.IGNORECASE)
_BYTES_PER_UNIT = {
    **{unit: 1000**power for power, unit in enumerate(("KB", "MB", "GB", "TB"), 1)},
    **{unit: 1024**power for power, unit in enumerate(("KIB", "MIB", "GIB", "TIB"), 1)},
}
# Below this DuckDB cannot hold what one load needs, and every run would fail part-way.
_MIN_MEMORY_BYTES = 64 * 1000**2


def _memory_limit(raw: str) -> str:
    """A size DuckDB's memory_limit accepts: a number with a unit, or a share of RAM in %."""
    match = _MEMORY.fullmatch(raw)
    if not match:
        raise ValueError("expected a size such as 512MB, 2GB or 1GiB, or a share of RAM such as 25%")
    number, unit = float(match[1]), match[2].upper()
    if unit == "%":
        if not 0 < number <= 100:
            raise ValueError("a share of RAM must be between 0% and 100%")
    elif number * _BYTES_PER_UNIT[unit] < _MIN_MEMORY_BYTES:
        raise ValueError("DuckDB needs at least 64MB to load")
    return raw


ORGANIZATION = Setting(
    "GLADLY_ORGANIZATION",
    "",
    _text,
    "`myorg`, `myorg.us-1`, or the URL you use (`https://myorg.gladly.com`)",
    "unset",
)
AGENT_EMAIL = Setting(
    "GLADLY_AGENT_EMAIL",
    "",
    _text,
    "the agent whose API token is used; it needs the **API User** permission",
    "unset",
)
API_TOKEN = Setting(
    "GLADLY_API_TOKEN",
    "",
    _text,
    "that agent's API token (a secret: never logged, shown or stored in run config)",
    "unset",
    secret=True,
)
DOMAIN = Setting("GLADLY_DOMAIN", "gladly.com", _text, "`gladly.qa` for a sandbox", "`gladly.com`")
BASE_URL: Setting[str | None] = Setting(
    "GLADLY_BASE_URL",
    None,
    _text,
    "the simulator's URL for local runs; unset for the real Gladly",
    "unset",
)
DUCKDB_PATH = Setting(
    "GLADLY_DUCKDB_PATH", "data/warehouse.duckdb", _text, "the warehouse file", "`data/warehouse.duckdb`"
)
DUCKDB_MEMORY_LIMIT = Setting(
    "GLADLY_DUCKDB_MEMORY_LIMIT",
    DEFAULT_MEMORY_LIMIT,
    _memory_limit,
    "DuckDB's `memory_limit` while loading (`2GB`, `25%`, ...); past it DuckDB evicts or spills to disk",
    f"`{DEFAULT_MEMORY_LIMIT}`",
)
EXPORT_FREQUENCY = Setting(
    "GLADLY_EXPORT_FREQUENCY",
    "DAILY",
    _one_of("DAILY", "HOURLY"),
    "`DAILY` or `HOURLY`, as the export schedule in Gladly: sets the freshness policy",
    "`DAILY`",
)
SENSOR_INTERVAL_SECONDS = Setting(
    "GLADLY_SENSOR_INTERVAL_SECONDS",
    DEFAULT_INTERVAL_SECONDS,
    _seconds,
    "how often the sensor lists jobs, in seconds",
    str(DEFAULT_INTERVAL_SECONDS),
)
SENSOR_DEFAULT_STATUS = Setting(
    "GLADLY_SENSOR_DEFAULT_STATUS",
    dg.DefaultSensorStatus.STOPPED,
    _sensor_status,
    "`RUNNING` to start the sensor without a click",
    "`STOPPED`",
)

REPORTS_START_DATE = Setting(
    "GLADLY_REPORTS_START_DATE",
    REPORTS_DEFAULT_START_DATE,
    _day,
    "first UTC day of the report partitions (Gladly's reports go back years; backfill older days from the UI)",
    f"`{REPORTS_DEFAULT_START_DATE}`",
)
REPORTS_BACKFILL_DAYS = Setting(
    "GLADLY_REPORTS_BACKFILL_DAYS",
    7,
    _whole_number(0, "days"),
    "recent days the reports sensor loads when they are missing",
    "7",
)
REPORTS_REFRESH_MINUTES = Setting(
    "GLADLY_REPORTS_REFRESH_MINUTES",
    360,
    _whole_number(1, "minutes"),
    "how often report days that still change, teams and inboxes are re-read, in minutes",
    "360",
)
REPORTS_SETTLE_MINUTES = Setting(
    "GLADLY_REPORTS_SETTLE_MINUTES",
    120,
    _whole_number(0, "minutes"),
    "how long after a UTC day ends the reports sensor first reads it (reports lag about an hour)",
    "120",
)
REPORTS_SENSOR_INTERVAL_SECONDS = Setting(
    "GLADLY_REPORTS_SENSOR_INTERVAL_SECONDS",
    60,
    _seconds,
    "how often the reports sensor plans report runs, in seconds",
    "60",
)
REPORTS_SENSOR_DEFAULT_STATUS = Setting(
    "GLADLY_REPORTS_SENSOR_DEFAULT_STATUS",
    dg.DefaultSensorStatus.STOPPED,
    _sensor_status,
    "`RUNNING` to start the reports sensor without a click",
    "`STOPPED`",
)

SETTINGS: tuple[Setting[Any], ...] = (
    ORGANIZATION,
    AGENT_EMAIL,
    API_TOKEN,
    DOMAIN,
    BASE_URL,
    DUCKDB_PATH,
    DUCKDB_MEMORY_LIMIT,
    EXPORT_FREQUENCY,
    SENSOR_INTERVAL_SECONDS,
    SENSOR_DEFAULT_STATUS,
    REPORTS_START_DATE,
    REPORTS_BACKFILL_DAYS,
    REPORTS_REFRESH_MINUTES,
    REPORTS_SETTLE_MINUTES,
    REPORTS_SENSOR_INTERVAL_SECONDS,
    REPORTS_SENSOR_DEFAULT_STATUS,
)


@dataclass(frozen=True)
class Settings:
    """Every setting's value (its default where the environment's was unusable) and what was wrong."""

    values: Mapping[str, Any]
    problems: tuple[str, ...]

    def __getitem__(self, setting: Setting[T]) -> T:
        return cast(T, self.values[setting.name])

    @property
    def notice(self) -> str:
        """What the UI shows while a setting is not applied ("" when all are)."""
        return " ".join(["Settings not applied:", *self.problems]) if self.problems else ""


def read_settings(env: Mapping[str, str] = os.environ) -> Settings:
    values: dict[str, Any] = {}
    problems = []
    for setting in SETTINGS:
        values[setting.name], problem = setting.read(env)
        if problem:
            logger.warning(problem)
            problems.append(problem)
    return Settings(values, tuple(problems))


def markdown_table() -> str:
    """README's table of settings."""
    rows = [f"| `{s.name}` | {s.default_text} | {s.description} |" for s in SETTINGS]
    return "\n".join(["| variable | default | meaning |", "| --- | --- | --- |", *rows])


if __name__ == "__main__":
    print(markdown_table())
