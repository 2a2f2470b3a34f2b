"""Spot newly completed Gladly export jobs and request one run that applies them.

One list request per tick and no DuckDB access (the sensor must never hold the
warehouse's lock). The sensor's cursor is the same watermark the assets keep
(``cursor.Cursor``), so it cannot move backwards and still catches a job that
becomes visible after a newer one.

A tick never raises: whatever goes wrong becomes a SkipReason naming the cause
(redacted), and the tick lists with a copy of the resource that gives up well inside
Dagster's 60 s sensor timeout instead of the run's patient retries.
"""

import hashlib
from collections.abc import Sequence

import dagster as dg

from gladly_assets.cursor import Cursor, iso
from gladly_assets.errors import GladlyConfigError, GladlyError, GladlyResponseError, GladlyRetriesExhausted, clip
from gladly_assets.export_jobs import ExportJob
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.tables import TABLES, GladlyTable

SENSOR_NAME = "gladly_export_jobs_sensor"
# Hourly exports are the finest Gladly offers: a check every 5 minutes applies a
# new job at most that long after it completes, at one request per tick.
DEFAULT_INTERVAL_SECONDS = 300


def run_key(jobs: Sequence[ExportJob]) -> str:
    """The same set of jobs always gives the same key, across ticks and restarts."""
    digest = hashlib.sha256("\n".join(sorted(job.id for job in jobs)).encode()).hexdigest()[:16]
    return f"gladly-jobs-{digest}"


def tables_in(jobs: Sequence[ExportJob], tables: Sequence[GladlyTable]) -> list[GladlyTable]:
    return [table for table in tables if any(table.file_name in job.files for job in jobs)]


def build_export_jobs_sensor(
    tables: Sequence[GladlyTable] = TABLES,
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    settings_notice: str = "",
) -> dg.SensorDefinition:
    """``settings_notice`` says which settings were not applied: every tick repeats it."""

    def tick(context: dg.SensorEvaluationContext, gladly: GladlyResource) -> dg.SensorResult | dg.SkipReason:
        try:
            # At most 3 attempts of at most 12 s each, 2 s apart: about 40 s in the worst case.
            budget = gladly.with_budget(
                max_attempts=3, backoff_max_seconds=2.0, timeout_seconds=8.0, deadline_seconds=12.0
            )
        except Exception as error:  # a setting pydantic refuses: say so, never raise
            return dg.SkipReason(f"Gladly is not configured: {clip(gladly.redact(str(error)), 500)}")
        try:
            return evaluate(context, budget, tables)
        except Exception as error:  # the sensor never raises: a tick that fails is a skip with its cause
            cause = f"{type(error).__name__}: {error}"
            return dg.SkipReason(f"The Gladly sensor could not evaluate this tick: {clip(gladly.redact(cause), 1000)}")
        finally:
            budget.close()

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=interval_seconds,
        default_status=default_status,
        target=[table.asset_key for table in tables],
        description="Requests a run of the Gladly tables whenever Gladly completes new export jobs."
        + (f"\n\n{settings_notice}" if settings_notice else ""),
    )
    def gladly_export_jobs_sensor(
        context: dg.SensorEvaluationContext, gladly: GladlyResource
    ) -> dg.SensorResult | dg.SkipReason:
        result = tick(context, gladly)
        if not settings_notice:
            return result
        context.log.warning(settings_notice)
        if isinstance(result, dg.SkipReason):
            return dg.SkipReason(f"{result.skip_message} {settings_notice}")
        return result

    return gladly_export_jobs_sensor


def evaluate(
    context: dg.SensorEvaluationContext, gladly: GladlyResource, tables: Sequence[GladlyTable]
) -> dg.SensorResult | dg.SkipReason:
    """One tick: list the jobs, compare them with the cursor, request a run for the new ones."""
    seen = Cursor.deserialize(context.cursor)
    try:
        listed = gladly.list_jobs()
    except GladlyConfigError as error:
        return dg.SkipReason(
            f"Gladly is not configured: {error} Set GLADLY_ORGANIZATION, GLADLY_AGENT_EMAIL and "
            "GLADLY_API_TOKEN (and GLADLY_DOMAIN or GLADLY_BASE_URL if needed) for this code location."
        )
    except GladlyRetriesExhausted as error:
        return dg.SkipReason(f"Cannot reach Gladly: {error}")
    except GladlyResponseError as error:  # a body this client cannot use, a limit passed
        return dg.SkipReason(f"Gladly's answer cannot be used: {error}")
    except GladlyError as error:  # 401, 403, unknown organization: the settings need fixing
        return dg.SkipReason(f"Gladly refused the request: {error}")
    new = seen.pending(listed)
    if not new:
        newest = f"{listed[-1].id} (updatedAt {listed[-1].updated_at_raw})" if listed else "none"
        return dg.SkipReason(
            f"No new completed export job among the {len(listed)} Gladly lists; newest seen: {newest}, "
            f"cursor at {iso(seen.last_job_updated_at) or 'start'}."
        )
    advanced = seen
    for job in new:
        advanced = advanced.advanced(job)
    selection = tables_in(new, tables)
    if not selection:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"{len(new)} new export job(s), none with files."),
            cursor=advanced.serialize(),
        )
    context.log.info(
        f"{len(new)} new export job(s), newest {new[-1].id} (updatedAt {new[-1].updated_at_raw}): "
        f"requesting {', '.join(table.name for table in selection)}"
    )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key(new),
                asset_selection=[table.asset_key for table in selection],
                tags={"gladly/newest_job": new[-1].id, "gladly/new_jobs": str(len(new))},
            )
        ],
        cursor=advanced.serialize(),
    )
