"""The code location loads whatever the environment holds: unset, set, or set wrong."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.metadata import TableMetadataSet

import gladly_assets.definitions
from gladly_assets.definitions import build_definitions
from gladly_assets.load.warehouse import Warehouse
from gladly_assets.sensors import SENSOR_NAME
from gladly_assets.settings import SETTINGS
from gladly_assets.tables import TABLES

# One wrong value per setting. Those the code location parses fall back to their default
# with a notice; the Gladly connection settings are the resource's to refuse, which it does
# on the sensor's first tick (no request is sent).
BAD = {
    "GLADLY_SENSOR_DEFAULT_STATUS": "maybe",
    "GLADLY_SENSOR_INTERVAL_SECONDS": "abc",
    "GLADLY_EXPORT_FREQUENCY": "FORTNIGHTLY",
    "GLADLY_DUCKDB_MEMORY_LIMIT": "plenty",
    "GLADLY_ORGANIZATION": "https://evil.example/acme",
    "GLADLY_DOMAIN": "evil.example",
    "GLADLY_BASE_URL": "ftp://user:pw@127.0.0.1/api",
    "GLADLY_AGENT_EMAIL": "   ",
    "GLADLY_API_TOKEN": "   ",
    "GLADLY_DUCKDB_PATH": "\t",
    "GLADLY_REPORTS_START_DATE": "last year",
    "GLADLY_REPORTS_BACKFILL_DAYS": "-1",
    "GLADLY_REPORTS_REFRESH_MINUTES": "0",
    "GLADLY_REPORTS_SETTLE_MINUTES": "2h",
    "GLADLY_REPORTS_SENSOR_INTERVAL_SECONDS": "often",
    "GLADLY_REPORTS_SENSOR_DEFAULT_STATUS": "ON",
}
# What the sensor's skip reason says for each.
SAYS = {
    "GLADLY_SENSOR_DEFAULT_STATUS": "GLADLY_SENSOR_DEFAULT_STATUS='maybe' is not usable",
    "GLADLY_SENSOR_INTERVAL_SECONDS": "GLADLY_SENSOR_INTERVAL_SECONDS='abc' is not usable",
    "GLADLY_EXPORT_FREQUENCY": "GLADLY_EXPORT_FREQUENCY='FORTNIGHTLY' is not usable",
    "GLADLY_DUCKDB_MEMORY_LIMIT": "GLADLY_DUCKDB_MEMORY_LIMIT='plenty' is not usable",
    "GLADLY_ORGANIZATION": "is not accepted",
    "GLADLY_DOMAIN": "Gladly domain 'evil.example' is not accepted",
    "GLADLY_BASE_URL": "base_url must be a plain http(s) URL",
    "GLADLY_AGENT_EMAIL": "GLADLY_AGENT_EMAIL",
    "GLADLY_API_TOKEN": "GLADLY_API_TOKEN",
    "GLADLY_DUCKDB_PATH": "Gladly is not configured",
    "GLADLY_REPORTS_START_DATE": "GLADLY_REPORTS_START_DATE='last year' is not usable",
    "GLADLY_REPORTS_BACKFILL_DAYS": "GLADLY_REPORTS_BACKFILL_DAYS='-1' is not usable",
    "GLADLY_REPORTS_REFRESH_MINUTES": "GLADLY_REPORTS_REFRESH_MINUTES='0' is not usable",
    "GLADLY_REPORTS_SETTLE_MINUTES": "GLADLY_REPORTS_SETTLE_MINUTES='2h' is not usable",
    "GLADLY_REPORTS_SENSOR_INTERVAL_SECONDS": "GLADLY_REPORTS_SENSOR_INTERVAL_SECONDS='often' is not usable",
    "GLADLY_REPORTS_SENSOR_DEFAULT_STATUS": "GLADLY_REPORTS_SENSOR_DEFAULT_STATUS='ON' is not usable",
}
# Values for the settings a test does not break, so that only the broken one is wrong.
GOOD = {
    "GLADLY_ORGANIZATION": "acme",
    "GLADLY_AGENT_EMAIL": "agent@acme.example",
    "GLADLY_API_TOKEN": "token-not-a-secret",
}
CONNECTION = {*GOOD, "GLADLY_DOMAIN", "GLADLY_BASE_URL"}


def test_every_setting_has_a_bad_value_here() -> None:
    assert set(BAD) == set(SAYS) == {setting.name for setting in SETTINGS}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Every GLADLY_* unset; the module is reloaded under the original environment afterwards."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    yield monkeypatch
    monkeypatch.undo()
    importlib.reload(gladly_assets.definitions)


def loaded(environment: pytest.MonkeyPatch, env: dict[str, str]) -> dg.Definitions:
    """``gladly_assets.definitions`` as a code server imports it, under ``env``."""
    for name, value in env.items():
        environment.setenv(name, value)
    defs = importlib.reload(gladly_assets.definitions).defs
    dg.Definitions.validate_loadable(defs)
    return defs


def sensor_of(defs: dg.Definitions) -> dg.SensorDefinition:
    return defs.resolve_sensor_def(SENSOR_NAME)


def skip_message(defs: dg.Definitions) -> str:
    sensor = sensor_of(defs)
    with dg.build_sensor_context(resources={"gladly": defs.resources["gladly"]}) as context:
        result = sensor(context)
    assert isinstance(result, dg.SkipReason)
    return result.skip_message or ""


def descriptions(defs: dg.Definitions) -> list[str]:
    graph = defs.resolve_asset_graph()
    return [graph.get(table.asset_key).description or "" for table in TABLES]


def test_loads_with_every_setting_unset(environment: pytest.MonkeyPatch) -> None:
    defs = loaded(environment, {})
    graph = defs.resolve_asset_graph()
    for table in TABLES:
        declared = TableMetadataSet.extract(graph.get(table.asset_key).metadata)
        assert declared.table_name == table.qualified_name
        assert declared.column_schema is not None
        assert [column.name for column in declared.column_schema.columns] == [name for name, _ in table.columns]
    sensor = sensor_of(defs)
    assert sensor.minimum_interval_seconds == 300
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert "not applied" not in (sensor.description or "")
    assert all("not applied" not in text for text in descriptions(defs))
    # Unset Gladly settings are named on the first tick, without any request.
    message = skip_message(defs)
    assert "Gladly is not configured" in message and "not applied" not in message


@pytest.mark.parametrize("name", sorted(BAD))
def test_loads_with_a_bad_value_and_says_so(environment: pytest.MonkeyPatch, name: str) -> None:
    # The other connection settings are good where one of them is broken; elsewhere they
    # stay unset, so that no tick ever sends a request.
    defs = loaded(environment, {**(GOOD if name in CONNECTION else {}), name: BAD[name]})
    message = skip_message(defs)
    assert SAYS[name] in message
    assert "token-not-a-secret" not in message and "user:pw" not in message
    parsed_by_us = f"{name}=" in SAYS[name]
    sensor = sensor_of(defs)
    assert (SAYS[name] in (sensor.description or "")) == parsed_by_us
    assert all((SAYS[name] in text) == parsed_by_us for text in descriptions(defs))


def test_a_blank_path_is_the_default_warehouse(environment: pytest.MonkeyPatch) -> None:
    assert loaded(environment, {"GLADLY_DUCKDB_PATH": BAD["GLADLY_DUCKDB_PATH"]}).resources["duckdb"].database == (
        "data/warehouse.duckdb"
    )


def test_loads_with_every_bad_value_at_once(environment: pytest.MonkeyPatch) -> None:
    defs = loaded(environment, BAD)
    sensor = sensor_of(defs)
    assert sensor.minimum_interval_seconds == 300
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    for name in ("GLADLY_SENSOR_DEFAULT_STATUS", "GLADLY_SENSOR_INTERVAL_SECONDS", "GLADLY_EXPORT_FREQUENCY"):
        assert SAYS[name] in (sensor.description or "")
        assert SAYS[name] in skip_message(defs)


def test_good_values_configure_the_sensor_and_freshness(environment: pytest.MonkeyPatch) -> None:
    defs = loaded(
        environment,
        {
            "GLADLY_SENSOR_DEFAULT_STATUS": "running",
            "GLADLY_SENSOR_INTERVAL_SECONDS": "42",
            "GLADLY_EXPORT_FREQUENCY": "HOURLY",
        },
    )
    sensor = sensor_of(defs)
    assert sensor.minimum_interval_seconds == 42
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    hourly = build_definitions({"GLADLY_EXPORT_FREQUENCY": "HOURLY"}).resolve_asset_graph()
    daily = build_definitions({}).resolve_asset_graph()
    key = TABLES[0].asset_key
    assert hourly.get(key).freshness_policy != daily.get(key).freshness_policy


def _bytes(shown: str) -> float:
    number, unit = shown.split()
    return float(number) * 1024 ** ["B", "KiB", "MiB", "GiB", "TiB"].index(unit)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(None, lambda whole: 512e6), ("1GB", lambda whole: 1e9), ("25%", lambda whole: whole / 4)],
    ids=["default", "size", "share"],
)
def test_duckdb_memory_limit_is_the_resources_and_the_loader_keeps_it(
    tmp_path: Path, limit: str | None, expected: Callable[[float], float]
) -> None:
    env = {"GLADLY_DUCKDB_PATH": str(tmp_path / "w.duckdb"), **({"GLADLY_DUCKDB_MEMORY_LIMIT": limit} if limit else {})}
    duckdb = build_definitions(env).resources["duckdb"]
    with duckdb.get_connection() as connection:
        Warehouse(connection)
        (shown,) = connection.execute("SELECT current_setting('memory_limit')").fetchone()
        connection.execute("SET memory_limit = '100%'")
        (whole,) = connection.execute("SELECT current_setting('memory_limit')").fetchone()
    # DuckDB shows limits to one decimal of a binary unit (5.8 GiB), hence 2%.
    assert _bytes(shown) == pytest.approx(expected(_bytes(whole)), rel=0.02)
