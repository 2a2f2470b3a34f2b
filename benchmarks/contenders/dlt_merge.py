"""dlt into DuckDB, ``write_disposition="merge"`` on ``id``, objects kept as JSON.

dlt is not a dependency of the project: the contender runs under the first Python that can
``import dlt`` (``find_python``). Standard library only at module level.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from harness import peak_rss_bytes

BATCH_ROWS = 50_000
DEFAULT_PYTHONS = ("/tmp/dlt-venv/bin/python",)


def load(spec: dict) -> dict:
    """A dlt pipeline into DuckDB, merge on id; the file read with dlt's own JSON parser."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DLT_DATA_DIR", spec["data_dir"])
    import dlt
    import duckdb
    from dlt.common import json as dlt_json

    name = spec["table"]

    @dlt.resource(name=name, write_disposition="merge", primary_key="id", max_table_nesting=0)
    def items():
        batch = []
        with open(spec["file"], "rb") as handle:
            for line in handle:
                if line.strip():
                    batch.append(dlt_json.loadb(line))
                if len(batch) >= BATCH_ROWS:
                    yield batch
                    batch = []
        if batch:
            yield batch

    file_format = spec["file_format"]
    if file_format == "parquet":
        try:
            import pyarrow  # noqa: F401  (dlt writes parquet with it)
        except ImportError:
            file_format = "jsonl"
    pipeline = dlt.pipeline(
        pipeline_name="bench_ingest",
        destination=dlt.destinations.duckdb(spec["db"]),
        dataset_name="gladly",
        pipelines_dir=spec["pipelines_dir"],
    )
    started = time.perf_counter()
    pipeline.run(items(), **({} if file_format == "default" else {"loader_file_format": file_format}))
    seconds = time.perf_counter() - started
    peak = peak_rss_bytes()
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in pipeline.last_trace.steps
        if step.step != "run" and step.finished_at is not None
    }
    with duckdb.connect(spec["db"], read_only=True) as connection:
        count = connection.execute(f"SELECT count(*) FROM gladly.{name}").fetchone()[0]
    return {
        "seconds": seconds,
        "peak_rss": peak,
        "rows": {name: count},
        "version": dlt.__version__,
        "file_format": file_format,
        "breakdown": steps,
    }


def find_python(explicit: str | None) -> str | None:
    """This Python, ``--dlt-python``, ``$BENCH_DLT_PYTHON`` or a default path: the first that has dlt."""
    candidates = [explicit] if explicit else [sys.executable, os.environ.get("BENCH_DLT_PYTHON"), *DEFAULT_PYTHONS]
    for candidate in candidates:
        if candidate and Path(candidate).exists() and module_version(candidate, "dlt"):
            return candidate
    return None


def module_version(python: str, module: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", f"import {module}; print({module}.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
