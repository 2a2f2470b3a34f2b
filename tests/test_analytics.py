"""The support-analytics assets, materialised with the table assets on a real ephemeral Dagster
instance against the simulator: conversation_facts row by row against an independent Python
computation over the files the simulator served, incremental refreshes against full rebuilds,
and the automation that refreshes them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from gladly_assets.analytics.assets import HIGH_WATER_MARKS, build_analytics_assets
from gladly_assets.analytics.models import AGENT_DAILY, CONVERSATION_FACTS, DAILY_OVERVIEW, MODELS, AnalyticsModel
from gladly_assets.export_jobs import parse_instant
from gladly_assets.tables import TABLES_BY_NAME

from . import analytics_oracle
from .helpers import ASSETS, expected_tables, gladly_resource

pytestmark = pytest.mark.slow  # the analytics assets, materialised on a Dagster instance

ANALYTICS = build_analytics_assets()
ITEMS_FILE = TABLES_BY_NAME["conversation_items"].file_name


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def materialize_all(sim, instance, db: Path, *, full_rebuild: bool = False, selection=None) -> dg.ExecuteInJobResult:
    run_config = (
        {"ops": {f"support_analytics__{model.name}": {"config": {"full_rebuild": True}} for model in MODELS}}
        if full_rebuild
        else None
    )
    return dg.materialize(
        [ASSETS, *ANALYTICS],
        instance=instance,
        resources={"gladly": gladly_resource(sim), "duckdb": DuckDBResource(database=str(db))},
        run_config=run_config,
        selection=selection,
    )


def rows(db: Path, model: AnalyticsModel) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as connection:
        cursor = connection.execute(
            f'SELECT * FROM "{db.stem}".gladly_analytics.{model.name} ORDER BY {", ".join(model.key)}'
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def expected_facts(sim, jobs: list[dict] | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """From the files of ``jobs`` (default: those Gladly lists now)."""
    jobs = jobs or sim.jobs()
    tables = expected_tables(sim, jobs)
    job_updated_at = {job["id"]: parse_instant(job["updatedAt"]) for job in jobs}
    topic_names = {topic_id: record.get("name") for topic_id, (_, record) in tables["topics"].items()}
    return analytics_oracle.conversation_facts(tables["conversation_items"], job_updated_at, topic_names)


def assert_facts_match(sim, db: Path, jobs: list[dict] | None = None) -> dict[str, dict[str, Any]]:
    expected, _ = expected_facts(sim, jobs)
    actual = {row["conversation_id"]: row for row in rows(db, CONVERSATION_FACTS)}
    assert set(actual) == set(expected)
    columns = [column.name for column in CONVERSATION_FACTS.columns]
    for conversation, row in expected.items():
        for column in columns:
            assert actual[conversation][column] == row[column], (conversation, column)
    return expected


def latest(instance, model: AnalyticsModel) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(model.asset_key)
    return {key: getattr(value, "value", value) for key, value in event.asset_materialization.metadata.items()}


def continue_conversations(earlier: list[str], count: int):
    """A job hook: the first ``count`` conversations of the new job continue earlier ones (same
    conversationId: a customer writing again days later), plus an item without conversationId
    and one without initiator, as Gladly's files have them."""

    def mutate(file_name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if file_name != ITEMS_FILE:
            return records
        new = list(dict.fromkeys(r["conversationId"] for r in records if r.get("conversationId")))[:count]
        moved = dict(zip(new, earlier, strict=False))
        out = [
            {**r, "conversationId": moved[r["conversationId"]]} if r.get("conversationId") in moved else r
            for r in records
        ]
        orphan = {key: value for key, value in records[0].items() if key != "conversationId"}
        silent = {key: value for key, value in records[1].items() if key != "initiator"}
        return [*out, {**orphan, "id": records[0]["id"] + "-api"}, {**silent, "id": records[1]["id"] + "-quiet"}]

    return mutate


@pytest.mark.simulator(history_days=14)
def test_conversation_facts_match_an_independent_computation(sim, instance, db):
    result = materialize_all(sim, instance, db)
    assert result.success

    expected = assert_facts_match(sim, db)
    facts = list(expected.values())
    # The simulator gives the definitions something to decide.
    assert spanning_conversations(db) > 0
    assert count_items(db, "json_array_length(content->'removedTopicIds') > 0") > 0
    assert count_items(db, "initiator IS NULL AND conversationId IS NOT NULL") > 0
    assert any(row["times_reopened"] > 0 for row in facts)
    assert any(row["first_customer_message_at"] and row["first_agent_response_at"] is None for row in facts)
    assert any(
        row["first_automated_response_at"] and row["first_automated_response_at"] < row["first_agent_response_at"]
        for row in facts
        if row["first_agent_response_at"]
    )
    assert any(row["calls"] > row["calls_answered"] for row in facts)
    assert all(row["first_response_seconds"] >= 0 for row in facts if row["first_response_seconds"] is not None)

    metadata = latest(instance, CONVERSATION_FACTS)
    excluded = expected_facts(sim)[1]
    assert metadata["items_without_conversation"] == excluded["items_without_conversation"] > 0
    assert metadata["items_without_timestamp"] == excluded["items_without_timestamp"]
    assert metadata["dagster/row_count"] == len(expected)
    assert metadata["mode"] == "full"
    assert metadata["conversations"] == len(expected)
    assert metadata["conversations_reopened"] == sum(1 for row in facts if row["times_reopened"] > 0)
    assert {"median_first_response_seconds", "p90_first_response_seconds", "conversations_open"} <= set(metadata)
    assert set(metadata[HIGH_WATER_MARKS]) == {"conversation_items", "topics"}
    schema = {column.name: column.description for column in metadata["dagster/column_schema"].columns}
    assert schema["first_response_seconds"] and "first_agent_response_at" in schema
    assert metadata["preview"].startswith("| conversation\\_id |")

    for model in MODELS:
        assert latest(instance, model)["dagster/row_count"] == len(rows(db, model)) > 0
    evaluations = result.get_asset_check_evaluations()
    analytics_checks = [e for e in evaluations if e.asset_key.path[0] == "gladly_analytics"]
    assert len(analytics_checks) == sum(1 + len(model.violations) for model in MODELS)
    assert all(e.passed for e in analytics_checks), [e.check_name for e in analytics_checks if not e.passed]


def test_incremental_refreshes_equal_full_rebuilds_over_several_jobs(sim, instance, db):
    assert materialize_all(sim, instance, db).success
    applied = sim.jobs()  # the oldest expire as the clock moves; the warehouse keeps their rows
    for batch in range(3):
        earlier = [row["conversation_id"] for row in rows(db, CONVERSATION_FACTS)][batch * 7 : batch * 7 + 4]
        sim.advance(timedelta(days=1))
        applied.append(sim.complete_job(mutate=continue_conversations(earlier, count=len(earlier))))
        assert materialize_all(sim, instance, db).success

        facts = latest(instance, CONVERSATION_FACTS)
        assert facts["mode"] == "incremental"
        # The new job's conversations, four of them continuing older ones, and no others.
        assert 0 < facts["recomputed"] < facts["dagster/row_count"]
        excluded = expected_facts(sim, applied)[1]
        assert facts["items_without_conversation"] == excluded["items_without_conversation"] > batch
        assert latest(instance, AGENT_DAILY)["mode"] == "incremental"
        expected = assert_facts_match(sim, db, applied)
        assert all(conversation in expected for conversation in earlier)
        incremental = {model.name: rows(db, model) for model in MODELS}

        assert materialize_all(sim, instance, db, full_rebuild=True, selection=ANALYTICS).success
        assert latest(instance, CONVERSATION_FACTS)["mode"] == "full"
        for model in MODELS:
            assert rows(db, model) == incremental[model.name], model.name

    assert spanning_conversations(db) >= 12


def count_items(db: Path, where: str) -> int:
    with duckdb.connect(str(db), read_only=True) as connection:
        return connection.execute(
            f'SELECT count(*) FROM "{db.stem}".gladly.conversation_items WHERE {where}'
        ).fetchone()[0]


def spanning_conversations(db: Path) -> int:
    """Conversations whose items came from several export jobs."""
    with duckdb.connect(str(db), read_only=True) as connection:
        return connection.execute(
            f'SELECT count(*) FROM (SELECT conversationId FROM "{db.stem}".gladly.conversation_items '
            "WHERE conversationId IS NOT NULL GROUP BY 1 HAVING count(DISTINCT _job_id) > 1)"
        ).fetchone()[0]


def test_a_table_loaded_from_scratch_rebuilds_the_analytics(sim, instance, db):
    assert materialize_all(sim, instance, db).success
    assert dg.materialize(
        [ASSETS],
        instance=instance,
        resources={"gladly": gladly_resource(sim), "duckdb": DuckDBResource(database=str(db))},
        run_config={"ops": {"gladly_tables": {"config": {"full_refresh": True}}}},
        selection=[TABLES_BY_NAME["conversation_items"].asset_key],
    ).success
    assert materialize_all(sim, instance, db, selection=ANALYTICS).success
    facts = latest(instance, CONVERSATION_FACTS)
    assert facts["mode"] == "full" and "loaded from scratch" in facts["mode_reason"]
    assert latest(instance, DAILY_OVERVIEW)["mode"] == "full"
    assert_facts_match(sim, db)


@pytest.mark.parametrize(
    ("table", "refreshed", "not_refreshed"),
    [
        ("topics", {CONVERSATION_FACTS, AGENT_DAILY, DAILY_OVERVIEW}, set()),
        ("agents", {AGENT_DAILY}, {CONVERSATION_FACTS, DAILY_OVERVIEW}),
    ],
)
def test_a_run_that_touched_only_agents_or_topics_refreshes_what_reads_them(
    sim, instance, db, table, refreshed, not_refreshed
):
    defs = dg.Definitions(
        assets=[ASSETS, *ANALYTICS],
        resources={"gladly": gladly_resource(sim), "duckdb": DuckDBResource(database=str(db))},
    )
    assert materialize_all(sim, instance, db).success
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert not _requested(settled)

    sim.advance(timedelta(days=1))
    sim.complete_job(files=[TABLES_BY_NAME[table].file_name])
    assert materialize_all(sim, instance, db, selection=[TABLES_BY_NAME[table].asset_key]).success
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    requested = _requested(after)
    assert {model.asset_key for model in refreshed} <= requested
    assert not {model.asset_key for model in not_refreshed} & requested


def _requested(result) -> set[dg.AssetKey]:
    keys = [model.asset_key for model in MODELS] + list(ASSETS.keys)
    return {key for key in keys if result.get_num_requested(key)}


def test_the_demo_runs_the_automation_that_refreshes_the_analytics(tmp_path, monkeypatch):
    """The demo's instance evaluates automation conditions with sensors, and the code location,
    configured as the demo configures it, starts the analytics' automation sensor running."""
    import importlib

    import yaml

    from gladly_assets import definitions, demo

    settings = yaml.safe_load((demo.prepare_dagster_home(tmp_path / "home") / "dagster.yaml").read_text())
    assert settings["auto_materialize"] == {"enabled": True, "use_sensors": True}
    monkeypatch.setenv("GLADLY_SENSOR_DEFAULT_STATUS", "RUNNING")
    try:
        defs = importlib.reload(definitions).defs
        sensor = defs.get_sensor_def("support_analytics_automation")
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        graph = defs.resolve_asset_graph()
        targeted = sensor.asset_selection.resolve(graph)
        assert targeted == {model.asset_key for model in MODELS}
        assert all(graph.get(key).automation_condition is not None for key in targeted)
    finally:
        monkeypatch.delenv("GLADLY_SENSOR_DEFAULT_STATUS")
        importlib.reload(definitions)


@pytest.mark.slow
def test_the_benchmark_runs_and_both_paths_agree(tmp_path):
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_analytics.py"
    output = subprocess.run(
        [sys.executable, str(script), "--items", "3000", "--new-items", "300", "--continued", "20",
         "--workdir", str(tmp_path)],
        check=True, capture_output=True, text=True, timeout=600,
    ).stdout  # fmt: skip
    assert "rows differing between them: 0" in output
    assert "(incremental, " in output and "recomputed)" in output
