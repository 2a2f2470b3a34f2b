"""The export-job sensor against the simulator over HTTP."""

import base64
import math
import time
from datetime import timedelta

import dagster as dg
import pytest

from gladly_assets.export_jobs import parse_instant
from gladly_assets.sensors import build_export_jobs_sensor
from gladly_assets.simulator.faults import hostile_jobs
from gladly_assets.tables import TABLES, TABLES_BY_NAME

from .helpers import gladly_resource, make_simulator

SENSOR = build_export_jobs_sensor()


def tick(sim, cursor=None, **resource_overrides):
    resources = {"gladly": gladly_resource(sim, **resource_overrides)}
    with dg.build_sensor_context(cursor=cursor, resources=resources) as context:
        return SENSOR(context)


def test_first_tick_requests_every_table_once_with_one_list_request(sim):
    sim.clear_log()
    result = tick(sim)
    assert len(sim.request_log) == 1 and sim.request_log[0].path == "/export/jobs"
    (request,) = result.run_requests
    assert set(request.asset_selection) == {table.asset_key for table in TABLES}
    assert request.run_key.startswith("gladly-jobs-")
    assert result.cursor


def test_no_new_job_skips_and_says_when_the_newest_was_seen(sim):
    cursor = tick(sim).cursor
    result = tick(sim, cursor)
    assert isinstance(result, dg.SkipReason)
    newest = sim.jobs()[-1]
    assert newest["id"] in result.skip_message and "No new completed export job" in result.skip_message


def test_new_job_selects_only_the_tables_its_files_contain(sim):
    cursor = tick(sim).cursor
    sim.advance(timedelta(hours=1))
    job = sim.complete_job(files=["customers.jsonl", "topics.jsonl"])
    result = tick(sim, cursor)
    (request,) = result.run_requests
    assert set(request.asset_selection) == {TABLES_BY_NAME["customers"].asset_key, TABLES_BY_NAME["topics"].asset_key}
    assert request.tags["gladly/newest_job"] == job["id"]


def test_a_late_older_job_is_requested_and_a_restart_requests_nothing_twice(sim):
    cursor = tick(sim).cursor
    sim.advance(timedelta(hours=2))
    newer = sim.complete_job()
    after_newer = tick(sim, cursor)
    late = sim.complete_job(updated_at=parse_instant(newer["updatedAt"]) - timedelta(minutes=20))

    late_result = tick(sim, after_newer.cursor)
    (request,) = late_result.run_requests
    assert request.run_key != after_newer.run_requests[0].run_key
    assert request.tags["gladly/newest_job"] == late["id"]

    # A restarted daemon evaluates again from the stored cursor: nothing new.
    assert isinstance(tick(sim, late_result.cursor), dg.SkipReason)
    # The same jobs always give the same run key, so a repeated tick is idempotent.
    again = tick(sim, after_newer.cursor)
    assert again.run_requests[0].run_key == request.run_key


def test_empty_window_jobs_move_the_cursor_without_a_run(sim):
    cursor = tick(sim).cursor
    sim.advance(timedelta(hours=1))
    sim.complete_job(files=[])
    result = tick(sim, cursor)
    assert result.run_requests == [] and "none with files" in result.skip_reason.skip_message
    assert isinstance(tick(sim, result.cursor), dg.SkipReason)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"api_token": "wrong"}, "GLADLY_API_TOKEN"),
        ({"agent_email": "viewer@acme.example", "api_token": "sim-viewer-token-not-secret"}, "API User"),
    ],
)
def test_rejected_credentials_give_a_clear_skip_not_a_crash(sim, overrides, expected):
    result = tick(sim, **overrides)
    assert isinstance(result, dg.SkipReason)
    assert expected in result.skip_message
    assert "wrong" not in result.skip_message


def test_missing_settings_give_a_clear_skip(sim):
    result = tick(sim, organization="", base_url=None)
    assert isinstance(result, dg.SkipReason)
    assert "organization" in result.skip_message.lower()


def test_unreachable_gladly_gives_a_clear_skip(sim):
    with make_simulator() as stopped:
        closed_url = stopped.base_url
    result = tick(sim, base_url=closed_url, max_attempts=2)  # nothing listens there any more
    assert isinstance(result, dg.SkipReason) and "Cannot reach Gladly" in result.skip_message


def test_settings_not_applied_are_named_on_every_tick(sim):
    notice = "Settings not applied: GLADLY_X='y' is not usable."
    sensor = build_export_jobs_sensor(settings_notice=notice)
    assert notice in sensor.description
    resources = {"gladly": gladly_resource(sim)}
    with dg.build_sensor_context(resources=resources) as context:
        first = sensor(context)
    assert first.run_requests and first.run_requests[0].run_key.startswith("gladly-jobs-")
    with dg.build_sensor_context(cursor=first.cursor, resources=resources) as context:
        second = sensor(context)
    assert isinstance(second, dg.SkipReason)
    assert second.skip_message.startswith("No new completed export job") and second.skip_message.endswith(notice)


# ---- a tick never raises, and gives up well inside Dagster's 60 s sensor timeout -------------


def assert_no_token(text: str, sim) -> None:
    basic = base64.b64encode(f"{sim.agent_email}:{sim.api_token}".encode()).decode()
    assert sim.api_token not in text and basic not in text and basic[20:30] not in text


def test_a_base_url_with_a_line_break_gives_a_clear_skip(sim):
    result = tick(sim, base_url=sim.base_url + "\nX-Injected: 1")
    assert isinstance(result, dg.SkipReason) and "base_url" in result.skip_message


def test_retry_after_nan_is_retried_not_raised(sim):
    sim.faults.applies_to = "list"
    sim.faults.retry_after = math.nan
    sim.faults.rate_limit_burst = 1
    result = tick(sim)
    assert result.run_requests


def test_out_of_range_and_hostile_jobs_never_raise(sim):
    sim.faults.hostile_jobs = [
        *hostile_jobs(),
        {"id": "last-instant", "status": "COMPLETED", "updatedAt": "9999-12-31T23:59:59.999999Z", "files": []},
    ]
    sim.faults.hostile_job_lists = 1
    result = tick(sim)
    assert isinstance(result, (dg.SensorResult, dg.SkipReason))


def test_a_corrupt_cursor_gives_a_skip_naming_the_cause(sim):
    result = tick(sim, cursor="{not json")
    assert isinstance(result, dg.SkipReason) and "could not evaluate" in result.skip_message


def test_an_echoing_server_leaks_nothing_into_the_skip(sim):
    sim.faults.applies_to = "list"
    sim.faults.echo_padding = 260
    sim.faults.echo_errors = [401]
    result = tick(sim)
    assert isinstance(result, dg.SkipReason) and "GLADLY_API_TOKEN" in result.skip_message
    assert_no_token(result.skip_message, sim)


def test_a_limit_gives_a_skip_naming_its_setting(sim):
    result = tick(sim, max_jobs=2)
    assert isinstance(result, dg.SkipReason) and "max_jobs" in result.skip_message


def test_the_tick_lists_with_a_short_retry_budget(sim):
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
def test_a_stalled_gladly_gives_a_skip_well_inside_the_sensor_timeout(sim):
    sim.faults.applies_to = "list"
    sim.faults.stall_seconds = 60
    sim.faults.stalls = 10
    started = time.monotonic()
    # The run's settings: 6 attempts of 60 s reads with backoff up to 60 s.
    result = tick(sim, max_attempts=6, timeout_seconds=60, backoff_initial_seconds=1, backoff_max_seconds=60)
    elapsed = time.monotonic() - started
    assert isinstance(result, dg.SkipReason) and "Cannot reach Gladly" in result.skip_message
    assert "3 attempts" in result.skip_message
    assert elapsed < 45, elapsed
