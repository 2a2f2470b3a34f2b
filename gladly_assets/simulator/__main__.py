"""Run the Gladly simulator from a shell:

    python -m gladly_assets.simulator --port 8765 --frequency HOURLY --tick-seconds 30

It prints the environment variables a client needs, then serves until Ctrl-C.
The token it prints is the simulator's own fake one.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from .faults import REPORT_BODIES, Faults
from .jobs import WINDOW_MODES, parse_instant
from .reports import ReportOptions
from .server import GladlySimulator


def _status_list(text: str) -> list[int]:
    try:
        statuses = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected statuses like 500,503, not {text!r}") from None
    if not all(500 <= status <= 599 for status in statuses):
        raise argparse.ArgumentTypeError("server errors must be 5xx statuses")
    return statuses


def _report_bodies(text: str) -> list[str]:
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    if not set(kinds) <= set(REPORT_BODIES):
        raise argparse.ArgumentTypeError(f"report bodies are {', '.join(REPORT_BODIES)}, not {text!r}")
    return kinds


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gladly_assets.simulator", description=__doc__.split("\n\n")[0])
    org = parser.add_argument_group("organization")
    org.add_argument("--host", default="127.0.0.1")
    org.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    org.add_argument("--seed", type=int, default=7)
    org.add_argument("--frequency", choices=("DAILY", "HOURLY"), default="DAILY")
    org.add_argument("--history-days", type=int, default=14)
    org.add_argument("--organization", default="acme")
    org.add_argument("--agent-email", default="api@acme.example")
    org.add_argument("--api-token", default="sim-token-not-secret")
    org.add_argument("--now", type=_instant, help="freeze the clock at this instant (default: real time)")
    org.add_argument("--data-dir", type=Path, help="cache generated files here (default: a temp dir)")
    org.add_argument("--rate-limit", type=int, default=10, help="requests per second per method; 0 disables")
    org.add_argument("--log-requests", action="store_true", help="print one line per request to stderr")
    org.add_argument(
        "--windows",
        choices=WINDOW_MODES,
        default="contiguous",
        help="export windows that touch, or every third one starting early (overlapping) or late (gapped)",
    )
    org.add_argument(
        "--ranges", action="store_true", help="serve byte ranges, ETag and If-Range (Gladly documents none)"
    )

    data = parser.add_argument_group("jobs")
    data.add_argument("--tick-seconds", type=float, default=0, help="complete a new job every N seconds (0: never)")
    data.add_argument(
        "--conversations", dest="conversations_per_job", type=int, default=20, help="conversations per generated job"
    )
    data.add_argument(
        "--conversation-items",
        dest="conversation_items_per_job",
        type=int,
        help="exact conversation items per generated job",
    )
    data.add_argument("--malformed-lines", type=int, default=0, help="bad lines per customers/items file")

    reports = parser.add_argument_group("reports (POST /reports, /reports/work-session-events; GET /teams, /inboxes)")
    reports.add_argument("--report-requests", type=int, default=10, help="report requests per window; 0 disables")
    reports.add_argument("--report-window-seconds", type=float, default=60.0)
    reports.add_argument("--report-concurrency", type=int, default=2, help="report requests at once; 0 disables")
    reports.add_argument("--report-row-cap", type=int, default=100_000, help="rows past this are dropped silently")
    reports.add_argument("--report-no-bom", action="store_true", help="CSVs without the UTF-8 byte-order mark")
    reports.add_argument("--report-lf", action="store_true", help="end CSV lines with LF instead of CRLF")
    reports.add_argument(
        "--report-headers",
        choices=("captured", "recent"),
        default="captured",
        help='"recent" drops " in seconds" from duration headers',
    )
    reports.add_argument("--report-timezone", default="America/New_York", help="zone of date requests without one")
    reports.add_argument("--report-latency", type=float, default=0.0, help="seconds each report takes")

    faults = parser.add_argument_group("faults (each fires for the next N matching requests, then stops)")
    faults.add_argument(
        "--fault-applies-to", dest="applies_to", choices=("any", "files", "list", "reports"), default="any"
    )
    faults.add_argument("--rate-limit-burst", type=int, default=0)
    faults.add_argument("--retry-after", type=float, help="Retry-After seconds on burst 429s (default: no header)")
    faults.add_argument("--server-errors", type=_status_list, default=[], help="e.g. 500,503")
    faults.add_argument("--reset-after-bytes", type=int)
    faults.add_argument("--resets", type=int, default=0)
    faults.add_argument("--stall-seconds", type=float, default=0.0)
    faults.add_argument("--stalls", type=int, default=0)
    faults.add_argument("--expire-on-download", type=int, default=0)
    faults.add_argument(
        "--report-bodies", type=_report_bodies, default=[], help="200 bodies instead of CSVs, e.g. html,json,text"
    )
    return parser.parse_args(argv)


# Options whose parsed name is the name GladlySimulator, or Faults, takes them by.
_SIMULATOR_OPTIONS = (
    "seed",
    "frequency",
    "history_days",
    "organization",
    "agent_email",
    "api_token",
    "now",
    "conversations_per_job",
    "host",
    "port",
    "data_dir",
    "conversation_items_per_job",
    "malformed_lines",
    "log_requests",
    "ranges",
    "windows",
)
_FAULT_OPTIONS = (
    "applies_to",
    "rate_limit_burst",
    "retry_after",
    "server_errors",
    "reset_after_bytes",
    "resets",
    "stall_seconds",
    "stalls",
    "expire_on_download",
    "report_bodies",
)


def _named(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names}


def fault_options(args: argparse.Namespace) -> Faults:
    return Faults(**_named(args, _FAULT_OPTIONS))


def report_options(args: argparse.Namespace) -> ReportOptions:
    return ReportOptions(
        requests_per_window=args.report_requests or None,
        window_seconds=args.report_window_seconds,
        concurrent=args.report_concurrency or None,
        row_cap=args.report_row_cap,
        byte_order_mark=not args.report_no_bom,
        line_terminator="\n" if args.report_lf else "\r\n",
        header_style=args.report_headers,
        organization_timezone=args.report_timezone,
        latency_seconds=args.report_latency,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sim = GladlySimulator(
        **_named(args, _SIMULATOR_OPTIONS),
        rate_limit_per_second=args.rate_limit or None,
        report_options=report_options(args),
    )
    sim.faults = fault_options(args)

    done = threading.Event()
    # Ctrl-C and `kill` both end the process cleanly, without a traceback.
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        sim.start()
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 1
    if args.tick_seconds > 0:
        sim.start_ticker(args.tick_seconds)
    completed = len(sim.jobs())
    print(f"Gladly simulator serving {sim.base_url}", flush=True)
    print(
        f"  {completed} completed {args.frequency} jobs; clock: {'frozen at ' + sim.now().isoformat() if args.now else 'real time'}"
    )
    if args.tick_seconds > 0:
        print(f"  a new job completes every {args.tick_seconds:g} s")
    print("Export these in the shell that runs the client:")
    for name, value in sim.client_environment().items():
        note = "  # the simulator's fake token" if name == "GLADLY_API_TOKEN" else ""
        print(f"  export {name}={value}{note}")
    print("Ctrl-C stops it.", flush=True)
    while not done.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    sim.stop()
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
