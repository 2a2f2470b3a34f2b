"""What `make demo` runs: the Gladly simulator plus `dagster dev` pointed at it.

The simulator keeps an hourly export schedule with 2 days of history and
completes a new job every 30 seconds; the sensors are on, so within about a minute
the four tables are materialised into data/warehouse.duckdb, every new
simulated job is applied by itself, and the support-analytics tables refresh
right after (the automation sensor). The reports sensor loads the last 7
complete UTC days of every report stream (the simulator's reports are computed
from the same jobs, so days before its history are empty) and re-reads the days
that can still change every hour. ``--history-days 14`` gives Gladly's full
retention instead (336 hourly jobs: the first sync then takes a few minutes).
Ctrl-C stops everything this started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from gladly_assets.processes import stop_process_group
from gladly_assets.simulator import GladlySimulator

# The demo's own Dagster instance: one DuckDB writer at a time (the pool every
# asset and DuckDB check claims), at most 3 runs at once (a report backfill queues
# its runs instead of starting them all), failed runs retried (the sensor's runs ask
# for it), freshness policies evaluated, and automation conditions evaluated by
# sensors (the analytics refresh after the tables).
DAGSTER_YAML = """\
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 3
run_retries:
  enabled: true
freshness:
  enabled: true
auto_materialize:
  enabled: true
  use_sensors: true
telemetry:
  enabled: false
"""


def prepare_dagster_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    return home


def demo_environment(simulator: GladlySimulator, home: Path, database: Path, sensor_seconds: int) -> dict[str, str]:
    return {
        **os.environ,
        "DAGSTER_HOME": str(home.resolve()),
        **simulator.client_environment(),
        "GLADLY_EXPORT_FREQUENCY": "HOURLY",
        "GLADLY_DUCKDB_PATH": str(database.resolve()),
        "GLADLY_SENSOR_DEFAULT_STATUS": "RUNNING",
        "GLADLY_SENSOR_INTERVAL_SECONDS": str(sensor_seconds),
        # The report streams: the last 7 days loaded on start, the days that still change
        # re-read every hour, teams and inboxes as often.
        "GLADLY_REPORTS_SENSOR_DEFAULT_STATUS": "RUNNING",
        "GLADLY_REPORTS_BACKFILL_DAYS": "7",
        "GLADLY_REPORTS_REFRESH_MINUTES": "60",
        "GLADLY_REPORTS_SETTLE_MINUTES": "30",
        "GLADLY_REPORTS_SENSOR_INTERVAL_SECONDS": str(max(sensor_seconds, 30)),
    }


def dagster_dev_command(port: int) -> list[str]:
    """`dagster dev` on this code location, whatever the current directory is."""
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"  # a source checkout
    target = ["-w", str(workspace)] if workspace.is_file() else ["-m", "gladly_assets.definitions"]
    return [sys.executable, "-m", "dagster", "dev", *target, "-h", "127.0.0.1", "-p", str(port)]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    parser.add_argument("--simulator-port", type=int, default=8765)
    parser.add_argument("--job-every", type=float, default=30.0, help="seconds between new simulated jobs")
    parser.add_argument("--sensor-every", type=int, default=15, help="sensor interval in seconds")
    parser.add_argument("--history-days", type=int, default=2, help="days of hourly jobs at start (default 2)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)

    home = prepare_dagster_home(args.data_dir / "dagster_home")
    database = args.data_dir / "warehouse.duckdb"
    # `kill` and a closed terminal stop the demo like Ctrl-C does: `dagster dev` runs in its
    # own session (Ctrl-C reaches it only through stop_process_group) and would outlive us.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    with GladlySimulator(
        seed=7, frequency="HOURLY", history_days=args.history_days, port=args.simulator_port
    ) as simulator:
        simulator.start_ticker(args.job_every)
        print(
            f"Gladly simulator: {simulator.base_url} ({len(simulator.jobs())} completed hourly jobs; "
            f"a new one every {args.job_every:g} s)"
        )
        print(f"Warehouse: {database}   Dagster UI: http://127.0.0.1:{args.port}   Ctrl-C stops both.")
        dagster = subprocess.Popen(
            dagster_dev_command(args.port),
            env=demo_environment(simulator, home, database, args.sensor_every),
            start_new_session=True,
        )
        try:
            return dagster.wait()
        except KeyboardInterrupt:
            print("\nStopping dagster dev and the simulator...")
            return 0
        finally:
            # No run may still hold the warehouse when the demo returns.
            stop_process_group(dagster)


if __name__ == "__main__":
    sys.exit(main())
