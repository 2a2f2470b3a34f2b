"""The export-job sensor against the simulator over HTTP, judged against the assets'
cursors on a real ephemeral instance (runs materialised for real into DuckDB)."""

import base64
import math
import time
from datetime import timedelta

import dagster as dg
import pytest

from gladly_assets.cursor import CLOCK_SKEW_ALLOWANCE
from gladly_assets.export_jobs import parse_instant
from gladly_assets.sensors import PRIORITY_TAGS, RETRY_TAGS, WORK_TAG, build_export_jobs_sensor
from gladly_assets.simulator.faults import hostile_jobs
from gladly_assets.tables import TABLES, TABLES_BY_NAME

from .helpers import gladly_resource, make_simulator, materialize

pytestmark = pytest.mark.slow  # the sensor, evaluated against runs on a Dagster instance


@pytest.fixture
def db(tmp_path):
    return tmp_path / "w.duckdb"


def tick(sim, instance, **resource_overrides):
    sensor = build_export_jobs_sensor(clock=sim.now)
    resources = {"gladly": gladly_resource(sim, **resource_overrides)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return sensor(context)


def run(sim, instance, db, request, **overrides):
    """Execute a run request as the daemon would: its selection and tags."""
    return materialize(
        sim, instance, db, selection=request.asset_selection, tags=request.tags, raise_on_error=False, **overrides
    )


def test_first_tick_requests_every_table_once_with_one_list_request_and_retry_tags(sim, instance):
    sim.clear_log()
    result = tick(sim, instance)
    assert len(sim.request_log) == 1 and sim.request_log[0].path == "/export/jobs"
    (request,) = result.run_requests
    assert set(request.asset_selection) == {table.asset_key for table in TABLES}
    assert request.run_key.startswith("gladly-jobs-")
    assert RETRY_TAGS.items() <= request.tags.items() and request.tags[WORK_TAG]
    assert PRIORITY_TAGS.items() <= request.tags.items()
    assert int(request.tags["gladly/new_jobs"]) == len(sim.jobs())


def test_once_the_run_applied_everything_ticks_skip_and_name_the_newest_job(sim, instance, db):
    assert run(sim, instance, db, tick(sim, instance).run_requests[0]).success
    result = tick(sim, instance)
    assert isinstance(result, dg.SkipReason)
    assert sim.jobs()[-1]["id"] in result.skip_message and "every table has applied" in result.skip_message


def test_new_job_selects_only_the_tables_its_files_contain(sim, instance, db):
    run(sim, instance, db, tick(sim, instance).run_requests[0])
    sim.advance(timedelta(hours=1))
    job = sim.complete_job(files=["customers.jsonl", "topics.jsonl"])
    (request,) = tick(sim, instance).run_requests
    assert set(request.asset_selection) == {TABLES_BY_NAME["customers"].asset_key, TABLES_BY_NAME["topics"].asset_key}
    assert request.tags["gladly/newest_job"] == job["id"] and request.tags["gladly/new_jobs"] == "1"


def test_a_late_older_job_is_requested_and_the_same_work_gets_the_same_key(sim, instance, db):
    run(sim, instance, db, tick(sim, instance).run_requests[0])
    sim.advance(timedelta(hours=2))
    newer = sim.complete_job()
    first = tick(sim, instance).run_requests[0]
    assert run(sim, instance, db, first).success
    late = sim.complete_job(updated_at=parse_instant(newer["updatedAt"]) - timedelta(minutes=20))

    (request,) = tick(sim, instance).run_requests
    assert request.run_key != first.run_key
    assert request.tags["gladly/newest_job"] == late["id"]
    # A restarted daemon, or a tick while nothing ran yet: the same work, the same run key.
    assert tick(sim, instance).run_requests[0].run_key == request.run_key
    assert run(sim, instance, db, request).success
    assert isinstance(tick(sim, instance), dg.SkipReason)


def test_empty_window_jobs_request_no_run(sim, instance, db):
    run(sim, instance, db, tick(sim, instance).run_requests[0])
    sim.advance(timedelta(hours=1))
    sim.complete_job(files=[])
    result = tick(sim, instance)
    assert isinstance(result, dg.SkipReason) and "No new export job with files" in result.skip_message


def test_a_failed_run_is_requested_again_once_it_is_finished_and_not_being_retried(sim, instance, db):
    run(sim, instance, db, tick(sim, instance).run_requests[0])
    sim.advance(timedelta(hours=1))
    job = sim.complete_job()
    request = tick(sim, instance).run_requests[0]
    with make_simulator() as stopped:
        closed_url = stopped.base_url
    failed = run(sim, instance, db, request, base_url=closed_url, max_attempts=1)  # Gladly unreachable
    assert not failed.success

    # Dagster's run-retry daemon marks a failed run it will retry: the sensor waits for it.
    instance.add_run_tags(failed.run_id, {"dagster/will_retry": "true"})
    waiting = tick(sim, instance)
    assert isinstance(waiting, dg.SkipReason) and failed.run_id in waiting.skip_message

    # Retries exhausted (or disabled): the work is still pending and requested again, under a new key.
    instance.add_run_tags(failed.run_id, {"dagster/will_retry": "false"})
    (again,) = tick(sim, instance).run_requests
    assert again.run_key != request.run_key and again.tags[WORK_TAG] == request.tags[WORK_TAG]
    assert set(again.asset_selection) == set(request.asset_selection)
    assert again.tags["gladly/newest_job"] == job["id"]
    sim.clear_log()
    assert run(sim, instance, db, again).success
    assert {job_id for job_id, _ in sim.downloads()} == {job["id"]}
    assert isinstance(tick(sim, instance), dg.SkipReason)


def test_a_run_in_flight_for_the_same_work_is_waited_for(sim, instance):
    request = tick(sim, instance).run_requests[0]
    in_flight = instance.create_run_for_job(
        dg.GraphDefinition(name="noop", node_defs=[]).to_job(), tags=request.tags, status=dg.DagsterRunStatus.STARTED
    )
    result = tick(sim, instance)
    assert isinstance(result, dg.SkipReason) and in_flight.run_id in result.skip_message


@pytest.mark.parametrize(
    ("ahead", "requested"),
    [
        (timedelta(0), True),
        (CLOCK_SKEW_ALLOWANCE - timedelta(seconds=1), True),
        (CLOCK_SKEW_ALLOWANCE + timedelta(seconds=1), False),
        (timedelta(days=365 * 70), False),
    ],
)
def test_a_future_dated_job_is_not_requested_until_the_clock_passes_it(sim, instance, db, ahead, requested):
    run(sim, instance, db, tick(sim, instance).run_requests[0])
    sim.complete_job(updated_at=sim.now() + ahead)
    result = tick(sim, instance)
    assert isinstance(result, dg.SensorResult) == requested
    if not requested:
        sim.advance(ahead)
        assert tick(sim, instance).run_requests


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"api_token": "wrong"}, "GLADLY_API_TOKEN"),
        ({"agent_email": "viewer@acme.example", "api_token": "sim-viewer-token-not-secret"}, "API User"),
    ],
)
def test_rejected_credentials_give_a_clear_skip_not_a_crash(sim, instance, overrides, expected):
    result = tick(sim, instance, **overrides)
    assert isinstance(result, dg.SkipReason)
    assert expected in result.skip_message
    assert "wrong" not in result.skip_message


def test_missing_settings_give_a_clear_skip(sim, instance):
    result = tick(sim, instance, organization="", base_url=None)
    assert isinstance(result, dg.SkipReason)
    assert "organization" in result.skip_message.lower()


def test_unreachable_gladly_gives_a_clear_skip(sim, instance):
    with make_simulator() as stopped:
        closed_url = stopped.base_url
    result = tick(sim, instance, base_url=closed_url, max_attempts=2)  # nothing listens there any more
    assert isinstance(result, dg.SkipReason) and "Cannot reach Gladly" in result.skip_message


def test_the_demo_instance_retries_the_sensors_failed_runs(tmp_path):
    from gladly_assets.demo import prepare_dagster_home

    home = prepare_dagster_home(tmp_path / "dagster_home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_retries_enabled


def test_settings_not_applied_are_named_on_every_tick(sim, instance, db):
    notice = "Settings not applied: GLADLY_X='y' is not usable."
    sensor = build_export_jobs_sensor(settings_notice=notice, clock=sim.now)
    assert notice in sensor.description
    resources = {"gladly": gladly_resource(sim)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        first = sensor(context)
    assert first.run_requests and first.run_requests[0].run_key.startswith("gladly-jobs-")
    assert run(sim, instance, db, first.run_requests[0]).success
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        second = sensor(context)
    assert isinstance(second, dg.SkipReason)
    assert second.skip_message.startswith("No new export job with files") and second.skip_message.endswith(notice)


# ---- a tick never raises, and gives up well inside Dagster's 60 s sensor timeout -------------


def assert_no_token(text: str, sim) -> None:
    basic = base64.b64encode(f"{sim.agent_email}:{sim.api_token}".encode()).decode()
    assert sim.api_token not in text and basic not in text and basic[20:30] not in text


def test_a_base_url_with_a_line_break_gives_a_clear_skip(sim, instance):
    result = tick(sim, instance, base_url=sim.base_url + "\nX-Injected: 1")
    assert isinstance(result, dg.SkipReason) and "base_url" in result.skip_message


def test_retry_after_nan_is_retried_not_raised(sim, instance):
    sim.faults.applies_to = "list"
    sim.faults.retry_after = math.nan
    sim.faults.rate_limit_burst = 1
    result = tick(sim, instance)
    assert result.run_requests


def test_out_of_range_and_hostile_jobs_never_raise(sim, instance):
    sim.faults.hostile_jobs = [
        *hostile_jobs(),
        {"id": "last-instant", "status": "COMPLETED", "updatedAt": "9999-12-31T23:59:59.999999Z", "files": []},
    ]
    sim.faults.hostile_job_lists = 1
    result = tick(sim, instance)
    assert isinstance(result, (dg.SensorResult, dg.SkipReason))


def test_an_echoing_server_leaks_nothing_into_the_skip(sim, instance):
    sim.faults.applies_to = "list"
    sim.faults.echo_padding = 260
    sim.faults.echo_errors = [401]
    result = tick(sim, instance)
    assert isinstance(result, dg.SkipReason) and "GLADLY_API_TOKEN" in result.skip_message
    assert_no_token(result.skip_message, sim)


def test_a_limit_gives_a_skip_naming_its_setting(sim, instance):
    result = tick(sim, instance, max_jobs=2)
    assert isinstance(result, dg.SkipReason) and "max_jobs" in result.skip_message


def test_the_tick_lists_with_a_short_retry_budget(sim, instance):
    patient = gladly_resource(sim, max_attempts=10, backoff_initial_seconds=5, backoff_max_seconds=60)
    budget = patient.with_budget(max_attempts=3, backoff_max_seconds=2.0, timeout_seconds=8.0, deadline_seconds=12.0)
    assert (budget.max_attempts, budget.backoff_max_seconds, budget.max_retry_after_seconds) == (3, 2.0, 2.0)
    assert (budget.timeout_seconds, budget.deadline_seconds, budget.backoff_initial_seconds) == (8.0, 12.0, 2.0)
    assert budget.api_token == patient.api_token and budget.base_url == patient.base_url
    # Never more patient than the resource it copies.
    assert (
        patient.with_budget(
            max_attempts=99, backoff_max_seconds=99, timeout_seconds=999, deadline_seconds=999
        ).max_attempts
        == 10
    )


@pytest.mark.slow
def test_a_stalled_gladly_gives_a_skip_well_inside_the_sensor_timeout(sim, instance):
    sim.faults.applies_to = "list"
    sim.faults.stall_seconds = 60
    sim.faults.stalls = 10
    started = time.monotonic()
    # The run's settings: 6 attempts of 60 s reads with backoff up to 60 s.
    result = tick(sim, instance, max_attempts=6, timeout_seconds=60, backoff_initial_seconds=1, backoff_max_seconds=60)
    elapsed = time.monotonic() - started
    assert isinstance(result, dg.SkipReason) and "Cannot reach Gladly" in result.skip_message
    assert "3 attempts" in result.skip_message
    assert elapsed < 45, elapsed


def test_export_runs_go_ahead_of_analytics_and_report_runs_in_the_queue():
    from gladly_assets.analytics.assets import build_analytics_automation_sensor

    analytics = int(build_analytics_automation_sensor().run_tags["dagster/priority"])
    assert int(PRIORITY_TAGS["dagster/priority"]) > analytics > 0  # report runs keep the default, 0
