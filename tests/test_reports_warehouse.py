"""Report tables in a real DuckDB file: one day replaced at a time, atomically; moved rows;
the stored windows behind the not-truncated check; full-refresh tables."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest

from gladly_assets.load.warehouse import FetchedWindow, ReportTables, Warehouse
from gladly_assets.report_schema import UNPARSED_COLUMN, ReportWindow
from gladly_assets.reports.assets import KEY_IS_UNIQUE, NO_UNPARSED_VALUES, NOT_TRUNCATED, evaluate_checks
from gladly_assets.reports.streams import STREAMS_BY_NAME

WORK = STREAMS_BY_NAME["work_session_events"]
D1, D2, D3 = date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19)
NOW = datetime(2026, 11, 20, 6, tzinfo=UTC)


@pytest.fixture
def tables(tmp_path):
    with duckdb.connect(str(tmp_path / "gladly.duckdb")) as connection:
        yield ReportTables(Warehouse(connection))


def sessions(*rows: tuple[str, str | None, float | None], extra: dict[str, list] | None = None) -> pl.DataFrame:
    schema = {
        c.name: {"instant": pl.Datetime("us", "UTC"), "seconds": pl.Float64(), "boolean": pl.Boolean()}.get(
            c.kind, pl.String()
        )
        for c in WORK.columns
    }
    frame = pl.DataFrame(
        [{"contact_session_id": s, "agent_id": a, "work_session_handle_time_sec": h} for s, a, h in rows],
        schema=schema,
    )
    frame = frame.with_columns(pl.lit(None, pl.String).alias(UNPARSED_COLUMN))
    return frame.with_columns(**{k: pl.Series(v) for k, v in (extra or {}).items()})


def window(day: date, rows: int) -> list[FetchedWindow]:
    return [FetchedWindow(ReportWindow.day(day, instants=True), rows, rows * 100)]


def stored(tables: ReportTables) -> list[tuple]:
    return tables.conn.execute(
        "SELECT _report_day, contact_session_id, agent_id, work_session_handle_time_sec "
        f"FROM {tables.warehouse._table_ref(WORK.name)} ORDER BY ALL"
    ).fetchall()


def test_replacing_a_day_touches_only_that_day_and_is_idempotent(tables):
    tables.replace_day(WORK, D1, sessions(("s1", "a1", 1.0), ("s2", "a1", 2.0)), window(D1, 2), NOW)
    tables.replace_day(WORK, D2, sessions(("s3", "a2", 3.0)), window(D2, 1), NOW)
    result = tables.replace_day(WORK, D1, sessions(("s1", "a1", 1.5)), window(D1, 1), NOW)
    assert (result.rows, result.replaced, result.moved) == (1, 2, 0)
    assert stored(tables) == [(D1, "s1", "a1", 1.5), (D2, "s3", "a2", 3.0)]
    again = tables.replace_day(WORK, D1, sessions(("s1", "a1", 1.5)), window(D1, 1), NOW)
    assert (again.rows, again.replaced, again.moved) == (1, 1, 0)
    assert stored(tables) == [(D1, "s1", "a1", 1.5), (D2, "s3", "a2", 3.0)]


def test_a_row_that_moved_to_a_later_day_leaves_the_earlier_one(tables):
    # A contact still open on D1 is placed by its creation; once it ends on D3 it is placed there.
    tables.replace_day(WORK, D1, sessions(("s1", "a1", None), ("s1", None, None)), window(D1, 2), NOW)
    result = tables.replace_day(WORK, D3, sessions(("s1", "a1", 42.0), ("s1", None, 7.0)), window(D3, 2), NOW)
    assert result.moved == 2
    assert stored(tables) == [(D3, "s1", "a1", 42.0), (D3, "s1", None, 7.0)]
    assert tables.key_problems(WORK.name, WORK.key, WORK.required_key) == (0, 0)


def test_a_failed_replace_leaves_the_day_as_it_was(tables):
    tables.replace_day(WORK, D1, sessions(("s1", "a1", 1.0)), window(D1, 1), NOW)
    # Fails at the insert, after the day's rows were deleted: a column named like the loader's own.
    broken = sessions(("s2", "a1", 2.0), extra={"_report_day": ["x"]})
    with pytest.raises(duckdb.Error):
        tables.replace_day(WORK, D1, broken, window(D1, 1), NOW)
    assert stored(tables) == [(D1, "s1", "a1", 1.0)]
    assert tables.windows_at_least(WORK, 1)[0]["rows"] == 1


def test_a_new_column_is_added_as_text_and_kept_for_older_days(tables):
    tables.replace_day(WORK, D1, sessions(("s1", "a1", 1.0)), window(D1, 1), NOW)
    result = tables.replace_day(WORK, D2, sessions(("s2", "a1", 2.0), extra={"brand_new": ["v"]}), window(D2, 1), NOW)
    assert result.new_columns == ("brand_new",)
    assert tables.warehouse.columns(WORK.name)["brand_new"] == "VARCHAR"
    values = tables.conn.execute(
        f"SELECT contact_session_id, brand_new FROM {tables.warehouse._table_ref(WORK.name)} ORDER BY 1"
    ).fetchall()
    assert values == [("s1", None), ("s2", "v")]


def test_checks_read_the_table_and_its_stored_windows(tables):
    tables.replace_day(WORK, D1, sessions(("s1", "a1", 1.0)), window(D1, 80), NOW)
    tables.replace_day(WORK, D2, sessions(("s2", "a1", 1.0)), window(D2, 95), NOW)
    names = [KEY_IS_UNIQUE, NOT_TRUNCATED, NO_UNPARSED_VALUES]
    results = {r.check_name: r for r in evaluate_checks(WORK, names, tables, row_cap=1000)}
    assert all(r.passed for r in results.values())
    # A lower cap than was assumed when the days were loaded: the D2 window may be truncated.
    results = {r.check_name: r for r in evaluate_checks(WORK, names, tables, row_cap=100)}
    assert not results[NOT_TRUNCATED].passed
    suspect = results[NOT_TRUNCATED].metadata["suspect_windows"].value
    assert [w["day"] for w in suspect] == [D2.isoformat()]
    assert "may have dropped rows" in results[NOT_TRUNCATED].description


def test_key_check_fails_on_duplicates_and_missing_keys(tables):
    tables.replace_day(WORK, D1, sessions(("s1", "a1", 1.0)), window(D1, 1), NOW)
    ref = tables.warehouse._table_ref(WORK.name)
    tables.conn.execute(
        f"INSERT INTO {ref} (contact_session_id, agent_id, _report_day, _fetched_at) VALUES ('s1', 'a1', '2026-11-18', now()), (NULL, 'a1', '2026-11-18', now())"
    )
    assert tables.key_problems(WORK.name, WORK.key, WORK.required_key) == (1, 1)
    (result,) = evaluate_checks(WORK, [KEY_IS_UNIQUE], tables, row_cap=1000)
    assert not result.passed and "1 duplicated key" in result.description


def test_checks_fail_clearly_before_the_first_partition(tables):
    (result,) = evaluate_checks(WORK, [KEY_IS_UNIQUE], tables, row_cap=1000)
    assert not result.passed and "does not exist" in result.description


def test_replace_table_swaps_the_whole_table(tables):
    tables.replace_table("inboxes", pl.DataFrame({"id": ["a", "b"], "disabled": [False, True]}), NOW)
    tables.replace_table("inboxes", pl.DataFrame({"id": ["c"], "disabled": [False]}), NOW)
    assert tables.conn.execute(f"SELECT id FROM {tables.warehouse._table_ref('inboxes')}").fetchall() == [("c",)]


def test_windows_split_into_halves_cover_the_day_exactly():
    day = ReportWindow.day(D1, instants=True)
    pieces = [day]
    for _ in range(6):
        pieces = [half for piece in pieces for half in piece.halves()]
    assert pieces[0].start == day.start and pieces[-1].end == day.end
    assert sum(piece.minutes for piece in pieces) == day.minutes == 24 * 60
    assert all(a.end.timestamp() + 60 == b.start.timestamp() for a, b in itertools.pairwise(pieces))
    assert day.request_body("X") == {
        "metricSet": "X",
        "startAtTime": "2026-11-17T00:00Z",
        "endAtTime": "2026-11-17T23:59Z",
    }
    dates = ReportWindow.day(D1).request_body("X")
    assert dates == {"metricSet": "X", "startAt": "2026-11-17", "endAt": "2026-11-17", "timezone": "UTC"}
    with pytest.raises(ValueError, match="cannot be split"):
        ReportWindow(day.start, day.start, True).halves()


def test_columns_past_the_tables_limit_go_to_unparsed_with_their_text(tables, monkeypatch):
    from gladly_assets.load import warehouse as module

    tables.replace_day(WORK, D1, sessions(("s0", "a0", 1.0)), window(D1, 1), NOW)
    width = len(tables.warehouse.columns(WORK.name))
    monkeypatch.setattr(module, "MAX_REPORT_COLUMNS", width + 2)
    extra = {f"new_{n}": [f"v{n}", None, None] for n in range(5)}
    frame = sessions(("s1", "a1", 1.0), ("s2", "a2", 2.0), ("s3", "a3", 3.0), extra=extra)
    frame = frame.with_columns(pl.Series(UNPARSED_COLUMN, [None, '{"work_session_handle_time_sec":"abc"}', None]))

    tables.replace_day(WORK, D2, frame, window(D2, 3), NOW)

    columns = tables.warehouse.columns(WORK.name)
    assert len(columns) == width + 2 and {"new_0", "new_1"} <= columns.keys()
    rows = tables.conn.execute(
        f"SELECT contact_session_id, new_0, new_1, {UNPARSED_COLUMN} "
        f"FROM {tables.warehouse._table_ref(WORK.name)} WHERE _report_day = ? ORDER BY 1",
        [D2],
    ).fetchall()
    assert [row[:3] for row in rows] == [("s1", "v0", "v1"), ("s2", None, None), ("s3", None, None)]
    # Only the cells that hold something; a row with none keeps no _unparsed.
    assert [None if row[3] is None else json.loads(row[3]) for row in rows] == [
        {"new_2": "v2", "new_3": "v3", "new_4": "v4"},
        {"work_session_handle_time_sec": "abc"},
        None,
    ]
    # A later day's new columns find no room either.
    tables.replace_day(WORK, D3, sessions(("s4", "a4", 1.0), extra={"later": ['x"y']}), window(D3, 1), NOW)
    assert len(tables.warehouse.columns(WORK.name)) == width + 2
    assert tables.unparsed_rows(WORK) == 3
    [(later,)] = tables.conn.execute(
        f"SELECT {UNPARSED_COLUMN} FROM {tables.warehouse._table_ref(WORK.name)} WHERE _report_day = ?", [D3]
    ).fetchall()
    assert json.loads(later) == {"later": 'x"y'}
