"""DuckDB side of the load: evolve tables, quarantine bad lines, merge jobs atomically.

Design, chosen on the benchmarks in ``benchmarks/``:

* Tables have no PRIMARY KEY constraint: DuckDB's ART index makes upserts on
  wide rows an order of magnitude slower. Keys are kept unique by the merge
  and verified by the blocking ``id`` asset check instead.
* Each job is merged in one transaction: rows of an older job never replace
  rows of a newer one (versions are ordered by ``(_job_updated_at, _job_id)``,
  never by arrival), and a crash mid-job leaves the table as it was.
* Scalars keep their JSON type (BIGINT, DOUBLE, BOOLEAN, VARCHAR); objects and
  arrays are DuckDB JSON. A column whose type changes between files is widened
  as the parser types a column holding both kinds of value, so drift never fails a
  load nor drops a value, and the batching never changes a type: BIGINT and DOUBLE
  make DOUBLE while every integer is below 2**53 in magnitude (exact in a double);
  text with anything makes VARCHAR (other values as their JSON text); any other mix
  makes JSON.
* Every top-level key gets a column of its own, renamed where its name cannot be
  a column (see ``column_names``); names a key could take are never used by the
  merge (it orders a file's rows by the stage's own ``_load_ordinal``).
* A failed job changes nothing: its transaction is rolled back, its staging
  table dropped, a table it created removed, and the first error is the one raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl

from gladly_assets.load.column_names import ORDINAL_COLUMN, ColumnNames, fold, key_of
from gladly_assets.load.duckdb_sql import quote, session_setting, transaction
from gladly_assets.load.jsonl import Batch, RejectedLine
from gladly_assets.load.key_budget import KeyBudget
from gladly_assets.load.known_keys import KnownKeys
from gladly_assets.load.timings import StepTimings
from gladly_assets.report_schema import (
    FETCHED_AT_COLUMN,
    REPORT_DAY_COLUMN,
    UNPARSED_COLUMN,
    ReportStream,
    ReportWindow,
)
from gladly_assets.tables import (
    JOB_ID_COLUMN,
    JOB_UPDATED_AT_COLUMN,
    PRIMARY_KEY,
    SCHEMA,
    GladlyTable,
)

REJECTED_LINES = "_rejected_lines"
REJECTED_LINES_TABLE = f"{SCHEMA}.{REJECTED_LINES}"
# One row per report request whose rows a report table holds: what the truncation check reads.
REPORT_WINDOWS = "_report_windows"
REPORT_WINDOWS_TABLE = f"{SCHEMA}.{REPORT_WINDOWS}"
_VERSION = f"({JOB_UPDATED_AT_COLUMN}, {JOB_ID_COLUMN})"
_FRAME_VIEW = "batch_frame"  # the name a batch's frame is registered under in DuckDB
_MERGE_MATCHES = "temp.main._merge_matches"  # the merge's staged ids found in the table
# A job's rejected lines until its last transaction moves them to _rejected_lines: a file may
# hold any number of them, too many to keep in Python.
_REJECTED_STAGE = "temp.main._rejected_stage"

# Staged rows are committed after about this many bytes of JSONL, because DuckDB holds a
# transaction's rows in memory. Each commit lands on a row-group boundary: DuckDB then
# keeps the row groups it already wrote, where a commit inside a row group costs a
# rewrite at the next checkpoint and leaves the file bigger (measured at 1M rows: 1.5 to 4 s
# more, and a file 50% to 95% bigger).
STAGE_COMMIT_BYTES = 64 * 1024 * 1024
ROW_GROUP_ROWS = 122_880  # DuckDB's default row-group size
# A parsed batch reaches DuckDB as Arrow record batches of this many rows.
_INSERT_BATCH_ROWS = 10_240

# The types a column may widen between (see _widen).
_WIDENING = ("BOOLEAN", "BIGINT", "DOUBLE", "JSON", "VARCHAR")
# Doubles hold every integer below this magnitude, and not all of them beyond.
_EXACT_DOUBLE_LIMIT = 2**53


def stage_name(target: str) -> str:
    """The staging table a load into ``target`` fills before it merges."""
    return f"_load_{target}"


def _duckdb_type(dtype: pl.DataType, is_json: bool) -> str | None:
    """The column type for a Polars dtype; None for an all-null column."""
    if is_json:
        return "JSON"
    if dtype == pl.Null:
        return None
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if dtype.is_integer():
        return "BIGINT"
    if dtype.is_float():
        return "DOUBLE"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ"
    return "VARCHAR"


def _widen(current: str, incoming: str, big_integers: Callable[[], bool]) -> str:
    """The type holding both, as the parser types a column holding both kinds of value
    (so that the batching never changes a type): text takes anything, JSON whatever no
    single scalar type holds. ``big_integers``: whether the BIGINT side holds integers a
    double would round (asked only when BIGINT meets DOUBLE)."""
    if current == incoming or current not in _WIDENING or incoming not in _WIDENING:
        return current
    pair = {current, incoming}
    if "VARCHAR" in pair:
        return "VARCHAR"
    if pair == {"BIGINT", "DOUBLE"} and not big_integers():
        return "DOUBLE"
    return "JSON"


def _as_text(value: str, kind: str) -> str:
    """SQL for a value of a column of type ``kind`` as the JSON text the parser writes it
    (see ``jsonl``): doubles in plain digits, no exponent, no trailing ``.0``. DOUBLE
    columns hold magnitudes below 2**53 only, so an integral one fits a BIGINT."""
    if kind != "DOUBLE":
        return f"{value}::VARCHAR"
    text = f"{value}::VARCHAR"
    return (
        f"CASE WHEN {value} = trunc({value}) THEN "
        f"(CASE WHEN {value} = 0 AND {text} LIKE '-%' THEN '-0' ELSE {value}::BIGINT::VARCHAR END) "
        f"WHEN {text} LIKE '%e%' THEN (CASE WHEN {value} < 0 THEN '-' ELSE '' END) || '0.' "
        f"|| repeat('0', -split_part({text}, 'e', 2)::INTEGER - 1) "
        f"|| replace(replace(split_part({text}, 'e', 1), '-', ''), '.', '') "
        f"ELSE {text} END"
    )


def _declared_columns(table: GladlyTable) -> dict[str, str]:
    """The table's declared key columns and their types (the job columns are the loader's)."""
    return {
        column: "JSON" if column in table.json_fields else "VARCHAR"
        for column, _ in table.columns
        if column not in (JOB_ID_COLUMN, JOB_UPDATED_AT_COLUMN)
    }


def _known_keys(table: GladlyTable, columns: dict[str, str]) -> KnownKeys:
    """The table's text and JSON keys, from its ``columns`` or, if it has none, the declared ones."""
    keys = {key_of(column): kind for column, kind in (columns or _declared_columns(table)).items()}
    return KnownKeys(
        text=[key for key, kind in keys.items() if key is not None and kind == "VARCHAR"],
        json=[key for key, kind in keys.items() if key is not None and kind == "JSON"],
    )


def _row(conn: duckdb.DuckDBPyConnection, sql: str, parameters: list[Any] | None = None) -> tuple[Any, ...]:
    """The one row of a query that always returns exactly one (an aggregate)."""
    row = conn.execute(sql, parameters).fetchone()
    if row is None:
        raise RuntimeError(f"DuckDB returned no row for: {sql}")
    return row


def _scalar(conn: duckdb.DuckDBPyConnection, sql: str, parameters: list[Any] | None = None) -> Any:
    return _row(conn, sql, parameters)[0]


@dataclass(frozen=True)
class JobResult:
    job_id: str
    rows_in_file: int  # parsed rows, duplicates included
    inserted: int  # ids new to the table
    updated: int  # ids whose older version was replaced
    unchanged: int  # rows already present in this or a newer version (late or repeated jobs)
    rejected: int
    bytes_read: int
    new_columns: tuple[str, ...]
    widened_columns: tuple[str, ...]
    timings: StepTimings = field(default_factory=StepTimings)  # parse, insert, merge, commit


class Warehouse:
    """The gladly schema in one DuckDB connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection):
        # DuckDB settings (memory_limit, threads) are the connection's: whoever opens it decides.
        self.conn = connection
        # Qualify every name with the database's catalog: a file called gladly.duckdb
        # gives a catalog "gladly" that a bare schema name would be ambiguous with.
        self.catalog = str(_scalar(connection, "SELECT current_database()"))
        self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.catalog)}.{SCHEMA}")
        self.conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {self._table_ref(REJECTED_LINES)} (
                table_name VARCHAR, job_id VARCHAR, job_updated_at TIMESTAMPTZ,
                file_name VARCHAR, line_number BIGINT, raw_line VARCHAR, error VARCHAR,
                rejected_at TIMESTAMPTZ DEFAULT current_timestamp)"""
        )

    def _table_ref(self, name: str) -> str:
        return f"{quote(self.catalog)}.{SCHEMA}.{quote(name)}"

    # --- reading -----------------------------------------------------------------

    def columns(self, table_name: str) -> dict[str, str]:
        """Column name -> type, {} if the table does not exist."""
        # One catalog query (information_schema is several times slower); a small job
        # asks this a few times, so it counts.
        rows = self.conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
            [self.catalog, SCHEMA, table_name],
        )
        return dict(rows.fetchall())

    def row_count(self, table_name: str) -> int | None:
        """Rows in the table, or None if it does not exist."""
        if not self.columns(table_name):
            return None
        return self._count(table_name)

    def preview(self, table_name: str, limit: int = 5) -> pl.DataFrame:
        result = self.conn.execute(
            f"SELECT * FROM {self._table_ref(table_name)} ORDER BY {JOB_UPDATED_AT_COLUMN} DESC, "
            f"{PRIMARY_KEY} LIMIT {int(limit)}"
        )
        names = [column[0] for column in result.description]
        return pl.DataFrame(result.fetchall(), schema=names, orient="row", infer_schema_length=None)

    def known_keys(self, table: GladlyTable, into: str | None = None) -> KnownKeys:
        """The keys a load of ``table`` (into ``into``) reads without inference: its text and
        JSON columns, or the declared ones if it has none yet."""
        return _known_keys(table, self.columns(into or table.name))

    def load_keys(
        self, table: GladlyTable, max_key_columns: int, into: str | None = None
    ) -> tuple[KnownKeys, KeyBudget]:
        """For a load of ``table`` (into ``into``): the keys it reads without inference, and its
        key budget (the keys of its columns and the declared ones, room up to ``max_key_columns``)."""
        columns = self.columns(into or table.name)
        keys = {key_of(column) for column in columns} | set(_declared_columns(table))
        budget = KeyBudget((key for key in keys if key is not None), max_key_columns)
        return _known_keys(table, columns), budget

    def key_problems(self, table_name: str) -> tuple[int, int]:
        """(rows with a null id, rows beyond the first of each id)."""
        ref = self._table_ref(table_name)
        # Counted over the ids' 64-bit hashes, a fraction of the memory and time of the ids at
        # ten million rows: distinct ids share a hash only by rare chance, so as many hashes as
        # ids proves the ids unique. Otherwise the ids themselves are counted.
        null_ids, repeated = _row(
            self.conn,
            f"SELECT count(*) FILTER (WHERE {PRIMARY_KEY} IS NULL), "
            # hash(NULL) is a value: null ids are left out of the hashes as they are of count(id).
            f"count({PRIMARY_KEY}) - count(DISTINCT hash({PRIMARY_KEY})) FILTER (WHERE {PRIMARY_KEY} IS NOT NULL) "
            f"FROM {ref}",
        )
        if repeated:
            repeated = _scalar(self.conn, f"SELECT count({PRIMARY_KEY}) - count(DISTINCT {PRIMARY_KEY}) FROM {ref}")
        return int(null_ids), int(repeated)

    # --- full refresh: build aside, then swap -----------------------------------

    @staticmethod
    def rebuild_name(table: GladlyTable) -> str:
        return f"_rebuild_{table.name}"

    def start_rebuild(self, table: GladlyTable) -> str:
        """A fresh, empty table to load into; the live table stays readable meanwhile."""
        name = self.rebuild_name(table)
        self._drop(name)
        return name

    def ensure_table(self, table: GladlyTable) -> None:
        """Create the table with its declared columns if it does not exist (no job had its file yet)."""
        self._create_if_missing(table.name, table)

    def discard_work_tables(self, table: GladlyTable) -> None:
        """Drop what a failed load or rebuild of ``table`` left: its staging and rebuild tables."""
        rebuild = self.rebuild_name(table)
        for name in (stage_name(table.name), stage_name(rebuild), rebuild):
            self._drop(name)

    def finish_rebuild(self, table: GladlyTable) -> None:
        """Swap the rebuilt table in, in one transaction."""
        name = self.rebuild_name(table)
        if not self.columns(name):  # no job still listed had a file for this table
            self._create_if_missing(name, table)
        with transaction(self.conn):
            self._drop(table.name)
            self.conn.execute(f"ALTER TABLE {self._table_ref(name)} RENAME TO {quote(table.name)}")

    # --- loading -----------------------------------------------------------------

    def apply_job(
        self,
        table: GladlyTable,
        job_id: str,
        job_updated_at: datetime,
        batches: Iterable[Batch],
        into: str | None = None,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> JobResult:
        """Merge one job's file into the table, atomically.

        The file is loaded into a staging table, committed every ``STAGE_COMMIT_BYTES``
        so that memory stays flat however large the file; the table itself changes only
        in the last transaction, which also merges (a small file takes one transaction).
        ``into`` names another table to load (a rebuild). If anything fails (a
        ``BaseException`` too), the table is left as it was and no staging table remains.
        """
        target = into or table.name
        stage = stage_name(target)
        columns = self.columns(target)
        # The stage keeps the file order in a column of its own: DuckDB may insert in any
        # order, which lets it insert on every thread.
        with session_setting(self.conn, "preserve_insertion_order", False):
            try:
                return self._apply_job(table, target, columns, stage, job_id, job_updated_at, batches, on_batch)
            except BaseException as error:
                self._clean_up_failed_job(stage, None if columns else target, error)
                raise

    def _apply_job(
        self,
        table: GladlyTable,
        target: str,
        target_columns: dict[str, str],
        stage: str,
        job_id: str,
        job_updated_at: datetime,
        batches: Iterable[Batch],
        on_batch: Callable[[Batch], None] | None,
    ) -> JobResult:
        load = _LoadState()
        rejected = 0
        uncommitted = 0
        timings = StepTimings()
        pending = _Pending()
        with transaction(self.conn):
            if not target_columns:
                target_columns = self._create(target, table)
            load.columns = self._create_stage(stage, target, target_columns)
            load.names = ColumnNames(load.columns)
            for batch in batches:
                timings.parse += batch.parse_seconds
                rows = self._stage_rows(batch.frame, batch.json_columns, load)
                if rows is not None:
                    if not pending.takes(rows):
                        # Types may change below: what is pending goes in under the types it was read with.
                        with timings.measure("insert"):
                            self._insert(stage, pending.take(), job_id, job_updated_at, load)
                    load.columns = self._evolve(stage, rows.incoming, load, load.columns, rows.frame)
                    pending.add(rows)
                uncommitted += batch.byte_count
                if uncommitted >= STAGE_COMMIT_BYTES:
                    # Commit the stage on a row-group boundary (see STAGE_COMMIT_BYTES), the rows
                    # past it kept for the next transaction. Without a boundary yet (wide rows),
                    # the rows go in uncommitted: DuckDB's memory limit holds them, not Python.
                    to_commit = pending.rows - (load.rows % ROW_GROUP_ROWS)
                    with timings.measure("insert"):
                        self._insert(
                            stage, pending.take(to_commit if to_commit > 0 else None), job_id, job_updated_at, load
                        )
                    if to_commit > 0:
                        # Only the stage is committed here; the table is untouched until the end.
                        with timings.measure("commit"):
                            self.conn.execute("COMMIT; BEGIN TRANSACTION")
                        uncommitted = 0
                if batch.rejected:
                    self._stage_rejected(batch.rejected, first=rejected == 0)
                    rejected += len(batch.rejected)
                load.bytes_read += batch.byte_count
                if on_batch:
                    on_batch(batch)
            with timings.measure("insert"):
                self._insert(stage, pending.take(), job_id, job_updated_at, load)
            merging = time.perf_counter()
            self._drop_earlier_duplicates(stage)
            self._forget_rejected_lines(table, job_id)
            if rejected:
                self._quarantine(table, job_id, job_updated_at)
            self.conn.execute(f"ALTER TABLE {self._table_ref(stage)} DROP COLUMN {ORDINAL_COLUMN}")
            del load.columns[ORDINAL_COLUMN]
            staged = self._count(stage)
            if self._is_empty(target):
                # Nothing to merge with: the staged rows become the table, no copy made.
                inserted, updated, unchanged = staged, 0, 0
                self._drop(target)
                self.conn.execute(f"ALTER TABLE {self._table_ref(stage)} RENAME TO {quote(target)}")
            else:
                self._evolve(target, load.columns, load, existing=target_columns, source=stage)
                inserted, updated, unchanged = self._merge_stage(stage, target, staged)
            committing = time.perf_counter()
            timings.merge = committing - merging
        timings.commit += time.perf_counter() - committing
        return JobResult(
            job_id=job_id,
            rows_in_file=load.rows,
            inserted=inserted,
            updated=updated,
            unchanged=unchanged,
            rejected=rejected,
            bytes_read=load.bytes_read,
            new_columns=tuple(sorted(load.new_columns)),
            widened_columns=tuple(sorted(load.widened_columns)),
            timings=timings,
        )

    def _clean_up_failed_job(self, stage: str, created: str | None, error: BaseException) -> None:
        """Drop what a failed job left (its stage may hold committed batches; the table,
        if the job created it), without hiding the error that failed it."""
        try:
            with suppress(duckdb.Error):
                self.conn.unregister(_FRAME_VIEW)
            with transaction(self.conn):
                self._drop(stage)
                self.conn.execute(f"DROP TABLE IF EXISTS {_REJECTED_STAGE}")
                if created is not None and self.row_count(created) == 0:
                    self._drop(created)
        except duckdb.Error as cleanup_error:
            error.add_note(f"cleaning up after this error failed too: {cleanup_error}")

    def _create_if_missing(self, name: str, table: GladlyTable) -> None:
        if not self.columns(name):
            self._create(name, table)

    def _create(self, name: str, table: GladlyTable) -> dict[str, str]:
        """Create the table with its declared columns; returns its columns."""
        declared = ", ".join(f"{quote(column)} {kind}" for column, kind in _declared_columns(table).items())
        self.conn.execute(
            f"CREATE TABLE {self._table_ref(name)} ({declared}, "
            f"{JOB_ID_COLUMN} VARCHAR NOT NULL, {JOB_UPDATED_AT_COLUMN} TIMESTAMPTZ NOT NULL)"
        )
        return self.columns(name)

    def _create_stage(self, stage: str, target: str, target_columns: dict[str, str]) -> dict[str, str]:
        """An empty copy of the table's columns plus the file order (a stage left over
        from a killed load is replaced); returns the stage's columns."""
        self._drop(stage)
        self.conn.execute(
            f"CREATE TABLE {self._table_ref(stage)} AS SELECT *, NULL::BIGINT AS {ORDINAL_COLUMN} "
            f"FROM {self._table_ref(target)} LIMIT 0"
        )
        return {**target_columns, ORDINAL_COLUMN: "BIGINT"}

    def _count(self, name: str) -> int:
        return int(_scalar(self.conn, f"SELECT count(*) FROM {self._table_ref(name)}"))

    def _is_empty(self, name: str) -> bool:
        return _row(self.conn, f"SELECT NOT EXISTS (FROM {self._table_ref(name)})")[0] is True

    def _drop(self, name: str) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {self._table_ref(name)}")

    def _stage_rows(self, frame: pl.DataFrame, json_columns: frozenset[str], load: _LoadState) -> _Rows | None:
        """A parsed frame under the stage's column names, with its rows' file order; None if empty."""
        if frame.is_empty():
            return None
        # Keys without a value here get no column yet (they have nothing to keep).
        kinds = {
            key: kind
            for key, dtype in frame.schema.items()
            if (kind := _duckdb_type(dtype, key in json_columns)) is not None and frame[key].null_count() < frame.height
        }
        # New keys get their columns in the order they first hold a value (see column_names).
        new_keys = sorted(
            (key for key in kinds if load.names.get(key) is None),
            key=lambda key: (frame[key].is_not_null().arg_max() or 0, key),
        )
        for key in new_keys:
            load.names.assign(key)
        columns = {key: load.names.assign(key) for key in kinds}
        # Known keys in the stage's column order, then the new ones in theirs (_evolve adds their
        # columns in this order): inferred and known-key batches list their columns differently.
        position = {name: index for index, name in enumerate(load.columns)}
        new = set(new_keys)
        ordered = (
            sorted((key for key in kinds if key not in new), key=lambda key: position.get(columns[key], len(position)))
            + new_keys
        )
        # Series by name, not expressions: to pl.col a key like "*" or "^a$" is a pattern.
        ordinal = pl.int_range(load.rows, load.rows + frame.height, eager=True).alias(ORDINAL_COLUMN)
        load.rows += frame.height
        renamed = pl.DataFrame([*(frame.get_column(key).alias(columns[key]) for key in ordered), ordinal])
        return _Rows(renamed, {columns[key]: kinds[key] for key in ordered})

    def _insert(self, dest: str, rows: _Rows | None, job_id: str, job_updated_at: datetime, load: _LoadState) -> None:
        """Insert staged rows in one statement."""
        if rows is None:
            return
        select = []
        for name, kind in rows.incoming.items():
            # A value landing in a text or JSON column of another type: its JSON text.
            column_type = load.columns[name]
            value = f"{_FRAME_VIEW}.{quote(name)}"
            if column_type in ("VARCHAR", "JSON") and kind != column_type:
                select.append(f"({_as_text(value, kind)})::{column_type} AS {quote(name)}")
            elif column_type == "JSON":
                # Polars types a repeated key by its last value but keeps its first: a
                # text first value in a JSON column is kept as a JSON string, not failing
                # the job (text that is valid JSON itself is kept as that JSON).
                select.append(f"coalesce(TRY_CAST({value} AS JSON), to_json({value})) AS {quote(name)}")
            else:
                select.append(value)
        # Record batches of a few thousand rows: DuckDB gives each to one thread.
        frame = rows.frame
        pieces = [frame.slice(start, _INSERT_BATCH_ROWS) for start in range(0, frame.height, _INSERT_BATCH_ROWS)]
        self._execute_on_frame(
            pl.concat(pieces, rechunk=False),
            f"INSERT INTO {self._table_ref(dest)} BY NAME SELECT {', '.join(select)}, "
            f"{_FRAME_VIEW}.{ORDINAL_COLUMN}, ? AS {JOB_ID_COLUMN}, ? AS {JOB_UPDATED_AT_COLUMN} "
            f"FROM {_FRAME_VIEW}",
            [job_id, job_updated_at],
        )

    def _execute_on_frame(self, frame: pl.DataFrame, sql: str, parameters: list[Any] | None = None) -> None:
        """Run ``sql`` with ``frame`` registered as ``_FRAME_VIEW``."""
        # Arrow string views: Polars hands them over without copying, and DuckDB reads them.
        self.conn.register(_FRAME_VIEW, frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        try:
            self.conn.execute(sql, parameters)
        finally:
            # After a failed statement the transaction is aborted and this would fail too,
            # hiding the cause; the failed job's clean-up unregisters it.
            with suppress(duckdb.Error):
                self.conn.unregister(_FRAME_VIEW)

    def _evolve(
        self,
        table_name: str,
        incoming: dict[str, str],
        load: _LoadState,
        existing: dict[str, str] | None = None,
        frame: pl.DataFrame | None = None,
        source: str | None = None,
    ) -> dict[str, str]:
        """Add and widen columns for ``incoming``, whose values are in ``frame`` or the
        table ``source``; returns the table's columns after. ``existing``: the table's
        columns if the caller knows them (saves a catalog query)."""
        existing = existing or self.columns(table_name)
        changed = False
        for name, kind in incoming.items():
            if name == ORDINAL_COLUMN:
                continue
            current = existing.get(name)
            if current is None:
                self.conn.execute(f"ALTER TABLE {self._table_ref(table_name)} ADD COLUMN {quote(name)} {kind}")
                load.new_columns.add(name)
                changed = True
                continue

            def big_integers(name: str = name, current: str = current) -> bool:
                if current == "BIGINT":
                    return self._has_big_integers(table_name, name)
                if frame is not None:
                    return bool((frame[name].abs() >= _EXACT_DOUBLE_LIMIT).any())
                return source is not None and self._has_big_integers(source, name)

            wider = _widen(current, kind, big_integers)
            if wider != current:
                using = quote(name) if wider == "DOUBLE" else f"({_as_text(quote(name), current)})::{wider}"
                self.conn.execute(
                    f"ALTER TABLE {self._table_ref(table_name)} ALTER COLUMN {quote(name)} "
                    f"SET DATA TYPE {wider} USING {using}"
                )
                load.widened_columns.add(name)
                changed = True
        return self.columns(table_name) if changed else existing

    def _has_big_integers(self, table_name: str, column: str) -> bool:
        """Whether a BIGINT column holds an integer a double would round."""
        return bool(
            _scalar(
                self.conn,
                f"SELECT count(*) FROM {self._table_ref(table_name)} "
                f"WHERE abs({quote(column)}::HUGEINT) >= {_EXACT_DOUBLE_LIMIT}",
            )
        )

    def _drop_earlier_duplicates(self, table_name: str) -> None:
        """Within one file the last line of an id wins (the stage's own file order)."""
        ref = self._table_ref(table_name)
        duplicates = _scalar(self.conn, f"SELECT count(*) - count(DISTINCT {PRIMARY_KEY}) FROM {ref}")
        if duplicates:
            self.conn.execute(
                f"DELETE FROM {ref} AS s USING (SELECT {PRIMARY_KEY}, max({ORDINAL_COLUMN}) AS last FROM {ref} "
                f"GROUP BY {PRIMARY_KEY} HAVING count(*) > 1) AS d "
                f"WHERE s.{PRIMARY_KEY} = d.{PRIMARY_KEY} AND s.{ORDINAL_COLUMN} < d.last"
            )

    def _merge_stage(self, stage: str, target: str, staged: int) -> tuple[int, int, int]:
        stage_ref, target_ref = self._table_ref(stage), self._table_ref(target)
        # The staged ids found in the table, found in one scan of the table's ids (the part of
        # the merge that grows with the table). A staged row is stale if the table holds its id
        # in this version or a newer one: a late or repeated job then changes nothing.
        self.conn.execute(
            f"CREATE TEMP TABLE {_MERGE_MATCHES} AS SELECT t.rowid AS table_row, s.rowid AS stage_row, "
            f"bool_or((t.{JOB_UPDATED_AT_COLUMN}, t.{JOB_ID_COLUMN}) >= (s.{JOB_UPDATED_AT_COLUMN}, s.{JOB_ID_COLUMN})) "
            f"OVER (PARTITION BY s.rowid) AS stale FROM {target_ref} AS t JOIN {stage_ref} AS s "
            f"ON t.{PRIMARY_KEY} = s.{PRIMARY_KEY}"
        )
        unchanged = _scalar(
            self.conn, f"DELETE FROM {stage_ref} WHERE rowid IN (SELECT stage_row FROM {_MERGE_MATCHES} WHERE stale)"
        )
        updated = _scalar(
            self.conn,
            f"DELETE FROM {target_ref} WHERE rowid IN (SELECT table_row FROM {_MERGE_MATCHES} WHERE NOT stale)",
        )
        # Created in the job's transaction: a failed job's rollback removes it too.
        self.conn.execute(f"DROP TABLE {_MERGE_MATCHES}")
        self.conn.execute(f"INSERT INTO {target_ref} BY NAME FROM {stage_ref}")
        self._drop(stage)
        inserted = staged - unchanged - updated
        return int(inserted), int(updated), int(unchanged)

    def _stage_rejected(self, lines: list[RejectedLine], first: bool) -> None:
        if first:  # most jobs reject nothing: no table for them
            self.conn.execute(
                f"CREATE OR REPLACE TEMP TABLE {_REJECTED_STAGE} (line_number BIGINT, raw_line VARCHAR, error VARCHAR)"
            )
        frame = pl.DataFrame(
            {
                "line_number": [line.line_number for line in lines],
                "raw_line": [line.raw for line in lines],
                "error": [line.error for line in lines],
            },
            schema={"line_number": pl.Int64, "raw_line": pl.String, "error": pl.String},
        )
        self._execute_on_frame(frame, f"INSERT INTO {_REJECTED_STAGE} FROM {_FRAME_VIEW}")

    def _quarantine(self, table: GladlyTable, job_id: str, job_updated_at: datetime) -> None:
        """Move the job's rejected lines into _rejected_lines, in file order."""
        self.conn.execute(
            f"INSERT INTO {self._table_ref(REJECTED_LINES)} "
            "(table_name, job_id, job_updated_at, file_name, line_number, raw_line, error) "
            f"SELECT ?, ?, ?, ?, line_number, raw_line, error FROM {_REJECTED_STAGE} ORDER BY line_number",
            [table.name, job_id, job_updated_at, table.file_name],
        )
        self.conn.execute(f"DROP TABLE {_REJECTED_STAGE}")

    def _forget_rejected_lines(self, table: GladlyTable, job_id: str) -> None:
        """A job applied again replaces its quarantined lines instead of doubling them."""
        self.conn.execute(
            f"DELETE FROM {self._table_ref(REJECTED_LINES)} WHERE table_name = ? AND job_id = ?",
            [table.name, job_id],
        )


@dataclass(frozen=True)
class FetchedWindow:
    """One report request of a day: its window, how many rows and bytes it returned."""

    window: ReportWindow
    rows: int
    bytes: int


@dataclass(frozen=True)
class DayResult:
    rows: int  # the day's rows now
    replaced: int  # rows the day had before
    moved: int  # rows with one of these keys taken out of other days (a work session that ended)
    new_columns: tuple[str, ...]


# The most columns a report table takes: a report's header may name any number of columns
# Gladly did not document, each a column of text; the cells of those past it go to _unparsed.
MAX_REPORT_COLUMNS = 200


def _fold_excess_columns(frame: pl.DataFrame, existing: Iterable[str], stream: ReportStream) -> pl.DataFrame:
    """``frame`` with its undeclared new columns past ``MAX_REPORT_COLUMNS`` (with the table's
    ``existing``) moved into the row's ``_unparsed`` JSON object: column name -> its cell,
    for the cells that hold one."""
    taken = {fold(name) for name in existing}
    undeclared = [
        name
        for name in frame.columns
        if fold(name) not in taken and name not in stream.columns_by_name and name != UNPARSED_COLUMN
    ]
    excess = undeclared[max(0, MAX_REPORT_COLUMNS - len(taken)) :]
    if not excess:
        return frame
    # Each cell as its JSON member ("name": value), written by Polars; empty cells as nothing.
    # Series by name, not expressions: to pl.col a name like "*" is a pattern.
    members = [
        pl.when(cells.is_not_null()).then(
            pl.struct(cells).struct.json_encode().str.strip_prefix("{").str.strip_suffix("}")
        )
        for cells in (frame.get_column(name) for name in excess)
    ]
    unparsed = frame.get_column(UNPARSED_COLUMN).cast(pl.String).str.strip_prefix("{").str.strip_suffix("}")
    joined = pl.concat_str([unparsed, *members], separator=",", ignore_nulls=True)
    merged = pl.select(pl.when(joined != "").then(pl.concat_str([pl.lit("{"), joined, pl.lit("}")]))).to_series()
    return frame.drop(excess).with_columns(merged.alias(UNPARSED_COLUMN))


class ReportTables:
    """Report tables in the gladly schema: one UTC day of a stream replaced at a time, atomically.

    Every row carries the day whose report delivered it (``_report_day``), so replacing a
    day never depends on how Gladly places rows in time; the requests behind each day are
    kept in ``_report_windows``, which the not-truncated check reads.
    """

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        self.conn = warehouse.conn
        self.conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {warehouse._table_ref(REPORT_WINDOWS)} (
                table_name VARCHAR NOT NULL, report_day DATE NOT NULL, window_start TIMESTAMPTZ NOT NULL,
                window_end TIMESTAMPTZ NOT NULL, instants BOOLEAN NOT NULL, rows BIGINT NOT NULL,
                bytes BIGINT NOT NULL, fetched_at TIMESTAMPTZ NOT NULL)"""
        )

    def replace_day(
        self,
        stream: ReportStream,
        day: date,
        frame: pl.DataFrame,
        windows: Sequence[FetchedWindow],
        fetched_at: datetime,
    ) -> DayResult:
        """Make ``stream``'s table hold exactly ``frame`` for ``day``, in one transaction: the day's
        previous rows go, and so do rows of the same keys stored under other days (rows that moved)."""
        warehouse = self.warehouse
        table = warehouse._table_ref(stream.name)
        load = _LoadState()
        with transaction(warehouse.conn):
            self._create_if_missing(stream)
            frame = _fold_excess_columns(frame, warehouse.columns(stream.name), stream)
            incoming = {
                name: kind
                for name, dtype in frame.schema.items()
                if (kind := "JSON" if name == UNPARSED_COLUMN else _duckdb_type(dtype, False)) is not None
            }
            warehouse._evolve(stream.name, incoming, load)
            replaced = int(_scalar(self.conn, f"DELETE FROM {table} WHERE {REPORT_DAY_COLUMN} = ?", [day]))
            self.conn.register("report_frame", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
            try:
                same_key = " AND ".join(f"t.{quote(k)} IS NOT DISTINCT FROM f.{quote(k)}" for k in stream.key)
                moved = int(
                    _scalar(
                        self.conn,
                        f"DELETE FROM {table} AS t WHERE EXISTS (SELECT 1 FROM report_frame AS f WHERE {same_key})",
                    )
                )
                columns = ", ".join(
                    f"f.{quote(name)}" if incoming.get(name) != "JSON" else f"f.{quote(name)}::JSON AS {quote(name)}"
                    for name in frame.columns
                )
                self.conn.execute(
                    f"INSERT INTO {table} BY NAME SELECT {columns}, ?::DATE AS {REPORT_DAY_COLUMN}, "
                    f"?::TIMESTAMPTZ AS {FETCHED_AT_COLUMN} FROM report_frame AS f",
                    [day, fetched_at],
                )
            finally:
                self.conn.unregister("report_frame")
            windows_table = warehouse._table_ref(REPORT_WINDOWS)
            self.conn.execute(
                f"DELETE FROM {windows_table} WHERE table_name = ? AND report_day = ?", [stream.name, day]
            )
            if windows:
                self.conn.executemany(
                    f"INSERT INTO {windows_table} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (stream.name, day, w.window.start, w.window.end, w.window.instants, w.rows, w.bytes, fetched_at)
                        for w in windows
                    ],
                )
        return DayResult(frame.height, replaced, moved, tuple(sorted(load.new_columns)))

    def _create_if_missing(self, stream: ReportStream) -> None:
        if self.warehouse.columns(stream.name):
            return
        declared = [f"{quote(column.name)} {column.duckdb_type}" for column in stream.columns]
        if stream.is_event_stream:
            declared.append(f"{quote(stream.key[0])} VARCHAR")
        self.conn.execute(
            f"CREATE TABLE {self.warehouse._table_ref(stream.name)} ({', '.join(declared)}, "
            f"{UNPARSED_COLUMN} JSON, {REPORT_DAY_COLUMN} DATE NOT NULL, {FETCHED_AT_COLUMN} TIMESTAMPTZ NOT NULL)"
        )

    def day_rows(self, stream: ReportStream, day: date) -> int:
        if not self.warehouse.columns(stream.name):
            return 0
        table = self.warehouse._table_ref(stream.name)
        return int(_scalar(self.conn, f"SELECT count(*) FROM {table} WHERE {REPORT_DAY_COLUMN} = ?", [day]))

    def key_problems(self, table_name: str, key: Sequence[str], required: Sequence[str]) -> tuple[int, int]:
        """(rows missing a ``required`` key column, keys that occur more than once)."""
        table = self.warehouse._table_ref(table_name)
        missing = " OR ".join(f"{quote(k)} IS NULL" for k in required) or "false"
        composite = f"({', '.join(quote(k) for k in key)})" if len(key) > 1 else quote(key[0])
        null_keys, duplicates = _row(
            self.conn, f"SELECT count(*) FILTER (WHERE {missing}), count(*) - count(DISTINCT {composite}) FROM {table}"
        )
        return int(null_keys), int(duplicates)

    def unparsed_rows(self, stream: ReportStream) -> int:
        table = self.warehouse._table_ref(stream.name)
        return int(_scalar(self.conn, f"SELECT count(*) FROM {table} WHERE {UNPARSED_COLUMN} IS NOT NULL"))

    def windows_at_least(self, stream: ReportStream, rows: int) -> list[dict[str, Any]]:
        """The stored windows of ``stream`` that returned ``rows`` rows or more."""
        result = self.conn.execute(
            f"SELECT report_day, window_start, window_end, rows FROM {self.warehouse._table_ref(REPORT_WINDOWS)} "
            "WHERE table_name = ? AND rows >= ? ORDER BY window_start",
            [stream.name, rows],
        )
        return [
            {"day": str(day), "from": start.isoformat(), "to": end.isoformat(), "rows": count}
            for day, start, end, count in result.fetchall()
        ]

    def replace_table(self, name: str, frame: pl.DataFrame, fetched_at: datetime) -> int:
        """A full refresh: the table becomes ``frame`` (plus ``_fetched_at``) in one transaction."""
        warehouse = self.warehouse
        stage = f"_load_{name}"
        self.conn.register("full_frame", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        try:
            with transaction(warehouse.conn):
                warehouse._drop(stage)
                self.conn.execute(
                    f"CREATE TABLE {warehouse._table_ref(stage)} AS SELECT *, ?::TIMESTAMPTZ AS {FETCHED_AT_COLUMN} "
                    "FROM full_frame",
                    [fetched_at],
                )
                warehouse._drop(name)
                self.conn.execute(f"ALTER TABLE {warehouse._table_ref(stage)} RENAME TO {quote(name)}")
        finally:
            self.conn.unregister("full_frame")
        return frame.height


@dataclass
class _Rows:
    """Parsed rows under the stage's column names, their file order in ``ORDINAL_COLUMN``."""

    frame: pl.DataFrame
    incoming: dict[str, str]  # column -> the DuckDB type of its values here (JSON for JSON text)


class _Pending:
    """Staged rows not inserted yet, all of the same columns and value types: one INSERT takes
    several batches, which DuckDB spreads over its threads."""

    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []
        self.incoming: dict[str, str] = {}
        self.rows = 0

    def takes(self, rows: _Rows) -> bool:
        return not self.frames or (rows.incoming == self.incoming and rows.frame.schema == self.frames[0].schema)

    def add(self, rows: _Rows) -> None:
        if not self.frames:
            self.incoming = rows.incoming
        self.frames.append(rows.frame)
        self.rows += rows.frame.height

    def take(self, count: int | None = None) -> _Rows | None:
        """The first ``count`` rows (all by default) as one frame; the rest stay pending."""
        if not self.frames:
            return None
        frame = pl.concat(self.frames, rechunk=False)
        count = frame.height if count is None else count
        rest = frame.slice(count)
        taken = _Rows(frame.slice(0, count), self.incoming)
        self.frames = [rest] if rest.height else []
        self.rows = rest.height
        return taken


class _LoadState:
    def __init__(self) -> None:
        self.rows = 0
        self.columns: dict[str, str] = {}  # the stage's, kept up to date by _evolve
        self.names = ColumnNames(())  # the stage's key -> column mapping
        self.bytes_read = 0
        self.new_columns: set[str] = set()
        self.widened_columns: set[str] = set()
