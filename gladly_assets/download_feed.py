"""A file still downloading, readable as its bytes become final.

The resource writes the file in the download's thread and tells the feed which bytes have
passed every check it makes (``publish``), when the transfer starts the file again from its
first byte (``restart``: everything published is void), and how it ended (``finish`` or
``fail``). The loader reads the published bytes as they arrive (``open``), blocking until the
bytes it asks for are there. A reader that has read anything raises ``DownloadRestarted`` after
a restart and ``DownloadFailed`` after a failure; the owner of the download reports the
download's own error. ``cancel`` asks the download to stop (an interrupt, a failed load).

Plain threads and files: no HTTP, no Polars, no DuckDB. The type the resource, the loader and
the sync share.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

# Waits wake this often at least, so that a signal to the main thread (an interrupt) is
# handled at once wherever it waits.
_POLL_SECONDS = 0.1


class DownloadInterrupted(Exception):
    """The bytes read so far are void: the download failed or started the file again."""


class DownloadRestarted(DownloadInterrupted):
    """The download started the file again from its first byte after some of it was read."""


class DownloadFailed(DownloadInterrupted):
    """The download failed; its owner has the error it raised."""


class DownloadCancelled(Exception):
    """Raised in the download's thread once the reader cancelled it."""


class DownloadFeed:
    """One file's download as its reader sees it; safe to share between the two threads.

    It is also a progress callback ``feed(done, total)``: ``GladlyResource.download_file``
    takes it as its ``on_progress``, and forwards progress to the ``on_progress`` given here."""

    def __init__(self, on_progress: Callable[[int, int | None], None] | None = None) -> None:
        self._on_progress = on_progress
        self._changed = threading.Condition()
        self._fd: int | None = None
        self._published = 0  # bytes readable in the current generation
        self._generation = 0  # restarts so far
        self._size: int | None = None  # set once the download finished
        self._error: BaseException | None = None
        self._closed = False
        self._cancelled = threading.Event()
        self._on_cancel: list[Callable[[], None]] = []
        self.expected: int | None = None  # the size the server announced, if it did

    # ---- the writer: the download's thread ----------------------------------------------------

    def __call__(self, done: int, total: int | None) -> None:
        self.expected = total
        if self._on_progress is not None:
            self._on_progress(done, total)

    def publish(self, path: Path, end: int) -> None:
        """The first ``end`` bytes of ``path`` are final. ``path`` stays the same file until the
        download ends (it may be renamed: the feed reads through a descriptor opened here)."""
        with self._changed:
            if self._closed:
                return
            if self._fd is None:
                self._fd = os.open(path, os.O_RDONLY)
            if end > self._published:
                self._published = end
                self._changed.notify_all()

    def restart(self) -> None:
        """Everything published is void: call before the file is truncated or rewritten."""
        with self._changed:
            if self._published:
                self._published = 0
                self._generation += 1
                self._changed.notify_all()

    def finish(self, path: Path, size: int) -> None:
        """The download is complete: ``path`` holds all ``size`` bytes. The first end wins."""
        with self._changed:
            if self.ended or self._closed:
                return
            if self._fd is None:
                self._fd = os.open(path, os.O_RDONLY)
            self._published, self._size = size, size
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        """The download failed with ``error``. The first end wins."""
        with self._changed:
            if not self.ended:
                self._error = error
                self._changed.notify_all()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def pause(self, seconds: float) -> None:
        """Sleep between attempts, cut short by a cancel (``DownloadCancelled``)."""
        if self._cancelled.wait(seconds):
            raise DownloadCancelled("the download was cancelled")

    @contextmanager
    def cancels(self, stop: Callable[[], None]) -> Iterator[None]:
        """Within the block a cancel calls ``stop`` (say, to shut the attempt's socket down)."""
        with self._changed:
            self._on_cancel.append(stop)
        try:
            if self.cancelled:
                stop()
            yield
        finally:
            with self._changed:
                self._on_cancel.remove(stop)

    # ---- the reader and the owner ------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._size is not None or self._error is not None

    @property
    def error(self) -> BaseException | None:
        return self._error

    @property
    def size(self) -> int | None:
        """The file's size once the download finished."""
        return self._size

    def cancel(self) -> None:
        """Ask the download to stop; it then fails with ``DownloadCancelled``."""
        with self._changed:
            self._cancelled.set()
            stops = list(self._on_cancel)
        for stop in stops:
            stop()

    def wait_readable(self) -> bool:
        """Block until bytes can be read or the download ended: False if it failed first."""
        with self._changed:
            while not (self._published or self.ended):
                self._changed.wait(_POLL_SECONDS)
            return self._error is None

    def open(self) -> FeedReader:
        return FeedReader(self)

    def close(self) -> None:
        """Release the file (once the reader and the download are done with it)."""
        with self._changed:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _wait_for(self, end: int, generation: int | None) -> tuple[int, int]:
        """Block until the bytes up to ``end`` are published or the download finished; returns
        how far to read and the generation. ``generation``: the one the reader has read from."""
        with self._changed:
            while True:
                if self._error is not None:
                    raise DownloadFailed("the download failed") from None
                if generation is not None and generation != self._generation:
                    raise DownloadRestarted("the download started the file again from its first byte")
                if self._size is not None or self._published >= end:
                    return min(end, self._published), self._generation
                self._changed.wait(_POLL_SECONDS)

    def _read(self, offset: int, size: int) -> bytes:
        assert self._fd is not None  # set before anything is published
        pieces = []
        while size > 0:
            piece = os.pread(self._fd, size, offset)
            if not piece:
                break  # truncated by a restart: the generation check that follows says so
            pieces.append(piece)
            offset += len(piece)
            size -= len(piece)
        return b"".join(pieces)

    def _generation_now(self) -> int:
        with self._changed:
            return self._generation


class FeedReader:
    """Reads a ``DownloadFeed`` from its start like a file: ``read(n)`` returns ``n`` bytes,
    fewer only at the end of the finished download."""

    def __init__(self, feed: DownloadFeed) -> None:
        self._feed = feed
        self._position = 0
        self._generation: int | None = None  # the one read from, once anything was

    def read(self, size: int) -> bytes:
        feed = self._feed
        while True:
            end, generation = feed._wait_for(self._position + size, self._generation)
            data = feed._read(self._position, end - self._position)
            if feed._generation_now() == generation:
                break
            if self._generation is not None:  # what was read before is void
                raise DownloadRestarted("the download started the file again from its first byte")
            # Nothing read before this: read the new generation from its start.
        self._generation = generation
        self._position += len(data)
        return data

    def __enter__(self) -> FeedReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        pass
