"""Bring one table up to date with Gladly's export jobs.

``plan_sync`` decides what to apply from the cursor, the jobs Gladly lists and
the table's state; ``TableSync`` downloads and applies those jobs one by one and
describes the result as materialization metadata. No Dagster decorators here:
``assets.py`` wires this into the asset graph.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from dagster._core.definitions.metadata import TableMetadataSet  # not re-exported by dagster 1.13

from gladly_assets import cursor as cursor_keys
from gladly_assets.cursor import Cursor, iso
from gladly_assets.errors import GladlyJobExpired
from gladly_assets.export_jobs import ExportJob, parse_instant
from gladly_assets.load.jsonl import read_batches
from gladly_assets.load.warehouse import JobResult, Warehouse
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.tables import GladlyTable
from gladly_assets.throttle import Throttle

# Consecutive export windows should touch; a hole wider than this means jobs were lost.
_WINDOW_TOLERANCE = timedelta(seconds=1)
_LOG_EVERY_SECONDS = 5.0


@dataclass(frozen=True)
class LostWindow:
    start: datetime
    end: datetime
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"from": iso(self.start), "to": iso(self.end), "reason": self.reason}


@dataclass(frozen=True)
class SyncPlan:
    mode: str  # "incremental", "initial", "full_refresh" or "reload"
    reason: str
    start: Cursor
    jobs: tuple[ExportJob, ...]  # to apply, oldest first; some may lack this table's file
    lost: tuple[LostWindow, ...]  # windows Gladly no longer has

    @property
    def rebuilds(self) -> bool:
        return self.mode in ("full_refresh", "reload")


def plan_sync(
    table: GladlyTable,
    previous: Mapping[str, Any],
    listed: Sequence[ExportJob],
    row_count: int | None,
    full_refresh: bool,
) -> SyncPlan:
    """What to apply, given the last materialization's metadata and the listed jobs."""
    cursor = Cursor.from_metadata(previous)
    previous_rows = cursor_keys.metadata_value(previous, "dagster/row_count") or 0
    if full_refresh:
        mode, reason = "full_refresh", "full_refresh was requested: rebuilding from every job Gladly still lists"
    elif not cursor.is_empty and (row_count is None or (row_count == 0 and previous_rows > 0)):
        mode = "reload"
        reason = (
            f"the last materialization applied jobs up to {iso(cursor.last_job_updated_at)} but "
            f"{table.qualified_name} is {'missing' if row_count is None else 'empty'} "
            "(a new or deleted DuckDB file?): reloading every job Gladly still lists"
        )
    elif cursor.is_empty:
        mode, reason = "initial", "first materialization: loading every job Gladly still lists"
    else:
        mode, reason = "incremental", f"applying jobs newer than {iso(cursor.last_job_updated_at)}"
    start = Cursor() if mode in ("full_refresh", "reload") else cursor
    jobs = tuple(start.pending(listed))
    carried = () if mode in ("full_refresh", "reload") else _lost_windows(previous)
    return SyncPlan(mode, reason, start, jobs, carried + _holes(start.covered_until, jobs))


def _holes(covered_until: datetime | None, jobs: Sequence[ExportJob]) -> tuple[LostWindow, ...]:
    """Export windows missing between what was applied and what is listed."""
    lost = []
    covered = covered_until
    for job in jobs:
        if covered and job.window_start and job.window_start > covered + _WINDOW_TOLERANCE:
            lost.append(LostWindow(covered, job.window_start, "no export job covering it is listed any more"))
        if job.window_end:
            covered = max(filter(None, [covered, job.window_end]))
    return tuple(lost)


def _lost_windows(previous: Mapping[str, Any]) -> tuple[LostWindow, ...]:
    recorded = cursor_keys.metadata_value(previous, cursor_keys.RETENTION_GAP) or []
    return tuple(
        LostWindow(parse_instant(window["from"]), parse_instant(window["to"]), window["reason"]) for window in recorded
    )


@dataclass
class SyncOutcome:
    plan: SyncPlan
    cursor: Cursor
    applied: list[tuple[ExportJob, JobResult]] = field(default_factory=list)
    expired: list[ExportJob] = field(default_factory=list)
    bytes_downloaded: int = 0

    @property
    def changed(self) -> bool:
        """Whether there is anything to record (the cursor moved or the table was rebuilt)."""
        return self.cursor != self.plan.start or self.plan.rebuilds

    @property
    def lost(self) -> tuple[LostWindow, ...]:
        expired = tuple(
            LostWindow(
                job.window_start or job.updated_at,
                job.window_end or job.updated_at,
                f"export job {job.id} expired before its file could be downloaded",
            )
            for job in self.expired
        )
        return self.plan.lost + expired


class TableSync:
    """Download and apply the planned jobs of one table, reporting progress to ``log``."""

    def __init__(
        self,
        table: GladlyTable,
        plan: SyncPlan,
        gladly: GladlyResource,
        warehouse: Warehouse,
        log: dg.DagsterLogManager | Any,
    ):
        self.table = table
        self.plan = plan
        self.gladly = gladly
        self.warehouse = warehouse
        self.log = log
        self.outcome = SyncOutcome(plan, plan.start)

    def run(self) -> SyncOutcome:
        """Apply the plan. On failure, ``self.outcome`` still holds what was committed."""
        table, plan = self.table, self.plan
        self.log.info(f"{table.qualified_name}: {plan.reason}")
        for window in plan.lost:
            self.log.warning(
                f"{table.qualified_name}: export window {iso(window.start)} .. {iso(window.end)} is lost: {window.reason}"
            )
        with_file = [job for job in plan.jobs if table.file_name in job.files]
        rebuild = plan.rebuilds and bool(with_file)
        if plan.rebuilds and not rebuild:
            # Rebuilding from nothing would empty the table: keep what it has.
            self.log.warning(
                f"{table.qualified_name}: Gladly lists no job with {table.file_name}; the table is kept as it is"
            )
        target = self.warehouse.start_rebuild(table) if rebuild else None
        self.log.info(
            f"{table.qualified_name}: {len(plan.jobs)} new export job(s), {len(with_file)} with {table.file_name}"
        )
        with tempfile.TemporaryDirectory(prefix="gladly-") as scratch:
            for job in plan.jobs:
                if table.file_name in job.files:
                    position = f"{with_file.index(job) + 1}/{len(with_file)}"
                    self._apply(job, position, Path(scratch), target)
                self.outcome.cursor = self.outcome.cursor.advanced(job)
        if target is not None:
            self.warehouse.finish_rebuild(table)
        return self.outcome

    def _apply(self, job: ExportJob, position: str, scratch: Path, target: str | None) -> None:
        table = self.table
        where = f"{table.qualified_name}: job {position} {job.id} (updatedAt {job.updated_at_raw})"
        path = scratch / f"{job.id}-{table.file_name}"
        self.log.info(f"{where}: downloading {table.file_name}")
        started = time.monotonic()
        try:
            size = self.gladly.download_file(job, table.file_name, path, on_progress=self._download_progress(where))
        except GladlyJobExpired as error:
            self.log.warning(f"{where}: {error}; its rows are lost unless Gladly support regenerates the export")
            self.outcome.expired.append(job)
            return
        self.outcome.bytes_downloaded += size
        self.log.info(f"{where}: downloaded {_mb(size)} in {time.monotonic() - started:.1f} s; loading")
        started = time.monotonic()
        result = self.warehouse.apply_job(
            table,
            job.id,
            job.updated_at,
            read_batches(path),
            into=target,
            on_batch=self._load_progress(where, size),
        )
        path.unlink()
        elapsed = time.monotonic() - started
        self.log.info(
            f"{where}: committed {result.rows_in_file:,} rows in {elapsed:.1f} s "
            f"({result.rows_in_file / max(elapsed, 1e-6):,.0f} rows/s): {result.inserted:,} inserted, "
            f"{result.updated:,} updated, {result.unchanged:,} already current, {result.rejected:,} rejected"
        )
        if result.rejected:
            self.log.warning(f"{where}: {result.rejected} malformed line(s) quarantined in gladly._rejected_lines")
        if result.new_columns or result.widened_columns:
            self.log.info(
                f"{where}: schema drift: new columns {list(result.new_columns)}, widened {list(result.widened_columns)}"
            )
        self.outcome.applied.append((job, result))

    def _download_progress(self, where: str) -> Callable[[int, int | None], None]:
        throttle = Throttle(_LOG_EVERY_SECONDS)

        def report(done: int, total: int | None) -> None:
            if throttle.due():
                of = f" of {_mb(total)}" if total else ""
                self.log.info(f"{where}: {_mb(done)}{of} downloaded ({_mb(done / throttle.elapsed())}/s)")

        return report

    def _load_progress(self, where: str, size: int) -> Callable[[Any], None]:
        throttle = Throttle(_LOG_EVERY_SECONDS)
        totals = {"rows": 0, "bytes": 0}

        def report(batch: Any) -> None:
            totals["rows"] += batch.frame.height
            totals["bytes"] += batch.byte_count
            if throttle.due():
                self.log.info(
                    f"{where}: {totals['rows']:,} rows loaded ({totals['bytes'] / max(size, 1):.0%} of the file, "
                    f"{totals['rows'] / throttle.elapsed():,.0f} rows/s)"
                )

        return report


def outcome_metadata(table: GladlyTable, outcome: SyncOutcome, warehouse: Warehouse) -> dict[str, Any]:
    """What the materialization shows in the UI, the cursor included."""
    results = [result for _, result in outcome.applied]
    columns = warehouse.columns(table.name)
    described = dict(table.columns)
    return {
        **TableMetadataSet(
            table_name=table.qualified_name,
            column_schema=dg.TableSchema(
                columns=[dg.TableColumn(name, kind, description=described.get(name)) for name, kind in columns.items()]
            ),
            row_count=warehouse.row_count(table.name) or 0,
        ),
        "mode": dg.MetadataValue.text(outcome.plan.mode),
        "jobs_applied": dg.MetadataValue.json(
            [
                {
                    "id": job.id,
                    "updatedAt": job.updated_at_raw,
                    "rows": result.rows_in_file,
                    "inserted": result.inserted,
                    "updated": result.updated,
                    "rejected": result.rejected,
                }
                for job, result in outcome.applied
            ]
        ),
        "jobs_expired": dg.MetadataValue.json([job.id for job in outcome.expired]),
        "rows_inserted": dg.MetadataValue.int(sum(r.inserted for r in results)),
        "rows_updated": dg.MetadataValue.int(sum(r.updated for r in results)),
        "rows_unchanged": dg.MetadataValue.int(sum(r.unchanged for r in results)),
        cursor_keys.ROWS_REJECTED: dg.MetadataValue.int(sum(r.rejected for r in results)),
        "bytes_downloaded": dg.MetadataValue.int(outcome.bytes_downloaded),
        "new_columns": dg.MetadataValue.json(sorted({c for r in results for c in r.new_columns})),
        "widened_columns": dg.MetadataValue.json(sorted({c for r in results for c in r.widened_columns})),
        cursor_keys.RETENTION_GAP: dg.MetadataValue.json([window.to_json() for window in outcome.lost]),
        **outcome.cursor.to_metadata(),
        "preview": dg.MetadataValue.md(_markdown(warehouse.preview(table.name))),
    }


def _markdown(frame: pl.DataFrame) -> str:
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        fmt_str_lengths=40,
        tbl_cols=10,
        tbl_width_chars=400,
    ):
        return str(frame)


def _mb(size: float | None) -> str:
    return f"{(size or 0) / 1e6:,.1f} MB"
