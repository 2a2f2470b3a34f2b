"""The benchmark's sections: what runs, in which order, on which data.

* ``initial``: one job with N conversation items, loaded by every contender;
* ``incremental``: one more job (N/10 items, N/25 customers, half of them updates) merged
  into the initial load's state, against DuckDB's own DELETE + INSERT;
* ``noop``: one more materialization with no new job;
* ``memory``: peak RSS of a materialising process at N and 2N items;
* ``scale`` (not run by default): K jobs of N items, one materialization each, into one
  table that grows to K x N rows (10 x 1,000,000 is the 10M run).
"""

from __future__ import annotations

import contextlib
import shutil
from datetime import timedelta
from pathlib import Path

from contenders import dlt_merge
from contenders.duckdb_ceiling import DECLARED_COLUMNS, DETECT_EVERY_LINE, DETECT_SAMPLE
from harness import (
    CUSTOMERS_TABLE,
    ITEMS_TABLE,
    Bench,
    ChildFailed,
    CustomerMaker,
    copy_file,
    count_lines,
    load_average,
    make_simulator,
    table_columns,
)

SECTIONS = ("initial", "incremental", "noop", "memory", "scale")
DEFAULT_SECTIONS = ("initial", "incremental", "noop", "memory")

# The contenders of the initial load, in the order of the printed table.
GLADLY = "gladly-assets"
PARSER = "parser"
CEILING = "ceiling"
DUCKDB_EVERY_LINE = "duckdb every line"
DUCKDB_DECLARED = "duckdb declared columns"
NAIVE = "naive"
DLT = "dlt"
DUCKDB_DETECTION = {CEILING: DETECT_SAMPLE, DUCKDB_EVERY_LINE: DETECT_EVERY_LINE, DUCKDB_DECLARED: DECLARED_COLUMNS}


class Results:
    def __init__(self) -> None:
        self.initial: dict[str, dict] = {}
        self.incremental: dict[str, dict] = {}
        self.noop: dict | None = None
        self.memory: dict[int, dict] = {}
        self.scale: list[dict] = []
        self.info: dict = {}
        self.skipped: dict[str, str] = {}


def run(bench: Bench) -> Results:
    args, workdir, n = bench.args, bench.workdir, bench.rows
    results = Results()
    only = set(args.only)
    incremental_items = max(1, n // 10)
    incremental_customers = max(2, n // 25) // 2 * 2
    results.info.update(
        rows=n,
        incremental_items=incremental_items,
        incremental_customers=incremental_customers,
        load_start=load_average(),
    )
    files_dir = workdir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    if only & {"initial", "incremental", "noop"}:
        sim = make_simulator(workdir / "sim-data")
        try:
            timeline(bench, results, sim, only, files_dir, incremental_items, incremental_customers)
        finally:
            sim.stop()
    if "memory" in only:
        memory(bench, results)
    if "scale" in only:
        scale(bench, results)
    return results


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
    import time

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
        results.initial[GLADLY] = best_of(bench, repeat, "initial: gladly-assets", gladly_spec)
    except ChildFailed:
        results.skipped["incremental"] = results.skipped["noop"] = "the initial gladly-assets load failed"
        return

    def duckdb_spec(key: str):
        def spec(run: int) -> dict:
            # The declared-columns load is the one the incremental ceiling merges into: its types
            # are the ones gladly-assets stores (the detected ones are nested STRUCTs).
            kept = key == DUCKDB_DECLARED and run == 0
            return {
                "kind": "ceiling_load",
                "detection": DUCKDB_DETECTION[key],
                "db": state["ceiling_db"] if kept else str(workdir / f"duckdb-{DUCKDB_DETECTION[key]}-{run}.duckdb"),
                "tables": [{"name": ITEMS_TABLE, "files": [str(items_file)], "columns": table_columns(ITEMS_TABLE)}],
            }

        return spec

    if only & {"initial", "incremental"}:
        try:
            results.initial[DUCKDB_DECLARED] = best_of(
                bench, repeat, "initial: DuckDB read_json, declared columns", duckdb_spec(DUCKDB_DECLARED)
            )
        except ChildFailed:
            results.skipped["incremental"] = "DuckDB's initial load failed"
    if "initial" in only:
        for key in (CEILING, DUCKDB_EVERY_LINE):
            with contextlib.suppress(ChildFailed):
                results.initial[key] = best_of(bench, repeat, f"initial: {key}", duckdb_spec(key))
        with contextlib.suppress(ChildFailed):
            results.initial[PARSER] = best_of(
                bench,
                repeat,
                "initial: gladly-assets' parser alone",
                lambda run: {"kind": "parser", "file": str(items_file), "table": ITEMS_TABLE},
            )
        if args.skip_naive:
            results.skipped[NAIVE] = "--skip-naive"
        else:
            with contextlib.suppress(ChildFailed):
                results.initial[NAIVE] = best_of(
                    bench,
                    repeat,
                    "initial: naive",
                    lambda run: {
                        "kind": "naive",
                        "file": str(items_file),
                        "db": str(workdir / f"naive-{run}.duckdb"),
                        "table": ITEMS_TABLE,
                    },
                )
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
            runs.append(bench.run_child(label + run_label(run, repeat), spec))
        finally:
            if "db" in spec and (run > 0 or spec["kind"] == "naive"):
                Path(spec["db"]).unlink(missing_ok=True)
    return fastest(runs)


def run_label(run: int, repeat: int) -> str:
    return f" (run {run + 1}/{repeat})" if repeat > 1 else ""


def fastest(runs: list[dict]) -> dict:
    """The fastest of a contender's runs, with every run's seconds."""
    best = dict(min(runs, key=lambda result: result["seconds"]))
    best["runs"] = [result["seconds"] for result in runs]
    return best


def run_dlt(bench: Bench, results: Results, items_file: Path) -> None:
    args, workdir = bench.args, bench.workdir
    if args.skip_dlt:
        results.skipped[DLT] = "--skip-dlt"
        return
    python = dlt_merge.find_python(args.dlt_python)
    if python is None:
        results.skipped[DLT] = "not installed"
        return
    results.info["dlt_python"] = python
    results.info["dlt_duckdb"] = dlt_merge.module_version(python, "duckdb")
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
        results.initial[DLT] = bench.run_child("initial: dlt", spec, python=python)
    (workdir / "dlt.duckdb").unlink(missing_ok=True)
    shutil.rmtree(workdir / "dlt-data", ignore_errors=True)
    shutil.rmtree(workdir / "dlt-pipelines", ignore_errors=True)


def incremental(
    bench: Bench,
    results: Results,
    sim,
    state: dict,
    files_dir: Path,
    incremental_items: int,
    incremental_customers: int,
) -> None:
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
    contenders = {
        GLADLY: ("incremental: gladly-assets", {**state["gladly"], "tables": tables}),
        CEILING: (
            "incremental: ceiling (DuckDB DELETE + INSERT)",
            {
                "kind": "ceiling_merge",
                "db": state["ceiling_db"],
                "tables": [
                    {"name": name, "files": [str(files[name])], "columns": table_columns(name)} for name in tables
                ],
            },
        ),
    }
    # With --repeat, every run merges the job into the state before it: each contender's DuckDB
    # file (and gladly-assets' recorded materializations) is put back first. The no-op section
    # continues from the last run's.
    before = {
        GLADLY: [Path(state["gladly"]["db"]), Path(state["gladly"]["state"])],
        CEILING: [Path(state["ceiling_db"])],
    }
    for path in (path for paths in before.values() for path in paths):
        shutil.copyfile(path, _kept(path))
    repeat = bench.args.repeat
    runs: dict[str, list[dict]] = {GLADLY: [], CEILING: []}
    try:
        for run in range(repeat):
            for key, (label, spec) in contenders.items():
                if run:
                    for path in before[key]:
                        shutil.copyfile(_kept(path), path)
                        path.with_name(path.name + ".wal").unlink(missing_ok=True)  # none after a clean close
                runs[key].append(bench.run_child(label + run_label(run, repeat), spec))
    finally:
        for path in (path for paths in before.values() for path in paths):
            _kept(path).unlink(missing_ok=True)
    results.incremental = {key: fastest(key_runs) for key, key_runs in runs.items()}


def _kept(path: Path) -> Path:
    return path.with_name(path.name + ".before-incremental")


def memory(bench: Bench, results: Results) -> None:
    """Peak RSS of a materialising process at N and 2N rows: a fresh organization, Dagster
    instance (ephemeral) and DuckDB file each time."""
    for rows in (bench.rows, 2 * bench.rows):
        sim = make_simulator(bench.workdir / "sim-data")
        db = bench.workdir / f"memory-{rows}.duckdb"
        try:
            bench.progress(f"generating a job with {rows:,} conversation items (not timed)")
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


def scale(bench: Bench, results: Results) -> None:
    """``--scale-jobs`` jobs of N items, each materialised by a process of its own into the same
    table, as a sensor would: the time and peak RSS of every job as the table grows.

    Each job's file is deleted from the simulator once loaded, so the disk holds one file at a
    time besides the DuckDB file."""
    jobs = bench.args.scale_jobs
    sim = make_simulator(bench.workdir / "scale-sim-data")
    spec = {
        "kind": "gladly",
        "gladly": sim.client_settings(),
        "db": str(bench.workdir / "scale.duckdb"),
        "state": str(bench.workdir / "scale-materializations.json"),
        "tables": [ITEMS_TABLE],
    }
    try:
        for number in range(1, jobs + 1):
            bench.progress(f"scale: generating job {number}/{jobs} with {bench.rows:,} conversation items (not timed)")
            sim.advance(timedelta(days=1))
            job = sim.complete_job(conversation_items=bench.rows)
            path = sim.file_path(job["id"], f"{ITEMS_TABLE}.jsonl")
            size = path.stat().st_size
            try:
                result = bench.run_child(f"scale: job {number}/{jobs}", spec)
            except ChildFailed:
                return
            result["bytes"] = size
            results.scale.append(result)
            path.unlink()
    finally:
        sim.stop()
        Path(spec["db"]).unlink(missing_ok=True)
