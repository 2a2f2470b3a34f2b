"""At most one progress report per interval, for work that could report on every chunk."""

from __future__ import annotations

import time


class Throttle:
    """``due()`` is true at most once every ``every_seconds`` (and at once if ``due_at_start``)."""

    def __init__(self, every_seconds: float, *, due_at_start: bool = False) -> None:
        self.every_seconds = every_seconds
        self.started = time.monotonic()
        self._last = float("-inf") if due_at_start else self.started

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.every_seconds:
            return False
        self._last = now
        return True

    def elapsed(self) -> float:
        """Seconds since the start, never zero (rates divide by it)."""
        return max(time.monotonic() - self.started, 1e-6)
