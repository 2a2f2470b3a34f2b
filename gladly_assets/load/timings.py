"""Where a sync spent its time: seconds per step, recorded in the materialization's metadata
so that the UI shows what a slow sync waited on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Literal

Step = Literal["download", "parse", "insert", "merge", "commit", "total"]


@dataclass
class StepTimings:
    """Seconds per step of one job's load, or summed over several.

    The file is loaded while it downloads, and parsed in worker threads beside the inserts
    (two batches at a time), so the steps may add up to more than ``total``, the wall time
    from the download's start to the job's last commit."""

    download: float = 0.0  # from the download's start until its last byte arrived
    parse: float = 0.0  # Polars, summed over the batches
    insert: float = 0.0  # DuckDB taking the parsed batches into the job's stage
    merge: float = 0.0  # the stage into the table: duplicates, quarantine, new columns, newer versions
    commit: float = 0.0  # DuckDB's commits: the stage's along the way, and the job's last
    total: float = 0.0

    @contextmanager
    def measure(self, step: Step) -> Iterator[None]:
        """Add the time the block takes to ``step`` (also when it raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, step, getattr(self, step) + time.perf_counter() - started)

    def __add__(self, other: StepTimings) -> StepTimings:
        return StepTimings(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_json(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in asdict(self).items()}
