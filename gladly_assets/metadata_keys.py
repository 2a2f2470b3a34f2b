"""The project's materialization metadata keys, namespaced ``gladly/`` so that they are
visibly ours beside Dagster's own ``dagster/`` keys.

Shared by the cursor, the sync, the checks and the sensor. Materializations recorded
before the namespace used bare names; ``read`` falls back to them, so an existing
instance keeps its cursors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

PREFIX = "gladly/"

# The cursor (see cursor.py).
LAST_JOB_UPDATED_AT = f"{PREFIX}last_job_updated_at"
RECENT_JOBS = f"{PREFIX}recent_jobs"
COVERED_FROM = f"{PREFIX}covered_from"
COVERED_UNTIL = f"{PREFIX}covered_until"
RETENTION_GAP = f"{PREFIX}retention_gap"
# What one sync did.
MODE = f"{PREFIX}mode"
JOBS_APPLIED = f"{PREFIX}jobs_applied"
JOBS_EXPIRED = f"{PREFIX}jobs_expired"
JOBS_DEFERRED = f"{PREFIX}jobs_deferred"
ROWS_INSERTED = f"{PREFIX}rows_inserted"
ROWS_UPDATED = f"{PREFIX}rows_updated"
ROWS_UNCHANGED = f"{PREFIX}rows_unchanged"
ROWS_REJECTED = f"{PREFIX}rows_rejected"
BYTES_DOWNLOADED = f"{PREFIX}bytes_downloaded"
NEW_COLUMNS = f"{PREFIX}new_columns"
WIDENED_COLUMNS = f"{PREFIX}widened_columns"
PREVIEW = f"{PREFIX}preview"
TIMINGS = f"{PREFIX}timings"  # seconds per step (load/timings.py)

ROW_COUNT = "dagster/row_count"

Metadata = Mapping[str, Any]


def read(metadata: Metadata, key: str) -> Any:
    """The plain value under ``key``, or under its name before the namespace; None if neither."""
    entry = metadata.get(key)
    if entry is None and key.startswith(PREFIX):
        entry = metadata.get(key.removeprefix(PREFIX))
    return getattr(entry, "value", entry)


def latest_metadata(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> Metadata:
    """Metadata of the asset's last materialization ({} if it never materialized)."""
    event = instance.get_latest_materialization_event(asset_key)
    if event is None or event.asset_materialization is None:
        return {}
    return event.asset_materialization.metadata
