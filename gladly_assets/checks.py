"""Asset checks of every table, generated from ``tables.TABLES``.

* ``id_is_unique`` (blocking): the merge key is present and unique, so that
  downstream work never sees a broken table.
* ``no_retention_gap``: no export window was lost between two syncs because
  Gladly deleted it first (it keeps exports 14 days).
* ``no_rejected_lines``: the last sync quarantined no malformed line.

The last two read the asset's latest materialization metadata (written by
``sync``), so they need neither Gladly nor DuckDB.
"""

from collections.abc import Iterator, Sequence

import dagster as dg
from dagster_duckdb import DuckDBResource

from gladly_assets.assets import DUCKDB_POOL
from gladly_assets.cursor import RETENTION_GAP, ROWS_REJECTED, latest_metadata, metadata_value
from gladly_assets.resources.warehouse import REJECTED_LINES_TABLE, Warehouse
from gladly_assets.tables import TABLES, GladlyTable

ID_IS_UNIQUE = "id_is_unique"
NO_RETENTION_GAP = "no_retention_gap"
NO_REJECTED_LINES = "no_rejected_lines"


def _spec(table: GladlyTable, name: str, description: str, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=table.asset_key, description=description, blocking=blocking)


def build_key_checks(tables: Sequence[GladlyTable] = TABLES) -> dg.AssetChecksDefinition:
    by_key = {dg.AssetCheckKey(table.asset_key, ID_IS_UNIQUE): table for table in tables}

    @dg.multi_asset_check(
        name="gladly_id_checks",
        specs=[
            _spec(table, ID_IS_UNIQUE, "Every row has an id and no id occurs twice.", blocking=True)
            for table in tables
        ],
        can_subset=True,
        pool=DUCKDB_POOL,
    )
    def gladly_id_checks(
        context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
    ) -> Iterator[dg.AssetCheckResult]:
        with duckdb.get_connection() as connection:
            warehouse = Warehouse(connection)
            for check_key in context.selected_asset_check_keys:
                table = by_key[check_key]
                if warehouse.row_count(table.name) is None:
                    yield dg.AssetCheckResult(
                        asset_key=table.asset_key, check_name=ID_IS_UNIQUE, passed=False,
                        description=f"{table.qualified_name} does not exist: materialise the asset first.",
                    )
                    continue
                null_ids, duplicate_ids = warehouse.key_problems(table.name)
                yield dg.AssetCheckResult(
                    asset_key=table.asset_key,
                    check_name=ID_IS_UNIQUE,
                    passed=null_ids == 0 and duplicate_ids == 0,
                    metadata={"null_ids": null_ids, "duplicate_ids": duplicate_ids},
                    description=None if null_ids == duplicate_ids == 0 else (
                        f"{table.qualified_name} has {null_ids} row(s) without id and {duplicate_ids} "
                        "duplicated id(s); run the asset with full_refresh to rebuild it."
                    ),
                )

    return gladly_id_checks


def retention_gap_result(table: GladlyTable, metadata: dict) -> dg.AssetCheckResult:
    lost = metadata_value(metadata, RETENTION_GAP) or []
    windows = "; ".join(f"{window['from']} .. {window['to']} ({window['reason']})" for window in lost)
    return dg.AssetCheckResult(
        asset_key=table.asset_key,
        check_name=NO_RETENTION_GAP,
        passed=not lost,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"lost_windows": dg.MetadataValue.json(lost)},
        description=(
            f"Data of {table.qualified_name} is lost for these export windows: {windows}. Gladly keeps "
            "exports for 14 days and these were deleted before they were applied. To recover, ask Gladly "
            "support to regenerate the exports for these windows, then materialise with run config "
            "`full_refresh: true`."
        ) if lost else None,
    )


def rejected_lines_result(table: GladlyTable, metadata: dict) -> dg.AssetCheckResult:
    rejected = metadata_value(metadata, ROWS_REJECTED) or 0
    return dg.AssetCheckResult(
        asset_key=table.asset_key,
        check_name=NO_REJECTED_LINES,
        passed=rejected == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows_rejected": rejected},
        description=(
            f"The last sync of {table.qualified_name} quarantined {rejected} malformed line(s); the rest "
            f"loaded. Inspect them with: SELECT * FROM {REJECTED_LINES_TABLE} WHERE table_name = "
            f"'{table.name}' ORDER BY rejected_at DESC"
        ) if rejected else None,
    )


_METADATA_CHECKS = {
    NO_RETENTION_GAP: (retention_gap_result, "No export window was lost to Gladly's 14-day retention."),
    NO_REJECTED_LINES: (rejected_lines_result, "The last sync quarantined no malformed line."),
}


def build_metadata_checks(tables: Sequence[GladlyTable] = TABLES) -> dg.AssetChecksDefinition:
    by_key = {table.asset_key: table for table in tables}

    @dg.multi_asset_check(
        name="gladly_sync_checks",
        specs=[
            _spec(table, name, description)
            for table in tables
            for name, (_, description) in _METADATA_CHECKS.items()
        ],
        can_subset=True,
    )
    def gladly_sync_checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        for check_key in context.selected_asset_check_keys:
            evaluate, _ = _METADATA_CHECKS[check_key.name]
            metadata = dict(latest_metadata(context.instance, check_key.asset_key))
            yield evaluate(by_key[check_key.asset_key], metadata)

    return gladly_sync_checks
