"""The per-line loader other connectors write (PostHog's, for example): ``json.loads`` on
each line, objects and arrays back to JSON text, 50,000-row Arrow tables, DuckDB INSERT."""

from __future__ import annotations

import json
import time

from harness import peak_rss_bytes

BATCH_ROWS = 50_000


def load(spec: dict) -> dict:
    import duckdb
    import pyarrow as pa

    name = spec["table"]
    with duckdb.connect(spec["db"]) as connection:
        started = time.perf_counter()
        columns: dict[str, None] = {}  # the table's columns, in order of appearance
        rows: list[dict] = []

        def flush() -> None:
            keys = dict.fromkeys(key for row in rows for key in row)
            batch = pa.table({key: [row.get(key) for row in rows] for key in keys})
            connection.register("batch", batch)
            if not columns:
                connection.execute(f"CREATE TABLE {name} AS SELECT * FROM batch")
                columns.update(keys)
            else:
                for key in keys:
                    if key not in columns:
                        kind = connection.execute(f'SELECT typeof("{key}") FROM batch LIMIT 1').fetchone()[0]
                        connection.execute(f'ALTER TABLE {name} ADD COLUMN "{key}" {kind}')
                        columns[key] = None
                connection.execute(f"INSERT INTO {name} BY NAME SELECT * FROM batch")
            connection.unregister("batch")
            rows.clear()

        with open(spec["file"], "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                for key, value in record.items():
                    if isinstance(value, (dict, list)):
                        record[key] = json.dumps(value, ensure_ascii=False)
                rows.append(record)
                if len(rows) >= BATCH_ROWS:
                    flush()
        if rows:
            flush()
        connection.execute("CHECKPOINT")
        seconds = time.perf_counter() - started
        peak = peak_rss_bytes()
        count = connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    return {"seconds": seconds, "peak_rss": peak, "rows": {name: count}}
