"""Where a sync spent its time: seconds per step, recorded in the materialization's metadata
so that the UI shows what a slow sync waited on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class StepTimings:
    """Seconds per step of one job's load, or summed over several.

    The parse runs in worker threads beside the download and the inserts, so the steps may
    add up to more than ``total``, the wall time from the download's start to the commit."""

    download: float = 0.0
    parse: float = 0.0  # Polars, summed over the batches
    insert: float = 0.0  # DuckDB taking the parsed batches into the stage
    merge: float = 0.0  # the stage into the table: duplicates, newer versions, new columns
    commit: float = 0.0  # DuckDB's commits and checkpoint
    total: float = 0.0

    def __add__(self, other: StepTimings) -> StepTimings:
        return StepTimings(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_json(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in asdict(self).items()}
