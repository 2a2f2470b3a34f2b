"""GladlyResource.download_file with a DownloadFeed, over real HTTP to the simulator: a reader
gets the file's bytes while it downloads, but only bytes that passed every check; a restart
voids them, and a cancel stops the download at once."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gladly_assets.download_feed import DownloadCancelled, DownloadFailed, DownloadFeed, DownloadRestarted
from gladly_assets.errors import GladlyEchoedCredentials, GladlyNotJsonl
from gladly_assets.resources import GladlyResource
from gladly_assets.simulator import GladlySimulator

from .test_download_feed import WAIT, in_thread
from .test_gladly_resource import requests_to, scripted

MakeGladly = Callable[..., GladlyResource]
ITEMS = "conversation_items.jsonl"
PIECE = 16 * 1024  # the test reader's reads


class Reader:
    """Reads a feed in a thread of its own, keeping what it got and how it ended: ``first``
    bytes at once, then ``piece`` at a time."""

    def __init__(self, feed: DownloadFeed, piece: int = 16 * 1024, first: int | None = None) -> None:
        self.got = bytearray()
        self.progress = threading.Condition()
        self.thread, self.outcome = in_thread(lambda: self._read(feed, piece, first or piece))

    def _read(self, feed: DownloadFeed, piece: int, size: int) -> bytes:
        with feed.open() as source:
            while data := source.read(size):
                with self.progress:
                    self.got += data
                    self.progress.notify_all()
                if len(data) < size:
                    break
                size = piece
        return bytes(self.got)

    def wait_for(self, size: int, timeout: float = WAIT) -> bool:
        """Whether the reader got ``size`` bytes within ``timeout``."""
        with self.progress:
            return self.progress.wait_for(lambda: len(self.got) >= size, timeout=timeout)

    def end(self) -> dict:
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        return self.outcome


def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def download(gladly: GladlyResource, job_id: str, dest: Path, feed: DownloadFeed) -> tuple[threading.Thread, dict]:
    return in_thread(lambda: gladly.download_file(job_id, ITEMS, dest, on_progress=feed))


def held_job(sim: GladlySimulator, hold_after: int, **options) -> tuple[str, bytes]:
    """A job whose items file (about 1.2 MB) stops after ``hold_after`` bytes until released."""
    job = sim.complete_job(conversation_items=3000, **options)
    body = sim.file_bytes(job["id"], ITEMS)
    sim.faults.holds = 1
    sim.faults.hold_after_bytes = hold_after
    return job["id"], body


def test_the_file_is_read_while_it_downloads(make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path):
    job_id, body = held_job(simulator, hold_after=400_000)
    feed = DownloadFeed()
    reader = Reader(feed)
    downloading, result = download(make_gladly(), job_id, tmp_path / ITEMS, feed)
    try:
        # Much of the head is read while the server holds the rest back.
        assert reader.wait_for(256 * 1024), "nothing was published before the download ended"
        assert simulator.faults.holding.is_set() and downloading.is_alive()
    finally:
        simulator.faults.release.set()
    assert reader.end() == {"result": body}
    downloading.join(WAIT)
    assert result == {"result": len(body)}
    assert (tmp_path / ITEMS).read_bytes() == body
    feed.close()


def test_nothing_of_an_echo_is_published(make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path):
    basic = base64.b64encode(f"{simulator.agent_email}:{simulator.api_token}".encode())
    echo = {"id": "echo", "request": f"Authorization: Basic {basic.decode()}"}
    job = simulator.complete_job(
        conversation_items=3000,
        mutate=lambda name, rows: [*rows[:2000], echo, *rows[2000:]] if name == ITEMS else rows,
    )
    body = simulator.file_bytes(job["id"], ITEMS)
    echo_starts = body.index(basic)
    # The server holds back the echo's second half: its first half is on disk meanwhile.
    simulator.faults.holds = 1
    simulator.faults.hold_after_bytes = echo_starts + len(basic) // 2
    feed = DownloadFeed()
    reader = Reader(feed, piece=1, first=echo_starts - 1000)  # then byte by byte, as far as it may
    downloading, result = download(make_gladly(), job["id"], tmp_path / ITEMS, feed)
    try:
        # Published: what arrived, but the last len(basic) - 1 bytes (an echo may start there).
        assert reader.wait_for(simulator.faults.hold_after_bytes - (len(basic) - 1))
        assert not reader.wait_for(echo_starts + 1, timeout=0.5), "the first byte of an echo was published"
    finally:
        simulator.faults.release.set()
    assert isinstance(reader.end()["error"], DownloadFailed)
    downloading.join(WAIT)
    assert isinstance(result["error"], GladlyEchoedCredentials)
    assert feed.error is result["error"]
    assert bytes(reader.got) == body[: len(reader.got)] and len(reader.got) <= echo_starts
    assert list(tmp_path.iterdir()) == []
    feed.close()


def test_a_body_that_does_not_start_like_jsonl_is_never_published(tmp_path: Path) -> None:
    page = b"<html><body>" + b"<p>Sign in to continue.</p>" * 10_000 + b"</body></html>"
    gladly, _ = scripted([lambda r: httpx.Response(200, headers={"Content-Length": str(len(page))}, content=page)])
    feed = DownloadFeed()
    reader = Reader(feed)
    with pytest.raises(GladlyNotJsonl, match="HTML"):
        gladly.download_file("job", "f.jsonl", tmp_path / "f.jsonl", on_progress=feed)
    assert isinstance(reader.end()["error"], DownloadFailed)
    assert reader.got == b""
    feed.close()


@pytest.mark.parametrize("ranges", [False, True])
def test_a_transfer_broken_after_bytes_were_read(
    make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path, ranges: bool
) -> None:
    """A server without ranges (Gladly documents none) sends the file again from its first
    byte: what was read is void. With ranges the download resumes and the reader reads on."""
    simulator.ranges = ranges
    job_id, body = held_job(simulator, hold_after=400_000)
    simulator.faults.resets = 1
    simulator.faults.reset_after_bytes = 700_000
    feed = DownloadFeed()
    reader = Reader(feed)
    downloading, result = download(make_gladly(), job_id, tmp_path / ITEMS, feed)
    try:
        assert reader.wait_for(256 * 1024)
    finally:
        simulator.faults.release.set()
    ended = reader.end()
    downloading.join(WAIT)
    assert result == {"result": len(body)}
    assert (tmp_path / ITEMS).read_bytes() == body
    statuses = [r.status for r in requests_to(simulator, f"/files/{ITEMS}")]
    if ranges:
        assert statuses == [200, 206]
        assert ended == {"result": body}
    else:
        assert statuses == [200, 200]
        assert isinstance(ended["error"], DownloadRestarted)
    feed.close()


def test_a_cancel_stops_a_held_download_at_once(
    make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path
) -> None:
    job_id, _ = held_job(simulator, hold_after=400_000)  # and never released
    feed = DownloadFeed()
    downloading, result = download(make_gladly(), job_id, tmp_path / ITEMS, feed)
    assert simulator.faults.holding.wait(WAIT)
    feed.cancel()
    downloading.join(WAIT)
    assert not downloading.is_alive()
    assert isinstance(result["error"], DownloadCancelled)
    assert feed.error is result["error"]
    assert list(tmp_path.iterdir()) == []
    # The client hung up: the server saw its answer cut short (it had not been released).
    (record,) = requests_to(simulator, f"/files/{ITEMS}")
    assert not record.complete and not simulator.faults.release.is_set()
    feed.close()


def test_a_cancel_cuts_a_retry_wait_short(make_gladly: MakeGladly, simulator: GladlySimulator, tmp_path: Path):
    job = simulator.jobs()[-1]
    simulator.faults.applies_to = "files"
    simulator.faults.rate_limit_burst = 1
    simulator.faults.retry_after = 600  # honoured: max_retry_after_seconds is 600 by default
    feed = DownloadFeed()
    downloading, result = download(make_gladly(), job["id"], tmp_path / ITEMS, feed)
    assert eventually(lambda: bool(requests_to(simulator, f"/files/{ITEMS}")))  # the 429: the client waits
    feed.cancel()
    downloading.join(WAIT)
    assert isinstance(result["error"], DownloadCancelled)
    assert [r.status for r in requests_to(simulator, f"/files/{ITEMS}")] == [429]
    feed.close()
