"""GladlyResource against a hostile server: the simulator's hostile faults over real HTTP.

Nothing a server sends may block the client, exhaust memory or disk, or leak the token:
each limit fails with an error naming its setting, and a body that is not a JSONL export
never reaches the loader.
"""

from __future__ import annotations

import base64
import itertools
import logging
import math
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import pytest

from gladly_assets.errors import (
    GladlyConfigError,
    GladlyConnectionError,
    GladlyEchoedCredentials,
    GladlyError,
    GladlyLimitExceeded,
    GladlyMalformedJob,
    GladlyNotJsonl,
    GladlyResponseError,
    GladlyRetriesExhausted,
)
from gladly_assets.export_jobs import ExportJob
from gladly_assets.report_schema import ReportWindow
from gladly_assets.resources import GladlyResource
from gladly_assets.simulator import GladlySimulator
from gladly_assets.simulator.faults import hostile_jobs

from .helpers import materialize
from .test_gladly_resource import full_text, requests_to, scripted
from .test_redaction import leaks

MakeGladly = Callable[..., GladlyResource]
ITEMS = "conversation_items.jsonl"


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger="dagster"):
        yield caplog


def assert_nothing_of_the_token(text: str, sim: GladlySimulator) -> None:
    basic = base64.b64encode(f"{sim.agent_email}:{sim.api_token}".encode()).decode()
    assert sim.api_token not in text and basic not in text
    assert not leaks(text, sim.api_token), leaks(text, sim.api_token)


def newest_job(gladly: GladlyResource) -> ExportJob:
    return gladly.list_jobs()[-1]


# ---- 1. echoed credentials -----------------------------------------------------------------


# The shown detail is cut at 300 characters; the Authorization value sits some 170 characters
# after the padding, so these paddings put the cut before, all through, and after it.
@pytest.mark.parametrize("padding", [0, *range(40, 161, 6), 1000])
def test_an_error_body_echoing_the_request_leaks_nothing_wherever_the_cut_falls(
    make_gladly: MakeGladly, simulator: GladlySimulator, warnings_log: pytest.LogCaptureFixture, padding: int
) -> None:
    gladly = make_gladly(max_attempts=2)
    simulator.faults.applies_to = "list"
    simulator.faults.echo_padding = padding
    simulator.faults.echo_errors = [503, 400]  # a retried echo (logged), then a final one (raised)
    with pytest.raises(GladlyResponseError) as raised:
        gladly.list_jobs()
    assert raised.value.status_code == 400
    if padding <= 160:  # the echo starts inside the 300 characters of detail shown
        assert "You sent" in str(raised.value)
    if padding == 0:  # and here all of it is
        assert "Authorization: Basic ***" in str(raised.value)
    assert "retrying in" in warnings_log.text
    assert_nothing_of_the_token(full_text(raised.value), simulator)
    assert_nothing_of_the_token(warnings_log.text, simulator)


def test_a_file_echoing_the_credentials_is_refused_and_not_kept(
    gladly: GladlyResource, simulator: GladlySimulator, tmp_path: Path
) -> None:
    job = newest_job(gladly)
    simulator.faults.echo_files = 1
    with pytest.raises(GladlyEchoedCredentials) as raised:
        gladly.download_file(job, ITEMS, tmp_path / ITEMS)
    assert "echoes the request" in str(raised.value)
    assert list(tmp_path.iterdir()) == []
    assert_nothing_of_the_token(full_text(raised.value), simulator)
    # The fault is spent: the next download is the real file.
    assert gladly.download_file(job, ITEMS, tmp_path / ITEMS) == len(simulator.file_bytes(job.id, ITEMS))


def test_a_job_list_echoing_the_credentials_in_a_job_skips_that_job(
    make_gladly: MakeGladly, simulator: GladlySimulator, warnings_log: pytest.LogCaptureFixture
) -> None:
    gladly = make_gladly()
    listed = {job.id for job in gladly.list_jobs()}
    simulator.faults.hostile_jobs = [
        {"id": f"echo-{simulator.api_token}", "status": "COMPLETED", "updatedAt": "2026-01-01T00:00:00Z"},
        {"id": "fine", "status": "COMPLETED", "updatedAt": "2026-01-01T00:00:00Z", "scheduleId": simulator.api_token},
    ]
    simulator.faults.hostile_job_lists = 1
    assert {job.id for job in gladly.list_jobs()} == listed
    assert warnings_log.text.count("echoes the API credentials") == 2
    assert_nothing_of_the_token(warnings_log.text, simulator)


# ---- 2. a file body must be JSONL ----------------------------------------------------------


def test_an_html_page_sent_as_text_html_is_refused_before_its_body(
    gladly: GladlyResource, simulator: GladlySimulator, tmp_path: Path
) -> None:
    job = newest_job(gladly)
    simulator.faults.html_files = 1
    with pytest.raises(GladlyNotJsonl) as raised:
        gladly.download_file(job, ITEMS, tmp_path / ITEMS)
    assert "text/html" in str(raised.value) and "proxy" in str(raised.value)
    assert isinstance(raised.value, GladlyResponseError) and raised.value.status_code == 200
    assert list(tmp_path.iterdir()) == []


def test_an_html_page_without_a_content_type_is_caught_by_its_first_bytes(
    gladly: GladlyResource, simulator: GladlySimulator, tmp_path: Path
) -> None:
    job = newest_job(gladly)
    simulator.faults.html_files = 1
    simulator.faults.html_content_type = None
    with pytest.raises(GladlyNotJsonl, match="starts like an HTML or XML page") as raised:
        gladly.download_file(job, ITEMS, tmp_path / ITEMS)
    assert "&lt;" not in str(raised.value) and "<!DOCTYPE html>" in str(raised.value)
    assert list(tmp_path.iterdir()) == []
    assert len(requests_to(simulator, f"/files/{ITEMS}")) == 1  # not retried: the next run tries again


CONTENT = b'{"id": "1", "name": "a"}\n{"id": "2", "name": "b"}\n'


@pytest.mark.parametrize(
    ("content_type", "body", "refused"),
    [
        ("application/x-ndjson", CONTENT, None),
        ("application/x-ndjson; charset=utf-8", CONTENT, None),
        ("application/json", CONTENT, None),
        ("application/jsonl", CONTENT, None),
        ("text/plain", CONTENT, None),
        ("application/octet-stream", CONTENT, None),
        (None, CONTENT, None),
        (None, b"", None),  # an empty export
        (None, b"\xef\xbb\xbf" + CONTENT, None),  # a byte-order mark
        (None, b'{"id": "1", "truncat\n{"id": "2"}\n', None),  # a broken line is the loader's business
        (None, b"not json at all\n" + CONTENT, None),  # so is this one
        ("text/html", CONTENT, "Content-Type"),
        ("application/xml", CONTENT, "Content-Type"),
        ("image/png", CONTENT, "Content-Type"),
        (None, b"<html><body>Bad gateway</body></html>", "HTML or XML"),
        (None, b'  <?xml version="1.0"?><error/>', "HTML or XML"),
        ("application/json", b'{"errors": [{"code": "invalid", "detail": "no"}]}', "error object"),
        ("application/json", b'{"error": "quota"}\n', "error object"),
        ("application/json", b'[{"id": "1"}, {"id": "2"}]', "JSON array"),
    ],
)
def test_what_counts_as_a_jsonl_file(
    content_type: str | None, body: bytes, refused: str | None, tmp_path: Path
) -> None:
    headers = {"Content-Length": str(len(body))} | ({"Content-Type": content_type} if content_type else {})
    gladly, _ = scripted([lambda r: httpx.Response(200, headers=headers, content=body)])
    dest = tmp_path / "f.jsonl"
    if refused is None:
        assert gladly.download_file("job", "f.jsonl", dest) == len(body)
        assert dest.read_bytes() == body
    else:
        with pytest.raises(GladlyNotJsonl, match=refused):
            gladly.download_file("job", "f.jsonl", dest)
        assert list(tmp_path.iterdir()) == []


# ---- 3. a body shorter than its Content-Length -----------------------------------------------


@pytest.mark.parametrize("ranges", [False, True])
def test_a_short_body_closed_cleanly_is_retried(
    gladly: GladlyResource, simulator: GladlySimulator, tmp_path: Path, ranges: bool
) -> None:
    """Without ranges (Gladly documents none) the retry fetches the file whole; with them it resumes."""
    simulator.ranges = ranges
    job = simulator.complete_job(conversation_items=3000)
    body = simulator.file_bytes(job["id"], ITEMS)
    simulator.clear_log()
    simulator.faults.short_bodies = 2
    assert gladly.download_file(job["id"], ITEMS, tmp_path / ITEMS) == len(body)
    assert (tmp_path / ITEMS).read_bytes() == body
    log = requests_to(simulator, f"/files/{ITEMS}")
    assert [r.complete for r in log] == [False, False, True]
    assert [r.status for r in log] == ([200, 206, 206] if ranges else [200, 200, 200])
    # Each short body is half the file, rounded down; the whole file comes last.
    assert sum(r.bytes_sent for r in log) == (len(body) if ranges else 2 * (len(body) // 2) + len(body))


def test_a_short_body_from_a_server_without_ranges_is_fetched_whole_again(tmp_path: Path) -> None:
    body = b"".join(b'{"id": "%d"}\n' % i for i in range(3000))
    length = {"Content-Length": str(len(body))}

    class Short(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield body[:1000]  # then the stream just ends: a clean close

    gladly, seen = scripted(
        [
            lambda r: httpx.Response(200, headers=length, stream=Short()),
            lambda r: httpx.Response(200, headers=length, content=body),  # ignores Range
        ]
    )
    assert gladly.download_file("job", "f.jsonl", tmp_path / "f.jsonl") == len(body)
    assert (tmp_path / "f.jsonl").read_bytes() == body
    assert len(seen) == 2


# ---- 4. limits -------------------------------------------------------------------------------


def test_a_gzip_bomb_file_stops_at_the_compression_ratio_with_little_memory_or_disk(
    make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path
) -> None:
    gladly = make_gladly(max_attempts=1)
    job = newest_job(gladly)
    simulator.faults.gzip_bomb_bytes = 256 << 20
    simulator.faults.gzip_bombs = 1
    tracemalloc.start()
    try:
        with pytest.raises(GladlyLimitExceeded) as raised:
            gladly.download_file(job, ITEMS, tmp_path / ITEMS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.setting == "max_compression_ratio" and "max_compression_ratio=100" in str(raised.value)
    assert peak < 32 << 20, peak  # pieces of a MiB, never the 256 MiB
    assert list(tmp_path.iterdir()) == []


def test_a_gzip_bomb_job_list_stops_at_max_list_bytes(make_gladly: MakeGladly, simulator: GladlySimulator) -> None:
    gladly = make_gladly(max_attempts=1)
    simulator.faults.applies_to = "list"
    simulator.faults.gzip_bomb_bytes = 256 << 20
    simulator.faults.gzip_bombs = 1
    tracemalloc.start()
    try:
        with pytest.raises(GladlyLimitExceeded) as raised:
            gladly.list_jobs()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.setting == "max_list_bytes" and "raise the resource's max_list_bytes" in str(raised.value)
    assert peak < 32 << 20, peak


def test_an_endless_file_stops_at_max_file_bytes(
    make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path
) -> None:
    gladly = make_gladly(max_file_bytes=5_000_000, max_attempts=1)
    job = newest_job(gladly)
    simulator.faults.endless_bodies = 1
    simulator.faults.applies_to = "files"
    with pytest.raises(GladlyLimitExceeded) as raised:
        gladly.download_file(job, ITEMS, tmp_path / ITEMS)
    assert raised.value.setting == "max_file_bytes" and "max_file_bytes=5,000,000" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_an_endless_job_list_stops_at_max_list_bytes(make_gladly: MakeGladly, simulator: GladlySimulator) -> None:
    gladly = make_gladly(max_list_bytes=1_000_000, max_attempts=1)
    simulator.faults.applies_to = "list"
    simulator.faults.endless_bodies = 1
    with pytest.raises(GladlyLimitExceeded, match="max_list_bytes=1,000,000"):
        gladly.list_jobs()


def test_too_many_jobs_stop_at_max_jobs(make_gladly: MakeGladly) -> None:
    gladly = make_gladly(max_jobs=3)
    with pytest.raises(GladlyLimitExceeded) as raised:
        gladly.list_jobs()
    assert raised.value.setting == "max_jobs" and "max_jobs=3" in str(raised.value)


@pytest.mark.slow  # waits out the deadline
def test_a_dripping_job_list_times_out_at_the_deadline(make_gladly: MakeGladly, simulator: GladlySimulator) -> None:
    gladly = make_gladly(deadline_seconds=1.0, timeout_seconds=5.0, max_attempts=2)
    simulator.faults.applies_to = "list"
    simulator.faults.drip_seconds = 0.2  # every read brings a byte well inside the read timeout
    simulator.faults.drips = 2
    started = time.monotonic()
    with pytest.raises(GladlyConnectionError) as raised:
        gladly.list_jobs()
    elapsed = time.monotonic() - started
    assert "deadline_seconds=1" in str(raised.value) and raised.value.attempts == 2
    assert elapsed < 10, elapsed  # two deadlines and a backoff, not 2 x 1000 bytes x 0.2 s


@pytest.mark.parametrize("ranges", [False, True])
def test_a_dripping_file_is_cut_by_the_rate_floor_then_fetched_again(
    make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path, ranges: bool
) -> None:
    # With ranges, the tail offered after the cut belongs to another body (the real file, not
    # the drip): its Content-Range total differs, so the client starts over instead of splicing.
    simulator.ranges = ranges
    gladly = make_gladly(timeout_seconds=0.5, min_bytes_per_second=1024)
    job = newest_job(gladly)
    body = simulator.file_bytes(job.id, ITEMS)
    simulator.faults.applies_to = "files"
    simulator.faults.drip_seconds = 0.05
    simulator.faults.drips = 1
    assert gladly.download_file(job, ITEMS, tmp_path / ITEMS) == len(body)
    assert (tmp_path / ITEMS).read_bytes() == body


def test_a_file_that_only_drips_fails_naming_the_rate_floor(
    make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path
) -> None:
    gladly = make_gladly(timeout_seconds=0.5, max_attempts=2)
    job = newest_job(gladly)
    simulator.faults.applies_to = "files"
    simulator.faults.drip_seconds = 0.05
    simulator.faults.drips = 5
    with pytest.raises(GladlyRetriesExhausted, match="min_bytes_per_second=1024"):
        gladly.download_file(job, ITEMS, tmp_path / ITEMS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"max_file_bytes": 0}, "max_file_bytes must be positive"),
        ({"deadline_seconds": -1}, "deadline_seconds must be positive"),
        ({"max_compression_ratio": 0.5}, "max_compression_ratio must be at least 1"),
        ({"max_jobs": 0}, "max_jobs must be positive"),
        ({"min_bytes_per_second": -1}, "must not be negative"),
        ({"base_url": "http://127.0.0.1:8080/acme/api/v1\nX-Injected: 1"}, "line breaks"),
        ({"base_url": "http://127.0.0.1:99999/acme/api/v1"}, "base_url"),
        ({"base_url": "http://[::1/acme"}, "base_url"),
    ],
)
def test_unusable_limit_settings_are_refused_before_any_request(
    make_gladly: MakeGladly, simulator: GladlySimulator, settings: dict, problem: str
) -> None:
    simulator.clear_log()
    with pytest.raises(GladlyConfigError, match=problem):
        make_gladly(**settings).list_jobs()
    assert simulator.request_log == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("nan", None),
        ("inf", None),
        ("-inf", None),
        ("-5", 0.0),
        ("1e308", 600.0),
        ("99999999999999999999", 600.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 600.0),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
        ("Thu, 99 Foo 2026", None),
        ("", None),
    ],
)
def test_hostile_retry_after_values(header: str, expected: float | None) -> None:
    gladly = GladlyResource(organization="acme", agent_email="a@example.com", api_token="t0k3n-abcdef")
    wait = gladly._server_wait(httpx.Response(503, headers={"Retry-After": header}))
    assert wait == expected
    assert wait is None or math.isfinite(wait)


def test_retry_after_nan_over_http_is_retried_with_backoff(gladly: GladlyResource, simulator: GladlySimulator) -> None:
    simulator.faults.applies_to = "list"
    simulator.faults.retry_after = math.nan
    simulator.faults.rate_limit_burst = 2
    assert gladly.list_jobs()
    assert [r.status for r in requests_to(simulator, "/export/jobs")] == [429, 429, 200]


# ---- 6. hostile jobs in the list -------------------------------------------------------------


def test_hostile_jobs_are_skipped_with_an_escaped_warning_and_the_rest_is_listed(
    gladly: GladlyResource, simulator: GladlySimulator, warnings_log: pytest.LogCaptureFixture
) -> None:
    real = {job.id for job in gladly.list_jobs()}
    simulator.faults.hostile_job_lists = 1
    listed = gladly.list_jobs()
    # The job dated 2099 parses: holding it back from cursors is the sync's business.
    assert {job.id for job in listed} == real | {"hostile-future-2099"}
    skipped = [r.getMessage() for r in warnings_log.records if "skipping a job" in r.getMessage()]
    assert len(skipped) == len(hostile_jobs()) - 1
    for message in skipped:
        assert "\n" not in message and "\x00" not in message and len(message) < 600
    text = "\n".join(skipped)
    for shown_as in ("../../outside", "/etc/passwd", "nul\\x00byte", "line\\nbreak", "12345", "year-99999"):
        assert shown_as in text
    assert "x" * 300 not in text and "longer than 255 bytes" in text


@pytest.mark.parametrize(
    "job",
    [
        {"id": "j", "status": "COMPLETED", "updatedAt": "yesterday"},
        {"id": "j", "status": "COMPLETED"},
        {"id": "j", "status": "COMPLETED", "updatedAt": "0000-01-01T00:00:00Z"},
        {"id": "j", "status": "COMPLETED", "updatedAt": "0001-01-01T00:00:00+01:00"},
        {"id": "j", "status": "COMPLETED", "updatedAt": "2026-13-01T00:00:00Z"},
        {"id": "j", "status": "COMPLETED", "updatedAt": "2026-01-01T24:00:00Z"},
        {"id": "j", "status": "COMPLETED", "updatedAt": 1767225600},
        {"id": "j", "updatedAt": "2026-01-01T00:00:00Z", "parameters": {"endAt": "soon"}},
        {"id": "j", "updatedAt": "2026-01-01T00:00:00Z", "files": {"customers.jsonl": 1}},
        {"id": "j", "updatedAt": "2026-01-01T00:00:00Z", "status": 3},
        {"id": "j", "updatedAt": "2026-01-01T00:00:00Z", "scheduleId": ["s"]},
        {"id": ".", "updatedAt": "2026-01-01T00:00:00Z"},
        {"id": " padded ", "updatedAt": "2026-01-01T00:00:00Z"},
        {"id": "a\\b", "updatedAt": "2026-01-01T00:00:00Z"},
        {"id": "rtl\u202eoverride", "updatedAt": "2026-01-01T00:00:00Z"},
        {"id": "é" * 128, "updatedAt": "2026-01-01T00:00:00Z"},  # 256 bytes in UTF-8
        {"id": True, "updatedAt": "2026-01-01T00:00:00Z"},
        ["not", "a", "job"],
    ],
)
def test_a_malformed_job_is_one_error_type(job: object) -> None:
    with pytest.raises(GladlyMalformedJob):
        ExportJob.from_api(job)


def test_odd_but_usable_jobs_parse() -> None:
    base = {"status": "COMPLETED", "updatedAt": "9999-12-31T23:59:59.999999Z"}
    job = ExportJob.from_api({**base, "id": "é" * 127, "files": ["customers.jsonl", "../x", 7, "a b"]})
    assert job.updated_at.year == 9999 and job.files == ("customers.jsonl",)  # names no table has are dropped


def test_a_list_of_only_malformed_jobs_is_an_empty_list_not_a_crash(
    gladly: GladlyResource, simulator: GladlySimulator, warnings_log: pytest.LogCaptureFixture
) -> None:
    simulator.faults.hostile_jobs = [job for job in hostile_jobs() if "hostile-future-2099" not in str(job)]
    simulator.faults.hostile_job_lists = 1
    assert gladly.list_jobs(status="FAILED") == []  # the simulator has no failed job of its own
    assert warnings_log.text.count("skipping a job") == len(simulator.faults.hostile_jobs)


def test_the_hostile_faults_all_wear_off(gladly: GladlyResource, simulator: GladlySimulator, tmp_path: Path) -> None:
    faults = simulator.faults
    faults.echo_errors, faults.echo_files, faults.html_files = [503], 1, 1
    assert faults.pending
    faults.clear()
    assert not faults.pending
    job = newest_job(gladly)
    assert gladly.download_file(job, ITEMS, tmp_path / ITEMS) == len(simulator.file_bytes(job.id, ITEMS))


def test_every_hostile_failure_is_a_gladly_error(
    make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path
) -> None:
    """The sync catches GladlyError per table: no hostile answer may surface as anything else."""
    gladly = make_gladly(max_attempts=1, max_file_bytes=1_000_000, timeout_seconds=0.5, deadline_seconds=1)
    job = newest_job(gladly)
    faults = simulator.faults
    faults.applies_to = "files"
    arms: list[Callable[[], None]] = [
        lambda: setattr(faults, "echo_files", 1),
        lambda: setattr(faults, "html_files", 1),
        lambda: setattr(faults, "gzip_bombs", 1),
        lambda: setattr(faults, "endless_bodies", 1),
        lambda: setattr(faults, "drips", 1),
        lambda: setattr(faults, "short_bodies", 1),
        lambda: setattr(faults, "echo_errors", [418]),
    ]
    for arm in arms:
        arm()
        with pytest.raises(GladlyError):
            gladly.download_file(job, ITEMS, tmp_path / ITEMS)
        faults.clear()
        assert list(tmp_path.iterdir()) == []


# ---- the whole path: nothing of the token in the run's event log -------------------------------


@pytest.mark.slow  # materialises the assets on a Dagster instance
def test_a_run_against_an_echoing_server_leaves_nothing_of_the_token_in_event_storage(
    sim: GladlySimulator, instance: dg.DagsterInstance, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    sim.faults.applies_to = "any"
    sim.faults.echo_padding = 100  # the Authorization header straddles the 300-character cut
    sim.faults.echo_errors = [503, 502]  # the job list, then a file: retried, so logged
    sim.faults.echo_files = 1  # one file echoes the request: that table fails, the others load
    result = materialize(sim, instance, tmp_path / "warehouse.duckdb", raise_on_error=False)
    console = "".join(capfd.readouterr())
    assert not result.success
    records = instance.all_logs(result.run_id)
    everything = "\n".join(repr(record) for record in records) + repr(instance.get_run_by_id(result.run_id))
    assert "retrying in" in everything and "Authorization: Basic" in everything
    loaded = {event.asset_key.path[-1] for event in result.get_asset_materialization_events()}
    assert len(loaded) == 3  # the echoing file failed its table only
    assert "holds the API credentials" in console  # the run's log says why
    assert_nothing_of_the_token(everything, sim)
    assert_nothing_of_the_token(console, sim)


# ---- what the simulator cannot stage: headers that drip --------------------------------------


@pytest.fixture
def header_dripper() -> Iterator[str]:
    """A server on 127.0.0.1 that answers every request by sending its status line and then
    one header byte every 0.1 s: each read brings a byte, so no read timeout ever trips."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)

    def drip(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            for byte in itertools.cycle(b"X-Slow: a\r\n"):
                if stop.wait(0.1):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=drip, args=(connection,), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/acme/api/v1"
    stop.set()
    server.join()
    listener.close()


@pytest.mark.slow  # waits out the deadline
@pytest.mark.parametrize(
    ("call", "setting"),
    [("list", "deadline_seconds"), ("file", "deadline_seconds"), ("report", "report_timeout_seconds")],
)
def test_headers_that_drip_time_out_at_the_deadline(
    header_dripper: str, call: str, setting: str, tmp_path: Path
) -> None:
    gladly = GladlyResource(
        organization="acme",
        agent_email="agent@example.com",
        api_token="dripped-token-0123456789",
        base_url=header_dripper,
        deadline_seconds=1.0,
        report_timeout_seconds=1.0,
        timeout_seconds=5.0,
        max_attempts=2,
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.02,
    )
    calls = {
        "list": gladly.list_jobs,
        "file": lambda: gladly.download_file("job", "f.jsonl", tmp_path / "f.jsonl"),
        "report": lambda: gladly.download_report(
            "ContactTimestampsReport", ReportWindow.day(date(2026, 11, 18)), tmp_path / "r.csv"
        ),
    }
    started = time.monotonic()
    with pytest.raises(GladlyConnectionError, match=f"{setting}=1"):
        calls[call]()
    gladly.close()
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []


def test_only_encodings_the_client_decodes_in_pieces_are_offered(
    gladly: GladlyResource, simulator: GladlySimulator, tmp_path: Path
) -> None:
    job = newest_job(gladly)
    gladly.download_file(job, "topics.jsonl", tmp_path / "topics.jsonl")
    listed, downloaded = requests_to(simulator, "/export/jobs")[-1], requests_to(simulator, "/topics.jsonl")[-1]
    assert listed.headers["Accept-Encoding"] == "gzip, deflate"
    assert downloaded.headers["Accept-Encoding"] == "identity"  # byte offsets for Range mean file offsets
