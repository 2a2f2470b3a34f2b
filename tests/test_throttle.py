"""The progress throttle shared by the resource's download callback and the sync's logs."""

from __future__ import annotations

import pytest

from gladly_assets import throttle as throttle_module
from gladly_assets.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle_module.time, "monotonic", fake)
    return fake


@pytest.mark.parametrize(
    ("due_at_start", "times", "expected"),
    [
        # Every 5 s, first report after 5 s: at 5 (not 4.9), then not before 10.
        (False, [0, 4.9, 5, 6, 9.9, 10, 10.1, 30], [False, False, True, False, False, True, False, True]),
        # Due at once, then once per interval from the last report, not from the start.
        (True, [0, 0.1, 5, 7, 9.9, 10], [True, False, True, False, False, True]),
    ],
)
def test_due_at_most_once_per_interval(clock: Clock, due_at_start: bool, times: list[float], expected: list[bool]):
    throttle = Throttle(5.0, due_at_start=due_at_start)
    answers = []
    for offset in times:
        clock.now = 100.0 + offset
        answers.append(throttle.due())
    assert answers == expected


def test_elapsed_counts_from_the_start_and_is_never_zero(clock: Clock) -> None:
    throttle = Throttle(1.0)
    assert throttle.elapsed() > 0
    clock.now += 2.5
    assert throttle.elapsed() == pytest.approx(2.5)
