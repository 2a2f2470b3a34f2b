"""How many top-level keys a table admits, and which: the first met in file order, up to
a limit.

Every key with a value becomes a column, and a server can send any number of distinct
keys: a file of a megabyte, each line with a key of its own, would take every gigabyte of
the machine (a frame as wide as the batch's keys for every row, a column added per key).
So a table admits keys up to ``limit``, counted with the keys of the columns it has and its
declared ones. Every key of a JSON object line counts: one holding only nulls (its column
comes once it holds a value), and those of a line rejected for its id. A line with keys new
to the table, when there is no room left for all of them, is not loaded: it is quarantined,
whole, with the reason, and its keys take no room.

Batches are parsed two at a time, so keys are admitted in batch order: a batch whose keys
are all admitted goes on at once, and one with new keys waits for the batches before it to
have had theirs. Admitting a whole batch and admitting it line by line give the same keys
when everything fits, so which lines are loaded never depends on the batching.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

# Far more keys than any table Gladly documents, and few enough that the widest frames and
# tables stay within the memory of an ordinary load.
DEFAULT_MAX_KEY_COLUMNS = 500


class KeyBudget:
    """The keys one table admits, shared by the parsers of one file's batches."""

    def __init__(self, keys: Iterable[str], limit: int = DEFAULT_MAX_KEY_COLUMNS):
        if limit < 1:
            raise ValueError(f"the key column limit must be positive, not {limit}")
        self.limit = limit
        # Replaced, never changed in place: parsers read it without the lock.
        self._keys = frozenset(keys)
        self._turn = 0  # the batch whose keys are admitted next
        self._finished: set[int] = set()  # later batches done already
        self._changed = threading.Condition()

    def ticket(self, batch: int) -> KeyTicket:
        """The turn of the file's ``batch``-th batch (from 0). Every ticket must be finished,
        in any order: the later batches wait for it."""
        return KeyTicket(self, batch)

    def missing(self, keys: Iterable[str]) -> set[str]:
        """The keys not admitted yet (keys are only ever added: one found stays found)."""
        return set(keys) - self._keys

    def wait_for_turn(self, batch: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._turn == batch)

    def add(self, keys: set[str]) -> bool:
        """Admit the keys if there is room for all of them (call in turn)."""
        if not keys:
            return True
        if len(self._keys) + len(keys) > self.limit:
            return False
        self._keys = self._keys | keys
        return True

    def finish(self, batch: int) -> None:
        with self._changed:
            self._finished.add(batch)
            while self._turn in self._finished:
                self._finished.remove(self._turn)
                self._turn += 1
            self._changed.notify_all()


class KeyTicket:
    """One batch's turn at the budget: it admits keys, waiting for the earlier batches first
    if any key is new."""

    def __init__(self, budget: KeyBudget, batch: int):
        self.budget = budget
        self._batch = batch
        self._in_turn = False
        self._finished = False

    def admit(self, keys: Iterable[str]) -> bool:
        """Whether every key is admitted, or there is room to admit all of them (then they are)."""
        new = self.budget.missing(keys)
        if not new:
            return True
        if not self._in_turn:
            self.budget.wait_for_turn(self._batch)
            self._in_turn = True
            new = self.budget.missing(new)
        return self.budget.add(new)

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            self.budget.finish(self._batch)
