"""Shared fixtures: a real Gladly simulator on 127.0.0.1 and a resource pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.simulator import GladlySimulator

# Tests should not sleep for real backoff.
FAST_BACKOFF = {"backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05}


@pytest.fixture
def simulator() -> Iterator[GladlySimulator]:
    """A small, seeded simulator with 14 days of daily jobs, frozen clock, no rate limiting surprises."""
    with GladlySimulator(seed=7, frequency="DAILY") as sim:
        yield sim


@pytest.fixture
def gladly(simulator: GladlySimulator) -> Iterator[GladlyResource]:
    resource = GladlyResource(
        organization=simulator.organization,
        agent_email=simulator.agent_email,
        api_token=simulator.api_token,
        base_url=simulator.base_url,
        **FAST_BACKOFF,
    )
    yield resource
    # Close keep-alive connections before the simulator shuts down.
    resource.close()


@pytest.fixture
def make_gladly(simulator: GladlySimulator) -> Iterator[Callable[..., GladlyResource]]:
    """Build resources against the simulator with some settings changed; all closed afterwards."""
    made: list[GladlyResource] = []

    def make(**overrides: Any) -> GladlyResource:
        settings: dict[str, Any] = {
            "organization": simulator.organization,
            "agent_email": simulator.agent_email,
            "api_token": simulator.api_token,
            "base_url": simulator.base_url,
            **FAST_BACKOFF,
            **overrides,
        }
        made.append(GladlyResource(**settings))
        return made[-1]

    yield make
    for resource in made:
        resource.close()
