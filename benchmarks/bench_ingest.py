"""Ingest benchmark: gladly-assets against a DuckDB ceiling, a naive loader and dlt.

    .venv/bin/python benchmarks/bench_ingest.py --rows 1000000

Every figure comes from one run, on data the Gladly simulator generates in this
run (generation is never timed). Each contender runs in its own child process,
so its peak RSS (``ru_maxrss``) is its own. The simulator serves the files over
HTTP from this (parent) process, which otherwise only waits.

Sections (``--only``, comma-separated; default all):

* ``initial``: one export job with N conversation items, loaded into a fresh
  DuckDB file by
  - gladly-assets: ``dagster.materialize`` of the real multi-asset, selecting
    ``gladly/conversation_items`` (HTTP download, Polars parse, DuckDB load);
  - ceiling: DuckDB ``CREATE TABLE t AS SELECT * FROM read_json(...)`` of the
    same file on local disk, with the columns gladly-assets stores (text, and
    JSON for objects and arrays);
  - naive: ``json.loads`` per line, 50k-row Arrow batches (objects and arrays
    as JSON text), ``INSERT`` into DuckDB;
  - dlt: a dlt pipeline, DuckDB destination, ``write_disposition="merge"`` on
    ``id``, objects kept as JSON (``max_table_nesting=0``), parquet load files
    (``--dlt-format``); run with the first Python that can ``import dlt`` (this
    one, ``--dlt-python``, ``$BENCH_DLT_PYTHON`` or ``/tmp/dlt-venv/bin/python``;
    dlt is not a dependency of the project).
  ``--repeat K`` runs gladly-assets, the ceiling and naive K times and reports
  the fastest run (the machine may be shared).
* ``incremental``: after the initial load, a job with N/10 items and N/25
  customers, half of them new versions of customers already loaded, applied
  by the real asset; against DuckDB ``BEGIN; DELETE ... WHERE id IN (SELECT id
  FROM new); INSERT ...; COMMIT`` per table.
* ``noop``: one more materialization with no new job: HTTP requests and seconds.
* ``memory``: peak RSS of the materialising process at N and 2N rows.

Every materialization runs on an ephemeral Dagster instance with the in-process
executor. The asset keeps its cursor in its materialization metadata, so the
incremental and no-op processes first replay (untimed) the materializations the
earlier processes recorded: the same state one long-lived instance would hold.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GiB = 1024**3
MiB = 1024**2
NAIVE_BATCH_ROWS = 50_000
CHILD_TIMEOUT_SECONDS = 3600
SECTIONS = ("initial", "incremental", "noop", "memory")
ITEMS_TABLE = "conversation_items"
CUSTOMERS_TABLE = "customers"
DEFAULT_DLT_PYTHONS = ("/tmp/dlt-venv/bin/python",)

# The contenders of section 1. The ceiling is the issue's: read_json as one writes it, its
# types detected from a sample. The two other DuckDB loads bracket it: detection over the
# whole file (the guarantee gladly-assets gives), and no detection at all (columns given).
CEILING = "ceiling"
DUCKDB_WHOLE_FILE = "duckdb whole-file"
DUCKDB_COLUMNS = "duckdb columns"
PARSER = "parser"
LABELS = {
    "gladly-assets": "gladly-assets",
    PARSER: "  its parser alone (Polars, no DuckDB)",
    CEILING: "ceiling: DuckDB read_json(file)",
    DUCKDB_WHOLE_FILE: "DuckDB read_json, sample_size=-1",
    DUCKDB_COLUMNS: "DuckDB read_json, columns given",
    "naive": "naive (json.loads, Arrow, DuckDB)",
}

# Targets.
INITIAL_MAX_VS_CEILING = 2.0
INITIAL_MIN_VS_NAIVE = 5.0
INCREMENTAL_MAX_VS_CEILING = 3.0
NOOP_REQUESTS = 1
MEMORY_MAX_BYTES = 1 * GiB
MEMORY_MAX_GROWTH = 0.25


# =============================================================================================
# Children: one contender per process. Only the standard library at module level, so that the
# dlt child can run this file with another interpreter.
# =============================================================================================


def _peak_rss_bytes() -> int:
    # Linux reports kilobytes. The children's own children (none expected) are counted too.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024


def child_gladly(spec: dict) -> dict:
    """Materialise the selected tables through the real multi-asset; time the materialize call."""
    import dagster as dg
    import duckdb

    from gladly_assets import metadata_keys
    from gladly_assets.assets import build_gladly_assets
    from gladly_assets.resources.gladly import GladlyResource
    from gladly_assets.resources.warehouse import duckdb_resource
    from gladly_assets.tables import SCHEMA

    assets = build_gladly_assets()
    gladly = GladlyResource(**spec["gladly"])
    selection = [dg.AssetKey([SCHEMA, name]) for name in spec["tables"]]
    from gladly_assets.tables import TABLES

    state = Path(spec["state"]) if spec.get("state") else None
    with dg.DagsterInstance.ephemeral() as instance:
        # The previous runs' materializations, replayed: the asset's cursor lives in them.
        if state is not None and state.exists():
            for text in json.loads(state.read_text()):
                instance.report_runless_asset_event(dg.deserialize_value(text, dg.AssetMaterialization))
        started_wall = time.time()
        started = time.perf_counter()
        result = dg.materialize(
            [assets],
            instance=instance,
            resources={"gladly": gladly, "duckdb": duckdb_resource(spec["db"])},
            selection=selection,
        )
        seconds = time.perf_counter() - started
        peak = _peak_rss_bytes()
        assert result.success
        metadata = {}
        for key in selection:
            event = instance.get_latest_materialization_event(key)
            if event is None or event.asset_materialization is None:
                continue
            values = event.asset_materialization.metadata
            metadata[key.path[-1]] = {
                name: metadata_keys.read(values, metadata_keys.PREFIX + name)
                for name in ("mode", "rows_inserted", "rows_updated", "rows_unchanged", "bytes_downloaded")
            }
        materialized = sorted(event.asset_key.path[-1] for event in result.get_asset_materialization_events())
        breakdown = _gladly_breakdown(instance, result.run_id, started_wall, seconds)
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
        "materialized": materialized,
        "breakdown": breakdown,
    }


def _gladly_breakdown(instance, run_id: str, started_wall: float, total: float) -> dict:
    """Where the materialize call's time went, read from the asset's own log lines.

    Best effort: returns what it can parse (the log wording belongs to the product)."""
    import re

    download = load = 0.0
    found = False
    first_op_log = None
    for entry in instance.all_logs(run_id):
        message = entry.user_message or ""
        if first_op_log is None and "Gladly lists" in message:
            first_op_log = entry.timestamp
        if match := re.search(r"downloaded [\d,.]+ MB in ([\d.]+) s", message):
            download += float(match[1])
            found = True
        if match := re.search(r"committed [\d,]+ rows in ([\d.]+) s", message):
            load += float(match[1])
            found = True
    if not found:
        return {}
    breakdown = {"download": download, "parse+load": load}
    if first_op_log is not None:
        breakdown["before the op"] = max(0.0, first_op_log - started_wall)
    breakdown["other"] = max(0.0, total - sum(breakdown.values()))
    return breakdown


# How DuckDB learns the file's columns, for the DuckDB-only loads of section 1.
READ_JSON_DEFAULTS = "defaults"  # read_json(file): types detected from a sample (20,480 rows)
READ_JSON_WHOLE_FILE = "whole_file"  # sample_size = -1: every line, as gladly-assets does
READ_JSON_COLUMNS = "columns"  # the columns given: no detection at all


def _read_json_sql(files: list[str], columns: dict[str, str] | None, detection: str = READ_JSON_COLUMNS) -> str:
    paths = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    if detection == READ_JSON_DEFAULTS:
        return f"read_json({paths})"
    if detection == READ_JSON_WHOLE_FILE:
        return f"read_json({paths}, format = 'newline_delimited', sample_size = -1)"
    spec = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
    return f"read_json({paths}, format = 'newline_delimited', columns = {spec})"


def _duckdb_alone(spec: dict, load) -> dict:
    """Run ``load(connection, table)`` for each table of the spec, then CHECKPOINT: the seconds,
    the peak RSS and each table's rows afterwards."""
    import duckdb

    with duckdb.connect(spec["db"]) as connection:
        started = time.perf_counter()
        for table in spec["tables"]:
            load(connection, table)
        connection.execute("CHECKPOINT")
        seconds = time.perf_counter() - started
        peak = _peak_rss_bytes()
        rows = {
            table["name"]: connection.execute(f"SELECT count(*) FROM {table['name']}").fetchone()[0]
            for table in spec["tables"]
        }
    return {"seconds": seconds, "peak_rss": peak, "rows": rows}


def child_ceiling_load(spec: dict) -> dict:
    """DuckDB alone: CREATE TABLE AS SELECT * FROM read_json(...) into a fresh file."""

    def load(connection, table: dict) -> None:
        source = _read_json_sql(table["files"], table["columns"], spec.get("detection", READ_JSON_COLUMNS))
        connection.execute(f"CREATE TABLE {table['name']} AS SELECT * FROM {source}")

    return _duckdb_alone(spec, load)


def child_ceiling_merge(spec: dict) -> dict:
    """DuckDB alone: per table, BEGIN; DELETE the ids of the new rows; INSERT them; COMMIT."""

    def merge(connection, table: dict) -> None:
        name = table["name"]
        connection.execute("BEGIN TRANSACTION")
        connection.execute(f"CREATE TEMP TABLE new AS SELECT * FROM {_read_json_sql(table['files'], table['columns'])}")
        connection.execute(f"DELETE FROM {name} WHERE id IN (SELECT id FROM new)")
        connection.execute(f"INSERT INTO {name} SELECT * FROM new")
        connection.execute("DROP TABLE new")
        connection.execute("COMMIT")

    return _duckdb_alone(spec, merge)


def child_naive(spec: dict) -> dict:
    """json.loads per line, 50k-row Arrow batches (objects and arrays as JSON text), DuckDB INSERT."""
    import duckdb
    import pyarrow as pa

    name = spec["table"]
    with duckdb.connect(spec["db"]) as connection:
        started = time.perf_counter()
        columns: dict[str, None] = {}  # the table's columns, in order of appearance
        rows: list[dict] = []

        def flush() -> None:
            keys = dict.fromkeys(key for row in rows for key in row)
            batch = pa.table({key: [row.get(key) for row in rows] for key in keys})
            connection.register("batch", batch)
            if not columns:
                connection.execute(f"CREATE TABLE {name} AS SELECT * FROM batch")
                columns.update(keys)
            else:
                for key in keys:
                    if key not in columns:
                        kind = connection.execute(f'SELECT typeof("{key}") FROM batch LIMIT 1').fetchone()[0]
                        connection.execute(f'ALTER TABLE {name} ADD COLUMN "{key}" {kind}')
                        columns[key] = None
                connection.execute(f"INSERT INTO {name} BY NAME SELECT * FROM batch")
            connection.unregister("batch")
            rows.clear()

        with open(spec["file"], "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                for key, value in record.items():
                    if isinstance(value, (dict, list)):
                        record[key] = json.dumps(value, ensure_ascii=False)
                rows.append(record)
                if len(rows) >= NAIVE_BATCH_ROWS:
                    flush()
        if rows:
            flush()
        connection.execute("CHECKPOINT")
        seconds = time.perf_counter() - started
        peak = _peak_rss_bytes()
        count = connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    return {"seconds": seconds, "peak_rss": peak, "rows": {name: count}}


def child_dlt(spec: dict) -> dict:
    """A dlt pipeline into DuckDB, merge on id; the file read with dlt's own JSON parser."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DLT_DATA_DIR", spec["data_dir"])
    import dlt
    import duckdb
    from dlt.common import json as dlt_json

    name = spec["table"]

    @dlt.resource(name=name, write_disposition="merge", primary_key="id", max_table_nesting=0)
    def items():
        batch = []
        with open(spec["file"], "rb") as handle:
            for line in handle:
                if line.strip():
                    batch.append(dlt_json.loadb(line))
                if len(batch) >= NAIVE_BATCH_ROWS:
                    yield batch
                    batch = []
        if batch:
            yield batch

    file_format = spec["file_format"]
    if file_format == "parquet":
        try:
            import pyarrow  # noqa: F401  (dlt writes parquet with it)
        except ImportError:
            file_format = "jsonl"
    pipeline = dlt.pipeline(
        pipeline_name="bench_ingest",
        destination=dlt.destinations.duckdb(spec["db"]),
        dataset_name="gladly",
        pipelines_dir=spec["pipelines_dir"],
    )
    started = time.perf_counter()
    pipeline.run(items(), **({} if file_format == "default" else {"loader_file_format": file_format}))
    seconds = time.perf_counter() - started
    peak = _peak_rss_bytes()
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in pipeline.last_trace.steps
        if step.step != "run" and step.finished_at is not None
    }
    with duckdb.connect(spec["db"], read_only=True) as connection:
        count = connection.execute(f"SELECT count(*) FROM gladly.{name}").fetchone()[0]
    return {
        "seconds": seconds,
        "peak_rss": peak,
        "rows": {name: count},
        "version": dlt.__version__,
        "file_format": file_format,
        "breakdown": steps,
    }


def child_parser(spec: dict) -> dict:
    """gladly-assets' parser alone on the local file: Polars, schema inference included, no DuckDB."""
    from gladly_assets.load.jsonl import read_batches

    started = time.perf_counter()
    rows = sum(batch.frame.height for batch in read_batches(Path(spec["file"])))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss": _peak_rss_bytes(), "rows": {spec["table"]: rows}}


CHILDREN = {
    "gladly": child_gladly,
    "parser": child_parser,
    "ceiling_load": child_ceiling_load,
    "ceiling_merge": child_ceiling_merge,
    "naive": child_naive,
    "dlt": child_dlt,
}


def child_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = CHILDREN[spec["kind"]](spec)
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# =============================================================================================
# Parent: data, children, report.
# =============================================================================================


class ChildFailed(RuntimeError):
    pass


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.rows = args.rows
        self.counter = 0
        self.errors: list[str] = []
        self.env = {**os.environ, "TMPDIR": str(workdir / "tmp"), "PYTHONUNBUFFERED": "1"}
        (workdir / "tmp").mkdir(parents=True, exist_ok=True)
        (workdir / "logs").mkdir(exist_ok=True)

    def progress(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def run_child(self, label: str, spec: dict, python: str | None = None) -> dict:
        """Run one contender in its own process; returns its result or raises ChildFailed."""
        self.counter += 1
        stem = f"{self.counter:02d}-{spec['kind']}"
        spec_path = self.workdir / "logs" / f"{stem}.spec.json"
        result_path = self.workdir / "logs" / f"{stem}.result.json"
        log_path = self.workdir / "logs" / f"{stem}.log"
        spec = {**spec, "result": str(result_path)}
        spec_path.write_text(json.dumps(spec))
        result_path.unlink(missing_ok=True)  # a kept --workdir may hold an older run's
        self.progress(f"{label} ...")
        started = time.perf_counter()
        with open(log_path, "wb") as log:
            try:
                code = subprocess.run(
                    [python or sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=str(self.workdir),
                    timeout=CHILD_TIMEOUT_SECONDS,
                ).returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        if code != 0 or not result_path.exists():
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            message = f"{label}: child process failed ({code}); last lines of {log_path}:\n    " + "\n    ".join(tail)
            self.errors.append(message)
            self.progress(message)
            raise ChildFailed(message)
        result = json.loads(result_path.read_text())
        self.progress(f"{label}: {result['seconds']:.2f} s (process {time.perf_counter() - started:.1f} s)")
        return result


# ---------------------------------------------------------------------------------- data


def table_columns(name: str) -> dict[str, str]:
    """The columns gladly-assets stores for a table, as DuckDB types (JSON for objects and arrays)."""
    from gladly_assets.tables import JOB_ID_COLUMN, JOB_UPDATED_AT_COLUMN, TABLES_BY_NAME

    table = TABLES_BY_NAME[name]
    return {
        column: "JSON" if column in table.json_fields else "VARCHAR"
        for column, _ in table.columns
        if column not in (JOB_ID_COLUMN, JOB_UPDATED_AT_COLUMN)
    }


def make_simulator(data_dir: Path):
    from datetime import UTC, datetime

    from gladly_assets.simulator import GladlySimulator

    # history_days=0: the only completed jobs are the ones the benchmark makes. A frozen clock
    # lets the benchmark move a day between jobs; no rate limit so request counts are exact.
    return GladlySimulator(
        seed=7,
        history_days=0,
        now=datetime(2026, 11, 20, 6, tzinfo=UTC),
        rate_limit_per_second=None,
        data_dir=data_dir,
    ).start()


class CustomerMaker:
    """Customer records shaped like the simulator's (its own records are the templates), with
    ids of our choosing: the simulator's world only exports customers its conversations touch."""

    def __init__(self, seed: int = 11):
        import random

        self.rng = random.Random(seed)
        self.serial = 0

    def new_id(self) -> str:
        import base64

        return base64.urlsafe_b64encode(self.rng.randbytes(16))[:22].decode()

    def make(self, templates: list[dict], count: int, ids: list[str] | None = None, version: int = 0) -> list[dict]:
        records = []
        for k in range(count):
            template = templates[k % len(templates)]
            self.serial += 1
            record = json.loads(json.dumps(template))
            record["id"] = ids[k] if ids is not None else self.new_id()
            record["address"] = f"{self.serial} Benchmark Street, version {version}"
            emails = list(record.get("emailAddresses") or [])
            record["emailAddresses"] = [f"bench{self.serial}@example.com", *emails[:1]]
            records.append(record)
        return records


# ---------------------------------------------------------------------------------- sections


class Results:
    def __init__(self):
        self.initial: dict[str, dict] = {}
        self.incremental: dict[str, dict] = {}
        self.noop: dict | None = None
        self.memory: dict[int, dict] = {}
        self.info: dict = {}
        self.skipped: dict[str, str] = {}


def run(args: argparse.Namespace, workdir: Path) -> tuple[Results, Bench]:
    bench = Bench(args, workdir)
    results = Results()
    only = set(args.only)
    n = args.rows
    incremental_items = max(1, n // 10)
    incremental_customers = max(2, n // 25) // 2 * 2
    results.info.update(
        rows=n,
        incremental_items=incremental_items,
        incremental_customers=incremental_customers,
        load_start=load_average(),
    )
    data_dir = workdir / "sim-data"
    files_dir = workdir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)

    needs_timeline = bool(only & {"initial", "incremental", "noop"})
    if needs_timeline:
        sim = make_simulator(data_dir)
        try:
            timeline(bench, results, sim, only, files_dir, incremental_items, incremental_customers)
        finally:
            sim.stop()
    if "memory" in only:
        memory(bench, results, data_dir)
    return results, bench


def timeline(
    bench: Bench,
    results: Results,
    sim,
    only: set[str],
    files_dir: Path,
    incremental_items: int,
    incremental_customers: int,
) -> None:
    """Initial load, then the incremental job, then a no-op: one Gladly organization, one
    Dagster instance and one DuckDB file per contender, each run in its own process."""
    args, workdir, n = bench.args, bench.workdir, bench.rows

    bench.progress(f"generating a job with {n:,} conversation items (not timed)")
    started = time.perf_counter()
    job = sim.complete_job(conversation_items=n)
    items_file = copy_file(sim, job, ITEMS_TABLE, files_dir)
    customers_file = copy_file(sim, job, CUSTOMERS_TABLE, files_dir)
    results.info["initial_bytes"] = items_file.stat().st_size
    results.info["initial_other_rows"] = {
        name: count_lines(sim.file_path(job["id"], name)) for name in job["files"] if name != f"{ITEMS_TABLE}.jsonl"
    }
    bench.progress(f"generated {results.info['initial_bytes'] / 1e6:,.1f} MB in {time.perf_counter() - started:.1f} s")

    state = {
        "gladly": {
            "kind": "gladly",
            "gladly": sim.client_settings(),
            "db": str(workdir / "gladly-assets.duckdb"),
            "state": str(workdir / "dagster-materializations.json"),
        },
        "ceiling_db": str(workdir / "ceiling.duckdb"),
        "customers_files": [str(customers_file)],
    }
    repeat = args.repeat if "initial" in only else 1

    # gladly-assets first: the incremental and no-op sections continue from its first run's state.
    def gladly_spec(run: int) -> dict:
        if run == 0:
            return {**state["gladly"], "tables": [ITEMS_TABLE]}
        return {**state["gladly"], "tables": [ITEMS_TABLE], "state": None, "db": str(workdir / f"repeat-{run}.duckdb")}

    try:
        results.initial["gladly-assets"] = best_of(bench, repeat, "initial: gladly-assets", gladly_spec)
    except ChildFailed:
        results.skipped["incremental"] = results.skipped["noop"] = "the initial gladly-assets load failed"
        return

    def duckdb_spec(detection: str):
        def spec(run: int) -> dict:
            # The columns-given load is the one the incremental ceiling merges into: its types
            # are the ones gladly-assets stores (the detected ones are nested STRUCTs).
            kept = detection == READ_JSON_COLUMNS and run == 0
            return {
                "kind": "ceiling_load",
                "detection": detection,
                "db": state["ceiling_db"] if kept else str(workdir / f"duckdb-{detection}-{run}.duckdb"),
                "tables": [{"name": ITEMS_TABLE, "files": [str(items_file)], "columns": table_columns(ITEMS_TABLE)}],
            }

        return spec

    if only & {"initial", "incremental"}:
        try:
            results.initial[DUCKDB_COLUMNS] = best_of(
                bench, repeat, f"initial: {LABELS[DUCKDB_COLUMNS]}", duckdb_spec(READ_JSON_COLUMNS)
            )
        except ChildFailed:
            results.skipped["incremental"] = "DuckDB's initial load failed"
    if "initial" in only:
        for key, detection in ((CEILING, READ_JSON_DEFAULTS), (DUCKDB_WHOLE_FILE, READ_JSON_WHOLE_FILE)):
            with contextlib.suppress(ChildFailed):
                results.initial[key] = best_of(bench, repeat, f"initial: {LABELS[key]}", duckdb_spec(detection))
    if "initial" in only:

        def parser_spec(run: int) -> dict:
            return {"kind": "parser", "file": str(items_file), "table": ITEMS_TABLE}

        with contextlib.suppress(ChildFailed):
            results.initial[PARSER] = best_of(bench, repeat, f"initial: {LABELS[PARSER]}", parser_spec)
        if args.skip_naive:
            results.skipped["naive"] = "--skip-naive"
        else:

            def naive_spec(run: int) -> dict:
                return {
                    "kind": "naive",
                    "file": str(items_file),
                    "db": str(workdir / f"naive-{run}.duckdb"),
                    "table": ITEMS_TABLE,
                }

            with contextlib.suppress(ChildFailed):
                results.initial["naive"] = best_of(bench, repeat, "initial: naive", naive_spec)
        run_dlt(bench, results, items_file)

    tables = [ITEMS_TABLE]
    if "incremental" in only and "incremental" not in results.skipped:
        try:
            incremental(bench, results, sim, state, files_dir, incremental_items, incremental_customers)
            tables = [ITEMS_TABLE, CUSTOMERS_TABLE]
        except ChildFailed:
            results.skipped.setdefault("noop", "the incremental section failed")
    if "noop" in only and "noop" not in results.skipped:
        # The tables materialised before: a table never materialised would load for the first time.
        sim.clear_log()
        try:
            result = bench.run_child("no-op: gladly-assets", {**state["gladly"], "tables": tables})
        except ChildFailed:
            return
        result["requests"] = [f"{record.method} {record.path} -> {record.status}" for record in sim.request_log]
        result["tables"] = tables
        results.noop = result


def best_of(bench: Bench, repeat: int, label: str, spec_for_run) -> dict:
    """Run a contender ``repeat`` times (fresh DuckDB file each time); the fastest run, with
    every run's seconds. Run 0's files are the ones later sections continue from."""
    runs = []
    for run in range(repeat):
        spec = spec_for_run(run)
        try:
            runs.append(bench.run_child(label + (f" (run {run + 1}/{repeat})" if repeat > 1 else ""), spec))
        finally:
            if "db" in spec and (run > 0 or spec["kind"] == "naive"):
                Path(spec["db"]).unlink(missing_ok=True)
    best = dict(min(runs, key=lambda result: result["seconds"]))
    best["runs"] = [result["seconds"] for result in runs]
    return best


def copy_file(sim, job: dict, table: str, files_dir: Path) -> Path:
    """The job's file, copied to local disk for the contenders that read files directly."""
    path = files_dir / f"{job['id']}-{table}.jsonl"
    shutil.copyfile(sim.file_path(job["id"], f"{table}.jsonl"), path)
    return path


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def run_dlt(bench: Bench, results: Results, items_file: Path) -> None:
    args, workdir = bench.args, bench.workdir
    if args.skip_dlt:
        results.skipped["dlt"] = "--skip-dlt"
        return
    python = find_dlt_python(args.dlt_python)
    if python is None:
        results.skipped["dlt"] = "not installed"
        print("dlt: not installed", flush=True)
        return
    results.info["dlt_python"] = python
    results.info["dlt_duckdb"] = module_version(python, "duckdb")
    spec = {
        "kind": "dlt",
        "file": str(items_file),
        "db": str(workdir / "dlt.duckdb"),
        "table": ITEMS_TABLE,
        "data_dir": str(workdir / "dlt-data"),
        "pipelines_dir": str(workdir / "dlt-pipelines"),
        "file_format": args.dlt_format,
    }
    with contextlib.suppress(ChildFailed):
        results.initial["dlt"] = bench.run_child("initial: dlt", spec, python=python)
    (workdir / "dlt.duckdb").unlink(missing_ok=True)
    shutil.rmtree(workdir / "dlt-data", ignore_errors=True)
    shutil.rmtree(workdir / "dlt-pipelines", ignore_errors=True)


def find_dlt_python(explicit: str | None) -> str | None:
    candidates = [explicit] if explicit else [sys.executable, os.environ.get("BENCH_DLT_PYTHON"), *DEFAULT_DLT_PYTHONS]
    for candidate in candidates:
        if candidate and Path(candidate).exists() and module_version(candidate, "dlt"):
            return candidate
    return None


def module_version(python: str, module: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", f"import {module}; print({module}.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def incremental(
    bench: Bench,
    results: Results,
    sim,
    state: dict,
    files_dir: Path,
    incremental_items: int,
    incremental_customers: int,
) -> None:
    from datetime import timedelta

    maker = CustomerMaker()
    seeded_ids: list[str] = []
    half = incremental_customers // 2
    customers_name = f"{CUSTOMERS_TABLE}.jsonl"

    # ---- prerequisite (not timed): a customers job, loaded by both contenders, so that
    # the incremental job has existing customers to update.
    def seed_customers(file_name: str, records: list[dict]) -> list[dict]:
        if file_name != customers_name:
            return records
        made = maker.make(records, half, version=1)
        seeded_ids.extend(record["id"] for record in made)
        return made

    bench.progress(f"generating a customers job with {half:,} customers (not timed)")
    sim.advance(timedelta(days=1))
    seed_job = sim.complete_job(files=[customers_name], mutate=seed_customers)
    state["customers_files"].append(str(copy_file(sim, seed_job, CUSTOMERS_TABLE, files_dir)))
    results.info["prerequisite_customers"] = bench.run_child(
        "incremental prerequisite: gladly-assets loads the customers table",
        {**state["gladly"], "tables": [CUSTOMERS_TABLE]},
    )
    bench.run_child(
        "incremental prerequisite: ceiling loads the customers table",
        {
            "kind": "ceiling_load",
            "db": state["ceiling_db"],
            "tables": [
                {"name": CUSTOMERS_TABLE, "files": state["customers_files"], "columns": table_columns(CUSTOMERS_TABLE)}
            ],
        },
    )

    # ---- the incremental job: N/10 new items, N/25 customers of which half are updates.
    def incremental_customers_hook(file_name: str, records: list[dict]) -> list[dict]:
        if file_name != customers_name:
            return records
        return maker.make(records, half, ids=seeded_ids, version=2) + maker.make(records, half, version=2)

    bench.progress(f"generating the incremental job: {incremental_items:,} items, {2 * half:,} customers (not timed)")
    sim.advance(timedelta(days=1))
    job = sim.complete_job(conversation_items=incremental_items, mutate=incremental_customers_hook)
    files = {name: copy_file(sim, job, name, files_dir) for name in (ITEMS_TABLE, CUSTOMERS_TABLE)}
    results.info["incremental_bytes"] = sum(path.stat().st_size for path in files.values())
    results.info["incremental_rows"] = {name: count_lines(path) for name, path in files.items()}

    tables = [ITEMS_TABLE, CUSTOMERS_TABLE]
    results.incremental["gladly-assets"] = bench.run_child(
        "incremental: gladly-assets", {**state["gladly"], "tables": tables}
    )
    results.incremental["ceiling"] = bench.run_child(
        "incremental: ceiling (DuckDB DELETE + INSERT)",
        {
            "kind": "ceiling_merge",
            "db": state["ceiling_db"],
            "tables": [{"name": name, "files": [str(files[name])], "columns": table_columns(name)} for name in tables],
        },
    )


def memory(bench: Bench, results: Results, data_dir: Path) -> None:
    """Peak RSS of a materialising process at N and 2N rows: a fresh organization, Dagster
    instance (ephemeral) and DuckDB file each time."""
    for rows in (bench.rows, 2 * bench.rows):
        sim = make_simulator(data_dir)
        db = bench.workdir / f"memory-{rows}.duckdb"
        try:
            bench.progress(f"generating a job with {rows:,} conversation items (not timed; reused if cached)")
            job = sim.complete_job(conversation_items=rows)
            size = sim.file_path(job["id"], f"{ITEMS_TABLE}.jsonl").stat().st_size
            result = bench.run_child(
                f"memory: gladly-assets at {rows:,} rows",
                {"kind": "gladly", "gladly": sim.client_settings(), "db": str(db), "tables": [ITEMS_TABLE]},
            )
            result["bytes"] = size
            results.memory[rows] = result
        except ChildFailed:
            return
        finally:
            sim.stop()
            db.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------- report


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / GiB:.2f} GiB" if value >= GiB else f"{value / MiB:,.0f} MiB"


def fmt_rows(rows: dict | int | None) -> str:
    if rows is None:
        return "-"
    return f"{sum(rows.values()) if isinstance(rows, dict) else rows:,}"


def row_line(name: str, result: dict, rows: int, size: int, ceiling: dict | None) -> str:
    seconds = result["seconds"]
    ratio = f"{seconds / ceiling['seconds']:.2f}x" if ceiling else "-"
    return (
        f"{name:<40} {seconds:>9.2f} {rows:>12,} {rows / seconds:>11,.0f} {size / 1e6 / seconds:>8,.1f} "
        f"{fmt_bytes(result['peak_rss']):>10} {ratio:>11}"
    )


HEADER = f"{'contender':<40} {'seconds':>9} {'rows':>12} {'rows/s':>11} {'MB/s':>8} {'peak RSS':>10} {'vs ceiling':>11}"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("duckdb", "polars", "dagster", "pyarrow"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
        + (f" ({model})" if model else "")
        + f", {ram / GiB:.1f} GiB RAM"
    )


def load_average() -> str:
    """Other work on the machine skews every figure: the report says how busy it was."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(args: argparse.Namespace, results: Results, bench: Bench) -> list[tuple[str, str, bool]]:
    n = args.rows
    info = results.info
    out: list[str] = []
    targets: list[tuple[str, str, bool]] = []
    v = versions()
    dlt = ""
    if "dlt" in results.initial:
        dlt = (
            f", dlt {results.initial['dlt'].get('version')} (duckdb {info.get('dlt_duckdb')}, {info.get('dlt_python')})"
        )
    out.append(f"gladly-assets ingest benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}, --rows {n:,}")
    out.append(f"machine: {machine()}; load average at start {info.get('load_start')}, at end {load_average()}")
    out.append("versions: " + ", ".join(f"{name} {value}" for name, value in v.items()) + dlt)

    if results.initial:
        size = info["initial_bytes"]
        other = ", ".join(f"{name} {count:,} lines" for name, count in info.get("initial_other_rows", {}).items())
        prerequisite = "" if "initial" in args.only else " (run only as the start of the later sections)"
        out += [
            "",
            f"1. initial load{prerequisite}: one job with {n:,} conversation items ({size / 1e6:,.1f} MB "
            f"of JSONL; the job's other files: {other}) into a fresh DuckDB file",
            HEADER,
        ]
        ceiling = results.initial.get(CEILING)
        names = {
            **LABELS,
            "dlt": f"dlt (duckdb, {results.initial.get('dlt', {}).get('file_format', args.dlt_format)}, merge on id)",
        }
        for key, label in names.items():
            if key in results.initial:
                result = results.initial[key]
                rows = result["rows"][ITEMS_TABLE]
                out.append(row_line(label, result, rows, size, ceiling))
            elif "initial" in args.only:
                out.append(f"{label:<40} {key}: {results.skipped.get(key, 'failed')}")
        gladly = results.initial["gladly-assets"]
        if gladly.get("breakdown"):
            out.append("    gladly-assets time: " + ", ".join(f"{k} {s:.2f} s" for k, s in gladly["breakdown"].items()))
        if "dlt" in results.initial and results.initial["dlt"].get("breakdown"):
            out.append(
                "    dlt time: " + ", ".join(f"{k} {s:.2f} s" for k, s in results.initial["dlt"]["breakdown"].items())
            )
        for key in LABELS:
            runs = results.initial.get(key, {}).get("runs", [])
            if len(runs) > 1:
                out.append(f"    {key} runs (fastest shown): " + ", ".join(f"{s:.2f}" for s in runs) + " s")
        for key in (DUCKDB_WHOLE_FILE, DUCKDB_COLUMNS):
            if key in results.initial:
                out.append(
                    f"    gladly-assets vs {LABELS[key]}: {gladly['seconds'] / results.initial[key]['seconds']:.2f}x"
                )
        if ceiling and "initial" in args.only:
            ratio = gladly["seconds"] / ceiling["seconds"]
            targets.append(
                (
                    f"initial load <= {INITIAL_MAX_VS_CEILING:g}x ceiling (aim 1.5x)",
                    f"{ratio:.2f}x",
                    ratio <= INITIAL_MAX_VS_CEILING,
                )
            )
        if "naive" in results.initial:
            speedup = results.initial["naive"]["seconds"] / gladly["seconds"]
            targets.append(
                (
                    f"initial load >= {INITIAL_MIN_VS_NAIVE:g}x faster than naive",
                    f"{speedup:.2f}x",
                    speedup >= INITIAL_MIN_VS_NAIVE,
                )
            )

    if results.incremental:
        rows_in = info["incremental_rows"]
        total = sum(rows_in.values())
        out += [
            "",
            f"2. incremental: one more job, {rows_in[ITEMS_TABLE]:,} new conversation items and "
            f"{rows_in[CUSTOMERS_TABLE]:,} customers ({info['incremental_customers'] // 2:,} of them new "
            f"versions of loaded customers), {info['incremental_bytes'] / 1e6:,.1f} MB, merged into (1)",
            HEADER,
        ]
        ceiling = results.incremental.get("ceiling")
        for key, label in (("gladly-assets", "gladly-assets"), ("ceiling", "ceiling (DuckDB DELETE + INSERT)")):
            if key in results.incremental:
                out.append(row_line(label, results.incremental[key], total, info["incremental_bytes"], ceiling))
        gladly = results.incremental["gladly-assets"]
        if gladly.get("breakdown"):
            out.append("    gladly-assets time: " + ", ".join(f"{k} {s:.2f} s" for k, s in gladly["breakdown"].items()))
        for name, meta in gladly.get("metadata", {}).items():
            out.append(
                f"    gladly-assets {name}: {meta.get('rows_inserted') or 0:,} inserted, "
                f"{meta.get('rows_updated') or 0:,} updated; table now {gladly['rows'][name]:,} rows"
                + (f" (ceiling: {ceiling['rows'][name]:,})" if ceiling else "")
            )
        if ceiling:
            ratio = gladly["seconds"] / ceiling["seconds"]
            targets.append(
                (
                    f"incremental <= {INCREMENTAL_MAX_VS_CEILING:g}x ceiling",
                    f"{ratio:.2f}x",
                    ratio <= INCREMENTAL_MAX_VS_CEILING,
                )
            )

    if results.noop is not None:
        noop = results.noop
        requests = noop["requests"]
        out += ["", f"3. no-op: one more materialization of {', '.join(noop['tables'])} with no new job"]
        out.append(
            f"{'gladly-assets':<40} {noop['seconds']:>9.2f} s, {len(requests)} HTTP request(s): "
            + ("; ".join(requests) or "none")
            + f"; materializations recorded: {len(noop['materialized'])}; peak RSS {fmt_bytes(noop['peak_rss'])}"
        )
        targets.append(
            (f"no-op makes exactly {NOOP_REQUESTS} HTTP request", str(len(requests)), len(requests) == NOOP_REQUESTS)
        )

    if results.memory:
        out += [
            "",
            "4. memory: peak RSS of the materialising process (fresh instance, DuckDB file and job each)",
            f"{'rows':>12} {'MB of JSONL':>12} {'seconds':>9} {'rows/s':>11} {'peak RSS':>10}",
        ]
        for rows, result in sorted(results.memory.items()):
            out.append(
                f"{result['rows'][ITEMS_TABLE]:>12,} {result['bytes'] / 1e6:>12,.1f} {result['seconds']:>9.2f} "
                f"{rows / result['seconds']:>11,.0f} {fmt_bytes(result['peak_rss']):>10}"
            )
        if n in results.memory:
            peak = results.memory[n]["peak_rss"]
            targets.append(
                (f"peak RSS < {fmt_bytes(MEMORY_MAX_BYTES)} at {n:,} rows", fmt_bytes(peak), peak < MEMORY_MAX_BYTES)
            )
        if n in results.memory and 2 * n in results.memory:
            growth = results.memory[2 * n]["peak_rss"] / results.memory[n]["peak_rss"] - 1
            out.append(f"    growth from {n:,} to {2 * n:,} rows: {growth:+.1%}")
            targets.append(
                (
                    f"peak RSS growth {n:,} -> {2 * n:,} rows <= {MEMORY_MAX_GROWTH:.0%}",
                    f"{growth:+.1%}",
                    growth <= MEMORY_MAX_GROWTH,
                )
            )

    if targets:
        out += ["", "targets"]
        out += [f"  {name:<52} {value:>10}  {verdict(ok)}" for name, value, ok in targets]
    if bench.errors:
        out += ["", "errors"] + [f"  {error}" for error in bench.errors]
    print("\n".join(out), flush=True)
    return targets


# ---------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="conversation items in the initial job (N)")
    parser.add_argument("--skip-dlt", action="store_true", help="do not run the dlt contender")
    parser.add_argument("--skip-naive", action="store_true", help="do not run the naive contender")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temporary directory, removed)")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, among {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--dlt-python", help="a Python that can import dlt (default: search, see above)")
    parser.add_argument(
        "--dlt-format",
        default="parquet",
        choices=("parquet", "jsonl", "default"),
        help="dlt's loader_file_format (default parquet, its fast path into DuckDB; 'default' is dlt's own "
        "default for DuckDB, insert_values, which took 488 s at 1M rows on the reference machine)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the initial load of gladly-assets, the ceiling and naive this many times; report the fastest",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    args.only = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown or not args.only:
        parser.error(f"--only takes sections among {', '.join(SECTIONS)}; got {args.only}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    owned = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="gladly-bench-")) if owned else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        results, bench = run(args, workdir)
        targets = report(args, results, bench)
        bench.progress(f"benchmark done in {time.perf_counter() - started:.0f} s")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "rows": args.rows,
                        "initial": results.initial,
                        "incremental": results.incremental,
                        "noop": results.noop,
                        "memory": {str(k): v for k, v in results.memory.items()},
                        "info": results.info,
                        "skipped": results.skipped,
                        "targets": [{"target": t, "value": value, "pass": ok} for t, value, ok in targets],
                        "errors": bench.errors,
                    },
                    indent=2,
                    default=str,
                )
            )
        return 1 if bench.errors else 0
    finally:
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2]))
    sys.exit(main())
