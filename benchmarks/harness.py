"""The benchmark's harness: child processes, memory measurement, data and machine facts.

Only the standard library at module level: the dlt contender runs in another interpreter
and imports ``peak_rss_bytes`` from here.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().with_name("child.py")
if str(ROOT) not in sys.path:  # gladly_assets, when run from a checkout without installing it
    sys.path.insert(0, str(ROOT))

GiB = 1024**3
MiB = 1024**2
CHILD_TIMEOUT_SECONDS = 3600
ITEMS_TABLE = "conversation_items"
CUSTOMERS_TABLE = "customers"


# ---------------------------------------------------------------------------------- memory


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (its children's too, none expected)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024  # Linux reports kilobytes


# ---------------------------------------------------------------------------------- children


class ChildFailed(RuntimeError):
    pass


class Bench:
    """Runs each contender in a child process of its own (``child.py``) and collects results."""

    def __init__(self, args, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.rows = args.rows
        self.counter = 0
        self.errors: list[str] = []
        self.env = {**os.environ, "TMPDIR": str(workdir / "tmp"), "PYTHONUNBUFFERED": "1"}
        (workdir / "tmp").mkdir(parents=True, exist_ok=True)
        (workdir / "logs").mkdir(exist_ok=True)

    def progress(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def run_child(self, label: str, spec: dict, python: str | None = None) -> dict:
        """Run one contender in its own process; returns its result or raises ChildFailed."""
        self.counter += 1
        stem = f"{self.counter:02d}-{spec['kind']}"
        spec_path = self.workdir / "logs" / f"{stem}.spec.json"
        result_path = self.workdir / "logs" / f"{stem}.result.json"
        log_path = self.workdir / "logs" / f"{stem}.log"
        spec = {**spec, "result": str(result_path)}
        spec_path.write_text(json.dumps(spec))
        result_path.unlink(missing_ok=True)  # a kept --workdir may hold an older run's
        self.progress(f"{label} ...")
        started = time.perf_counter()
        with open(log_path, "wb") as log:
            try:
                code: int | str = subprocess.run(
                    [python or sys.executable, str(CHILD), str(spec_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=str(self.workdir),
                    timeout=CHILD_TIMEOUT_SECONDS,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        if code != 0 or not result_path.exists():
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            message = f"{label}: child process failed ({code}); last lines of {log_path}:\n    " + "\n    ".join(tail)
            self.errors.append(message)
            self.progress(message)
            raise ChildFailed(message)
        result = json.loads(result_path.read_text())
        result["load_average"] = os.getloadavg()[0]  # the machine's 1-minute load as the child ended
        self.progress(f"{label}: {result['seconds']:.2f} s (process {time.perf_counter() - started:.1f} s)")
        return result


# ---------------------------------------------------------------------------------- data


def table_columns(name: str) -> dict[str, str]:
    """The columns gladly-assets declares for a table, as DuckDB types (JSON for objects and arrays)."""
    from gladly_assets.tables import JOB_ID_COLUMN, JOB_UPDATED_AT_COLUMN, TABLES_BY_NAME

    table = TABLES_BY_NAME[name]
    return {
        column: "JSON" if column in table.json_fields else "VARCHAR"
        for column, _ in table.columns
        if column not in (JOB_ID_COLUMN, JOB_UPDATED_AT_COLUMN)
    }


def make_simulator(data_dir: Path):
    from datetime import UTC, datetime

    from gladly_assets.simulator import GladlySimulator

    # history_days=0: the only completed jobs are the ones the benchmark makes. A frozen clock
    # lets the benchmark move a day between jobs; no rate limit so request counts are exact.
    return GladlySimulator(
        seed=7,
        history_days=0,
        now=datetime(2026, 11, 20, 6, tzinfo=UTC),
        rate_limit_per_second=None,
        data_dir=data_dir,
    ).start()


class CustomerMaker:
    """Customer records shaped like the simulator's (its own records are the templates), with
    ids of our choosing: the simulator's world only exports customers its conversations touch."""

    def __init__(self, seed: int = 11):
        import random

        self.rng = random.Random(seed)
        self.serial = 0

    def new_id(self) -> str:
        import base64

        return base64.urlsafe_b64encode(self.rng.randbytes(16))[:22].decode()

    def make(self, templates: list[dict], count: int, ids: list[str] | None = None, version: int = 0) -> list[dict]:
        records = []
        for k in range(count):
            template = templates[k % len(templates)]
            self.serial += 1
            record = json.loads(json.dumps(template))
            record["id"] = ids[k] if ids is not None else self.new_id()
            record["address"] = f"{self.serial} Benchmark Street, version {version}"
            emails = list(record.get("emailAddresses") or [])
            record["emailAddresses"] = [f"bench{self.serial}@example.com", *emails[:1]]
            records.append(record)
        return records


def copy_file(sim, job: dict, table: str, files_dir: Path) -> Path:
    """The job's file, copied to local disk for the contenders that read files directly."""
    path = files_dir / f"{job['id']}-{table}.jsonl"
    shutil.copyfile(sim.file_path(job["id"], f"{table}.jsonl"), path)
    return path


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


# ---------------------------------------------------------------------------------- machine


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("duckdb", "polars", "dagster", "pyarrow"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
        + (f" ({model})" if model else "")
        + f", {ram / GiB:.1f} GiB RAM"
    )


def load_average() -> str:
    """Other work on the machine skews every figure: the report says how busy it was."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"
