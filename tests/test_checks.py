"""Asset checks on real materialisations: blocking id check, retention gap, rejected lines."""

from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from gladly_assets.checks import ID_IS_UNIQUE, NO_REJECTED_LINES, NO_RETENTION_GAP
from gladly_assets.tables import TABLES, TABLES_BY_NAME

from .helpers import materialize

pytestmark = pytest.mark.slow  # the checks, run by materialising the assets on a Dagster instance

CUSTOMERS = TABLES_BY_NAME["customers"]


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {
        (evaluation.asset_key.path[-1], evaluation.check_name): evaluation
        for evaluation in result.get_asset_check_evaluations()
    }


def test_clean_sync_passes_every_check(sim, instance, tmp_path):
    result = materialize(sim, instance, tmp_path / "w.duckdb")
    checks = evaluations(result)
    assert len(checks) == 3 * len(TABLES)
    assert all(evaluation.passed for evaluation in checks.values()), checks


def test_retention_gap_fails_with_the_lost_window_until_a_full_refresh(sim, instance, tmp_path):
    db = tmp_path / "w.duckdb"
    materialize(sim, instance, db)
    # The sync stops for 16 days: Gladly deletes what it did not apply in time.
    sim.advance(timedelta(days=16))
    sim.complete_job()

    result = materialize(sim, instance, db)

    gap = evaluations(result)[("customers", NO_RETENTION_GAP)]
    assert not gap.passed and gap.severity == dg.AssetCheckSeverity.ERROR
    lost = gap.metadata["lost_windows"].value
    assert lost and lost[0]["from"] < lost[0]["to"]
    assert lost[0]["from"] in gap.description and "regenerate" in gap.description

    # It stays failed on later syncs: the data is still missing.
    sim.advance(timedelta(hours=1))
    sim.complete_job()
    later = materialize(sim, instance, db)
    assert not evaluations(later)[("customers", NO_RETENTION_GAP)].passed

    refreshed = materialize(sim, instance, db, full_refresh=True)
    assert evaluations(refreshed)[("customers", NO_RETENTION_GAP)].passed


def test_duplicated_ids_fail_the_blocking_check(sim, instance, tmp_path):
    db = tmp_path / "w.duckdb"
    materialize(sim, instance, db)
    with duckdb.connect(str(db)) as connection:
        connection.execute("INSERT INTO gladly.customers SELECT * FROM gladly.customers LIMIT 2")
        connection.execute("INSERT INTO gladly.agents SELECT * REPLACE (NULL AS id) FROM gladly.agents LIMIT 1")

    result = materialize(sim, instance, db, selection=dg.AssetSelection.all_asset_checks(), raise_on_error=False)

    assert not result.success  # a failed blocking check stops the run
    checks = evaluations(result)
    customers = checks[("customers", ID_IS_UNIQUE)]
    assert not customers.passed and customers.blocking
    assert customers.metadata["duplicate_ids"].value == 2
    agents = checks[("agents", ID_IS_UNIQUE)]
    assert not agents.passed and agents.metadata["null_ids"].value == 1
    assert checks[("topics", ID_IS_UNIQUE)].passed


def test_rejected_lines_warn_with_the_count_and_where_to_look(sim, instance, tmp_path):
    db = tmp_path / "w.duckdb"
    materialize(sim, instance, db)
    sim.advance(timedelta(hours=1))
    sim.complete_job(malformed_lines=2)

    result = materialize(sim, instance, db)

    rejected = evaluations(result)[("customers", NO_REJECTED_LINES)]
    assert not rejected.passed and rejected.severity == dg.AssetCheckSeverity.WARN
    assert rejected.metadata["rows_rejected"].value == 2
    assert "gladly._rejected_lines" in rejected.description
    assert evaluations(result)[("topics", NO_REJECTED_LINES)].passed


def test_checks_still_run_when_no_table_has_anything_new(sim, instance, tmp_path):
    db = tmp_path / "w.duckdb"
    materialize(sim, instance, db)
    result = materialize(sim, instance, db)
    assert result.get_asset_materialization_events() == []
    checks = evaluations(result)
    assert len(checks) == 3 * len(TABLES) and all(e.passed for e in checks.values())
