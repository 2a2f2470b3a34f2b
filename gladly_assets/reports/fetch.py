"""Fetch one UTC day of a report stream: request it, split it while it is at the row cap, parse it.

Gladly drops a report's rows past its cap without a word. A window that comes back
with 90% of the cap or more is therefore never kept: a set that takes instants is
asked again in two halves (recursively, down to a minute), any other set is an error
that names the day and the cap. No Dagster decorators and no DuckDB here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from gladly_assets.errors import ReportFormatError, ReportTruncatedError
from gladly_assets.load.csv import read_report, unique_rows
from gladly_assets.load.warehouse import FetchedWindow
from gladly_assets.report_schema import ReportStream, ReportWindow
from gladly_assets.resources.gladly import GladlyResource

# A window at this share of the cap may have lost rows (the cap is only known roughly).
CAP_SHARE = 0.9


def truncation_threshold(row_cap: int) -> int:
    """Rows from which a window may be truncated."""
    return max(1, math.ceil(row_cap * CAP_SHARE))


@dataclass
class FetchedDay:
    day: date
    frame: pl.DataFrame = field(default_factory=pl.DataFrame)
    windows: list[FetchedWindow] = field(default_factory=list)
    duplicate_rows: int = 0
    new_columns: set[str] = field(default_factory=set)
    unparsed_cells: int = 0
    seconds: float = 0.0

    @property
    def bytes(self) -> int:
        return sum(window.bytes for window in self.windows)

    @property
    def split(self) -> bool:
        return len(self.windows) > 1


def fetch_day(stream: ReportStream, day: date, gladly: GladlyResource, scratch: Path, log: Any) -> FetchedDay:
    """The day's rows, each key once, from as many requests as it takes to stay under the cap."""
    started = time.monotonic()
    threshold = truncation_threshold(gladly.report_row_cap)
    fetched = FetchedDay(day)
    frames = []
    pending = [ReportWindow.day(day, instants=stream.requires_instants)]
    requests = 0
    while pending:
        window = pending.pop(0)
        requests += 1
        path = scratch / f"{stream.name}-{day.isoformat()}-{requests}.csv"
        size = gladly.download_report(stream.metric_set, window, path)
        try:
            parsed = read_report(path, stream)
        except ReportFormatError as error:
            # The message quotes what Gladly sent, which could echo the request.
            raise ReportFormatError(gladly.redact(f"{stream.name} {window}: {error}"), error.status_code) from None
        finally:
            path.unlink(missing_ok=True)
        if parsed.rows >= threshold:
            where = f"{stream.name}: {stream.metric_set} for {window} returned {parsed.rows:,} rows"
            cap = f"{threshold:,} ({CAP_SHARE:.0%} of the row cap of {gladly.report_row_cap:,})"
            if not stream.takes_instants:
                raise ReportTruncatedError(
                    f"{where}, at least {cap}: Gladly may have dropped rows of {day.isoformat()} and "
                    f"{stream.metric_set} cannot be asked for less than a day. Nothing was stored for the day"
                )
            if window.minutes < 2:
                raise ReportTruncatedError(
                    f"{where}, at least {cap}, and a minute cannot be split further. Nothing was stored "
                    f"for {day.isoformat()}"
                )
            log.warning(f"{where}, at least {cap}: asking again in two halves")
            pending[:0] = window.halves()
            continue
        frames.append(parsed.frame)
        fetched.windows.append(FetchedWindow(window, parsed.rows, size))
        fetched.new_columns.update(parsed.new_columns)
        fetched.unparsed_cells += parsed.unparsed_cells
    fetched.frame, fetched.duplicate_rows = unique_rows(frames, stream)
    fetched.seconds = time.monotonic() - started
    return fetched
