"""The DuckDB resource the assets write through, configured like the code location does it,
and the one way an asset opens it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource

from gladly_assets.gc_scope import existing_objects_frozen
from gladly_assets.load.connect import connect

# DuckDB's own default (80% of RAM) lets it keep every block it wrote cached, so the
# loader's memory would grow with the file; past this limit it evicts or spills to disk.
DEFAULT_MEMORY_LIMIT = "512MB"


def duckdb_resource(database: str, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> DuckDBResource:
    """DuckDB settings go in the resource's ``connection_config``: whoever configures the
    resource decides them, and the loader never overrides them."""
    return DuckDBResource(database=database, connection_config={"memory_limit": memory_limit})


@contextmanager
def open_warehouse(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the resource's file (its folder made), closed on leaving.

    Not ``resource.get_connection()``: that retries a file that will never open for about
    100 s; ``load.connect`` fails at once naming the cause (a lock, a corrupt file...).
    An asset's work happens while its warehouse is open, so the garbage collector skips the
    objects the process held before (see ``existing_objects_frozen``) until it closes."""
    Path(resource.database).parent.mkdir(parents=True, exist_ok=True)
    with existing_objects_frozen(), closing(connect(resource.database, resource.connection_config)) as connection:
        yield connection
