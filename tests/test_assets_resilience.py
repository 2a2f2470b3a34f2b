"""Faults, expiry and a killed process: the tables still end as a clean run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from gladly_assets import metadata_keys as keys
from gladly_assets.export_jobs import parse_instant
from gladly_assets.processes import stop_process_group
from gladly_assets.tables import TABLES_BY_NAME

from .helpers import assert_tables_match, make_simulator, materialize, table_rows

pytestmark = pytest.mark.slow  # the assets through faults and the CLI

ITEMS = TABLES_BY_NAME["conversation_items"]


def add_awkward_jobs(sim):
    """Data-level quirks, identical in every simulator they are applied to."""
    sim.advance(timedelta(hours=2))
    at = sim.now()
    sim.complete_job(updated_at=at, fraction_digits=3)
    sim.complete_job(updated_at=at, fraction_digits=6)  # same updatedAt
    sim.advance(timedelta(hours=1))
    newer = sim.complete_job(fraction_digits=9)
    sim.complete_job(updated_at=sim.now() - timedelta(minutes=40))  # visible after a newer one
    return newer


@pytest.mark.slow  # two full runs, one waiting out stalls and rate limits
def test_a_run_through_every_fault_ends_like_a_clean_run(tmp_path):
    with (
        make_simulator() as clean,
        make_simulator(rate_limit_per_second=10) as faulty,
        dg.DagsterInstance.ephemeral() as clean_instance,
        dg.DagsterInstance.ephemeral() as faulty_instance,
    ):
        for sim in (clean, faulty):
            add_awkward_jobs(sim)
        materialize(clean, clean_instance, tmp_path / "clean.duckdb")

        faulty.faults.rate_limit_burst = 2
        faulty.faults.retry_after = 0.05
        faulty.faults.server_errors = [500, 502, 503]
        faulty.faults.reset_after_bytes = 2000
        faulty.faults.resets = 2
        faulty.faults.stall_seconds = 1.5
        faulty.faults.stalls = 1
        # A backoff long enough to wait out Gladly's real one-second rate-limit window.
        result = materialize(
            faulty, faulty_instance, tmp_path / "faulty.duckdb", timeout_seconds=0.5, backoff_max_seconds=1.0
        )

        assert result.success
        assert not faulty.faults.pending  # every fault fired: bursts, errors, resets, the stall
        statuses = {record.status for record in faulty.request_log}
        assert {429, 500, 502, 503} <= statuses
        assert any(not record.complete for record in faulty.request_log)  # the resets
        for name, table in TABLES_BY_NAME.items():
            assert table_rows(tmp_path / "faulty.duckdb", table) == table_rows(tmp_path / "clean.duckdb", table), name
        assert_tables_match(clean, tmp_path / "clean.duckdb")


def test_a_job_that_expires_before_download_is_reported_lost_and_the_rest_applies(tmp_path):
    with make_simulator() as sim, dg.DagsterInstance.ephemeral() as instance:
        db = tmp_path / "w.duckdb"
        materialize(sim, instance, db, selection=[ITEMS.asset_key])
        # A day apart: each job exports its own day, so the doomed job's day is covered by no other.
        sim.advance(timedelta(days=1))
        doomed = sim.complete_job()
        sim.advance(timedelta(days=1))
        survivor = sim.complete_job()
        sim.faults.applies_to = "files"
        sim.faults.expire_on_download = 1

        result = materialize(sim, instance, db, selection=[ITEMS.asset_key])

        assert result.success
        metadata = instance.get_latest_materialization_event(ITEMS.asset_key).asset_materialization.metadata
        assert metadata[keys.JOBS_EXPIRED].value == [doomed["id"]]
        assert [job["id"] for job in metadata[keys.JOBS_APPLIED].value] == [survivor["id"]]
        (lost,) = metadata[keys.RETENTION_GAP].value
        window = doomed["parameters"]
        assert [parse_instant(lost[k]) for k in ("from", "to")] == [
            parse_instant(window[k]) for k in ("startAt", "endAt")
        ]
        assert doomed["id"] in lost["reason"] and "expired" in lost["reason"]
        # Exactly one attempt at the expired file: a 404 is final, not retried.
        assert len([r for r in sim.request_log if doomed["id"] in r.path]) == 1


def _cli_env(sim, tmp_path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        **sim.client_environment(),
        "GLADLY_DUCKDB_PATH": str(tmp_path / "gladly.duckdb"),
    }


CLI = [
    sys.executable,
    "-m",
    "dagster",
    "asset",
    "materialize",
    "-m",
    "gladly_assets.definitions",
    "--select",
    "group:gladly",  # the export tables; key:gladly/* also holds the partitioned report assets
]


@pytest.mark.slow  # the dagster CLI in a subprocess
def test_cli_run_killed_mid_load_is_repaired_by_the_next_run(tmp_path):
    with make_simulator() as sim:
        sim.advance(timedelta(hours=1))
        big = sim.complete_job(conversation_items=150_000)
        env = _cli_env(sim, tmp_path)
        process = subprocess.Popen(
            CLI, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        loading = threading.Event()

        def watch():
            for line in process.stderr:
                if big["id"] in line and "conversation_items" in line and "loading" in line:
                    loading.set()

        threading.Thread(target=watch, daemon=True).start()
        try:
            assert loading.wait(120), "the big file never started loading"
            time.sleep(0.5)  # well inside the load of 150,000 rows
        finally:
            # A crash: SIGKILL to the CLI and the step processes it started.
            stop_process_group(process, signal.SIGKILL)

        db = tmp_path / "gladly.duckdb"
        with duckdb.connect(str(db)) as connection:
            partial = connection.execute(
                "SELECT count(*) FROM gladly.gladly.conversation_items WHERE _job_id = ?", [big["id"]]
            ).fetchone()[0]
        assert partial == 0, "a killed load must leave none of the job's rows"

        second = subprocess.run(CLI, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr[-3000:]
        assert_tables_match(sim, db)

        sim.clear_log()
        third = subprocess.run(CLI, env=env, capture_output=True, text=True, timeout=300)
        assert third.returncode == 0, third.stderr[-3000:]
        assert sim.downloads() == []
        assert [r.path for r in sim.request_log] == ["/export/jobs"]
        assert sim.api_token not in third.stderr + second.stderr
