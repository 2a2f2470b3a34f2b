"""The DuckDB resource the assets write through, configured like the code location does it."""

from __future__ import annotations

from dagster_duckdb import DuckDBResource

# DuckDB's own default (80% of RAM) lets it keep every block it wrote cached, so the
# loader's memory would grow with the file; past this limit it evicts or spills to disk.
DEFAULT_MEMORY_LIMIT = "512MB"


def duckdb_resource(database: str, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> DuckDBResource:
    """DuckDB settings go in the resource's ``connection_config``: whoever configures the
    resource decides them, and the loader never overrides them."""
    return DuckDBResource(database=database, connection_config={"memory_limit": memory_limit})
