"""The export-job sensor against the simulator over HTTP."""

from datetime import timedelta

import dagster as dg
import pytest

from gladly_assets.export_jobs import parse_instant
from gladly_assets.sensors import build_export_jobs_sensor
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
