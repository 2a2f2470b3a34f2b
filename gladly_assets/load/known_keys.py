"""Batches that need no schema inference: the keys a table knows, and an exact check that a
batch holds nothing else.

Polars spends about as long inferring a batch's schema from every line as reading the batch.
Inference finds keys the table has not seen and values of kinds a column has not held. A batch
whose every line is one object holding only known keys, each with a value of its known kind
(a text key: a string; a JSON key: an object or an array; either: null) needs none: read
with those keys as text, it gives the columns and values inference would (keys without a
value may come as all-null columns, which get no column in the warehouse either way).

A regular expression checks every line, exactly. It follows strings and brackets as JSON
nests them, so a key inside a nested value or a string is never taken for a top-level key.
What it cannot vouch for sends the batch to inference, which stays the reference: a key
spelled with escapes, a value of another kind, more than one object on a line, nesting deeper
than ``MAX_CHECKED_DEPTH``. JSON that fits the pattern but is invalid is refused by Polars'
read, as on the inference path.

Keys are known from the table's declared and existing columns, and learned from each batch
that is inferred: a key new in a file costs inference only in the batches parsed before it
was learned.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from gladly_assets.tables import PRIMARY_KEY

# Brackets the check follows inside a value; a deeper line sends its batch to inference.
MAX_CHECKED_DEPTH = 32
# Past this many keys the pattern grows costly to build and to run: inference instead.
MAX_KNOWN_KEYS = 1000
# After a check that fails, the next batches are inferred unchecked, twice as many after each
# failure in a row, up to this many: a file the check never vouches for (a key of numbers in
# every line, say) costs a few checks, not one per batch.
MAX_UNCHECKED_BATCHES = 32
_WHITESPACE = r"[ \t\r]*"  # JSON's whitespace; a line holds no \n
_STRING = r'"(?:[^"\\]|\\.)*"'


def _nested_value(depth: int) -> str:
    """An object or array nesting at most ``depth`` brackets: strings skipped whole, any other
    character but a bracket taken as it comes (Polars' read checks the JSON itself)."""
    inside = rf'(?:[^"\[\]{{}}]|{_STRING})*'
    for _ in range(depth - 1):
        inside = rf'(?:[^"\[\]{{}}]|{_STRING}|[\[{{]{inside}[\]}}])*'
    return rf"[\[{{]{inside}[\]}}]"


def _literal(text: str) -> str:
    """``text`` as a regex matching itself: any character but those ``str.isalnum`` accepts as
    a hex escape, which Rust's regex syntax (Polars') reads whatever the character."""
    return "".join(char if char.isalnum() else f"\\x{{{ord(char):x}}}" for char in text)


def _spelled_plainly(key: str) -> bool:
    """Whether JSON writes the key as itself between quotes (no escape needed)."""
    return not any(char in '"\\' or char < " " for char in key)


@dataclass(frozen=True)
class KeyShape:
    """Known keys by kind, and the pattern a line holding only them matches (None: too many
    keys to check)."""

    text: frozenset[str]
    json: frozenset[str]
    pattern: str | None

    @classmethod
    def of(cls, text: Iterable[str], json: Iterable[str]) -> KeyShape:
        json = frozenset(key for key in json if _spelled_plainly(key) and key != PRIMARY_KEY)
        text = frozenset(key for key in (*text, PRIMARY_KEY) if _spelled_plainly(key) and key not in json)
        return cls(text, json, _line_pattern(text, json) if len(text) + len(json) <= MAX_KNOWN_KEYS else None)

    def schema(self) -> dict[str, pl.DataType]:
        """How to read a batch that fits: every key as text (JSON values as their JSON text)."""
        return {key: pl.String() for key in sorted(self.text | self.json)}


def _line_pattern(text: frozenset[str], json: frozenset[str]) -> str:
    members = []
    for keys, value in ((text, f"{_STRING}|null"), (json, f"{_nested_value(MAX_CHECKED_DEPTH)}|null")):
        if keys:
            names = "|".join(_literal(key) for key in sorted(keys))
            members.append(rf'"(?:{names})"{_WHITESPACE}:{_WHITESPACE}(?:{value})')
    member = "(?:" + "|".join(members) + ")"
    ws = _WHITESPACE
    return rf"^{ws}(?:\{{{ws}(?:{member}(?:{ws},{ws}{member})*)?{ws}\}}{ws})?$"


class KnownKeys:
    """The keys a file's batches may hold without inference; shared by the parse threads,
    which add the keys of every batch they infer."""

    def __init__(self, text: Iterable[str] = (), json: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self.shape = KeyShape.of(text, json)  # replaced whole, never changed: threads read it unlocked
        self._unchecked = 0  # batches still to infer without a check
        self._after_failure = 1  # how many the next failed check leaves unchecked

    def fitting(self, data: bytes) -> KeyShape | None:
        """The known keys if every line of ``data`` holds only them, each with a value of its
        kind; None if any line may not, or if the check is resting after failures."""
        with self._lock:
            if self._unchecked:
                self._unchecked -= 1
                return None
        fitting = self._check(data)
        with self._lock:
            if fitting is None:
                self._unchecked = self._after_failure
                self._after_failure = min(2 * self._after_failure, MAX_UNCHECKED_BATCHES)
            else:
                self._after_failure = 1
        return fitting

    def _check(self, data: bytes) -> KeyShape | None:
        shape = self.shape
        if shape.pattern is None:
            return None
        try:
            # Cut at the line breaks only: every byte of every line meets the pattern. (Polars'
            # own str.split holds several copies of the batch at once.)
            lines = pl.Series(data.split(b"\n"), dtype=pl.Binary()).cast(pl.String)
            return shape if lines.str.contains(shape.pattern).all() else None
        except pl.exceptions.PolarsError:  # not UTF-8, or a pattern past the engine's limits
            return None

    def learn(self, schema: Mapping[str, pl.DataType]) -> None:
        """Know the keys of an inferred batch: text columns as text, nested ones as JSON
        (a key's latest kind wins). Keys of other types stay as they were."""
        text = {key for key, dtype in schema.items() if dtype == pl.String}
        json = {key for key, dtype in schema.items() if dtype.is_nested()}
        with self._lock:
            known = self.shape
            learned = KeyShape.of((known.text - json) | text, (known.json - text) | json)
            # Compared after KeyShape.of drops the keys the check cannot know: those would
            # otherwise seem new at every batch.
            if (learned.text, learned.json) == (known.text, known.json):
                return
            self.shape = learned
            self._unchecked, self._after_failure = 0, 1  # new keys: the next batch may well fit
