"""Which report days to (re)load, and the sensor that requests them.

Each tick, per stream: the days of the last ``backfill_days`` that were never
loaded, and the days of the stream's own ``refresh_days`` whose rows can still
change and were not loaded within ``refresh_every``; plus teams and inboxes once
per ``refresh_every``. Only complete UTC days that ended ``settle`` ago are
asked for (Gladly's reports lag live activity by about an hour). Runs are
requested newest first, one run per stream and range of consecutive days (at most
a month), at most ``max_runs_per_tick`` runs a tick, days with a run in flight
left out; within a run the resource paces the requests. The run key includes the refresh period, so a day is requested once
per period and a failed day is tried again in the next one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from gladly_assets.report_schema import ReportStream
from gladly_assets.reports.assets import DIRECTORY, MAX_DAYS_PER_RUN, asset_key
from gladly_assets.reports.streams import STREAMS

SENSOR_NAME = "gladly_reports_sensor"
STREAM_TAG = "gladly/report_stream"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
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
    """Partition keys to request, newest first: the missing days of the last ``backfill_days``,
    and the loaded days of the stream's refresh window that are not ``fresh`` (loaded within the
    refresh period). Older missing days are a backfill's job."""
    wanted = []
    for back in range(max(backfill_days, stream.refresh_days)):
        day = newest - timedelta(days=back)
        if day < first:
            break
        key = day.isoformat()
        missing = key not in loaded and back < backfill_days
        if missing or (key in loaded and back < stream.refresh_days and key not in fresh):
            wanted.append(key)
    return wanted


def consecutive_ranges(days: Sequence[str], longest: int) -> list[tuple[str, str]]:
    """Sorted ISO days as (first, last) runs of consecutive days, each at most ``longest`` long."""
    ranges: list[tuple[str, str]] = []
    for key in days:
        day = date.fromisoformat(key)
        if ranges:
            first, last = ranges[-1]
            span = (day - date.fromisoformat(first)).days
            if day - date.fromisoformat(last) == timedelta(days=1) and span < longest:
                ranges[-1] = (first, key)
                continue
        ranges.append((key, key))
    return ranges


def _days_of(tags: Mapping[str, str]) -> list[str]:
    """The days a run covers, from its partition or partition-range tags."""
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    if RANGE_START in tags and RANGE_END in tags:
        try:
            first, last = date.fromisoformat(tags[RANGE_START]), date.fromisoformat(tags[RANGE_END])
        except ValueError:
            return []
        return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    return []


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
        target=[*(stream.asset_key for stream in streams), *directory_keys],
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
        wanted: list[tuple[str, ReportStream]] = []  # (day, stream)
        for stream in streams:
            key = stream.asset_key
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
            (run.tags.get(STREAM_TAG), day)
            for run in context.instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT))
            for day in _days_of(run.tags)
        }
        requests = []
        for stream in streams:
            days = sorted(day for day, named in wanted if named is stream and (stream.name, day) not in in_flight)
            for first_day, last_day in consecutive_ranges(days, MAX_DAYS_PER_RUN):
                requests.append(
                    dg.RunRequest(
                        run_key=f"{stream.name}:{first_day}:{last_day}:{period}",
                        asset_selection=[stream.asset_key],
                        tags={STREAM_TAG: stream.name, RANGE_START: first_day, RANGE_END: last_day},
                    )
                )
        # Newest days first, streams interleaved.
        requests.sort(key=lambda request: request.tags[RANGE_END], reverse=True)
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
