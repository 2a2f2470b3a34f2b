"""Parse a downloaded Gladly JSONL file into Polars frames, in bounded batches.

The file is cut into batches of whole lines (about ``batch_bytes`` each) so that
memory stays flat whatever the file's size. Each batch's schema is inferred
from every line of the batch, never from its first rows, unless every line is
checked to hold only keys the table knows (``known_keys``); the warehouse unions
the batches' schemas, so a field that appears only in the last line still
lands. Top-level objects and arrays come back as JSON text: they are stored as
DuckDB JSON, and keys that come and go inside them never change the schema.

A batch is parsed by Polars whole; batches Polars refuses (a bad line, types it
cannot reconcile, the rare text it cannot write back exactly) are parsed line by
line. Both paths give the same frame for the same lines, whatever else is in the
batch:

* A duplicated top-level key keeps its first value (Polars' rule, which the
  line-by-line path follows). Polars types the column by the key's last value:
  when a key's values differ in kind, the column's type may follow the batch, and
  a first value that is text holding JSON may be kept as that JSON; the value is
  never lost. Inside objects and arrays the JSON text is kept as sent, duplicates
  included.
* A non-string ``id`` is stored as its JSON text, numbers written as Polars
  writes them: plain decimal digits, no exponent, no trailing ``.0`` (``true``,
  ``2``, ``2`` for ``2.0``, ``1000`` for ``1e3``, ``1.5`` for ``1.50``).
* Column types follow the values: booleans, 64-bit integers, doubles, text,
  and JSON text for objects and arrays. Text mixed with other values makes a text
  column, the other values as their JSON text; any other mix (a boolean and a
  number, an array and a number) makes a JSON column. Nothing is rounded: integers
  beyond 64 bits, and a double column with a number whose magnitude reaches 2**53
  (where a double no longer holds every integer), make a JSON column, each number
  written as above.

Lines that are not a JSON object with an ``id`` (a scalar, not empty), are not
UTF-8, hold half a UTF-16 surrogate pair or are nested deeper than
``MAX_DEPTH`` levels are split off as ``RejectedLine`` (with their line number
and the reason) instead of failing the file or vanishing. So is a line longer
than ``max_line_bytes``, read past without being held: only its first
``OVERLONG_HEAD_BYTES`` are kept; and a line with keys past the table's key budget
(``key_budget``). A batch with more distinct keys than Polars infers in reasonable time
(at any depth, ``_MAX_KEYS_TO_INFER``) is parsed line by line.
"""

from __future__ import annotations

import codecs
import json
import re
import sys
import time
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import polars as pl

from gladly_assets.download_feed import DownloadFeed
from gladly_assets.load.key_budget import DEFAULT_MAX_KEY_COLUMNS, KeyBudget, KeyTicket
from gladly_assets.load.known_keys import KnownKeys
from gladly_assets.tables import PRIMARY_KEY
from gladly_assets.text import printable

# 8 MiB of JSONL makes a frame of about 7 MiB (conversation items, Polars' estimated size).
# Batches cut and queued beyond those the workers parse keep the workers busy through the
# caller's insert of a stage commit (several batches). Measured against 16 MiB batches with
# two queued and 12 MiB with three: as fast, with the least memory in flight.
DEFAULT_BATCH_BYTES = 8 * 1024 * 1024
PARSE_WORKERS = 2
QUEUED_BATCHES = 4
# A line is held whole in memory to be parsed (its frame takes several times its size), so
# a longer one is quarantined instead: a server can send one line of any length.
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
# What the quarantine keeps of a line too long to hold.
OVERLONG_HEAD_BYTES = 64 * 1024
# Polars refuses lines nested deeper than this (the top-level object is level 1); the
# line-by-line path applies the same limit so that both paths keep the same lines.
MAX_DEPTH = 1024
# Doubles hold every integer up to this magnitude, and not all of them beyond.
_EXACT_DOUBLE_LIMIT = 2**53
_INT64 = (-(2**63), 2**63 - 1)


# Why a line is quarantined, in a few words for logs and checks.
REJECTION_CAUSES = "malformed, too long, or with keys past max_key_columns"


@dataclass(frozen=True)
class ReadLimits:
    """What a file's lines may take: past these a line is quarantined, not loaded."""

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES  # its line break not counted
    max_key_columns: int = DEFAULT_MAX_KEY_COLUMNS  # keys a table admits, with those it has


@dataclass(frozen=True, slots=True)  # a file may hold millions
class RejectedLine:
    line_number: int  # 1-based, counted over the whole file
    raw: str
    error: str


@dataclass
class Batch:
    """One slice of a file: its parsed rows and the lines that could not be parsed."""

    frame: pl.DataFrame
    first_line: int
    line_count: int
    byte_count: int
    rejected: list[RejectedLine] = field(default_factory=list)
    # Columns holding JSON text: their values were objects or arrays in the file (known JSON
    # keys without a value may be listed too).
    json_columns: frozenset[str] = frozenset()
    parse_seconds: float = 0.0


def read_batches(
    source: Path | DownloadFeed,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    workers: int = PARSE_WORKERS,
    known: KnownKeys | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    budget: KeyBudget | None = None,
) -> Generator[Batch, None, None]:
    """Yield the file's batches in order; up to ``workers`` are parsed at once, also while
    the caller handles the batch yielded last, and ``QUEUED_BATCHES`` more are cut ahead.
    ``source``: a complete file, or one still downloading, read as its bytes arrive
    (``DownloadInterrupted`` if the download fails or starts the file again). ``known``: keys
    whose batches need no inference. A line longer than ``max_line_bytes`` (its line break
    not counted) is rejected without being held in memory. ``budget``: the keys the table
    gives columns; a line with a key past it is rejected (see ``key_budget``)."""
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be positive, not {max_line_bytes}")
    # Lines are counted in the workers: each batch is parsed as if it began the file, and
    # its line numbers are moved to where it begins as it is handed over, in file order.
    next_line = 1

    def numbered(parsed: Future[Batch]) -> Batch:
        nonlocal next_line
        batch = _from_line(parsed.result(), next_line)
        next_line += batch.line_count
        return batch

    # Batches no larger than the longest line allowed: every longer line then spans a cut,
    # where its length is measured.
    batch_bytes = min(batch_bytes, max_line_bytes)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jsonl") as pool:
        in_flight: list[Future[Batch]] = []
        submitted = 0
        for piece in _line_aligned_chunks(source, batch_bytes, max_line_bytes):
            if isinstance(piece, _OverlongLine):
                in_flight.append(_done(_overlong_batch(piece, max_line_bytes)))
            else:
                # The pool runs its work in order: the batches a ticket waits for have started.
                keys = budget.ticket(submitted) if budget is not None else None
                submitted += 1
                in_flight.append(pool.submit(parse_chunk, piece, 1, None, known, keys))
            # Bounded read-ahead: the batch the caller holds, and `workers + QUEUED_BATCHES` more.
            if len(in_flight) > workers + QUEUED_BATCHES:
                yield numbered(in_flight.pop(0))
        for future in in_flight:
            yield numbered(future)


def _from_line(batch: Batch, first_line: int) -> Batch:
    """``batch``, parsed from line 1, moved to begin at line ``first_line`` of the file."""
    if first_line != batch.first_line:
        shift = first_line - batch.first_line
        batch.first_line = first_line
        batch.rejected = [replace(line, line_number=line.line_number + shift) for line in batch.rejected]
    return batch


@dataclass
class _OverlongLine:
    """A line longer than the limit, read past: its first bytes and its length."""

    head: bytearray = field(default_factory=bytearray)  # its first OVERLONG_HEAD_BYTES
    length: int = 0  # its line break not counted
    break_bytes: int = 0  # 1 for LF, 2 for CRLF, 0 for a last line without one

    def add(self, piece: bytes | memoryview) -> None:
        self.head += piece[: max(0, OVERLONG_HEAD_BYTES - len(self.head))]
        self.length += len(piece)


def _overlong_batch(line: _OverlongLine, max_line_bytes: int) -> Batch:
    whole = len(line.head) == line.length
    # A head cut inside a character loses that character, not more (an incremental decode
    # keeps an unfinished sequence back); bytes that are not UTF-8 become U+FFFD.
    raw = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(bytes(line.head), final=whole)
    error = (
        f"line of {line.length:,} bytes, longer than max_line_bytes ({max_line_bytes:,}): not parsed, "
        + ("kept here whole" if whole else f"only its first {OVERLONG_HEAD_BYTES // 1024} KiB kept here")
        + ". Later jobs load lines up to a larger max_line_bytes set in the run config."
    )
    return Batch(_empty_frame(), 1, 1, line.length + line.break_bytes, [RejectedLine(1, raw, error)])


def _done(batch: Batch) -> Future[Batch]:
    future: Future[Batch] = Future()
    future.set_result(batch)
    return future


class _Carry:
    """The start of a line that goes on past the blocks read so far: its bytes while the
    line is within ``max_line_bytes``, then only an ``_OverlongLine``."""

    def __init__(self, max_line_bytes: int):
        self.max_line_bytes = max_line_bytes
        self.pieces: list[bytes] = []
        self.length = 0
        self.last_byte = b""  # a CR before the line's LF belongs to its line break
        self.overlong: _OverlongLine | None = None

    def __bool__(self) -> bool:
        return self.length > 0

    def add(self, piece: bytes) -> None:
        if not piece:
            return
        self.length += len(piece)
        self.last_byte = piece[-1:]
        if self.overlong is not None:
            self.overlong.add(piece)
            return
        self.pieces.append(piece)
        if self.length > self.max_line_bytes + 1:  # one byte of slack: it may be a CRLF's CR
            self.overlong = _OverlongLine()
            for held in self.pieces:
                self.overlong.add(held)
            self.pieces = []

    def end(self, rest: memoryview, line_break: bool) -> _OverlongLine | None:
        """The line ends with ``rest`` (and a line break, or the file's end): the line if it
        is too long (and the carry is empty again), else None (``join`` takes it)."""
        crlf = line_break and (rest[-1:] if rest else self.last_byte) == b"\r"
        if self.overlong is None and self.length + len(rest) - crlf <= self.max_line_bytes:
            return None
        line = self.overlong or _OverlongLine()
        for held in self.pieces:
            line.add(held)
        line.add(rest)
        line.length -= crlf
        del line.head[line.length :]
        line.break_bytes = crlf + 1 if line_break else 0
        self.start(b"")
        return line

    def join(self, block: bytes, cut: int) -> bytes:
        """The carried bytes and ``block[:cut]``: one copy at most, none if nothing is carried
        and the block ends on a line break."""
        if not self.pieces and cut == len(block):
            return block
        return b"".join((*self.pieces, memoryview(block)[:cut]))

    def start(self, piece: bytes) -> None:
        """Carry ``piece`` alone: the start of the next line."""
        self.pieces, self.length, self.last_byte, self.overlong = [], 0, b"", None
        self.add(piece)


def _line_aligned_chunks(
    source: Path | DownloadFeed, batch_bytes: int, max_line_bytes: int
) -> Iterator[bytes | _OverlongLine]:
    """Cut the file into chunks of whole lines (the file's last line may lack its newline),
    and lines longer than ``max_line_bytes`` (never held whole: at most that many bytes
    and one block are).

    Plain reads, not mmap: the mapped pages of a file read once would count in the
    process's memory until the end of the file."""
    carry = _Carry(max_line_bytes)
    with source.open() if isinstance(source, DownloadFeed) else source.open("rb") as handle:
        while True:
            block = handle.read(batch_bytes)
            at_end = len(block) < batch_bytes  # a short read means the end of the file
            found = block.find(b"\n") if carry else -1
            if found >= 0 or (carry and at_end):  # the carried line ends in this block
                ends_at = found if found >= 0 else len(block)
                overlong = carry.end(memoryview(block)[:ends_at], found >= 0)
                if overlong is not None:
                    yield overlong
                    block = block[ends_at + 1 :]
            cut = len(block) if at_end else block.rfind(b"\n") + 1
            if cut == 0 and not at_end:  # the line goes on past this block
                carry.add(block)
                continue
            chunk = carry.join(block, cut)
            carry.start(block[cut:])
            if chunk:
                yield chunk
            if at_end:
                return


def _line_count(chunk: bytes) -> int:
    return chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)


def parse_chunk(
    chunk: bytes,
    first_line: int,
    line_count: int | None = None,
    known: KnownKeys | None = None,
    keys: KeyTicket | None = None,
) -> Batch:
    """Parse whole lines with Polars; fall back to line by line for chunks Polars refuses.
    Polars infers the chunk's schema, unless its lines hold only ``known`` keys. ``keys``:
    the chunk's turn at the table's key budget (finished here, whatever happens); a chunk
    with keys past it is parsed line by line, and the lines with such keys are rejected.

    The fallback handles bad lines (rejected), objects without a usable id, values
    whose types Polars cannot reconcile within one chunk (a list here, an object
    there), duplicated keys and the rare text Polars cannot write back exactly.
    """
    started = time.perf_counter()
    line_count = _line_count(chunk) if line_count is None else line_count
    try:
        parsed = _parse_with_polars(chunk, known, keys)
        if parsed is not None:
            frame, json_columns = parsed
            batch = Batch(frame, first_line, line_count, len(chunk), [], json_columns)
        else:
            batch = _parse_line_by_line(chunk, first_line, line_count, keys)
    finally:
        if keys is not None:
            keys.finish()
    batch.parse_seconds = time.perf_counter() - started
    return batch


# Polars reads a nested value as text by writing it back as JSON, but it leaves
# backslashes and most control characters unescaped: invalid or even different JSON.
# So escaped backslashes are swapped for a placeholder character before parsing (if
# the chunk does not hold that character already), and afterwards the JSON text gets
# the placeholder and the control characters escaped again; text columns get a plain
# backslash back. Plain byte searches and Polars string ops: no line is parsed twice.
_PLACEHOLDER = "\uffff"
_PLACEHOLDER_ESCAPE = b"\\uffff"
_PLACEHOLDER_UTF8 = _PLACEHOLDER.encode()
_PLACEHOLDER_ESCAPED = re.compile(rb"\\u[fF]{4}")
# Escaped backslashes first: what is left of "\\u005c" after them is a real escape.
_BACKSLASH_ESCAPES = (b"\\\\", b"\\u005c", b"\\u005C")
_BACKSLASH_ESCAPE = re.compile(rb"\\\\|\\u005[cC]")
# Escapes Polars decodes but writes back raw (it re-escapes only \n, \r and \").
_CONTROL_ESCAPE = re.compile(rb"\\[tbf]|\\u00[01][0-9a-fA-F]")
_SHORT_ESCAPES = {b"\\t": "\t", b"\\b": "\b", b"\\f": "\f"}
# Keys inside nested values are written back with nothing escaped at all: a quote or a
# line break in one (rare) sends the chunk down the line-by-line path.
_QUOTE_OR_BREAK_IN_KEY = re.compile(rb'\\(?:["nr]|u00(?:22|0[aAdD]))(?:[^"\\]|\\.)*"\s*:')
# A UTF-16 surrogate escape without its other half is no character at all: Polars reads it
# as NUL, so such lines are rejected (on the line-by-line path) instead of stored wrong.
# Only valid once escaped backslashes are out of the way (swapped, or removed).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class _Escapes:
    """Matches of patterns that start with a backslash, as ``finditer`` gives them, tried only
    at the data's backslashes: ``bytes.find`` jumps between them where the regex engine
    steps through every byte, and JSON text has few."""

    # Past this share of backslashes the regex engine's own scan is the faster.
    _DENSE = 1 / 64

    def __init__(self, data: bytes):
        self.data = data
        positions: list[int] = []
        most = len(data) * self._DENSE
        at = data.find(b"\\")
        while at >= 0 and len(positions) < most:
            positions.append(at)
            at = data.find(b"\\", at + 1)
        self.positions = positions if at < 0 else None  # None: too many, left to the regex engine

    def finditer(self, pattern: re.Pattern[bytes]) -> Iterator[re.Match[bytes]]:
        if self.positions is None:
            yield from pattern.finditer(self.data)
            return
        end = 0  # matches do not overlap: the next starts where the last ended
        for at in self.positions:
            if at >= end and (match := pattern.match(self.data, at)) is not None:
                yield match
                end = match.end()

    def search(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        return next(self.finditer(pattern), None)


def _has_lone_surrogate(surrogate_escapes: Iterable[re.Match[bytes]]) -> bool:
    """Whether the ``_SURROGATE_ESCAPE`` matches, in order, leave half a pair alone."""
    # A pairing walk, not one regex: a lookbehind makes the regex scan 40x slower.
    high_ends_at = None
    for escape in surrogate_escapes:
        low = escape.group()[3] in b"cdefCDEF"
        if high_ends_at is not None:
            if not low or escape.start() != high_ends_at:
                return True
            high_ends_at = None
        elif low:
            return True
        else:
            high_ends_at = escape.end()
    return high_ends_at is not None


def _parse_with_polars(
    data: bytes, known: KnownKeys | None, keys: KeyTicket | None
) -> tuple[pl.DataFrame, frozenset[str]] | None:
    """The chunk as a frame and its JSON columns; None if Polars cannot take it whole."""
    escaped = _Escapes(data)
    swapped = escaped.search(_BACKSLASH_ESCAPE) is not None
    if swapped and (_PLACEHOLDER_UTF8 in data or escaped.search(_PLACEHOLDER_ESCAPED)):
        return None
    if swapped:
        for escape in _BACKSLASH_ESCAPES:
            data = data.replace(escape, _PLACEHOLDER_ESCAPE)
        escaped = _Escapes(data)
    if escaped.search(_QUOTE_OR_BREAK_IN_KEY) or _has_lone_surrogate(escaped.finditer(_SURROGATE_ESCAPE)):
        return None
    try:
        read_as = _schema(data, known)
        if read_as is None:
            return None
        schema, json_columns = read_as.schema, read_as.json_columns

        def unswapped(name: str) -> str:
            return name.replace(_PLACEHOLDER, "\\") if swapped else name

        # Before the frame is read: a batch with more keys than the budget would make a frame
        # as wide as all of them.
        if keys is not None and not keys.admit(unswapped(name) for name in schema):
            return None  # the line-by-line path loads the lines whose keys fit
        if read_as.inferred is not None and known is not None:
            # The keys as spelled in the file: other batches are checked unswapped.
            known.learn({unswapped(name): dtype for name, dtype in read_as.inferred.items()})
        schema[PRIMARY_KEY] = pl.String()  # ids are text even if a file sends a number
        frame = pl.read_ndjson(data, schema=schema)
        ids = frame[PRIMARY_KEY]
        # Polars reads an object or array id beside text ids as its JSON text: rejected on
        # the exact path (as are null and empty ids), even if it may be a text id.
        if ids.null_count() or (ids == "").any() or (not read_as.strings_checked and _looks_nested(ids).any()):
            return None
        inexact = [name for name, dtype in schema.items() if dtype == pl.Float64 and not _exact_doubles(frame[name])]
        if inexact:  # rare: read those columns again as the numbers' text
            schema.update(dict.fromkeys(inexact, pl.String()))
            json_columns.update(inexact)
            frame = pl.read_ndjson(data, schema=schema)
    except (pl.exceptions.PolarsError, OSError):
        return None
    # Each character Polars wrote raw into the JSON text -> how JSON escapes it.
    escapes = {_PLACEHOLDER: "\\\\"} if swapped else {}
    for escape in {match.group() for match in escaped.finditer(_CONTROL_ESCAPE)}:
        char = _SHORT_ESCAPES.get(escape) or chr(int(escape[2:], 16))
        if char not in "\n\r":
            escapes[char] = json.dumps(char)[1:-1]
    text_columns = [name for name, dtype in schema.items() if dtype == pl.String and name not in json_columns]
    if (
        (escapes or swapped)
        and not read_as.strings_checked
        and any(_looks_nested(frame[name]).any() for name in text_columns if name != PRIMARY_KEY)
    ):
        return None  # text mixed with objects or arrays: which values to repair is unknown
    # Series by name, not expressions: to pl.col a key like "*" or "^a$" is a pattern.
    repairs = [_replace_each(frame.get_column(name), escapes) for name in json_columns] if escapes else []
    if swapped:
        repairs += [_replace_each(frame.get_column(name), {_PLACEHOLDER: "\\"}) for name in text_columns]
    frame = frame.with_columns(repairs)
    if swapped:
        frame = frame.rename(lambda name: name.replace(_PLACEHOLDER, "\\"))
        json_columns = {name.replace(_PLACEHOLDER, "\\") for name in json_columns}
    return frame, frozenset(json_columns)


@dataclass
class _ReadAs:
    schema: dict[str, pl.DataType]
    json_columns: set[str]
    # The known-key check saw every value of the text columns: strings or null, none an object
    # or an array that Polars would write back as JSON text.
    strings_checked: bool
    # The schema Polars inferred (None for known keys): what the known keys learn, once its
    # keys have columns.
    inferred: pl.Schema | None = None


def _schema(data: bytes, known: KnownKeys | None) -> _ReadAs | None:
    """How to read the chunk, and its JSON columns: the known keys if every line holds only
    them, else every line's keys as inferred; None if the id is missing or nested, or the
    chunk holds too many distinct keys to infer (``_few_keys_to_infer``)."""
    fitting = known.fitting(data) if known is not None else None
    if fitting is not None:
        return _ReadAs(fitting.schema(), set(fitting.json), strings_checked=True)
    if not _few_keys_to_infer(data):
        return None
    inferred = pl.scan_ndjson(data, infer_schema_length=None).collect_schema()
    if PRIMARY_KEY not in inferred or inferred[PRIMARY_KEY].is_nested():
        return None
    schema = {name: _read_as(dtype) for name, dtype in inferred.items()}
    # Nested values, and numbers kept as their JSON text (see _read_as), are JSON columns.
    json_columns = {name for name, dtype in inferred.items() if name != PRIMARY_KEY and schema[name] != dtype}
    # A text column may hold objects or arrays beside strings (Polars types it by the mix).
    return _ReadAs(schema, json_columns, strings_checked=False, inferred=inferred)


# Polars' schema inference takes time that grows with each new key it meets times the schema
# so far (a nested object's keys counted under every key holding one): 8 MiB of short lines,
# each with a key of its own, would take hours. A batch with more distinct key spellings than
# this, at any depth, is parsed line by line instead, in time that grows with its size; at
# most this many keep inference within about a second, however they nest.
_MAX_KEYS_TO_INFER = 512
# Every string of a JSON text, a key's with its colon. Strings never span a line, so from
# each line's start the matches take a valid line's strings exactly as JSON reads them: every
# key is found, at any depth (a malformed line may hide its own, and Polars refuses it).
_STRING = r'"(?:[^"\\\n]|\\[^\n])*"\s*:?'
# The fewest bytes a distinct key takes: "":0,
_MIN_KEY_BYTES = 5


def _few_keys_to_infer(data: bytes) -> bool:
    """Whether the chunk holds few enough distinct keys for Polars to infer its schema."""
    if len(data) <= _MIN_KEY_BYTES * _MAX_KEYS_TO_INFER:
        return True
    try:
        text = pl.Series([data], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.PolarsError:  # not UTF-8: the line-by-line path says which line
        return False
    strings = text.str.extract_all(_STRING).explode()
    return strings.filter(strings.str.ends_with(":")).n_unique() <= _MAX_KEYS_TO_INFER


def _read_as(dtype: pl.DataType) -> pl.DataType:
    """How to read a column Polars inferred as ``dtype``: nested values as their JSON
    text, integers beyond 64 bits as their digits."""
    if dtype.is_nested() or (dtype.is_integer() and dtype != pl.Int64):
        return pl.String()
    return dtype


def _looks_nested(values: pl.Series) -> pl.Series:
    return values.str.starts_with("{") | values.str.starts_with("[")


def _exact_doubles(values: pl.Series) -> bool:
    """Whether every number of a double column is below 2**53 in magnitude (a larger one
    may be an integer the double rounded)."""
    return not (values.abs() >= _EXACT_DOUBLE_LIMIT).any()


def _replace_each(text: pl.Series, replacements: dict[str, str]) -> pl.Series:
    # Literal replaces, one per character: memchr-fast, where a regex would not be.
    for old, new in replacements.items():
        text = text.str.replace_all(old, new, literal=True)
    return text


def _parse_line_by_line(chunk: bytes, first_line: int, line_count: int, keys: KeyTicket | None = None) -> Batch:
    _make_recursion_room()
    lines: list[tuple[int, bytes, dict[str, Any] | None, str | None]] = []
    for offset, raw in enumerate(chunk.split(b"\n")):
        if not raw.strip(b" \t\r"):  # JSON's whitespace only: a blank line, as Polars skips
            continue
        lines.append((offset, raw, *_load_line(raw)))
    # Every object's keys count, as on the Polars path, which admits a batch's keys before it
    # knows which ids are usable: so the budget takes the same keys whichever path a batch takes.
    objects = [record for _, _, record, _ in lines if record is not None]
    if keys is not None and not keys.admit(key for record in objects for key in record):
        # In file order, each line's keys get columns if they fit, whatever else rejects it.
        for index, (offset, raw, record, error) in enumerate(lines):
            past_budget = _past_budget(record, keys)
            lines[index] = (offset, raw, record, error or past_budget)
    records = [record for _, _, record, error in lines if record is not None and error is None]
    rejected = [
        # Errors interned: the lines of a broken file tend to share theirs.
        RejectedLine(first_line + offset, raw.decode("utf-8", errors="replace"), sys.intern(error))
        for offset, raw, _, error in lines
        if error is not None
    ]
    frame, json_columns = _frame_from_records(records)
    return Batch(frame, first_line, line_count, len(chunk), rejected, json_columns)


def _past_budget(record: dict[str, Any] | None, keys: KeyTicket) -> str | None:
    """Why the line is rejected if its keys do not fit the budget (admitted if they do)."""
    if record is None or keys.admit(record):
        return None
    new = keys.budget.missing(record)
    shown = ", ".join(printable(key, 40) for key in sorted(new)[:5])
    return (
        f"holds {len(new):,} key(s) new to the table ({shown}{', ...' if len(new) > 5 else ''}), and its key "
        f"budget has no room left for them: max_key_columns is {keys.budget.limit:,}. Not loaded; such lines "
        "of later jobs load with a larger max_key_columns set in the run config."
    )


class _Object(list[tuple[str, Any]]):
    """A nested JSON object as its (key, value) pairs, in order, duplicates included:
    the same text Polars writes back."""


def _frame_from_records(records: list[dict[str, Any]]) -> tuple[pl.DataFrame, frozenset[str]]:
    """Columns for parsed objects, typed as the Polars path types them (see the module
    docstring), and lossless where Polars gives up: values of several kinds without
    text (a list and an object, a boolean and a number) make a JSON column."""
    if not records:
        return _empty_frame(), frozenset()
    texts = _TextWriter(records)
    columns: dict[str, pl.Series] = {}
    json_columns = set()
    for key in dict.fromkeys(key for record in records for key in record):
        values = [record.get(key) for record in records]
        kinds = {_kind(value) for value in values if value is not None}
        numbers = [value for value in values if value is not None]
        if key == PRIMARY_KEY or "str" in kinds:
            columns[key] = pl.Series(key, [texts.text(value) for value in values], dtype=pl.String)
        elif not kinds:
            columns[key] = pl.Series(key, values, dtype=pl.Null)
        elif kinds == {"bool"}:
            columns[key] = pl.Series(key, values, dtype=pl.Boolean)
        elif kinds == {"int"} and all(_INT64[0] <= number <= _INT64[1] for number in numbers):
            columns[key] = pl.Series(key, values, dtype=pl.Int64)
        elif "float" in kinds and kinds <= {"int", "float"} and all(abs(n) < _EXACT_DOUBLE_LIMIT for n in numbers):
            columns[key] = pl.Series(key, values, dtype=pl.Float64, strict=False)
        else:  # objects, arrays, mixed kinds, integers beyond 64 bits, doubles past 2**53
            json_columns.add(key)
            columns[key] = pl.Series(key, [texts.json(value) for value in values], dtype=pl.String)
    return pl.DataFrame(columns), frozenset(json_columns)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (list, dict)):
        return "nested"
    return type(value).__name__  # int, float, str


class _TextWriter:
    """Non-string values as the JSON text the Polars path gives them: separators ", "
    and ": ", text unescaped where JSON allows, numbers as Polars formats them."""

    def __init__(self, records: list[dict[str, Any]]):
        # Polars formats doubles its own way (no exponent; ties differ from Python's
        # repr): have it format every double of these records, in one call.
        doubles = sorted({repr(value) for value in _doubles(records) if value == value and abs(value) != float("inf")})
        formatted = pl.read_ndjson(
            "".join(f'{{"v":{number}}}\n' for number in doubles).encode(), schema={"v": pl.String}
        )["v"].to_list()
        self._doubles: dict[str, str] = {
            "inf": "Infinity",
            "-inf": "-Infinity",
            **dict(zip(doubles, formatted, strict=True)),
        }

    def text(self, value: object) -> str | None:
        return value if value is None or isinstance(value, str) else self.json(value)

    def json(self, value: object) -> str | None:
        if value is None:
            return None
        parts: list[str] = []
        self._write(value, parts)
        return "".join(parts)

    def _write(self, value: object, parts: list[str]) -> None:
        # Appends to one list, not nested generators: each part would otherwise pass through
        # every level above it, a cost that grows with the square of a line's depth.
        if value is None:
            parts.append("null")
        elif isinstance(value, bool):
            parts.append("true" if value else "false")
        elif isinstance(value, int):
            parts.append(str(value))
        elif isinstance(value, float):
            parts.append(self._doubles[repr(value)])
        elif isinstance(value, str):
            parts.append(json.dumps(value, ensure_ascii=False))
        elif isinstance(value, _Object):
            parts.append("{")
            for index, (key, item) in enumerate(value):
                parts.append(f"{', ' if index else ''}{json.dumps(key, ensure_ascii=False)}: ")
                self._write(item, parts)
            parts.append("}")
        else:
            parts.append("[")
            for index, item in enumerate(cast(list[Any], value)):
                if index:
                    parts.append(", ")
                self._write(item, parts)
            parts.append("]")


def _doubles(value: object, found: list[float] | None = None) -> list[float]:
    """Every double in the value, however deep (collected into one list, as in _TextWriter)."""
    found = [] if found is None else found
    if isinstance(value, float):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _doubles(item, found)
    elif isinstance(value, list):  # an _Object's pairs hold their keys too: no doubles there
        for item in value:
            _doubles(item, found)
    elif isinstance(value, tuple):
        _doubles(value[1], found)
    return found


def _empty_frame() -> pl.DataFrame:
    return pl.DataFrame({PRIMARY_KEY: pl.Series([], dtype=pl.String)})


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _load_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(the object, None) if the line is a JSON object with a usable id, else (the object
    or None if it is none, why the line is rejected).

    A duplicated key keeps its first value; nested objects are ``_Object``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"not UTF-8: {error.reason} at byte {error.start}"
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        return None, f"nested deeper than {MAX_DEPTH} levels"
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_Object)
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        return None, f"not valid JSON: {error}"
    if not isinstance(value, _Object):
        return None, f"expected a JSON object, got {_kind(value).replace('nested', 'array')}"
    if _has_lone_surrogate(_SURROGATE_ESCAPE.finditer(raw.replace(b"\\\\", b""))):
        return None, "not valid Unicode: a \\u escape of half a UTF-16 surrogate pair"
    record = dict(reversed(value))  # the first value of a duplicated key wins, as on the Polars path
    key = record.get(PRIMARY_KEY)
    if key is None or key == "":
        return record, f'object has no "{PRIMARY_KEY}"'
    if isinstance(key, list):
        return record, f'"{PRIMARY_KEY}" is not a scalar'
    return record, None


_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _depth(text: str) -> int:
    """How deep the JSON text nests (an object or array is one level); strings skipped."""
    depth = deepest = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _make_recursion_room() -> None:
    """Enough recursion for json.loads and the text writer on a line ``MAX_DEPTH`` deep
    (Python's default allows about 1000 levels). Raised, never lowered: other threads
    may be deep in a call."""
    needed = 4 * MAX_DEPTH + 1000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)
