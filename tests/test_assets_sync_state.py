"""Sync state that stays true, on real materialisations (simulator over HTTP, real DuckDB,
ephemeral instance): hostile job ids, future-dated jobs, failed rebuilds, lost windows
that clear, a dependency's BaseException, a table with no file yet, the preview."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from markdown_it import MarkdownIt

import gladly_assets.sync
from gladly_assets import metadata_keys as keys
from gladly_assets.checks import NO_RETENTION_GAP
from gladly_assets.cursor import Cursor
from gladly_assets.errors import GladlyJobExpired, GladlyNotJsonl
from gladly_assets.export_jobs import ExportJob, parse_instant
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.tables import TABLES, TABLES_BY_NAME

from .helpers import assert_tables_match, down_on, expected_tables, make_simulator, materialize, table_rows

pytestmark = pytest.mark.slow  # the assets, materialised on a Dagster instance

CUSTOMERS = TABLES_BY_NAME["customers"]
ITEMS = TABLES_BY_NAME["conversation_items"]


@pytest.fixture
def db(tmp_path):
    return tmp_path / "w.duckdb"


def cursor_of(instance, table) -> Cursor:
    return Cursor.from_metadata(keys.latest_metadata(instance, table.asset_key))


def messages(instance, result) -> list[str]:
    return [event.user_message for event in instance.all_logs(result.run_id)]


def leftover_work_tables(db) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as connection:
        rows = connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_load\\_%' ESCAPE '\\' "
            "OR table_name LIKE '\\_rebuild\\_%' ESCAPE '\\'"
        ).fetchall()
    return [name for (name,) in rows]


class RelabellingGladly(GladlyResource):
    """Gladly over HTTP, but every job id listed as a hostile one (the files are the real
    jobs'): what the sync does with the id is under test, not the server."""

    hostile_ids: dict[str, str]  # real id -> the id the sync sees
    destinations: list[str]  # where each file was asked to go

    def list_jobs(self, *args, **kwargs):
        return [dataclasses.replace(job, id=self.hostile_ids.get(job.id, job.id)) for job in super().list_jobs()]

    def download_file(self, job, file_name, dest, on_progress=None):
        self.destinations.append(str(dest))
        real = {hostile: real for real, hostile in self.hostile_ids.items()}.get(job.id, job.id)
        return super().download_file(dataclasses.replace(job, id=real), file_name, dest, on_progress)


@pytest.mark.simulator(history_days=14)
def test_hostile_job_ids_never_reach_a_path_and_are_escaped_in_logs_and_metadata(sim, instance, db, tmp_path):
    marker = f"gladly-escape-{uuid.uuid4().hex}"
    outside = tmp_path / "outside"
    hostile = [
        f"../{marker}",
        f"../../../../../../tmp/{marker}",
        str(outside / marker),  # an absolute path
        f"nul\x00{marker}",
        marker + "x" * 300,  # longer than a file name may be
        f"{marker}\nINFO forged log line",
    ]
    real_ids = [job["id"] for job in sim.jobs()][-len(hostile) :]
    gladly = RelabellingGladly(
        **sim.client_settings(),
        hostile_ids=dict(zip(real_ids, hostile, strict=True)),
        destinations=[],
    )

    result = materialize(sim, instance, db, gladly=gladly)

    assert result.success
    expected = expected_tables(sim)
    for table in TABLES:
        rows = table_rows(db, table)
        assert set(rows) == set(expected[table.name]), table.name
        # Each row keeps the id of its job exactly as the server sent it, NUL and newline included.
        assert {row["_job_id"] for row in rows.values()} <= set(hostile) | set(gladly.hostile_ids) | {
            job["id"] for job in sim.jobs()
        }
    scratch_dirs = {str(Path(dest).parent) for dest in gladly.destinations}
    assert len(scratch_dirs) <= len(TABLES)  # one scratch folder per table
    for dest in gladly.destinations:
        assert marker not in dest and "\x00" not in dest and Path(dest).name[0].isdigit(), dest
    assert not outside.exists()
    assert not any(marker in p.name for p in Path("/tmp").iterdir()) and not list(tmp_path.rglob(f"*{marker}*"))
    for message in messages(instance, result):
        assert "\x00" not in message and "\nINFO forged" not in message
    applied = instance.get_latest_materialization_event(CUSTOMERS.asset_key).asset_materialization.metadata
    ids = [job["id"] for job in applied[keys.JOBS_APPLIED].value]
    assert any(marker in job_id for job_id in ids) and all(job_id.isprintable() for job_id in ids)
    # The cursor recognises every hostile id: a second run applies nothing again.
    gladly.destinations.clear()
    assert materialize(sim, instance, db, gladly=gladly).success and gladly.destinations == []


@pytest.mark.parametrize("ahead", [timedelta(hours=2), timedelta(days=365 * 73)], ids=["hours", "2099"])
def test_a_future_dated_job_waits_for_the_clock_and_never_hides_later_jobs(sim, instance, db, ahead):
    materialize(sim, instance, db, selection=[CUSTOMERS.asset_key])
    future = sim.complete_job(updated_at=sim.now() + ahead)
    sim.advance(timedelta(minutes=30))
    real = sim.complete_job()
    sim.clear_log()

    result = materialize(sim, instance, db, selection=[CUSTOMERS.asset_key])

    assert result.success
    assert {job_id for job_id, _ in sim.downloads()} == {real["id"]}
    cursor = cursor_of(instance, CUSTOMERS)
    assert cursor.last_job_updated_at == parse_instant(real["updatedAt"])
    metadata = instance.get_latest_materialization_event(CUSTOMERS.asset_key).asset_materialization.metadata
    assert [job["id"] for job in metadata[keys.JOBS_DEFERRED].value] == [future["id"]]
    assert any(future["id"] in m and "not applied until the clock passes it" in m for m in messages(instance, result))

    sim.advance(ahead)  # the clock passes it: applied like any other job
    sim.clear_log()
    assert materialize(sim, instance, db, selection=[CUSTOMERS.asset_key]).success
    assert {job_id for job_id, _ in sim.downloads()} == {future["id"]}
    assert cursor_of(instance, CUSTOMERS).last_job_updated_at == parse_instant(future["updatedAt"])


@pytest.mark.parametrize("how", ["full_refresh", "reload"])
def test_a_failed_rebuild_records_nothing_and_leaves_no_work_table(sim, instance, db, how):
    materialize(sim, instance, db, selection=[CUSTOMERS.asset_key])
    before = instance.get_latest_materialization_event(CUSTOMERS.asset_key)
    if how == "reload":
        db.unlink()
    last = sim.jobs()[-1]["id"]  # every other job reaches the rebuild table first

    result = materialize(
        sim, instance, db, selection=[CUSTOMERS.asset_key], gladly=down_on(sim, last),
        full_refresh=how == "full_refresh", raise_on_error=False,
    )  # fmt: skip

    assert not result.success
    assert instance.get_latest_materialization_event(CUSTOMERS.asset_key).run_id == before.run_id
    assert leftover_work_tables(db) == []
    assert any("HTTP 503" in m for m in messages(instance, result))
    # The next run still rebuilds (a reload still sees the empty table) and ends complete.
    assert materialize(sim, instance, db, selection=[CUSTOMERS.asset_key], full_refresh=how == "full_refresh").success
    rows = table_rows(db, CUSTOMERS)
    expected = expected_tables(sim)[CUSTOMERS.name]
    assert set(rows) == set(expected)
    assert all(rows[row_id]["_job_id"] == job_id for row_id, (job_id, _) in expected.items())


def lost_windows(result, table) -> list[tuple]:
    (check,) = [
        e
        for e in result.get_asset_check_evaluations()
        if (e.asset_key, e.check_name) == (table.asset_key, NO_RETENTION_GAP)
    ]
    return [(parse_instant(w["from"]), parse_instant(w["to"])) for w in check.metadata["lost_windows"].value]


def test_a_lost_window_clears_once_a_late_job_covers_it():
    with make_simulator(frequency="HOURLY", history_days=1) as sim, dg.DagsterInstance.ephemeral() as instance:
        db_path = Path(sim.data_dir) / "w.duckdb"
        materialize(sim, instance, db_path)
        slot = sim.schedule.slot_of(cursor_of(instance, ITEMS).covered_until)  # the first window not applied
        sim.advance(timedelta(hours=8))
        after = timedelta(minutes=1)
        # The schedule completes slot `slot` and `slot + 2`; slot + 1's job is missing.
        sim.complete_job(updated_at=sim.schedule.completion_time(slot) + after)
        sim.complete_job(updated_at=sim.schedule.completion_time(slot + 2) + after)
        gap = materialize(sim, instance, db_path)
        assert lost_windows(gap, ITEMS) == [sim.schedule.window(slot + 1)]

        # Its job shows up late (a regenerated export, within the late-job window of the newest).
        late = sim.complete_job(updated_at=sim.schedule.completion_time(slot + 2) - after)
        assert parse_instant(late["parameters"]["startAt"]) == sim.schedule.window(slot + 1)[0]
        healed = materialize(sim, instance, db_path)
        for table in TABLES:
            assert lost_windows(healed, table) == [], table.name
        assert cursor_of(instance, ITEMS).lost == ()
        assert_tables_match(sim, db_path)


def test_a_panic_in_a_dependency_fails_only_its_table(sim, instance, db, monkeypatch):
    """pyo3's PanicException (a Rust panic in Polars) derives from BaseException."""
    materialize(sim, instance, db)
    sim.advance(timedelta(hours=1))
    committed = sim.complete_job()
    sim.advance(timedelta(hours=1))
    sim.complete_job()
    read_batches = gladly_assets.sync.read_batches
    seen = []

    def panicking(path, *args, **kwargs):
        for batch in read_batches(path, *args, **kwargs):
            if "conversationId" in batch.frame.columns:
                seen.append(path)
                if len(seen) == 2:  # the second items file: the first one has committed
                    raise pl.exceptions.PanicException("called `Option::unwrap()` on a `None` value")
            yield batch

    monkeypatch.setattr(gladly_assets.sync, "read_batches", panicking)
    result = materialize(sim, instance, db, raise_on_error=False)

    assert not result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == {table.asset_key for table in TABLES}  # items: what it committed
    assert cursor_of(instance, ITEMS).last_job_updated_at == parse_instant(committed["updatedAt"])
    assert leftover_work_tables(db) == []
    assert any("PanicException" in m and "Option::unwrap" in m for m in messages(instance, result))
    monkeypatch.undo()
    assert materialize(sim, instance, db).success
    assert_tables_match(sim, db)


def test_a_fresh_warehouse_and_a_job_without_one_tables_file(sim, instance, db):
    sim.advance(timedelta(days=16))  # everything older expired
    sim.complete_job(files=["customers.jsonl", "conversation_items.jsonl", "agents.jsonl"])

    result = materialize(sim, instance, db, raise_on_error=False)

    errors = [m for m in messages(instance, result) if "failed" in m.lower()]
    assert result.success, errors
    topics = instance.get_latest_materialization_event(TABLES_BY_NAME["topics"].asset_key).asset_materialization
    assert topics.metadata[keys.ROW_COUNT].value == 0
    assert all(evaluation.passed for evaluation in result.get_asset_check_evaluations())


# Within the 40 characters shown: HTML, an image, a link, code.
HOSTILE_NAME = "<img src=x onerror=alert(1)>![x](i)[a](h)`c`"


def test_the_preview_shows_values_as_literal_text(sim, instance, db):
    def hostile(file_name, records):
        if file_name == "customers.jsonl":
            name = HOSTILE_NAME + " | fake | row |\n| injected | row |" + "z" * 500
            address = "line 1\nline 2\r\u2028<script>"
            records = [{**record, "name": name, "address": address} for record in records]
        return records

    sim.advance(timedelta(hours=1))
    sim.complete_job(mutate=hostile)
    materialize(sim, instance, db, selection=[CUSTOMERS.asset_key])

    metadata = instance.get_latest_materialization_event(CUSTOMERS.asset_key).asset_materialization.metadata
    markdown = metadata[keys.PREVIEW].value
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    for forbidden in ("<img", "<a ", "<code>", "<script", "<br"):
        assert forbidden not in html, forbidden
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown, as text
    assert html.count("<tr>") == 1 + 5  # the header and five rows: no injected row
    cells = {row.count("<td>") for row in html.split("<tr>")[2:]}
    assert len(cells) == 1  # every row has the same number of cells
    assert "z" * 100 not in markdown  # values are clipped


def test_a_file_refused_as_not_jsonl_fails_its_table_and_is_applied_once_the_fault_is_spent(sim, instance, db):
    # Refused is not expired: a GladlyJobExpired would be recorded as a lost window and skipped.
    assert not issubclass(GladlyNotJsonl, GladlyJobExpired)
    materialize(sim, instance, db)
    before = {table.name: cursor_of(instance, table) for table in TABLES}
    sim.advance(timedelta(hours=1))
    job = sim.complete_job()
    sim.faults.html_files = 1  # the first file of the new job is a proxy's HTML page, sent with 200

    refused = materialize(sim, instance, db, raise_on_error=False)

    assert not refused.success and sim.faults.html_files == 0
    logged = messages(instance, refused)
    failed = [t for t in TABLES if any(f"{t.qualified_name}: sync failed: GladlyNotJsonl" in m for m in logged)]
    assert len(failed) == 1, logged
    (table,) = failed
    assert any("not JSONL" in m and "text/html" in m for m in logged)
    cursor = cursor_of(instance, table)
    assert cursor == before[table.name] and cursor.lost == ()  # before the job, no window given up
    assert cursor.is_pending(ExportJob.from_api(job))
    for other in TABLES:
        if other is not table:  # the other tables applied the job
            assert cursor_of(instance, other).last_job_updated_at == parse_instant(job["updatedAt"]), other.name

    assert materialize(sim, instance, db).success  # the fault is spent: the job and its rows are applied
    assert cursor_of(instance, table).last_job_updated_at == parse_instant(job["updatedAt"])
    assert cursor_of(instance, table).lost == ()
    assert_tables_match(sim, db)
