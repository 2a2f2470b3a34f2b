"""The analytics tables as assets downstream of the Gladly tables, generated from ``models.MODELS``.

Each asset refreshes by itself (an automation condition) after the tables it reads
materialise, incrementally from the high-water marks its last materialization
recorded, and evaluates its checks in its own step, like the table assets do.
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from gladly_assets import metadata_keys as keys
from gladly_assets.analytics.build import AnalyticsWarehouse, BuildResult, Mark
from gladly_assets.analytics.checks import check_specs, evaluate_checks
from gladly_assets.analytics.models import GROUP, MODELS, MODELS_BY_NAME, AnalyticsModel
from gladly_assets.assets import DUCKDB_POOL
from gladly_assets.resources.warehouse import open_warehouse
from gladly_assets.tables import TABLES_BY_NAME

KINDS = {"duckdb", "sql"}
HIGH_WATER_MARKS = "high_water_marks"
# Upstream sync modes that may drop or rewrite rows below a high-water mark.
_REBUILDING_MODES = {"initial", "full_refresh", "reload"}


class AnalyticsConfig(dg.Config):
    full_rebuild: bool = Field(
        default=False,
        description="Rebuild the table from every conversation item instead of only the conversations new export jobs touched.",
    )


def automation_condition() -> dg.AutomationCondition[Any]:
    """``eager()``: refresh after any table it reads materialises (agents or topics alone
    included); a missing table is built once its inputs exist. Without eager's wait for
    upstream runs in progress: the sensor queues an export run per new job, and when they come
    faster than they finish one is always in progress, so the analytics would never refresh.
    The request queues behind those runs instead (one DuckDB writer at a time), and a newer
    export run triggers the next refresh."""
    return (
        dg.AutomationCondition.eager()
        .without(~dg.AutomationCondition.any_deps_in_progress())
        .with_label("eager, even while the tables sync")
    )


def analytics_spec(model: AnalyticsModel) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=model.asset_key,
        group_name=GROUP,
        kinds=KINDS,
        deps=model.deps,
        description=f"{model.description}\n\nDuckDB table `{model.qualified_name}`, built with "
        f"`gladly_assets/analytics/sql/{model.name}.sql`; definitions in docs/analytics.md.",
        metadata={
            "dagster/table_name": model.qualified_name,
            "dagster/column_schema": _schema(model),
        },
        automation_condition=automation_condition(),
    )


def _schema(model: AnalyticsModel) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(c.name, c.type, description=c.description) for c in model.columns])


def build_analytics_assets(models: Sequence[AnalyticsModel] = MODELS) -> list[dg.AssetsDefinition]:
    return [_build_asset(model) for model in models]


def _build_asset(model: AnalyticsModel) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=f"{GROUP}__{model.name}",
        specs=[analytics_spec(model)],
        check_specs=check_specs(model),
        pool=DUCKDB_POOL,
    )
    def analytics_table(
        context: dg.AssetExecutionContext, config: AnalyticsConfig, duckdb: DuckDBResource
    ) -> Iterator[dg.MaterializeResult[Any]]:
        previous = keys.latest_metadata(context.instance, model.asset_key)
        marks = _marks(previous)
        rebuild = "full_rebuild was requested" if config.full_rebuild else _upstream_rebuilt(context.instance, model)
        with open_warehouse(duckdb) as connection:
            warehouse = AnalyticsWarehouse(connection)
            result = warehouse.build(model, marks, rebuild, facts=MODELS_BY_NAME["conversation_facts"])
            context.log.info(
                f"{model.qualified_name}: {result.mode} build ({result.reason}): "
                f"{result.rows_deleted} row(s) replaced by {result.rows_inserted}"
            )
            checks = evaluate_checks(model, warehouse)
            yield dg.MaterializeResult(
                asset_key=model.asset_key, metadata=_metadata(model, result, warehouse), check_results=checks
            )

    return analytics_table


def _marks(previous: Mapping[str, Any]) -> dict[str, Mark] | None:
    recorded = keys.read(previous, HIGH_WATER_MARKS)
    if not isinstance(recorded, dict):
        return None
    return {table: Mark.from_json(mark) for table, mark in recorded.items() if isinstance(mark, dict)}


def _upstream_rebuilt(instance: dg.DagsterInstance, model: AnalyticsModel) -> str | None:
    """Why the table must be rebuilt whole because a table it reads was (re)loaded from scratch
    since its last materialization, or None."""
    latest = instance.fetch_materializations(model.asset_key, limit=1, ascending=False).records
    if not latest:
        return None
    for table in model.reads:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=TABLES_BY_NAME[table].asset_key, after_storage_id=latest[0].storage_id),
            limit=1000,
        ).records
        for record in records:
            materialization = record.asset_materialization
            mode = keys.read(materialization.metadata, keys.MODE) if materialization else None
            if mode in _REBUILDING_MODES:
                return f"gladly.{table} was loaded from scratch ({mode}) since the last build"
    return None


def _metadata(model: AnalyticsModel, result: BuildResult, warehouse: AnalyticsWarehouse) -> dict[str, Any]:
    names, rows = warehouse.preview(model)
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(warehouse.row_count(model)),
        "dagster/table_name": dg.MetadataValue.text(model.qualified_name),
        "dagster/column_schema": _schema(model),
        "mode": dg.MetadataValue.text(result.mode),
        "mode_reason": dg.MetadataValue.text(result.reason),
        "rows_replaced": dg.MetadataValue.int(result.rows_deleted),
        "rows_written": dg.MetadataValue.int(result.rows_inserted),
        "recomputed": dg.MetadataValue.int(result.recomputed),
        HIGH_WATER_MARKS: dg.MetadataValue.json({table: mark.to_json() for table, mark in result.marks.items()}),
        "preview": dg.MetadataValue.md(markdown_table(names, rows)),
    }
    if model.scope == "conversations":
        metadata.update({name: dg.MetadataValue.int(count) for name, count in warehouse.excluded_items().items()})
    for name, value in warehouse.metrics(model).items():
        metadata[name] = dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.float(float(value))
    return metadata


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")


def markdown_cell(value: Any, width: int = 40) -> str:
    """A value as a markdown table cell: Gladly's text (names, topics) may hold markup or pipes,
    so every ASCII punctuation mark is backslash-escaped and line breaks become spaces."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, float):
        text = f"{value:,.1f}"
    elif isinstance(value, list):
        text = ", ".join("" if v is None else str(v) for v in value)
    else:
        text = str(value)
    text = " ".join(text.split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def markdown_table(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    header = "| " + " | ".join(markdown_cell(name) for name in names) + " |"
    rule = "|" + "---|" * len(names)
    body = ["| " + " | ".join(markdown_cell(value) for value in row) + " |" for row in rows]
    return "\n".join([header, rule, *body]) if rows else "No rows yet."


def build_analytics_automation_sensor(
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED, interval_seconds: int = 30
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the analytics tables' automation conditions. Declared here (instead of Dagster's
    default sensor, which always starts stopped) so that the demo can start it running."""
    return dg.AutomationConditionSensorDefinition(
        "support_analytics_automation",
        target=dg.AssetSelection.groups(GROUP),
        default_status=default_status,
        minimum_interval_seconds=interval_seconds,
        # Behind the export runs they follow, ahead of queued report backfills.
        run_tags={"dagster/priority": "5"},
        description="Refreshes the support-analytics tables after the Gladly tables they read materialise.",
    )
