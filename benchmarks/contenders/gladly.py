"""gladly-assets itself: the real multi-asset materialised by Dagster, and its parser alone."""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness import peak_rss_bytes

# Read back from each materialization (names under gladly/): what it did, and where its time went.
METADATA_KEYS = (
    "mode",
    "rows_inserted",
    "rows_updated",
    "rows_unchanged",
    "bytes_downloaded",
    "timings",
    "jobs_applied",
)


def materialize(spec: dict) -> dict:
    """Materialise the selected tables through the real multi-asset; time the materialize call.

    The asset keeps its cursor in its materialization metadata, so the materializations of
    earlier processes (``spec["state"]``) are replayed first, untimed: the state one
    long-lived instance would hold."""
    import dagster as dg
    import duckdb

    from gladly_assets import metadata_keys
    from gladly_assets.assets import build_gladly_assets
    from gladly_assets.resources.gladly import GladlyResource
    from gladly_assets.resources.warehouse import duckdb_resource
    from gladly_assets.tables import SCHEMA, TABLES

    assets = build_gladly_assets()
    gladly = GladlyResource(**spec["gladly"])
    selection = [dg.AssetKey([SCHEMA, name]) for name in spec["tables"]]
    state = Path(spec["state"]) if spec.get("state") else None
    with dg.DagsterInstance.ephemeral() as instance:
        if state is not None and state.exists():
            for text in json.loads(state.read_text()):
                instance.report_runless_asset_event(dg.deserialize_value(text, dg.AssetMaterialization))
        started = time.perf_counter()
        result = dg.materialize(
            [assets],
            instance=instance,
            resources={"gladly": gladly, "duckdb": duckdb_resource(spec["db"])},
            selection=selection,
        )
        seconds = time.perf_counter() - started
        peak = peak_rss_bytes()
        assert result.success
        metadata = {}
        for event in result.get_asset_materialization_events():
            values = event.materialization.metadata
            metadata[event.asset_key.path[-1]] = {
                name: metadata_keys.read(values, metadata_keys.PREFIX + name) for name in METADATA_KEYS
            }
        if state is not None:
            latest = [instance.get_latest_materialization_event(table.asset_key) for table in TABLES]
            state.write_text(
                json.dumps(
                    [
                        dg.serialize_value(event.asset_materialization)
                        for event in latest
                        if event is not None and event.asset_materialization is not None
                    ]
                )
            )
    gladly.close()
    rows = {}
    with duckdb.connect(spec["db"], read_only=True) as connection:
        catalog = connection.execute("SELECT current_database()").fetchone()[0]
        for name in spec["tables"]:
            rows[name] = connection.execute(f'SELECT count(*) FROM "{catalog}".{SCHEMA}.{name}').fetchone()[0]
    return {
        "seconds": seconds,
        "peak_rss": peak,
        "rows": rows,
        "metadata": metadata,
        "materialized": sorted(metadata),
        "breakdown": breakdown(metadata, seconds),
    }


def breakdown(metadata: dict[str, dict], seconds: float) -> dict[str, float]:
    """Where the materialize call's time went, from the tables' ``timings`` metadata (summed
    over the tables); the rest is Dagster's: the run, the op, the metadata it records."""
    steps: dict[str, float] = {}
    for values in metadata.values():
        for step, value in (values.get("timings") or {}).items():
            steps[step] = steps.get(step, 0.0) + value
    if "total" in steps:
        steps["outside the sync"] = max(0.0, seconds - steps["total"])
    return steps


def parser_alone(spec: dict) -> dict:
    """gladly-assets' parser alone on the local file: Polars, no DuckDB, no Dagster, no HTTP;
    with the keys a first load of the table knows (its declared columns), as the asset reads."""
    import duckdb

    from gladly_assets.load.jsonl import read_batches
    from gladly_assets.load.warehouse import Warehouse
    from gladly_assets.tables import TABLES_BY_NAME

    with duckdb.connect() as connection:
        known = Warehouse(connection).known_keys(TABLES_BY_NAME[spec["table"]])
    started = time.perf_counter()
    rows = sum(batch.frame.height for batch in read_batches(Path(spec["file"]), known=known))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss": peak_rss_bytes(), "rows": {spec["table"]: rows}}
