"""The real thing, end to end: the simulator and `dagster dev` as subprocesses.

The simulator serves a day of hourly export jobs and completes a new one every
few seconds; `dagster dev` runs the code location with the sensor on, on a
temporary instance configured like the demo's (one DuckDB writer at a time).
Everything is asserted through Dagster's GraphQL API, as the UI sees it: the
sensor launches runs that succeed, every table gets a materialization with its
metadata, the asset checks pass, and a job completed later is applied by a
later sensor run. Every process started here is stopped, also when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import pytest

from gladly_assets.checks import ID_IS_UNIQUE, NO_REJECTED_LINES, NO_RETENTION_GAP
from gladly_assets.demo import dagster_dev_command, prepare_dagster_home
from gladly_assets.export_jobs import parse_instant
from gladly_assets.metadata_keys import LAST_JOB_UPDATED_AT, MODE
from gladly_assets.processes import stop_process_group
from gladly_assets.sensors import SENSOR_NAME
from gladly_assets.tables import TABLES

from .helpers import free_port

pytestmark = pytest.mark.slow

T = TypeVar("T")

# The whole test stays well under three minutes: the first run loads one day of
# hourly jobs (about 20 with files per table) in some 20 s once Dagster is up.
DEADLINE_SECONDS = 180
JOB_EVERY_SECONDS = 5
SENSOR_EVERY_SECONDS = 5
STOP_GRACE_SECONDS = 20

ASSET_KEYS = [list(table.asset_key.path) for table in TABLES]
CHECK_NAMES = (ID_IS_UNIQUE, NO_RETENTION_GAP, NO_REJECTED_LINES)


# ---------------------------------------------------------------------------- processes


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def session_processes(session: int) -> list[int]:
    """Live processes still in that session (also those that left its process group); zombies
    are dead already, and only their parent can clear them."""
    found = []
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getsid(process.pid) == session:
                found.append(process.pid)
        except (psutil.Error, ProcessLookupError, PermissionError):
            pass
    return found


@dataclass
class Spawned:
    """A subprocess in its own session, so that it and everything it starts can be stopped together."""

    name: str
    process: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, name: str, command: list[str], log: Path, **options: Any) -> Spawned:
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, **options,
            )  # fmt: skip
        return cls(name, process, log)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.process.returncode}; its output ends with:\n{tail(self.log)}"
            )

    def stop(self) -> None:
        """As the demo stops `dagster dev` (SIGINT to its group, SIGKILL after a grace period);
        then nothing of its session may be left, not even a process that left its group."""
        session = self.process.pid
        stop_process_group(self.process, grace_seconds=STOP_GRACE_SECONDS)
        left = session_processes(session)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not left, f"processes of {self.name} outlived stopping its group: {left}"


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    deadline: float,
    *alive: Spawned,
    every: float = 1.0,
    diagnose: Callable[[], str] = lambda: "",
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    while True:
        for spawned in alive:
            spawned.check_alive()
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{diagnose()}")
        time.sleep(every)


# ---------------------------------------------------------------------------- GraphQL


class Dagster:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(timeout=30)

    def ready(self) -> bool:
        try:
            return self.client.get(f"{self.url}/server_info").status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, query: str, **variables: Any) -> dict:
        response = self.client.post(f"{self.url}/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def sensor_runs(self) -> list[dict]:
        """Runs the sensor launched, newest first."""
        data = self.query(
            """query ($tags: [ExecutionTag!]) {
                 runsOrError(filter: {tags: $tags}) {
                   __typename ... on Runs { results { runId status tags { key value } } }
                   ... on PythonError { message }
                 }
               }""",
            tags=[{"key": "dagster/sensor_name", "value": SENSOR_NAME}],
        )["runsOrError"]
        assert data["__typename"] == "Runs", data
        return data["results"]

    def run_materializations(self, run_id: str) -> dict[str, dict[str, Any]]:
        """'gladly/customers' -> {metadata label: value} of what that run materialised."""
        run = self.query(
            """query ($runId: ID!) {
                 runOrError(runId: $runId) {
                   __typename ... on Run { assetMaterializations { assetKey { path } metadataEntries { ...Entry } } }
                 }
               }"""
            + METADATA_FRAGMENT,
            runId=run_id,
        )["runOrError"]
        assert run["__typename"] == "Run", run
        return {"/".join(m["assetKey"]["path"]): metadata(m["metadataEntries"]) for m in run["assetMaterializations"]}

    def latest_materializations(self) -> dict[str, dict[str, Any] | None]:
        """'gladly/customers' -> {"runId": ..., "metadata": {...}} of its newest materialization, or None."""
        nodes = self.query(
            """query ($keys: [AssetKeyInput!]) {
                 assetNodes(assetKeys: $keys) {
                   assetKey { path }
                   assetMaterializations(limit: 1) { runId metadataEntries { ...Entry } }
                 }
               }"""
            + METADATA_FRAGMENT,
            keys=[{"path": path} for path in ASSET_KEYS],
        )["assetNodes"]
        latest: dict[str, dict[str, Any] | None] = {"/".join(path): None for path in ASSET_KEYS}
        for node in nodes:
            for event in node["assetMaterializations"]:
                latest["/".join(node["assetKey"]["path"])] = {
                    "runId": event["runId"], "metadata": metadata(event["metadataEntries"]),
                }  # fmt: skip
        return latest

    def check_executions(self, path: list[str], check_name: str) -> list[dict]:
        return self.query(
            """query ($key: AssetKeyInput!, $check: String!) {
                 assetCheckExecutions(assetKey: $key, checkName: $check, limit: 100) {
                   runId status evaluation { success description }
                 }
               }""",
            key={"path": path},
            check=check_name,
        )["assetCheckExecutions"]

    def run_errors(self, run_id: str) -> str:
        events = self.query(
            """query ($runId: ID!) {
                 logsForRun(runId: $runId, limit: 5000) {
                   ... on EventConnection { events { __typename
                     ... on ExecutionStepFailureEvent { stepKey error { message } }
                     ... on RunFailureEvent { message }
                     ... on MessageEvent { message level } } }
                 }
               }""",
            runId=run_id,
        )["logsForRun"].get("events", [])
        lines = [
            f"{event['__typename']} {event.get('stepKey') or ''}: "
            f"{(event.get('error') or {}).get('message') or event.get('message')}"
            for event in events
            if event["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent") or event.get("level") == "ERROR"
        ]
        return "\n".join(lines) or "(no error event)"

    def sensor_ticks(self) -> str:
        data = self.query(
            """query ($selector: SensorSelector!) {
                 sensorOrError(sensorSelector: $selector) {
                   __typename
                   ... on Sensor { sensorState { status ticks(limit: 5) { status skipReason error { message } } } }
                   ... on PythonError { message }
                 }
               }""",
            selector={
                "repositoryLocationName": "gladly_assets",
                "repositoryName": "__repository__",
                "sensorName": SENSOR_NAME,
            },
        )["sensorOrError"]
        return f"sensor: {data}"


METADATA_FRAGMENT = """
fragment Entry on MetadataEntry {
  label
  ... on IntMetadataEntry { intValue }
  ... on TextMetadataEntry { text }
  ... on JsonMetadataEntry { jsonString }
}
"""


def metadata(entries: list[dict]) -> dict[str, Any]:
    return {entry["label"]: entry.get("intValue", entry.get("text", entry.get("jsonString"))) for entry in entries}


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture
def deadline() -> float:
    return time.monotonic() + DEADLINE_SECONDS


@pytest.fixture
def simulator_process(tmp_path: Path, deadline: float) -> Iterator[tuple[Spawned, dict[str, str]]]:
    """`python -m gladly_assets.simulator` on a free port; yields it and the GLADLY_* it prints."""
    spawned = Spawned.start(
        "the simulator",
        [
            sys.executable, "-u", "-m", "gladly_assets.simulator", "--port", "0", "--frequency", "HOURLY",
            "--history-days", "1", "--tick-seconds", str(JOB_EVERY_SECONDS),
            "--data-dir", str(tmp_path / "simulator"),
        ],
        tmp_path / "simulator.log",
    )  # fmt: skip

    def printed_settings() -> dict[str, str] | None:
        output = tail(spawned.log, 100)
        return dict(re.findall(r"export (GLADLY_\w+)=(\S+)", output)) if "Ctrl-C stops it." in output else None

    try:
        exported = wait_for("the simulator to print its settings", printed_settings, deadline, spawned, every=0.2)
        yield spawned, exported
    finally:
        spawned.stop()


@pytest.fixture
def dagster_dev(
    tmp_path: Path, deadline: float, simulator_process: tuple[Spawned, dict[str, str]]
) -> Iterator[tuple[Spawned, Dagster]]:
    """`dagster dev` as the demo starts it, on a free port and a temporary instance and warehouse."""
    _, gladly = simulator_process
    port = free_port()
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(("GLADLY_", "DAGSTER_"))}
    env = {
        **inherited,
        **gladly,
        "DAGSTER_HOME": str(prepare_dagster_home(tmp_path / "dagster_home")),
        "GLADLY_EXPORT_FREQUENCY": "HOURLY",
        "GLADLY_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "GLADLY_SENSOR_DEFAULT_STATUS": "RUNNING",
        "GLADLY_SENSOR_INTERVAL_SECONDS": str(SENSOR_EVERY_SECONDS),
    }
    client = Dagster(port)
    spawned = Spawned.start("dagster dev", dagster_dev_command(port), tmp_path / "dagster.log", env=env, cwd=tmp_path)
    try:
        wait_for("the Dagster webserver", client.ready, deadline, spawned, diagnose=lambda: tail(spawned.log))
        yield spawned, client
    finally:
        client.client.close()
        spawned.stop()


# ---------------------------------------------------------------------------- the test


def test_sensor_keeps_the_warehouse_in_sync_through_dagster(
    dagster_dev: tuple[Spawned, Dagster], simulator_process: tuple[Spawned, dict[str, str]], deadline: float
) -> None:
    dagster, client = dagster_dev
    simulator, _ = simulator_process
    alive = (dagster, simulator)

    def diagnose() -> str:
        return f"{client.sensor_ticks()}\nruns: {client.sensor_runs()}\ndagster dev output:\n{tail(dagster.log)}"

    def sensor_run_finished() -> dict | None:
        runs = client.sensor_runs()
        for run in runs:
            assert run["status"] not in ("FAILURE", "CANCELED"), (
                f"sensor run {run['runId']} ended {run['status']}:\n{client.run_errors(run['runId'])}"
            )
        finished = [run for run in runs if run["status"] == "SUCCESS"]
        return finished[-1] if finished else None  # the oldest: the sensor's first request

    # 1. The sensor's first request loads every table; the run succeeds.
    first = wait_for("a sensor-launched run to succeed", sensor_run_finished, deadline, *alive, diagnose=diagnose)
    tags = {tag["key"]: tag["value"] for tag in first["tags"]}
    assert tags.get("dagster/run_key", "").startswith("gladly-jobs-") and int(tags["gladly/new_jobs"]) > 0, tags

    # 2. It materialised the four tables, with their metadata.
    materialised = client.run_materializations(first["runId"])
    assert sorted(materialised) == sorted("/".join(path) for path in ASSET_KEYS), materialised.keys()
    for key, values in materialised.items():
        assert values["dagster/row_count"] > 0, (key, values)
        assert values["dagster/table_name"] == key.replace("/", "."), (key, values)
        assert values[MODE] == "initial", (key, values)

    # 3. Its asset checks ran in the same run and passed.
    for path in ASSET_KEYS:
        for check_name in CHECK_NAMES:
            executions = {e["runId"]: e for e in client.check_executions(path, check_name)}
            execution = executions.get(first["runId"])
            assert execution and execution["status"] == "SUCCEEDED" and execution["evaluation"]["success"], (
                path, check_name, execution,
            )  # fmt: skip

    # 4. Jobs the simulator completes afterwards are applied by later sensor runs, by themselves.
    first_watermarks = {key: parse_instant(values[LAST_JOB_UPDATED_AT]) for key, values in materialised.items()}

    def caught_up() -> dict | None:
        latest = client.latest_materializations()
        newer = [
            key for key, event in latest.items()
            if event and parse_instant(event["metadata"][LAST_JOB_UPDATED_AT]) > first_watermarks[key]
        ]  # fmt: skip
        return latest if len(newer) == len(ASSET_KEYS) else None

    latest = wait_for(
        "a later sensor run to apply a newer job to every table", caught_up, deadline, *alive, diagnose=diagnose
    )
    sensor_run_ids = {run["runId"] for run in client.sensor_runs()}
    for key, event in latest.items():
        assert event["runId"] in sensor_run_ids, (key, event["runId"])
        assert event["metadata"][MODE] == "incremental", (key, event["metadata"])
        assert event["metadata"]["dagster/row_count"] >= materialised[key]["dagster/row_count"], (key, event)

    # 5. No check ever failed, and no sensor run failed.
    for path in ASSET_KEYS:
        for check_name in CHECK_NAMES:
            for execution in client.check_executions(path, check_name):
                assert execution["status"] not in ("FAILED", "EXECUTION_FAILED"), (path, check_name, execution)
                if execution["evaluation"] is not None:
                    assert execution["evaluation"]["success"], (path, check_name, execution)
    failed = [run for run in client.sensor_runs() if run["status"] in ("FAILURE", "CANCELED")]
    assert not failed, [(run["runId"], client.run_errors(run["runId"])) for run in failed]
