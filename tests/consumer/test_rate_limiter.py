"""The per-partition token bucket, on a fake clock (pure logic)."""

from __future__ import annotations

import bisect
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicelens.consumer.rate_limiter import TokenBucket


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
    clock.now += 60.2  # a long idle period, ending between two grid slots
    await bucket.acquire()
    after_idle = clock.now
    await bucket.acquire()
    assert clock.now - after_idle == pytest.approx(0.5)  # the next one waits a full interval


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=200),
    partitions=st.integers(min_value=1, max_value=24),
    arrivals=st.lists(st.floats(min_value=0, max_value=0.4), min_size=20, max_size=200),
)
def test_partitions_sharing_a_budget_never_exceed_ceil_rate_in_any_second(
    rate: float, partitions: int, arrivals: list[float]
) -> None:
    # Any arrival pattern, any partition count: the union of the partitions' slots is spaced
    # at least 1/R apart, so any one-second window holds at most ceil(R) requests.
    clock = FakeClock()
    buckets = [
        TokenBucket(rate / partitions, slot=p, of=partitions, clock=clock)
        for p in range(partitions)
    ]
    slots = []
    for i, gap in enumerate(arrivals):
        clock.now += gap
        slots.append(clock.now + buckets[i % partitions].reserve())
    slots.sort()
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 1 / rate - 1e-6
    # Windows [s, s + 1): a slot exactly one second later (up to float error) is outside.
    worst = max(bisect.bisect_left(slots, s + 1 - 1e-6) - i for i, s in enumerate(slots))
    assert worst <= math.ceil(rate)


def test_independent_buckets_can_line_up_which_is_why_the_grid_exists() -> None:
    # The counter-example the grid prevents: 7 partitions sharing R = 10, all on slot 0.
    clock = FakeClock()
    buckets = [TokenBucket(10 / 7, clock=clock) for _ in range(7)]
    slots = sorted(clock.now + b.reserve() for b in buckets for _ in range(2))
    assert max(bisect.bisect_left(slots, s + 1) - i for i, s in enumerate(slots)) > 12


def test_slot_must_be_within_its_group() -> None:
    with pytest.raises(ValueError, match="slot"):
        TokenBucket(1.0, slot=3, of=3)


async def test_unlimited_never_waits() -> None:
    bucket = TokenBucket(None)
    assert [await bucket.acquire() for _ in range(100)] == [0.0] * 100


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


async def test_a_hold_pauses_the_partition_on_its_grid() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, clock=clock, sleep=clock.sleep)
    await bucket.acquire()
    bucket.hold(3.0)  # Retry-After: 3
    start = clock.now
    await bucket.acquire()
    assert clock.now - start >= 3.0
    assert (clock.now * 4) == pytest.approx(round(clock.now * 4))  # still a grid slot


async def test_a_hold_pauses_an_unlimited_partition_too() -> None:
    clock = FakeClock()
    bucket = TokenBucket(None, clock=clock, sleep=clock.sleep)
    assert await bucket.acquire() == 0
    bucket.hold(2.0)
    assert bucket.paused_for() == pytest.approx(2.0)
    await bucket.wait_out_hold()
    assert bucket.paused_for() == 0
    assert await bucket.acquire() == 0
