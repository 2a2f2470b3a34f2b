"""Hostile key shapes: how long the loader takes, and how much memory, on small files whose
lines hold many distinct keys (or none worth loading).

    .venv/bin/python benchmarks/bench_hostile_keys.py
    .venv/bin/python benchmarks/bench_hostile_keys.py --max-key-columns 100000   # no budget to speak of

Each shape loads in a child process of its own (parse and warehouse, no Dagster, no HTTP)
into a fresh DuckDB file with a 512 MB memory limit, like the asset's, and is stopped after
``--timeout`` seconds; its peak RSS is the child's. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def shapes(scale: float) -> dict[str, tuple[str, Iterator[dict[str, Any] | str]]]:
    """Each shape's description and lines, ``scale`` times the default numbers of lines."""

    def lines(count: int) -> int:
        return max(1, int(count * scale))

    wide, ordinary, many, few, junk = lines(5_000), lines(1_000), lines(300_000), lines(200), lines(1_000_000)
    return {
        "one wide line": (
            f"one line with {wide:,} keys, then {ordinary:,} ordinary lines",
            iter([{"id": "wide", **{f"k{i}": i for i in range(wide)}}, *({"id": f"c{i}"} for i in range(ordinary))]),
        ),
        "a key per line": (
            f"{many:,} lines, each with a key of its own",
            ({"id": f"c{i}", f"k{i}": 1} for i in range(many)),
        ),
        "wide lines": (
            f"{few:,} lines, each with 300 keys of its own",
            ({"id": f"c{i}", **{f"l{i}k{j}": j for j in range(300)}} for i in range(few)),
        ),
        "a nested key per line": (
            f"{many:,} lines, each with a nested key of its own",
            ({"id": f"c{i}", "x": {f"k{i}": 1}} for i in range(many)),
        ),
        "malformed lines": (f"{junk:,} lines that are not JSON", (f"not json {i}" for i in range(junk))),
    }


def load(shape: str, directory: Path, max_key_columns: int, scale: float) -> None:
    """In the child: write the shape's file and load it as the customers table."""
    import duckdb
    from harness import peak_rss_bytes

    from gladly_assets.load.jsonl import read_batches
    from gladly_assets.load.warehouse import Warehouse
    from gladly_assets.tables import TABLES_BY_NAME

    path = directory / "customers.jsonl"
    with path.open("w") as out:
        for line in shapes(scale)[shape][1]:
            out.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    customers = TABLES_BY_NAME["customers"]
    connection = duckdb.connect(str(directory / "warehouse.duckdb"))
    connection.execute("SET memory_limit = '512MB'")
    warehouse = Warehouse(connection)
    started = time.perf_counter()
    known, budget = warehouse.load_keys(customers, max_key_columns)
    with closing(read_batches(path, known=known, budget=budget)) as batches:
        result = warehouse.apply_job(customers, "job", datetime(2026, 11, 1, tzinfo=UTC), batches)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "mb": path.stat().st_size / 1e6,
                "rows": warehouse.row_count(customers.name),
                "columns": len(warehouse.columns(customers.name)),
                "rejected": result.rejected,
                "peak_rss_mib": peak_rss_bytes() / 2**20,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-key-columns", type=int, default=None, help="the run config's max_key_columns")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--scale", type=float, default=1.0, help="lines of each shape, times its default")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        load(args.child[0], Path(args.child[1]), int(args.child[2]), args.scale)
        return
    from gladly_assets.load.key_budget import DEFAULT_MAX_KEY_COLUMNS

    limit = args.max_key_columns or DEFAULT_MAX_KEY_COLUMNS
    print(f"gladly-assets hostile keys benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, max_key_columns {limit:,}")
    print(f"{'shape':<24}{'MB':>7}{'seconds':>9}{'peak RSS':>11}{'rows':>9}{'columns':>9}{'rejected':>10}  what")
    for shape, (what, _) in shapes(args.scale).items():
        with tempfile.TemporaryDirectory() as directory:
            command = [sys.executable, __file__, "--scale", str(args.scale), "--child", shape, directory, str(limit)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=True)
            except subprocess.TimeoutExpired:
                print(f"{shape:<24}{'':>7}{'> ' + str(int(args.timeout)):>9}{'':>11}  stopped: {what}")
                continue
            figures = json.loads(done.stdout.splitlines()[-1])
            rss = f"{figures['peak_rss_mib']:,.0f} MiB"
            print(
                f"{shape:<24}{figures['mb']:>7.1f}{figures['seconds']:>9.2f}{rss:>11}{figures['rows']:>9,}"
                f"{figures['columns']:>9,}{figures['rejected']:>10,}  {what}"
            )


if __name__ == "__main__":
    main()
