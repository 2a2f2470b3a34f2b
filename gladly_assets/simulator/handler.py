"""The HTTP side of the simulator: Gladly's Export API on a standard-library server.

One request runs through the same gates as at Gladly, in this order:
organization (404) -> rate limit (429) -> injected faults (429, 5xx) ->
a hostile server's answers (``Faults.take_answer``) -> Basic auth (401, 403) -> route. Files are sent with ``socket.sendfile`` so a
multi-GB file streams at disk/loopback speed with flat memory.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from .faults import Answer, Faults
from .jobs import RETENTION, STATUSES, Job, parse_instant
from .reports import REPORTS_PATH, Response, serves

JOB_PATH = re.compile(r"^/export/jobs/([^/]+)$")
FILE_PATH = re.compile(r"^/export/jobs/([^/]+)/files/([^/]+)$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 16 * 1024 * 1024  # sendfile slice: progress is counted per slice
_HOLD_POLL_SECONDS = 0.05  # how often a held answer looks for its release or a client that left


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it (``sim.request_log``)."""

    method: str
    path: str  # without the base prefix, e.g. "/export/jobs/ID/files/customers.jsonl"
    query: dict[str, str]
    status: int
    bytes_sent: int  # body bytes that left the server
    complete: bool  # whether the whole body was sent
    headers: dict[str, str] = field(default_factory=dict)  # request headers, Authorization removed


class SimulatorBackend(Protocol):
    """All the handler asks of the simulator (``GladlySimulator`` implements it)."""

    @property
    def faults(self) -> Faults: ...
    @property
    def stopping(self) -> bool: ...
    @property
    def rate_limit_per_second(self) -> int | None: ...
    @property
    def ranges(self) -> bool: ...
    def now(self) -> datetime: ...
    def resolve(self, path: str) -> tuple[str, str | None]: ...
    def rate_limit(self, organization: str, method: str) -> tuple[bool, int]: ...
    def authenticate(self, header: str | None) -> str | None: ...
    def visible_jobs(self) -> list[Job]: ...
    def visible_job(self, job_id: str) -> Job | None: ...
    def collection(self, path: str) -> list[dict[str, Any]]: ...
    def file_path(self, job_id: str, file_name: str) -> Path: ...
    def pause(self, seconds: float) -> None: ...
    def request_started(self) -> None: ...
    def record_request(self, record: RequestRecord) -> None: ...
    def report(self, method: str, path: str, body: bytes) -> Response: ...  # the Reports API and /teams, /inboxes


class RateLimiter:
    """Gladly's limit: N requests per second per organization and method (sliding 1 s window)."""

    def __init__(self, per_second: int | None) -> None:
        self.per_second = per_second
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: tuple[str, str]) -> tuple[bool, int]:
        """(allowed, remaining in the current second). Refused requests do not count."""
        if self.per_second is None:
            return True, 0
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - 1.0:
                hits.popleft()
            if len(hits) >= self.per_second:
                return False, 0
            hits.append(now)
            return True, self.per_second - len(hits)


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes the connections itself, then returns at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: SimulatorBackend) -> None:
        super().__init__(address, Handler)
        self.sim = sim
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        request, address = super().get_request()
        with self._connections_lock:
            self._connections.add(request)
        return request, address

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler thread (idle keep-alive reads, stalled or long sends)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response is normal here (timeouts, resets).
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)) or self.sim.stopping:
            return
        super().handle_error(request, client_address)


def error_body(detail: str, code: str | None = None, attr: str | None = None) -> dict[str, Any]:
    """Gladly's error envelope. ``attr`` and ``code`` only where Gladly documents them:
    no body is documented for 401, 403, 429 or 5xx, so those carry a ``detail`` only."""
    error = {"attr": attr, "code": code, "detail": detail}
    return {"errors": [{key: value for key, value in error.items() if value is not None}]}


# Gladly's documented 404 (NotFoundErrors): no attr.
NOT_FOUND = error_body("entity does not exist", "not_exist")


class _Aborted(Exception):
    """The connection was cut on purpose (reset fault): nothing more to send."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response has a Content-Length
    server_version = "GladlySimulator/1.0"
    sys_version = ""
    server: SimulatorHTTPServer

    # ------------------------------------------------------------------ entry points

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def log_message(self, format: str, *args: object) -> None:
        pass  # the simulator keeps its own log (sim.request_log, log_requests=True)

    def _handle(self, method: str) -> None:
        sim = self.server.sim
        self.sim = sim
        self.method = method
        self.status, self.bytes_sent, self.complete = 500, 0, False
        self.stall = 0.0
        self.cut = False
        self.started = False  # whether the status line went out
        self.response_headers: dict[str, str] = {}
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        path = unquote(url.path)
        organization, relative = sim.resolve(path)
        sim.request_started()
        try:
            self._read_body()
            self._serve(method, organization, relative, query)
        except _Aborted:
            pass
        except OSError:  # ConnectionError, TimeoutError...: the client hung up
            self.close_connection = True
        except Exception:  # a bug, or a mutate hook that raised: say so, keep serving
            traceback.print_exc()
            self.close_connection = True
            if not self.started:
                self._json(500, error_body("The simulator failed; see its stderr"))
        finally:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
            logged_path = path if relative is None else relative
            sim.record_request(
                RequestRecord(method, logged_path, query, self.status, self.bytes_sent, self.complete, headers)
            )
        if self.cut:  # only after the record: the client may retry at once
            self._reset_connection()

    def _read_body(self) -> None:
        # Read it even when unused: keeps the keep-alive stream in step.
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length > 0 else b""

    # ------------------------------------------------------------------ gates

    def _serve(self, method: str, organization: str, path: str | None, query: dict[str, str]) -> None:
        sim = self.sim
        allowed, remaining = sim.rate_limit(organization, method)
        if sim.rate_limit_per_second is not None:
            self.response_headers["Ratelimit-Limit-Second"] = str(sim.rate_limit_per_second)
            self.response_headers["Ratelimit-Remaining-Second"] = str(remaining)
        if not allowed:
            self._json(429, error_body("Rate limit exceeded; slow down"))
            return
        if path is None:  # how the simulator plays "no such organization"
            self._json(404, NOT_FOUND)
            return
        is_file = FILE_PATH.match(path) is not None
        is_report = path == REPORTS_PATH or path.startswith(REPORTS_PATH + "/")
        faults = sim.faults
        self.stall = faults.take_stall(is_file, is_report)
        if faults.take_rate_limit(is_file, is_report):
            self.response_headers["Ratelimit-Remaining-Second"] = "0"
            if faults.retry_after is not None:
                self.response_headers["Retry-After"] = _seconds(faults.retry_after)
            self._json(429, error_body("Rate limit exceeded; slow down"))
            return
        status = faults.take_server_error(is_file, is_report)
        if status is not None:
            self._json(status, error_body("Something went wrong; try again"))
            return
        answer = faults.take_answer(is_file, self.headers.items(), is_report)
        if answer is not None:
            self._send_answer(answer)
            return
        who = sim.authenticate(self.headers.get("Authorization"))
        if who is None:
            self._json(401, error_body("Invalid agent email or API token"))
            return
        if who == "unprivileged":
            self._json(403, error_body("The agent lacks the API User permission"))
            return
        self._route(method, path, query)

    def _route(self, method: str, path: str, query: dict[str, str]) -> None:
        reading = method in ("GET", "HEAD")
        if path == "/export/jobs":
            return self._list_jobs(query) if reading else self._not_allowed("GET")
        if match := JOB_PATH.match(path):
            if method == "DELETE":
                return self._delete_job(match[1])
            return self._get_job(match[1]) if reading else self._not_allowed("GET, DELETE")
        if match := FILE_PATH.match(path):
            return self._file(match[1], match[2]) if reading else self._not_allowed("GET")
        if path in ("/export/schedules", "/agents", "/topics"):
            if not reading:
                return self._not_allowed("GET")
            return self._json(200, self.sim.collection(path))
        if serves(path):
            return self._send(self.sim.report(method, path, self.body))
        self._json(404, NOT_FOUND)
        return None

    def _not_allowed(self, allow: str) -> None:
        self.response_headers["Allow"] = allow
        self._json(405, error_body(f"Use {allow}"))

    # ------------------------------------------------------------------ endpoints

    def _list_jobs(self, query: dict[str, str]) -> None:
        now = self.sim.now()
        status = query.get("status")
        if status is not None and status not in STATUSES:
            code = "blank" if status == "" else "invalid"
            return self._json(400, error_body(f"status must be one of {', '.join(STATUSES)}", code, "status"))
        bounds = {}
        for attr in ("startAt", "endAt"):
            text = query.get(attr)
            if text is None:
                continue
            if text.strip() == "":
                return self._json(400, error_body(f"{attr} must not be blank", "blank", attr))
            try:
                bounds[attr] = parse_instant(text)
            except ValueError:
                return self._json(400, error_body(f"{attr} is not an ISO 8601 date-time: {text!r}", "invalid", attr))
        start = bounds.get("startAt", now - RETENTION)
        end = bounds.get("endAt")
        if start < now - RETENTION:
            return self._json(400, error_body("startAt cannot be more than 14 days ago", "invalid", "startAt"))
        if end is not None and end < start:
            return self._json(400, error_body("endAt cannot be before startAt", "invalid", "endAt"))
        if end is not None and end > now:
            return self._json(400, error_body("endAt cannot be in the future", "invalid", "endAt"))
        # updatedAt in [startAt, endAt): the start is inclusive, so a cursor re-reads its own instant.
        jobs = [
            job.to_api()
            for job in self.sim.visible_jobs()
            if (status is None or job.status == status)
            and start <= job.updated_at
            and (end is None or job.updated_at < end)
        ]
        self._json(200, jobs + self.sim.faults.take_hostile_jobs())
        return None

    def _get_job(self, job_id: str) -> None:
        job = self.sim.visible_job(job_id)
        if job is None:
            return self._json(404, NOT_FOUND)
        self._json(200, job.to_api())
        return None

    def _delete_job(self, job_id: str) -> None:
        job = self.sim.visible_job(job_id)
        if job is None:
            return self._json(404, NOT_FOUND)
        if job.status not in ("COMPLETED", "FAILED"):
            detail = f"unable to delete job with status [{job.status}], only COMPLETED or FAILED jobs can be deleted"
            return self._json(400, error_body(detail, "temporary_failure", "status"))
        job.deleted = True
        self._json(204, None)
        return None

    def _file(self, job_id: str, name: str) -> None:
        sim = self.sim
        job = sim.visible_job(job_id)
        if job is None or job.status != "COMPLETED" or name not in job.files:
            return self._json(404, NOT_FOUND)
        if sim.faults.take_expire():
            job.deleted = True
            return self._json(404, NOT_FOUND)
        path = sim.file_path(job_id, name)  # generates it on first use
        size = path.stat().st_size
        first, last = 0, size - 1
        status = 200
        if sim.ranges:  # an option: Gladly documents no ranges, ETag or If-Range
            etag = f'"{path.parent.name}-{size}"'
            self.response_headers.update({"Accept-Ranges": "bytes", "ETag": etag})
            range_header = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if range_header and (if_range is None or if_range == etag):
                wanted = _byte_range(range_header, size)
                if wanted == "unsatisfiable":
                    self.response_headers["Content-Range"] = f"bytes */{size}"
                    return self._json(416, error_body(f"Range not satisfiable for {size} bytes"))
                if isinstance(wanted, tuple):
                    (first, last), status = wanted, 206
                    self.response_headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        length = max(0, last - first + 1)
        reset_after = sim.faults.take_reset() if self.method == "GET" else None
        short = sim.faults.take_short_body(length) if self.method == "GET" and reset_after is None else None
        self._start(status, "application/x-ndjson", length)
        if self.method == "HEAD":
            self.complete = True
            return None
        to_send = min([length, *(cut for cut in (reset_after, short) if cut is not None)])
        hold = sim.faults.take_hold() if self.method == "GET" else None
        with open(path, "rb") as source:
            offset = first
            while self.bytes_sent < to_send:
                if hold is not None and self.bytes_sent >= hold:
                    self._hold()
                    hold = None
                until = to_send if hold is None else min(to_send, hold)
                sent = self.connection.sendfile(source, offset, min(_CHUNK, until - self.bytes_sent))
                if sent == 0:
                    break
                offset += sent
                self.bytes_sent += sent
        self.complete = self.bytes_sent == length
        if reset_after is not None:
            self._abort()
        if short is not None:
            self.close_connection = True  # a clean close (FIN) that leaves the body short
        return None

    def _hold(self) -> None:
        """Wait for the hold fault's release (see ``Faults.holds``)."""
        faults = self.sim.faults
        faults.holding.set()
        while not faults.release.wait(_HOLD_POLL_SECONDS):
            if self.sim.stopping or _peer_closed(self.connection):
                raise ConnectionAbortedError("the client went away (or the simulator stopped) during a hold")

    # ------------------------------------------------------------------ responses

    def _start(self, status: int, content_type: str | None, length: int | None) -> None:
        """Status line and headers, then the stall fault if one is due. Without a ``length``
        the body ends when the connection closes."""
        self.status, self.started = status, True
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        elif status != 204:
            self.send_header("Content-Length", str(length))
        for name, value in self.response_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.stall:
            self.sim.pause(self.stall)
            if _peer_closed(self.connection):  # the client timed out meanwhile: log it as cut short
                raise ConnectionAbortedError("client went away during a stall")

    def _json(self, status: int, payload: object) -> None:
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        self._start(status, "application/json; charset=utf-8" if body else None, len(body))
        if body and self.method != "HEAD":
            self.wfile.write(body)
            self.bytes_sent = len(body)
        self.complete = True

    def _send_answer(self, answer: Answer) -> None:
        """A hostile answer from ``Faults.take_answer``: sent as told, dripped or endless."""
        self.response_headers.update(answer.headers)
        self._start(answer.status, answer.content_type, answer.length)
        if self.method == "HEAD":
            self.complete = True
            return
        for piece in answer.body:
            if self.sim.stopping:
                break
            if answer.drip_seconds:
                for i in range(len(piece)):
                    self.wfile.write(piece[i : i + 1])
                    self.wfile.flush()
                    self.bytes_sent += 1
                    self.sim.pause(answer.drip_seconds)
                    if self.sim.stopping:
                        break
            else:
                self.wfile.write(piece)
                self.bytes_sent += len(piece)
        self.complete = answer.length is not None and self.bytes_sent == answer.length

    def _send(self, response: Response) -> None:
        """A response built outside the handler (reports); ``reset_after`` cuts its body short."""
        self.response_headers.update(response.headers)
        body = response.body
        self._start(response.status, response.content_type, len(body))
        if self.method == "HEAD":
            self.complete = True
            return
        to_send = body if response.reset_after is None else body[: response.reset_after]
        self.wfile.write(to_send)
        self.bytes_sent = len(to_send)
        self.complete = len(to_send) == len(body)
        if response.reset_after is not None:
            self.wfile.flush()
            self._abort()

    def _abort(self) -> None:
        """Stop answering; ``_handle`` then cuts the connection (reset fault)."""
        self.close_connection = self.cut = True
        raise _Aborted

    def _reset_connection(self) -> None:
        """Close with a TCP reset (RST), as a dying proxy would, not a clean FIN."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.rfile.close()  # the last reference: the socket really closes now, with RST
        except OSError:
            pass


def _byte_range(header: str, size: int) -> tuple[int, int] | str | None:
    """One ``bytes=`` range -> (first, last); None to ignore it (serve 200); "unsatisfiable" for 416."""
    match = _RANGE.match(header.strip())
    if match is None or match[1] == match[2] == "":
        return None  # several ranges or garbage: a server may ignore Range
    if match[1]:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
        if first >= size:
            return "unsatisfiable"
        return (first, last) if last >= first else None
    suffix = int(match[2])
    if suffix == 0 or size == 0:
        return "unsatisfiable"
    return max(0, size - suffix), size - 1


def _peer_closed(connection: socket.socket) -> bool:
    """Whether the client has hung up (readable, and a peek reads end-of-stream)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


__all__ = ["Handler", "RateLimiter", "RequestRecord", "SimulatorHTTPServer", "error_body"]
