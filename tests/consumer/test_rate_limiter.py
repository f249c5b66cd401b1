"""The per-partition token bucket, on a fake clock (pure logic)."""

from __future__ import annotations

import itertools

import pytest

from consumer.rate_limiter import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_requests_are_evenly_spaced_and_never_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(40):
        await bucket.acquire()
        times.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g == pytest.approx(0.25) for g in gaps)
    # In any one-second window at most ceil(rate) requests are sent.
    assert max(sum(1 for t in times if s <= t < s + 1) for s in times) <= 4


async def test_idle_time_is_not_banked_into_a_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock=clock, sleep=clock.sleep)
    await bucket.acquire()
    clock.now += 60  # a long idle period
    first = await bucket.acquire()
    second = await bucket.acquire()
    assert first == 0
    assert second == pytest.approx(0.5)


async def test_unlimited_never_waits() -> None:
    bucket = TokenBucket(None)
    assert [await bucket.acquire() for _ in range(100)] == [0.0] * 100


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
