"""GladlyResource's report and list methods over real HTTP against the simulator: pacing,
concurrency, retries, errors, size limits."""

from __future__ import annotations

import csv
import threading
import time
from datetime import date

import pytest

from gladly_assets.errors import GladlyResponseError, GladlyRetriesExhausted
from gladly_assets.report_schema import ReportWindow
from gladly_assets.resources.gladly import ReportPacer
from gladly_assets.simulator.reports import ReportOptions, parse_report_request

from .helpers import gladly_resource, make_simulator

DAY = date(2026, 11, 18)


@pytest.fixture
def sim():
    with make_simulator(report_options=ReportOptions(requests_per_window=None, concurrent=2)) as simulator:
        yield simulator


@pytest.fixture
def gladly(sim):
    resource = gladly_resource(sim)
    yield resource
    resource.close()


def reports(sim) -> list:
    return [r for r in sim.request_log if r.path == "/reports"]


@pytest.mark.parametrize("instants", [False, True])
def test_download_report_writes_the_csv_gladly_sent_for_exactly_the_utc_day(sim, gladly, tmp_path, instants):
    window = ReportWindow.day(DAY, instants=instants)
    dest = tmp_path / "day.csv"
    size = gladly.download_report("ContactExportReportV3", window, dest)
    body = dest.read_bytes()
    import json

    request = parse_report_request(
        json.dumps(window.request_body("ContactExportReportV3")).encode(),
        sim.report_options,
        [inbox["id"] for inbox in sim.reports.inboxes],
    )
    assert size == len(body) > 0 and body == sim.reports.render(request)
    assert (
        request.start.isoformat() == "2026-11-18T00:00:00+00:00"
        and request.end.isoformat() == "2026-11-19T00:00:00+00:00"
    )
    rows = list(csv.reader(body.decode("utf-8-sig").splitlines()))
    assert rows[0][0] == "Timezone Filter" and rows[1][0] == "UTC"
    assert not list(tmp_path.glob("*.part"))


def test_at_most_two_report_requests_are_in_flight(sim, gladly, tmp_path):
    errors: list[BaseException] = []
    peak = 0

    def fetch(index: int) -> None:
        try:
            gladly.download_report("ConversationExportReport", ReportWindow.day(DAY), tmp_path / f"{index}.csv")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(4)]
    with sim.reports.hold():
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while sim.reports.running() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # a third request would be admitted (and refused with 429) by now
        peak = sim.reports.running()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and peak == 2
    statuses = [r.status for r in reports(sim)]
    assert statuses == [200] * 4  # never a 429 from the simulator's limit of 2 at once


def test_the_pacer_starts_at_most_limit_requests_per_window():
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    pacer = ReportPacer(limit=3, concurrency=2, window=60.0, clock=lambda: clock[0], sleep=sleep)
    starts = []
    for _ in range(7):
        with pacer.slot():
            starts.append(clock[0])
        clock[0] += 1.0
    assert starts == [0.0, 1.0, 2.0, 60.0, 61.0, 62.0, 120.0]
    for index in range(len(starts)):
        assert sum(1 for s in starts if starts[index] <= s < starts[index] + 60) <= 3


def test_a_bad_request_is_a_clear_error_and_not_retried(sim, gladly, tmp_path):
    with pytest.raises(GladlyResponseError, match=r"HTTP 400.*metricSet.*invalid") as raised:
        gladly.download_report("NoSuchReport", ReportWindow.day(DAY), tmp_path / "x.csv")
    assert raised.value.status_code == 400
    assert len(reports(sim)) == 1 and not list(tmp_path.iterdir())


def test_server_errors_and_cut_bodies_are_retried_to_a_whole_file(sim, gladly, tmp_path):
    expected = tmp_path / "expected.csv"
    gladly.download_report("ConversationTimestampsReport", ReportWindow.day(DAY), expected)
    sim.faults.applies_to = "reports"
    sim.faults.server_errors = [503, 500]
    sim.faults.resets, sim.faults.reset_after_bytes = 1, 100
    dest = tmp_path / "retried.csv"
    gladly.download_report("ConversationTimestampsReport", ReportWindow.day(DAY), dest)
    assert dest.read_bytes() == expected.read_bytes()
    # The simulator logs a request as its answer ends: the first download's record may come
    # after the next request's, so the answers are compared in any order.
    answers = sorted((r.status, r.complete) for r in reports(sim))
    assert answers == sorted([(200, True), (503, True), (500, True), (200, False), (200, True)])


@pytest.mark.slow  # waits out the rate limit's windows
def test_report_429s_wait_out_the_limit(tmp_path):
    with make_simulator(report_options=ReportOptions(requests_per_window=2, window_seconds=1.0)) as sim:
        gladly = gladly_resource(sim, report_requests_per_window=100, max_attempts=8, backoff_max_seconds=0.5)
        for index in range(5):
            gladly.download_report("ConversationExportReport", ReportWindow.day(DAY), tmp_path / f"{index}.csv")
        statuses = [r.status for r in reports(sim)]
        assert statuses.count(200) == 5 and 429 in statuses


def test_429s_past_every_attempt_are_an_error_naming_the_report(sim, tmp_path):
    gladly = gladly_resource(sim, max_attempts=2, report_window_seconds=0.2)
    sim.faults.applies_to = "reports"
    sim.faults.rate_limit_burst = 5
    with pytest.raises(GladlyRetriesExhausted, match=r"ContactTimestampsReport 2026-11-18.*after 2 attempts"):
        gladly.download_report("ContactTimestampsReport", ReportWindow.day(DAY), tmp_path / "x.csv")
    assert not list(tmp_path.iterdir())


def test_a_report_bigger_than_the_limit_is_refused_without_filling_the_disk(sim, tmp_path):
    gladly = gladly_resource(sim, report_max_bytes=1000)
    with pytest.raises(GladlyResponseError, match="more than report_max_bytes"):
        gladly.download_report("ContactTimestampsReport", ReportWindow.day(DAY), tmp_path / "x.csv")
    assert not list(tmp_path.iterdir())


def test_teams_and_inboxes_are_listed_as_gladly_sends_them(sim, gladly):
    assert gladly.list_teams() == sim.reports.teams()
    assert gladly.list_inboxes() == sim.reports.inboxes


@pytest.mark.parametrize("setting", ["report_requests_per_window", "report_concurrency", "report_row_cap"])
def test_report_settings_below_one_are_refused(sim, setting, tmp_path):
    from gladly_assets.errors import GladlyConfigError

    with pytest.raises(GladlyConfigError, match=setting):
        gladly_resource(sim, **{setting: 0}).download_report("X", ReportWindow.day(DAY), tmp_path / "x.csv")
