"""The report assets, materialised partition by partition on an ephemeral Dagster instance
against the simulator over HTTP, into a real DuckDB file; checked against the simulator's
own report rows (computed from its world, not read back from the CSV)."""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from gladly_assets.report_schema import ReportStream, normalize_header
from gladly_assets.reports.assets import KEY_IS_UNIQUE, NOT_TRUNCATED, asset_key, build_report_assets
from gladly_assets.reports.refresh import (
    RANGE_END,
    RANGE_START,
    RefreshSettings,
    build_reports_sensor,
    consecutive_ranges,
    days_to_load,
    newest_day,
)
from gladly_assets.reports.streams import STREAMS, STREAMS_BY_NAME
from gladly_assets.simulator.reports import ReportOptions
from gladly_assets.simulator.reports_sets import METRIC_SETS, rows_in_window

from .helpers import gladly_resource, make_simulator

pytestmark = pytest.mark.slow  # the report assets, materialised on a Dagster instance

DAYS = ("2026-11-15", "2026-11-18")
ASSETS = build_report_assets(start_date="2026-11-01")
STREAM_ASSETS = {stream.name: ASSETS[i] for i, stream in enumerate(STREAMS)}
DIRECTORY_ASSETS = ASSETS[-1]


@pytest.fixture
def db(tmp_path):
    return tmp_path / "gladly.duckdb"


@pytest.fixture
def reports_sim():
    """A frozen clock and no report limits unless a test sets them, so runs are quick."""
    with make_simulator(
        history_days=14, report_options=ReportOptions(requests_per_window=None, concurrent=None)
    ) as sim:
        yield sim


def run(sim, instance, db, streams, day, raise_on_error=True, **overrides):
    return dg.materialize(
        [STREAM_ASSETS[name] for name in streams],
        partition_key=day,
        instance=instance,
        # The simulator has no report limit here: neither does the client's pacer.
        resources={
            "gladly": gladly_resource(sim, **{"report_requests_per_window": 10_000, **overrides}),
            "duckdb": DuckDBResource(database=str(db)),
        },
        raise_on_error=raise_on_error,
    )


def stored(db, stream: ReportStream, day: str | None = None) -> list[dict]:
    with duckdb.connect(str(db), read_only=True) as connection:
        where = "WHERE _report_day = ?" if day else ""
        cursor = connection.execute(f"SELECT * FROM gladly.gladly.{stream.name} {where}", [day] if day else [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def content_hash(db) -> str:
    digest = hashlib.sha256()
    with duckdb.connect(str(db), read_only=True) as connection:
        tables = {row[0] for row in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for stream in STREAMS:
            if stream.name not in tables:
                continue
            rows = connection.execute(
                f"SELECT * EXCLUDE (_fetched_at) FROM gladly.gladly.{stream.name} ORDER BY ALL"
            ).fetchall()
            digest.update(repr(rows).encode())
    return digest.hexdigest()


def expected(sim, stream: ReportStream, day: str) -> list[dict]:
    """The simulator's rows of the day, with snake_case names, as its world computes them."""
    start = datetime.combine(date.fromisoformat(day), time(), UTC)
    rows = rows_in_window(
        METRIC_SETS[stream.metric_set],
        sim.reports.conversations(),
        sim.reports.names(),
        start,
        start + timedelta(days=1),
    )
    return [{normalize_header(header): value for header, value in row.items()} for row in rows]


def same(actual, wanted) -> bool:
    if wanted is None:
        return actual is None
    if isinstance(wanted, datetime):  # the CSV prints milliseconds
        return actual == wanted.replace(microsecond=wanted.microsecond // 1000 * 1000)
    if isinstance(wanted, float):
        return actual is not None and math.isclose(actual, wanted, rel_tol=1e-9, abs_tol=1e-9)
    return actual == wanted


def key_of(stream: ReportStream, row: dict) -> tuple:
    columns = stream.event_columns or stream.key
    return tuple(
        row[c] if not isinstance(row[c], datetime) else row[c].replace(microsecond=row[c].microsecond // 1000 * 1000)
        for c in columns
    )


def assert_day_matches(sim, db, stream: ReportStream, day: str) -> None:
    wanted = expected(sim, stream, day)
    actual = stored(db, stream, day)
    assert wanted, f"the simulator has no {stream.name} rows on {day}: the test would prove nothing"
    wanted_by_key = {key_of(stream, row): row for row in wanted}
    actual_by_key = {key_of(stream, row): row for row in actual}
    assert len(actual_by_key) == len(actual), stream.name
    assert set(actual_by_key) == set(wanted_by_key), stream.name
    for key, row in wanted_by_key.items():
        for column in stream.columns:
            assert same(actual_by_key[key][column.name], row[column.name]), (
                stream.name,
                key,
                column.name,
                actual_by_key[key][column.name],
                row[column.name],
            )


def test_each_stream_equals_the_simulators_report_for_its_days(reports_sim, instance, db):
    names = [stream.name for stream in STREAMS]
    for day in DAYS:
        last = run(reports_sim, instance, db, names, day)
        assert last.success
    for stream in STREAMS:
        for day in DAYS:
            assert_day_matches(reports_sim, db, stream, day)
        event = instance.get_latest_materialization_event(asset_key(stream.name))
        assert event.asset_materialization.partition == DAYS[-1]
        metadata = event.asset_materialization.metadata
        assert metadata["dagster/row_count"].value == metadata["rows"].value == len(stored(db, stream, DAYS[-1]))
        assert metadata["bytes"].value > 0 and metadata["seconds"].value >= 0
        assert metadata["requests"].value == 1 and metadata["split"].value is False
        assert metadata["table_rows"].value == len(stored(db, stream))
        schema = {c.name: c for c in metadata["dagster/column_schema"].value.columns}
        assert schema[stream.time_column].type == "TIMESTAMP WITH TIME ZONE"
        assert schema[stream.time_column].description
    # The asset checks ran in the same steps and passed.
    evaluations = {(e.asset_key, e.check_name): e.passed for e in last.get_asset_check_evaluations()}
    for stream in STREAMS:
        for check in (KEY_IS_UNIQUE, NOT_TRUNCATED):
            assert evaluations[(asset_key(stream.name), check)] is True, (stream.name, check)
    assert instance.get_materialized_partitions(asset_key("conversations")) == set(DAYS)


def test_rerunning_a_day_changes_nothing(reports_sim, instance, db):
    names = [stream.name for stream in STREAMS]
    assert run(reports_sim, instance, db, names, DAYS[0]).success
    before = content_hash(db)
    assert run(reports_sim, instance, db, names, DAYS[0]).success
    assert content_hash(db) == before
    metadata = instance.get_latest_materialization_event(asset_key("contacts")).asset_materialization.metadata
    assert metadata["rows_replaced"].value == metadata["rows"].value > 0


def test_a_day_over_the_row_cap_is_split_until_every_piece_is_under_it(reports_sim, instance, db):
    contacts, sessions = STREAMS_BY_NAME["contacts"], STREAMS_BY_NAME["work_session_events"]
    day_rows = len(expected(reports_sim, contacts, DAYS[0]))
    cap = day_rows // 3 + 2
    reports_sim.report_options.row_cap = cap
    reports_sim.clear_log()
    assert run(reports_sim, instance, db, ["contacts", "work_session_events"], DAYS[0], report_row_cap=cap).success
    for stream in (contacts, sessions):
        assert_day_matches(reports_sim, db, stream, DAYS[0])
        metadata = instance.get_latest_materialization_event(asset_key(stream.name)).asset_materialization.metadata
        windows = metadata["windows"].value
        assert metadata["split"].value is True and len(windows) >= 3
        assert all(window["rows"] < math.ceil(cap * 0.9) for window in windows)
        assert "T" in windows[0]["window"]  # halves are asked for by instants
    assert len([r for r in reports_sim.request_log if r.path == "/reports"]) > 6


def test_a_set_without_instants_at_the_cap_fails_naming_the_day_and_the_cap(reports_sim, instance, db):
    assert run(reports_sim, instance, db, ["conversations"], DAYS[0]).success
    before = stored(db, STREAMS_BY_NAME["conversations"], DAYS[0])
    cap = len(before) - 1
    reports_sim.report_options.row_cap = cap
    result = run(reports_sim, instance, db, ["conversations"], DAYS[0], raise_on_error=False, report_row_cap=cap)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    cause = failure.event_specific_data.error.cause
    assert cause.cls_name == "ReportTruncatedError"
    assert DAYS[0] in cause.message and f"row cap of {cap:,}" in cause.message
    assert stored(db, STREAMS_BY_NAME["conversations"], DAYS[0]) == before  # the stored day is untouched


@pytest.mark.parametrize("body", ["html", "json", "text"])
def test_a_body_that_is_not_csv_fails_the_day_and_keeps_what_was_stored(reports_sim, instance, db, body):
    assert run(reports_sim, instance, db, ["contact_timestamps"], DAYS[0]).success
    before = content_hash(db)
    reports_sim.faults.report_bodies = [body]
    result = run(reports_sim, instance, db, ["contact_timestamps"], DAYS[0], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    cause = failure.event_specific_data.error.cause
    assert cause.cls_name == "ReportFormatError" and "ContactTimestampsReport" in cause.message
    assert content_hash(db) == before


@pytest.mark.parametrize(("bom", "line_terminator"), [(False, "\n"), (True, "\n"), (False, "\r\n")])
def test_recent_headers_lf_and_no_bom_load_into_the_same_columns(reports_sim, instance, db, bom, line_terminator):
    reports_sim.report_options.header_style = "recent"
    reports_sim.report_options.byte_order_mark = bom
    reports_sim.report_options.line_terminator = line_terminator
    names = ["conversations", "contacts", "conversation_timestamps"]
    assert run(reports_sim, instance, db, names, DAYS[1]).success
    for name in names:
        assert_day_matches(reports_sim, db, STREAMS_BY_NAME[name], DAYS[1])


def test_report_429s_slow_the_sync_down_but_never_fail_it(instance, db):
    # The simulator allows 1 report request per 1.5 s; the client is told nothing of it.
    options = ReportOptions(requests_per_window=1, window_seconds=1.5, concurrent=2)
    with make_simulator(history_days=14, report_options=options) as sim:
        names = [stream.name for stream in STREAMS]
        result = run(
            sim,
            instance,
            db,
            names,
            DAYS[0],
            report_requests_per_window=1000,
            report_window_seconds=1.0,
            backoff_initial_seconds=0.2,
            backoff_max_seconds=1.0,
            max_attempts=10,
        )
        assert result.success
        statuses = [r.status for r in sim.request_log if r.path == "/reports"]
        assert statuses.count(429) >= 1 and statuses.count(200) == len(STREAMS)
        for stream in STREAMS:
            assert_day_matches(sim, db, stream, DAYS[0])
        assert_token_secret(instance, sim)


def assert_token_secret(instance, sim):
    secrets = [sim.api_token, base64.b64encode(f"{sim.agent_email}:{sim.api_token}".encode()).decode()]
    for run_record in instance.get_runs():
        for entry in instance.all_logs(run_record.run_id):
            text = repr(entry)
            assert not any(secret in text for secret in secrets)


def test_the_token_stays_out_of_failures_and_logs(reports_sim, instance, db):
    reports_sim.faults.report_bodies = ["html"]
    run(reports_sim, instance, db, ["conversations"], DAYS[0], raise_on_error=False)
    reports_sim.faults.applies_to = "reports"
    reports_sim.faults.server_errors = [503, 503, 503]
    run(reports_sim, instance, db, ["conversations"], DAYS[0], raise_on_error=False, max_attempts=2)
    assert_token_secret(instance, reports_sim)


def test_teams_inboxes_and_team_agents_are_replaced_whole(reports_sim, instance, db):
    resources = {"gladly": gladly_resource(reports_sim), "duckdb": DuckDBResource(database=str(db))}
    assert dg.materialize([DIRECTORY_ASSETS], instance=instance, resources=resources).success
    assert dg.materialize([DIRECTORY_ASSETS], instance=instance, resources=resources).success
    teams = reports_sim.reports.teams()
    with duckdb.connect(str(db), read_only=True) as connection:
        stored_teams = connection.execute(
            "SELECT id, name, description FROM gladly.gladly.teams ORDER BY id"
        ).fetchall()
        members = set(connection.execute("SELECT team_id, agent_id FROM gladly.gladly.team_agents").fetchall())
        inboxes = connection.execute("SELECT id, name, disabled FROM gladly.gladly.inboxes ORDER BY id").fetchall()
    assert stored_teams == sorted((t["id"], t["name"], t["description"]) for t in teams)
    assert members == {(t["id"], agent) for t in teams for agent in t["agentIds"]}
    assert inboxes == sorted((i["id"], i["name"], i["disabled"]) for i in reports_sim.reports.inboxes)
    metadata = instance.get_latest_materialization_event(asset_key("team_agents")).asset_materialization.metadata
    assert metadata["dagster/row_count"].value == len(members)


# ---- which days the sensor asks for ---------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "loaded", "fresh", "backfill", "wanted"),
    [
        # nothing loaded: the missing days of the backfill window only
        ("conversation_timestamps", set(), set(), 3, ["2026-11-19", "2026-11-18", "2026-11-17"]),
        ("work_session_events", set(), set(), 3, ["2026-11-19", "2026-11-18", "2026-11-17"]),
        # events are read once: loaded days are never asked for again
        ("conversation_timestamps", {"2026-11-19", "2026-11-17"}, set(), 3, ["2026-11-18"]),
        # rows that still change: loaded but not fresh days of the refresh window are re-read
        ("work_session_events", {f"2026-11-{d}" for d in range(10, 20)}, {"2026-11-19", "2026-11-18"}, 2,
         [f"2026-11-{d}" for d in range(17, 12, -1)]),
        # a day missing inside the refresh window but past the backfill is left to a backfill
        ("conversations", {"2026-11-12"}, set(), 3, ["2026-11-19", "2026-11-18", "2026-11-17", "2026-11-12"]),
        # never before the first partition
        ("conversations", {"2026-11-10"}, set(), 30, [f"2026-11-{d}" for d in range(19, 9, -1)]),
    ],
)  # fmt: skip
def test_days_to_load(stream, loaded, fresh, backfill, wanted):
    days = days_to_load(STREAMS_BY_NAME[stream], date(2026, 11, 19), date(2026, 11, 10), loaded, fresh, backfill)
    assert days == wanted


@pytest.mark.parametrize(
    ("days", "longest", "ranges"),
    [
        ([], 31, []),
        (["2026-11-01"], 31, [("2026-11-01", "2026-11-01")]),
        (["2026-11-01", "2026-11-02", "2026-11-04"], 31, [("2026-11-01", "2026-11-02"), ("2026-11-04", "2026-11-04")]),
        (["2026-11-30", "2026-12-01", "2026-12-02"], 2, [("2026-11-30", "2026-12-01"), ("2026-12-02", "2026-12-02")]),
    ],
)
def test_consecutive_ranges(days, longest, ranges):
    assert consecutive_ranges(days, longest) == ranges


def test_newest_day_waits_for_the_reports_to_settle():
    assert newest_day(datetime(2026, 11, 20, 1, 59, tzinfo=UTC), timedelta(hours=2)) == date(2026, 11, 18)
    assert newest_day(datetime(2026, 11, 20, 2, 0, tzinfo=UTC), timedelta(hours=2)) == date(2026, 11, 19)


def sensor_requests(instance, settings):
    partitions_def = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")
    return build_reports_sensor(partitions_def, settings=settings)(
        dg.build_sensor_context(instance=instance)
    ).run_requests


def test_the_sensor_requests_one_run_per_stream_for_the_missing_recent_days(instance):
    settings = RefreshSettings(backfill_days=7)
    requests = sensor_requests(instance, settings)
    assert requests[0].asset_selection == [asset_key(name) for name in ("teams", "inboxes", "team_agents")]
    newest = newest_day(datetime.now(UTC), settings.settle)
    first = (newest - timedelta(days=6)).isoformat()
    ranges = {(r.tags["gladly/report_stream"], r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests[1:]}
    assert ranges == {(stream.name, first, newest.isoformat()) for stream in STREAMS}
    assert [r.asset_selection for r in requests[1:]] == [
        [asset_key(r.tags["gladly/report_stream"])] for r in requests[1:]
    ]
    assert len({r.run_key for r in requests}) == len(requests)
    assert len(sensor_requests(instance, RefreshSettings(backfill_days=7, max_runs_per_tick=3))) == 3


def test_the_sensor_leaves_out_days_with_a_run_in_flight(instance):
    settings = RefreshSettings(backfill_days=3)
    newest = newest_day(datetime.now(UTC), settings.settle)
    middle = (newest - timedelta(days=1)).isoformat()
    instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id="running",
            status=dg.DagsterRunStatus.STARTED,
            tags={"gladly/report_stream": "contacts", "dagster/partition": middle},
        )
    )
    ranges = {
        (r.tags[RANGE_START], r.tags[RANGE_END])
        for r in sensor_requests(instance, settings)
        if r.tags.get("gladly/report_stream") == "contacts"
    }
    oldest = (newest - timedelta(days=2)).isoformat()
    assert ranges == {(oldest, oldest), (newest.isoformat(), newest.isoformat())}


def test_a_backfill_range_loads_each_day_with_its_own_metadata(reports_sim, instance, db):
    resources = {
        "gladly": gladly_resource(reports_sim, report_requests_per_window=10_000),
        "duckdb": DuckDBResource(database=str(db)),
    }
    result = dg.materialize(
        [STREAM_ASSETS["conversations"]],
        instance=instance,
        resources=resources,
        tags={RANGE_START: "2026-11-14", RANGE_END: "2026-11-16"},
    )
    assert result.success
    stream = STREAMS_BY_NAME["conversations"]
    for day in ("2026-11-14", "2026-11-15", "2026-11-16"):
        assert_day_matches(reports_sim, db, stream, day)
        (record,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key("conversations"), asset_partitions=[day]), limit=5
        ).records
        assert record.asset_materialization.metadata["rows"].value == len(stored(db, stream, day))
    assert instance.get_materialized_partitions(asset_key("conversations")) == {
        "2026-11-14",
        "2026-11-15",
        "2026-11-16",
    }
