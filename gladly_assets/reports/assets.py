"""Gladly's report streams as daily-partitioned assets, built from ``streams.STREAMS``;
teams, inboxes and team_agents as one full-refresh multi-asset.

A partition is one UTC day: a run asks Gladly for exactly that day (split while
at the row cap, see ``fetch``), replaces exactly that day's rows in one DuckDB
transaction and records the day's materialization (rows, bytes, seconds). A run
may cover a range of days (a backfill); the stream's checks are evaluated once
at the end of its step. The sensor in ``refresh`` decides which days to (re)load.
"""

import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from gladly_assets.assets import DUCKDB_POOL
from gladly_assets.declared_table import table_schema
from gladly_assets.key_check import key_check_result
from gladly_assets.load.directory import inboxes_frame, teams_frames
from gladly_assets.load.warehouse import REPORT_WINDOWS_TABLE, ReportTables, Warehouse
from gladly_assets.report_schema import (
    EVENT_KEY_COLUMN,
    FETCHED_AT_COLUMN,
    REPORT_DAY_COLUMN,
    UNPARSED_COLUMN,
    ReportStream,
)
from gladly_assets.reports.fetch import fetch_day, truncation_threshold
from gladly_assets.reports.streams import STREAMS
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.resources.warehouse import open_warehouse
from gladly_assets.tables import SCHEMA

GROUP = "gladly_reports"
DIRECTORY_GROUP = "gladly_directory"
KINDS = {"gladly", "polars", "duckdb"}
# Gladly's reports go back years; a backfill from the UI can start here (GLADLY_REPORTS_START_DATE).
DEFAULT_START_DATE = "2024-01-01"

# Days one run loads at most (a backfill is cut into runs of this many days).
MAX_DAYS_PER_RUN = 31
# Undeclared columns named in a materialization's metadata (a header may name any number).
_LISTED_NEW_COLUMNS = 100

KEY_IS_UNIQUE = "key_is_unique"
NOT_TRUNCATED = "not_truncated"
NO_UNPARSED_VALUES = "no_unparsed_values"

_LOADER_COLUMNS = {
    UNPARSED_COLUMN: "Cells that did not parse as their declared type, and cells of undeclared columns past the "
    "table's column limit, as JSON {column: text}; NULL if none.",
    REPORT_DAY_COLUMN: "The UTC day (partition) whose report delivered this row.",
    FETCHED_AT_COLUMN: "When that report was fetched (UTC).",
}


def asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([SCHEMA, name])


def partitions(start_date: str = DEFAULT_START_DATE) -> dg.DailyPartitionsDefinition:
    """Complete UTC days from ``start_date`` to yesterday."""
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC")


def column_descriptions(stream: ReportStream) -> dict[str, str]:
    described = {column.name: column.description for column in stream.columns}
    if stream.is_event_stream:
        described[EVENT_KEY_COLUMN] = f"SHA-256 of {', '.join(stream.event_columns)}: the event's key."
    return {**described, **_LOADER_COLUMNS}


def stream_description(stream: ReportStream) -> str:
    refresh = (
        f"the last {stream.refresh_days} days are re-read as their rows still change"
        if stream.refresh_days
        else "each day is read once (events do not change)"
    )
    return (
        f"{stream.description}\n\nDuckDB table `{stream.qualified_name}` from Gladly's `{stream.metric_set}` "
        f"report, one partition per UTC day placed by `{stream.time_column}`, keyed on "
        f"`{' + '.join(stream.key)}`; {refresh}."
    )


def check_specs(stream: ReportStream) -> list[dg.AssetCheckSpec]:
    key = stream.asset_key
    return [
        dg.AssetCheckSpec(
            KEY_IS_UNIQUE,
            asset=key,
            blocking=True,
            description=f"Every row has its key ({', '.join(stream.key)}) once.",
        ),
        dg.AssetCheckSpec(
            NOT_TRUNCATED,
            asset=key,
            description="No stored report window came back at 90% of Gladly's row cap (rows may have been dropped).",
        ),
        dg.AssetCheckSpec(
            NO_UNPARSED_VALUES, asset=key, description="Every cell parsed as its declared type (else see _unparsed)."
        ),
    ]


def evaluate_checks(
    stream: ReportStream, names: Sequence[str], tables: ReportTables, row_cap: int
) -> list[dg.AssetCheckResult]:
    key, table = stream.asset_key, stream.qualified_name
    exists = bool(tables.warehouse.columns(stream.name))
    results = []
    for name in names:
        if not exists:
            results.append(
                dg.AssetCheckResult(
                    asset_key=key,
                    check_name=name,
                    passed=False,
                    description=f"{table} does not exist: materialise a partition first.",
                )
            )
        elif name == KEY_IS_UNIQUE:
            missing, duplicates = tables.key_problems(stream.name, stream.key, stream.required_key)
            results.append(
                key_check_result(
                    key,
                    name,
                    {"rows_without_key": missing, "duplicate_keys": duplicates},
                    f"{table} has {missing} row(s) without {', '.join(stream.required_key)} and "
                    f"{duplicates} duplicated key(s); re-materialise the affected days.",
                )
            )
        elif name == NOT_TRUNCATED:
            threshold = truncation_threshold(row_cap)
            suspect = tables.windows_at_least(stream, threshold)
            results.append(
                dg.AssetCheckResult(
                    asset_key=key,
                    check_name=name,
                    passed=not suspect,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"threshold_rows": threshold, "suspect_windows": dg.MetadataValue.json(suspect)},
                    description=None
                    if not suspect
                    else f"{len(suspect)} stored window(s) of {table} returned {threshold:,} rows or more (90% of "
                    f"the row cap of {row_cap:,}): Gladly may have dropped rows. Re-materialise those days; see "
                    f"{REPORT_WINDOWS_TABLE}.",
                )
            )
        elif name == NO_UNPARSED_VALUES:
            unparsed = tables.unparsed_rows(stream)
            results.append(
                dg.AssetCheckResult(
                    asset_key=key,
                    check_name=name,
                    passed=unparsed == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"rows_with_unparsed_cells": unparsed},
                    description=None
                    if not unparsed
                    else f"{unparsed} row(s) of {table} have cells that did not parse as their declared type, or "
                    "cells of undeclared columns past the table's column limit; "
                    f"they are kept as text: SELECT {UNPARSED_COLUMN} FROM {table} WHERE {UNPARSED_COLUMN} IS NOT NULL",
                )
            )
    return results


def build_report_asset(stream: ReportStream, partitions_def: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    described = column_descriptions(stream)

    @dg.asset(
        key=stream.asset_key,
        partitions_def=partitions_def,
        group_name=GROUP,
        kinds=KINDS,
        description=stream_description(stream),
        metadata={
            "dagster/table_name": stream.qualified_name,
            "dagster/column_schema": table_schema(
                {column.name: column.duckdb_type for column in stream.columns}, described
            ),
            "gladly/metric_set": stream.metric_set,
            "gladly/refresh_days": stream.refresh_days,
        },
        check_specs=check_specs(stream),
        pool=DUCKDB_POOL,
        # A backfill runs up to a month of days in one process: one Dagster run instead of one
        # per day, and the report pacer then sees every request.
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_DAYS_PER_RUN),
        output_required=False,
    )
    def report_asset(
        context: dg.AssetExecutionContext, gladly: GladlyResource, duckdb: DuckDBResource
    ) -> Iterator[dg.AssetCheckResult]:
        # A run may hold a range of days (a backfill, the refresh sensor): each day is its own
        # transaction and its own materialization, so a failed day never undoes the others.
        days = [date.fromisoformat(key) for key in context.partition_keys]
        failed: dict[str, Exception] = {}
        for day in days:
            try:
                metadata = _load_day(context, stream, day, gladly, duckdb, described)
            except Exception as error:
                context.log.error(f"{stream.qualified_name} {day} failed and keeps what it had: {error}")
                failed[day.isoformat()] = error
                continue
            context.log_event(
                dg.AssetMaterialization(asset_key=stream.asset_key, partition=day.isoformat(), metadata=metadata)
            )
        with open_warehouse(duckdb) as connection:
            tables = ReportTables(Warehouse(connection))
            yield from evaluate_checks(
                stream, [k.name for k in context.selected_asset_check_keys], tables, gladly.report_row_cap
            )
        if len(days) == 1 and failed:
            raise next(iter(failed.values()))
        if failed:
            raise dg.Failure(
                description=f"{stream.qualified_name}: {len(failed)} of {len(days)} day(s) failed; the others are "
                "loaded. " + " ".join(f"{day}: {error}" for day, error in failed.items())
            )

    return report_asset


def _load_day(
    context: dg.AssetExecutionContext,
    stream: ReportStream,
    day: date,
    gladly: GladlyResource,
    duckdb: DuckDBResource,
    described: dict[str, str],
) -> dict[str, Any]:
    """Fetch one day and replace it in DuckDB; the day's materialization metadata."""
    with tempfile.TemporaryDirectory(prefix="gladly-report-") as scratch:
        fetched = fetch_day(stream, day, gladly, Path(scratch), context.log)
    with open_warehouse(duckdb) as connection:
        tables = ReportTables(Warehouse(connection))
        result = tables.replace_day(stream, day, fetched.frame, fetched.windows, datetime.now(UTC))
        columns = tables.warehouse.columns(stream.name)
        table_rows = tables.warehouse.row_count(stream.name) or 0
    context.log.info(
        f"{stream.qualified_name} {day}: {result.rows:,} rows from {len(fetched.windows)} request(s) "
        f"({fetched.bytes:,} bytes, {fetched.seconds:.1f} s); replaced {result.replaced:,}, "
        f"moved from other days {result.moved:,}"
    )
    return {
        "dagster/row_count": dg.MetadataValue.int(result.rows),
        "dagster/table_name": dg.MetadataValue.text(stream.qualified_name),
        "dagster/column_schema": table_schema(columns, described),
        "rows": dg.MetadataValue.int(result.rows),
        "bytes": dg.MetadataValue.int(fetched.bytes),
        "seconds": dg.MetadataValue.float(round(fetched.seconds, 3)),
        "requests": dg.MetadataValue.int(len(fetched.windows)),
        "split": dg.MetadataValue.bool(fetched.split),
        "windows": dg.MetadataValue.json(
            [{"window": str(w.window), "rows": w.rows, "bytes": w.bytes} for w in fetched.windows]
        ),
        "rows_replaced": dg.MetadataValue.int(result.replaced),
        "rows_moved_from_other_days": dg.MetadataValue.int(result.moved),
        "duplicate_rows_dropped": dg.MetadataValue.int(fetched.duplicate_rows),
        "unparsed_cells": dg.MetadataValue.int(fetched.unparsed_cells),
        "new_columns": dg.MetadataValue.json(sorted(fetched.new_columns)[:_LISTED_NEW_COLUMNS]),
        "new_columns_count": dg.MetadataValue.int(len(fetched.new_columns)),
        "table_rows": dg.MetadataValue.int(table_rows),
    }


# ---- teams and inboxes: small, unpaginated, a full refresh each run ---------------------------

DIRECTORY = {
    "teams": ("Gladly teams (GET /teams), replaced whole each run.", ("id",)),
    "inboxes": ("Gladly inboxes (GET /inboxes), replaced whole each run.", ("id",)),
    "team_agents": ("Which agents belong to which team, from the teams' agentIds.", ("team_id", "agent_id")),
}


def build_directory_assets() -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            asset_key(name),
            group_name=DIRECTORY_GROUP,
            kinds=KINDS,
            description=f"{text}\n\nDuckDB table `{SCHEMA}.{name}`, keyed on `{' + '.join(key)}`.",
            metadata={"dagster/table_name": f"{SCHEMA}.{name}"},
        )
        for name, (text, key) in DIRECTORY.items()
    ]
    checks = [
        dg.AssetCheckSpec(KEY_IS_UNIQUE, asset=asset_key(name), blocking=True, description=f"{' + '.join(key)} unique.")
        for name, (_, key) in DIRECTORY.items()
    ]

    @dg.multi_asset(name="gladly_directory", specs=specs, check_specs=checks, pool=DUCKDB_POOL)
    def gladly_directory(
        context: dg.AssetExecutionContext, gladly: GladlyResource, duckdb: DuckDBResource
    ) -> Iterator[dg.MaterializeResult[Any]]:
        teams, team_agents = teams_frames(gladly.list_teams())
        frames = {"teams": teams, "inboxes": inboxes_frame(gladly.list_inboxes()), "team_agents": team_agents}
        fetched_at = datetime.now(UTC)
        with open_warehouse(duckdb) as connection:
            tables = ReportTables(Warehouse(connection))
            for name, frame in frames.items():
                tables.replace_table(name, frame, fetched_at)
            for name, (_, key) in DIRECTORY.items():
                missing, duplicates = tables.key_problems(name, key, key)
                yield dg.MaterializeResult(
                    asset_key=asset_key(name),
                    metadata={
                        "dagster/row_count": dg.MetadataValue.int(frames[name].height),
                        "dagster/table_name": dg.MetadataValue.text(f"{SCHEMA}.{name}"),
                        "dagster/column_schema": table_schema(tables.warehouse.columns(name), {}),
                    },
                    check_results=[
                        key_check_result(
                            asset_key(name),
                            KEY_IS_UNIQUE,
                            {"rows_without_key": missing, "duplicate_keys": duplicates},
                            f"{SCHEMA}.{name} has {missing} row(s) without {' + '.join(key)} and {duplicates} "
                            "duplicated key(s) as Gladly listed them; the next refresh reads them again.",
                        )
                    ],
                )

    return gladly_directory


def build_report_assets(
    streams: Sequence[ReportStream] = STREAMS, start_date: str = DEFAULT_START_DATE
) -> list[dg.AssetsDefinition]:
    partitions_def = partitions(start_date)
    return [*(build_report_asset(stream, partitions_def) for stream in streams), build_directory_assets()]
