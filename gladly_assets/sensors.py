"""Spot export jobs no table has applied yet and request one run that applies them.

One list request per tick and no DuckDB access (the sensor must never hold the
warehouse's lock). What is pending is judged against the assets' own cursors, read
from their last materializations on the instance, not against a cursor of the
sensor's: a run that fails leaves its jobs pending, and a later tick requests them
again. Each request is tagged with a digest of the work it covers: while a run for
that work is in flight or Dagster will retry it, the sensor waits; once it has
finished and the work is still pending, the sensor requests it again under a new
run key. Runs carry Dagster's run-retry tags, so an instance with run retries
enabled retries a failed run by itself first.

A tick never raises: whatever goes wrong becomes a SkipReason naming the cause
(redacted), and the tick lists with a copy of the resource that gives up well inside
Dagster's 60 s sensor timeout instead of the run's patient retries.
"""

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import dagster as dg

from gladly_assets import metadata_keys as keys
from gladly_assets.cursor import CLOCK_SKEW_ALLOWANCE, Cursor, job_key, split_future, utc_now
from gladly_assets.errors import GladlyConfigError, GladlyError, GladlyResponseError, GladlyRetriesExhausted, clip
from gladly_assets.export_jobs import ExportJob
from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.tables import TABLES, GladlyTable
from gladly_assets.text import printable

SENSOR_NAME = "gladly_export_jobs_sensor"
# Hourly exports are the finest Gladly offers: a check every 5 minutes applies a
# new job at most that long after it completes, at one request per tick.
DEFAULT_INTERVAL_SECONDS = 300
WORK_TAG = "gladly/work"
# Honoured when the instance enables run retries (dagster.yaml: run_retries: enabled: true).
RETRY_TAGS = {"dagster/max_retries": "2", "dagster/retry_strategy": "FROM_FAILURE"}
# Export runs go ahead of queued report backfills: both need the one DuckDB writer, and a
# month of report days must not hold back the tables every other asset reads.
PRIORITY_TAGS = {"dagster/priority": "10"}
_WILL_RETRY_TAG = "dagster/will_retry"

Work = Mapping[GladlyTable, Sequence[ExportJob]]


def pending_work(
    instance: dg.DagsterInstance, jobs: Sequence[ExportJob], tables: Sequence[GladlyTable]
) -> dict[GladlyTable, list[ExportJob]]:
    """Per table, the ``jobs`` that carry its file and that its asset's cursor has not applied."""
    work = {}
    for table in tables:
        cursor = Cursor.from_metadata(keys.latest_metadata(instance, table.asset_key))
        pending = [job for job in cursor.pending(jobs) if table.file_name in job.files]
        if pending:
            work[table] = pending
    return work


def work_digest(work: Work) -> str:
    """The same pending work always gives the same digest, across ticks and restarts."""
    lines = sorted(f"{table.name}\t{job_key(job.id)}" for table, jobs in work.items() for job in jobs)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def build_export_jobs_sensor(
    tables: Sequence[GladlyTable] = TABLES,
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    settings_notice: str = "",
    clock: Callable[[], datetime] = utc_now,
    clock_skew: timedelta = CLOCK_SKEW_ALLOWANCE,
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
            return evaluate(context, budget, tables, clock(), clock_skew)
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
        description="Requests a run of the Gladly tables whenever Gladly lists export jobs a table has yet to apply."
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
    context: dg.SensorEvaluationContext,
    gladly: GladlyResource,
    tables: Sequence[GladlyTable],
    now: datetime,
    clock_skew: timedelta,
) -> dg.SensorResult | dg.SkipReason:
    """One tick: list the jobs, compare them with the assets' cursors, request a run for what is pending."""
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
    due, future = split_future(listed, now, clock_skew)
    for job in future:
        context.log.warning(
            f"export job {printable(job.id)} is dated {printable(job.updated_at_raw)}, ahead of this "
            "machine's clock by more than the allowance: not requested until the clock passes it"
        )
    work = pending_work(context.instance, due, tables)
    if not work:
        newest = f"{printable(listed[-1].id)} (updatedAt {printable(listed[-1].updated_at_raw)})" if listed else "none"
        return dg.SkipReason(
            f"No new export job with files: every table has applied the {len(listed)} job(s) Gladly lists "
            f"(newest {newest})."
        )
    digest = work_digest(work)
    runs = context.instance.get_runs(dg.RunsFilter(tags={WORK_TAG: digest}), limit=100)
    waiting = [run for run in runs if not run.is_finished or run.tags.get(_WILL_RETRY_TAG) == "true"]
    if waiting:
        return dg.SkipReason(
            f"Run {waiting[0].run_id} is applying these export jobs, or Dagster will retry it; waiting for it."
        )
    if runs:
        context.log.warning(
            f"{len(runs)} earlier run(s) for these export jobs finished without applying them all "
            f"(last: {runs[0].run_id}, {runs[0].status.value}): requesting them again"
        )
    jobs = {job_key(job.id): job for table_jobs in work.values() for job in table_jobs}
    newest_job = max(jobs.values(), key=lambda job: (job.updated_at, job.id))
    run_key = f"gladly-jobs-{digest}" + (f"-again-{len(runs)}" if runs else "")
    context.log.info(
        f"{len(jobs)} export job(s) not applied yet, newest {printable(newest_job.id)} "
        f"(updatedAt {printable(newest_job.updated_at_raw)}): requesting "
        f"{', '.join(table.name for table in work)}"
    )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                asset_selection=[table.asset_key for table in work],
                tags={
                    WORK_TAG: digest,
                    "gladly/newest_job": printable(newest_job.id, 60),
                    "gladly/new_jobs": str(len(jobs)),
                    **RETRY_TAGS,
                    **PRIORITY_TAGS,
                },
            )
        ],
        cursor=run_key,
    )
