"""Bring one table up to date with Gladly's export jobs.

``plan_sync`` decides what to apply from the cursor, the jobs Gladly lists and
the table's state; ``TableSync`` applies those jobs one by one, each loaded as its
file downloads (in a thread of its own), and describes the result as
materialization metadata. No Dagster decorators here:
``assets.py`` wires this into the asset graph.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import dagster as dg
from dagster._core.definitions.metadata import TableMetadataSet  # not re-exported by dagster 1.13

from gladly_assets import metadata_keys as keys
from gladly_assets.cursor import CLOCK_SKEW_ALLOWANCE, Cursor, LostWindow, iso, split_future
from gladly_assets.declared_table import table_schema
from gladly_assets.download_feed import DownloadFeed, DownloadInterrupted
from gladly_assets.errors import GladlyJobExpired
from gladly_assets.export_jobs import ExportJob
from gladly_assets.load.jsonl import DEFAULT_BATCH_BYTES, REJECTION_CAUSES, ReadLimits, read_batches
from gladly_assets.load.timings import StepTimings
from gladly_assets.load.warehouse import JobResult, Warehouse
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.tables import GladlyTable
from gladly_assets.text import markdown_table, printable
from gladly_assets.throttle import Throttle

_LOG_EVERY_SECONDS = 5.0
# A file of more than one parse batch takes a while to load: the log says when its load starts.
_ANNOUNCED_FILE_BYTES = DEFAULT_BATCH_BYTES
_JOIN_POLL_SECONDS = 0.1
# A cancelled download ends within moments (its socket is shut); past this, the run stops anyway.
_LAST_JOIN_SECONDS = 5.0
_PREVIEW_ROWS = 5
_PREVIEW_COLUMNS = 10


@dataclass(frozen=True)
class SyncPlan:
    mode: str  # "incremental", "initial", "full_refresh" or "reload"
    reason: str
    start: Cursor
    jobs: tuple[ExportJob, ...]  # to apply, oldest first; some may lack this table's file
    deferred: tuple[ExportJob, ...]  # dated too far in the future: not applied (yet)
    lost: tuple[LostWindow, ...]  # windows no job covers once every planned job is applied

    @property
    def rebuilds(self) -> bool:
        return self.mode in ("full_refresh", "reload")


def plan_sync(
    table: GladlyTable,
    previous: keys.Metadata,
    listed: Sequence[ExportJob],
    row_count: int | None,
    full_refresh: bool,
    now: datetime,
    clock_skew: timedelta = CLOCK_SKEW_ALLOWANCE,
) -> SyncPlan:
    """What to apply, given the last materialization's metadata, the listed jobs and the clock."""
    cursor = Cursor.from_metadata(previous)
    previous_rows = keys.read(previous, keys.ROW_COUNT) or 0
    newest = cursor.last_job_updated_at
    if full_refresh:
        mode, reason = "full_refresh", "full_refresh was requested: rebuilding from every job Gladly still lists"
    elif newest is not None and newest > now + clock_skew:
        mode = "reload"
        reason = (
            f"the cursor of {table.qualified_name} is at {iso(newest)}, ahead of this machine's clock "
            f"({iso(now)}): a job dated in the future was applied once; rebuilding from every job Gladly still lists"
        )
    elif newest is not None and (row_count is None or (row_count == 0 and previous_rows > 0)):
        mode = "reload"
        reason = (
            f"the last materialization applied jobs up to {iso(newest)} but "
            f"{table.qualified_name} is {'missing' if row_count is None else 'empty'} "
            "(a new or deleted DuckDB file?): reloading every job Gladly still lists"
        )
    elif newest is None:
        mode, reason = "initial", "first materialization: loading every job Gladly still lists"
    else:
        mode, reason = "incremental", f"applying jobs newer than {iso(newest)}"
    start = Cursor() if mode in ("full_refresh", "reload") else cursor
    due, future = split_future(listed, now, clock_skew)
    jobs = tuple(start.pending(due))
    return SyncPlan(mode, reason, start, jobs, tuple(future), start.advanced_by(jobs).lost)


@dataclass
class SyncOutcome:
    plan: SyncPlan
    cursor: Cursor  # what the applied jobs add up to
    applied: list[tuple[ExportJob, JobResult]] = field(default_factory=list)
    expired: list[ExportJob] = field(default_factory=list)
    bytes_downloaded: int = 0
    finished: bool = False
    timings: dict[str, StepTimings] = field(default_factory=dict)  # by job id, for the applied jobs

    @property
    def changed(self) -> bool:
        """Whether there is anything to record (the cursor moved or the table was rebuilt)."""
        return self.cursor != self.plan.start or self.plan.rebuilds

    @property
    def committed(self) -> bool:
        """Whether the live table holds what ``cursor`` says: a rebuild only once swapped in."""
        return self.finished or not self.plan.rebuilds

    @property
    def lost(self) -> tuple[LostWindow, ...]:
        return self.cursor.lost


class TableSync:
    """Download and apply the planned jobs of one table, reporting progress to ``log``."""

    def __init__(
        self,
        table: GladlyTable,
        plan: SyncPlan,
        gladly: GladlyResource,
        warehouse: Warehouse,
        log: dg.DagsterLogManager | Any,
        limits: ReadLimits | None = None,
    ):
        self.table = table
        self.plan = plan
        self.gladly = gladly
        self.warehouse = warehouse
        self.log = log
        self.limits = limits or ReadLimits()
        self.outcome = SyncOutcome(plan, plan.start)

    def run(self) -> SyncOutcome:
        """Apply the plan. On failure (any exception but an interrupt), what the table
        committed stays in ``self.outcome`` (``committed`` says whether to record it) and
        the staging and rebuild tables are dropped."""
        table, plan = self.table, self.plan
        self.log.info(f"{table.qualified_name}: {plan.reason}")
        for job in plan.deferred:
            self.log.warning(
                f"{table.qualified_name}: export job {printable(job.id)} is dated {printable(job.updated_at_raw)}, "
                f"more than the clock-skew allowance ahead of this machine's clock: not applied until the clock "
                "passes it (the cursor does not move past it)"
            )
        with_file = [job for job in plan.jobs if table.file_name in job.files]
        rebuild = plan.rebuilds and bool(with_file)
        if plan.rebuilds and not rebuild:
            # Rebuilding from nothing would empty the table: keep what it has.
            self.log.warning(
                f"{table.qualified_name}: Gladly lists no job with {table.file_name}; the table is kept as it is"
            )
        self.log.info(
            f"{table.qualified_name}: {len(plan.jobs)} new export job(s), {len(with_file)} with {table.file_name}"
        )
        try:
            target = self.warehouse.start_rebuild(table) if rebuild else None
            if target is None:
                # A table with no file yet exists empty, so that what is recorded describes a real table.
                self.warehouse.ensure_table(table)
            self._apply_all(with_file, target)
            if target is not None:
                self.warehouse.finish_rebuild(table)
        except BaseException:
            self._discard_work_tables()
            raise
        self.outcome.finished = True
        for window in self.outcome.lost:
            self.log.warning(
                f"{table.qualified_name}: export window {iso(window.start)} .. {iso(window.end)} is lost: "
                f"{printable(window.reason, 300)}"
            )
        return self.outcome

    def _apply_all(self, with_file: list[ExportJob], target: str | None) -> None:
        # Scratch files are named by position: a job id is the server's text, never a path.
        numbers = {id(job): number for number, job in enumerate(with_file, 1)}
        try:
            with tempfile.TemporaryDirectory(prefix="gladly-") as scratch:
                for job in self.plan.jobs:
                    covers = True
                    if id(job) in numbers:
                        number = numbers[id(job)]
                        path = Path(scratch) / f"{number}.jsonl"
                        covers = self._apply(job, f"{number}/{len(with_file)}", path, target)
                    self.outcome.cursor = self.outcome.cursor.advanced(job, covers=covers)
        finally:
            self._explain_expired()

    def _explain_expired(self) -> None:
        """Name the expired jobs in the lost windows they leave."""
        coverage = self.outcome.cursor.coverage
        for job in self.outcome.expired:
            if job.window_start is not None and job.window_end is not None:
                reason = f"export job {printable(job.id)} expired before its file could be downloaded"
                coverage = coverage.explain(job.window_start, job.window_end, reason)
        self.outcome.cursor = replace(self.outcome.cursor, coverage=coverage)

    def _discard_work_tables(self) -> None:
        try:
            self.warehouse.discard_work_tables(self.table)
        except Exception as error:  # the original failure is the one to report
            self.log.warning(f"{self.table.qualified_name}: could not drop its staging tables: {printable(error)}")

    def _apply(self, job: ExportJob, position: str, path: Path, target: str | None) -> bool:
        """Download and merge one job's file; False if the job expired first (its rows are lost).

        The load reads the file as it arrives. If the download starts the file again from its
        first byte after some of it was loaded, that load is rolled back and the job is loaded
        again from the complete file."""
        table = self.table
        where = (
            f"{table.qualified_name}: job {position} {printable(job.id)} (updatedAt {printable(job.updated_at_raw)})"
        )
        # One line per job when it is quick; a big or slow file also says when its load
        # starts, and reports progress every few seconds (_download_progress, _load_progress).
        started = time.monotonic()
        download = _BackgroundDownload(
            self.gladly, job, table.file_name, path, self._download_progress(where), f"gladly-download-{position}"
        )
        result = None
        with download:
            feed = download.feed
            if feed.wait_readable():
                # A file of unknown size says nothing here: its progress lines tell its size.
                if feed.expected is not None and feed.expected >= _ANNOUNCED_FILE_BYTES:
                    self.log.info(f"{where}: loading {table.file_name} as it downloads")
                # Interrupted: the download failed (its error is raised below) or started again.
                with suppress(DownloadInterrupted):
                    result = self._load(job, feed, feed.expected, target, where)
            download.join()
        error, size, downloaded = download.feed.error, download.feed.size, download.ended
        if error is not None:
            if isinstance(error, GladlyJobExpired):
                self.log.warning(
                    f"{where}: {printable(error, 500)}; its rows are lost unless Gladly support regenerates the export"
                )
                self.outcome.expired.append(job)
                return False
            raise error
        assert size is not None and downloaded is not None
        self.outcome.bytes_downloaded += size
        if result is None:
            self.log.info(
                f"{where}: the download started {table.file_name} again from its first byte after part of it "
                "was loaded; that load was rolled back, and the complete file is loading again"
            )
            result = self._load(job, path, size, target, where)
        path.unlink()
        finished = time.monotonic()
        self.outcome.timings[job.id] = result.timings + StepTimings(
            download=downloaded - started, total=finished - started
        )
        elapsed = finished - started
        self.log.info(
            f"{where}: {table.file_name} ({_mb(size)}) downloaded in {downloaded - started:.1f} s, "
            f"committed {result.rows_in_file:,} rows {elapsed:.1f} s after its download started "
            f"({result.rows_in_file / max(elapsed, 1e-6):,.0f} rows/s): {result.inserted:,} inserted, "
            f"{result.updated:,} updated, {result.unchanged:,} already current, {result.rejected:,} rejected"
        )
        if result.rejected:
            self.log.warning(
                f"{where}: {result.rejected} line(s) quarantined in gladly._rejected_lines ({REJECTION_CAUSES})"
            )
        if result.new_columns or result.widened_columns:
            self.log.info(
                f"{where}: schema drift: new columns {printable(list(result.new_columns), 500)}, "
                f"widened {printable(list(result.widened_columns), 500)}"
            )
        self.outcome.applied.append((job, result))
        return True

    def _load(
        self, job: ExportJob, source: Path | DownloadFeed, size: int | None, target: str | None, where: str
    ) -> JobResult:
        # Closed here, not left to the garbage collector: its parse threads end with the load.
        known, budget = self.warehouse.load_keys(self.table, self.limits.max_key_columns, target)
        reading = read_batches(source, known=known, max_line_bytes=self.limits.max_line_bytes, budget=budget)
        with closing(reading) as batches:
            return self.warehouse.apply_job(
                self.table,
                job.id,
                job.updated_at,
                batches,
                into=target,
                on_batch=self._load_progress(where, size),
            )

    def _download_progress(self, where: str) -> Callable[[int, int | None], None]:
        throttle = Throttle(_LOG_EVERY_SECONDS)

        def report(done: int, total: int | None) -> None:
            if throttle.due():
                of = f" of {_mb(total)}" if total else ""
                self.log.info(
                    f"{where}: downloading {self.table.file_name}: {_mb(done)}{of} so far "
                    f"({_mb(done / throttle.elapsed())}/s)"
                )

        return report

    def _load_progress(self, where: str, size: int | None) -> Callable[[Any], None]:
        throttle = Throttle(_LOG_EVERY_SECONDS)
        totals = {"rows": 0, "bytes": 0}

        def report(batch: Any) -> None:
            totals["rows"] += batch.frame.height
            totals["bytes"] += batch.byte_count
            if throttle.due():
                share = f"{totals['bytes'] / size:.0%} of the file, " if size else ""
                self.log.info(
                    f"{where}: {totals['rows']:,} rows loaded ({share}{totals['rows'] / throttle.elapsed():,.0f} rows/s)"
                )

        return report


class _BackgroundDownload:
    """One file downloading in a thread of its own, readable through ``feed`` as it arrives.

    Leaving the ``with`` block stops the download if it still runs (the load failed, or an
    interrupt reached the main thread) and waits for its thread: none outlives the sync."""

    def __init__(
        self,
        gladly: GladlyResource,
        job: ExportJob,
        file_name: str,
        path: Path,
        on_progress: Callable[[int, int | None], None],
        name: str,
    ) -> None:
        self.feed = DownloadFeed(on_progress)  # it also keeps how the download ended
        self.ended: float | None = None  # time.monotonic() when the download ended
        self._thread = threading.Thread(target=self._run, args=(gladly, job, file_name, path), name=name, daemon=True)

    def _run(self, gladly: GladlyResource, job: ExportJob, file_name: str, path: Path) -> None:
        # download_file tells the feed how it ended; a subclass's override may not.
        try:
            self.feed.finish(path, gladly.download_file(job, file_name, path, on_progress=self.feed))
        except BaseException as error:
            self.feed.fail(error)
        finally:
            self.ended = time.monotonic()

    def __enter__(self) -> _BackgroundDownload:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._thread.is_alive():
                self.feed.cancel()
            self.join()
        except KeyboardInterrupt:
            # Interrupted again while waiting: a last, bounded wait for the cancelled download.
            self.feed.cancel()
            self._thread.join(_LAST_JOIN_SECONDS)
            raise
        finally:
            self.feed.close()
        failed = self.feed.error
        if error is not None and failed is not None and failed is not error:
            # The load's error is raised; the download's would otherwise go unsaid.
            error.add_note(f"the download failed too: {type(failed).__name__}: {printable(failed, 300)}")

    def join(self) -> None:
        # In short waits: an interrupt in the main thread is handled at once.
        while self._thread.is_alive():
            self._thread.join(_JOIN_POLL_SECONDS)


def outcome_metadata(table: GladlyTable, outcome: SyncOutcome, warehouse: Warehouse) -> dict[str, Any]:
    """What the materialization shows in the UI, the cursor included."""
    results = [result for _, result in outcome.applied]
    columns = warehouse.columns(table.name)
    described = dict(table.columns)
    return {
        **TableMetadataSet(
            table_name=table.qualified_name,
            column_schema=table_schema(columns, described),
            row_count=warehouse.row_count(table.name) or 0,
        ),
        keys.MODE: dg.MetadataValue.text(outcome.plan.mode),
        keys.JOBS_APPLIED: dg.MetadataValue.json(
            [
                {
                    "id": printable(job.id),
                    "updatedAt": printable(job.updated_at_raw),
                    "rows": result.rows_in_file,
                    "inserted": result.inserted,
                    "updated": result.updated,
                    "rejected": result.rejected,
                    "seconds": outcome.timings[job.id].to_json(),
                }
                for job, result in outcome.applied
            ]
        ),
        # Summed over the jobs applied: where this sync spent its time.
        keys.TIMINGS: dg.MetadataValue.json(sum(outcome.timings.values(), StepTimings()).to_json()),
        keys.JOBS_EXPIRED: dg.MetadataValue.json([printable(job.id) for job in outcome.expired]),
        keys.JOBS_DEFERRED: dg.MetadataValue.json(
            [{"id": printable(job.id), "updatedAt": printable(job.updated_at_raw)} for job in outcome.plan.deferred]
        ),
        keys.ROWS_INSERTED: dg.MetadataValue.int(sum(r.inserted for r in results)),
        keys.ROWS_UPDATED: dg.MetadataValue.int(sum(r.updated for r in results)),
        keys.ROWS_UNCHANGED: dg.MetadataValue.int(sum(r.unchanged for r in results)),
        keys.ROWS_REJECTED: dg.MetadataValue.int(sum(r.rejected for r in results)),
        keys.BYTES_DOWNLOADED: dg.MetadataValue.int(outcome.bytes_downloaded),
        keys.NEW_COLUMNS: dg.MetadataValue.json(sorted({c for r in results for c in r.new_columns})),
        keys.WIDENED_COLUMNS: dg.MetadataValue.json(sorted({c for r in results for c in r.widened_columns})),
        **outcome.cursor.to_metadata(),
        keys.PREVIEW: dg.MetadataValue.md(preview_markdown(warehouse, table) if columns else "(no table yet)"),
    }


def preview_markdown(warehouse: Warehouse, table: GladlyTable) -> str:
    """The newest rows as a Markdown table of literal text (values are Gladly's, not markup)."""
    frame = warehouse.preview(table.name, limit=_PREVIEW_ROWS)
    shown = frame.columns[:_PREVIEW_COLUMNS]
    text = markdown_table(shown, frame.select(shown).rows())
    hidden = len(frame.columns) - len(shown)
    return text + (f"\n\n{hidden} more column(s) not shown." if hidden else "")


def _mb(size: float | None) -> str:
    return f"{(size or 0) / 1e6:,.1f} MB"
