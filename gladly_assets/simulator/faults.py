"""Transport faults the simulator injects on demand: 429 bursts, 5xx, resets, stalls, expiry.

Every fault is a countdown: a test sets, say, ``sim.faults.server_errors = [500, 502]``
and the next two matching requests get those statuses, then the fault is spent.
Tests assign fields directly from their thread while server threads consume
them, so consumption happens under a lock (``take_*``).

Data-level faults (malformed lines, schema drift, late or duplicate jobs) are
options of ``GladlySimulator.complete_job`` instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

APPLIES_TO = ("any", "files", "list", "reports")
# What report requests answer, with 200, instead of their CSV (``report_bodies``).
REPORT_BODIES = ("html", "json", "text")


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
            self.server_errors = []
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
            or self.report_bodies
        )
