"""Faults the simulator injects on demand: 429 bursts, 5xx, resets, stalls, expiry, and a
hostile server's answers (echoed credentials, HTML pages, hostile jobs, compression bombs,
endless, dripping and short bodies).

Every fault is a countdown: a test sets, say, ``sim.faults.server_errors = [500, 502]``
and the next two matching requests get those statuses, then the fault is spent.
Tests assign fields directly from their thread while server threads consume
them, so consumption happens under a lock (``take_*``).

Data-level faults (malformed lines, schema drift, late or duplicate jobs) are
options of ``GladlySimulator.complete_job`` instead.
"""

from __future__ import annotations

import itertools
import json
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

APPLIES_TO = ("any", "files", "list", "reports")
# What report requests answer, with 200, instead of their CSV (``report_bodies``).
REPORT_BODIES = ("html", "json", "text")


def hostile_jobs() -> list[object]:
    """Job objects no real Gladly sends: ids that are paths, hold NUL or a line break, are too
    long or not text; dates out of range or unreadable; a job dated far in the future (which
    parses fine); a files field that is not a list; something that is not a job object."""
    good = {"status": "COMPLETED", "updatedAt": "2026-01-01T00:00:00.000Z", "files": ["customers.jsonl"]}
    return [
        {**good, "id": "../../outside"},
        {**good, "id": "/etc/passwd"},
        {**good, "id": ".."},
        {**good, "id": "nul\x00byte"},
        {**good, "id": "line\nbreak"},
        {**good, "id": "x" * 300},
        {**good, "id": 12345},
        {**good, "id": {"nested": True}},
        {**good, "id": "year-99999", "updatedAt": "99999-01-01T00:00:00Z"},
        {**good, "id": "past-datetime-max", "updatedAt": "9999-12-31T23:59:59-05:00"},
        {**good, "id": "not-a-date", "updatedAt": "yesterday"},
        {**good, "id": "bad-window", "parameters": {"startAt": "0000-01-01T00:00:00Z", "endAt": 7}},
        {**good, "id": "files-not-a-list", "files": "customers.jsonl"},
        {**good, "id": "status-not-text", "status": ["COMPLETED"]},
        {**good, "id": "hostile-future-2099", "updatedAt": "2099-01-01T00:00:00.000Z"},
        "not a job",
    ]


@dataclass(frozen=True)
class Answer:
    """A whole answer a fault sends instead of the real one (``Handler._send_answer``)."""

    status: int
    content_type: str | None
    body: Iterable[bytes]
    length: int | None  # the Content-Length sent; None: none, the connection closes after the body
    headers: Mapping[str, str] = field(default_factory=dict)
    drip_seconds: float = 0.0  # if set, the body goes out one byte at a time, this far apart


def _header_lines(headers: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{name}: {value}" for name, value in headers]


@lru_cache(maxsize=4)
def _gzip_bomb(size: int) -> bytes:
    """A gzip stream of ``size`` bytes of newlines: about a thousandth of that on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: with a gzip header
    block = b"\n" * (1 << 20)
    pieces = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join([*pieces, compressor.compress(b"\n" * (size % len(block))), compressor.flush()])


def _endless(is_file: bool, is_report: bool = False) -> Iterator[bytes]:
    if is_report:
        return itertools.chain([b"Timezone Filter,Endless\n"], itertools.repeat(b"UTC,again\n" * 1000))
    line = b'{"id": "endless", "name": "again"}\n'
    if is_file:
        return itertools.repeat(line * 1000)
    return itertools.chain([b"["], itertools.repeat(b'{"id": "endless"},' * 1000))


def _content_type(is_file: bool, is_report: bool) -> str:
    if is_report:
        return "text/csv; charset=utf-8"
    return "application/x-ndjson" if is_file else "application/json"


@dataclass
class Faults:
    # Which requests the countdowns of rate_limit_burst, server_errors and stalls hit:
    # "any" request, only "files" (GET .../files/{name}), only "list", meaning
    # every request that is not a file download (job list, job, schedules, agents,
    # topics, reports), or only "reports" (POST /reports...).
    applies_to: str = "any"
    # The next N matching requests are answered 429 (on top of the real rate limiter).
    rate_limit_burst: int = 0
    # Retry-After header on those 429s, in seconds (fractions allowed, e.g. "0.05");
    # None leaves the header out, as Gladly's documentation is silent about it.
    retry_after: float | None = None
    # Statuses for the next matching requests, one each, in order (e.g. [500, 502, 503]).
    server_errors: list[int] = field(default_factory=list)
    # The next `resets` file downloads send their headers (full Content-Length), then
    # `reset_after_bytes` bytes of the body (None means 0), then drop the connection (RST).
    # With applies_to="reports", report CSVs are cut instead.
    reset_after_bytes: int | None = None
    resets: int = 0
    # The next `stalls` matching requests send their headers, then wait `stall_seconds`
    # before the body: a client's read timeout must trip.
    stall_seconds: float = 0.0
    stalls: int = 0
    # The next N file downloads answer 404 and their job is gone from then on:
    # it expired between the listing and the download.
    expire_on_download: int = 0

    # The next `holds` file downloads send `hold_after_bytes` of their body (all of it if it is
    # shorter), then wait until `release` is set before the rest: a body whose tail arrives
    # when the test says. `holding` is set once one waits; a client that hangs up, or the
    # simulator stopping, ends the wait (and the answer).
    holds: int = 0
    hold_after_bytes: int = 0
    release: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    holding: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    # ---- a hostile server (or proxy) ----
    # Statuses for the next matching requests, one each, whose error bodies echo the request's
    # headers, Authorization included, after `echo_padding` characters of filler (so that the
    # echo straddles wherever a client cuts an error message short).
    echo_errors: list[int] = field(default_factory=list)
    echo_padding: int = 250
    # The next N file downloads answer 200 application/x-ndjson with a JSONL line echoing the
    # request's headers, Authorization included.
    echo_files: int = 0
    # The next N file downloads answer 200 with a proxy's HTML page, sent as `html_content_type`
    # (None leaves Content-Type out, so only the body gives it away).
    html_files: int = 0
    html_content_type: str | None = "text/html; charset=utf-8"
    # The next N job lists also hold `hostile_jobs` (default: hostile_jobs()).
    hostile_job_lists: int = 0
    hostile_jobs: list[object] = field(default_factory=hostile_jobs)
    # The next N matching requests answer 200 with Content-Encoding: gzip, whatever the client
    # accepts, and a body that inflates to `gzip_bomb_bytes` of newlines.
    gzip_bombs: int = 0
    gzip_bomb_bytes: int = 64 << 20
    # The next N matching requests answer 200 with no Content-Length and a body that never ends
    # (JSONL lines for a file, an endless array for anything else) until the client hangs up.
    endless_bodies: int = 0
    # The next N matching requests answer 200 and send their body (`drip_bytes` of JSON
    # whitespace, then a valid ending) one byte every `drip_seconds`.
    drips: int = 0
    drip_seconds: float = 1.0
    drip_bytes: int = 1000
    # The next N file downloads send their full Content-Length, then `short_body_bytes` of the
    # body (None: half), then close the connection cleanly (FIN, not a reset).
    short_bodies: int = 0
    short_body_bytes: int | None = None
    # The next report requests, one each, answer 200 with this body instead of a CSV:
    # "html" (a sign-in page), "json" (a status object) or "text" ("Unexpected error occurred").
    report_bodies: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        if name == "applies_to" and value not in APPLIES_TO:
            raise ValueError(f"applies_to must be one of {APPLIES_TO}, not {value!r}")
        if name == "report_bodies" and not (isinstance(value, list) and set(value) <= set(REPORT_BODIES)):
            raise ValueError(f"report_bodies take {REPORT_BODIES}, not {value!r}")
        super().__setattr__(name, value)

    def _matches(self, is_file: bool, is_report: bool = False) -> bool:
        if self.applies_to == "reports":
            return is_report
        return self.applies_to == "any" or (self.applies_to == "files") == is_file

    def take_rate_limit(self, is_file: bool, is_report: bool = False) -> bool:
        with self._lock:
            if self.rate_limit_burst > 0 and self._matches(is_file, is_report):
                self.rate_limit_burst -= 1
                return True
            return False

    def take_server_error(self, is_file: bool, is_report: bool = False) -> int | None:
        with self._lock:
            if self.server_errors and self._matches(is_file, is_report):
                status, *self.server_errors = self.server_errors
                return int(status)
            return None

    def take_stall(self, is_file: bool, is_report: bool = False) -> float:
        with self._lock:
            if self.stalls > 0 and self.stall_seconds > 0 and self._matches(is_file, is_report):
                self.stalls -= 1
                return float(self.stall_seconds)
            return 0.0

    # Resets and expiry only make sense for downloads: applies_to gates them only between
    # files (any setting but "reports") and report CSVs ("reports").

    def take_reset(self, is_report: bool = False) -> int | None:
        with self._lock:
            if self.resets > 0 and (self.applies_to == "reports") == is_report:
                self.resets -= 1
                return max(0, self.reset_after_bytes or 0)
            return None

    def take_expire(self) -> bool:
        with self._lock:
            if self.expire_on_download > 0:
                self.expire_on_download -= 1
                return True
            return False

    def take_hold(self) -> int | None:
        """After how many bytes of a file to wait for ``release``, or None."""
        with self._lock:
            if self.holds > 0:
                self.holds -= 1
                return max(0, self.hold_after_bytes)
            return None

    def take_short_body(self, length: int) -> int | None:
        """How many of a file's ``length`` bytes to send before a clean close, or None."""
        with self._lock:
            if self.short_bodies > 0:
                self.short_bodies -= 1
                wanted = length // 2 if self.short_body_bytes is None else self.short_body_bytes
                return max(0, min(wanted, length - 1))
            return None

    def take_hostile_jobs(self) -> list[object]:
        """The jobs to add to this job list (none once the countdown is spent)."""
        with self._lock:
            if self.hostile_job_lists > 0:
                self.hostile_job_lists -= 1
                return list(self.hostile_jobs)
            return []

    def _answers(self, is_file: bool, is_report: bool) -> bool:
        # Hostile answers reach a report only when aimed at reports: "any" and "list" keep to
        # the export API, as they always have.
        return self.applies_to == "reports" if is_report else self._matches(is_file)

    def take_answer(self, is_file: bool, headers: Iterable[tuple[str, str]], is_report: bool = False) -> Answer | None:
        """A hostile answer due for this request (its ``headers`` as received), or None. With
        ``applies_to="reports"``, echo_errors, echo_files (a CSV echoing the headers), gzip_bombs,
        endless_bodies and drips hit report requests instead."""
        with self._lock:
            aimed = self._answers(is_file, is_report)
            # A body: a file download, or a report when faults are aimed at reports.
            body_request = is_report if self.applies_to == "reports" else is_file
            content_type = _content_type(is_file, is_report)
            if self.echo_errors and aimed:
                status, *self.echo_errors = self.echo_errors
                detail = "." * self.echo_padding + " You sent: " + "; ".join(_header_lines(headers))
                body = json.dumps({"errors": [{"attr": "", "code": "echo", "detail": detail}]}).encode()
                return Answer(int(status), "application/json", [body], len(body))
            if self.echo_files and body_request:
                self.echo_files -= 1
                if is_report:
                    echoed = json.dumps("; ".join(_header_lines(headers)))
                    body_bytes = f"Timezone Filter,Request\nUTC,{echoed}\n".encode()
                else:
                    body_bytes = json.dumps({"id": "echo", "request": _header_lines(headers)}).encode() + b"\n"
                return Answer(200, content_type, [body_bytes], len(body_bytes))
            if self.html_files and is_file:
                self.html_files -= 1
                body_bytes = b"<!DOCTYPE html><html><body><h1>Proxy login</h1><p>Sign in to continue.</p></body></html>"
                return Answer(200, self.html_content_type, [body_bytes], len(body_bytes))
            if self.gzip_bombs and aimed:
                self.gzip_bombs -= 1
                body_bytes = _gzip_bomb(self.gzip_bomb_bytes)
                return Answer(200, content_type, [body_bytes], len(body_bytes), {"Content-Encoding": "gzip"})
            if self.endless_bodies and aimed:
                self.endless_bodies -= 1
                return Answer(200, content_type, _endless(is_file, is_report), None)
            if self.drips and aimed:
                self.drips -= 1
                ending = b'{"id": "drip"}\n' if is_file else b"\n" if is_report else b"[]"
                body_bytes = b" " * self.drip_bytes + ending
                return Answer(200, content_type, [body_bytes], len(body_bytes), drip_seconds=self.drip_seconds)
            return None

    def take_report_body(self) -> str | None:
        with self._lock:
            if self.report_bodies:
                kind, *self.report_bodies = self.report_bodies
                return str(kind)
            return None

    def clear(self) -> None:
        """Cancel every pending fault."""
        with self._lock:
            self.rate_limit_burst = self.resets = self.stalls = self.expire_on_download = 0
            self.echo_files = self.html_files = self.hostile_job_lists = self.gzip_bombs = 0
            self.endless_bodies = self.drips = self.short_bodies = self.holds = 0
            self.server_errors = []
            self.echo_errors = []
            self.report_bodies = []

    @property
    def pending(self) -> bool:
        """Whether any countdown still has shots left."""
        return bool(
            self.rate_limit_burst
            or self.server_errors
            or self.resets
            or (self.stalls and self.stall_seconds)
            or self.expire_on_download
            or self.echo_errors
            or self.echo_files
            or self.html_files
            or self.hostile_job_lists
            or self.gzip_bombs
            or self.endless_bodies
            or self.drips
            or self.short_bodies
            or self.holds
            or self.report_bodies
        )
