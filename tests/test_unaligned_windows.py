"""The product on export windows as Gladly makes them: starting at the schedule's time rather
than on the hour, and, as an option of the simulator, overlapping or leaving gaps. A gap is
reported exactly where no job covers time; unaligned or overlapping windows report none."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import dagster as dg
import pytest

from gladly_assets.export_jobs import parse_instant
from gladly_assets.metadata_keys import RETENTION_GAP

from .helpers import assert_tables_match, make_simulator, materialize

pytestmark = pytest.mark.slow  # the assets, materialised on a Dagster instance


@pytest.mark.parametrize("windows", ["contiguous", "overlapping", "gapped"])
def test_retention_gap_is_reported_only_where_no_job_covers_time(
    windows: str, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.duckdb"
    with make_simulator(windows=windows) as sim:
        jobs = sorted(sim.jobs(), key=lambda job: parse_instant(job["parameters"]["startAt"]))
        assert all(not job["parameters"]["startAt"].endswith(":00:00.000Z") for job in jobs)  # not on the hour
        holes = [
            (parse_instant(a["parameters"]["endAt"]), parse_instant(b["parameters"]["startAt"]))
            for a, b in pairwise(jobs)
            if parse_instant(b["parameters"]["startAt"]) > parse_instant(a["parameters"]["endAt"])
        ]
        assert bool(holes) == (windows == "gapped")

        result = materialize(sim, instance, db)

        assert_tables_match(sim, db)
    for event in result.get_asset_materialization_events():
        reported = event.materialization.metadata[RETENTION_GAP].value
        assert isinstance(reported, list)
        assert [(parse_instant(w["from"]), parse_instant(w["to"])) for w in reported] == holes, event.asset_key
    verdicts = {
        c.asset_key: c.passed for c in result.get_asset_check_evaluations() if c.check_name == "no_retention_gap"
    }
    assert len(verdicts) == 4 and set(verdicts.values()) == {windows != "gapped"}
