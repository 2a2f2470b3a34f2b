"""The DuckDB merge: ordering by job, atomic jobs, schema drift, hostile names."""

import json
import time
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gladly_assets.load import warehouse as warehouse_module
from gladly_assets.load.jsonl import parse_chunk
from gladly_assets.load.warehouse import Warehouse
from gladly_assets.tables import TABLES_BY_NAME

from .test_load_properties import holds

CUSTOMERS = TABLES_BY_NAME["customers"]
AGENTS = TABLES_BY_NAME["agents"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path):
    connection = duckdb.connect(str(tmp_path / "gladly.duckdb"))
    yield Warehouse(connection)
    connection.close()


def apply(warehouse, job_id, hours, *lines, table=CUSTOMERS, into=None):
    batch = parse_chunk(("\n".join(lines) + "\n").encode(), 1)
    return warehouse.apply_job(table, job_id, T0 + timedelta(hours=hours), [batch], into=into)


def rows(warehouse, columns="id, name, _job_id", table="customers"):
    return warehouse.conn.execute(f"SELECT {columns} FROM {qualified(table)} ORDER BY id").fetchall()


def qualified(table):
    # The database file is gladly.duckdb on purpose: its catalog is also called "gladly".
    return f"gladly.gladly.{table}"


def test_newer_job_replaces_and_older_job_never_overwrites(warehouse):
    apply(warehouse, "j1", 1, '{"id":"a","name":"A1"}', '{"id":"b","name":"B1"}')
    result = apply(warehouse, "j3", 3, '{"id":"a","name":"A3"}', '{"id":"c","name":"C3"}')
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 0)

    late = apply(warehouse, "j2", 2, '{"id":"a","name":"A2"}', '{"id":"b","name":"B2"}')

    assert (late.inserted, late.updated, late.unchanged) == (0, 1, 1)
    assert rows(warehouse) == [("a", "A3", "j3"), ("b", "B2", "j2"), ("c", "C3", "j3")]


def test_reapplying_a_job_changes_nothing(warehouse):
    apply(warehouse, "j1", 1, '{"id":"a","name":"A"}')
    before = rows(warehouse, "*")
    again = apply(warehouse, "j1", 1, '{"id":"a","name":"A"}')
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    assert rows(warehouse, "*") == before


def test_equal_updated_at_is_ordered_by_job_id_whatever_the_arrival(warehouse, tmp_path):
    apply(warehouse, "jb", 1, '{"id":"a","name":"from jb"}')
    apply(warehouse, "ja", 1, '{"id":"a","name":"from ja"}', '{"id":"z","name":"only ja"}')
    assert rows(warehouse) == [("a", "from jb", "jb"), ("z", "only ja", "ja")]


def test_duplicates_within_a_file_keep_the_last_line(warehouse):
    apply(warehouse, "j1", 1, '{"id":"a","name":"first"}', '{"id":"a","name":"second"}')
    apply(warehouse, "j2", 2, '{"id":"b","name":"x"}', '{"id":"b","name":"y"}', '{"id":"a","name":"third"}')
    assert rows(warehouse) == [("a", "third", "j2"), ("b", "y", "j2")]


def test_a_failure_mid_job_leaves_the_table_as_it_was(warehouse):
    apply(warehouse, "j1", 1, '{"id":"a","name":"A"}')
    before = rows(warehouse, "*")

    def batches():
        yield parse_chunk(b'{"id":"a","name":"changed","newCol":1}\nbad line\n', 1)
        raise OSError("connection lost mid-file")

    with pytest.raises(OSError, match="connection lost mid-file"):
        warehouse.apply_job(CUSTOMERS, "j2", T0 + timedelta(hours=2), batches())

    assert rows(warehouse, "*") == before
    assert "newCol" not in warehouse.columns("customers")
    assert warehouse.conn.execute(f"SELECT count(*) FROM {qualified('_rejected_lines')}").fetchone()[0] == 0


class CommitRecorder:
    """The connection, noting how many rows the stage holds at each intermediate commit."""

    def __init__(self, connection, stage):
        self.connection, self.stage, self.staged_at_commit = connection, stage, []

    def execute(self, sql, *args):
        if sql.startswith("COMMIT; BEGIN"):
            self.staged_at_commit.append(self.connection.execute(f"SELECT count(*) FROM {self.stage}").fetchone()[0])
        return self.connection.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.connection, name)


def test_a_long_job_commits_its_stage_at_row_group_boundaries_and_stays_atomic(warehouse, monkeypatch):
    monkeypatch.setattr(warehouse_module, "STAGE_COMMIT_BYTES", 1)  # commit as soon as possible
    monkeypatch.setattr(warehouse_module, "ROW_GROUP_ROWS", 4)
    apply(warehouse, "j1", 1, '{"id":"a","name":"A"}')
    before = rows(warehouse, "*")
    recorder = warehouse.conn = CommitRecorder(warehouse.conn, qualified("_load_customers"))
    chunks = [
        b'{"id":"k1","name":"first"}\n{"id":"k2"}\n{"id":"k3"}\n',
        b'{"id":"k4"}\n{"id":"k5"}\n{"id":"k6"}\n',
        b'{"id":"k7"}\n{"id":"k1","name":"last"}\n{"id":"a","name":"A2"}\n',
    ]

    def batches(fail: bool):
        for number, chunk in enumerate(chunks):
            yield parse_chunk(chunk, 3 * number + 1)
        if fail:
            raise OSError("connection lost after the stage was committed twice")

    with pytest.raises(OSError, match="stage was committed twice"):
        warehouse.apply_job(CUSTOMERS, "j2", T0 + timedelta(hours=2), batches(fail=True))
    assert recorder.staged_at_commit == [4, 8]
    assert rows(warehouse, "*") == before

    result = warehouse.apply_job(CUSTOMERS, "j2", T0 + timedelta(hours=2), batches(fail=False))
    assert (result.inserted, result.updated) == (7, 1)
    assert rows(warehouse, "id, name") == [("a", "A2")] + [(f"k{i}", "last" if i == 1 else None) for i in range(1, 8)]


def test_type_changes_widen_the_column_and_keep_every_value(warehouse):
    apply(warehouse, "j1", 1, '{"id":"a","score":1}')
    apply(warehouse, "j2", 2, '{"id":"b","score":2.5}')
    assert warehouse.columns("customers")["score"] == "DOUBLE"
    apply(warehouse, "j3", 3, '{"id":"c","score":"high"}')
    assert warehouse.columns("customers")["score"] == "VARCHAR"
    apply(warehouse, "j4", 4, '{"id":"d","score":{"value":3}}')
    assert warehouse.columns("customers")["score"] == "VARCHAR"  # text takes anything
    values = dict(rows(warehouse, "id, score"))
    # Other values as their JSON text, numbers written as the parser writes them.
    assert values == {"a": "1", "b": "2.5", "c": "high", "d": '{"value": 3}'}


@pytest.mark.parametrize(
    ("first", "then", "column_type", "expected"),
    [
        ("1", "true", "JSON", ["1", "true"]),  # no scalar type holds both
        ("[1]", "2.5", "JSON", ["[1]", "2.5"]),
        ("0.00000015", '"s"', "VARCHAR", ["0.00000015", "s"]),  # as the parser writes it, not 1.5e-07
        ("-0.0", '"s"', "VARCHAR", ["-0", "s"]),
        ("9007199254740993", "0.5", "JSON", ["9007199254740993", "0.5"]),  # a double would round it
        ("0.5", "9007199254740993", "JSON", ["0.5", "9007199254740993"]),
        ("1", "0.5", "DOUBLE", [1.0, 0.5]),
    ],
)
def test_a_type_change_across_jobs_gives_the_type_one_file_would(warehouse, first, then, column_type, expected):
    apply(warehouse, "j1", 1, f'{{"id":"a","x":{first}}}')
    apply(warehouse, "j2", 2, f'{{"id":"b","x":{then}}}')
    assert warehouse.columns("customers")["x"] == column_type
    assert [value for _, value in rows(warehouse, "id, x")] == expected
    # The same lines in one file: the same type.
    apply(warehouse, "j3", 3, f'{{"id":"c","x":{first}}}', f'{{"id":"d","x":{then}}}', table=AGENTS)
    assert warehouse.columns("agents")["x"] == column_type
    assert [value for _, value in rows(warehouse, "id, x", table="agents")] == expected


def test_hostile_keys_become_columns_not_sql(warehouse):
    hostile = 'x"; DROP TABLE gladly.customers; --'
    apply(warehouse, "j1", 1, '{"id":"a","x\\"; DROP TABLE gladly.customers; --":"v","select":1}')
    columns = warehouse.columns("customers")
    assert hostile in columns and "select" in columns
    escaped = hostile.replace('"', '""')
    assert warehouse.conn.execute(f'SELECT "{escaped}" FROM {qualified("customers")}').fetchone() == ("v",)


def test_free_form_objects_stay_queryable(warehouse):
    apply(warehouse, "j1", 1, '{"id":"a","externalCustomerIds":{"shopify":"S-1","zendesk":"Z-9"}}')
    apply(warehouse, "j2", 2, '{"id":"b","externalCustomerIds":{"salesforce":"SF-3"}}')
    assert warehouse.conn.execute(
        "SELECT id, externalCustomerIds->>'zendesk', externalCustomerIds->>'salesforce' "
        f"FROM {qualified('customers')} ORDER BY id"
    ).fetchall() == [("a", "Z-9", None), ("b", None, "SF-3")]


def test_rejected_lines_are_kept_once_per_job(warehouse):
    apply(warehouse, "j1", 1, '{"id":"a"}', "oops")
    apply(warehouse, "j1", 1, '{"id":"a"}', "oops")  # the same job applied again
    assert warehouse.conn.execute(
        f"SELECT table_name, job_id, file_name, line_number, raw_line FROM {qualified('_rejected_lines')}"
    ).fetchall() == [("customers", "j1", "customers.jsonl", 2, "oops")]


def test_rebuild_swaps_in_atomically(warehouse):
    apply(warehouse, "j1", 1, '{"id":"old","name":"gone after rebuild"}')
    target = warehouse.start_rebuild(CUSTOMERS)
    apply(warehouse, "j2", 2, '{"id":"new","name":"N"}', into=target)
    assert rows(warehouse) == [("old", "gone after rebuild", "j1")]  # readable meanwhile
    warehouse.finish_rebuild(CUSTOMERS)
    assert rows(warehouse) == [("new", "N", "j2")]
    assert warehouse.columns(target) == {}


def test_a_key_named_like_a_pseudo_column_never_decides_which_line_wins(warehouse):
    # The within-file order is the stage's own; a "rowid" key is just a value.
    apply(warehouse, "j1", 1, '{"id":"a","rowid":9,"name":"first"}', '{"id":"a","rowid":1,"name":"second"}')
    apply(warehouse, "j2", 2, '{"id":"b","ROWID":5,"name":"x"}', '{"id":"b","ROWID":0,"name":"y"}')
    assert rows(warehouse, 'id, name, "rowid__2", "ROWID__3"') == [("a", "second", 1, None), ("b", "y", None, 0)]


def test_case_twins_and_loader_names_keep_their_values_across_lines_and_jobs(warehouse):
    apply(warehouse, "j1", 1, '{"id":"a","name":"lower"}', '{"id":"b","Name":"upper","_job_id":"mine"}')
    apply(warehouse, "j2", 2, '{"id":"c","NAME":"shout","":"empty","n\\u0000ul":"nul"}')
    assert rows(warehouse, 'id, name, "Name__2", "NAME__3", "_job_id__2", "__2", "n\\u0000ul__2", _job_id') == [
        ("a", "lower", None, None, None, None, None, "j1"),
        ("b", None, "upper", None, "mine", None, None, "j1"),
        ("c", None, None, "shout", None, "empty", "nul", "j2"),
    ]


def test_a_failing_statement_raises_its_own_error_and_leaves_nothing_behind(tmp_path):
    # DuckDB running out of memory mid-INSERT: the cause is raised, not the aborted
    # transaction that cleaning up in it would report; the stage and the table it
    # created are gone.
    connection = duckdb.connect(str(tmp_path / "gladly.duckdb"), config={"memory_limit": "1MB"})
    starved = Warehouse(connection)
    chunk = "".join(json.dumps({"id": f"r{i}", "name": "x" * 1000}) + "\n" for i in range(5000)).encode()
    with pytest.raises(duckdb.OutOfMemoryException, match="Out of Memory"):
        starved.apply_job(CUSTOMERS, "j1", T0, [parse_chunk(chunk, 1)])
    assert connection.execute("SELECT table_name FROM duckdb_tables()").fetchall() == [("_rejected_lines",)]
    connection.close()


class Interrupted(BaseException):
    """Like a KeyboardInterrupt or a Rust panic from Polars: not an Exception."""


def test_a_job_interrupted_after_committing_batches_leaves_nothing_behind(warehouse, monkeypatch):
    monkeypatch.setattr(warehouse_module, "STAGE_COMMIT_BYTES", 1)
    monkeypatch.setattr(warehouse_module, "ROW_GROUP_ROWS", 2)

    def batches():
        yield parse_chunk(b'{"id":"k1"}\n{"id":"k2"}\n{"id":"k3"}\n', 1)
        yield parse_chunk(b'{"id":"k4"}\n{"id":"k5"}\n', 4)
        raise Interrupted

    with pytest.raises(Interrupted):
        warehouse.apply_job(CUSTOMERS, "j1", T0, batches())
    # The job created the table: it is gone again, and so is its stage.
    assert warehouse.conn.execute("SELECT table_name FROM duckdb_tables()").fetchall() == [("_rejected_lines",)]
    apply(warehouse, "j1", 1, '{"id":"a","name":"A"}')
    with pytest.raises(Interrupted):
        warehouse.apply_job(CUSTOMERS, "j2", T0 + timedelta(hours=2), batches())
    assert rows(warehouse) == [("a", "A", "j1")]
    assert sorted(warehouse.conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()) == [
        ("_rejected_lines",),
        ("customers",),
    ]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # A duplicated key keeps its first value, whatever the kinds (the type may follow
        # the batch: Polars types by the last value; the value is kept either way).
        (['{"id":"a","x":[1],"x":"s"}'], [[1]]),
        (['{"id":"a","x":2,"x":1.5}'], [2]),
        (['{"id":"a","x":"s","x":[1]}'], ["s"]),
        (['{"id":"a","x":"{s}","x":{"k":1}}'], ["{s}"]),
        (['{"id":"a","x":true,"x":"t"}'], [True]),
        (['{"id":"a","x":null,"x":1}', '{"id":"b","x":3}'], [None, 3]),
    ],
)
@pytest.mark.parametrize("path", ["whole", "line by line"])
def test_a_duplicated_key_keeps_its_first_value_on_both_paths(warehouse, lines, expected, path):
    if path == "line by line":
        lines = [*lines, "not json"]  # sends the chunk down the exact path
    apply(warehouse, "j1", 1, *lines)
    column_type = warehouse.columns("customers")["x"]
    stored = [value for _, value in rows(warehouse, "id, x")]
    assert all(map(holds, stored, [column_type] * len(stored), expected)), (column_type, stored)


def test_a_job_reports_the_seconds_of_each_step(warehouse, monkeypatch):
    monkeypatch.setattr(warehouse_module, "STAGE_COMMIT_BYTES", 1)  # a stage commit after each batch
    monkeypatch.setattr(warehouse_module, "ROW_GROUP_ROWS", 2)
    apply(warehouse, "j1", 1, '{"id":"a","name":"A"}')  # the next job merges into a table
    batches = [parse_chunk(b'{"id":"a","name":"A2"}\n{"id":"b"}\n{"id":"c"}\n', 1), parse_chunk(b'{"id":"d"}\n', 4)]
    started = time.perf_counter()
    timings = warehouse.apply_job(CUSTOMERS, "j2", T0 + timedelta(hours=2), batches).timings
    elapsed = time.perf_counter() - started
    assert all(batch.parse_seconds > 0 for batch in batches)
    assert timings.parse == sum(batch.parse_seconds for batch in batches)
    assert timings.insert > 0 and timings.merge > 0 and timings.commit > 0
    # Inserts, merge and commits follow one another in this call: together no longer than it.
    assert timings.insert + timings.merge + timings.commit <= elapsed
    assert (timings.download, timings.total) == (0, 0)  # the sync's to measure, not the loader's


def test_batches_inserted_together_widen_as_one_file_would(warehouse):
    """Batches wait to be inserted together; a batch of other types first sends the waiting
    ones in, so a widening sees every value before it (here an integer a double would round)."""
    chunks = [b'{"id":"a","n":9007199254740993}\n', b'{"id":"b","n":2}\n', b'{"id":"c","n":1.5}\n']
    batches = [parse_chunk(chunk, number + 1) for number, chunk in enumerate(chunks)]
    result = warehouse.apply_job(CUSTOMERS, "j1", T0, batches)
    assert result.widened_columns == ("n",)
    assert rows(warehouse, "id, n::VARCHAR") == [("a", "9007199254740993"), ("b", "2"), ("c", "1.5")]
    assert warehouse.columns("customers")["n"] == "JSON"


class FailingStageInsert:
    """The connection, but the stage insert fails in DuckDB itself (aborting the transaction)."""

    def __init__(self, connection):
        self.connection = connection

    def execute(self, sql, *args):
        if sql.startswith("INSERT INTO") and "_load_" in sql.split("SELECT")[0]:
            return self.connection.execute("SELECT error('disk full')")
        return self.connection.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.connection, name)


def insertion_order(warehouse):
    return warehouse.conn.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]


def test_the_connection_keeps_its_own_insertion_order_setting(warehouse):
    # The stage inserts let DuckDB reorder rows; the connection's setting is left as it was,
    # also when a job fails in DuckDB, and the error raised is the failure's own.
    apply(warehouse, "j1", 1, '{"id":"a"}', '{"id":"b"}')
    assert insertion_order(warehouse) is True
    connection = warehouse.conn
    warehouse.conn = FailingStageInsert(connection)
    with pytest.raises(duckdb.InvalidInputException, match="disk full"):
        apply(warehouse, "j2", 2, '{"id":"c"}')
    warehouse.conn = connection
    assert insertion_order(warehouse) is True
    assert rows(warehouse, "id") == [("a",), ("b",)]


# A job: (hours after T0, job id's letter, [(id, value), ...] in file order).
_JOBS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from("ab"),
        st.lists(st.tuples(st.sampled_from(["k1", "k2", "k3", "k4"]), st.integers(0, 99)), min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=25, deadline=None)
@given(_JOBS)
def test_any_order_of_jobs_keeps_the_newest_version_of_each_id(jobs):
    """Whatever jobs arrive, late, repeated or tied in time: each id holds the value of its
    newest version, ordered by (updatedAt, job id), the file's last line of it within a job;
    each job's counts say what it did."""
    connection = duckdb.connect()
    warehouse = Warehouse(connection)
    newest: dict[str, tuple[tuple[int, str], int]] = {}  # id -> (version, value)
    for hours, letter, lines in jobs:
        job_id = f"j{hours}{letter}"
        # The same job id always carries the same updatedAt: a repeated job is the same job.
        version = (hours, job_id)
        in_file = dict(lines)  # the last line of an id wins
        expected = {"inserted": 0, "updated": 0, "unchanged": 0}
        for key, value in in_file.items():
            if key not in newest:
                expected["inserted"] += 1
            elif newest[key][0] >= version:
                expected["unchanged"] += 1
                continue
            else:
                expected["updated"] += 1
            newest[key] = (version, value)
        result = apply(warehouse, job_id, hours, *(json.dumps({"id": key, "n": value}) for key, value in lines))
        assert {name: getattr(result, name) for name in expected} == expected
    stored = connection.execute(
        f'SELECT id, n, _job_id FROM "{warehouse.catalog}".gladly.customers ORDER BY id'
    ).fetchall()
    assert stored == [(key, value, version[1]) for key, (version, value) in sorted(newest.items())]
    connection.close()


def test_key_problems_count_null_and_repeated_ids_exactly(warehouse):
    apply(warehouse, "j1", 1, '{"id":"a"}', '{"id":"b"}')
    assert warehouse.key_problems("customers") == (0, 0)
    # Rows written behind the merge's back, as another tool might.
    insert = f"INSERT INTO {qualified('customers')} (id, _job_id, _job_updated_at) VALUES (?, 'x', now())"
    warehouse.conn.execute(insert, [None])
    assert warehouse.key_problems("customers") == (1, 0)
    warehouse.conn.execute(insert, ["a"])  # with the null id, as many distinct hashes as rows
    assert warehouse.key_problems("customers") == (1, 1)
    for key in ("a", "b", None):
        warehouse.conn.execute(insert, [key])
    assert warehouse.key_problems("customers") == (2, 3)


class StatementRecorder:
    """The connection, noting the statements run through it."""

    def __init__(self, connection):
        self.connection, self.statements = connection, []

    def execute(self, sql, *args):
        self.statements.append(sql)
        return self.connection.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.connection, name)


@pytest.mark.parametrize(
    ("commit_bytes", "row_group", "inserts", "commits"),
    [
        (10**9, 4, 1, 0),  # a small file: every batch in one INSERT
        (1, 4, 3, 1),  # past the commit size every batch goes in; one commit, on the boundary after row 4
        (1, 1000, 3, 0),  # wide rows, no boundary reached: each batch goes in as it comes
    ],
)
def test_batches_wait_for_one_insert_but_never_past_a_stage_commit(
    warehouse, monkeypatch, commit_bytes, row_group, inserts, commits
):
    monkeypatch.setattr(warehouse_module, "STAGE_COMMIT_BYTES", commit_bytes)
    monkeypatch.setattr(warehouse_module, "ROW_GROUP_ROWS", row_group)
    recorder = warehouse.conn = StatementRecorder(warehouse.conn)
    chunks = [b'{"id":"a"}\n{"id":"b"}\n', b'{"id":"c"}\n{"id":"d"}\n', b'{"id":"e"}\n{"id":"f"}\n']
    batches = [parse_chunk(chunk, 2 * number + 1) for number, chunk in enumerate(chunks)]
    result = warehouse.apply_job(CUSTOMERS, "j1", T0, batches)
    stage_inserts = [sql for sql in recorder.statements if sql.startswith('INSERT INTO "gladly".gladly."_load_')]
    assert (len(stage_inserts), recorder.statements.count("COMMIT; BEGIN TRANSACTION")) == (inserts, commits)
    assert result.inserted == 6
    assert rows(warehouse, "id") == [(key,) for key in "abcdef"]
