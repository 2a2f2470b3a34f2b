"""Benchmark: build gladly_analytics.conversation_facts from scratch and incrementally.

1. The simulator writes an export job of ``--items`` conversation items; the real loader
   (``gladly_assets.load``) loads it into a DuckDB file.
2. Full build of conversation_facts over it.
3. A second job of ``--new-items`` items is loaded; ``--continued`` of its conversations
   continue conversations of the first job (a customer writing again).
4. Incremental refresh from the marks of step 2, then a full rebuild of the same data; the two
   tables are compared row for row.

Each build runs in its own process, so its peak RSS (``ru_maxrss``) is its own; the time is the
build call alone (DuckDB's memory limit as the asset sets it). Usage:

    .venv/bin/python benchmarks/bench_analytics.py --items 1000000
    .venv/bin/python benchmarks/bench_analytics.py --items 10000000   # needs ~15 GB of disk
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ------------------------------------------------------------------------------- children


def child_build(spec: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    from gladly_assets.analytics.build import AnalyticsWarehouse, Mark
    from gladly_assets.analytics.models import CONVERSATION_FACTS

    marks = {table: Mark.from_json(mark) for table, mark in spec["marks"].items()} if spec.get("marks") else None
    with duckdb.connect(spec["db"]) as connection:
        warehouse = AnalyticsWarehouse(connection)
        if spec.get("keep_as"):
            connection.execute(
                f"CREATE OR REPLACE TABLE gladly_analytics.{spec['keep_as']} AS FROM gladly_analytics.conversation_facts"
            )
        started = time.perf_counter()
        result = warehouse.build(CONVERSATION_FACTS, marks, spec.get("rebuild_reason"))
        seconds = time.perf_counter() - started
        out: dict[str, Any] = {
            "seconds": seconds,
            "mode": result.mode,
            "recomputed": result.recomputed,
            "rows": warehouse.row_count(CONVERSATION_FACTS),
            "marks": {table: mark.to_json() for table, mark in result.marks.items()},
        }
        if spec.get("extras"):
            # What the asset's step does after the build: checks, headline numbers, excluded items.
            from gladly_assets.analytics.checks import evaluate_checks

            started = time.perf_counter()
            evaluate_checks(CONVERSATION_FACTS, warehouse)
            warehouse.metrics(CONVERSATION_FACTS)
            warehouse.excluded_items()
            out["extras_seconds"] = time.perf_counter() - started
        if spec.get("compare_with"):
            out["differing_rows"] = connection.execute(
                f"SELECT count(*) FROM ((FROM gladly_analytics.conversation_facts EXCEPT ALL "
                f"FROM gladly_analytics.{spec['compare_with']}) UNION ALL (FROM gladly_analytics.{spec['compare_with']} "
                "EXCEPT ALL FROM gladly_analytics.conversation_facts))"
            ).fetchone()[0]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], check=True, capture_output=True, text=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------- setup


def load_job(sim, job: dict[str, Any], db: Path) -> float:
    """Load the job's conversation_items.jsonl with the project's loader; seconds taken."""
    import duckdb

    from gladly_assets.export_jobs import parse_instant
    from gladly_assets.load.jsonl import read_batches
    from gladly_assets.load.warehouse import Warehouse
    from gladly_assets.tables import TABLES_BY_NAME

    table = TABLES_BY_NAME["conversation_items"]
    started = time.perf_counter()
    with duckdb.connect(str(db)) as connection:
        Warehouse(connection).apply_job(
            table, job["id"], parse_instant(job["updatedAt"]), read_batches(sim.file_path(job["id"], table.file_name))
        )
    return time.perf_counter() - started


def continue_conversations(earlier: list[str]):
    def mutate(file_name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if file_name != "conversation_items.jsonl":
            return records
        new = list(dict.fromkeys(r["conversationId"] for r in records if r.get("conversationId")))
        moved = dict(zip(new, earlier, strict=False))
        return [
            {**r, "conversationId": moved[r["conversationId"]]} if r.get("conversationId") in moved else r
            for r in records
        ]

    return mutate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--new-items", type=int, default=100_000)
    parser.add_argument("--continued", type=int, default=1_000, help="new-job conversations that continue old ones")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_build(json.loads(args.child))))
        return 0

    import duckdb

    from gladly_assets.simulator import GladlySimulator

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "warehouse.duckdb"
    db.unlink(missing_ok=True)
    print(
        f"bench_analytics: {args.items:,} items, then a job of {args.new_items:,} ({args.continued:,} continued "
        f"conversations); {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; workdir {workdir}"
    )
    try:
        with GladlySimulator(
            seed=7,
            history_days=0,
            now=datetime(2026, 11, 20, 6, tzinfo=UTC),
            rate_limit_per_second=None,
            data_dir=workdir / "sim",
        ) as sim:
            started = time.perf_counter()
            first = sim.complete_job(conversation_items=args.items)
            sim.file_path(first["id"], "conversation_items.jsonl")
            generated = time.perf_counter() - started
            loaded = load_job(sim, first, db)
            print(f"  setup: generated in {generated:.1f} s, loaded in {loaded:.1f} s")

            full = run_child({"db": str(db)})
            report("full build", args.items, full)

            with duckdb.connect(str(db), read_only=True) as connection:
                earlier = [
                    row[0]
                    for row in connection.execute(
                        "SELECT conversation_id FROM gladly_analytics.conversation_facts ORDER BY conversation_id LIMIT ?",
                        [args.continued],
                    ).fetchall()
                ]
            sim.advance(timedelta(days=1))
            second = sim.complete_job(conversation_items=args.new_items, mutate=continue_conversations(earlier))
            load_job(sim, second, db)

            incremental = run_child({"db": str(db), "marks": full["marks"], "extras": True})
            report(f"incremental after a {args.new_items:,}-item job", args.items + args.new_items, incremental)
            rebuild = run_child(
                {
                    "db": str(db),
                    "rebuild_reason": "benchmark",
                    "keep_as": "incremental_copy",
                    "compare_with": "incremental_copy",
                }
            )
            report("full rebuild of the same data", args.items + args.new_items, rebuild)
            print(
                f"  incremental / full rebuild: {incremental['seconds'] / rebuild['seconds']:.1%} of the time; "
                f"rows differing between them: {rebuild['differing_rows']}\n"
                f"  the asset step's checks, headline numbers and excluded-items count after it: "
                f"{incremental['extras_seconds']:.2f} s"
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(label: str, items: int, result: dict[str, Any]) -> None:
    print(
        f"  {label:<42} {items:>12,} items  {result['seconds']:7.2f} s  peak RSS {result['peak_rss_mb']:7.0f} MB  "
        f"{result['rows']:>10,} conversations ({result['mode']}, {result['recomputed']:,} recomputed)"
    )


if __name__ == "__main__":
    sys.exit(main())
