"""Ingest benchmark: gladly-assets against DuckDB loading the same file by itself (the ceiling),
a naive per-line loader and dlt.

    .venv/bin/python benchmarks/bench_ingest.py --rows 1000000
    .venv/bin/python benchmarks/bench_ingest.py --rows 1000000 --only scale     # the 10M run

The ceiling: DuckDB alone, ``CREATE TABLE t AS SELECT * FROM read_json(file)`` then
``CHECKPOINT``, from a local copy of the same file into a fresh DuckDB file
(``contenders.duckdb_ceiling.CEILING``, printed with every report).

Every figure comes from one run, on data the Gladly simulator generates in this run
(generation is never timed). Each contender runs in its own child process (``child.py``), so
its peak RSS is its own; the simulator serves the files over HTTP from this process, which
otherwise only waits. The layout:

* ``contenders/``: one module per contender (gladly-assets and its parser alone, the DuckDB
  ceilings, naive, dlt);
* ``harness.py``: child processes, memory, the simulator and the data, the machine;
* ``sections.py``: what each section runs (initial, incremental, noop, memory, scale);
* ``report.py``: the printed tables and the targets.

See README.md for what each section measures and the latest figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness import Bench
from report import report
from sections import DEFAULT_SECTIONS, SECTIONS, run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="conversation items per job (N)")
    parser.add_argument("--skip-dlt", action="store_true", help="do not run the dlt contender")
    parser.add_argument("--skip-naive", action="store_true", help="do not run the naive contender")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temporary directory, removed)")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated sections among {','.join(SECTIONS)} (default: {','.join(DEFAULT_SECTIONS)})",
    )
    parser.add_argument(
        "--scale-jobs", type=int, default=10, help="jobs of N items in the scale section (default 10: 10M at N=1M)"
    )
    parser.add_argument("--dlt-python", help="a Python that can import dlt (default: search, see README)")
    parser.add_argument(
        "--dlt-format",
        default="parquet",
        choices=("parquet", "jsonl", "default"),
        help="dlt's loader_file_format (default parquet, its fast path into DuckDB; 'default' is dlt's own "
        "default for DuckDB, insert_values, which took 488 s at 1M rows on the reference machine)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each initial-load contender but dlt this many times; report the fastest",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    args.only = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown or not args.only:
        parser.error(f"--only takes sections among {', '.join(SECTIONS)}; got {args.only}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.scale_jobs < 1:
        parser.error("--scale-jobs must be at least 1")
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    owned = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="gladly-bench-")) if owned else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        bench = Bench(args, workdir)
        results = run(bench)
        targets = report(args, results, bench.errors)
        bench.progress(f"benchmark done in {time.perf_counter() - started:.0f} s")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "rows": args.rows,
                        "initial": results.initial,
                        "incremental": results.incremental,
                        "noop": results.noop,
                        "memory": {str(k): v for k, v in results.memory.items()},
                        "scale": results.scale,
                        "info": results.info,
                        "skipped": results.skipped,
                        "targets": [{"target": t, "value": value, "pass": ok} for t, value, ok in targets],
                        "errors": bench.errors,
                    },
                    indent=2,
                    default=str,
                )
            )
        return 1 if bench.errors else 0
    finally:
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
