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

APPLIES_TO = ("any", "files", "list")


@dataclass
class Faults:
    # Which requests the countdowns of rate_limit_burst, server_errors and stalls hit:
    # "any" request, only "files" (GET .../files/{name}), or only "list", meaning
    # every request that is not a file download (job list, job, schedules, agents, topics).
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
    reset_after_bytes: int | None = None
    resets: int = 0
    # The next `stalls` matching requests send their headers, then wait `stall_seconds`
    # before the body: a client's read timeout must trip.
    stall_seconds: float = 0.0
    stalls: int = 0
    # The next N file downloads answer 404 and their job is gone from then on:
    # it expired between the listing and the download.
    expire_on_download: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        if name == "applies_to" and value not in APPLIES_TO:
            raise ValueError(f"applies_to must be one of {APPLIES_TO}, not {value!r}")
        super().__setattr__(name, value)

    def _matches(self, is_file: bool) -> bool:
        return self.applies_to == "any" or (self.applies_to == "files") == is_file

    def take_rate_limit(self, is_file: bool) -> bool:
        with self._lock:
            if self.rate_limit_burst > 0 and self._matches(is_file):
                self.rate_limit_burst -= 1
                return True
            return False

    def take_server_error(self, is_file: bool) -> int | None:
        with self._lock:
            if self.server_errors and self._matches(is_file):
                status, *self.server_errors = self.server_errors
                return int(status)
            return None

    def take_stall(self, is_file: bool) -> float:
        with self._lock:
            if self.stalls > 0 and self.stall_seconds > 0 and self._matches(is_file):
                self.stalls -= 1
                return float(self.stall_seconds)
            return 0.0

    # Resets and expiry only make sense for file downloads: applies_to does not gate them.

    def take_reset(self) -> int | None:
        with self._lock:
            if self.resets > 0:
                self.resets -= 1
                return max(0, self.reset_after_bytes or 0)
            return None

    def take_expire(self) -> bool:
        with self._lock:
            if self.expire_on_download > 0:
                self.expire_on_download -= 1
                return True
            return False

    def clear(self) -> None:
        """Cancel every pending fault."""
        with self._lock:
            self.rate_limit_burst = self.resets = self.stalls = self.expire_on_download = 0
            self.server_errors = []

    @property
    def pending(self) -> bool:
        """Whether any countdown still has shots left."""
        return bool(
            self.rate_limit_burst
            or self.server_errors
            or self.resets
            or (self.stalls and self.stall_seconds)
            or self.expire_on_download
        )
