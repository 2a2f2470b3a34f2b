"""The table assets, materialised on a real ephemeral Dagster instance against the
simulator over HTTP, into a real DuckDB file; checked against an independent
reading of the files the simulator served."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import duckdb
import pytest

from gladly_assets import metadata_keys as keys
from gladly_assets.assets import build_gladly_assets
from gladly_assets.cursor import Cursor
from gladly_assets.export_jobs import parse_instant
from gladly_assets.tables import TABLES, TABLES_BY_NAME

from .helpers import assert_tables_match, column_types, down_on, expected_tables, materialize, table_rows

pytestmark = pytest.mark.slow  # the assets, materialised on a Dagster instance

CUSTOMERS = TABLES_BY_NAME["customers"]
ITEMS = TABLES_BY_NAME["conversation_items"]


@pytest.fixture
def db(tmp_path):
    # Named like the schema on purpose: the catalog "gladly" must not confuse the loader.
    return tmp_path / "gladly.duckdb"


def content_hash(db) -> str:
    digest = hashlib.sha256()
    with duckdb.connect(str(db), read_only=True) as connection:
        for table in TABLES:
            rows = connection.execute(f"SELECT * FROM gladly.gladly.{table.name} ORDER BY id").fetchall()
            digest.update(repr(rows).encode())
    return digest.hexdigest()


def file_requests(sim):
    return [(r.method, r.path) for r in sim.request_log if "/files/" in r.path]


def list_requests(sim):
    return [r for r in sim.request_log if r.path == "/export/jobs"]


@pytest.mark.simulator(history_days=14)
def test_first_run_loads_every_job_and_reports_metadata(sim, instance, db):
    result = materialize(sim, instance, db)
    assert result.success
    assert_tables_match(sim, db)

    jobs = sim.jobs()
    assert len(jobs) == 14
    expected_files = sorted((job["id"], name) for job in jobs for name in job["files"])
    assert sorted(sim.downloads()) == expected_files
    assert len(list_requests(sim)) == 1

    metadata = instance.get_latest_materialization_event(CUSTOMERS.asset_key).asset_materialization.metadata
    assert metadata["dagster/row_count"].value == len(table_rows(db, CUSTOMERS))
    assert metadata[keys.MODE].value == "initial"
    assert len(metadata[keys.JOBS_APPLIED].value) == 14
    assert metadata[keys.BYTES_DOWNLOADED].value == sum(
        len(sim.file_bytes(job["id"], "customers.jsonl")) for job in jobs
    )
    newest = max(parse_instant(job["updatedAt"]) for job in jobs)
    assert Cursor.from_metadata(keys.latest_metadata(instance, CUSTOMERS.asset_key)).last_job_updated_at == newest
    assert "| id" in metadata[keys.PREVIEW].value
    schema_columns = {column.name for column in metadata["dagster/column_schema"].value.columns}
    assert {"id", "emailAddresses", "_job_id", "_job_updated_at"} <= schema_columns


def test_second_run_downloads_only_the_new_job_and_a_third_run_nothing(sim, instance, db):
    materialize(sim, instance, db)
    sim.advance(timedelta(hours=6))
    new_job = sim.complete_job()
    sim.clear_log()

    materialize(sim, instance, db)

    assert sorted(sim.downloads()) == sorted((new_job["id"], name) for name in new_job["files"])
    assert len(list_requests(sim)) == 1
    assert_tables_match(sim, db)
    before = content_hash(db)
    sim.clear_log()

    result = materialize(sim, instance, db)

    assert result.success
    assert len(sim.request_log) == 1 and list_requests(sim)
    assert file_requests(sim) == []
    assert content_hash(db) == before
    # Nothing new: no materialization is recorded, so freshness means new data.
    assert result.get_asset_materialization_events() == []


def test_changed_customer_ends_in_its_latest_state_and_a_late_job_does_not_overwrite_it(sim, instance, db):
    materialize(sim, instance, db)
    target = sorted(table_rows(db, CUSTOMERS))[0]

    def rename(file_name, records, name):
        if file_name == "customers.jsonl":
            records = [r for r in records if r["id"] != target]
            records.append({"id": target, "name": name, "emailAddresses": [f"{name}@example.com"]})
        return records

    sim.advance(timedelta(hours=2))
    newer = sim.complete_job(mutate=lambda f, r: rename(f, r, "newest"))
    materialize(sim, instance, db)
    assert table_rows(db, CUSTOMERS)[target]["name"] == "newest"

    # A job that finished earlier but shows up only now (updatedAt 30 min older).
    late_at = parse_instant(newer["updatedAt"]) - timedelta(minutes=30)
    late = sim.complete_job(updated_at=late_at, mutate=lambda f, r: rename(f, r, "stale"))
    sim.clear_log()
    materialize(sim, instance, db)

    assert sorted(sim.downloads()) == sorted((late["id"], name) for name in late["files"])
    row = table_rows(db, CUSTOMERS)[target]
    assert (row["name"], row["_job_id"]) == ("newest", newer["id"])
    assert_tables_match(sim, db)

    sim.clear_log()
    materialize(sim, instance, db)
    assert sim.downloads() == []  # the late job was applied exactly once


def test_jobs_sharing_one_updated_at_are_all_applied(sim, instance, db):
    materialize(sim, instance, db)
    sim.advance(timedelta(hours=3))
    at = sim.now()
    first = sim.complete_job(updated_at=at)
    materialize(sim, instance, db)  # the cursor now equals `at`
    second = sim.complete_job(updated_at=at)
    third = sim.complete_job(updated_at=at, fraction_digits=3)
    sim.clear_log()

    materialize(sim, instance, db)

    downloaded = {job_id for job_id, _ in sim.downloads()}
    assert downloaded == {second["id"], third["id"]}
    assert first["id"] not in downloaded
    assert_tables_match(sim, db)


def test_rerunning_everything_changes_nothing(sim, instance, db, tmp_path):
    materialize(sim, instance, db)
    before = content_hash(db)
    materialize(sim, instance, db, full_refresh=True)
    assert content_hash(db) == before


def rejected_lines(db) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as connection:
        return connection.execute(
            "SELECT table_name, job_id, line_number, raw_line, error FROM gladly.gladly._rejected_lines"
        ).fetchall()


def test_malformed_lines_are_quarantined_counted_and_the_rest_loads(sim, instance, db):
    materialize(sim, instance, db)
    sim.advance(timedelta(hours=1))
    job = sim.complete_job(malformed_lines=3)

    materialize(sim, instance, db)

    metadata = instance.get_latest_materialization_event(CUSTOMERS.asset_key).asset_materialization.metadata
    assert metadata[keys.ROWS_REJECTED].value == 3
    rejected = rejected_lines(db)
    assert {(r[0], r[1]) for r in rejected} == {("customers", job["id"]), ("conversation_items", job["id"])}
    assert len(rejected) == 6
    for _, _, line_number, raw, error in rejected:
        assert raw and error and line_number >= 1
    assert_tables_match(sim, db)


def test_a_line_past_max_line_bytes_is_quarantined_and_the_default_limit_loads_it(sim, instance, db):
    materialize(sim, instance, db)
    sim.advance(timedelta(hours=1))
    huge = json.dumps({"id": "huge-item", "body": "x" * 200_000})
    job = sim.complete_job(extra_lines={ITEMS.file_name: [huge.encode()]})

    materialize(sim, instance, db, config={"max_line_bytes": 100_000})

    metadata = instance.get_latest_materialization_event(ITEMS.asset_key).asset_materialization.metadata
    assert metadata[keys.ROWS_REJECTED].value == 1
    rejected = rejected_lines(db)
    [(table_name, job_id, line_number, raw, error)] = rejected
    assert (table_name, job_id) == (ITEMS.name, job["id"])
    assert sim.file_bytes(job["id"], ITEMS.file_name).splitlines()[line_number - 1] == huge.encode()
    assert raw == huge[: 64 * 1024]
    assert f"line of {len(huge):,} bytes, longer than max_line_bytes (100,000)" in error
    assert "huge-item" not in table_rows(db, ITEMS)
    assert set(table_rows(db, ITEMS)) == set(expected_tables(sim)[ITEMS.name]) - {"huge-item"}

    materialize(sim, instance, db, full_refresh=True)

    assert_tables_match(sim, db)


def test_keys_past_max_key_columns_are_quarantined_and_a_larger_limit_loads_them(sim, instance, db):
    materialize(sim, instance, db)
    key_columns = [name for name in column_types(db, CUSTOMERS) if not name.startswith("_job")]
    sim.advance(timedelta(hours=1))
    wide = json.dumps({"id": "wide-customer", **{f"attribute{n}": n for n in range(10)}})
    fitting = json.dumps({"id": "fitting-customer", "loyaltyTier": "gold", "unset": None})
    job = sim.complete_job(extra_lines={CUSTOMERS.file_name: [wide.encode(), fitting.encode()]})

    # Room for two more keys: the wide line's ten do not fit, the next line's two do (a key
    # holding null counts, and gets no column until it holds a value).
    materialize(sim, instance, db, config={"max_key_columns": len(key_columns) + 2})

    metadata = instance.get_latest_materialization_event(CUSTOMERS.asset_key).asset_materialization.metadata
    assert metadata[keys.ROWS_REJECTED].value == 1
    [(table_name, job_id, line_number, raw, error)] = rejected_lines(db)
    assert (table_name, job_id, raw) == (CUSTOMERS.name, job["id"], wide)
    assert sim.file_bytes(job["id"], CUSTOMERS.file_name).splitlines()[line_number - 1] == wide.encode()
    assert "holds 10 key(s) new to the table (attribute0, attribute1, attribute2," in error
    assert f"max_key_columns is {len(key_columns) + 2}" in error
    assert [name for name in column_types(db, CUSTOMERS) if not name.startswith("_job")] == [
        *key_columns,
        "loyaltyTier",
    ]
    rows = table_rows(db, CUSTOMERS)
    assert "wide-customer" not in rows and rows["fitting-customer"]["loyaltyTier"] == "gold"
    assert set(rows) == set(expected_tables(sim)[CUSTOMERS.name]) - {"wide-customer"}

    materialize(sim, instance, db, full_refresh=True)

    assert table_rows(db, CUSTOMERS)["wide-customer"]["attribute9"] == 9
    assert_tables_match(sim, db)


def test_drifting_and_hostile_fields_load(sim, instance, db):
    materialize(sim, instance, db)
    hostile = 'x"; DROP TABLE gladly.agents; --'

    def drift(file_name, records):
        if file_name == "customers.jsonl":
            records[-1] = {**records[-1], "loyaltyTier": "gold", hostile: "payload"}
            records[0] = {**records[0], "address": {"street": "1 Main St", "city": "Lyon"}}
        if file_name == "agents.jsonl":
            records[0] = {**records[0], "emailAddress": 12345}
        return records

    sim.advance(timedelta(hours=1))
    sim.complete_job(mutate=drift)
    result = materialize(sim, instance, db)

    assert result.success
    assert_tables_match(sim, db)
    columns = column_types(db, CUSTOMERS)
    assert columns["loyaltyTier"] == "VARCHAR" and hostile in columns
    # Text in most lines and an object in one: kept as text, the object as its JSON.
    assert columns["address"] == "VARCHAR"
    assert table_rows(db, TABLES_BY_NAME["agents"])  # the agents table survived the hostile key


def test_full_refresh_and_a_deleted_database_both_end_complete(sim, instance, db):
    materialize(sim, instance, db)
    with duckdb.connect(str(db)) as connection:
        connection.execute(
            "DELETE FROM gladly.gladly.customers WHERE id IN (SELECT id FROM gladly.gladly.customers LIMIT 5)"
        )
    materialize(sim, instance, db, full_refresh=True)
    assert_tables_match(sim, db)

    db.unlink()
    sim.clear_log()
    materialize(sim, instance, db)
    assert_tables_match(sim, db)
    metadata = instance.get_latest_materialization_event(CUSTOMERS.asset_key).asset_materialization.metadata
    assert metadata[keys.MODE].value == "reload"
    assert len(sim.downloads()) == sum(len(job["files"]) for job in sim.jobs())


def test_subset_selection_touches_only_the_selected_table(sim, instance, db):
    result = materialize(sim, instance, db, selection=[CUSTOMERS.asset_key])
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [CUSTOMERS.asset_key]
    assert {name for _, name in sim.downloads()} == {"customers.jsonl"}


def test_secrets_stay_out_of_run_config_logs_and_metadata(sim, instance, db):
    result = materialize(sim, instance, db)
    token = sim.api_token
    for event in instance.all_logs(result.run_id):
        assert token not in str(event)
    assert token not in json.dumps(instance.get_run_by_id(result.run_id).run_config)


def test_asset_graph_shape():
    assets = build_gladly_assets()
    assert set(assets.keys) == {table.asset_key for table in TABLES}
    for table in TABLES:
        spec = assets.specs_by_key[table.asset_key]
        assert spec.group_name == "gladly"
        assert {"gladly", "polars", "duckdb"} <= set(spec.kinds)
        assert spec.description and table.name in spec.metadata["dagster/table_name"]
    assert assets.op.pool == "gladly_duckdb"


def test_a_run_failing_part_way_keeps_the_jobs_it_committed(sim, instance, db):
    materialize(sim, instance, db, selection=[CUSTOMERS.asset_key])
    sim.advance(timedelta(hours=1))
    committed = sim.complete_job()
    sim.advance(timedelta(hours=1))
    failing = sim.complete_job()
    flaky = down_on(sim, failing["id"])

    result = materialize(sim, instance, db, selection=[CUSTOMERS.asset_key], gladly=flaky, raise_on_error=False)

    assert not result.success
    cursor = Cursor.from_metadata(keys.latest_metadata(instance, CUSTOMERS.asset_key))
    assert cursor.last_job_updated_at == parse_instant(committed["updatedAt"])
    sim.clear_log()
    assert materialize(sim, instance, db, selection=[CUSTOMERS.asset_key]).success
    assert sim.downloads() == [(failing["id"], "customers.jsonl")]


def test_full_refresh_with_nothing_listed_keeps_the_table(sim, instance, db):
    materialize(sim, instance, db, selection=[CUSTOMERS.asset_key])
    before = table_rows(db, CUSTOMERS)
    sim.advance(timedelta(days=16))  # every job has expired; Gladly lists nothing
    assert sim.jobs() == []
    assert materialize(sim, instance, db, selection=[CUSTOMERS.asset_key], full_refresh=True).success
    assert table_rows(db, CUSTOMERS) == before
