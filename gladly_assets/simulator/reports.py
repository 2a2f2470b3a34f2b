"""Gladly's Reports API and its list endpoints, served from the simulated world.

Endpoints (under ``/{org}/api/v1``, behind the same organization, rate-limit,
fault and Basic-auth gates as the Export API):

- ``POST /reports`` with ``{metricSet, startAt, endAt, timezone}`` (dates, ``endAt``
  inclusive) or ``{metricSet, startAtTime, endAtTime}`` (instants, end inclusive to
  the minute) for ``ContactExportReportV3`` and ``WorkSessionEventsReportV4``. Sets:
  see ``reports_sets.METRIC_SETS``. ``filters.channel`` (contacts) and
  ``filters.inboxes`` (conversation and contact exports) narrow the rows.
- ``POST /reports/work-session-events`` with ``{startAtTime, endAtTime}``: the V2 CSV.
- ``GET /teams``, ``GET /inboxes`` (and ``/teams/{id}``, ``/inboxes/{id}``): JSON.

A report is a synchronous ``200 text/csv`` (UTF-8 byte-order mark by default,
RFC 4180 quoting, CRLF by default, empty cells for nulls, rows in no particular order, an
empty body for an empty window), computed from the conversation items of the
visible COMPLETED jobs (see ``reports_model`` for what a contact is). Limits:
``ReportOptions`` (10 report requests a minute and 2 at once per organization,
429 past either; a silent row cap). Faults: ``Faults`` with ``applies_to="reports"``
aims 429s, 5xx and stalls at report requests; ``resets`` cut a CSV mid-body;
``report_bodies`` answers 200 with HTML, JSON or plain text instead of a CSV.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .faults import Faults
from .reports_model import Conversation, derive, derived_id, parse_items
from .reports_sets import METRIC_SETS, RECENT_HEADERS, WORK_SESSION_EVENTS, MetricSet, Names, Row, rows_in_window

REPORTS_PATH = "/reports"
WORK_SESSION_EVENTS_PATH = "/reports/work-session-events"
_DIRECTORY_ITEM = re.compile(r"^/(teams|inboxes)/[^/]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_AGGREGATION_LEVELS = ("halfHourly", "daily", "weekly", "monthly", "quarterly")
# filters.channel -> the channels it keeps, and how the Channel Filter column echoes it.
CHANNEL_FILTERS: Mapping[str, tuple[frozenset[str] | None, str]] = {
    "allChannels": (None, "All Channels"),
    "chat": (frozenset({"CHAT"}), "Chat"),
    "email": (frozenset({"EMAIL"}), "Email"),
    "fbMessenger": (frozenset({"FB_MESSENGER"}), "Facebook Messenger"),
    "sms": (frozenset({"SMS"}), "SMS"),
    "twitter": (frozenset({"TWITTER"}), "Twitter"),
    "voice": (frozenset({"PHONE_CALL", "VOICEMAIL"}), "Voice"),
    "whatsapp": (frozenset({"WHATSAPP"}), "WhatsApp"),
    "instagramDirect": (frozenset({"INSTAGRAM_DIRECT"}), "Instagram Direct"),
}
# Gladly keeps disabled inboxes in the list; the simulated world routes nothing to this one.
DISABLED_INBOX = "Legacy Chat"
# (name, description); agents are dealt round-robin, and the first agent also leads the last team.
TEAMS: tuple[tuple[str, str], ...] = (
    ("Returns Desk", "Refund and exchange questions"),
    ('Billing, Payments & "Refunds"', "Charges, invoices and refunds.\nWeekdays only."),
    ("Tier 2 – Escalations", "Cases the first line hands over"),
)


@dataclass
class ReportOptions:
    """How the simulator's Reports API behaves; change fields on ``sim.report_options`` at any time."""

    requests_per_window: int | None = 10  # report requests per organization per window; None: unlimited
    window_seconds: float = 60.0
    concurrent: int | None = 2  # report requests being computed at once per organization
    row_cap: int = 100_000  # rows past this are dropped silently, as connectors report of Gladly
    byte_order_mark: bool = True
    line_terminator: str = "\r\n"  # RFC 4180; Gladly's is undocumented, so "\n" can be tried too
    header_style: str = "captured"  # "captured" (2022/2023 files) or "recent" (no " in seconds")
    organization_timezone: str = "America/New_York"  # when a date request sends no timezone
    latency_seconds: float = 0.0  # how long each report takes to compute

    def __setattr__(self, name: str, value: object) -> None:
        if name == "header_style" and value not in ("captured", "recent"):
            raise ValueError("header_style must be 'captured' or 'recent'")
        if name == "line_terminator" and value not in ("\r\n", "\n"):
            raise ValueError("line_terminator must be CRLF or LF")
        super().__setattr__(name, value)


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    reset_after: int | None = None  # send this many body bytes, then cut the connection


def _json(status: int, payload: object) -> Response:
    return Response(status, "application/json; charset=utf-8", json.dumps(payload, ensure_ascii=False).encode())


def _error(attr: str, code: str, detail: str) -> Response:
    """Gladly's documented 400 envelope."""
    return _json(400, {"errors": [{"attr": attr, "code": code, "detail": detail}]})


def _detail(status: int, detail: str) -> Response:
    """No body is documented for 405 or 429: the envelope with a detail only."""
    return _json(status, {"errors": [{"detail": detail}]})


# Gladly's documented 404 (NotFoundErrors): no attr.
_NOT_FOUND = _json(404, {"errors": [{"code": "not_exist", "detail": "entity does not exist"}]})


def serves(path: str) -> bool:
    """Whether ``ReportService.handle`` answers this path (under /{org}/api/v1)."""
    return path in (REPORTS_PATH, WORK_SESSION_EVENTS_PATH, "/teams", "/inboxes") or bool(_DIRECTORY_ITEM.match(path))


class BadRequest(Exception):
    def __init__(self, attr: str, code: str, detail: str) -> None:
        super().__init__(detail)
        self.response = _error(attr, code, detail)


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ReportRequest:
    metric_set: MetricSet
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    zone: str  # the zone times are printed in, and the Timezone Filter echo
    file_name: str
    channels: frozenset[str] | None = None
    channel_echo: str = "All Channels"
    inboxes: frozenset[str] | None = None


def _body_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body) if body.strip() else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise BadRequest("body", "invalid", "The request body must be a JSON object")
    return payload


def _present(payload: Mapping[str, Any], key: str) -> bool:
    return payload.get(key) is not None


def _window_bound(payload: Mapping[str, Any], attr: str, pattern: re.Pattern[str], example: str) -> str:
    """The text of one window bound, or the 400 for a missing or malformed one."""
    text = payload.get(attr)
    if text is None or text == "":
        raise BadRequest(attr, "blank", f"{attr} must be specified")
    if not isinstance(text, str) or not pattern.match(text):
        raise BadRequest(attr, "invalid", f"{attr} must look like {example}")
    return text


def _parse_date(payload: Mapping[str, Any], attr: str) -> date:
    text = _window_bound(payload, attr, _DATE, "2024-03-13")
    try:
        return date.fromisoformat(text)
    except ValueError:  # shaped like a date, but not one (2026-02-30)
        raise BadRequest(attr, "invalid", f"{attr} is not a calendar date: {text}") from None


def _parse_minute(payload: Mapping[str, Any], attr: str) -> datetime:
    text = _window_bound(payload, attr, _INSTANT, "2024-03-13T09:30Z")
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(attr, "invalid", f"{attr} is not a valid instant: {text}") from None
    return instant.astimezone(UTC).replace(second=0, microsecond=0)


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise BadRequest("timezone", "invalid", "timezone must be an IANA zone name like America/New_York")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest("timezone", "invalid", f"Unknown timezone {name}") from None


def _stamp(instant: datetime) -> str:
    return instant.strftime("%Y%m%dT%H%MZ")


def parse_report_request(
    body: bytes, options: ReportOptions, inbox_ids: Iterable[str], *, work_session_events: bool = False
) -> ReportRequest:
    """Validate a report request as Gladly does; ``BadRequest`` carries the 400 to send."""
    payload = _body_object(body)
    if work_session_events:
        metric_set = WORK_SESSION_EVENTS
    else:
        name = payload.get("metricSet")
        if name is None or name == "":
            raise BadRequest("metricSet", "blank", "metricSet must be specified")
        # A connector sent lower-camel names and still got CSVs: match case-insensitively.
        by_lower = {key.lower(): value for key, value in METRIC_SETS.items()}
        found = by_lower.get(name.lower()) if isinstance(name, str) else None
        if found is None:
            raise BadRequest("metricSet", "invalid", f"metricSet {name} is not a known metric set")
        metric_set = found
    level = payload.get("aggregationLevel")
    if level is not None and level not in _AGGREGATION_LEVELS:
        raise BadRequest(
            "aggregationLevel", "invalid", f"aggregationLevel must be one of {', '.join(_AGGREGATION_LEVELS)}"
        )
    dates = any(_present(payload, key) for key in ("startAt", "endAt"))
    times = any(_present(payload, key) for key in ("startAtTime", "endAtTime"))
    if times and (dates or _present(payload, "timezone")):
        raise BadRequest(
            "startAtTime", "invalid", "startAtTime and endAtTime cannot be combined with startAt, endAt or timezone"
        )
    if times or not metric_set.takes_dates:
        if not metric_set.takes_times:
            raise BadRequest(
                "startAtTime", "invalid", f"startAtTime and endAtTime are not supported by {metric_set.name}"
            )
        start, last = _parse_minute(payload, "startAtTime"), _parse_minute(payload, "endAtTime")
        if last < start:
            raise BadRequest("startAtTime", "invalid", "endAtTime must occur after startAtTime")
        end, zone_name = last + timedelta(minutes=1), "UTC"
        file_name = f"{metric_set.name}-{_stamp(start)}-{_stamp(last)}.csv"
    else:
        if not dates:
            raise BadRequest("startAt", "blank", "startAt and endAt (or startAtTime and endAtTime) must be specified")
        first_day, last_day = _parse_date(payload, "startAt"), _parse_date(payload, "endAt")
        if last_day < first_day:
            raise BadRequest("endAt", "invalid", "endAt must occur after startAt")
        zone_name = payload.get("timezone") or options.organization_timezone
        zone = _zone(zone_name)
        # Local midnights, so a day is 23 or 25 hours across a DST change.
        start = datetime.combine(first_day, datetime.min.time(), zone).astimezone(UTC)
        end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
        file_name = f"{metric_set.name}-{first_day:%Y%m%d}-{last_day:%Y%m%d}-Daily.csv"
    channels, channel_echo, inboxes = _filters(payload, metric_set, set(inbox_ids))
    return ReportRequest(metric_set, start, end, str(zone_name), file_name, channels, channel_echo, inboxes)


def _filters(
    payload: Mapping[str, Any], metric_set: MetricSet, known_inboxes: set[str]
) -> tuple[frozenset[str] | None, str, frozenset[str] | None]:
    filters = payload.get("filters")
    if filters is None:
        return None, "All Channels", None
    if not isinstance(filters, dict):
        raise BadRequest("filters", "invalid", "filters must be an object")
    channels, echo, inboxes = None, "All Channels", None
    for key, value in filters.items():
        if value is None:
            continue
        if key not in metric_set.filters:
            raise BadRequest(f"filters.{key}", "invalid", f"{metric_set.name} does not take the filter {key}")
        if key == "channel":
            if value not in CHANNEL_FILTERS:
                raise BadRequest(
                    "filters.channel", "invalid", f"filters.channel must be one of {', '.join(CHANNEL_FILTERS)}"
                )
            channels, echo = CHANNEL_FILTERS[value]
        elif key == "inboxes":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BadRequest("filters.inboxes", "invalid", "filters.inboxes must be a list of inbox ids")
            unknown = [v for v in value if v not in known_inboxes]
            if unknown:
                raise BadRequest("filters.inboxes", "present", f"No inbox {unknown[0]}")
            inboxes = frozenset(value) or None
    return channels, echo, inboxes


# --------------------------------------------------------------------------- CSV


def _format_seconds(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def format_cell(value: object, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        local = value.astimezone(zone)
        text = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"
        offset = local.strftime("%z")
        return text + ("Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}")
    if isinstance(value, float):
        return _format_seconds(value)
    return str(value)


def render_csv(
    columns: list[str],
    labels: list[str],
    echo: Mapping[str, str],
    rows: Iterable[Row],
    zone: ZoneInfo,
    bom: bool,
    line_terminator: str = "\r\n",
) -> bytes:
    """One CSV as Gladly sends it: ``labels`` head the ``columns`` of each row; no rows, an empty body."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_terminator)  # RFC 4180 quoting: quotes doubled
    echo_cells = list(echo.values())
    wrote_header = False
    for row in rows:
        if not wrote_header:
            writer.writerow([*echo, *labels])
            wrote_header = True
        writer.writerow(echo_cells + [format_cell(row[column], zone) for column in columns])
    if not wrote_header:
        return b""
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode()


# --------------------------------------------------------------------------- limits


class ReportLimiter:
    """Report requests per organization: N per sliding window and M at once."""

    def __init__(self, options: ReportOptions) -> None:
        self.options = options
        self._hits: dict[str, deque[float]] = {}
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, organization: str) -> str | None:
        """None when admitted (call ``leave`` afterwards), else why not."""
        options, now = self.options, time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(organization, deque())
            while hits and hits[0] <= now - options.window_seconds:
                hits.popleft()
            if options.requests_per_window is not None and len(hits) >= options.requests_per_window:
                return f"At most {options.requests_per_window} report requests per {options.window_seconds:g} s"
            if options.concurrent is not None and self._running.get(organization, 0) >= options.concurrent:
                return f"At most {options.concurrent} report requests at once"
            hits.append(now)
            self._running[organization] = self._running.get(organization, 0) + 1
            return None

    def leave(self, organization: str) -> None:
        with self._lock:
            self._running[organization] -= 1

    def running(self, organization: str) -> int:
        with self._lock:
            return self._running.get(organization, 0)


# --------------------------------------------------------------------------- the service


@dataclass(frozen=True)
class WorldView:
    """What the reports read from the simulator, as callables so they always see the present."""

    organization: str
    seed: int
    jobs: Callable[[], list[dict[str, Any]]]  # visible COMPLETED jobs, as GET /export/jobs lists them
    items: Callable[[], Iterable[dict[str, Any]]]  # their distinct conversation items, oldest job first
    agents: Callable[[], list[dict[str, Any]]]  # the support agents now (GET /agents without API users)
    topics: Callable[[], list[dict[str, Any]]]
    inboxes: Callable[[], list[dict[str, Any]]]  # {id, name, channels}
    inbox_of: Callable[[str, str], dict[str, Any]]  # (conversation id, content type) -> its inbox
    faults: Callable[[], Faults]
    pause: Callable[[float], None]  # sleeps, but returns early when the simulator stops
    stopping: Callable[[], bool]


class ReportService:
    """Answers the report and list endpoints for one simulator."""

    def __init__(self, world: WorldView, options: ReportOptions | None = None) -> None:
        self.world = world
        self.options = options or ReportOptions()
        self.limiter = ReportLimiter(self.options)
        legacy = {"id": derived_id("inbox", str(world.seed), DISABLED_INBOX), "name": DISABLED_INBOX, "disabled": True}
        self.inboxes: list[dict[str, Any]] = [
            *({"id": inbox["id"], "name": inbox["name"], "disabled": False} for inbox in world.inboxes()),
            legacy,
        ]
        self._released = threading.Event()
        self._released.set()
        self._cache_lock = threading.Lock()
        self._model: tuple[tuple[tuple[str, str], ...], list[Conversation]] | None = None

    # ----------------------------------------------------------- test hooks

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Report requests admitted meanwhile wait (holding their concurrency slot) until the block ends."""
        self._released.clear()
        try:
            yield
        finally:
            self._released.set()

    def running(self) -> int:
        """Report requests being computed now."""
        return self.limiter.running(self.world.organization)

    # ----------------------------------------------------------- directory

    def teams(self) -> list[dict[str, Any]]:
        agents = [agent["id"] for agent in self.world.agents()]
        teams = []
        for index, (name, description) in enumerate(TEAMS):
            members = agents[index :: len(TEAMS)]
            if index == len(TEAMS) - 1 and agents and agents[0] not in members:
                members = [agents[0], *members]
            team_id = derived_id("team", str(self.world.seed), name)
            teams.append({"id": team_id, "name": name, "description": description, "agentIds": members})
        return teams

    def names(self) -> Names:
        topics = {t["id"]: (t["name"], t.get("parentId")) for t in self.world.topics()}
        return Names(
            agents={agent["id"]: agent["name"] for agent in self.world.agents()},
            inboxes={inbox["id"]: inbox["name"] for inbox in self.inboxes},
            topics=topics,
            link_base=f"https://{self.world.organization}.gladly.com",
        )

    # ----------------------------------------------------------- HTTP

    def handle(self, method: str, path: str, body: bytes) -> Response:
        if path in ("/teams", "/inboxes") or path.startswith(("/teams/", "/inboxes/")):
            if method not in ("GET", "HEAD"):
                return _not_allowed("GET")
            return self._collection(path)
        if method != "POST":
            return _not_allowed("POST")
        organization = self.world.organization
        refused = self.limiter.enter(organization)
        if refused is not None:
            return _detail(429, refused)
        try:
            return self._report(path, body)
        finally:
            self.limiter.leave(organization)

    def _collection(self, path: str) -> Response:
        collection = self.teams() if path.startswith("/teams") else self.inboxes
        _, _, wanted = path.strip("/").partition("/")
        if not wanted:
            return _json(200, collection)
        for entry in collection:
            if entry["id"] == wanted:
                return _json(200, entry)
        return _NOT_FOUND

    def _report(self, path: str, body: bytes) -> Response:
        options = self.options
        try:
            request = parse_report_request(
                body,
                options,
                (inbox["id"] for inbox in self.inboxes),
                work_session_events=path == WORK_SESSION_EVENTS_PATH,
            )
        except BadRequest as bad:
            return bad.response
        self._wait_until_released()
        if options.latency_seconds > 0:
            self.world.pause(options.latency_seconds)
        bogus = self.world.faults().take_report_body()
        if bogus is not None:
            return _bogus(bogus)
        csv_bytes = self.render(request)
        headers = {"Content-Disposition": f"attachment; filename={request.file_name}"}
        return Response(200, "text/csv", csv_bytes, headers, reset_after=self.world.faults().take_reset(is_report=True))

    def _wait_until_released(self) -> None:
        while not self._released.wait(0.05):
            if self.world.stopping():
                return

    # ----------------------------------------------------------- computing

    def conversations(self) -> list[Conversation]:
        """The world as the reports see it: derived once per set of visible completed jobs."""
        key = tuple((job["id"], job["updatedAt"]) for job in self.world.jobs())
        with self._cache_lock:
            if self._model is None or self._model[0] != key:
                routed: dict[tuple[str, str], str] = {}  # the world's lookup builds its inbox list per call

                def inbox_of(conversation_id: str, content_type: str) -> str:
                    key = (conversation_id, content_type)
                    if key not in routed:
                        routed[key] = self.world.inbox_of(conversation_id, content_type)["id"]
                    return routed[key]

                conversations = derive(parse_items(self.world.items()), inbox_of)
                self._model = (key, conversations)
            return self._model[1]

    def render(self, request: ReportRequest) -> bytes:
        """The CSV body for a validated request."""
        options, metric_set = self.options, request.metric_set
        conversations = _narrow(self.conversations(), request)
        rows = list(rows_in_window(metric_set, conversations, self.names(), request.start, request.end))
        # Rows come in no particular order at Gladly; the same request gets the same order here.
        random.Random(f"{self.world.seed}:{request.file_name}:{request.zone}").shuffle(rows)
        del rows[max(0, options.row_cap) :]
        columns = list(metric_set.headers)
        labels = [RECENT_HEADERS.get(c, c) for c in columns] if options.header_style == "recent" else columns
        echo = {
            "Timezone Filter": request.zone,
            "Channel Filter": request.channel_echo,
            "Inboxes Filter": self._inboxes_echo(request.inboxes),
        }
        echoed = {name: echo[name] for name in metric_set.echo}
        zone = ZoneInfo(request.zone)
        return render_csv(columns, labels, echoed, rows, zone, options.byte_order_mark, options.line_terminator)

    def _inboxes_echo(self, inboxes: frozenset[str] | None) -> str:
        if inboxes is None:
            return "All Inboxes"
        return ", ".join(inbox["name"] for inbox in self.inboxes if inbox["id"] in inboxes)


def _narrow(conversations: list[Conversation], request: ReportRequest) -> list[Conversation]:
    """Apply filters.channel and filters.inboxes."""
    if request.channels is None and request.inboxes is None:
        return conversations
    if request.metric_set.name == "ConversationExportReport":
        return [c for c in conversations if request.inboxes is None or c.assignment.inbox in request.inboxes]
    narrowed = []
    for c in conversations:
        contacts = [
            ct
            for ct in c.contacts
            if (request.channels is None or ct.channel in request.channels)
            and (request.inboxes is None or ct.inbox in request.inboxes)
        ]
        narrowed.append(replace(c, contacts=contacts))
    return narrowed


_BOGUS_BODIES = {
    "html": (
        "text/html; charset=utf-8",
        b"<!DOCTYPE html><html><head><title>Gladly</title></head><body>Sign in</body></html>",
    ),
    "json": ("application/json", b'{"status":"processing","message":"Your report is being generated"}'),
    "text": ("text/plain", b"Unexpected error occurred"),
}
BOGUS_BODY_KINDS = tuple(_BOGUS_BODIES)


def _bogus(kind: str) -> Response:
    content_type, body = _BOGUS_BODIES[kind]
    return Response(200, content_type, body)


def _not_allowed(allow: str) -> Response:
    return replace(_detail(405, f"Use {allow}"), headers={"Allow": allow})
