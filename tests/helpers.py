"""Test helpers: a simulator with a frozen clock, materialising the real assets, and an
independent oracle that replays the simulator's files to say what each table must hold."""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import httpx

from gladly_assets.assets import build_gladly_assets
from gladly_assets.errors import GladlyRetriesExhausted
from gladly_assets.export_jobs import parse_instant
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.resources.warehouse import duckdb_resource
from gladly_assets.simulator import GladlySimulator
from gladly_assets.tables import TABLES, GladlyTable

FROZEN_NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
# The real assets on this machine's clock (materialize() below uses the simulator's instead).
ASSETS = build_gladly_assets()


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Days of completed jobs the test simulators start with: each job costs every asset test a
# download and a merge per table, and four are enough for late, repeated and expired jobs.
# A test that needs Gladly's whole 14-day retention asks for it (history_days=14).
TEST_HISTORY_DAYS = 4


def make_simulator(**options) -> GladlySimulator:
    """Daily jobs, a frozen clock, and no rate limiting unless a test asks for it,
    so that request counts are exact."""
    defaults = {"seed": 7, "now": FROZEN_NOW, "rate_limit_per_second": None, "history_days": TEST_HISTORY_DAYS}
    return GladlySimulator(**{**defaults, **options})


def simulator_client(sim: GladlySimulator, **options) -> httpx.Client:
    """A plain httpx client on the simulator, signed in unless ``auth`` says otherwise. It
    speaks plain HTTP to 127.0.0.1, so it skips loading a CA bundle (tens of milliseconds)."""
    return httpx.Client(
        **{
            "base_url": sim.base_url,
            "auth": (sim.agent_email, sim.api_token),
            "timeout": 30,
            "verify": False,
            **options,
        }
    )


def gladly_resource(sim: GladlySimulator, **overrides) -> GladlyResource:
    settings = {
        **sim.client_settings(),
        # Tests should not sleep for real backoff.
        "backoff_initial_seconds": 0.01,
        "backoff_max_seconds": 0.05,
    }
    return GladlyResource(**{**settings, **overrides})


class GladlyDownOnOneJob(GladlyResource):
    """Gladly failing for good on one job's files: an outage the simulator cannot aim at one job."""

    failing_job_id: str

    def download_file(self, job, file_name, dest, on_progress=None):
        if job.id == self.failing_job_id:
            raise GladlyRetriesExhausted("GET ... failed after 6 attempts; last error: HTTP 503", 6)
        return super().download_file(job, file_name, dest, on_progress)


def down_on(sim: GladlySimulator, job_id: str) -> GladlyResource:
    return GladlyDownOnOneJob(**sim.client_settings(), failing_job_id=job_id)


def materialize(
    sim: GladlySimulator,
    instance: dg.DagsterInstance,
    db: Path,
    *,
    full_refresh: bool = False,
    selection=None,
    raise_on_error: bool = True,
    gladly: GladlyResource | None = None,
    clock=None,
    tags=None,
    config: dict | None = None,
    **resource_overrides,
) -> dg.ExecuteInJobResult:
    """The real assets, judging future-dated jobs by the simulator's clock (default) or ``clock``;
    ``config``: more of the sync's run config."""
    op_config = {**({"full_refresh": True} if full_refresh else {}), **(config or {})}
    return dg.materialize(
        [build_gladly_assets(clock=clock or sim.now)],
        instance=instance,
        resources={
            "gladly": gladly or gladly_resource(sim, **resource_overrides),
            "duckdb": duckdb_resource(str(db)),
        },
        run_config={"ops": {"gladly_tables": {"config": op_config}}} if op_config else None,
        selection=selection,
        raise_on_error=raise_on_error,
        tags=tags,
    )


def column_types(db: Path, table: GladlyTable) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as connection:
        return dict(
            connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'gladly' AND table_name = ?",
                [table.name],
            ).fetchall()
        )


def table_rows(db: Path, table: GladlyTable) -> dict[str, dict]:
    """id -> row, JSON columns decoded."""
    types = column_types(db, table)
    with duckdb.connect(str(db), read_only=True) as connection:
        # Qualified with the catalog (the file's stem): a file may be called gladly.duckdb.
        cursor = connection.execute(f'SELECT * FROM "{db.stem}".gladly.{table.name}')
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    for row in rows:
        for name, kind in types.items():
            if kind == "JSON" and row[name] is not None:
                row[name] = json.loads(row[name])
    return {row["id"]: row for row in rows}


def expected_tables(sim: GladlySimulator, jobs: list[dict] | None = None) -> dict[str, dict[str, tuple[str, dict]]]:
    """What every table must hold after applying ``jobs`` (default: all listed):
    per id, the (job id, record) of the newest version by (updatedAt, job id),
    the last line of a file winning within it; unparseable lines ignored."""
    jobs = sorted(jobs or sim.jobs(), key=lambda job: (parse_instant(job["updatedAt"]), job["id"]))
    expected: dict[str, dict[str, tuple[str, dict]]] = {table.name: {} for table in TABLES}
    for job in jobs:
        for table in TABLES:
            if table.file_name not in job["files"]:
                continue
            for line in sim.file_bytes(job["id"], table.file_name).splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("id") not in (None, ""):
                    expected[table.name][str(record["id"])] = (job["id"], record)
    return expected


def same_value(actual, expected, column_type: str) -> bool:
    """A stored value equals the JSON value it came from (text columns hold other scalars as JSON text)."""
    if expected is None:
        return actual is None
    if isinstance(expected, (dict, list)) and isinstance(actual, str):
        return json.loads(actual) == expected
    if column_type == "VARCHAR" and not isinstance(expected, str):
        return actual == json.dumps(expected)
    if column_type == "DOUBLE" and isinstance(expected, int):
        return actual == float(expected)
    return actual == expected


def assert_tables_match(
    sim: GladlySimulator, db: Path, jobs: list[dict] | None = None, tables: Sequence[GladlyTable] = TABLES
) -> None:
    expected = expected_tables(sim, jobs)
    for table in tables:
        actual = table_rows(db, table)
        types = column_types(db, table)
        assert set(actual) == set(expected[table.name]), table.name
        for row_id, (job_id, record) in expected[table.name].items():
            row = actual[row_id]
            assert row["_job_id"] == job_id, (table.name, row_id)
            for key in set(record) | {name for name in row if not name.startswith("_")}:
                if key == "id":
                    continue
                assert same_value(row.get(key), record.get(key), types.get(key, "")), (
                    table.name,
                    row_id,
                    key,
                    row.get(key),
                    record.get(key),
                )
