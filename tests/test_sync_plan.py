"""``plan_sync`` as a pure rule: the mode, the jobs to apply, the jobs deferred and the
windows that stay lost, from the last metadata, the listed jobs and the clock. No HTTP,
no DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from gladly_assets import metadata_keys as keys
from gladly_assets.cursor import CLOCK_SKEW_ALLOWANCE, Cursor
from gladly_assets.export_jobs import ExportJob
from gladly_assets.sync import plan_sync
from gladly_assets.tables import TABLES_BY_NAME

CUSTOMERS = TABLES_BY_NAME["customers"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
NOW = T0 + 30 * DAY


def daily(job_id: str, day: float, *, late: timedelta = timedelta(0), window_days: float = 1) -> ExportJob:
    """The job exporting [day, day + window_days], completed 10 minutes after it (+ ``late``)."""
    start = T0 + day * DAY
    end = start + window_days * DAY
    at = end + timedelta(minutes=10) + late
    return ExportJob(job_id, "COMPLETED", at, at.isoformat(), ("customers.jsonl",), start, end, None)


def previous(*applied: ExportJob, rows: int = 10) -> dict:
    return {**Cursor().advanced_by(applied).to_metadata(), keys.ROW_COUNT: dg.MetadataValue.int(rows)}


D = {name: daily(name, day) for name, day in [("d0", 0), ("d1", 1), ("d2", 2), ("d3", 3), ("d4", 4), ("d5", 5)]}


def days(*pairs: tuple[float, float]) -> list[tuple[datetime, datetime]]:
    return [(T0 + a * DAY, T0 + b * DAY) for a, b in pairs]


CASES = [
    # id, previous metadata, listed, row_count, full_refresh -> mode, jobs applied, lost windows
    ("initial", {}, [D["d0"], D["d1"]], None, False, "initial", ["d0", "d1"], []),
    ("incremental", previous(D["d0"], D["d1"]), [D["d0"], D["d1"], D["d2"]], 10, False, "incremental", ["d2"], []),
    ("nothing new", previous(D["d0"]), [D["d0"]], 10, False, "incremental", [], []),
    ("full refresh", previous(D["d0"]), [D["d0"], D["d1"]], 10, True, "full_refresh", ["d0", "d1"], []),
    ("table missing", previous(D["d0"]), [D["d0"], D["d1"]], None, False, "reload", ["d0", "d1"], []),
    ("table emptied", previous(D["d0"]), [D["d0"]], 0, False, "reload", ["d0"], []),
    ("empty and was empty", previous(D["d0"], rows=0), [D["d0"]], 0, False, "incremental", [], []),
    (
        "new lost window",
        previous(D["d0"]),
        [D["d0"], D["d2"]],
        10,
        False,
        "incremental",
        ["d2"],
        days((1, 2)),
    ),
    (
        "carried lost window",
        previous(D["d0"], D["d2"]),
        [D["d2"], D["d3"]],
        10,
        False,
        "incremental",
        ["d3"],
        days((1, 2)),
    ),
    (
        "cleared by a late job",
        previous(D["d0"], D["d2"]),
        [D["d0"], daily("d1-late", 1, late=DAY - timedelta(minutes=30)), D["d2"]],
        10,
        False,
        "incremental",
        ["d1-late"],
        [],
    ),
    (
        "cleared by a regenerated job (new updatedAt, old window)",
        previous(D["d0"], D["d3"]),
        [D["d3"], daily("regen", 1, late=10 * DAY, window_days=2)],
        10,
        False,
        "incremental",
        ["regen"],
        [],
    ),
    (
        "partly cleared",
        previous(D["d0"], D["d5"]),
        [D["d5"], daily("regen", 2, late=10 * DAY)],
        10,
        False,
        "incremental",
        ["regen"],
        days((1, 2), (3, 5)),
    ),
    (
        "windows out of order",
        {},
        [daily("b", 2, late=-2 * DAY), daily("a", 0, late=DAY), D["d1"]],
        None,
        False,
        "initial",
        ["b", "a", "d1"],  # a and d1 share an updatedAt: ids break the tie
        [],
    ),
    (
        "overlapping windows",
        previous(D["d0"]),
        [daily("wide", 0.5, window_days=2.5), D["d3"]],
        10,
        False,
        "incremental",
        ["wide", "d3"],
        [],
    ),
    (
        "a full refresh forgets windows lost before what is listed",
        previous(D["d0"], D["d3"]),
        [D["d3"], D["d4"]],
        10,
        True,
        "full_refresh",
        ["d3", "d4"],
        [],
    ),
]


@pytest.mark.parametrize(
    ("metadata", "listed", "row_count", "full_refresh", "mode", "applied", "lost"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_plan(metadata, listed, row_count, full_refresh, mode, applied, lost):
    plan = plan_sync(CUSTOMERS, metadata, listed, row_count, full_refresh, NOW)
    assert plan.mode == mode
    assert [job.id for job in plan.jobs] == applied
    assert [(window.start, window.end) for window in plan.lost] == lost
    assert plan.deferred == ()
    assert plan.rebuilds == (mode in ("full_refresh", "reload"))


def test_unaligned_windows_as_gladly_makes_them():
    start = datetime(2019, 1, 21, 7, 15, 18, 72729, tzinfo=UTC)  # 2019-01-21T07:15:18.07272933Z

    def job(job_id: str, k: int, gap: timedelta = timedelta(0)) -> ExportJob:
        begin = start + k * DAY + gap
        at = begin + DAY + timedelta(minutes=3)
        return ExportJob(job_id, "COMPLETED", at, at.isoformat(), (), begin, begin + DAY - gap, None)

    contiguous = [job("a", 0), job("b", 1), job("c", 2)]
    plan = plan_sync(CUSTOMERS, {}, contiguous, None, False, start + 10 * DAY)
    assert plan.lost == ()
    gapped = [*contiguous, job("d", 3, gap=timedelta(minutes=44, seconds=41.927271))]
    plan = plan_sync(CUSTOMERS, {}, gapped, None, False, start + 10 * DAY)
    ((lost_start, lost_end),) = [(w.start, w.end) for w in plan.lost]
    assert (lost_start, lost_end) == (start + 3 * DAY, datetime(2019, 1, 24, 8, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("ahead", "deferred"),
    [
        (timedelta(0), False),
        (CLOCK_SKEW_ALLOWANCE, False),
        (CLOCK_SKEW_ALLOWANCE + timedelta(seconds=1), True),
        (timedelta(days=365 * 73), True),
    ],
)
def test_a_future_dated_job_is_deferred_and_never_moves_the_cursor(ahead, deferred):
    future = ExportJob("future", "COMPLETED", NOW + ahead, "2099", ("customers.jsonl",), None, None, None)
    listed = [D["d0"], future, D["d1"]]
    plan = plan_sync(CUSTOMERS, previous(D["d0"]), listed, 10, False, NOW)
    assert ("future" in [j.id for j in plan.deferred]) is deferred
    assert ("future" in [j.id for j in plan.jobs]) is not deferred
    assert plan.start.advanced_by(plan.jobs).last_job_updated_at == max(j.updated_at for j in plan.jobs)
    # Once the clock passes it, it is applied like any other job.
    later = plan_sync(CUSTOMERS, previous(D["d0"]), listed, 10, False, NOW + ahead)
    assert "future" in [j.id for j in later.jobs] and later.deferred == ()


def test_a_cursor_already_in_the_future_rebuilds_from_what_is_listed():
    poisoned = previous(
        D["d0"], ExportJob("2099", "COMPLETED", datetime(2099, 1, 1, tzinfo=UTC), "", (), None, None, None)
    )
    plan = plan_sync(CUSTOMERS, poisoned, [D["d0"], D["d1"]], 10, False, NOW)
    assert plan.mode == "reload" and "ahead of this machine's clock" in plan.reason
    assert [j.id for j in plan.jobs] == ["d0", "d1"]


def test_the_old_metadata_layout_plans_like_the_new():
    legacy = {key.removeprefix(keys.PREFIX): value for key, value in previous(D["d0"], D["d2"]).items()}
    old = plan_sync(CUSTOMERS, legacy, [D["d2"], D["d3"]], 10, False, NOW)
    new = plan_sync(CUSTOMERS, previous(D["d0"], D["d2"]), [D["d2"], D["d3"]], 10, False, NOW)
    assert (old.mode, old.jobs) == (new.mode, new.jobs) == ("incremental", (D["d3"],))
    assert [(w.start, w.end) for w in old.lost] == days((1, 2))
