"""Shared fixtures: real Gladly simulators on 127.0.0.1, resources pointed at them,
and an ephemeral Dagster instance."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import pytest

from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.simulator import GladlySimulator

from .helpers import gladly_resource, make_simulator


@pytest.fixture
def simulator() -> Iterator[GladlySimulator]:
    """As Gladly behaves: 14 days of daily jobs, a real-time clock, 10 requests/s per method."""
    with GladlySimulator(seed=7, frequency="DAILY") as sim:
        yield sim


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[GladlySimulator]:
    """For the asset tests: a frozen clock and no rate limit, so request counts are exact.
    ``@pytest.mark.simulator(history_days=14, ...)`` changes its options."""
    marker = request.node.get_closest_marker("simulator")
    with make_simulator(**(marker.kwargs if marker else {})) as simulator:
        yield simulator


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def make_gladly(simulator: GladlySimulator) -> Iterator[Callable[..., GladlyResource]]:
    """Build resources against ``simulator`` with some settings changed; all closed afterwards."""
    made: list[GladlyResource] = []

    def make(**overrides: Any) -> GladlyResource:
        made.append(gladly_resource(simulator, **overrides))
        return made[-1]

    yield make
    for resource in made:
        resource.close()


@pytest.fixture
def gladly(make_gladly: Callable[..., GladlyResource]) -> GladlyResource:
    return make_gladly()
