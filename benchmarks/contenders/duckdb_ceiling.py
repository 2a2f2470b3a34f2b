"""DuckDB loading the files by itself: the ceilings gladly-assets is measured against.

THE ceiling of the initial load (``CEILING``) is ``read_json`` as one writes it. Two more
DuckDB loads bracket it: type detection over every line (the guarantee gladly-assets gives:
a key in the last line still lands) and no detection at all (the declared columns given).
The incremental ceiling is DuckDB's own DELETE + INSERT of the new file's rows.
"""

from __future__ import annotations

import time

from harness import peak_rss_bytes

# How DuckDB learns the file's columns.
DETECT_SAMPLE = "sample"  # read_json(file): types detected from a sample (20,480 lines)
DETECT_EVERY_LINE = "every_line"  # sample_size = -1: every line, as gladly-assets does
DECLARED_COLUMNS = "declared_columns"  # the columns given: no detection at all

CEILING = (
    "DuckDB alone: CREATE TABLE t AS SELECT * FROM read_json(file), then CHECKPOINT, "
    "from a local copy of the same file into a fresh DuckDB file"
)
INCREMENTAL_CEILING = (
    "DuckDB alone, per table: BEGIN; CREATE TEMP TABLE new AS SELECT * FROM read_json(file, columns=declared); "
    "DELETE FROM t WHERE id IN (SELECT id FROM new); INSERT INTO t SELECT * FROM new; COMMIT"
)


def read_json_sql(files: list[str], columns: dict[str, str] | None, detection: str = DECLARED_COLUMNS) -> str:
    paths = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    if detection == DETECT_SAMPLE:
        return f"read_json({paths})"
    if detection == DETECT_EVERY_LINE:
        return f"read_json({paths}, format = 'newline_delimited', sample_size = -1)"
    assert columns is not None
    spec = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
    return f"read_json({paths}, format = 'newline_delimited', columns = {spec})"


def _timed(spec: dict, step) -> dict:
    """Run ``step(connection, table)`` for each table of the spec, then CHECKPOINT: the seconds,
    the peak RSS and each table's rows afterwards."""
    import duckdb

    with duckdb.connect(spec["db"]) as connection:
        started = time.perf_counter()
        for table in spec["tables"]:
            step(connection, table)
        connection.execute("CHECKPOINT")
        seconds = time.perf_counter() - started
        peak = peak_rss_bytes()
        rows = {
            table["name"]: connection.execute(f"SELECT count(*) FROM {table['name']}").fetchone()[0]
            for table in spec["tables"]
        }
    return {"seconds": seconds, "peak_rss": peak, "rows": rows}


def load(spec: dict) -> dict:
    """CREATE TABLE AS SELECT * FROM read_json(...) into a fresh file."""

    def create(connection, table: dict) -> None:
        source = read_json_sql(table["files"], table["columns"], spec.get("detection", DECLARED_COLUMNS))
        connection.execute(f"CREATE TABLE {table['name']} AS SELECT * FROM {source}")

    return _timed(spec, create)


def merge(spec: dict) -> dict:
    """Per table: BEGIN; DELETE the ids of the new rows; INSERT them; COMMIT."""

    def delete_insert(connection, table: dict) -> None:
        name = table["name"]
        connection.execute("BEGIN TRANSACTION")
        connection.execute(f"CREATE TEMP TABLE new AS SELECT * FROM {read_json_sql(table['files'], table['columns'])}")
        connection.execute(f"DELETE FROM {name} WHERE id IN (SELECT id FROM new)")
        connection.execute(f"INSERT INTO {name} SELECT * FROM new")
        connection.execute("DROP TABLE new")
        connection.execute("COMMIT")

    return _timed(spec, delete_insert)
