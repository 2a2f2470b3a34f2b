"""What `make demo` runs: the Gladly simulator plus `dagster dev` pointed at it.

The simulator keeps an hourly export schedule with 2 days of history and
completes a new job every 30 seconds; the sensor is on, so within about a minute
the four tables are materialised into data/warehouse.duckdb and every new
simulated job is applied by itself. ``--history-days 14`` gives Gladly's full
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
# asset and DuckDB check claims), failed runs retried (the sensor's runs ask for it),
# freshness policies evaluated.
DAGSTER_YAML = """\
concurrency:
  pools:
    default_limit: 1
run_retries:
  enabled: true
freshness:
  enabled: true
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
