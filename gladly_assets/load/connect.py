"""Open the warehouse's DuckDB file, or say at once why it cannot be opened.

dagster_duckdb's ``DuckDBResource.get_connection`` retries every IO error ten times
with exponential backoff (about 100 s) before it reports anything, also for a file
that will never open: a directory, a corrupt file, one we may not write. Here only a
lock held by another process is waited for, briefly (a run about to finish); the
error then names the cause and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

# Long enough for another run's last commit, short next to the run's own retries.
LOCK_WAIT_SECONDS = 10.0
_LOCK_POLL_SECONDS = 0.25


class WarehouseUnavailable(Exception):
    """The DuckDB file cannot be opened for writing; the message names the cause."""


def _cause(message: str, path: str) -> str | None:
    """What to tell the user for a DuckDB error that waiting cannot fix (None: unknown)."""
    lowered = message.lower()
    if "is a directory" in lowered or Path(path).is_dir():
        return "it is a directory, not a DuckDB file: point GLADLY_DUCKDB_PATH at a file"
    if "not a valid duckdb database file" in lowered or "corrupt" in lowered:
        return (
            "it is not a valid DuckDB database (corrupt, written by another program, or truncated): "
            "move it aside and the next run reloads every job Gladly still lists"
        )
    if "permission denied" in lowered or "read-only" in lowered or "read only" in lowered:
        return "this process may not write it (permissions or a read-only file system)"
    return None


def connect(
    path: str, config: Mapping[str, Any] | None = None, lock_wait_seconds: float | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-write connection to ``path``; ``WarehouseUnavailable`` if it cannot be had. A lock is
    waited for ``lock_wait_seconds`` (None: ``LOCK_WAIT_SECONDS``, read at each call)."""
    if lock_wait_seconds is None:
        lock_wait_seconds = LOCK_WAIT_SECONDS
    deadline = time.monotonic() + lock_wait_seconds
    settings = {"custom_user_agent": "dagster", **(config or {})}
    while True:
        try:
            return duckdb.connect(path, read_only=False, config=settings)
        except duckdb.Error as error:
            message = str(error)
            if "could not set lock" in message.lower():
                if time.monotonic() < deadline:
                    time.sleep(_LOCK_POLL_SECONDS)
                    continue
                raise WarehouseUnavailable(
                    f"cannot open the DuckDB file {path}: another process holds its lock (DuckDB allows one "
                    f"writer) and did not release it within {lock_wait_seconds:g} s. Close that process, or "
                    "let runs queue through the 'gladly_duckdb' pool (see the README). DuckDB said: "
                    f"{message}"
                ) from None
            cause = _cause(message, path)
            raise WarehouseUnavailable(
                f"cannot open the DuckDB file {path}: {cause or 'DuckDB refused it'}. DuckDB said: {message}"
            ) from None
