"""Wiring only: the code location's assets (with their checks), sensors and resources, configured from GLADLY_*."""

import os
from collections.abc import Mapping
from datetime import timedelta

import dagster as dg

from gladly_assets import settings
from gladly_assets.analytics.assets import build_analytics_assets, build_analytics_automation_sensor
from gladly_assets.assets import build_gladly_assets
from gladly_assets.reports.assets import build_report_assets, partitions
from gladly_assets.reports.refresh import RefreshSettings, build_reports_sensor
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.resources.warehouse import duckdb_resource
from gladly_assets.sensors import build_export_jobs_sensor


def build_definitions(env: Mapping[str, str] = os.environ) -> dg.Definitions:
    config = settings.read_settings(env)
    start_date = config[settings.REPORTS_START_DATE]
    return dg.Definitions(
        assets=[
            build_gladly_assets(frequency=config[settings.EXPORT_FREQUENCY], settings_notice=config.notice),
            *build_analytics_assets(),
            *build_report_assets(start_date=start_date),
        ],
        sensors=[
            build_export_jobs_sensor(
                interval_seconds=config[settings.SENSOR_INTERVAL_SECONDS],
                default_status=config[settings.SENSOR_DEFAULT_STATUS],
                settings_notice=config.notice,
            ),
            build_analytics_automation_sensor(
                default_status=config[settings.SENSOR_DEFAULT_STATUS],
                interval_seconds=config[settings.SENSOR_INTERVAL_SECONDS],
            ),
            build_reports_sensor(
                partitions(start_date),
                settings=RefreshSettings(
                    backfill_days=config[settings.REPORTS_BACKFILL_DAYS],
                    refresh_every=timedelta(minutes=config[settings.REPORTS_REFRESH_MINUTES]),
                    settle=timedelta(minutes=config[settings.REPORTS_SETTLE_MINUTES]),
                    interval_seconds=config[settings.REPORTS_SENSOR_INTERVAL_SECONDS],
                ),
                default_status=config[settings.REPORTS_SENSOR_DEFAULT_STATUS],
            ),
        ],
        resources={
            "gladly": GladlyResource(
                organization=config[settings.ORGANIZATION],
                agent_email=config[settings.AGENT_EMAIL],
                # Unset, the resource reports every missing setting in one clear error (the
                # sensor's skip reason) instead of the code location failing to load. Set, it
                # is read when the resource is built, so it never lands in run config.
                api_token=dg.EnvVar(settings.API_TOKEN.name) if config[settings.API_TOKEN] else "",
                domain=config[settings.DOMAIN],
                base_url=config[settings.BASE_URL],
            ),
            "duckdb": duckdb_resource(config[settings.DUCKDB_PATH], memory_limit=config[settings.DUCKDB_MEMORY_LIMIT]),
        },
    )


defs = build_definitions()
