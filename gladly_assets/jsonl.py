"""Parse a downloaded Gladly JSONL file into Polars frames, in bounded batches.

The file is cut into batches of whole lines (about ``batch_bytes`` each) so that
memory stays flat whatever the file's size. Each batch's schema is inferred
from every line of the batch, never from its first rows; the warehouse unions
the batches' schemas, so a field that appears only in the last line still
lands. Top-level objects and arrays come back as JSON text: they are stored as
DuckDB JSON, and keys that come and go inside them never change the schema.

Lines that are not a JSON object with an ``id`` are split off as
``RejectedLine`` (with their line number and the parse error) instead of
failing the file or vanishing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from gladly_assets.tables import PRIMARY_KEY

# 8 MiB of JSONL makes a frame of 10-25 MiB: small enough that two batches in flight
# keep both cores busy at a flat, low memory (measured faster than 32 MiB, too).
DEFAULT_BATCH_BYTES = 8 * 1024 * 1024
PARSE_WORKERS = 2


@dataclass(frozen=True)
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
    # Columns holding JSON text: the values were objects or arrays in the file.
    json_columns: frozenset[str] = frozenset()


def read_batches(
    path: Path,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    workers: int = PARSE_WORKERS,
) -> Iterator[Batch]:
    """Yield the file's batches in order; up to ``workers`` are parsed at once."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jsonl") as pool:
        in_flight: list[Future[Batch]] = []
        for first_line, chunk in _line_aligned_chunks(path, batch_bytes):
            in_flight.append(pool.submit(parse_chunk, chunk, first_line))
            # Bounded read-ahead: never hold more than `workers` parsed batches.
            if len(in_flight) >= workers:
                yield in_flight.pop(0).result()
        for future in in_flight:
            yield future.result()


def _line_aligned_chunks(path: Path, batch_bytes: int) -> Iterator[tuple[int, bytes]]:
    """Cut the file into chunks of whole lines (the file's last line may lack its newline)."""
    next_line = 1
    carry = b""
    with path.open("rb") as handle:
        while True:
            block = handle.read(batch_bytes)
            data = carry + block
            at_end = len(block) < batch_bytes  # a short read of a regular file means EOF
            cut = len(data) if at_end else data.rfind(b"\n") + 1
            if cut == 0 and not at_end:  # one line longer than a batch: keep reading
                carry = data
                continue
            chunk, carry = data[:cut], data[cut:]
            if chunk:
                yield next_line, chunk
                next_line += chunk.count(b"\n")
            if at_end:
                return


def parse_chunk(chunk: bytes, first_line: int) -> Batch:
    """Parse whole lines with Polars; fall back to line by line for chunks Polars refuses.

    The fallback handles bad lines (rejected), objects without id, and values whose
    types Polars cannot reconcile within one chunk (a list here, an object there).
    """
    line_count = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
    try:
        frame, json_columns = _parse_with_polars(chunk)
        if frame.is_empty() or frame[PRIMARY_KEY].null_count() == 0:
            return Batch(frame, first_line, line_count, len(chunk), [], json_columns)
    except (pl.exceptions.PolarsError, OSError):
        pass
    return _parse_line_by_line(chunk, first_line, line_count)


def _parse_with_polars(data: bytes) -> tuple[pl.DataFrame, frozenset[str]]:
    if not data.strip():
        return _empty_frame(), frozenset()
    inferred = pl.scan_ndjson(data, infer_schema_length=None).collect_schema()
    if PRIMARY_KEY not in inferred:
        raise pl.exceptions.ComputeError("no line has an id")
    schema = {}
    json_columns = set()
    for name, dtype in inferred.items():
        if dtype.is_nested():
            # Read as text: Polars writes the value back as JSON.
            schema[name] = pl.String
            json_columns.add(name)
        else:
            schema[name] = dtype
    schema[PRIMARY_KEY] = pl.String  # ids are text even if a file sends a number
    frame = pl.read_ndjson(data, schema=schema)
    if json_columns and _MISWRITTEN_ESCAPE.search(data):
        frame = _rewrite_json_text(frame, data, json_columns)
    return frame, frozenset(json_columns)


# Polars writes a nested value read as text back as JSON, but leaves these escapes
# decoded (a raw tab, a lone backslash): invalid or even different JSON. Lines that
# hold one get their nested values re-encoded by the json module instead.
_MISWRITTEN_ESCAPE = re.compile(rb"\\\\|\\[tbf]|\\u00[01][0-9a-fA-F]")


# Row numbers below count line breaks; Polars skips blank lines, so a chunk with one
# takes the line-by-line path instead.
_WHITESPACE_LINE = re.compile(rb"\n[ \t\r]+\n")


def _has_blank_line(data: bytes) -> bool:
    # Plain byte searches: a regex anchored on "^ or newline" scans 25x slower.
    return data[:1] == b"\n" or b"\n\n" in data or _WHITESPACE_LINE.search(data) is not None


def _rewrite_json_text(frame: pl.DataFrame, data: bytes, json_columns: set[str]) -> pl.DataFrame:
    """Re-encode the nested values of the lines that hold a miswritten escape (a few
    percent of real files), leaving every other row as Polars wrote it."""
    if _has_blank_line(data):
        raise pl.exceptions.ComputeError("blank lines: rows and lines do not line up")
    rows: list[int] = []
    values: dict[str, list[str | None]] = {name: [] for name in json_columns}
    row = counted_to = line_end = 0
    for match in _MISWRITTEN_ESCAPE.finditer(data):
        if match.start() < line_end:
            continue  # another escape on a line already re-encoded
        line_start = data.rfind(b"\n", 0, match.start()) + 1
        row += data.count(b"\n", counted_to, line_start)
        counted_to = line_start
        line_end = data.find(b"\n", line_start)
        line_end = len(data) if line_end < 0 else line_end
        record = json.loads(data[line_start:line_end])
        rows.append(row)
        for name in json_columns:
            values[name].append(_json_text(record.get(name)))
    return frame.with_columns(
        frame[name].scatter(rows, pl.Series(values[name], dtype=pl.String)) for name in json_columns
    )


def _parse_line_by_line(chunk: bytes, first_line: int, line_count: int) -> Batch:
    records: list[dict] = []
    rejected: list[RejectedLine] = []
    for offset, raw in enumerate(chunk.split(b"\n")):
        if not raw.strip():
            continue
        record, error = _load_line(raw)
        if error is None:
            records.append(record)
        else:
            text = raw.decode("utf-8", errors="replace")
            rejected.append(RejectedLine(first_line + offset, text, error))
    frame, json_columns = _frame_from_records(records)
    return Batch(frame, first_line, line_count, len(chunk), rejected, json_columns)


def _frame_from_records(records: list[dict]) -> tuple[pl.DataFrame, frozenset[str]]:
    """Columns for parsed objects, typed as Polars would, but lossless for mixed types:
    objects or arrays anywhere make a JSON column, mixed scalars a text column."""
    if not records:
        return _empty_frame(), frozenset()
    columns: dict[str, pl.Series] = {}
    json_columns = set()
    for key in dict.fromkeys(key for record in records for key in record):
        values = [record.get(key) for record in records]
        kinds = {type(value) for value in values if value is not None}
        if key == PRIMARY_KEY:
            columns[key] = pl.Series(key, [str(value) for value in values], dtype=pl.String)
        elif kinds & {dict, list}:
            json_columns.add(key)
            columns[key] = pl.Series(key, [_json_text(value) for value in values], dtype=pl.String)
        elif len(kinds) > 1 and not kinds <= {int, float}:
            columns[key] = pl.Series(
                key, [value if value is None or isinstance(value, str) else _json_text(value) for value in values],
                dtype=pl.String,
            )
        else:
            columns[key] = pl.Series(key, values, strict=False)
    return pl.DataFrame(columns), frozenset(json_columns)


def _json_text(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _empty_frame() -> pl.DataFrame:
    return pl.DataFrame({PRIMARY_KEY: pl.Series([], dtype=pl.String)})


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _load_line(raw: bytes) -> tuple[dict | None, str | None]:
    """(the object, None) if the line is a JSON object with a usable id, else (None, why not)."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        return None, f"not UTF-8: {error.reason} at byte {error.start}"
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        return None, f"not valid JSON: {error}"
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}"
    key = value.get(PRIMARY_KEY)
    if key is None or key == "":
        return None, f'object has no "{PRIMARY_KEY}"'
    if isinstance(key, (dict, list)):
        return None, f'"{PRIMARY_KEY}" is not a scalar'
    return value, None
