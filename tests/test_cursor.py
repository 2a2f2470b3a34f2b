"""``Cursor`` and ``Coverage`` as pure rules: no HTTP, no DuckDB, no Dagster run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gladly_assets import metadata_keys as keys
from gladly_assets.cursor import (
    CLOCK_SKEW_ALLOWANCE,
    LATE_JOB_WINDOW,
    MAX_LOST_WINDOWS,
    Coverage,
    Cursor,
    LostWindow,
    job_key,
    split_future,
)
from gladly_assets.export_jobs import ExportJob, parse_instant

T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def job(job_id: str, updated: timedelta, window: tuple[datetime, datetime] | None = None) -> ExportJob:
    """A job completed at T0 + updated, exporting ``window``."""
    at = T0 + updated
    start, end = window or (None, None)
    return ExportJob(job_id, "COMPLETED", at, at.isoformat(), ("customers.jsonl",), start, end, None)


def cursor_after(*jobs: ExportJob) -> Cursor:
    return Cursor().advanced_by(jobs)


APPLIED = cursor_after(job("a", 10 * HOUR), job("b", 10 * HOUR), job("c", 9 * HOUR + 30 * timedelta(minutes=1)))


@pytest.mark.parametrize(
    ("cursor", "candidate", "pending"),
    [
        pytest.param(Cursor(), job("x", 0 * HOUR), True, id="empty cursor: everything is pending"),
        pytest.param(APPLIED, job("x", 11 * HOUR), True, id="newer"),
        pytest.param(APPLIED, job("a", 10 * HOUR), False, id="applied"),
        pytest.param(APPLIED, job("x", 10 * HOUR), True, id="tie with the newest, not applied"),
        pytest.param(APPLIED, job("c", 9.5 * HOUR), False, id="older, applied"),
        pytest.param(APPLIED, job("late", 9.1 * HOUR), True, id="late: older, within the late window"),
        pytest.param(APPLIED, job("edge", 10 * HOUR - LATE_JOB_WINDOW), True, id="late: exactly at the window's edge"),
        pytest.param(APPLIED, job("old", 8.9 * HOUR), False, id="older than the late window"),
    ],
)
def test_is_pending(cursor, candidate, pending):
    assert cursor.is_pending(candidate) is pending


def test_pending_is_oldest_first_with_ties_by_id():
    jobs = [job("b", 2 * HOUR), job("c", 1 * HOUR), job("a", 2 * HOUR)]
    assert [j.id for j in Cursor().pending(jobs)] == ["c", "a", "b"]


def test_advanced_never_moves_back_and_forgets_ids_outside_the_late_window():
    cursor = cursor_after(job("old", 0 * HOUR), job("new", 3 * HOUR), job("late", 2.5 * HOUR))
    assert cursor.last_job_updated_at == T0 + 3 * HOUR
    assert set(cursor.recent_jobs) == {"new", "late"}


@pytest.mark.parametrize(
    ("ahead", "future"),
    [
        (-DAY, False),
        (timedelta(0), False),
        (CLOCK_SKEW_ALLOWANCE, False),
        (CLOCK_SKEW_ALLOWANCE + timedelta(microseconds=1), True),
        (timedelta(days=365 * 73), True),
    ],
)
def test_split_future(ahead, future):
    now = T0 + DAY
    candidate = job("j", DAY + ahead)
    due, later = split_future([candidate], now)
    assert (later == [candidate], due == [candidate]) == (future, not future)


@pytest.mark.parametrize(
    ("job_id", "kept"),
    [
        ("ImsZz-KUG5Lad_NXlH06gQ", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("a\nb", False),
        ("../../etc/passwd\x00", False),
        ("\u2028", False),
        ("\ud800lone", False),
        ("sha256:" + "0" * 64, False),  # cannot pose as another id's digest
    ],
)
def test_job_key_keeps_plain_ids_and_digests_the_rest(job_id, kept):
    key = job_key(job_id)
    assert (key == job_id) is kept
    assert key.isprintable() and len(key) <= 128
    assert job_key(job_id) == key  # stable
    assert cursor_after(job(job_id, HOUR)).is_pending(job(job_id, HOUR)) is False


G = "2019-01-21T07:15:18.07272933Z"  # Gladly's example window start; the window ends a day later


def w(start: str | timedelta, end: str | timedelta) -> tuple[datetime, datetime]:
    def instant(value: str | timedelta) -> datetime:
        return parse_instant(value) if isinstance(value, str) else T0 + value

    return instant(start), instant(end)


@pytest.mark.parametrize(
    ("windows", "holes"),
    [
        pytest.param([w(0 * DAY, DAY), w(DAY, 2 * DAY), w(2 * DAY, 3 * DAY)], [], id="contiguous"),
        pytest.param([w(0 * DAY, DAY), w(2 * DAY, 3 * DAY)], [w(DAY, 2 * DAY)], id="a missing day"),
        pytest.param([w(0 * DAY, DAY), w(2 * DAY, 3 * DAY), w(DAY, 2 * DAY)], [], id="out of order: late job fills"),
        pytest.param([w(2 * DAY, 3 * DAY), w(0 * DAY, DAY)], [w(DAY, 2 * DAY)], id="earlier window after a later"),
        pytest.param([w(0 * DAY, 2 * DAY), w(DAY, 3 * DAY)], [], id="overlapping"),
        pytest.param(
            [w(0 * DAY, DAY), w(5 * DAY, 6 * DAY), w(2 * DAY, 3 * DAY)],
            [w(DAY, 2 * DAY), w(3 * DAY, 5 * DAY)],
            id="a late job covers the middle of a hole",
        ),
        pytest.param(
            [w(0 * DAY, DAY), w(5 * DAY, 6 * DAY), w(HOUR, 6 * DAY)], [], id="a regenerated wide window clears all"
        ),
        pytest.param(
            [w(G, "2019-01-22T07:15:18.07272933Z"), w("2019-01-22T07:15:18.07272933Z", "2019-01-23T07:15:18.072729Z")],
            [],
            id="unaligned, contiguous (Gladly's example)",
        ),
        pytest.param(
            [w(G, "2019-01-22T07:15:18.07272933Z"), w("2019-01-22T08:00:00Z", "2019-01-23T08:00:00Z")],
            [w("2019-01-22T07:15:18.072729Z", "2019-01-22T08:00:00Z")],
            id="unaligned, with a real gap",
        ),
        pytest.param(
            [w(0 * DAY, DAY), w(DAY + timedelta(milliseconds=500), 2 * DAY)], [], id="within the 1 s tolerance"
        ),
        pytest.param([w(0 * DAY, DAY), w(3 * DAY, 2 * DAY)], [], id="a window ending before it starts is ignored"),
    ],
)
def test_coverage_holes_are_where_no_applied_window_covers_time(windows, holes):
    coverage = Coverage()
    for start, end in windows:
        coverage = coverage.add(start, end)
    assert [(hole.start, hole.end) for hole in coverage.holes] == holes


def test_a_window_past_the_jobs_own_completion_covers_nothing_after_it():
    cursor = cursor_after(job("a", DAY, w(0 * DAY, DAY)), job("liar", 2 * DAY, w(DAY, 400 * DAY)))
    assert cursor.covered_until == T0 + 2 * DAY + CLOCK_SKEW_ALLOWANCE
    real = job("real", 4 * DAY, w(3 * DAY, 4 * DAY))
    assert [(h.start, h.end) for h in cursor.advanced(real).lost] == [(cursor.covered_until, T0 + 3 * DAY)]


def test_an_expired_job_moves_the_cursor_but_leaves_its_window_lost():
    cursor = cursor_after(job("a", DAY, w(0 * DAY, DAY)))
    cursor = cursor.advanced(job("gone", 2 * DAY, w(DAY, 2 * DAY)), covers=False)
    cursor = cursor.advanced(job("c", 3 * DAY, w(2 * DAY, 3 * DAY)))
    assert not cursor.is_pending(job("gone", 2 * DAY))
    assert [(h.start, h.end) for h in cursor.lost] == [w(DAY, 2 * DAY)]


def test_many_gaps_stay_bounded_and_never_shrink_what_is_lost():
    windows = [w(k * 2 * HOUR, (k * 2 + 1) * HOUR) for k in range(3 * MAX_LOST_WINDOWS)]
    coverage = Coverage()
    for start, end in windows:
        coverage = coverage.add(start, end)
    assert len(coverage.holes) == MAX_LOST_WINDOWS
    for k in range(len(windows) - 1):  # every real gap is still inside a reported hole
        gap_start, gap_end = windows[k][1], windows[k + 1][0]
        assert any(h.start <= gap_start and gap_end <= h.end for h in coverage.holes)


HOSTILE_CURSOR = cursor_after(
    job("a\nforged log line", 10 * HOUR, w(0 * HOUR, 9 * HOUR)),
    job("../" * 100, 10 * HOUR, w(12 * HOUR, 13 * HOUR)),
    job("plain", 9.5 * HOUR, w(15 * HOUR, 16 * HOUR)),
)


@pytest.mark.parametrize("cursor", [Cursor(), APPLIED, HOSTILE_CURSOR], ids=["empty", "applied", "hostile"])
def test_metadata_round_trip(cursor):
    assert Cursor.from_metadata(cursor.to_metadata()) == cursor
    assert all(key.startswith(keys.PREFIX) for key in cursor.to_metadata())


def test_metadata_round_trip_through_an_instance(instance):
    key = dg.AssetKey(["gladly", "customers"])
    instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata=HOSTILE_CURSOR.to_metadata()))
    assert Cursor.from_metadata(keys.latest_metadata(instance, key)) == HOSTILE_CURSOR


def test_the_layout_before_the_namespace_is_still_read():
    legacy = {
        "last_job_updated_at": dg.MetadataValue.text("2026-11-20T00:22:12.805Z"),
        "recent_jobs": dg.MetadataValue.json({"job-1": "2026-11-20T00:22:12.805Z", "a\nb": "2026-11-20T00:00:00Z"}),
        "covered_until": dg.MetadataValue.text("2026-11-20T00:00:00Z"),
        "retention_gap": dg.MetadataValue.json(
            [{"from": "2026-11-10T00:00:00Z", "to": "2026-11-12T00:00:00Z", "reason": "expired"}]
        ),
        "rows_rejected": dg.MetadataValue.int(3),
    }
    cursor = Cursor.from_metadata(legacy)
    assert cursor.last_job_updated_at == parse_instant("2026-11-20T00:22:12.805Z")
    assert not cursor.is_pending(job("job-1", timedelta(days=19, minutes=22, seconds=12.805)))
    assert job_key("a\nb") in cursor.recent_jobs
    assert cursor.covered_until == parse_instant("2026-11-20T00:00:00Z")
    assert cursor.lost == (LostWindow(*w("2026-11-10T00:00:00Z", "2026-11-12T00:00:00Z"), "expired"),)
    # The carried window clears once a job covering it is applied.
    assert cursor.advanced(job("regen", 20 * DAY, w(9 * DAY, 12 * DAY))).lost == ()
    assert keys.read(legacy, keys.ROWS_REJECTED) == 3
    # Plain values (a sensor's old JSON cursor) read the same as metadata values.
    assert Cursor.from_metadata({k: v.value for k, v in legacy.items()}) == cursor


# --- properties ---------------------------------------------------------------------------

ids = st.text(min_size=1, max_size=12).filter(str.isprintable) | st.text(min_size=1, max_size=300)


@st.composite
def arrivals(draw, span: timedelta):
    """Jobs with distinct ids and updatedAt within ``span`` (ties likely), in the order
    they become visible, cut into the batches a sensor tick or run would see."""
    job_ids = draw(st.lists(ids, min_size=1, max_size=25, unique=True))
    minutes = int(span.total_seconds() // 60)
    offsets = draw(st.lists(st.integers(0, minutes), min_size=len(job_ids), max_size=len(job_ids)))
    jobs = [job(i, timedelta(minutes=m)) for i, m in zip(job_ids, offsets, strict=True)]
    order = draw(st.permutations(jobs))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=6)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    # How many of the pending jobs each run gets through before it fails (None: all).
    progress = draw(st.lists(st.none() | st.integers(0, 5), min_size=len(batches), max_size=len(batches)))
    return jobs, batches, progress


def replay(batches, progress) -> Counter[str]:
    cursor, visible, applied = Cursor(), [], Counter()
    for batch, done in zip(batches, progress, strict=True):
        visible += batch
        pending = cursor.pending(visible)
        for candidate in pending if done is None else pending[:done]:
            applied[candidate.id] += 1
            cursor = cursor.advanced(candidate)
    while pending := cursor.pending(visible):  # later runs finish the work
        applied[pending[0].id] += 1
        cursor = cursor.advanced(pending[0])
    return applied


@settings(max_examples=300, deadline=None)
@given(arrivals(LATE_JOB_WINDOW - timedelta(minutes=1)))
def test_jobs_within_the_late_window_are_each_applied_exactly_once_in_any_order_and_batches(case):
    jobs, batches, progress = case
    assert replay(batches, progress) == Counter(j.id for j in jobs)


@settings(max_examples=300, deadline=None)
@given(arrivals(timedelta(days=3)))
def test_no_job_is_ever_applied_twice_however_late_it_arrives(case):
    _, batches, progress = case
    assert max(replay(batches, progress).values(), default=1) == 1
