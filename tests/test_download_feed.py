"""DownloadFeed: a file read while it downloads. A reader gets exactly the bytes the writer
published, in order, or an error saying they are void; nothing else."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gladly_assets.download_feed import (
    DownloadCancelled,
    DownloadFailed,
    DownloadFeed,
    DownloadRestarted,
)
from gladly_assets.load.jsonl import PARSE_WORKERS, QUEUED_BATCHES, read_batches

WAIT = 30  # seconds: a bound on waits for threads, never reached when the code works


def in_thread(target) -> tuple[threading.Thread, dict]:
    """Run ``target`` in a thread; its result or exception lands in the returned dict."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def read_all(feed: DownloadFeed, size: int, got: list[bytes] | None = None) -> bytes:
    got = [] if got is None else got
    with feed.open() as reader:
        while piece := reader.read(size):
            got.append(piece)
            if len(piece) < size:
                break
    return b"".join(got)


def write(path: Path, data: bytes, mode: str = "r+b") -> None:
    with open(path, mode) as out:
        out.write(data)


def published(tmp_path: Path, data: bytes, end: int | None = None) -> tuple[Path, DownloadFeed]:
    """A part file holding ``data``, and a feed that published its first ``end`` bytes (all)."""
    path = tmp_path / "f.part"
    write(path, data, "wb")
    feed = DownloadFeed()
    feed.publish(path, len(data) if end is None else end)
    return path, feed


# ---- one writer, one reader: what the resource and the loader do ----------------------------


@st.composite
def downloads(draw: st.DrawFn) -> tuple[list[tuple[str, bytes]], int]:
    """A download as the writer's steps: ("append", bytes) published at once, ("restart", b""),
    or ("settle", b""): wait until the reader has read what it can."""
    steps = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("append"), st.binary(min_size=1, max_size=300)),
                st.tuples(st.sampled_from(["restart", "settle"]), st.just(b"")),
            ),
            max_size=12,
        )
    )
    return steps, draw(st.integers(1, 200))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(download=downloads())
def test_a_reader_gets_the_final_file_or_learns_it_was_restarted(tmp_path: Path, download) -> None:
    steps, read_size = download
    path = tmp_path / "f.jsonl.part"
    path.write_bytes(b"")
    feed = DownloadFeed()
    got: list[bytes] = []
    reader, outcome = in_thread(lambda: read_all(feed, read_size, got))
    content = b""
    restarted_after_reading = False
    for kind, data in steps:
        if kind == "settle":
            readable = len(content) // read_size * read_size  # whole reads only, until the end
            deadline = time.monotonic() + WAIT
            while reader.is_alive() and sum(map(len, got)) < readable and time.monotonic() < deadline:
                time.sleep(0.001)
        elif kind == "restart":
            restarted_after_reading |= bool(got)
            feed.restart()  # before the file is truncated, as the resource does
            path.write_bytes(b"")
            content = b""
        else:
            write(path, data, "ab")
            content += data
            feed.publish(path, len(content))
    feed.finish(path, len(content))
    reader.join(WAIT)
    feed.close()
    assert not reader.is_alive()
    if "error" in outcome:
        assert isinstance(outcome["error"], DownloadRestarted)
        assert any(kind == "restart" for kind, _ in steps)
    else:
        assert outcome["result"] == content
    event(f"restarted after reading: {restarted_after_reading}; reader failed: {'error' in outcome}")
    if restarted_after_reading:  # what it had read is void: it must not go on as if not
        assert "error" in outcome


def test_bytes_past_the_published_end_are_never_read(tmp_path: Path) -> None:
    path, feed = published(tmp_path, b"0123456789", 4)
    reader, outcome = in_thread(lambda: read_all(feed, 3))
    reader.join(0.3)
    assert reader.is_alive()  # 3 bytes read, then it waits for the next 3
    feed.publish(path, 7)
    reader.join(0.3)
    assert reader.is_alive()
    feed.finish(path, 8)  # the download ended at 8 bytes, whatever else the file holds
    reader.join(WAIT)
    assert outcome == {"result": b"01234567"}
    feed.close()


def test_a_restart_before_anything_was_read_is_no_error(tmp_path: Path) -> None:
    path, feed = published(tmp_path, b"old bytes")
    feed.restart()
    write(path, b"new", "wb")
    feed.finish(path, 3)
    assert read_all(feed, 100) == b"new"
    feed.close()


def test_a_failure_reaches_a_waiting_reader(tmp_path: Path) -> None:
    path, feed = published(tmp_path, b"abc")
    reader, outcome = in_thread(lambda: read_all(feed, 2))
    reader.join(0.2)
    assert reader.is_alive()
    error = ValueError("the server went away")
    feed.fail(error)
    reader.join(WAIT)
    assert isinstance(outcome["error"], DownloadFailed)
    assert feed.error is error and feed.ended
    feed.finish(path, 3)  # the first end wins
    assert feed.error is error
    feed.close()


def test_wait_readable_says_whether_the_download_failed_before_any_byte(tmp_path: Path) -> None:
    failed = DownloadFeed()
    waiter, outcome = in_thread(failed.wait_readable)
    failed.fail(RuntimeError("404"))
    waiter.join(WAIT)
    assert outcome == {"result": False}

    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    finished = DownloadFeed()
    finished.finish(empty, 0)  # an empty export: readable, and read as nothing
    assert finished.wait_readable()
    assert read_all(finished, 10) == b""
    finished.close()


def test_the_file_is_read_after_a_rename(tmp_path: Path) -> None:
    part, dest = tmp_path / "f.part", tmp_path / "f"
    write(part, b"line one\nline two\n", "wb")
    feed = DownloadFeed()
    feed.publish(part, 9)
    part.rename(dest)  # what download_file does once the file is complete
    feed.finish(dest, 18)
    assert read_all(feed, 5) == b"line one\nline two\n"
    feed.close()


def test_cancel_cuts_pauses_and_calls_the_hooks_in_force() -> None:
    feed = DownloadFeed()
    cut: list[str] = []
    with feed.cancels(lambda: cut.append("socket")):
        pauser, outcome = in_thread(lambda: feed.pause(600))
        feed.cancel()
        pauser.join(WAIT)
    assert isinstance(outcome["error"], DownloadCancelled)
    assert cut == ["socket"]
    with feed.cancels(lambda: cut.append("late")):  # already cancelled: called at once
        pass
    assert cut == ["socket", "late"] and feed.cancelled


def test_progress_is_forwarded_and_the_announced_size_kept() -> None:
    calls: list[tuple[int, int | None]] = []
    feed = DownloadFeed(lambda done, total: calls.append((done, total)))
    feed(10, 100)
    feed(100, 100)
    assert calls == [(10, 100), (100, 100)] and feed.expected == 100


@pytest.mark.parametrize("overlong", [False, True], ids=["short-lines", "with-overlong-lines"])
def test_read_batches_of_a_growing_file_are_those_of_the_complete_file(tmp_path: Path, overlong: bool) -> None:
    # Lines past max_line_bytes (every 500th, when asked) are read past as the bytes arrive.
    lines = [
        f'{{"id": "{i}", "text": "{"x" * (20_000 if overlong and i % 500 == 7 else i % 50)}"}}\n'.encode()
        for i in range(3000)
    ]
    body = b"".join(lines)
    complete = tmp_path / "complete.jsonl"
    complete.write_bytes(body)
    part = tmp_path / "growing.jsonl.part"
    part.write_bytes(b"")
    feed = DownloadFeed()

    def grow() -> None:
        for start in range(0, len(body), 7001):  # pieces that cut lines anywhere
            write(part, body[start : start + 7001], "ab")
            feed.publish(part, min(start + 7001, len(body)))
        feed.finish(part, len(body))

    writer, _ = in_thread(grow)
    limit = 16_384

    def read(source: Path | DownloadFeed) -> list:
        return [
            (b.first_line, b.line_count, b.byte_count, b.rejected, b.frame)
            for b in read_batches(source, batch_bytes=8192, max_line_bytes=limit)
        ]

    growing = read(feed)
    writer.join(WAIT)
    feed.close()
    expected = read(complete)
    assert len(growing) == len(expected) > 10
    assert sum(len(rejected) for _, _, _, rejected, _ in expected) == (6 if overlong else 0)
    for (*ours, frame), (*theirs, reference) in zip(growing, expected, strict=True):
        assert ours == theirs
        assert frame.equals(reference)


def test_read_batches_raise_when_the_download_fails_midway(tmp_path: Path) -> None:
    # Enough for the read-ahead (every batch parsed or queued, and the one yielded) and more.
    ahead = (PARSE_WORKERS + QUEUED_BATCHES + 2) * 4096
    body = b"".join(b'{"id": "%d"}\n' % i for i in range(ahead // 4))
    assert len(body) > ahead
    _, feed = published(tmp_path, body[:ahead])
    batches = read_batches(feed, batch_bytes=4096)
    assert next(batches).first_line == 1  # read while the download goes on
    feed.fail(ConnectionError("reset"))
    with pytest.raises(DownloadFailed):
        list(batches)
    feed.close()
