"""The printed report: one table per section, the targets with PASS or FAIL."""

from __future__ import annotations

import time

from contenders.duckdb_ceiling import CEILING as CEILING_DEFINITION
from contenders.duckdb_ceiling import INCREMENTAL_CEILING
from harness import CUSTOMERS_TABLE, ITEMS_TABLE, GiB, MiB, load_average, machine, versions
from sections import CEILING, DLT, DUCKDB_DECLARED, DUCKDB_EVERY_LINE, GLADLY, NAIVE, PARSER, Results

LABELS = {
    GLADLY: "gladly-assets",
    PARSER: "  its parser alone (Polars, no DuckDB)",
    CEILING: "ceiling: DuckDB read_json(file)",
    DUCKDB_EVERY_LINE: "DuckDB read_json, sample_size=-1",
    DUCKDB_DECLARED: "DuckDB read_json, declared columns",
    NAIVE: "naive (json.loads, Arrow, DuckDB)",
}
INCREMENTAL_LABELS = {GLADLY: "gladly-assets", CEILING: "ceiling (DuckDB DELETE + INSERT)"}

# Targets.
INITIAL_MAX_VS_CEILING = 2.0
INITIAL_AIM_VS_CEILING = 1.5
INITIAL_MIN_VS_NAIVE = 5.0
INCREMENTAL_MAX_VS_CEILING = 2.0
NOOP_REQUESTS = 1
MEMORY_MAX_BYTES = 1 * GiB
MEMORY_MAX_GROWTH = 0.25
SCALE_MAX_SLOWDOWN = 1.25  # the last job against the first that merged into a table

HEADER = (
    f"{'contender':<40} {'seconds':>9} {'rows':>12} {'rows/s':>11} {'MB/s':>8} {'peak RSS':>10} "
    f"{'vs ceiling':>11} {'load':>6}"
)


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / GiB:.2f} GiB" if value >= GiB else f"{value / MiB:,.0f} MiB"


def row_line(name: str, result: dict, rows: int, size: int, ceiling: dict | None) -> str:
    seconds = result["seconds"]
    ratio = f"{seconds / ceiling['seconds']:.2f}x" if ceiling else "-"
    return (
        f"{name:<40} {seconds:>9.2f} {rows:>12,} {rows / seconds:>11,.0f} {size / 1e6 / seconds:>8,.1f} "
        f"{fmt_bytes(result['peak_rss']):>10} {ratio:>11} {result.get('load_average', 0):>6.1f}"
    )


def steps_line(who: str, steps: dict[str, float]) -> str:
    return f"    {who} time: " + ", ".join(f"{step} {seconds:.2f} s" for step, seconds in steps.items())


def runs_lines(results: dict[str, dict], names: dict[str, str]) -> list[str]:
    """Every run's seconds of the contenders that ran more than once (``--repeat``)."""
    return [
        f"    {name} runs (fastest shown): " + ", ".join(f"{s:.2f}" for s in runs) + " s"
        for key, name in names.items()
        if len(runs := results.get(key, {}).get("runs", [])) > 1
    ]


def report(args, results: Results, errors: list[str]) -> list[tuple[str, str, bool]]:
    """Print the report; returns the targets as (target, value, met)."""
    out: list[str] = []
    targets: list[tuple[str, str, bool]] = []
    info = results.info
    dlt = ""
    if DLT in results.initial:
        dlt = f", dlt {results.initial[DLT].get('version')} (duckdb {info.get('dlt_duckdb')}, {info.get('dlt_python')})"
    out.append(f"gladly-assets ingest benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}, --rows {args.rows:,}")
    out.append(f"machine: {machine()}; load average at start {info.get('load_start')}, at end {load_average()}")
    out.append("versions: " + ", ".join(f"{name} {value}" for name, value in versions().items()) + dlt)
    out.append(f"ceiling: {CEILING_DEFINITION}")
    out.append(
        "load: the machine's 1-minute load average as each contender ended (2 cores: above 2, others were running)"
    )
    if results.initial:
        out += ["", *_initial(args, results, targets)]
    if results.incremental:
        out += ["", *_incremental(results, targets)]
    if results.noop is not None:
        out += ["", *_noop(results.noop, targets)]
    if results.memory:
        out += ["", *_memory(args.rows, results.memory, targets)]
    if results.scale:
        out += ["", *_scale(args.rows, results.scale, targets)]
    if targets:
        out += ["", "targets"]
        out += [f"  {name:<56} {value:>10}  {'PASS' if ok else 'FAIL'}" for name, value, ok in targets]
    if errors:
        out += ["", "errors"] + [f"  {error}" for error in errors]
    print("\n".join(out), flush=True)
    return targets


def _initial(args, results: Results, targets: list) -> list[str]:
    info, initial = results.info, results.initial
    size = info["initial_bytes"]
    other = ", ".join(f"{name} {count:,} lines" for name, count in info.get("initial_other_rows", {}).items())
    prerequisite = "" if "initial" in args.only else " (run only as the start of the later sections)"
    out = [
        f"1. initial load{prerequisite}: one job with {args.rows:,} conversation items ({size / 1e6:,.1f} MB "
        f"of JSONL; the job's other files: {other}) into a fresh DuckDB file",
        HEADER,
    ]
    ceiling = initial.get(CEILING)
    labels = {**LABELS, DLT: f"dlt (duckdb, {initial.get(DLT, {}).get('file_format', args.dlt_format)}, merge on id)"}
    for key, label in labels.items():
        if key in initial:
            out.append(row_line(label, initial[key], initial[key]["rows"][ITEMS_TABLE], size, ceiling))
        elif "initial" in args.only:
            out.append(f"{label:<40} {key}: {results.skipped.get(key, 'failed')}")
    gladly = initial[GLADLY]
    if gladly.get("breakdown"):
        out.append(steps_line("gladly-assets (from its materialization metadata)", gladly["breakdown"]))
    if initial.get(DLT, {}).get("breakdown"):
        out.append(steps_line("dlt", initial[DLT]["breakdown"]))
    out += runs_lines(initial, {key: key for key in LABELS})
    for key in (DUCKDB_EVERY_LINE, DUCKDB_DECLARED):
        if key in initial:
            out.append(f"    gladly-assets vs {LABELS[key]}: {gladly['seconds'] / initial[key]['seconds']:.2f}x")
    if ceiling and "initial" in args.only:
        ratio = gladly["seconds"] / ceiling["seconds"]
        targets.append(
            (
                f"initial load <= {INITIAL_MAX_VS_CEILING:g}x ceiling (aim {INITIAL_AIM_VS_CEILING:g}x)",
                f"{ratio:.2f}x",
                ratio <= INITIAL_MAX_VS_CEILING,
            )
        )
    if NAIVE in initial:
        speedup = initial[NAIVE]["seconds"] / gladly["seconds"]
        targets.append(
            (
                f"initial load >= {INITIAL_MIN_VS_NAIVE:g}x faster than naive",
                f"{speedup:.2f}x",
                speedup >= INITIAL_MIN_VS_NAIVE,
            )
        )
    return out


def _incremental(results: Results, targets: list) -> list[str]:
    info = results.info
    rows_in = info["incremental_rows"]
    total = sum(rows_in.values())
    out = [
        f"2. incremental: one more job, {rows_in[ITEMS_TABLE]:,} new conversation items and "
        f"{rows_in[CUSTOMERS_TABLE]:,} customers ({info['incremental_customers'] // 2:,} of them new "
        f"versions of loaded customers), {info['incremental_bytes'] / 1e6:,.1f} MB, merged into (1)",
        f"   its ceiling: {INCREMENTAL_CEILING}",
        HEADER,
    ]
    ceiling = results.incremental.get(CEILING)
    for key, label in INCREMENTAL_LABELS.items():
        if key in results.incremental:
            out.append(row_line(label, results.incremental[key], total, info["incremental_bytes"], ceiling))
    gladly = results.incremental[GLADLY]
    if gladly.get("breakdown"):
        out.append(steps_line("gladly-assets (from its materialization metadata)", gladly["breakdown"]))
    out += runs_lines(results.incremental, INCREMENTAL_LABELS)
    for name, meta in gladly.get("metadata", {}).items():
        out.append(
            f"    gladly-assets {name}: {meta.get('rows_inserted') or 0:,} inserted, "
            f"{meta.get('rows_updated') or 0:,} updated; table now {gladly['rows'][name]:,} rows"
            + (f" (ceiling: {ceiling['rows'][name]:,})" if ceiling else "")
        )
    if ceiling:
        ratio = gladly["seconds"] / ceiling["seconds"]
        targets.append(
            (
                f"incremental <= {INCREMENTAL_MAX_VS_CEILING:g}x its ceiling",
                f"{ratio:.2f}x",
                ratio <= INCREMENTAL_MAX_VS_CEILING,
            )
        )
    return out


def _noop(noop: dict, targets: list) -> list[str]:
    requests = noop["requests"]
    targets.append(
        (f"no-op makes exactly {NOOP_REQUESTS} HTTP request", str(len(requests)), len(requests) == NOOP_REQUESTS)
    )
    return [
        f"3. no-op: one more materialization of {', '.join(noop['tables'])} with no new job",
        f"{'gladly-assets':<40} {noop['seconds']:>9.2f} s, {len(requests)} HTTP request(s): "
        + ("; ".join(requests) or "none")
        + f"; materializations recorded: {len(noop['materialized'])}; peak RSS {fmt_bytes(noop['peak_rss'])}",
    ]


def _memory(n: int, memory: dict[int, dict], targets: list) -> list[str]:
    out = [
        "4. memory: peak RSS of the materialising process (fresh instance, DuckDB file and job each)",
        f"{'rows':>12} {'MB of JSONL':>12} {'seconds':>9} {'rows/s':>11} {'peak RSS':>10} {'load':>6}",
    ]
    for rows, result in sorted(memory.items()):
        out.append(
            f"{result['rows'][ITEMS_TABLE]:>12,} {result['bytes'] / 1e6:>12,.1f} {result['seconds']:>9.2f} "
            f"{rows / result['seconds']:>11,.0f} {fmt_bytes(result['peak_rss']):>10} {result['load_average']:>6.1f}"
        )
    if n in memory:
        peak = memory[n]["peak_rss"]
        targets.append(
            (f"peak RSS < {fmt_bytes(MEMORY_MAX_BYTES)} at {n:,} rows", fmt_bytes(peak), peak < MEMORY_MAX_BYTES)
        )
    if n in memory and 2 * n in memory:
        growth = memory[2 * n]["peak_rss"] / memory[n]["peak_rss"] - 1
        out.append(f"    growth from {n:,} to {2 * n:,} rows: {growth:+.1%}")
        targets.append(
            (
                f"peak RSS growth {n:,} -> {2 * n:,} rows <= {MEMORY_MAX_GROWTH:.0%}",
                f"{growth:+.1%}",
                growth <= MEMORY_MAX_GROWTH,
            )
        )
    return out


def _scale(n: int, scale: list[dict], targets: list) -> list[str]:
    out = [
        f"5. scale: {len(scale)} jobs of {n:,} conversation items, one materialization each, into one table",
        f"{'job':>4} {'table rows':>12} {'seconds':>9} {'rows/s':>11} {'peak RSS':>10} {'load':>6}  steps (metadata)",
    ]
    for number, result in enumerate(scale, start=1):
        steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in result.get("breakdown", {}).items())
        out.append(
            f"{number:>4} {result['rows'][ITEMS_TABLE]:>12,} {result['seconds']:>9.2f} {n / result['seconds']:>11,.0f} "
            f"{fmt_bytes(result['peak_rss']):>10} {result['load_average']:>6.1f}  {steps}"
        )
    peak = max(result["peak_rss"] for result in scale)
    targets.append(
        (f"peak RSS < {fmt_bytes(MEMORY_MAX_BYTES)} throughout the scale run", fmt_bytes(peak), peak < MEMORY_MAX_BYTES)
    )
    if len(scale) >= 3:
        # Job 1 creates the table; from job 2 on each one merges into a bigger table.
        slowdown = scale[-1]["seconds"] / scale[1]["seconds"]
        targets.append(
            (
                f"time per job flat: job {len(scale)} <= {SCALE_MAX_SLOWDOWN:g}x job 2",
                f"{slowdown:.2f}x",
                slowdown <= SCALE_MAX_SLOWDOWN,
            )
        )
    return out
