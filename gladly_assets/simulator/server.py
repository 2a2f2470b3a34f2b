"""``GladlySimulator``: a local, seeded Gladly organization with its Export API.

The simulator owns the jobs, the clock and the faults; ``handler.py`` speaks
HTTP on its behalf. Tests drive it through this class (complete a job, advance
the clock, arm a fault) and talk to it with a real HTTP client.
"""

from __future__ import annotations

import base64
import hmac
import json
import random
import shutil
import sys
import tempfile
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .faults import Faults
from .generator import ALL_FILES, CONVERSATION_HORIZON, ITEMS_FILE, ITEMS_PER_CONVERSATION, JobSpec, Slot, generate_job
from .handler import FILE_PATH, RateLimiter, RequestRecord, SimulatorHTTPServer
from .jobs import (
    FRACTION_DIGITS,
    PERIODS,
    RETENTION,
    WINDOW_MODES,
    Clock,
    Job,
    Schedule,
    as_utc,
    floor_period,
    format_instant,
    truncate,
)
from .reports import ReportOptions, ReportService, Response, WorldView
from .world import World, new_id

# The request log keeps the newest records only, so that a demo can run for days.
_LOG_LIMIT = 100_000
# Relative activity per UTC hour for HOURLY history: quiet nights, so a few
# night windows are empty (a job with no files, as the contract allows).
_HOURLY_ACTIVITY = (
    0.3, 0.2, 0.1, 0.0, 0.1, 0.3, 0.6, 1.0, 1.4, 1.6, 1.6, 1.5,
    1.4, 1.5, 1.6, 1.5, 1.4, 1.2, 1.0, 0.9, 0.8, 0.7, 0.5, 0.4,
)  # fmt: skip


def _default_files(conversations: int, conversation_items: int | None) -> tuple[str, ...]:
    """All four files, or none for a window without activity (the contract allows both)."""
    activity = conversation_items if conversation_items is not None else conversations
    return ALL_FILES if activity else ()


class GladlySimulator:
    """A Gladly organization on 127.0.0.1. See the package docstring for an example."""

    def __init__(
        self,
        seed: int = 7,
        frequency: str = "DAILY",
        history_days: int = 14,
        organization: str = "acme",
        agent_email: str = "api@acme.example",
        api_token: str = "sim-token-not-secret",
        now: datetime | None = None,
        conversations_per_job: int = 20,
        customers: int = 50,
        agents: int = 8,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = 10,
        data_dir: Path | None = None,
        *,
        # Defaults for the jobs the simulator makes on its own (history, ticker);
        # complete_job() takes its own options.
        conversation_items_per_job: int | None = None,
        malformed_lines: int = 0,
        log_requests: bool = False,
        ranges: bool = False,
        windows: str = "contiguous",
        window_anchor: timedelta | None = None,
        report_options: ReportOptions | None = None,
    ) -> None:
        if frequency not in PERIODS:
            raise ValueError(f"frequency must be one of {sorted(PERIODS)}")
        if windows not in WINDOW_MODES:
            raise ValueError(f"windows must be one of {WINDOW_MODES}")
        self.seed = seed
        self.frequency = frequency
        self.organization = organization
        self.agent_email = agent_email
        self.api_token = api_token
        domain = agent_email.rsplit("@", 1)[-1]
        self.unprivileged_agent_email = f"viewer@{domain}"
        self.unprivileged_api_token = "sim-viewer-token-not-secret"
        self.conversations_per_job = conversations_per_job
        self.host, self._requested_port = host, port
        self.log_requests = log_requests
        # Byte ranges, ETag and If-Range: Gladly documents none of them, so off unless asked for.
        self.ranges = ranges
        self._items_per_job = conversation_items_per_job
        self._malformed_per_job = malformed_lines
        self._period = PERIODS[frequency]
        self.schedule = Schedule.for_frequency(frequency, seed, window_anchor, windows)
        # Conversations per slot, as the first job of that slot generated them (0: an exact-count job,
        # whose conversations stay in its window): later windows continue those conversations.
        self._slot_conversations: dict[int, int] = {}
        self._clock = Clock(now)
        self._world = World(seed, customers, agents, domain)
        self._id_rng = random.Random(f"{seed}:ids")
        self.schedule_id = new_id(self._id_rng)
        id_rng = random.Random(f"{seed}:users")  # the API users are agents too (GET /agents)
        self._api_users = [
            {"id": new_id(id_rng), "name": "API User", "emailAddress": agent_email},
            {"id": new_id(id_rng), "name": "Read-only Viewer", "emailAddress": self.unprivileged_agent_email},
        ]
        self._jobs: dict[str, Job] = {}  # insertion order = the order the API lists them
        self._ordinal = 0
        self._lock = threading.RLock()
        self._faults = Faults()
        self._limiter = RateLimiter(rate_limit_per_second)
        self._log: deque[RequestRecord] = deque(maxlen=_LOG_LIMIT)
        self._in_flight = 0
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._server: SimulatorHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._owns_data_dir = data_dir is None
        self._data_dir = Path(tempfile.mkdtemp(prefix="gladly-sim-")) if data_dir is None else Path(data_dir)
        self._data_dir.mkdir(parents=True, exist_ok=True)
        if self._owns_data_dir:  # also when nobody calls stop()
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._data_dir, True)
        self._create_history(history_days)
        self.reports = ReportService(
            WorldView(
                organization=organization,
                seed=seed,
                jobs=self.jobs,
                items=self.conversation_items,
                agents=self._world_agents,
                topics=self.topics,
                inboxes=self.inboxes,
                inbox_of=self.inbox_of,
                faults=lambda: self.faults,
                pause=self.pause,
                stopping=lambda: self.stopping,
            ),
            report_options,
        )

    @property
    def report_options(self) -> ReportOptions:
        """Limits and CSV options of the Reports API; fields may be changed at any time."""
        return self.reports.options

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> GladlySimulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = SimulatorHTTPServer((self.host, self._requested_port), self)
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="gladly-simulator", daemon=True
        )
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends stalls and the ticker
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self._owns_data_dir:
            self._cleanup()

    def __enter__(self) -> GladlySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/{self.organization}/api/v1"

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def client_settings(self) -> dict[str, str]:
        """The ``GladlyResource`` settings that point a client at this simulator."""
        return {
            "base_url": self.base_url,
            "organization": self.organization,
            "agent_email": self.agent_email,
            "api_token": self.api_token,
        }

    def client_environment(self) -> dict[str, str]:
        """The same settings as the ``GLADLY_*`` environment variables the code location reads."""
        return {f"GLADLY_{name.upper()}": value for name, value in self.client_settings().items()}

    # ------------------------------------------------------------------ clock

    def now(self) -> datetime:
        return self._clock.now()

    def advance(self, delta: timedelta) -> datetime:
        """Move the virtual clock (retention follows it). Real-time clocks refuse."""
        return self._clock.advance(delta)

    # ------------------------------------------------------------------ jobs

    def complete_job(self, updated_at: datetime | None = None, **options: Any) -> dict[str, Any]:
        """A new COMPLETED job, its files generated now; returns it as the API shows it.

        Its window is the newest one whose job the schedule would have completed
        by ``updated_at`` (default: the clock). An ``updated_at`` older than
        existing jobs makes a late job, as Gladly support's regenerated exports
        are: it has no ``scheduleId``. ``options`` choose the files' content (see ``_finish``).
        """
        updated = as_utc(updated_at) if updated_at is not None else self.now()
        with self._lock:
            late = any(job.updated_at > updated for job in self._jobs.values() if job.status == "COMPLETED")
        job = self._new_job("IN_PROGRESS", updated, register=False, scheduled=not late)
        self._finish(job, updated, **options)
        return job.to_api()

    def start_job(self, status: str = "IN_PROGRESS") -> dict[str, Any]:
        """A new job left PENDING or IN_PROGRESS (no files yet); ``finish_job`` completes it."""
        if status not in ("PENDING", "IN_PROGRESS"):
            raise ValueError("a started job is PENDING or IN_PROGRESS")
        return self._new_job(status, self.now()).to_api()

    def finish_job(self, job_id: str, updated_at: datetime | None = None, **options: Any) -> dict[str, Any]:
        """Complete a PENDING or IN_PROGRESS job; ``options`` are those of ``complete_job``."""
        job = self._in_progress(job_id)
        updated = as_utc(updated_at) if updated_at is not None else self.now()
        self._finish(job, updated, **options)
        return job.to_api()

    def fail_job(self, job_id: str, updated_at: datetime | None = None) -> dict[str, Any]:
        """Mark a PENDING or IN_PROGRESS job FAILED (it lists no files)."""
        job = self._in_progress(job_id)
        with self._lock:
            self._set_updated(job, as_utc(updated_at) if updated_at is not None else self.now(), 9)
            job.status = "FAILED"
        return job.to_api()

    def jobs(self, status: str | None = "COMPLETED") -> list[dict[str, Any]]:
        """Visible (unexpired, undeleted) jobs as ``GET /export/jobs`` lists them; status None = all."""
        return [job.to_api() for job in self.visible_jobs() if status is None or job.status == status]

    def file_path(self, job_id: str, file_name: str) -> Path:
        """Where the served bytes of that file live (generated on first use)."""
        with self._lock:
            job = self._jobs[job_id]
        if job.spec is None or file_name not in job.files:
            raise FileNotFoundError(f"job {job_id} has no file {file_name}")
        return self._ensure_files(job) / file_name

    def file_bytes(self, job_id: str, file_name: str) -> bytes:
        return self.file_path(job_id, file_name).read_bytes()

    # ------------------------------------------------------------------ for derived data (Reports API, analytics)

    def conversation_items(self) -> Iterator[dict[str, Any]]:
        """Every distinct conversation item of the visible COMPLETED jobs, oldest job first.

        Read from the files a client downloads (generated on first use), so it is
        exactly what a sync can see: an item that several jobs hold (overlapping
        windows, duplicate jobs) comes once, as its first job has it; malformed
        and ``mutate``-d lines are skipped unless they still parse as an item.
        """
        seen: set[str] = set()
        jobs = sorted(self.visible_jobs(), key=lambda job: (job.updated_at, job.ordinal))
        for job in jobs:
            if job.status != "COMPLETED" or ITEMS_FILE not in job.files:
                continue
            with open(self.file_path(job.id, ITEMS_FILE), "rb") as lines:
                for line in lines:
                    try:
                        item = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] not in seen:
                        seen.add(item["id"])
                        yield item

    def agents(self) -> list[dict[str, Any]]:
        """The organization's agents as ``GET /agents`` lists them now (the API users included)."""
        return self.collection("/agents")

    def topics(self) -> list[dict[str, Any]]:
        """The topics as ``GET /topics`` lists them now."""
        return self.collection("/topics")

    def inboxes(self) -> list[dict[str, Any]]:
        """The organization's inboxes, ``{id, name, channels}`` (the export API has none; the Reports API does)."""
        return self._world.inboxes()

    def inbox_of(self, conversation_id: str, channel: str) -> dict[str, Any]:
        """The inbox a conversation was routed to, given its channel (the ``content.type`` of its
        first customer message): stable per conversation id."""
        return self._world.inbox_of(conversation_id, channel)

    # ------------------------------------------------------------------ faults and log

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._faults = faults

    @property
    def request_log(self) -> list[RequestRecord]:
        """Requests so far, in the order their responses ended. Waits (up to 5 s) for requests still being answered,
        so that a test reading it right after a response sees that response's record."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=5)
            return list(self._log)

    def downloads(self) -> list[tuple[str, str]]:
        """(job_id, file_name) of every file GET served completely with 200 or 206."""
        result = []
        for record in self.request_log:
            match = FILE_PATH.match(record.path)
            if match and record.method == "GET" and record.status in (200, 206) and record.complete:
                result.append((match[1], match[2]))
        return result

    def clear_log(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=5)
            self._log.clear()

    def start_ticker(self, every_seconds: float) -> None:
        """Complete a new job every ``every_seconds`` real seconds until stop() (for demos).

        A demo ticks faster than the schedule's windows pass, so most ticks re-export the
        newest window: each gets conversations of its own (an exact-count job), or it
        would repeat the same items and a demo's tables would stand still.
        """
        items = self._items_per_job
        if items is None:
            items = round(self.conversations_per_job * ITEMS_PER_CONVERSATION)

        def tick() -> None:
            while not self._stopping.wait(every_seconds):
                try:
                    job = self.complete_job(conversation_items=items, malformed_lines=self._malformed_per_job)
                    if self.log_requests:
                        print(
                            f"[simulator] completed job {job['id']} at {job['updatedAt']}", file=sys.stderr, flush=True
                        )
                except Exception as error:  # keep ticking; a demo should survive one bad tick
                    print(f"[simulator] ticker failed: {error!r}", file=sys.stderr, flush=True)

        thread = threading.Thread(target=tick, name="gladly-simulator-ticker", daemon=True)
        thread.start()
        self._threads.append(thread)

    # ------------------------------------------------------------------ internals: jobs

    def _create_history(self, days: int) -> None:
        """One COMPLETED job per period for ``days`` days, then the next period's job
        IN_PROGRESS and the one after it PENDING."""
        now, schedule = self.now(), self.schedule
        last = schedule.last_completed_slot(now)
        for slot in range(last - days * (timedelta(days=1) // self._period) + 1, last + 1):
            updated = schedule.completion_time(slot)
            if updated < now - RETENTION:
                continue
            job = self._new_job("COMPLETED", updated, slot=slot, fraction_digits=self._history_digits(slot))
            conversations, items = self._history_volume(slot)
            job.files = _default_files(conversations, items)
            # Generated lazily, on first download.
            job.spec = self._spec(job, job.files, conversations, items, self._malformed_per_job)
        self._new_job("IN_PROGRESS", now, slot=last + 1)
        self._new_job("PENDING", now, slot=last + 2)

    def _history_digits(self, slot: int) -> int:
        # Gladly's updatedAt has 2 to 9 fraction digits: mostly 9, sometimes fewer.
        return random.Random(f"{self.seed}:digits:{slot}").choice((9, 9, 9, 9, 9, 8, 7, 6, 3, 2))

    def _history_volume(self, slot: int) -> tuple[int, int | None]:
        """(conversations, exact items or None) of a history job, or of a slot no job covers."""
        if self._period >= timedelta(days=1):
            return self.conversations_per_job, self._items_per_job
        # Hourly: a day's worth spread over 24 windows, busier by day (keeps 336 jobs cheap).
        activity = _HOURLY_ACTIVITY[self.schedule.slot_start(slot).hour]
        conversations = round(self.conversations_per_job / 8 * activity)
        items = None if self._items_per_job is None else round(self._items_per_job / 24 * activity)
        return conversations, items

    def _spec(
        self,
        job: Job,
        files: tuple[str, ...],
        conversations: int,
        items: int | None,
        malformed_lines: int,
        extra: tuple[tuple[str, tuple[bytes, ...]], ...] = (),
    ) -> JobSpec:
        """The job's files as a pure function of the slots its window can hold conversations of."""
        schedule = self.schedule
        with self._lock:
            self._slot_conversations.setdefault(job.slot, conversations if items is None else 0)
            slots = []
            for slot in range(schedule.slot_of(job.start_at - CONVERSATION_HORIZON), job.slot + 1):
                if slot == job.slot:
                    count = conversations if items is None else 0
                elif slot in self._slot_conversations:
                    count = self._slot_conversations[slot]
                else:  # before the history, or a period no job has covered yet
                    history_conversations, history_items = self._history_volume(slot)
                    count = history_conversations if history_items is None else 0
                if count:
                    slots.append(Slot(schedule.slot_start(slot), schedule.slot_start(slot + 1), count))
        return JobSpec(
            job.id, job.ordinal, job.start_at, job.end_at, files, conversations, items, malformed_lines, extra,
            tuple(slots),
        )  # fmt: skip

    def _new_job(
        self,
        status: str,
        updated: datetime,
        *,
        slot: int | None = None,
        fraction_digits: int = 9,
        register: bool = True,
        scheduled: bool = True,
    ) -> Job:
        schedule = self.schedule
        if slot is None:
            slot = schedule.last_completed_slot(updated)
        start, end = schedule.window(slot)
        with self._lock:
            job = Job(
                id=new_id(self._id_rng),
                schedule_id=self.schedule_id if scheduled else None,
                status=status,
                updated_at=updated,
                updated_at_text="",
                start_at=start,
                end_at=end,
                window_text=(schedule.format(start), schedule.format(end)),
                ordinal=self._ordinal,
                slot=slot,
            )
            self._ordinal += 1
            self._set_updated(job, updated, fraction_digits)
            if register:
                self._jobs[job.id] = job
        return job

    @staticmethod
    def _set_updated(job: Job, updated: datetime, fraction_digits: int) -> None:
        job.updated_at_text = format_instant(updated, fraction_digits)
        job.updated_at = truncate(updated, fraction_digits)

    def _finish(
        self,
        job: Job,
        updated: datetime,
        *,
        fraction_digits: int = 9,
        conversations: int | None = None,
        conversation_items: int | None = None,
        files: Sequence[str] | None = None,
        malformed_lines: int = 0,
        mutate: Callable[[str, list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
        extra_lines: Mapping[str, Sequence[bytes]] | None = None,
    ) -> None:
        """Generate ``job``'s files and mark it COMPLETED at ``updated``: the options of
        ``complete_job`` and ``finish_job``, with their defaults."""
        if fraction_digits not in FRACTION_DIGITS:
            raise ValueError("fraction_digits must be between 2 and 9")
        if isinstance(files, str):
            raise TypeError("files must be a sequence of file names, not one string")
        unknown = set(files or ()) - set(ALL_FILES) | set(extra_lines or {}) - set(ALL_FILES)
        if unknown:
            raise ValueError(f"unknown files {sorted(unknown)}; known: {ALL_FILES}")
        conversations = self.conversations_per_job if conversations is None else conversations
        if files is None:
            files = _default_files(conversations, conversation_items)
        extra = tuple(sorted((name, tuple(lines)) for name, lines in (extra_lines or {}).items()))
        spec = self._spec(job, tuple(sorted(set(files))), conversations, conversation_items, malformed_lines, extra)
        job.spec, job.mutate = spec, mutate
        self._ensure_files(job)  # before the job shows as COMPLETED, as at Gladly
        with self._lock:
            self._set_updated(job, updated, fraction_digits)
            job.status, job.files = "COMPLETED", spec.files
            self._jobs[job.id] = job

    def _in_progress(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.status not in ("PENDING", "IN_PROGRESS"):
            raise ValueError(f"no PENDING or IN_PROGRESS job {job_id}")
        return job

    def _ensure_files(self, job: Job) -> Path:
        with job.generation_lock:  # one generation per job; other jobs go on in parallel
            if job.directory is None:
                assert job.spec is not None
                # Cached by content: the same seed and spec reuse a data_dir's files
                # across runs. A mutate hook cannot be fingerprinted: never reuse those.
                key = job.spec.cache_key(self._world) if job.mutate is None else f"m{uuid.uuid4().hex[:16]}"
                directory = self._data_dir / f"{job.id}-{key}"
                if not directory.is_dir():
                    generate_job(self._world, job.spec, directory, job.mutate)
                job.directory = directory
            return job.directory

    def visible_jobs(self) -> list[Job]:
        """Jobs the API lists now (unexpired, undeleted), in creation order."""
        now = self.now()
        with self._lock:
            return [job for job in self._jobs.values() if job.visible(now)]

    def visible_job(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.visible(self.now()) else None

    # ------------------------------------------------------------------ what the HTTP handler uses (SimulatorBackend)

    def resolve(self, path: str) -> tuple[str, str | None]:
        """(organization, path under /{organization}/api/v1), the latter None if it is not ours."""
        parts = path.split("/", 4)  # "", org, "api", "v1", rest
        organization = parts[1] if len(parts) > 1 else ""
        if len(parts) < 4 or organization.lower() != self.organization.lower() or parts[2:4] != ["api", "v1"]:
            return organization.lower(), None
        return organization.lower(), "/" + parts[4] if len(parts) == 5 else ""

    def authenticate(self, header: str | None) -> str | None:
        """``"privileged"``, ``"unprivileged"``, or None for bad credentials."""
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            email, _, token = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        for kind, (known_email, known_token) in (
            ("privileged", (self.agent_email, self.api_token)),
            ("unprivileged", (self.unprivileged_agent_email, self.unprivileged_api_token)),
        ):
            # compare_digest: no timing hints about the token, as a real server would do
            if email.lower() == known_email.lower() and hmac.compare_digest(token.encode(), known_token.encode()):
                return kind
        return None

    def _world_agents(self) -> list[dict[str, Any]]:
        """The organization's support agents as of the newest job (the API users excluded)."""
        ordinal = max(0, self._ordinal - 1)
        return [self._world.agent(i, ordinal) for i in range(self._world.agent_count)]

    def report(self, method: str, path: str, body: bytes) -> Response:
        """POST /reports..., GET /teams and /inboxes (``reports.ReportService``)."""
        return self.reports.handle(method, path, body)

    def collection(self, path: str) -> list[dict[str, Any]]:
        """GET /export/schedules, /agents, /topics: the organization as of the newest job."""
        ordinal = max(0, self._ordinal - 1)
        world = self._world
        if path == "/agents":
            return self._world_agents() + self._api_users
        if path == "/topics":
            return [world.topic(i, ordinal) for i in range(world.topic_count)]
        now = self.now()
        created = floor_period(now, timedelta(days=1)) - timedelta(days=90) + self.schedule.anchor
        return [
            {
                "id": self.schedule_id,
                "frequency": self.frequency,
                "type": "CONVERSATIONS",
                "nextStartAt": self.schedule.format(self.schedule.next_start(now)),
                "updatedAt": format_instant(created, 9),
            }
        ]

    def rate_limit(self, organization: str, method: str) -> tuple[bool, int]:
        """(allowed, remaining this second) for one request; refused requests do not count."""
        return self._limiter.hit((organization, method))

    @property
    def rate_limit_per_second(self) -> int | None:
        return self._limiter.per_second

    def pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)  # stop() cuts a stall short

    def request_started(self) -> None:
        with self._idle:
            self._in_flight += 1

    def record_request(self, record: RequestRecord) -> None:
        if self.log_requests:
            print(
                f"[simulator] {record.method} {record.path} -> {record.status} ({record.bytes_sent} bytes)",
                file=sys.stderr,
                flush=True,
            )
        with self._idle:
            self._log.append(record)
            self._in_flight -= 1
            self._idle.notify_all()
