"""The watermark of a table: which export jobs it has applied, and which time they cover.

It lives in the asset's materialization metadata, so Dagster keeps its history and
the UI shows it; the next materialization reads it back from the last one.

Jobs finish out of order: one can become visible after a newer one was applied,
and several can share an ``updatedAt``. So besides the newest ``updatedAt`` the
cursor remembers the ids applied within ``LATE_JOB_WINDOW`` of it; a listed job
in that window that is not among them is still applied, exactly once.

A job dated further in the future than ``CLOCK_SKEW_ALLOWANCE`` is never applied
(see ``split_future``): it would move the cursor past every real job until then.

``Coverage`` is the union of the export windows of the applied jobs: a window no
applied job covers is lost data (``retention_gap``), whatever order the windows
came in, and it stops being lost once a job covering it is applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from gladly_assets import metadata_keys as keys
from gladly_assets.export_jobs import ExportJob, parse_instant

LATE_JOB_WINDOW = timedelta(hours=1)
# How far ahead of this machine's clock a job's updatedAt may be and still be applied.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=10)
# Windows closer than this touch: Gladly's consecutive windows share their instants exactly.
WINDOW_TOLERANCE = timedelta(seconds=1)
# Each lost window is an incident, so a real table has a handful; a server inventing
# gaps cannot grow the cursor past this (the oldest are merged, never dropped).
MAX_LOST_WINDOWS = 100
# Job ids are kept as they are when short and printable; others by digest (exact, bounded).
_MAX_ID_LENGTH = 128
_DIGEST_PREFIX = "sha256:"
GAP_REASON = "no applied export job covers it: its jobs expired (Gladly keeps them 14 days) before they were applied"


def utc_now() -> datetime:
    """This machine's clock, against which future-dated jobs are judged."""
    return datetime.now(UTC)


def job_key(job_id: str) -> str:
    """How the cursor remembers a job id: itself, or a digest if it is long or unprintable."""
    if len(job_id) <= _MAX_ID_LENGTH and job_id.isprintable() and not job_id.startswith(_DIGEST_PREFIX):
        return job_id
    return _DIGEST_PREFIX + hashlib.sha256(job_id.encode("utf-8", "surrogatepass")).hexdigest()


def split_future(
    jobs: Iterable[ExportJob], now: datetime, allowance: timedelta = CLOCK_SKEW_ALLOWANCE
) -> tuple[list[ExportJob], list[ExportJob]]:
    """(jobs that may be applied, jobs dated further ahead of ``now`` than ``allowance``)."""
    due: list[ExportJob] = []
    future: list[ExportJob] = []
    for job in jobs:
        (future if job.updated_at > now + allowance else due).append(job)
    return due, future


@dataclass(frozen=True)
class LostWindow:
    start: datetime
    end: datetime
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"from": iso(self.start), "to": iso(self.end), "reason": self.reason}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> LostWindow:
        return cls(parse_instant(value["from"]), parse_instant(value["to"]), str(value.get("reason") or GAP_REASON))


@dataclass(frozen=True)
class Coverage:
    """[start, end] minus ``holes``: the time the applied jobs' windows cover."""

    start: datetime | None = None
    end: datetime | None = None
    holes: tuple[LostWindow, ...] = ()

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None, holes: Iterable[LostWindow] = ()) -> Coverage:
        """A normalised coverage: holes inside [start, end], sorted, overlapping ones merged, capped."""
        if start is None or end is None:
            return cls()
        merged: list[LostWindow] = []
        for hole in sorted(holes, key=lambda h: (h.start, h.end)):
            hole = replace(hole, start=max(hole.start, start), end=min(hole.end, end))
            if hole.end - hole.start <= WINDOW_TOLERANCE:
                continue
            if merged and hole.start <= merged[-1].end:
                merged[-1] = replace(merged[-1], end=max(merged[-1].end, hole.end))
            else:
                merged.append(hole)
        while len(merged) > MAX_LOST_WINDOWS:
            first, second = merged[0], merged[1]
            merged[:2] = [
                LostWindow(
                    first.start, second.end, "several lost windows, merged to keep the cursor small; " + GAP_REASON
                )
            ]
        return cls(start, end, tuple(merged))

    def add(self, start: datetime, end: datetime) -> Coverage:
        """The coverage once a job whose window is [start, end] is applied."""
        if end < start:
            return self
        if self.start is None or self.end is None:
            return Coverage(start, end)
        holes = [new for hole in self.holes for new in _minus(hole, start, end)]
        if start > self.end + WINDOW_TOLERANCE:
            holes.append(LostWindow(self.end, start, GAP_REASON))
        if end < self.start - WINDOW_TOLERANCE:
            holes.append(LostWindow(end, self.start, GAP_REASON))
        return Coverage.of(min(self.start, start), max(self.end, end), holes)

    def explain(self, start: datetime, end: datetime, reason: str) -> Coverage:
        """The same coverage, the holes overlapping [start, end] given ``reason``."""
        holes = [replace(h, reason=reason) if h.start < end and start < h.end else h for h in self.holes]
        return Coverage(self.start, self.end, tuple(holes))


def _minus(hole: LostWindow, start: datetime, end: datetime) -> list[LostWindow]:
    if end <= hole.start or start >= hole.end:
        return [hole]
    parts = [replace(hole, end=start), replace(hole, start=end)]
    return [part for part in parts if part.end - part.start > WINDOW_TOLERANCE]


@dataclass(frozen=True)
class Cursor:
    last_job_updated_at: datetime | None = None
    # job_key(id) -> updatedAt of the jobs applied within LATE_JOB_WINDOW of the newest one.
    recent_jobs: Mapping[str, datetime] = field(default_factory=dict)
    coverage: Coverage = Coverage()

    @property
    def is_empty(self) -> bool:
        return self.last_job_updated_at is None

    @property
    def covered_until(self) -> datetime | None:
        """End of the newest export window applied: where the next job should start."""
        return self.coverage.end

    @property
    def lost(self) -> tuple[LostWindow, ...]:
        return self.coverage.holes

    def is_pending(self, job: ExportJob) -> bool:
        if self.last_job_updated_at is None or job.updated_at > self.last_job_updated_at:
            return True
        return job.updated_at >= self.last_job_updated_at - LATE_JOB_WINDOW and job_key(job.id) not in self.recent_jobs

    def pending(self, jobs: Iterable[ExportJob]) -> list[ExportJob]:
        """The jobs not applied yet, oldest first (ties in a fixed order)."""
        return sorted((job for job in jobs if self.is_pending(job)), key=lambda job: (job.updated_at, job.id))

    def advanced(self, job: ExportJob, covers: bool = True) -> Cursor:
        """The cursor once ``job`` is committed; ``covers=False`` for a job whose file was
        lost (expired): the cursor moves past it, its window stays uncovered."""
        newest = max(filter(None, [self.last_job_updated_at, job.updated_at]))
        recent = {**self.recent_jobs, job_key(job.id): job.updated_at}
        coverage = self.coverage
        if covers and job.window_start is not None and job.window_end is not None:
            # A job cannot hold what happened after it completed: a window ending later
            # (a hostile or broken server) must not cover time no job has exported yet.
            end = min(job.window_end, job.updated_at + CLOCK_SKEW_ALLOWANCE)
            coverage = coverage.add(job.window_start, end)
        return Cursor(
            last_job_updated_at=newest,
            recent_jobs={key: at for key, at in recent.items() if at >= newest - LATE_JOB_WINDOW},
            coverage=coverage,
        )

    def advanced_by(self, jobs: Sequence[ExportJob]) -> Cursor:
        cursor = self
        for job in jobs:
            cursor = cursor.advanced(job)
        return cursor

    def to_metadata(self) -> dict[str, Any]:
        return {
            keys.LAST_JOB_UPDATED_AT: dg.MetadataValue.text(iso(self.last_job_updated_at)),
            keys.RECENT_JOBS: dg.MetadataValue.json({key: iso(at) for key, at in sorted(self.recent_jobs.items())}),
            keys.COVERED_FROM: dg.MetadataValue.text(iso(self.coverage.start)),
            keys.COVERED_UNTIL: dg.MetadataValue.text(iso(self.coverage.end)),
            keys.RETENTION_GAP: dg.MetadataValue.json([window.to_json() for window in self.coverage.holes]),
        }

    @classmethod
    def from_metadata(cls, metadata: keys.Metadata) -> Cursor:
        """Read back ``to_metadata``, or the metadata written before the ``gladly/`` namespace
        (no ``covered_from`` then: coverage is taken to start at the first lost window)."""

        def instant(key: str) -> datetime | None:
            text = keys.read(metadata, key)
            return parse_instant(text) if text else None

        recent = keys.read(metadata, keys.RECENT_JOBS) or {}
        if keys.RECENT_JOBS not in metadata:  # the old layout kept the ids themselves
            recent = {job_key(job_id): at for job_id, at in recent.items()}
        holes = [LostWindow.from_json(window) for window in keys.read(metadata, keys.RETENTION_GAP) or []]
        until = instant(keys.COVERED_UNTIL)
        since = instant(keys.COVERED_FROM)
        if since is None:
            since = min([hole.start for hole in holes] + ([until] if until else []), default=None)
        if until is None and holes:
            until = max(hole.end for hole in holes)
        return cls(
            last_job_updated_at=instant(keys.LAST_JOB_UPDATED_AT),
            recent_jobs={key: parse_instant(at) for key, at in recent.items()},
            coverage=Coverage.of(since, until, holes),
        )


def iso(value: datetime | None) -> str:
    """An instant as RFC 3339 in UTC ('' for none)."""
    return value.isoformat().replace("+00:00", "Z") if value else ""
