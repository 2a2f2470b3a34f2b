"""Which report days to (re)load, and the sensor that requests them.

Each tick, per stream: the days of the last ``backfill_days`` that were never
loaded, and the days of the stream's own ``refresh_days`` whose rows can still
change and were not loaded within ``refresh_every``; plus teams and inboxes once
per ``refresh_every``. Only complete UTC days that ended ``settle`` ago are
asked for (Gladly's reports lag live activity by about an hour). Runs are
requested newest day first, at most ``max_runs_per_tick`` a tick (days with a
run in flight left out), one partition per run; the run key includes the refresh period, so a day is requested once
per period and a failed day is tried again in the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from gladly_assets.report_schema import ReportStream
from gladly_assets.reports.assets import DIRECTORY, asset_key
from gladly_assets.reports.streams import STREAMS

SENSOR_NAME = "gladly_reports_sensor"
STREAM_TAG = "gladly/report_stream"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dataclass(frozen=True)
class RefreshSettings:
    backfill_days: int = 7
    refresh_every: timedelta = timedelta(hours=6)
    settle: timedelta = timedelta(hours=2)
    # One minute of Gladly's report limit; the DuckDB pool runs them one at a time.
    max_runs_per_tick: int = 10
    interval_seconds: int = 60


def newest_day(now: datetime, settle: timedelta) -> date:
    """The newest complete UTC day that ended at least ``settle`` ago."""
    return (now.astimezone(UTC) - settle).date() - timedelta(days=1)


def days_to_load(
    stream: ReportStream,
    newest: date,
    first: date,
    loaded: set[str],
    fresh: set[str],
    backfill_days: int,
) -> list[str]:
    """Partition keys to request, newest first: ``loaded`` keys were ever materialised, ``fresh``
    ones within the refresh period."""
    wanted = []
    for back in range(max(backfill_days, stream.refresh_days)):
        day = newest - timedelta(days=back)
        if day < first:
            break
        key = day.isoformat()
        if key not in loaded or (back < stream.refresh_days and key not in fresh):
            wanted.append(key)
    return wanted


def build_reports_sensor(
    partitions_def: dg.DailyPartitionsDefinition,
    streams: Sequence[ReportStream] = STREAMS,
    settings: RefreshSettings = RefreshSettings(),
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    directory_keys = [asset_key(name) for name in DIRECTORY]
    first = partitions_def.start.date()

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=settings.interval_seconds,
        default_status=default_status,
        target=[*(asset_key(stream.name) for stream in streams), *directory_keys],
        description=(
            f"Loads the report days of the last {settings.backfill_days} days that are missing, re-reads each "
            "stream's days that can still change (30 for conversations and contacts, 7 for work sessions) "
            f"every {settings.refresh_every}, and refreshes teams and inboxes as often."
        ),
    )
    def gladly_reports_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        now = datetime.now(UTC)
        period = int(now.timestamp() // settings.refresh_every.total_seconds())
        since = (now - settings.refresh_every).timestamp()
        newest = newest_day(now, settings.settle)
        wanted: list[tuple[str, ReportStream]] = []
        for stream in streams:
            key = asset_key(stream.name)
            loaded = context.instance.get_materialized_partitions(key)
            recent = [(newest - timedelta(days=back)).isoformat() for back in range(stream.refresh_days)]
            fresh = (
                {
                    record.partition_key
                    for record in context.instance.fetch_materializations(
                        dg.AssetRecordsFilter(key, asset_partitions=recent, after_timestamp=since), limit=10_000
                    ).records
                    if record.partition_key
                }
                if recent
                else set()
            )
            days = days_to_load(stream, newest, first, loaded, fresh, settings.backfill_days)
            wanted.extend((day, stream) for day in days)
        # Days with a run queued or in progress are not asked for again (nor counted in the budget).
        in_flight = {
            (run.tags.get(STREAM_TAG), run.tags.get("dagster/partition"))
            for run in context.instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT))
        }
        wanted = [(day, stream) for day, stream in wanted if (stream.name, day) not in in_flight]
        wanted.sort(key=lambda pair: pair[0], reverse=True)  # newest first, streams interleaved
        requests = [
            dg.RunRequest(
                run_key=f"{stream.name}:{day}:{period}",
                asset_selection=[asset_key(stream.name)],
                partition_key=day,
                tags={STREAM_TAG: stream.name},
            )
            for day, stream in wanted
        ]
        latest = context.instance.get_latest_materialization_event(directory_keys[0])
        if latest is None or latest.timestamp < since:
            requests.insert(0, dg.RunRequest(run_key=f"directory:{period}", asset_selection=directory_keys))
        if not requests:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"Every report day up to {newest} is loaded and fresh."))
        if len(requests) > settings.max_runs_per_tick:
            context.log.info(
                f"{len(requests)} report runs due; requesting {settings.max_runs_per_tick} now, the rest next ticks"
            )
        return dg.SensorResult(run_requests=requests[: settings.max_runs_per_tick])

    return gladly_reports_sensor
