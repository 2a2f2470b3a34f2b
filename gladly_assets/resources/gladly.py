"""GladlyResource: the one place that talks HTTP to Gladly's Export API.

Auth, the organization's host, retries (tenacity), streamed and resumable file
downloads, limits on what a server may send, and keeping the API token out of every
log line, message and repr. Every byte from the server is untrusted: bodies are read
in bounded pieces (decompression included), each attempt has a deadline, and text
from a response is redacted before it is cut short or shown.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import os
import random
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import dagster as dg
import httpx
from pydantic import Field, PrivateAttr
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from gladly_assets.download_feed import DownloadCancelled, DownloadFeed
from gladly_assets.errors import (
    GladlyAuthError,
    GladlyConfigError,
    GladlyConnectionError,
    GladlyEchoedCredentials,
    GladlyError,
    GladlyJobExpired,
    GladlyLimitExceeded,
    GladlyMalformedJob,
    GladlyNotJsonl,
    GladlyOrganizationNotFound,
    GladlyPermissionError,
    GladlyResponseError,
    GladlyRetriesExhausted,
    shown,
)
from gladly_assets.export_jobs import ExportJob, format_instant
from gladly_assets.report_schema import ReportWindow
from gladly_assets.resources.bodies import (
    Body,
    DeadlineExceeded,
    UndecodableBody,
    Watchdog,
    file_type_refused,
    not_jsonl,
    read_head,
    read_in_bigger_pieces,
)
from gladly_assets.resources.organization import api_root as organization_api_root
from gladly_assets.resources.organization import check_domain
from gladly_assets.resources.redaction import EchoWatch, Redactor
from gladly_assets.throttle import Throttle

T = TypeVar("T")

_PROGRESS_INTERVAL_SECONDS = 0.25
_CONNECT_TIMEOUT_SECONDS = 10.0
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Network-level failures worth another attempt. Not retried: UnsupportedProtocol,
# LocalProtocolError, ProxyError and friends, which another attempt cannot fix.
_RETRY_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_KIB, _MIB, _GIB = 1 << 10, 1 << 20, 1 << 30
# An error body is read this far at most (an endless error page must not fill memory).
_ERROR_BODY_BYTES = 64 * _KIB
# The head of a file that is checked for an HTML page or an error object instead of JSONL.
_SNIFF_BYTES = 64 * _KIB
# A compressed body may exceed max_compression_ratio within its first bytes without being a bomb.
_RATIO_GRACE_BYTES = 8 * _MIB
# The rate limit is per second: when Gladly says none are left, wait for the next window.
_RATE_LIMIT_WINDOW_SECONDS = 1.0
_RETENTION = "Gladly keeps export jobs and their files for 14 days"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes \*/(\d+)")


class _Retryable(Exception):
    """An answer worth another attempt (429, 5xx, a body cut short), with the wait the server asked for."""

    def __init__(self, description: str, wait: float | None = None) -> None:
        super().__init__(description)
        self.wait = wait


@dataclass
class _Download:
    """What survives between the attempts of one file download."""

    written: int = 0
    total: int | None = None
    resumable: bool = True
    etag: str | None = None  # strong ETag of the body being resumed, sent as If-Range


class _Publication:
    """Tells a ``DownloadFeed`` which bytes of the ``.part`` file are final: written, past every
    check of ``_write_body``, and behind a head that passed the JSONL check (a file shorter
    than that head is published only once complete, by ``DownloadFeed.finish``)."""

    def __init__(self, feed: DownloadFeed, part: Path) -> None:
        self.feed, self.part = feed, part
        self.published = 0
        self.head_ok: bool | None = None  # None: not enough bytes yet to tell

    def rewind(self, offset: int) -> None:
        """The next attempt writes from ``offset``: what was published past it is void."""
        if offset < self.published:
            self.feed.restart()
            self.published = 0
        if offset < _SNIFF_BYTES:
            self.head_ok = None

    def checked(self, end: int) -> None:
        """The first ``end`` bytes passed every check."""
        if self.feed.cancelled:
            raise DownloadCancelled("the download was cancelled")
        if end <= self.published:
            return
        if self.head_ok is None and end >= _SNIFF_BYTES:
            self.head_ok = not_jsonl(_head(self.part)) is None
        if self.head_ok:
            self.feed.publish(self.part, end)
            self.published = end


class ReportPacer:
    """At most ``limit`` report requests started in any ``window`` seconds, and at most
    ``concurrency`` at once: Gladly's reports limit (10 a minute, 2 at once) per organization.
    One per organization and process (``_report_pacer``), shared by every resource and thread."""

    def __init__(
        self,
        limit: int,
        concurrency: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit, self.window = limit, window
        self._clock, self._sleep = clock, sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency)

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one of the concurrent slots for a request; yields the seconds waited for it."""
        started = self._clock()
        with self._slots:
            self._take_turn()
            yield self._clock() - started

    def _take_turn(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                wait = self.window - (now - self._starts[0])
            self._sleep(max(wait, 0.001))


_PACERS: dict[tuple[str, int, float, int], ReportPacer] = {}
_PACERS_LOCK = threading.Lock()


def _report_pacer(api_root: str, limit: int, window: float, concurrency: int) -> ReportPacer:
    with _PACERS_LOCK:
        key = (api_root, limit, window, concurrency)
        if key not in _PACERS:
            _PACERS[key] = ReportPacer(limit, concurrency, window)
        return _PACERS[key]


class GladlyResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Gladly's Export API: list export jobs and stream their files to disk, with retries.

    The token is sent only to ``https://{organization}.{domain}/api/v1`` (or the explicit
    ``base_url`` of a simulator) and never appears in logs, errors or ``repr()``.
    """

    organization: str = Field(
        description="Gladly organization, e.g. 'myorg' or 'myorg.us-1' (its URL is accepted too)."
    )
    agent_email: str = Field(description="Email of the Gladly agent whose API token is used.")
    api_token: str = Field(description="The agent's API token. Pass it as dg.EnvVar('GLADLY_API_TOKEN').")
    domain: str = Field(default="gladly.com", description="gladly.com, or gladly.qa for sandboxes.")
    base_url: str | None = Field(
        default=None,
        description="Explicit API root overriding organization/domain, for the local simulator and tests.",
    )
    timeout_seconds: float = Field(default=60.0, description="Read timeout of one request, in seconds.")
    max_attempts: int = Field(default=6, description="Attempts per request before giving up.")
    backoff_initial_seconds: float = Field(default=1.0, description="First wait between attempts.")
    backoff_max_seconds: float = Field(
        default=60.0, description="Longest computed wait between attempts (a server's Retry-After wins)."
    )
    max_retry_after_seconds: float = Field(
        default=600.0, description="Longest wait a server's Retry-After is honoured for."
    )
    deadline_seconds: float = Field(
        default=120.0,
        description="Longest one attempt of a JSON request (the job list) may take, from connecting to its "
        "last byte; for a file download, until its headers arrive (its body is held to min_bytes_per_second).",
    )
    min_bytes_per_second: float = Field(
        default=1024.0,
        description="Slowest a file or report body may arrive, averaged over timeout_seconds; a slower "
        "attempt is cut and resumed or retried (a server dripping a byte at a time).",
    )
    max_file_bytes: int = Field(
        default=16 * _GIB, description="Largest file accepted, in bytes written to disk (after decompression)."
    )
    max_compression_ratio: float = Field(
        default=100.0,
        description="Largest ratio of decompressed to received bytes of a compressed file (JSONL compresses "
        "about 10:1; a gzip bomb about 1000:1).",
    )
    max_list_bytes: int = Field(
        default=4 * _MIB, description="Largest JSON answer (the job list) accepted, in bytes after decompression."
    )
    max_jobs: int = Field(default=10_000, description="Most export jobs accepted from one job list.")

    report_requests_per_window: int = Field(
        default=10,
        description="Report requests started per report_window_seconds at most (Gladly allows 10 a minute).",
    )
    report_window_seconds: float = Field(default=60.0, description="The window of the reports' rate limit.")
    report_concurrency: int = Field(default=2, description="Report requests in flight at once (Gladly allows 2).")
    report_row_cap: int = Field(
        default=100_000,
        description="Rows past which Gladly silently drops a report's surplus; a window that returns 90% of it "
        "is split or refused.",
    )
    report_timeout_seconds: float = Field(
        default=300.0,
        description="Longest one report attempt may wait for its answer to start (Gladly computes reports "
        "synchronously), and the read timeout of its body.",
    )
    report_max_bytes: int = Field(
        default=2 * 1024**3, description="Largest report body accepted; a bigger one is an error, not a full disk."
    )

    _client: httpx.Client | None = PrivateAttr(default=None)
    _client_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _redactor_cache: Redactor | None = PrivateAttr(default=None)

    # ---- the secret stays out of repr() and str() -------------------------------------------

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, ("***" if name == "api_token" else value)

    # ---- configuration ---------------------------------------------------------------------

    @property
    def api_root(self) -> str:
        """The API root every request goes under; validates the settings, never sends anything."""
        domain = check_domain(self.domain)
        if self.base_url is None:
            return organization_api_root(self.organization, domain)
        problem = GladlyConfigError(
            "base_url must be a plain http(s) URL of an API root such as "
            "'http://127.0.0.1:8080/acme/api/v1', without credentials, query, spaces or line breaks"
        )
        if not self.base_url.isprintable() or any(c.isspace() for c in self.base_url):
            raise problem
        try:
            url = httpx.URL(self.base_url)
            port = url.port
        except httpx.InvalidURL:
            raise problem from None
        if url.scheme not in ("http", "https") or not url.host or url.userinfo or url.query:
            raise problem
        if port is not None and not 0 < port < 65536:
            raise problem
        return self.base_url.rstrip("/")

    def _check_settings(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        positive = ("timeout_seconds", "deadline_seconds", "max_file_bytes", "max_list_bytes", "max_jobs")
        for name in positive:
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive")
        if not self.max_compression_ratio >= 1:
            problems.append("max_compression_ratio must be at least 1")
        if not (self.min_bytes_per_second >= 0 and self.max_retry_after_seconds >= 0):
            problems.append("min_bytes_per_second and max_retry_after_seconds must not be negative")
        if not 0 <= self.backoff_initial_seconds <= self.backoff_max_seconds:
            problems.append("backoff seconds must satisfy 0 <= backoff_initial_seconds <= backoff_max_seconds")
        if min(self.report_requests_per_window, self.report_concurrency, self.report_row_cap) < 1:
            problems.append("report_requests_per_window, report_concurrency and report_row_cap must be at least 1")
        if self.report_window_seconds <= 0:
            problems.append("report_window_seconds must be positive")
        if not self.agent_email.strip() or not self.api_token.strip():
            problems.append("agent_email and api_token must be set (GLADLY_AGENT_EMAIL, GLADLY_API_TOKEN)")
        if problems:
            raise GladlyConfigError("Gladly resource settings are not usable: " + "; ".join(problems))

    def with_budget(
        self,
        *,
        max_attempts: int,
        backoff_max_seconds: float,
        timeout_seconds: float,
        deadline_seconds: float,
    ) -> GladlyResource:
        """A copy that gives up sooner (for a sensor's tick): each setting is the smaller of
        this resource's and the one given. Close it when done."""
        settings = {name: getattr(self, name) for name in type(self).model_fields}
        settings.update(
            max_attempts=min(self.max_attempts, max_attempts),
            backoff_initial_seconds=min(self.backoff_initial_seconds, backoff_max_seconds),
            backoff_max_seconds=min(self.backoff_max_seconds, backoff_max_seconds),
            max_retry_after_seconds=min(self.max_retry_after_seconds, backoff_max_seconds),
            timeout_seconds=min(self.timeout_seconds, timeout_seconds),
            deadline_seconds=min(self.deadline_seconds, deadline_seconds),
        )
        return type(self)(**settings)

    @property
    def _redactor(self) -> Redactor:
        if self._redactor_cache is None:
            self._redactor_cache = Redactor(self.agent_email, self.api_token)
        return self._redactor_cache

    def redact(self, text: str) -> str:
        """``text`` without the token in any form (plain, escaped, base64 Basic auth, cut short)."""
        return self._redactor(text) if len(self.api_token) >= 4 else text

    # ---- the HTTP client: one per resource instance -----------------------------------------

    # The client is created on first use, not in setup_for_execution: a bad setting then surfaces
    # as a GladlyConfigError from the call (which a sensor can turn into a SkipReason), and the
    # resource works the same when used directly, outside Dagster.

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client, if one was opened (a later call opens a new one)."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None or self._client.is_closed:  # closed: by a copy's teardown
                self.api_root  # noqa: B018 - validates organization, domain and base_url
                self._check_settings()
                read_in_bigger_pieces()
                self._client = httpx.Client(
                    auth=httpx.BasicAuth(self.agent_email, self.api_token),
                    # Only encodings bodies.Body decodes itself in bounded pieces (httpx would also offer
                    # br and zstd when their packages happen to be installed).
                    headers={
                        "User-Agent": _user_agent(),
                        "Accept": "application/json",
                        "Accept-Encoding": "gzip, deflate",
                    },
                    timeout=httpx.Timeout(
                        self.timeout_seconds, connect=min(self.timeout_seconds, _CONNECT_TIMEOUT_SECONDS)
                    ),
                    # No keep-alive: each attempt opens its own connection, which its Watchdog can cut.
                    # A handful of requests per run, so the extra handshakes cost nothing that shows.
                    limits=httpx.Limits(max_keepalive_connections=0),
                    # httpx drops Authorization on a redirect to another origin.
                    follow_redirects=True,
                    http1=True,
                    http2=False,
                    verify=_tls_context(),
                )
            return self._client

    def _url(self, *segments: str) -> str:
        return "/".join([self.api_root, *(quote(s, safe="") for s in segments)])

    # ---- public API --------------------------------------------------------------------------

    def list_jobs(
        self,
        status: str | None = "COMPLETED",
        start_at: datetime | None = None,
        end_at: datetime | None = None,
    ) -> list[ExportJob]:
        """Export jobs (``status=None`` for all), filtered on updatedAt, sorted by (updated_at, id).

        A job that cannot be used (``GladlyMalformedJob``: a hostile id, an unreadable date...)
        is skipped with a warning naming it; a job without an id fails the whole list."""
        params = {}
        if status is not None:
            params["status"] = status
        if start_at is not None:
            params["startAt"] = format_instant(start_at)
        if end_at is not None:
            params["endAt"] = format_instant(end_at)
        data = self._get_json(self._url("export", "jobs"), params, self._organization_not_found)
        if not isinstance(data, list):
            raise GladlyResponseError(f"GET /export/jobs answered {type(data).__name__}, not a JSON array")
        if len(data) > self.max_jobs:
            raise GladlyLimitExceeded(
                f"GET /export/jobs listed {len(data):,} jobs, more than max_jobs={self.max_jobs:,}; raise the "
                "resource's max_jobs setting if Gladly really keeps that many",
                "max_jobs",
            )
        jobs = []
        for obj in data:
            try:
                jobs.append(ExportJob.from_api(obj, self.redact))
            except GladlyMalformedJob as error:
                dg.get_dagster_logger().warning(f"Gladly: skipping a job from GET /export/jobs: {error}")
        return sorted(jobs, key=lambda job: (job.updated_at, job.id))

    def get_job(self, job_id: str) -> ExportJob:
        """One export job; ``GladlyJobExpired`` if Gladly no longer has it."""

        def gone(what: str, detail: str) -> GladlyError:
            return GladlyJobExpired(
                f"export job {shown(job_id)} is gone ({what} answered HTTP 404{detail}): "
                f"it expired ({_RETENTION}) or never existed"
            )

        return ExportJob.from_api(self._get_json(self._url("export", "jobs", job_id), None, gone), self.redact)

    def download_file(
        self,
        job: ExportJob | str,
        file_name: str,
        dest: Path,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> int:
        """Stream one file of a job to ``dest``; returns the number of bytes written.

        Written to ``dest.part`` in chunks and renamed when complete; a broken or short transfer
        is resumed with ``Range`` (or fetched whole again if the server ignores it). Either
        ``dest`` holds the whole file or an exception is raised and neither ``dest`` nor the
        ``.part`` file is left. A body that is not JSONL (``GladlyNotJsonl``), that echoes the
        credentials (``GladlyEchoedCredentials``) or that passes a limit (``GladlyLimitExceeded``)
        is refused.

        ``on_progress`` is told (bytes written, total if known) now and then, and at the end. A
        ``DownloadFeed`` given there is also told which bytes are final as they arrive (they passed
        every check above), when the transfer starts the file again from its first byte, and how
        the download ended; its ``cancel`` stops the download (``DownloadCancelled``)."""
        feed = on_progress if isinstance(on_progress, DownloadFeed) else None
        try:
            return self._download_file(job, file_name, Path(dest), on_progress, feed)
        except BaseException as error:
            if feed is not None:
                feed.fail(error)
            raise

    def _download_file(
        self,
        job: ExportJob | str,
        file_name: str,
        dest: Path,
        on_progress: Callable[[int, int | None], None] | None,
        feed: DownloadFeed | None,
    ) -> int:
        job_id = job.id if isinstance(job, ExportJob) else job
        part = dest.with_name(dest.name + ".part")
        url = self._url("export", "jobs", job_id, "files", file_name)
        state = _Download()
        throttle = Throttle(_PROGRESS_INTERVAL_SECONDS, due_at_start=True)
        publication = None if feed is None else _Publication(feed, part)

        def progress(done: int, total: int | None) -> None:
            if on_progress is not None and throttle.due():
                on_progress(done, total)

        def gone(what: str, detail: str) -> GladlyError:
            return GladlyJobExpired(
                f"file {shown(file_name)} of export job {shown(job_id)} is gone ({what} answered HTTP 404"
                f"{detail}): the job or the file expired ({_RETENTION}) or never existed"
            )

        def attempt() -> None:
            try:
                if feed is not None and feed.cancelled:
                    raise DownloadCancelled(f"GET {url} was cancelled")
                self._download_attempt(url, part, state, progress, gone, publication)
            except Exception:
                if feed is not None and feed.cancelled:  # a socket the cancel cut reads as a timeout
                    raise DownloadCancelled(f"GET {url} was cancelled") from None
                raise

        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        try:
            self._with_retries(f"GET {url}", attempt, feed.pause if feed is not None else time.sleep)
            self._check_jsonl_head(f"GET {url}", part)
            os.replace(part, dest)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if on_progress is not None:
            on_progress(state.written, state.total)  # the end, whatever the throttle says
        if feed is not None:
            feed.finish(dest, state.written)
        return state.written

    # ---- reports ------------------------------------------------------------------------------

    def download_report(self, metric_set: str, window: ReportWindow, dest: Path) -> int:
        """POST /reports for ``window`` and stream the CSV to ``dest``; returns the bytes written.

        Paced to the reports' rate limit, shared by every resource of this organization in the
        process; 429 and 5xx are retried with the resource's retry policy, and a 429 waits at
        least one pacing interval more per attempt, so that the limit's minute can pass. Either
        ``dest`` holds the whole body or an exception is raised and no file is left.
        """
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        url = self._url("reports")
        body = window.request_body(metric_set)
        what = f"POST {url} ({metric_set} {window})"
        pacer = _report_pacer(
            self.api_root, self.report_requests_per_window, self.report_window_seconds, self.report_concurrency
        )
        attempts = 0

        def attempt() -> int:
            nonlocal attempts
            attempts += 1
            with pacer.slot() as waited:
                if waited >= 1:
                    dg.get_dagster_logger().info(
                        f"Gladly: waited {waited:.1f} s for the reports rate limit before {what}"
                    )
                return self._report_attempt(url, body, part, what, attempts)

        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        try:
            written = self._with_retries(what, attempt)
            os.replace(part, dest)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return written

    def _report_attempt(self, url: str, body: dict[str, str], part: Path, what: str, attempt: int) -> int:
        headers = {"Accept": "text/csv", "Accept-Encoding": "identity"}
        timeout = httpx.Timeout(
            self.report_timeout_seconds, connect=min(self.timeout_seconds, _CONNECT_TIMEOUT_SECONDS)
        )
        state = _Download(resumable=False)  # a report is computed anew each time: never resumed
        # Gladly computes the report before its headers: that wait is held to report_timeout_seconds.
        with (
            self._attempt(what, self.report_timeout_seconds, "report_timeout_seconds") as watchdog,
            self._http().stream(
                "POST", url, json=body, headers=headers, timeout=timeout, extensions={"trace": watchdog.trace}
            ) as response,
        ):
            watchdog.cancel()  # the headers are in: from here the body is held to min_bytes_per_second
            try:
                self._raise_for_status(response, what, self._organization_not_found)
            except _Retryable as retry:
                if response.status_code == 429:
                    # The reports limit counts a minute: a second's backoff would only meet it again,
                    # so wait at least one more pacing interval per attempt (and never less than
                    # the usual backoff or what the server asked for).
                    interval = self.report_window_seconds / self.report_requests_per_window
                    backoff = min(self.backoff_initial_seconds * 2 ** (attempt - 1), self.backoff_max_seconds)
                    retry.wait = max(retry.wait or 0.0, backoff, interval * attempt)
                raise
            self._write_body(what, self._body(response, what), part, 0, state, _no_progress, "report_max_bytes")
        return state.written

    def list_teams(self) -> list[dict[str, Any]]:
        """GET /teams: every team as Gladly sends it (``id``, ``name``, ``description``, ``agentIds``)."""
        return self._list_objects("teams")

    def list_inboxes(self) -> list[dict[str, Any]]:
        """GET /inboxes: every inbox as Gladly sends it (``id``, ``name``, ``disabled``)."""
        return self._list_objects("inboxes")

    def _list_objects(self, path: str) -> list[dict[str, Any]]:
        data = self._get_json(self._url(path), None, self._organization_not_found)
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise GladlyResponseError(f"GET /{path} answered {shown(data, self.redact)}, not a JSON array of objects")
        return data

    # ---- requests ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _attempt(
        self, what: str, seconds: float | None = None, setting: str = "deadline_seconds"
    ) -> Iterator[Watchdog]:
        """One attempt under a deadline (``seconds``, set by the resource's ``setting``; by default
        deadline_seconds); a connection the watchdog cut reads as a timeout."""
        seconds = self.deadline_seconds if seconds is None else seconds
        watchdog = Watchdog(seconds)

        def late() -> DeadlineExceeded:
            return DeadlineExceeded(
                f"{what} got no answer within {setting}={seconds:g} (the whole wait, not one read); "
                f"raise the resource's {setting} if Gladly is this slow"
            )

        try:
            with watchdog:
                yield watchdog
        except httpx.TransportError:
            if watchdog.expired:
                raise late() from None
            raise
        if watchdog.expired:  # a cut connection can look like the end of a body without a length
            raise late()

    def _get_json(
        self,
        url: str,
        params: dict[str, str] | None,
        not_found: Callable[[str, str], GladlyError],
    ) -> Any:
        what = f"GET {url}"

        def attempt() -> Any:
            with self._attempt(what) as watchdog:
                extensions = {"trace": watchdog.trace}
                with self._http().stream("GET", url, params=params, extensions=extensions) as response:
                    self._raise_for_status(response, what, not_found)
                    body = self._read_json_body(response, what)
            try:
                return json.loads(body)
            except (ValueError, RecursionError):
                raise GladlyResponseError(
                    f"{what} answered HTTP {response.status_code} with a body that is not JSON: "
                    f"{self._shown_body(body)}",
                    response.status_code,
                ) from None

        return self._with_retries(what, attempt)

    def _read_json_body(self, response: httpx.Response, what: str) -> bytes:
        """The whole body, decoded, up to max_list_bytes: it is never read, held or parsed past that."""
        body = bytearray()
        try:
            for piece in Body(response):
                body += piece
                if len(body) > self.max_list_bytes:
                    raise GladlyLimitExceeded(
                        f"{what} answered more than max_list_bytes={self.max_list_bytes:,} bytes (after "
                        "decompression); raise the resource's max_list_bytes setting if the list is really that long",
                        "max_list_bytes",
                        response.status_code,
                    )
        except UndecodableBody as error:
            raise GladlyResponseError(f"{what} answered a body that cannot be decoded: {error}") from None
        return bytes(body)

    def _download_attempt(
        self,
        url: str,
        part: Path,
        state: _Download,
        progress: Callable[[int, int | None], None],
        not_found: Callable[[str, str], GladlyError],
        publication: _Publication | None,
    ) -> None:
        what = f"GET {url}"
        offset = state.written if state.resumable else 0
        # Ranges count bytes as sent: ask for them uncompressed so an offset means a file offset.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if state.etag:
                headers["If-Range"] = state.etag  # a changed file comes back whole (200)
        with (
            self._attempt(what) as watchdog,
            publication.feed.cancels(watchdog.expire) if publication else contextlib.nullcontext(),
            self._http().stream("GET", url, headers=headers, extensions={"trace": watchdog.trace}) as response,
        ):
            watchdog.cancel()  # the headers are in: from here the body is held to min_bytes_per_second
            if response.status_code == 416 and offset:
                read_head(response, _ERROR_BODY_BYTES)
                match = _UNSATISFIED_RANGE.fullmatch(response.headers.get("content-range", ""))
                if match and int(match.group(1)) == offset:
                    state.total = offset  # the previous attempt had already received every byte
                    return
                state.written = 0
                raise _Retryable(f"HTTP 416 for Range bytes={offset}-: starting the file again")
            self._raise_for_status(response, what, not_found)
            if response.status_code == 206 and offset:
                match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
                # The tail must be of the same body: same start, and the same length if we knew it
                # (without an ETag, If-Range cannot tell us that a different body came first).
                if match is None or int(match.group(1)) != offset or str(state.total or "*") != match.group(3):
                    state.written = 0
                    raise _Retryable(
                        f"HTTP 206 with Content-Range {self._shown_header(response, 'content-range')} "
                        f"for Range bytes={offset}-: starting the file again"
                    )
                total = None if match.group(3) == "*" else int(match.group(3))
            elif response.status_code == 200:
                # A fresh body, also when we asked for a range the server chose to ignore.
                offset = 0
                length = response.headers.get("content-length", "")
                total = int(length) if length.isdigit() else None
            else:
                raise GladlyResponseError(
                    f"{what} answered HTTP {response.status_code}, expected 200", response.status_code
                )
            if file_type_refused(response.headers.get("content-type")):
                raise GladlyNotJsonl(
                    f"{what} answered HTTP {response.status_code} with Content-Type "
                    f"{self._shown_header(response, 'content-type')}, not JSONL (application/x-ndjson): "
                    "is a proxy or a login page between this machine and Gladly?",
                    response.status_code,
                )
            body = self._body(response, what)
            if body.compressed:
                # Lengths and ranges then count compressed bytes: no length check, no resume.
                state.resumable, total = False, None
            etag = response.headers.get("etag")
            state.written, state.total = offset, total
            state.etag = etag if etag and not etag.startswith("W/") else None
            self._write_body(what, body, part, offset, state, progress, "max_file_bytes", publication)
        if total is not None and state.written != total:
            received = state.written
            if received > total:
                state.written = 0
            raise _Retryable(f"the body ended after {received} of {total} bytes")

    def _write_body(
        self,
        what: str,
        body: Body,
        part: Path,
        offset: int,
        state: _Download,
        progress: Callable[[int, int | None], None],
        size_setting: str,
        publication: _Publication | None = None,
    ) -> None:
        """Append the body to ``part`` from ``offset``, checking the limits chunk by chunk; the
        resource's ``size_setting`` caps the bytes written. ``publication`` is told which bytes
        passed every check."""
        max_bytes = int(getattr(self, size_setting))
        echoes = EchoWatch(self._redactor)
        window = self.timeout_seconds
        window_start, window_bytes = time.monotonic(), 0
        if publication is not None:
            publication.rewind(offset)  # before the file is truncated
        with open(part, "r+b" if offset else "wb") as out:
            if offset:  # an echo may straddle the break: the check picks up where it stopped
                out.seek(max(0, offset - echoes.holdback))
                echoes.resume(out.read(offset - out.tell()))
            out.seek(offset)
            out.truncate()
            # Chunks as read from the socket (at most bodies.PIECE at a time): nothing received is
            # held back, so a break loses no bytes already sent.
            try:
                for chunk in body:
                    out.write(chunk)
                    state.written += len(chunk)
                    progress(state.written, state.total)
                    if echoes.echoed_in(chunk):
                        raise GladlyEchoedCredentials(
                            f"{what} answered a body that holds the API credentials: something between this "
                            "machine and Gladly echoes the request. The body is not kept; check proxies"
                        )
                    if state.written > max_bytes:
                        raise GladlyLimitExceeded(
                            f"{what} sent more than {size_setting}={max_bytes:,} bytes; raise the "
                            f"resource's {size_setting} setting if the answer is really that big",
                            size_setting,
                        )
                    if body.compressed and body.decoded > max(
                        _RATIO_GRACE_BYTES, self.max_compression_ratio * body.wire
                    ):
                        raise GladlyLimitExceeded(
                            f"{what} sent a compressed body that expands more than max_compression_ratio="
                            f"{self.max_compression_ratio:g} times (a compression bomb?); raise the resource's "
                            "max_compression_ratio setting if the file is really that repetitive",
                            "max_compression_ratio",
                        )
                    if publication is not None:
                        out.flush()
                        # The last bytes may still begin an echo that the next chunk completes.
                        publication.checked(state.written - echoes.holdback)
                    window_bytes += len(chunk)
                    elapsed = time.monotonic() - window_start
                    if elapsed >= window:
                        if window_bytes < self.min_bytes_per_second * elapsed:
                            raise _Retryable(
                                f"the body arrived at {window_bytes / elapsed:,.0f} bytes/s over {elapsed:.1f} s, "
                                f"slower than min_bytes_per_second={self.min_bytes_per_second:g}; lower that "
                                "setting for a link this slow"
                            )
                        window_start, window_bytes = time.monotonic(), 0
            except UndecodableBody as error:
                raise GladlyResponseError(f"{what} answered a body that cannot be decoded: {error}") from None

    @staticmethod
    def _body(response: httpx.Response, what: str) -> Body:
        try:
            return Body(response)
        except UndecodableBody as error:
            raise GladlyResponseError(f"{what} answered a body that cannot be decoded: {error}") from None

    def _check_jsonl_head(self, what: str, part: Path) -> None:
        head = _head(part)
        problem = not_jsonl(head)
        if problem:
            raise GladlyNotJsonl(
                f"{what} answered a body that is not a JSONL export: {problem}: {self._shown_body(head)}. "
                "Is a proxy or a login page between this machine and Gladly?"
            )

    def _shown_body(self, body: bytes) -> str:
        return shown(body[: 4 * _SNIFF_BYTES].decode("utf-8", "replace"), self.redact)

    def _shown_header(self, response: httpx.Response, name: str) -> str:
        return shown(response.headers.get(name, ""), self.redact, 100)

    def _raise_for_status(
        self,
        response: httpx.Response,
        what: str,
        not_found: Callable[[str, str], GladlyError],
    ) -> None:
        status = response.status_code
        if status < 300:
            return
        detail = self._error_detail(read_head(response, _ERROR_BODY_BYTES))
        if status in _RETRY_STATUSES:
            raise _Retryable(f"HTTP {status} {response.reason_phrase}{detail}", self._server_wait(response))
        if status == 401:
            raise GladlyAuthError(
                f"Gladly rejected the credentials of agent {self.agent_email!r} ({what} answered HTTP 401"
                f"{detail}): check GLADLY_AGENT_EMAIL and GLADLY_API_TOKEN; the token must be one that "
                "this agent created and it must not have been revoked"
            )
        if status == 403:
            raise GladlyPermissionError(
                f"Gladly agent {self.agent_email!r} may not use the API ({what} answered HTTP 403"
                f"{detail}): the agent needs the API User permission; ask a Gladly administrator to "
                "grant it, or use the token of an agent who has it"
            )
        if status == 404:
            raise not_found(what, detail)
        raise GladlyResponseError(
            f"{what} answered HTTP {status} {shown(response.reason_phrase, self.redact, 100)}{detail}", status
        )

    def _organization_not_found(self, what: str, detail: str) -> GladlyError:
        host = httpx.URL(self.api_root).netloc.decode()
        return GladlyOrganizationNotFound(
            f"no Gladly organization at {host} ({what} answered HTTP 404{detail}): check the "
            f"organization name and its region (e.g. 'myorg' or 'myorg.us-1') and the domain "
            f"({self.domain}); the API root used was {self.api_root}"
        )

    def _error_detail(self, body: bytes) -> str:
        """Gladly's ``{"errors": [{attr, code, detail}]}`` as ``": attr: code (detail)"``, redacted, then cut short."""

        def one(error: dict[str, Any]) -> str:
            head = ": ".join(str(error[key]) for key in ("attr", "code") if error.get(key))
            return f"{head} ({error['detail']})" if error.get("detail") else head

        text = body.decode("utf-8", "replace")
        with contextlib.suppress(ValueError, KeyError, TypeError, RecursionError):
            text = "; ".join(one(e) for e in json.loads(body)["errors"] if isinstance(e, dict))
        text = " ".join(self.redact(text).split())
        return f": {shown(text, limit=300)}" if text else ""

    def _server_wait(self, response: httpx.Response) -> float | None:
        """How long the server asked us to wait: Retry-After (seconds or a date) up to
        max_retry_after_seconds, else a second when no requests are left in this rate-limit
        window, else None (exponential backoff). A Retry-After that is not a finite time is ignored."""
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            seconds: float | None
            try:
                seconds = float(retry_after)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(retry_after)
                    seconds = (when - datetime.now(when.tzinfo or UTC)).total_seconds()
                except (TypeError, ValueError, OverflowError, IndexError):
                    seconds = None
            if seconds is not None and math.isfinite(seconds):
                return min(max(seconds, 0.0), self.max_retry_after_seconds)
        if response.status_code == 429 and response.headers.get("ratelimit-remaining-second", "").strip() == "0":
            window = min(_RATE_LIMIT_WINDOW_SECONDS, self.backoff_max_seconds)
            return window + random.uniform(0, window / 4)
        return None

    # ---- retries -----------------------------------------------------------------------------

    def _with_retries(self, what: str, attempt: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or ``max_attempts`` are spent,
        waiting with ``sleep`` between attempts."""
        self._http()  # settings are validated before the first attempt, and never retried
        exponential = wait_exponential(multiplier=self.backoff_initial_seconds, max=self.backoff_max_seconds)

        def wait(state: RetryCallState) -> float:
            hint = getattr(state.outcome.exception(), "wait", None) if state.outcome else None
            if hint is not None:
                return float(hint)
            jitter = random.uniform(0, self.backoff_initial_seconds)
            return min(exponential(state) + jitter, self.backoff_max_seconds)

        def log_retry(state: RetryCallState) -> None:
            cause = state.outcome.exception() if state.outcome else None
            dg.get_dagster_logger().warning(
                "Gladly: %s failed on attempt %d of %d (%s); retrying in %.2f s",
                what,
                state.attempt_number,
                self.max_attempts,
                self._describe(cause),
                state.next_action.sleep if state.next_action else 0.0,
            )

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait,
            retry=retry_if_exception_type((_Retryable, *_RETRY_TRANSPORT_ERRORS)),
            before_sleep=log_retry,
            sleep=sleep,
        )
        try:
            return retrying(attempt)
        except RetryError as exhausted:
            cause = exhausted.last_attempt.exception()
            attempts = exhausted.last_attempt.attempt_number
            plural = "attempt" if attempts == 1 else "attempts"
            if isinstance(cause, httpx.TransportError):
                host = httpx.URL(self.api_root).netloc.decode()
                raise GladlyConnectionError(
                    f"could not get an answer from Gladly at {host}: {what} failed after {attempts} "
                    f"{plural}; last error: {self._describe(cause)}. Check the network, the "
                    "organization and region settings, and Gladly's status page",
                    attempts,
                ) from None
            raise GladlyRetriesExhausted(
                f"{what} failed after {attempts} {plural}; last error: {self._describe(cause)}. "
                "Gladly is rate limiting or unavailable; try again later",
                attempts,
            ) from None

    def _describe(self, error: BaseException | None) -> str:
        if error is None:
            return "no error"
        if isinstance(error, _Retryable):
            return self.redact(str(error))
        text = str(error)
        return self.redact(f"{type(error).__name__}: {text}" if text else type(error).__name__)


def _head(part: Path) -> bytes:
    """The first bytes of a body, as much as the JSONL check reads."""
    with open(part, "rb") as source:
        return source.read(_SNIFF_BYTES)


def _no_progress(done: int, total: int | None) -> None:
    pass


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verification (its CA bundle, or SSL_CERT_FILE/SSL_CERT_DIR), built
    once per process: loading the bundle costs tens of milliseconds of CPU, and every copy
    of the resource (one per run, per sensor tick) opens a client of its own."""
    return httpx.create_ssl_context()


@cache
def _user_agent() -> str:
    try:
        version = metadata.version("gladly-assets")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"gladly-assets/{version}"
