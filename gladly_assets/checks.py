"""Asset checks of every table, generated from ``tables.TABLES``.

* ``id_is_unique`` (blocking): the merge key is present and unique, so that
  downstream work never sees a broken table.
* ``no_retention_gap``: no time between the first and the last export window
  applied is left uncovered by an applied job (Gladly deleted it first: it keeps
  exports 14 days); it passes again once a late or regenerated job covers it.
* ``no_rejected_lines``: the last sync quarantined no line (malformed, too long, or too wide).

They are evaluated by the table asset's own step, right after its load: the
DuckDB connection is already open, the metadata just written, and a table with
nothing new still gets its checks (a separate check step would be skipped).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import dagster as dg

from gladly_assets import metadata_keys as keys
from gladly_assets.key_check import key_check_result
from gladly_assets.load.jsonl import REJECTION_CAUSES
from gladly_assets.load.warehouse import REJECTED_LINES_TABLE, Warehouse
from gladly_assets.tables import GladlyTable

ID_IS_UNIQUE = "id_is_unique"
NO_RETENTION_GAP = "no_retention_gap"
NO_REJECTED_LINES = "no_rejected_lines"

Metadata = Mapping[str, Any]


def id_is_unique(table: GladlyTable, metadata: Metadata, warehouse: Warehouse) -> dg.AssetCheckResult:
    if warehouse.row_count(table.name) is None:
        return dg.AssetCheckResult(
            asset_key=table.asset_key,
            check_name=ID_IS_UNIQUE,
            passed=False,
            description=f"{table.qualified_name} does not exist: materialise the asset first.",
        )
    null_ids, duplicate_ids = warehouse.key_problems(table.name)
    return key_check_result(
        table.asset_key,
        ID_IS_UNIQUE,
        {"null_ids": null_ids, "duplicate_ids": duplicate_ids},
        f"{table.qualified_name} has {null_ids} row(s) without id and {duplicate_ids} row(s) repeating "
        "another row's id; run the asset with full_refresh to rebuild it.",
    )


def no_retention_gap(table: GladlyTable, metadata: Metadata, warehouse: Warehouse) -> dg.AssetCheckResult:
    lost = keys.read(metadata, keys.RETENTION_GAP) or []
    windows = "; ".join(f"{window['from']} .. {window['to']} ({window['reason']})" for window in lost)
    return dg.AssetCheckResult(
        asset_key=table.asset_key,
        check_name=NO_RETENTION_GAP,
        passed=not lost,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"lost_windows": dg.MetadataValue.json(lost)},
        description=(
            f"Data of {table.qualified_name} is lost for these export windows: {windows}. No applied export "
            "job covers them: Gladly keeps exports for 14 days and these were deleted before they were "
            "applied. To recover, ask Gladly support to regenerate the exports for these windows: the next "
            "sync applies them and this check passes once every window is covered."
        )
        if lost
        else None,
    )


def no_rejected_lines(table: GladlyTable, metadata: Metadata, warehouse: Warehouse) -> dg.AssetCheckResult:
    rejected = keys.read(metadata, keys.ROWS_REJECTED) or 0
    return dg.AssetCheckResult(
        asset_key=table.asset_key,
        check_name=NO_REJECTED_LINES,
        passed=rejected == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows_rejected": rejected},
        description=(
            f"The last sync of {table.qualified_name} quarantined {rejected} line(s) ({REJECTION_CAUSES}); the rest "
            f"loaded. Inspect them with: SELECT * FROM {REJECTED_LINES_TABLE} WHERE table_name = "
            f"'{table.name}' ORDER BY rejected_at DESC"
        )
        if rejected
        else None,
    )


Evaluate = Callable[[GladlyTable, Metadata, Warehouse], dg.AssetCheckResult]

# name -> (how to evaluate it, description, blocking)
CHECKS: dict[str, tuple[Evaluate, str, bool]] = {
    ID_IS_UNIQUE: (id_is_unique, "Every row has an id and no id occurs twice.", True),
    NO_RETENTION_GAP: (no_retention_gap, "No export window was lost to Gladly's 14-day retention.", False),
    NO_REJECTED_LINES: (no_rejected_lines, f"The last sync quarantined no line ({REJECTION_CAUSES}).", False),
}


def check_specs(tables: Sequence[GladlyTable]) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=table.asset_key, description=description, blocking=blocking)
        for table in tables
        for name, (_, description, blocking) in CHECKS.items()
    ]


def evaluate_checks(
    table: GladlyTable, names: Iterable[str], metadata: Metadata, warehouse: Warehouse
) -> list[dg.AssetCheckResult]:
    """The results of the named checks, from the table's latest metadata and its DuckDB table."""
    return [CHECKS[name][0](table, metadata, warehouse) for name in names]
