"""TableSync loads each file while it downloads: over real HTTP to the simulator, into a real
DuckDB file. The load starts before the download ends; a restart, a hostile body, an expiry,
a failed load and an interrupt end as they did when the download came first."""

from __future__ import annotations

import base64
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

import gladly_assets.sync
from gladly_assets.errors import GladlyEchoedCredentials, GladlyLimitExceeded
from gladly_assets.export_jobs import parse_instant
from gladly_assets.load.jsonl import PARSE_WORKERS, QUEUED_BATCHES
from gladly_assets.load.warehouse import Warehouse
from gladly_assets.resources import GladlyResource
from gladly_assets.simulator import GladlySimulator
from gladly_assets.sync import SyncOutcome, TableSync, outcome_metadata, plan_sync
from gladly_assets.tables import TABLES_BY_NAME

from .helpers import assert_tables_match, gladly_resource
from .test_download_feed import WAIT, in_thread
from .test_gladly_resource import requests_to

ITEMS = TABLES_BY_NAME["conversation_items"]
BATCH = 64 * 1024  # parse batches: a test file of about 1.2 MB has many
# Where the server holds a file back: past the batches read ahead of the first, before its end.
HOLD = (PARSE_WORKERS + QUEUED_BATCHES + 2) * BATCH
# The breaks and limits the tests below set (700,000 bytes and up) must fall past HOLD.
assert HOLD < 600_000
LOG = logging.getLogger("tests.sync_overlap")


@pytest.fixture
def first_batch(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once the warehouse has taken a file's first batch and asks for the next."""
    taken = threading.Event()
    read_batches = gladly_assets.sync.read_batches

    def observed(source: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for batch in read_batches(source, batch_bytes=BATCH):
            yield batch
            taken.set()

    monkeypatch.setattr(gladly_assets.sync, "read_batches", observed)
    return taken


@contextmanager
def opened(db: Path) -> Iterator[Warehouse]:
    with closing(duckdb.connect(str(db))) as connection:
        yield Warehouse(connection)


class Items:
    """The items table of one DuckDB file, synced from the simulator run after run."""

    def __init__(self, sim: GladlySimulator, db: Path, gladly: GladlyResource | None = None) -> None:
        self.sim, self.db = sim, db
        self.gladly = gladly or gladly_resource(sim)
        self.previous: dict[str, Any] = {}

    def sync(self, warehouse: Warehouse) -> SyncOutcome:
        plan = plan_sync(
            ITEMS, self.previous, self.gladly.list_jobs(), warehouse.row_count(ITEMS.name), False, self.sim.now()
        )
        self.sync_run = TableSync(ITEMS, plan, self.gladly, warehouse, LOG)
        outcome = self.sync_run.run()
        self.previous = outcome_metadata(ITEMS, outcome, warehouse)
        return outcome

    def synced(self) -> SyncOutcome:
        with opened(self.db) as warehouse:
            return self.sync(warehouse)


def rows(warehouse: Warehouse) -> list[tuple]:
    return warehouse.conn.execute(f"SELECT * FROM {warehouse._table_ref(ITEMS.name)} ORDER BY id").fetchall()


def work_tables(warehouse: Warehouse) -> list[str]:
    found = warehouse.conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, '_load_') "
        "OR starts_with(table_name, '_rebuild_')"
    ).fetchall()
    return [name for (name,) in found]


def assert_items_exactly_once(sim: GladlySimulator, db: Path) -> None:
    with closing(duckdb.connect(str(db), read_only=True)) as connection:
        total, distinct = connection.execute(
            f'SELECT count(*), count(DISTINCT id) FROM "{db.stem}".gladly.{ITEMS.name}'
        ).fetchone()
    assert total == distinct
    assert_tables_match(sim, db, tables=[ITEMS])


def new_job(sim: GladlySimulator, **options: Any) -> dict:
    """A day's job whose items file (about 1.2 MB) the server holds back after HOLD bytes."""
    sim.advance(timedelta(days=1))
    job = sim.complete_job(conversation_items=3000, **options)
    sim.faults.holds = 1
    sim.faults.hold_after_bytes = HOLD
    return job


def release_when(sim: GladlySimulator, loaded: threading.Event, then: Callable[[], None] = lambda: None):
    """Release the held file once the load took a batch (bounded waits); ``then`` first."""

    def run() -> dict[str, bool]:
        try:
            return {"held": sim.faults.holding.wait(WAIT), "loaded while held": loaded.wait(WAIT)}
        finally:
            then()
            sim.faults.release.set()

    thread, outcome = in_thread(run)
    return lambda: (thread.join(WAIT), outcome)[1]


@pytest.fixture
def items(sim: GladlySimulator, tmp_path: Path, first_batch: threading.Event) -> Items:
    """The items table with the simulator's history in it; then one new job, held back."""
    table = Items(sim, tmp_path / "w.duckdb")
    table.synced()
    first_batch.clear()
    return table


def test_the_load_starts_before_the_download_ends(sim, items: Items, first_batch: threading.Event) -> None:
    job = new_job(sim)
    released = release_when(sim, first_batch)
    outcome = items.synced()
    assert released() == {"result": {"held": True, "loaded while held": True}}
    assert [applied.id for applied, _ in outcome.applied] == [job["id"]]
    assert outcome.bytes_downloaded == len(sim.file_bytes(job["id"], ITEMS.file_name))
    assert set(vars(outcome.timings[job["id"]])) == {"download", "parse", "insert", "merge", "commit", "total"}
    assert_items_exactly_once(sim, items.db)


@pytest.mark.parametrize("ranges", [False, True])
def test_a_transfer_broken_after_part_of_the_file_was_loaded(
    sim, items: Items, first_batch: threading.Event, caplog: pytest.LogCaptureFixture, ranges: bool
) -> None:
    """Without ranges (Gladly documents none) the file comes again from its first byte: the
    partial load is rolled back and the complete file loaded. With ranges it resumes."""
    sim.ranges = ranges
    job = new_job(sim)
    sim.faults.resets = 1
    sim.faults.reset_after_bytes = 700_000
    released = release_when(sim, first_batch)
    sim.clear_log()
    with caplog.at_level(logging.INFO, logger=LOG.name):
        outcome = items.synced()
    assert released() == {"result": {"held": True, "loaded while held": True}}
    statuses = [r.status for r in requests_to(sim, f"{job['id']}/files/{ITEMS.file_name}")]
    assert statuses == ([200, 206] if ranges else [200, 200])
    reloaded = "again from its first byte" in caplog.text
    assert reloaded is not ranges
    assert [applied.id for applied, _ in outcome.applied] == [job["id"]]
    assert_items_exactly_once(sim, items.db)


def _echo(sim: GladlySimulator) -> dict[str, Any]:
    basic = base64.b64encode(f"{sim.agent_email}:{sim.api_token}".encode()).decode()
    echo = {"id": "echo", "request": f"Authorization: Basic {basic}"}
    name = ITEMS.file_name
    return {"mutate": lambda file, records: [*records[:2000], echo, *records[2000:]] if file == name else records}


@pytest.mark.parametrize(
    ("job_options", "settings", "error"),
    [
        (_echo, {}, GladlyEchoedCredentials),  # the echo comes after HOLD
        (lambda sim: {}, {"max_file_bytes": 800_000}, GladlyLimitExceeded),
    ],
    ids=["echoed credentials", "over max_file_bytes"],
)
def test_a_body_refused_after_part_of_it_was_loaded_changes_nothing(
    sim, items: Items, first_batch: threading.Event, tmp_path: Path, job_options, settings, error
) -> None:
    items.gladly = gladly_resource(sim, **settings)
    job = new_job(sim, **job_options(sim))
    released = release_when(sim, first_batch)
    with opened(items.db) as warehouse:
        before = rows(warehouse)
        with pytest.raises(error) as raised:
            items.sync(warehouse)
        assert rows(warehouse) == before
        assert work_tables(warehouse) == []
    assert released() == {"result": {"held": True, "loaded while held": True}}
    assert items.sync_run.outcome.applied == []
    assert items.sync_run.outcome.cursor == items.sync_run.plan.start
    # The same error a download on its own raises.
    with pytest.raises(error) as alone:
        items.gladly.download_file(job["id"], ITEMS.file_name, tmp_path / "alone.jsonl")
    assert str(raised.value) == str(alone.value)


def test_a_job_expiring_after_part_of_it_was_loaded_is_reported_lost(
    sim, items: Items, first_batch: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    doomed = new_job(sim)
    sim.faults.resets = 1
    sim.faults.reset_after_bytes = 700_000  # and the next request finds the job gone
    sim.advance(timedelta(days=1))
    survivor = sim.complete_job()

    def expire() -> None:
        sim.faults.expire_on_download = 1

    released = release_when(sim, first_batch, then=expire)
    with caplog.at_level(logging.INFO, logger=LOG.name):
        outcome = items.synced()
    assert released() == {"result": {"held": True, "loaded while held": True}}
    assert [expired.id for expired in outcome.expired] == [doomed["id"]]
    assert [applied.id for applied, _ in outcome.applied] == [survivor["id"]]
    assert "its rows are lost" in caplog.text
    (lost,) = outcome.lost
    window = doomed["parameters"]
    assert [lost.start, lost.end] == [parse_instant(window[k]) for k in ("startAt", "endAt")]
    assert doomed["id"] in lost.reason and "expired" in lost.reason
    assert_items_exactly_once(sim, items.db)  # the history and the survivor: none of the doomed job


def new_threads(before: set[threading.Thread]) -> list[str]:
    """The download and parse threads started since ``before`` that still run."""
    return [t.name for t in set(threading.enumerate()) - before if t.name.startswith(("gladly-download", "jsonl"))]


def test_a_failing_load_stops_the_download(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = Items(sim, tmp_path / "w.duckdb")
    items.synced()
    read_batches = gladly_assets.sync.read_batches

    def failing(source: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for batch in read_batches(source, batch_bytes=BATCH):
            yield batch
            raise ValueError("the load failed")

    monkeypatch.setattr(gladly_assets.sync, "read_batches", failing)
    job = new_job(sim)  # never released
    threads = set(threading.enumerate())
    with opened(items.db) as warehouse:
        before = rows(warehouse)
        with pytest.raises(ValueError, match="the load failed"):
            items.sync(warehouse)
        assert rows(warehouse) == before
    assert new_threads(threads) == []
    (record,) = requests_to(sim, f"{job['id']}/files/{ITEMS.file_name}")
    assert not record.complete  # the client hung up on the held answer


def test_an_interrupt_during_the_download_stops_it_and_changes_nothing(
    sim, items: Items, first_batch: threading.Event
) -> None:
    job = new_job(sim)  # never released
    # Past the batches read ahead of the first, short of one more: once the first is taken,
    # the reader waits for bytes.
    sim.faults.hold_after_bytes = (PARSE_WORKERS + QUEUED_BATCHES + 1) * BATCH + BATCH // 2
    main = threading.main_thread()

    def interrupt() -> None:
        if sim.faults.holding.wait(WAIT) and first_batch.wait(WAIT):
            signal.pthread_kill(main.ident, signal.SIGINT)

    handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # the main thread's KeyboardInterrupt
    threads = set(threading.enumerate())
    try:
        interrupter, _ = in_thread(interrupt)
        with opened(items.db) as warehouse:
            before = rows(warehouse)
            with pytest.raises(KeyboardInterrupt):
                items.sync(warehouse)
            assert rows(warehouse) == before
            assert work_tables(warehouse) == []
        interrupter.join(WAIT)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert new_threads(threads - {interrupter}) == []
    (record,) = requests_to(sim, f"{job['id']}/files/{ITEMS.file_name}")
    assert not record.complete and not sim.faults.release.is_set()


def test_when_the_load_fails_after_the_download_did_both_errors_are_told(
    sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = Items(sim, tmp_path / "w.duckdb")
    items.synced()
    read_batches = gladly_assets.sync.read_batches
    taken = threading.Event()

    def failing(source: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for batch in read_batches(source, batch_bytes=BATCH):
            yield batch
            taken.set()
            # The download is refused meanwhile (bounded wait); then the load fails on its own.
            deadline = time.monotonic() + WAIT
            while not source.ended and time.monotonic() < deadline:
                time.sleep(0.01)
            raise ValueError("the load failed")

    monkeypatch.setattr(gladly_assets.sync, "read_batches", failing)
    new_job(sim, **_echo(sim))
    released = release_when(sim, taken)
    with opened(items.db) as warehouse:
        before = rows(warehouse)
        with pytest.raises(ValueError, match="the load failed") as raised:
            items.sync(warehouse)
        assert rows(warehouse) == before
    assert released() == {"result": {"held": True, "loaded while held": True}}
    assert any("the download failed too: GladlyEchoedCredentials" in note for note in raised.value.__notes__)
