"""Parse a downloaded Gladly report CSV into a typed Polars frame.

Gladly's reports are RFC 4180 CSV with one header row of its own names (spaces,
capitals, dashes), maybe a byte-order mark, CRLF or LF, quoted cells holding
commas, quotes and line breaks, and empty cells for nulls. Here:

* headers become snake_case (``normalize_header``), older spellings map to the
  declared name, and the ``* Filter`` columns that echo the request are dropped;
* declared columns get their declared type; a cell that does not parse as its
  type is NULL in the typed column and kept as text in ``_unparsed`` (a JSON
  object), so a surprising value never fails a day nor vanishes;
* a column Gladly adds later is kept as text; a declared column that is missing,
  and a body that is not a CSV report at all (HTML, JSON, an error text), are a
  ``ReportFormatError`` that names the metric set;
* event streams get ``event_key``, a SHA-256 of the columns that identify an event.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gladly_assets.errors import ReportFormatError, clip
from gladly_assets.report_schema import (
    EVENT_KEY_COLUMN,
    UNPARSED_COLUMN,
    ReportColumn,
    ReportStream,
    normalize_header,
)

FILTER_SUFFIX = "_filter"
_SNIFF_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_NULL_WORDS = ("null", "none")  # "Null" is how Gladly's definitions describe unfinished values
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_UTC = pl.Datetime("us", "UTC")
# Instants come as RFC 3339 (`2024-03-13T09:00:00.000Z`) or as the report zone's wall
# clock (`2024-03-13 09:00:00`, `... 09:00`, a bare date); the request asks for UTC.
_ZONED_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M%:z")
_WALL_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")


@dataclass(frozen=True)
class ParsedReport:
    frame: pl.DataFrame
    rows: int  # data rows in the file, duplicates included (what the row cap counts)
    new_columns: tuple[str, ...]  # undeclared columns, kept as text
    unparsed_cells: int


def read_report(path: Path, stream: ReportStream) -> ParsedReport:
    """The report at ``path`` as a frame of ``stream``'s columns (see the module docstring)."""
    path = Path(path)
    header = _read_header(path, stream)
    if header is None:  # an empty or blank body: an empty window, not an error
        return ParsedReport(_empty_frame(stream), 0, (), 0)
    names = _column_names(header, stream)
    try:
        raw = pl.read_csv(
            path,
            has_header=True,
            new_columns=names,
            infer_schema=False,
            encoding="utf8-lossy",
            quote_char='"',
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
        raise ReportFormatError(
            f"the {stream.metric_set} report is not valid CSV: {clip(' '.join(str(error).split()), 300)}"
        ) from None
    raw = raw.drop([name for name in names if name.endswith(FILTER_SUFFIX) and name not in stream.columns_by_name])
    declared = stream.columns_by_name
    typed, failures = [], []
    for name in raw.columns:
        column = declared.get(name)
        if column is None or column.kind == "text":
            typed.append(pl.col(name))
            continue
        value = _typed(column)
        typed.append(value.alias(name))
        failures.append(pl.when(_cleaned(name).is_not_null() & value.is_null()).then(pl.col(name)).alias(name))
    frame = raw.with_columns(typed)
    unparsed = 0
    if failures:
        flags = raw.select(failures)
        failed = pl.any_horizontal(pl.all().is_not_null())
        unparsed = int(flags.select(pl.sum_horizontal(pl.all().is_not_null()).sum()).item())
        frame = frame.with_columns(
            flags.select(pl.when(failed).then(pl.struct(pl.all()).struct.json_encode()).alias(UNPARSED_COLUMN))
        )
    else:
        frame = frame.with_columns(pl.lit(None, pl.String).alias(UNPARSED_COLUMN))
    if stream.is_event_stream:
        frame = frame.with_columns(event_keys(frame, stream.event_columns))
    new = tuple(name for name in raw.columns if name not in declared)
    return ParsedReport(frame, raw.height, new, unparsed)


def unique_rows(frames: Sequence[pl.DataFrame], stream: ReportStream) -> tuple[pl.DataFrame, int]:
    """The pieces of one day as one frame, each key once (the last piece's row wins: pieces
    may overlap by a minute); returns it and how many rows were duplicates."""
    frames = [frame for frame in frames if frame.width]
    if not frames:
        return _empty_frame(stream), 0
    combined = pl.concat(frames, how="diagonal_relaxed")
    unique = combined.unique(subset=list(stream.key), keep="last", maintain_order=True)
    return unique, combined.height - unique.height


def event_keys(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """SHA-256 (hex) of the typed values of ``columns``: the same event, the same key."""
    encoded = frame.select(pl.struct([pl.col(name) for name in columns]).struct.json_encode()).to_series()
    return pl.Series(
        EVENT_KEY_COLUMN,
        [hashlib.sha256(text.encode()).hexdigest() for text in encoded.to_list()],
        dtype=pl.String,
    )


def _read_header(path: Path, stream: ReportStream) -> list[str] | None:
    """The header row's cells; None for a body with nothing but whitespace.
    A body that is plainly not CSV (HTML, JSON) is a ReportFormatError."""
    with open(path, "rb") as raw:
        head = raw.read(_SNIFF_BYTES)
        while head.removeprefix(_BOM).strip() == b"" and (more := raw.read(_SNIFF_BYTES)):
            head = more  # a long run of blank lines
    text = head.removeprefix(_BOM).lstrip()
    if not text:
        return None
    if text[:1] in (b"<", b"{", b"["):
        kind = "HTML" if text[:1] == b"<" else "JSON"
        raise ReportFormatError(
            f"Gladly answered the {stream.metric_set} report with {kind}, not CSV: "
            f"{clip(' '.join(text[:300].decode('utf-8', 'replace').split()), 200)}"
        )
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        for row in csv.reader(handle):
            if any(cell.strip() for cell in row):
                return row
    return None


def _column_names(header: list[str], stream: ReportStream) -> list[str]:
    """Normalized, unique names for the header's cells, older spellings mapped to the declared ones."""
    aliases = stream.aliases
    # Names the loader adds itself: a Gladly column spelled alike gets a suffix instead.
    reserved = {EVENT_KEY_COLUMN} if stream.is_event_stream else set()
    names: list[str] = []
    # Names taken so far, as a set: a header may have any number of cells.
    taken = set(reserved)
    for position, cell in enumerate(header, start=1):
        name = normalize_header(cell) or f"column_{position}"
        name = aliases.get(name, name)
        if name in taken:  # two headers that normalize alike: keep both
            suffix = 2
            while f"{name}_{suffix}" in taken:
                suffix += 1
            name = f"{name}_{suffix}"
        names.append(name)
        taken.add(name)
    missing = [column.name for column in stream.columns if column.name not in taken]
    if len(missing) == len(stream.columns):
        raise ReportFormatError(
            f"Gladly's answer to the {stream.metric_set} report is not a report CSV: its first line is "
            f"{clip(','.join(header), 200)!r}, which has none of the report's columns"
        )
    if missing:
        raise ReportFormatError(
            f"the {stream.metric_set} report lacks the declared column(s) {', '.join(missing)}; "
            f"its header is {clip(','.join(header), 300)!r}. Gladly may have renamed them: "
            "declare the new spelling as an alias in gladly_assets/reports/streams.py"
        )
    return names


def _cleaned(name: str) -> pl.Expr:
    """The cell without surrounding spaces; null if empty or a null word."""
    text = pl.col(name).str.strip_chars()
    return pl.when(text.str.to_lowercase().is_in(_NULL_WORDS) | (text == "")).then(None).otherwise(text)


def _typed(column: ReportColumn) -> pl.Expr:
    """The cell as its declared type; null where it does not parse (or is a null word)."""
    text = _cleaned(column.name)
    if column.kind == "instant":
        clock = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[Tt ]", "${1} ").str.replace(r"[Zz]$", "+00:00")
        return pl.coalesce(
            *(clock.str.strptime(_UTC, form, strict=False) for form in _ZONED_FORMATS),
            *(
                clock.str.strptime(pl.Datetime("us"), form, strict=False).dt.replace_time_zone("UTC")
                for form in _WALL_FORMATS
            ),
        )
    if column.kind == "date":
        return text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    if column.kind in ("seconds", "decimal"):
        return text.cast(pl.Float64, strict=False)
    if column.kind == "count":
        number = text.cast(pl.Float64, strict=False)
        whole = pl.when(number == number.floor()).then(number.cast(pl.Int64, strict=False))
        return pl.coalesce(text.cast(pl.Int64, strict=False), whole)
    if column.kind == "boolean":
        word = text.str.to_lowercase()
        return pl.when(word.is_in(_TRUE)).then(True).when(word.is_in(_FALSE)).then(False).otherwise(None)
    raise ValueError(f"no parser for column kind {column.kind!r}")


def _empty_frame(stream: ReportStream) -> pl.DataFrame:
    schema = {column.name: _polars_type(column) for column in stream.columns}
    if stream.is_event_stream:
        schema[EVENT_KEY_COLUMN] = pl.String()
    schema[UNPARSED_COLUMN] = pl.String()
    return pl.DataFrame(schema=schema)


def _polars_type(column: ReportColumn) -> pl.DataType:
    return {
        "instant": _UTC,
        "date": pl.Date(),
        "seconds": pl.Float64(),
        "decimal": pl.Float64(),
        "count": pl.Int64(),
        "boolean": pl.Boolean(),
    }.get(column.kind, pl.String())
