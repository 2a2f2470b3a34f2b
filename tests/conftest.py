"""Shared fixtures: a real Gladly simulator on 127.0.0.1 and a resource pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.simulator import GladlySimulator


@pytest.fixture
def simulator() -> Iterator[GladlySimulator]:
    """A small, seeded simulator with 14 days of daily jobs, frozen clock, no rate limiting surprises."""
    with GladlySimulator(seed=7, frequency="DAILY") as sim:
        yield sim


@pytest.fixture
def gladly(simulator: GladlySimulator) -> GladlyResource:
    return GladlyResource(
        organization=simulator.organization,
        agent_email=simulator.agent_email,
        api_token=simulator.api_token,
        base_url=simulator.base_url,
        # Tests should not sleep for real backoff.
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.05,
    )
