"""The Gladly tables as software-defined assets, generated from ``tables.TABLES``.

One multi-asset holds the four tables so that a run lists Gladly's export jobs
once and opens the DuckDB file once; each table is still its own asset, and any
subset can be materialised. The work itself lives in ``sync``.
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.definitions.metadata import TableMetadataSet  # not re-exported by dagster 1.13
from dagster_duckdb import DuckDBResource
from pydantic import Field

from gladly_assets import metadata_keys as keys
from gladly_assets.checks import check_specs, evaluate_checks
from gladly_assets.cursor import CLOCK_SKEW_ALLOWANCE, utc_now
from gladly_assets.export_jobs import ExportJob
from gladly_assets.load.jsonl import DEFAULT_MAX_LINE_BYTES, ReadLimits
from gladly_assets.load.key_budget import DEFAULT_MAX_KEY_COLUMNS
from gladly_assets.load.warehouse import Warehouse
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.resources.warehouse import open_warehouse
from gladly_assets.sync import TableSync, outcome_metadata, plan_sync
from gladly_assets.tables import SCHEMA, TABLES, GladlyTable
from gladly_assets.text import printable

# Every step that writes the DuckDB file claims this pool; with a limit of 1 (see
# dagster.yaml in the README) runs queue instead of failing on DuckDB's file lock.
DUCKDB_POOL = "gladly_duckdb"
KINDS = {"gladly", "polars", "duckdb"}


class GladlySyncConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Rebuild the selected tables from every export job Gladly still lists (the last 14 days).",
    )
    clock_skew_seconds: int = Field(
        default=int(CLOCK_SKEW_ALLOWANCE.total_seconds()),
        ge=0,
        description="A job whose updatedAt is further than this ahead of this machine's clock is not applied "
        "(nor does it move the cursor) until the clock passes it.",
    )
    max_line_bytes: int = Field(
        default=DEFAULT_MAX_LINE_BYTES,
        ge=1024,
        description="Longest line of an export file parsed, in bytes, its line break not counted: a line is "
        "held whole in memory to be parsed (and files are read in batches no larger). A longer one is "
        "quarantined in gladly._rejected_lines with its first 64 KiB.",
    )
    max_key_columns: int = Field(
        default=DEFAULT_MAX_KEY_COLUMNS,
        ge=1,
        description="Most top-level JSON keys a table admits, counting its declared keys and those of the "
        "columns it has. Each distinct key becomes a column, and thousands of them would exhaust memory: a "
        "line whose new keys find no room is quarantined whole in gladly._rejected_lines.",
    )


# Interrupts stop the run; any other BaseException (a Rust panic from Polars is one)
# fails only the table it came from.
_INTERRUPTS = (KeyboardInterrupt, SystemExit, GeneratorExit, dg.DagsterExecutionInterruptedError)


def table_spec(table: GladlyTable, freshness: dg.FreshnessPolicy | None, settings_notice: str = "") -> dg.AssetSpec:
    return dg.AssetSpec(
        key=table.asset_key,
        group_name=SCHEMA,
        kinds=KINDS,
        description=f"{table.description}\n\nDuckDB table `{table.qualified_name}`, merged on `id` from `{table.file_name}` of Gladly's export jobs."
        + (f"\n\n**{settings_notice}**" if settings_notice else ""),
        metadata={
            **TableMetadataSet(
                table_name=table.qualified_name,
                column_schema=dg.TableSchema(
                    columns=[dg.TableColumn(name, description=text) for name, text in table.columns]
                ),
            )
        },
        # A run with no new export job records nothing, so freshness means "new data".
        skippable=True,
        freshness_policy=freshness,
    )


def freshness_for(frequency: str) -> dg.FreshnessPolicy:
    """Stale once a table has gone two export periods (plus slack) without a new job."""
    period = timedelta(hours=1) if frequency.upper() == "HOURLY" else timedelta(days=1)
    return dg.FreshnessPolicy.time_window(
        fail_window=period * 2 + timedelta(hours=1), warn_window=period + timedelta(minutes=30)
    )


def build_gladly_assets(
    tables: Sequence[GladlyTable] = TABLES,
    frequency: str = "DAILY",
    settings_notice: str = "",
    clock: Callable[[], datetime] = utc_now,
) -> dg.AssetsDefinition:
    """``settings_notice`` says which settings were not applied: the descriptions and every run show it.
    ``clock``: this machine's clock, against which future-dated jobs are judged."""
    freshness = freshness_for(frequency)

    @dg.multi_asset(
        name="gladly_tables",
        specs=[table_spec(table, freshness, settings_notice) for table in tables],
        check_specs=check_specs(tables),
        can_subset=True,
        pool=DUCKDB_POOL,
    )
    def gladly_tables(
        context: dg.AssetExecutionContext,
        config: GladlySyncConfig,
        gladly: GladlyResource,
        duckdb: DuckDBResource,
    ) -> Iterator[dg.MaterializeResult[Any] | dg.AssetCheckResult]:
        if settings_notice:
            context.log.warning(settings_notice)
        selected = [table for table in tables if table.asset_key in context.selected_asset_keys]
        checks: dict[dg.AssetKey, list[str]] = {table.asset_key: [] for table in tables}
        for check_key in context.selected_asset_check_keys:
            checks[check_key.asset_key].append(check_key.name)
        listed = gladly.list_jobs() if selected else []
        if selected:
            context.log.info(
                f"Gladly lists {len(listed)} completed export job(s)"
                + (f", newest updatedAt {printable(listed[-1].updated_at_raw)}" if listed else "")
            )
        failed: list[str] = []
        with open_warehouse(duckdb) as connection:
            warehouse = Warehouse(connection)
            for table in tables:
                if table not in selected and not checks[table.asset_key]:
                    continue  # nothing to sync or check: its latest metadata is not needed
                metadata = keys.latest_metadata(context.instance, table.asset_key)
                materialized = None
                if table in selected:
                    try:
                        materialized = _sync(context, table, metadata, listed, config, gladly, warehouse, clock())
                    except _INTERRUPTS:
                        raise
                    except BaseException as error:
                        context.log.exception(
                            f"{table.qualified_name}: sync failed: {type(error).__name__}: {printable(error, 500)}"
                        )
                        failed.append(f"{table.name} ({type(error).__name__}: {printable(error, 300)})")
                        continue
                results = evaluate_checks(table, checks[table.asset_key], materialized or metadata, warehouse)
                if materialized is not None:
                    yield dg.MaterializeResult(asset_key=table.asset_key, metadata=materialized, check_results=results)
                else:
                    yield from results
        if failed:
            raise dg.Failure(
                description=f"Syncing failed for {'; '.join(failed)}. Each cause is logged above with its "
                "traceback. Committed jobs are kept and the next run resumes after them."
            )

    return gladly_tables


def _sync(
    context: dg.AssetExecutionContext,
    table: GladlyTable,
    previous: keys.Metadata,
    listed: Sequence[ExportJob],
    config: GladlySyncConfig,
    gladly: GladlyResource,
    warehouse: Warehouse,
    now: datetime,
) -> dict[str, Any] | None:
    """Sync one table; its new materialization metadata, or None if there was nothing new."""
    plan = plan_sync(
        table,
        previous,
        listed,
        warehouse.row_count(table.name),
        config.full_refresh,
        now,
        timedelta(seconds=config.clock_skew_seconds),
    )
    limits = ReadLimits(config.max_line_bytes, config.max_key_columns)
    sync = TableSync(table, plan, gladly, warehouse, context.log, limits)
    try:
        outcome = sync.run()
    except BaseException:
        # Record the jobs that did reach the live table: the next run starts after them.
        # A failed rebuild recorded nothing live, so nothing is recorded.
        if sync.outcome.committed and sync.outcome.applied:
            context.log_event(
                dg.AssetMaterialization(table.asset_key, metadata=outcome_metadata(table, sync.outcome, warehouse))
            )
        raise
    if not outcome.changed:
        context.log.info(f"{table.qualified_name}: no new export job; nothing to record")
        return None
    return outcome_metadata(table, outcome, warehouse)
