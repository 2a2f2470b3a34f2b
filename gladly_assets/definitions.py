"""Wiring only: the code location's assets (with their checks), sensors and resources, configured from GLADLY_*."""

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from gladly_assets.analytics.assets import build_analytics_assets, build_analytics_automation_sensor
from gladly_assets.assets import build_gladly_assets
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.sensors import DEFAULT_INTERVAL_SECONDS, build_export_jobs_sensor

SENSOR_STATUS = dg.DefaultSensorStatus[os.environ.get("GLADLY_SENSOR_DEFAULT_STATUS", "STOPPED")]
SENSOR_INTERVAL_SECONDS = int(os.environ.get("GLADLY_SENSOR_INTERVAL_SECONDS", DEFAULT_INTERVAL_SECONDS))

defs = dg.Definitions(
    assets=[
        build_gladly_assets(frequency=os.environ.get("GLADLY_EXPORT_FREQUENCY", "DAILY")),
        *build_analytics_assets(),
    ],
    sensors=[
        build_export_jobs_sensor(interval_seconds=SENSOR_INTERVAL_SECONDS, default_status=SENSOR_STATUS),
        build_analytics_automation_sensor(default_status=SENSOR_STATUS, interval_seconds=SENSOR_INTERVAL_SECONDS),
    ],
    resources={
        "gladly": GladlyResource(
            organization=os.environ.get("GLADLY_ORGANIZATION", ""),
            agent_email=os.environ.get("GLADLY_AGENT_EMAIL", ""),
            # Unset, the resource reports every missing setting in one clear error (the
            # sensor's skip reason) instead of the code location failing to load.
            api_token=dg.EnvVar("GLADLY_API_TOKEN") if "GLADLY_API_TOKEN" in os.environ else "",
            domain=os.environ.get("GLADLY_DOMAIN", "gladly.com"),
            base_url=os.environ.get("GLADLY_BASE_URL") or None,
        ),
        "duckdb": DuckDBResource(database=os.environ.get("GLADLY_DUCKDB_PATH", "data/warehouse.duckdb")),
    },
)
