"""The GLADLY_* settings: parsed tolerantly, problems named, README's table in step with the registry."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import pytest

from gladly_assets import settings
from gladly_assets.settings import SETTINGS, Setting, read_settings

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize(
    ("setting", "raw", "expected"),
    [
        (settings.EXPORT_FREQUENCY, "HOURLY", "HOURLY"),
        (settings.EXPORT_FREQUENCY, " hourly ", "HOURLY"),
        (settings.EXPORT_FREQUENCY, "Daily", "DAILY"),
        (settings.SENSOR_DEFAULT_STATUS, "running", dg.DefaultSensorStatus.RUNNING),
        (settings.SENSOR_DEFAULT_STATUS, "STOPPED", dg.DefaultSensorStatus.STOPPED),
        (settings.SENSOR_INTERVAL_SECONDS, "15", 15),
        (settings.SENSOR_INTERVAL_SECONDS, "1", 1),
        (settings.DUCKDB_MEMORY_LIMIT, "2GB", "2GB"),
        (settings.DUCKDB_MEMORY_LIMIT, "1.5 GiB", "1.5 GiB"),
        (settings.DUCKDB_MEMORY_LIMIT, "64MB", "64MB"),
        (settings.DUCKDB_MEMORY_LIMIT, "25%", "25%"),
        (settings.DUCKDB_PATH, "/srv/gladly.duckdb", "/srv/gladly.duckdb"),
        (settings.BASE_URL, "http://127.0.0.1:8765/acme/api/v1", "http://127.0.0.1:8765/acme/api/v1"),
        (settings.ORGANIZATION, " acme.us-1 ", "acme.us-1"),
    ],
)
def test_good_values_are_parsed(setting: Setting[object], raw: str, expected: object) -> None:
    read = read_settings({setting.name: raw})
    assert read[setting] == expected
    assert read.problems == () and read.notice == ""


BAD_VALUES = [
    (settings.EXPORT_FREQUENCY, "WEEKLY", "expected DAILY or HOURLY"),
    (settings.SENSOR_DEFAULT_STATUS, "maybe", "expected RUNNING or STOPPED"),
    (settings.SENSOR_INTERVAL_SECONDS, "abc", "whole number of seconds"),
    (settings.SENSOR_INTERVAL_SECONDS, "0", "at least 1"),
    (settings.SENSOR_INTERVAL_SECONDS, "-5", "whole number"),
    (settings.SENSOR_INTERVAL_SECONDS, "1.5", "whole number"),
    (settings.DUCKDB_MEMORY_LIMIT, "lots", "a size such as 512MB"),
    (settings.DUCKDB_MEMORY_LIMIT, "512", "a size such as 512MB"),
    (settings.DUCKDB_MEMORY_LIMIT, "10KB", "at least 64MB"),
    (settings.DUCKDB_MEMORY_LIMIT, "150%", "between 0% and 100%"),
    (settings.DUCKDB_MEMORY_LIMIT, "0%", "between 0% and 100%"),
]


@pytest.mark.parametrize(("setting", "raw", "reason"), BAD_VALUES)
def test_a_bad_value_falls_back_to_the_default_and_says_so(
    setting: Setting[object], raw: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gladly_assets.settings"):
        read = read_settings({setting.name: raw})
    assert read[setting] == setting.default
    (problem,) = read.problems
    assert problem.startswith(f"{setting.name}={raw!r} is not usable")
    assert reason in problem and setting.default_text in problem
    assert problem in read.notice
    assert [record.getMessage() for record in caplog.records] == [problem]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_unset_or_blank_means_the_default(setting: Setting[object], raw: str) -> None:
    assert read_settings({})[setting] == setting.default
    read = read_settings({setting.name: raw})
    assert read[setting] == setting.default and read.problems == ()


def test_every_problem_is_reported_at_once() -> None:
    read = read_settings({"GLADLY_SENSOR_DEFAULT_STATUS": "maybe", "GLADLY_SENSOR_INTERVAL_SECONDS": "abc"})
    assert [problem.split("=")[0] for problem in read.problems] == [
        "GLADLY_SENSOR_INTERVAL_SECONDS",
        "GLADLY_SENSOR_DEFAULT_STATUS",
    ]


def test_a_secret_setting_never_shows_its_value() -> None:
    def refuse(raw: str) -> str:
        raise ValueError("too short")

    secret = Setting("GLADLY_TEST_SECRET", "", refuse, "a secret", "unset", secret=True)
    value, problem = secret.read({"GLADLY_TEST_SECRET": "hunter2-token"})
    assert value == "" and problem is not None
    assert "hunter2" not in problem and "GLADLY_TEST_SECRET is not usable (too short)" in problem


def test_a_long_bad_value_is_clipped() -> None:
    (problem,) = read_settings({"GLADLY_EXPORT_FREQUENCY": "X" * 500}).problems
    assert "X" * 60 + "..." in problem and "X" * 61 not in problem


def test_names_are_unique_and_namespaced() -> None:
    names = [setting.name for setting in SETTINGS]
    assert len(names) == len(set(names))
    assert all(name.startswith("GLADLY_") for name in names)


def test_readme_table_is_the_registry() -> None:
    assert settings.markdown_table() in README.read_text(), (
        "README's settings table differs from gladly_assets/settings.py: "
        "paste the output of `python -m gladly_assets.settings`"
    )
