"""The watermark of a table: which export jobs it has applied.

It lives in the asset's materialization metadata, so Dagster keeps its history
and the UI shows it; the next materialization reads it back from the last one.

Jobs finish out of order: one can become visible after a newer one was applied,
and several can share an ``updatedAt``. So besides the newest ``updatedAt`` the
cursor remembers the ids applied within ``LATE_JOB_WINDOW`` of it; a listed job
in that window that is not among them is still applied, exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from gladly_assets.export_jobs import ExportJob, parse_instant

LATE_JOB_WINDOW = timedelta(hours=1)

# Metadata keys, shared with the asset checks and the sensor.
LAST_JOB_UPDATED_AT = "last_job_updated_at"
RECENT_JOBS = "recent_jobs"
COVERED_UNTIL = "covered_until"
RETENTION_GAP = "retention_gap"
ROWS_REJECTED = "rows_rejected"


@dataclass(frozen=True)
class Cursor:
    last_job_updated_at: datetime | None = None
    # id -> updatedAt of the jobs applied within LATE_JOB_WINDOW of the newest one.
    recent_jobs: Mapping[str, datetime] = field(default_factory=dict)
    # End of the newest export window applied: where the next job should start.
    covered_until: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return self.last_job_updated_at is None

    def is_pending(self, job: ExportJob) -> bool:
        if self.last_job_updated_at is None or job.updated_at > self.last_job_updated_at:
            return True
        return job.updated_at >= self.last_job_updated_at - LATE_JOB_WINDOW and job.id not in self.recent_jobs

    def pending(self, jobs: Iterable[ExportJob]) -> list[ExportJob]:
        """The jobs not applied yet, oldest first (ties in a fixed order)."""
        return sorted((job for job in jobs if self.is_pending(job)), key=lambda job: (job.updated_at, job.id))

    def advanced(self, job: ExportJob) -> Cursor:
        """The cursor once ``job`` is committed."""
        newest = max(filter(None, [self.last_job_updated_at, job.updated_at]))
        recent = {**self.recent_jobs, job.id: job.updated_at}
        covered = max(filter(None, [self.covered_until, job.window_end]), default=None)
        return Cursor(
            last_job_updated_at=newest,
            recent_jobs={job_id: at for job_id, at in recent.items() if at >= newest - LATE_JOB_WINDOW},
            covered_until=covered,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            LAST_JOB_UPDATED_AT: iso(self.last_job_updated_at),
            RECENT_JOBS: {job_id: iso(at) for job_id, at in sorted(self.recent_jobs.items())},
            COVERED_UNTIL: iso(self.covered_until),
        }

    def to_metadata(self) -> dict[str, Any]:
        return {
            key: dg.MetadataValue.json(value) if isinstance(value, dict) else dg.MetadataValue.text(value)
            for key, value in self.to_json().items()
        }

    def serialize(self) -> str:
        """For a sensor cursor."""
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def deserialize(cls, text: str | None) -> Cursor:
        return cls.from_metadata(json.loads(text)) if text else cls()

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Cursor:
        def instant(key: str) -> datetime | None:
            text = _value(metadata.get(key))
            return parse_instant(text) if text else None

        recent = _value(metadata.get(RECENT_JOBS)) or {}
        return cls(
            last_job_updated_at=instant(LAST_JOB_UPDATED_AT),
            recent_jobs={job_id: parse_instant(at) for job_id, at in recent.items()},
            covered_until=instant(COVERED_UNTIL),
        )


def latest_metadata(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> Mapping[str, Any]:
    """Metadata of the asset's last materialization ({} if it never materialized)."""
    event = instance.get_latest_materialization_event(asset_key)
    if event is None or event.asset_materialization is None:
        return {}
    return event.asset_materialization.metadata


def metadata_value(metadata: Mapping[str, Any], key: str) -> Any:
    return _value(metadata.get(key))


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def iso(value: datetime | None) -> str:
    """An instant as RFC 3339 in UTC ('' for none)."""
    return value.isoformat().replace("+00:00", "Z") if value else ""
