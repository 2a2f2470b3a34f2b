"""Dagster resources of the code location: the Gladly HTTP API and the DuckDB warehouse."""

from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.resources.organization import ALLOWED_DOMAINS, api_root
from gladly_assets.resources.warehouse import duckdb_resource

__all__ = ["ALLOWED_DOMAINS", "GladlyResource", "api_root", "duckdb_resource"]
