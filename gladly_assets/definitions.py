"""Wiring only: the code location's assets, checks, sensor and resources."""

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from gladly_assets.assets import build_gladly_assets
from gladly_assets.resources.gladly import GladlyResource

EXPORT_FREQUENCY = os.environ.get("GLADLY_EXPORT_FREQUENCY", "DAILY")

defs = dg.Definitions(
    assets=[build_gladly_assets(frequency=EXPORT_FREQUENCY)],
    resources={
        "gladly": GladlyResource(
            organization=dg.EnvVar("GLADLY_ORGANIZATION"),
            agent_email=dg.EnvVar("GLADLY_AGENT_EMAIL"),
            api_token=dg.EnvVar("GLADLY_API_TOKEN"),
            domain=os.environ.get("GLADLY_DOMAIN", "gladly.com"),
            base_url=os.environ.get("GLADLY_BASE_URL") or None,
        ),
        "duckdb": DuckDBResource(database=os.environ.get("GLADLY_DUCKDB_PATH", "data/warehouse.duckdb")),
    },
)
