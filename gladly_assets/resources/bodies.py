"""Reading what an untrusted server sends, within bounds: HTTP only, no Dagster.

- ``Watchdog``: a deadline for a whole attempt. httpx's timeouts count per read, so a
  server sending a byte every few seconds would hold a request for ever; the watchdog
  shuts the attempt's socket down when its time is up.
- ``Body``: a response body as pieces of at most ``PIECE`` bytes, decompressing
  gzip/deflate itself so that a small bomb never expands in one go, and counting the
  bytes on the wire and decoded. ``read_in_bigger_pieces`` lets httpcore read that much.
- ``not_jsonl``: why the start of a file is not a JSONL export (an HTML page, a JSON
  array or error object), or None.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpcore
import httpx

PIECE = 1 << 20
# Media types a file may come as besides the JSON family (which includes x-ndjson, jsonl,
# and +json): plain text, generic bytes (object stores), or none. A proxy's text/html page,
# XML, images and the like are refused.
_OTHER_FILE_TYPES = frozenset({"text/plain", "application/octet-stream", "binary/octet-stream"})
_ENCODINGS = {"": None, "identity": None, "gzip": 47, "x-gzip": 47, "deflate": 47}  # 47: gzip or zlib header


class DeadlineExceeded(httpx.TimeoutException):
    """The attempt's watchdog fired: retried like any timeout."""


class Watchdog:
    """Shuts down the sockets an attempt opens once ``seconds`` have passed.

    Pass ``watchdog.trace`` as the request's ``trace`` extension: httpcore reports every
    connection it opens (TCP, then TLS) through it. Connections are not kept alive, so
    every attempt opens its own and the watchdog can always reach it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.cancel()

    def cancel(self) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is None:
                return
            with self._lock:
                self._sockets.append(sock)
                expired = self.expired
            if expired:
                _shut(sock)

    def expire(self) -> None:
        """Cut the attempt now (its time is up, or the download was cancelled)."""
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # shutdown, not close: it wakes a recv blocked in another thread. A socket that TLS
    # took over (detached) or one already closed raises OSError: nothing left to wake.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def read_in_bigger_pieces() -> None:
    """Have httpcore read a body up to ``PIECE`` bytes at a time, not 64 KiB.

    Each read passes through httpcore, h11 and httpx in Python: over an export file of
    hundreds of MB, 64 KiB reads cost much more CPU than 1 MiB ones, and take the GIL
    the load's parse threads share that many more times. httpcore has no setting for it, so its
    class attribute is raised, for the whole process; larger reads change nothing else (a read
    returns what has arrived, however small)."""
    connection = httpcore.HTTP11Connection
    if getattr(connection, "READ_NUM_BYTES", PIECE) < PIECE:
        connection.READ_NUM_BYTES = PIECE


class UndecodableBody(ValueError):
    """The body's Content-Encoding is unknown, or its compressed stream is broken."""


class Body:
    """Iterate a streamed response's body as decoded pieces; ``wire`` and ``decoded`` count bytes."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.encoding = response.headers.get("content-encoding", "").strip().lower()
        if self.encoding not in _ENCODINGS:
            raise UndecodableBody(f"Content-Encoding {self.encoding!r} is not one this client asked for")
        self._wbits = _ENCODINGS[self.encoding]
        self.compressed = self._wbits is not None
        self._inflater = None if self._wbits is None else zlib.decompressobj(self._wbits)
        self.wire = 0
        self.decoded = 0

    def __iter__(self) -> Iterator[bytes]:
        if self._response.is_stream_consumed:  # read already (a test's in-memory answer): decoded by httpx
            content = self._response.content
            self.wire = self.decoded = len(content)
            yield content
            return
        for raw in self._response.iter_raw():
            self.wire += len(raw)
            if self._inflater is None:
                self.decoded += len(raw)
                yield raw
                continue
            try:
                yield from self._inflate(raw)
            except zlib.error as error:
                raise UndecodableBody(f"its {self.encoding} stream is broken ({error})") from None
        if self._inflater is not None:
            tail = self._inflater.flush()
            self.decoded += len(tail)
            if tail:
                yield tail

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        assert self._inflater is not None and self._wbits is not None
        while True:
            piece = self._inflater.decompress(data, PIECE)
            data = self._inflater.unconsumed_tail
            if self._inflater.eof and self._inflater.unused_data[:2] == b"\x1f\x8b":  # another gzip member
                data, self._inflater = self._inflater.unused_data, zlib.decompressobj(self._wbits)
            if piece:
                self.decoded += len(piece)
                yield piece
            if not data and len(piece) < PIECE:
                return


def read_head(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` decoded bytes of a body (an error page): the rest is left unread."""
    head = bytearray()
    with contextlib.suppress(UndecodableBody, httpx.HTTPError):
        for piece in Body(response):
            head += piece[: limit - len(head)]
            if len(head) >= limit:
                break
    return bytes(head)


def file_type_refused(content_type: str | None) -> bool:
    """Whether a file sent with this Content-Type cannot be a JSONL export."""
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return bool(media) and "json" not in media and media not in _OTHER_FILE_TYPES


def not_jsonl(head: bytes) -> str | None:
    """Why a file starting with ``head`` is not a JSONL export, or None if it may be one.

    Only what no export line can be is refused: markup, a JSON array, an error object. A
    first line that is merely broken is the loader's business (it quarantines it)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] == b"<" and (text[1:2].isalpha() or text[1:2] in (b"!", b"?")):
        return "it starts like an HTML or XML page"
    first = text.split(b"\n", 1)[0]
    if first[:1] not in (b"[", b"{"):
        return None
    try:
        value = json.loads(first)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list):
        return "its first line is a JSON array, not one object per line"
    if isinstance(value, dict) and "id" not in value and value.keys() & {"errors", "error"}:
        return "its first line is an error object, not a record"
    return None
