"""Backoff arithmetic: exponential, jittered, at least what Retry-After asks."""

from __future__ import annotations

import random

import pytest

from aharally.rally import RetryPolicy

pytestmark = pytest.mark.sandbox_only


class EdgeRandom(random.Random):
    """Always picks one end of the jitter range, so delays are exact."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def test_the_delay_doubles_per_attempt_between_half_and_all_of_the_cap():
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    highs = [policy.delay(n, retry_after=None, rng=EdgeRandom(True)) for n in range(1, 7)]
    lows = [policy.delay(n, retry_after=None, rng=EdgeRandom(False)) for n in range(1, 7)]
    assert highs == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert lows == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0]


def test_jitter_spreads_delays_inside_the_range():
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    rng = random.Random(42)
    delays = [policy.delay(3, retry_after=None, rng=rng) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100


def test_retry_after_is_a_floor_not_a_replacement():
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    assert policy.delay(1, retry_after=5.0, rng=EdgeRandom(True)) == 5.0
    # When the backoff is already longer, Rally's hint does not shorten it.
    assert policy.delay(5, retry_after=2.0, rng=EdgeRandom(False)) == 8.0
