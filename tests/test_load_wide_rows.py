"""Keys past a table's MAX_KEY_COLUMNS: kept, every value, in the ``_extra_keys`` JSON column."""

import json
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from gladly_assets.load import warehouse as warehouse_module
from gladly_assets.load.column_names import EXTRA_KEYS_COLUMN, key_of
from gladly_assets.load.jsonl import parse_chunk
from gladly_assets.load.warehouse import MAX_KEY_COLUMNS, Warehouse
from gladly_assets.tables import TABLES_BY_NAME

CUSTOMERS = TABLES_BY_NAME["customers"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)
# Every kind of value, and text that JSON has to escape.
VALUES = [
    'say "hi" \\ back\tslash\nline \u0001 \u00e9 \U0001f600 </script>',
    "",
    -(2**63),
    2**64,  # past 64 bits: the parser keeps it as JSON text
    1.5e-300,
    True,
    False,
    {"nested": ["a", {"b": None}], "q": '"'},
    [],
    {},
]


@pytest.fixture
def warehouse(tmp_path):
    connection = duckdb.connect(str(tmp_path / "gladly.duckdb"))
    yield Warehouse(connection)
    connection.close()


def apply(warehouse, job_id, hours, records):
    batch = parse_chunk(("\n".join(json.dumps(record) for record in records) + "\n").encode(), 1)
    return warehouse.apply_job(CUSTOMERS, job_id, T0 + timedelta(hours=hours), [batch])


def stored_records(warehouse):
    """Each row as the JSON object it came from: its key columns and its extra keys, nulls left out."""
    types = dict(
        warehouse.conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'customers'"
        ).fetchall()
    )
    result = warehouse.conn.execute("SELECT * FROM gladly.gladly.customers ORDER BY id")
    names = [column[0] for column in result.description]
    records = {}
    for row in result.fetchall():
        record = {}
        for name, value in zip(names, row, strict=True):
            if value is None:
                continue
            if name == EXTRA_KEYS_COLUMN:
                extra = json.loads(value)
                assert not set(extra) & set(record), "a key is kept twice"
                record.update(extra)
            elif key_of(name) is not None:
                record[key_of(name)] = json.loads(value) if types[name] == "JSON" else value
        records[record["id"]] = record
    return records, types


def without_nulls(record):
    return {key: value for key, value in record.items() if value is not None}


def wide_record(row_id, keys):
    return {"id": row_id, **{f"k{index:04d}": VALUES[index % len(VALUES)] for index in range(keys)}}


def test_keys_past_the_column_limit_keep_every_value_in_extra_keys(warehouse):
    wide = wide_record("wide", MAX_KEY_COLUMNS + 100)
    narrow = {"id": "narrow", "name": "Ann", "k0001": ""}
    with_null = {"id": "null-extra", f"k{MAX_KEY_COLUMNS + 99:04d}": None}

    result = apply(warehouse, "j1", 1, [wide, narrow, with_null])

    records, types = stored_records(warehouse)
    assert records == {record["id"]: without_nulls(record) for record in (wide, narrow, with_null)}
    key_columns = [name for name in types if key_of(name) is not None]
    assert len(key_columns) == MAX_KEY_COLUMNS
    assert types[EXTRA_KEYS_COLUMN] == "JSON"
    # Only the rows holding a value for a key past the columns.
    assert result.rows_with_extra_keys == 1
    assert len(result.extra_key_examples) == 10
    assert all(name not in types for name in result.extra_key_examples)


def test_keys_kept_as_extra_stay_extra_in_later_jobs_and_the_columns_never_grow(warehouse):
    apply(warehouse, "j1", 1, [wide_record("a", MAX_KEY_COLUMNS + 50)])
    columns_before = warehouse.columns("customers")

    later = [wide_record("a", MAX_KEY_COLUMNS + 80), {"id": "b", "brand_new_key": 1}]
    result = apply(warehouse, "j2", 2, later)

    assert warehouse.columns("customers") == columns_before
    assert result.new_columns == ()
    assert result.rows_with_extra_keys == 2
    records, _ = stored_records(warehouse)
    assert records == {record["id"]: without_nulls(record) for record in later}


def test_a_newer_version_without_extra_keys_clears_them(warehouse):
    apply(warehouse, "j1", 1, [wide_record("a", MAX_KEY_COLUMNS + 5)])
    newer = {"id": "a", "name": "only this"}

    apply(warehouse, "j2", 2, [newer])

    records, _ = stored_records(warehouse)
    assert records == {"a": newer}


def test_the_limit_holds_over_many_batches_and_keys_keep_the_order_they_first_hold_a_value(warehouse, monkeypatch):
    monkeypatch.setattr(warehouse_module, "MAX_KEY_COLUMNS", 20)
    declared = len(warehouse_module._declared_columns(CUSTOMERS))
    lines = [{"id": f"r{index}", f"new{index:02d}": index} for index in range(40)]
    batches = [parse_chunk((json.dumps(line) + "\n").encode(), 1) for line in lines]

    result = warehouse.apply_job(CUSTOMERS, "j1", T0, batches)

    records, types = stored_records(warehouse)
    assert records == {line["id"]: line for line in lines}
    added = [name for name in types if key_of(name) is not None and name.startswith("new")]
    assert added == [f"new{index:02d}" for index in range(20 - declared)]
    assert result.rows_with_extra_keys == 40 - (20 - declared)
