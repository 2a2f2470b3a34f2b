"""The Reports API and directory lists against a hostile server, over real HTTP: a report body
is read under the same bounds as an export file (deadline, rate floor, size cap, echoed
credentials), and teams/inboxes under the job list's (max_list_bytes, the whole-request deadline)."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from gladly_assets.errors import (
    GladlyConnectionError,
    GladlyEchoedCredentials,
    GladlyLimitExceeded,
    GladlyResponseError,
    GladlyRetriesExhausted,
)
from gladly_assets.report_schema import ReportWindow
from gladly_assets.simulator.reports import ReportOptions

from .helpers import gladly_resource, make_simulator
from .test_gladly_resource import full_text
from .test_hostile_server import assert_nothing_of_the_token

WINDOW = ReportWindow.day(date(2026, 11, 18))
METRICS = "ContactTimestampsReport"


@pytest.fixture
def sim():
    with make_simulator(report_options=ReportOptions(requests_per_window=None, concurrent=2)) as simulator:
        simulator.faults.applies_to = "reports"
        yield simulator


def report_requests(sim) -> list:
    return [r for r in sim.request_log if r.path == "/reports"]


def clean_report(sim, tmp_path: Path) -> bytes:
    gladly = gladly_resource(sim)
    gladly.download_report(METRICS, WINDOW, tmp_path / "clean" / "r.csv")
    gladly.close()
    return (tmp_path / "clean" / "r.csv").read_bytes()


def test_a_dripping_report_is_cut_by_the_rate_floor_then_fetched_again(sim, tmp_path, caplog):
    gladly = gladly_resource(sim, timeout_seconds=0.5, min_bytes_per_second=1024)
    sim.faults.drip_seconds = 0.05
    sim.faults.drips = 1
    with caplog.at_level(logging.WARNING, logger="dagster"):
        size = gladly.download_report(METRICS, WINDOW, tmp_path / "r.csv")
    assert "min_bytes_per_second=1024" in caplog.text and "retrying in" in caplog.text
    assert [r.status for r in report_requests(sim)] == [200, 200]
    assert (tmp_path / "r.csv").read_bytes() == clean_report(sim, tmp_path) and size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean", "r.csv"]


def test_a_report_that_only_drips_fails_naming_the_rate_floor_and_leaves_no_file(sim, tmp_path):
    gladly = gladly_resource(sim, timeout_seconds=0.5, max_attempts=2)
    sim.faults.drip_seconds = 0.05
    sim.faults.drips = 5
    with pytest.raises(GladlyRetriesExhausted, match=rf"{METRICS} .*min_bytes_per_second=1024"):
        gladly.download_report(METRICS, WINDOW, tmp_path / "r.csv")
    assert list(tmp_path.iterdir()) == [] and len(report_requests(sim)) == 2


def test_an_endless_report_stops_at_report_max_bytes(sim, tmp_path):
    gladly = gladly_resource(sim, report_max_bytes=2_000_000, max_attempts=3)
    sim.faults.endless_bodies = 1
    with pytest.raises(GladlyLimitExceeded) as raised:
        gladly.download_report(METRICS, WINDOW, tmp_path / "r.csv")
    assert raised.value.setting == "report_max_bytes" and "report_max_bytes=2,000,000" in str(raised.value)
    assert list(tmp_path.iterdir()) == [] and len(report_requests(sim)) == 1  # refused, not retried


def test_a_report_echoing_the_credentials_is_refused_and_not_kept(sim, tmp_path):
    gladly = gladly_resource(sim)
    sim.faults.echo_files = 1
    with pytest.raises(GladlyEchoedCredentials, match="echoes the request") as raised:
        gladly.download_report(METRICS, WINDOW, tmp_path / "r.csv")
    assert list(tmp_path.iterdir()) == [] and len(report_requests(sim)) == 1
    assert_nothing_of_the_token(full_text(raised.value), sim)
    # The fault is spent: the next request is the real report.
    gladly.download_report(METRICS, WINDOW, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_bytes().startswith(b"\xef\xbb\xbfTimezone Filter") or (
        tmp_path / "r.csv"
    ).read_bytes().startswith(b"Timezone Filter")


def test_a_report_error_echoing_the_request_leaks_nothing(sim, tmp_path, caplog):
    gladly = gladly_resource(sim, max_attempts=2)
    sim.faults.echo_padding = 0
    sim.faults.echo_errors = [503, 400]
    with caplog.at_level(logging.WARNING, logger="dagster"), pytest.raises(GladlyResponseError) as raised:
        gladly.download_report(METRICS, WINDOW, tmp_path / "r.csv")
    assert raised.value.status_code == 400 and "Authorization: Basic ***" in str(raised.value)
    assert "retrying in" in caplog.text
    assert_nothing_of_the_token(full_text(raised.value), sim)
    assert_nothing_of_the_token(caplog.text, sim)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # waits out the timeout
def test_a_stalled_report_body_times_out_and_is_fetched_again(sim, tmp_path):
    gladly = gladly_resource(sim, report_timeout_seconds=0.5)
    sim.faults.stall_seconds = 3.0
    sim.faults.stalls = 1
    gladly.download_report(METRICS, WINDOW, tmp_path / "r.csv")
    assert len(report_requests(sim)) == 2
    assert (tmp_path / "r.csv").read_bytes() == clean_report(sim, tmp_path)


@pytest.mark.parametrize("listing", ["list_teams", "list_inboxes"])
def test_an_endless_directory_list_stops_at_max_list_bytes(sim, listing):
    gladly = gladly_resource(sim, max_list_bytes=1_000_000, max_attempts=1)
    sim.faults.applies_to = "list"
    sim.faults.endless_bodies = 1
    with pytest.raises(GladlyLimitExceeded, match="max_list_bytes=1,000,000"):
        getattr(gladly, listing)()


@pytest.mark.slow  # waits out the deadline
@pytest.mark.parametrize("listing", ["list_teams", "list_inboxes"])
def test_a_dripping_directory_list_times_out_at_the_deadline(sim, listing):
    gladly = gladly_resource(sim, deadline_seconds=1.0, timeout_seconds=5.0, max_attempts=2)
    sim.faults.applies_to = "list"
    sim.faults.drip_seconds = 0.2
    sim.faults.drips = 2
    with pytest.raises(GladlyConnectionError, match="deadline_seconds=1") as raised:
        getattr(gladly, listing)()
    assert raised.value.attempts == 2
