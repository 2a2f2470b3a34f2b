"""The ingest benchmark still runs end to end: a small run of benchmarks/bench_ingest.py as a
subprocess (no dlt). Only what it prints is checked, never its timings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_ingest.py"
ROWS = 3000
REPEAT = 2

pytestmark = pytest.mark.slow


SCALE_ROWS = 1000
SCALE_JOBS = 3
STEPS = {"download", "parse", "insert", "merge", "commit", "total"}


def run_benchmark(script: Path, *options: str) -> str:
    """What the script printed (it must succeed)."""
    completed = subprocess.run(
        [sys.executable, str(script), *options], capture_output=True, text=True, timeout=240, cwd=ROOT, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def run_script(workdir: Path, *options: str) -> tuple[str, dict]:
    results = workdir / "results.json"
    printed = run_benchmark(SCRIPT, *options, "--workdir", str(workdir / "work"), "--json", str(results))
    return printed, json.loads(results.read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[str, dict]:
    return run_script(tmp_path_factory.mktemp("bench"), "--rows", str(ROWS), "--skip-dlt", "--repeat", str(REPEAT))


@pytest.fixture(scope="module")
def scale_run(tmp_path_factory) -> tuple[str, dict]:
    return run_script(
        tmp_path_factory.mktemp("scale"), "--only", "scale", "--rows", str(SCALE_ROWS), "--scale-jobs", str(SCALE_JOBS)
    )


def section(stdout: str, number: int) -> list[str]:
    """The lines of one numbered section of the report."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{number}. "))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def measured(lines: list[str], contender: str) -> tuple[float, int]:
    """(seconds, rows) of a contender's row in a table."""
    for line in lines:
        if line.startswith(contender):
            match = re.match(rf"{re.escape(contender)}\s+([\d.]+)\s+([\d,]+)\s", line)
            assert match, line
            return float(match[1]), int(match[2].replace(",", ""))
    raise AssertionError(f"no row for {contender!r} in:\n" + "\n".join(lines))


def test_header_names_versions_machine_and_the_ceiling(run):
    stdout, _ = run
    assert re.search(r"^machine: .*\d+ cores.*GiB RAM; load average at start [\d.]+ [\d.]+ [\d.]+", stdout, re.M)
    assert re.search(r"^ceiling: DuckDB alone: CREATE TABLE t AS SELECT \* FROM read_json\(file\)", stdout, re.M)
    versions = next(line for line in stdout.splitlines() if line.startswith("versions:"))
    for package in ("python", "duckdb", "polars", "dagster"):
        assert re.search(rf"\b{package} \d", versions), versions


def test_initial_load_has_every_contender_and_gladly_assets_loads_every_row(run):
    stdout, _ = run
    lines = section(stdout, 1)
    assert f"{ROWS:,} conversation items" in lines[0]
    seconds, rows = measured(lines, "gladly-assets")
    assert rows == ROWS and seconds > 0
    for contender in (
        "  its parser alone (Polars, no DuckDB)",
        "ceiling: DuckDB read_json(file)",
        "DuckDB read_json, sample_size=-1",
        "DuckDB read_json, declared columns",
        "naive (json.loads, Arrow, DuckDB)",
    ):
        assert measured(lines, contender)[1] == ROWS
    assert any(line.startswith("dlt") and "--skip-dlt" in line for line in lines)


def test_the_time_of_gladly_assets_is_split_by_step_from_its_materialization_metadata(run):
    stdout, results = run
    for section_results, number in ((results["initial"], 1), (results["incremental"], 2)):
        gladly = section_results["gladly-assets"]
        steps = gladly["breakdown"]
        assert set(steps) == STEPS | {"outside the sync"}
        assert 0 < steps["download"] <= steps["total"] <= gladly["seconds"]
        assert all(seconds >= 0 for seconds in steps.values())
        for table, metadata in gladly["metadata"].items():
            assert set(metadata["timings"]) == STEPS, table
            assert [set(job["seconds"]) for job in metadata["jobs_applied"]] == [STEPS] * len(metadata["jobs_applied"])
        assert any(
            line.startswith("    gladly-assets (from its materialization metadata) time: download ")
            for line in section(stdout, number)
        )


def test_incremental_applies_the_new_job_like_the_ceiling(run):
    stdout, results = run
    lines = section(stdout, 2)
    items, customers = ROWS // 10, ROWS // 25
    for contender in ("gladly-assets", "ceiling (DuckDB DELETE + INSERT)"):
        assert measured(lines, contender)[1] == items + customers
    gladly = results["incremental"]["gladly-assets"]
    ceiling = results["incremental"]["ceiling"]
    assert gladly["rows"]["conversation_items"] == ceiling["rows"]["conversation_items"] == ROWS + items
    assert gladly["rows"]["customers"] == ceiling["rows"]["customers"]
    assert gladly["metadata"]["customers"]["rows_updated"] == customers // 2
    assert gladly["metadata"]["customers"]["rows_inserted"] == customers // 2


def test_with_repeat_every_incremental_run_merges_the_job_into_the_state_before_it(run):
    stdout, results = run
    lines = section(stdout, 2)
    for key, name in (("gladly-assets", "gladly-assets"), ("ceiling", "ceiling (DuckDB DELETE + INSERT)")):
        runs = results["incremental"][key]["runs"]
        assert len(runs) == REPEAT and results["incremental"][key]["seconds"] == min(runs)
        assert any(line.startswith(f"    {name} runs (fastest shown): ") for line in lines), lines
    # Had a run started from the state the one before left, it would have found no new job.
    assert results["incremental"]["gladly-assets"]["materialized"] == ["conversation_items", "customers"]


def test_noop_and_memory_sections_and_every_target_are_reported(run):
    stdout, results = run
    assert re.search(r"^gladly-assets\s+[\d.]+ s, \d+ HTTP request", "\n".join(section(stdout, 3)), re.M)
    memory = section(stdout, 4)
    for rows in (ROWS, 2 * ROWS):
        assert any(line.split()[0] == f"{rows:,}" for line in memory[2:]), memory
    targets = stdout[stdout.index("\ntargets\n") :].splitlines()
    for name in (
        "initial load <=",
        "faster than naive",
        "incremental <=",
        "no-op makes exactly",
        "peak RSS <",
        "peak RSS growth",
    ):
        assert any(name in line and re.search(r"(PASS|FAIL)$", line) for line in targets), (name, targets)
    assert results["errors"] == []


def test_scale_loads_every_job_into_one_growing_table_and_reports_each(scale_run):
    stdout, results = scale_run
    assert [job["rows"]["conversation_items"] for job in results["scale"]] == [
        SCALE_ROWS * number for number in range(1, SCALE_JOBS + 1)
    ]
    assert [job["metadata"]["conversation_items"]["rows_inserted"] for job in results["scale"]] == [
        SCALE_ROWS
    ] * SCALE_JOBS
    lines = section(stdout, 5)
    assert f"{SCALE_JOBS} jobs of {SCALE_ROWS:,} conversation items" in lines[0]
    for number in range(1, SCALE_JOBS + 1):
        assert any(re.match(rf"\s+{number}\s+{SCALE_ROWS * number:,}\s+[\d.]+\s", line) for line in lines), lines
    targets = stdout[stdout.index("\ntargets\n") :]
    assert re.search(r"peak RSS < 1.00 GiB throughout the scale run .*(PASS|FAIL)$", targets, re.M)
    assert re.search(rf"time per job flat: job {SCALE_JOBS} <= [\d.]+x job 2 .*(PASS|FAIL)$", targets, re.M)
    assert results["errors"] == []


def test_the_hostile_keys_benchmark_runs_and_keeps_every_table_within_its_budget():
    limit = 50
    printed = run_benchmark(ROOT / "benchmarks" / "bench_hostile_keys.py", "--scale", "0.01", "--max-key-columns", "50")
    rows = {}
    for line in printed.splitlines()[2:]:
        shape, figures = re.split(r"\s{2,}", line, maxsplit=1)
        # MB, seconds, peak RSS (a number and "MiB"), rows, columns, rejected, what
        *_, loaded, columns, rejected = figures.split()[:7]
        rows[shape] = (int(loaded.replace(",", "")), int(columns), int(rejected.replace(",", "")))
    assert rows.keys() == {"one wide line", "a key per line", "wide lines", "a nested key per line", "malformed lines"}
    assert all(columns <= limit + 2 for _, columns, _ in rows.values())  # and the two job columns
    assert rows["a key per line"][0] + rows["a key per line"][2] == 3000 and rows["a key per line"][2] > 0
    assert rows["a nested key per line"] == (3000, rows["a nested key per line"][1], 0)
    assert rows["malformed lines"] == (0, rows["malformed lines"][1], 10_000)
