"""A DuckDB file that cannot be opened fails the run at once with its cause named:
locked by another process, corrupt, a directory, or not writable."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from gladly_assets.analytics.assets import build_analytics_assets
from gladly_assets.analytics.models import CONVERSATION_FACTS
from gladly_assets.load import connect as connect_module
from gladly_assets.load.connect import WarehouseUnavailable, connect
from gladly_assets.reports.assets import build_report_assets

from .helpers import ASSETS, gladly_resource, materialize

NOBODY = 65534


@contextlib.contextmanager
def holding_lock(path):
    """A second process that opens the file for writing and keeps it open."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder.pid
    finally:
        holder.stdin.close()
        holder.wait(30)


@contextlib.contextmanager
def unprivileged(needed: bool):
    """Run as a user the file's permissions apply to (root bypasses them)."""
    if not needed or os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


def corrupt(path):
    path.write_bytes(os.urandom(64 * 1024))


def directory(path):
    path.mkdir()


def read_only(path):
    duckdb.connect(str(path)).close()
    path.chmod(0o444)
    path.parent.chmod(0o755)  # readable, not writable, by the unprivileged user


@pytest.fixture
def folder():
    """A folder an unprivileged user can reach (pytest's own is private to its user)."""
    made = Path(tempfile.mkdtemp(prefix="gladly-open-"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (corrupt, "not a valid DuckDB database"),
        (directory, "it is a directory"),
        (read_only, "may not write it"),
    ],
    ids=["corrupt", "directory", "read-only"],
)
def test_a_file_that_cannot_open_says_why_without_retrying(folder, monkeypatch, make, cause):
    path = folder / "w.duckdb"
    make(path)
    attempts = []
    real_connect = duckdb.connect
    monkeypatch.setattr(connect_module.duckdb, "connect", lambda *a, **k: attempts.append(1) or real_connect(*a, **k))
    with unprivileged(make is read_only), pytest.raises(WarehouseUnavailable, match=cause) as raised:
        connect(str(path))
    assert str(path) in str(raised.value)
    assert len(attempts) == 1  # nothing waiting could fix


def test_a_lock_held_by_another_process_is_waited_for_briefly_then_named(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    with (
        holding_lock(path) as pid,
        pytest.raises(WarehouseUnavailable, match="another process holds its lock") as raised,
    ):
        connect(str(path), lock_wait_seconds=1.0)
    assert f"PID {pid}" in str(raised.value)
    # Released, the same file opens.
    connect(str(path)).close()


@pytest.mark.slow  # materialises the assets on a Dagster instance
@pytest.mark.parametrize("make", [corrupt, "locked"], ids=["corrupt", "locked"])
def test_a_run_on_an_unusable_file_fails_with_the_cause_in_its_log(sim, instance, tmp_path, monkeypatch, make):
    monkeypatch.setattr(connect_module, "LOCK_WAIT_SECONDS", 1.0)
    path = tmp_path / "w.duckdb"
    with contextlib.ExitStack() as stack:
        if make == "locked":
            duckdb.connect(str(path)).close()
            stack.enter_context(holding_lock(path))
        else:
            make(path)
        result = materialize(sim, instance, path, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.to_string()
    assert "WarehouseUnavailable" in message and str(path) in message
    assert ("another process holds its lock" if make == "locked" else "not a valid DuckDB database") in message


REPORT_ASSET = build_report_assets(start_date="2026-11-01")[0]
ANALYTICS_ASSETS = build_analytics_assets()


@pytest.mark.slow  # materialises the assets on a Dagster instance
@pytest.mark.parametrize("kind", ["report", "analytics"])
def test_report_and_analytics_assets_fail_fast_naming_a_held_lock(sim, instance, tmp_path, monkeypatch, kind):
    monkeypatch.setattr(connect_module, "LOCK_WAIT_SECONDS", 1.0)
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    resources = {
        "gladly": gladly_resource(sim, report_requests_per_window=10_000),
        "duckdb": DuckDBResource(database=str(path)),
    }
    runs = {
        "report": lambda: dg.materialize(
            [REPORT_ASSET], partition_key="2026-11-18", instance=instance, resources=resources, raise_on_error=False
        ),
        "analytics": lambda: dg.materialize(
            [ASSETS, *ANALYTICS_ASSETS],
            selection=[CONVERSATION_FACTS.asset_key],
            instance=instance,
            resources=resources,
            raise_on_error=False,
        ),
    }
    with holding_lock(path) as pid:
        result = runs[kind]()
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.to_string()
    # DuckDBResource.get_connection would have retried for about 100 s, then raised duckdb's IOException.
    assert "WarehouseUnavailable" in message and "another process holds its lock" in message
    assert str(path) in message and f"PID {pid}" in message
