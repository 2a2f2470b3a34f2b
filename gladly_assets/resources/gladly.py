"""GladlyResource: the one place that talks HTTP to Gladly's Export API.

Auth, the organization's host, retries (tenacity), streamed and resumable file
downloads, and keeping the API token out of every log line, message and repr.
"""

from __future__ import annotations

import base64
import email.utils
import os
import random
import re
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

from gladly_assets.errors import (
    GladlyAuthError,
    GladlyConfigError,
    GladlyConnectionError,
    GladlyError,
    GladlyJobExpired,
    GladlyOrganizationNotFound,
    GladlyPermissionError,
    GladlyResponseError,
    GladlyRetriesExhausted,
    clip,
)
from gladly_assets.export_jobs import ExportJob, format_instant
from gladly_assets.report_schema import ReportWindow
from gladly_assets.resources.organization import api_root as organization_api_root
from gladly_assets.resources.organization import check_domain
from gladly_assets.throttle import Throttle

T = TypeVar("T")

_PROGRESS_INTERVAL_SECONDS = 0.25
_CONNECT_TIMEOUT_SECONDS = 10.0
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Network-level failures worth another attempt. Not retried: UnsupportedProtocol,
# LocalProtocolError, ProxyError and friends, which another attempt cannot fix.
_RETRY_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# A server-sent Retry-After is honoured up to this long.
_MAX_RETRY_AFTER_SECONDS = 600.0
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
        default=300.0, description="Read timeout of one report request: Gladly computes reports synchronously."
    )
    report_max_bytes: int = Field(
        default=2 * 1024**3, description="Largest report body accepted; a bigger one is an error, not a full disk."
    )

    _client: httpx.Client | None = PrivateAttr(default=None)
    _client_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

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
        url = httpx.URL(self.base_url)
        if url.scheme not in ("http", "https") or not url.host or url.userinfo or url.query:
            raise GladlyConfigError(
                "base_url must be a plain http(s) URL of an API root such as "
                "'http://127.0.0.1:8080/acme/api/v1', without credentials or query"
            )
        return self.base_url.rstrip("/")

    def _check_settings(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if self.timeout_seconds <= 0:
            problems.append("timeout_seconds must be positive")
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
                self._client = httpx.Client(
                    auth=httpx.BasicAuth(self.agent_email, self.api_token),
                    headers={"User-Agent": _user_agent(), "Accept": "application/json"},
                    timeout=httpx.Timeout(
                        self.timeout_seconds, connect=min(self.timeout_seconds, _CONNECT_TIMEOUT_SECONDS)
                    ),
                    # httpx drops Authorization on a redirect to another origin.
                    follow_redirects=True,
                    http1=True,
                    http2=False,
                )
            return self._client

    def _url(self, *segments: str) -> str:
        return "/".join([self.api_root, *(quote(s, safe="") for s in segments)])

    # ---- public API --------------------------------------------------------------------------

    def check_credentials(self) -> int:
        """GET /agents: proves host, credentials and permission; returns the number of agents."""
        agents = self._get_json(self._url("agents"), None, self._organization_not_found)
        if not isinstance(agents, list):
            raise GladlyResponseError(f"GET /agents answered {type(agents).__name__}, not a JSON array")
        return len(agents)

    def list_jobs(
        self,
        status: str | None = "COMPLETED",
        start_at: datetime | None = None,
        end_at: datetime | None = None,
    ) -> list[ExportJob]:
        """Export jobs (``status=None`` for all), filtered on updatedAt, sorted by (updated_at, id)."""
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
        return sorted((ExportJob.from_api(obj) for obj in data), key=lambda job: (job.updated_at, job.id))

    def get_job(self, job_id: str) -> ExportJob:
        """One export job; ``GladlyJobExpired`` if Gladly no longer has it."""

        def gone(what: str, detail: str) -> GladlyError:
            return GladlyJobExpired(
                f"export job {job_id} is gone ({what} answered HTTP 404{detail}): "
                f"it expired ({_RETENTION}) or never existed"
            )

        return ExportJob.from_api(self._get_json(self._url("export", "jobs", job_id), None, gone))

    def download_file(
        self,
        job: ExportJob | str,
        file_name: str,
        dest: Path,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> int:
        """Stream one file of a job to ``dest``; returns the number of bytes written.

        Written to ``dest.part`` in chunks and renamed when complete; a broken transfer is
        resumed with ``Range``. Either ``dest`` holds the whole file or an exception is
        raised and neither ``dest`` nor the ``.part`` file is left.
        """
        job_id = job.id if isinstance(job, ExportJob) else job
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        url = self._url("export", "jobs", job_id, "files", file_name)
        state = _Download()
        throttle = Throttle(_PROGRESS_INTERVAL_SECONDS, due_at_start=True)

        def progress(done: int, total: int | None) -> None:
            if on_progress is not None and throttle.due():
                on_progress(done, total)

        def gone(what: str, detail: str) -> GladlyError:
            return GladlyJobExpired(
                f"file {file_name} of export job {job_id} is gone ({what} answered HTTP 404{detail}): "
                f"the job or the file expired ({_RETENTION}) or never existed"
            )

        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        try:
            self._with_retries(f"GET {url}", lambda: self._download_attempt(url, part, state, progress, gone))
            os.replace(part, dest)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if on_progress is not None:
            on_progress(state.written, state.total)  # the end, whatever the throttle says
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
        with self._http().stream("POST", url, json=body, headers=headers, timeout=timeout) as response:
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
            written = 0
            with open(part, "wb") as out:
                for chunk in response.iter_bytes():
                    written += len(chunk)
                    if written > self.report_max_bytes:
                        raise GladlyResponseError(
                            f"{what} answered more than report_max_bytes ({self.report_max_bytes:,} bytes); "
                            "ask for a shorter window or raise the setting"
                        )
                    out.write(chunk)
        return written

    def list_teams(self) -> list[dict[str, Any]]:
        """GET /teams: every team as Gladly sends it (``id``, ``name``, ``description``, ``agentIds``)."""
        return self._list_objects("teams")

    def list_inboxes(self) -> list[dict[str, Any]]:
        """GET /inboxes: every inbox as Gladly sends it (``id``, ``name``, ``disabled``)."""
        return self._list_objects("inboxes")

    def _list_objects(self, path: str) -> list[dict[str, Any]]:
        data = self._get_json(self._url(path), None, self._organization_not_found)
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise GladlyResponseError(f"GET /{path} answered {self.redact(clip(data))}, not a JSON array of objects")
        return data

    def redact(self, text: str) -> str:
        """``text`` without the API token: for messages built from what Gladly sent."""
        return self._redact(text)

    # ---- requests ----------------------------------------------------------------------------

    def _get_json(
        self,
        url: str,
        params: dict[str, str] | None,
        not_found: Callable[[str, str], GladlyError],
    ) -> Any:
        what = f"GET {url}"

        def attempt() -> Any:
            response = self._http().get(url, params=params)
            self._raise_for_status(response, what, not_found)
            try:
                return response.json()
            except ValueError:
                raise GladlyResponseError(
                    f"{what} answered HTTP {response.status_code} with a body that is not JSON: "
                    f"{self._redact(clip(response.text))}",
                    response.status_code,
                ) from None

        return self._with_retries(what, attempt)

    def _download_attempt(
        self,
        url: str,
        part: Path,
        state: _Download,
        progress: Callable[[int, int | None], None],
        not_found: Callable[[str, str], GladlyError],
    ) -> None:
        what = f"GET {url}"
        offset = state.written if state.resumable else 0
        # Ranges count bytes as sent: ask for them uncompressed so an offset means a file offset.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if state.etag:
                headers["If-Range"] = state.etag  # a changed file comes back whole (200)
        with self._http().stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and offset:
                response.read()
                match = _UNSATISFIED_RANGE.fullmatch(response.headers.get("content-range", ""))
                if match and int(match.group(1)) == offset:
                    state.total = offset  # the previous attempt had already received every byte
                    return
                state.written = 0
                raise _Retryable(f"HTTP 416 for Range bytes={offset}-: starting the file again")
            self._raise_for_status(response, what, not_found)
            if response.status_code == 206 and offset:
                match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
                if match is None or int(match.group(1)) != offset:
                    state.written = 0
                    raise _Retryable(
                        f"HTTP 206 with Content-Range {response.headers.get('content-range')!r} "
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
            if response.headers.get("content-encoding", "identity").lower() not in ("", "identity"):
                # Lengths and ranges then count compressed bytes: no length check, no resume.
                state.resumable, total = False, None
            etag = response.headers.get("etag")
            state.written, state.total = offset, total
            state.etag = etag if etag and not etag.startswith("W/") else None
            with open(part, "r+b" if offset else "wb") as out:
                out.seek(offset)
                out.truncate()
                # Chunks as read from the socket (httpcore reads at most 64 KiB at a time): nothing
                # received is held back, so a break loses no bytes already sent.
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    state.written += len(chunk)
                    progress(state.written, total)
        if total is not None and state.written != total:
            received = state.written
            if received > total:
                state.written = 0
            raise _Retryable(f"the body ended after {received} of {total} bytes")

    def _raise_for_status(
        self,
        response: httpx.Response,
        what: str,
        not_found: Callable[[str, str], GladlyError],
    ) -> None:
        status = response.status_code
        if status < 300:
            return
        response.read()
        detail = self._error_detail(response)
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
        raise GladlyResponseError(f"{what} answered HTTP {status} {response.reason_phrase}{detail}", status)

    def _organization_not_found(self, what: str, detail: str) -> GladlyError:
        host = httpx.URL(self.api_root).netloc.decode()
        return GladlyOrganizationNotFound(
            f"no Gladly organization at {host} ({what} answered HTTP 404{detail}): check the "
            f"organization name and its region (e.g. 'myorg' or 'myorg.us-1') and the domain "
            f"({self.domain}); the API root used was {self.api_root}"
        )

    def _error_detail(self, response: httpx.Response) -> str:
        """Gladly's ``{"errors": [{attr, code, detail}]}`` as ``": attr: code (detail)"``, short and redacted."""

        def one(error: dict[str, Any]) -> str:
            head = ": ".join(str(error[key]) for key in ("attr", "code") if error.get(key))
            return f"{head} ({error['detail']})" if error.get("detail") else head

        try:
            text = "; ".join(one(e) for e in response.json()["errors"] if isinstance(e, dict))
        except (ValueError, KeyError, TypeError):
            text = response.text
        text = " ".join(text.split())
        return f": {self._redact(clip(text, 300))}" if text else ""

    def _server_wait(self, response: httpx.Response) -> float | None:
        """How long the server asked us to wait: Retry-After (seconds or a date), else a second
        when no requests are left in this rate-limit window, else None (exponential backoff)."""
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            seconds: float | None
            try:
                seconds = float(retry_after)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(retry_after)
                    seconds = (when - datetime.now(when.tzinfo or UTC)).total_seconds()
                except (TypeError, ValueError):
                    seconds = None
            if seconds is not None:
                return min(max(seconds, 0.0), _MAX_RETRY_AFTER_SECONDS)
        if response.status_code == 429 and response.headers.get("ratelimit-remaining-second", "").strip() == "0":
            window = min(_RATE_LIMIT_WINDOW_SECONDS, self.backoff_max_seconds)
            return window + random.uniform(0, window / 4)
        return None

    # ---- retries -----------------------------------------------------------------------------

    def _with_retries(self, what: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or ``max_attempts`` are spent."""
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
            return self._redact(str(error))
        text = str(error)
        return self._redact(f"{type(error).__name__}: {text}" if text else type(error).__name__)

    def _redact(self, text: str) -> str:
        """Remove the token (and its Basic-auth form) from text that may echo a request."""
        token = self.api_token
        if len(token) >= 4:
            text = text.replace(token, "***")
            basic = base64.b64encode(f"{self.agent_email}:{token}".encode()).decode()
            text = text.replace(basic, "***")
        return text


@cache
def _user_agent() -> str:
    try:
        version = metadata.version("gladly-assets")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"gladly-assets/{version}"
