"""Wiring only: the code location's assets (with their checks), sensor and resources, configured from GLADLY_*."""

import os
from datetime import date, timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from gladly_assets.assets import build_gladly_assets
from gladly_assets.reports.assets import DEFAULT_START_DATE, build_report_assets, partitions
from gladly_assets.reports.refresh import RefreshSettings, build_reports_sensor
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.sensors import DEFAULT_INTERVAL_SECONDS, build_export_jobs_sensor


def _int_setting(name: str, default: int) -> int:
    """A whole-number setting; an unusable value falls back to the default (with a warning)
    instead of failing the code location."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return max(0, int(text))
    except ValueError:
        dg.get_dagster_logger().warning(f"{name}={text!r} is not a whole number; using {default}")
        return default


def _start_date_setting(name: str, default: str) -> str:
    text = os.environ.get(name, "").strip()
    try:
        return date.fromisoformat(text).isoformat() if text else default
    except ValueError:
        dg.get_dagster_logger().warning(f"{name}={text!r} is not a date (YYYY-MM-DD); using {default}")
        return default


def _status_setting(name: str) -> dg.DefaultSensorStatus:
    text = os.environ.get(name, "").strip().upper() or "STOPPED"
    if text not in dg.DefaultSensorStatus.__members__:
        dg.get_dagster_logger().warning(f"{name}={text!r} is neither RUNNING nor STOPPED; using STOPPED")
        return dg.DefaultSensorStatus.STOPPED
    return dg.DefaultSensorStatus[text]


REPORTS_START_DATE = _start_date_setting("GLADLY_REPORTS_START_DATE", DEFAULT_START_DATE)
REPORT_PARTITIONS = partitions(REPORTS_START_DATE)

defs = dg.Definitions(
    assets=[
        build_gladly_assets(frequency=os.environ.get("GLADLY_EXPORT_FREQUENCY", "DAILY")),
        *build_report_assets(start_date=REPORTS_START_DATE),
    ],
    sensors=[
        build_reports_sensor(
            REPORT_PARTITIONS,
            settings=RefreshSettings(
                backfill_days=_int_setting("GLADLY_REPORTS_BACKFILL_DAYS", 7),
                refresh_every=timedelta(minutes=max(1, _int_setting("GLADLY_REPORTS_REFRESH_MINUTES", 360))),
                settle=timedelta(minutes=_int_setting("GLADLY_REPORTS_SETTLE_MINUTES", 120)),
                interval_seconds=max(1, _int_setting("GLADLY_REPORTS_SENSOR_INTERVAL_SECONDS", 60)),
            ),
            default_status=_status_setting("GLADLY_REPORTS_SENSOR_DEFAULT_STATUS"),
        ),
        build_export_jobs_sensor(
            interval_seconds=int(os.environ.get("GLADLY_SENSOR_INTERVAL_SECONDS", DEFAULT_INTERVAL_SECONDS)),
            default_status=dg.DefaultSensorStatus[os.environ.get("GLADLY_SENSOR_DEFAULT_STATUS", "STOPPED")],
        ),
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
