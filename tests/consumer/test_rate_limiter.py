"""The per-partition token bucket, on a fake clock (pure logic)."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicelens.consumer.rate_limiter import MemberGrid, TokenBucket


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


def _worst_second(slots: list[float]) -> int:
    slots = sorted(slots)
    return max(bisect.bisect_left(slots, s + 1 - 1e-6) - i for i, s in enumerate(slots))


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=200),
    partitions=st.integers(min_value=1, max_value=12),
    data=st.data(),
)
def test_members_pooling_their_slots_never_exceed_ceil_rate_in_any_second(
    rate: float, partitions: int, data: st.DataObject
) -> None:
    # Partitions split over members at random; each member pools the slots of the partitions
    # it holds; any subset of partitions has work at any moment. Whatever the pattern, no slot
    # is used twice and any one-second window holds at most ceil(R) requests.
    members = data.draw(st.lists(st.integers(0, 2), min_size=partitions, max_size=partitions))
    grids = {m: MemberGrid(rate, partitions) for m in set(members)}
    clock = FakeClock()
    buckets = []
    for p, m in enumerate(members):
        grids[m].join(p)
        buckets.append(
            TokenBucket(rate / partitions, slot=p, of=partitions, grid=grids[m], clock=clock)
        )
    busy = data.draw(st.lists(st.integers(0, partitions - 1), min_size=20, max_size=200))
    gaps = data.draw(
        st.lists(st.floats(min_value=0, max_value=0.4), min_size=len(busy), max_size=len(busy))
    )
    slots = []
    for p, gap in zip(busy, gaps, strict=True):
        clock.now += gap
        slots.append(clock.now + buckets[p].reserve())
    assert len(set(slots)) == len(slots)
    ordered = sorted(slots)
    assert min((b - a for a, b in itertools.pairwise(ordered)), default=1) >= 1 / rate - 1e-6
    assert _worst_second(slots) <= math.ceil(rate)


def test_a_busy_partition_uses_the_slots_of_idle_ones_its_member_holds() -> None:
    # R = 6 over 6 partitions; this member holds 0, 2 and 4, and only partition 2 has work:
    # it sends at the member's whole share (3/s) instead of its own (1/s).
    clock = FakeClock()
    grid = MemberGrid(6.0, 6)
    for phase in (0, 2, 4):
        grid.join(phase)
    bucket = TokenBucket(1.0, slot=2, of=6, grid=grid, clock=clock)
    slots = [clock.now + bucket.reserve() for _ in range(30)]
    assert slots[-1] - slots[0] == pytest.approx(29 / 3)
    # Only the held phases' slots (k / 6 with k = 0, 2, 4 mod 6), never another member's.
    assert {round(t * 6) % 6 for t in slots} == {0, 2, 4}


def test_a_member_alone_uses_the_whole_budget_on_one_partition() -> None:
    clock = FakeClock()
    grid = MemberGrid(10.0, 5)
    buckets = []
    for p in range(5):
        grid.join(p)
        buckets.append(TokenBucket(2.0, slot=p, of=5, grid=grid, clock=clock))
    slots = [clock.now + buckets[4].reserve() for _ in range(50)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(g == pytest.approx(0.1) for g in gaps)


async def test_a_slot_of_a_partition_released_meanwhile_is_claimed_again() -> None:
    # Partition 1 claims a slot on phase 0 (partition 0's, idle); partition 0 is revoked
    # before that slot comes, so its next owner may use it: partition 1 takes one of its own.
    clock = FakeClock()
    grid = MemberGrid(2.0, 2)  # phase 0 at .0, phase 1 at .5
    grid.join(0)
    grid.join(1)

    async def revoke_while_sleeping(seconds: float) -> None:
        grid.leave(0)
        await clock.sleep(seconds)

    bucket = TokenBucket(1.0, slot=1, of=2, grid=grid, clock=clock, sleep=revoke_while_sleeping)
    clock.now = 100.6  # next slots: phase 0 at 101.0, phase 1 at 101.5
    await bucket.acquire()
    assert clock.now == pytest.approx(101.5)
    assert not grid.holds(0)


def test_a_slot_given_back_is_claimed_first_while_it_is_still_ahead() -> None:
    grid = MemberGrid(10.0, 2)  # slots every 0.1 s, phases alternating
    grid.join(0)
    grid.join(1)
    claimed = [grid.claim(100.0) for _ in range(6)]
    assert [round(at, 1) for _, at in claimed] == [100.0, 100.1, 100.2, 100.3, 100.4, 100.5]
    # The requests of 100.2 and 100.4 were cancelled: the next claims take those slots, earliest
    # first, then go on after the last one claimed.
    grid.give_back(*claimed[4])
    grid.give_back(*claimed[2])
    assert [round(at, 1) for _, at in (grid.claim(100.0) for _ in range(3))] == [
        100.2,
        100.4,
        100.6,
    ]
    # One given back but already past, or on a phase no longer held, is not claimed again.
    grid.give_back(*claimed[1])  # 100.1, phase 1
    grid.give_back(*claimed[3])  # 100.3, phase 1
    grid.leave(1)
    assert grid.claim(100.15) == (0, pytest.approx(100.8))


async def test_a_request_cancelled_while_waiting_gives_its_slot_back() -> None:
    # A revoked partition's waiting requests must not keep their claims: the member's other
    # partitions would send nothing until every one of those slots had passed.
    clock = FakeClock()

    async def until_cancelled(_seconds: float) -> None:
        await asyncio.Event().wait()

    grid = MemberGrid(10.0, 2)  # slots every 0.1 s: phase 0 at .0, .2, ...; phase 1 at .1, .3
    grid.join(0)
    grid.join(1)
    revoked = TokenBucket(5.0, slot=0, of=2, grid=grid, clock=clock, sleep=until_cancelled)
    kept = TokenBucket(5.0, slot=1, of=2, grid=grid, clock=clock)
    waiting = [asyncio.create_task(revoked.acquire()) for _ in range(20)]  # 2 s of slots
    await asyncio.sleep(0)  # every one has claimed its slot, on either phase
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    grid.leave(0)
    # The first slot of phase 1 given back (100.1), not one after 2 s of dead claims.
    assert kept.reserve() == pytest.approx(0.1)
    assert kept.reserve() == pytest.approx(0.3)


@settings(max_examples=150, deadline=None)
@given(rate=st.sampled_from([3.0, 10.0, 50.0]), data=st.data())
def test_slots_given_back_are_never_used_twice(rate: float, data: st.DataObject) -> None:
    grid = MemberGrid(rate, 3)
    for phase in range(3):
        grid.join(phase)
    now = 100.0
    used: list[float] = []
    pending: list[tuple[int, float]] = []
    for _ in range(data.draw(st.integers(20, 120))):
        now += data.draw(st.floats(min_value=0, max_value=0.3))
        claimed = grid.claim(now)
        assert claimed is not None
        assert claimed[1] >= now - 1e-9  # never a slot already past
        pending.append(claimed)
        # Some requests are cancelled before their slot, the rest send at it.
        keep: list[tuple[int, float]] = []
        for phase, at in pending:
            if at <= now:
                used.append(at)
            elif data.draw(st.booleans()) and data.draw(st.booleans()):
                grid.give_back(phase, at)
            else:
                keep.append((phase, at))
        pending = keep
    used.extend(at for _, at in pending)
    assert len(set(used)) == len(used)
    assert _worst_second(used) <= math.ceil(rate)


@pytest.mark.parametrize("rate", [10.0, 300.0, 1_400.0, 20_000.0])
def test_the_grid_hands_out_every_slot_at_epoch_times(rate: float) -> None:
    # Slot times are epoch seconds (~1.8e9, rounded to ~2.4e-7 s): adding intervals to them in
    # floats and rounding back skips slots (at 1,400 req/s, ~890/s went out that way).
    now = 1_764_300_000.123
    grid = MemberGrid(rate, 6)
    for phase in range(6):
        grid.join(phase)
    own = TokenBucket(rate, clock=lambda: now)
    for slots in (
        [at for _, at in (grid.claim(now) for _ in range(3_000))],
        [now + own.reserve() for _ in range(3_000)],
    ):
        gaps = [b - a for a, b in itertools.pairwise(slots)]
        # Epoch floats resolve ~2.4e-7 s: a gap is 1/R to within that; a skipped slot doubles it.
        assert min(gaps) == pytest.approx(1 / rate, rel=0.02)
        assert max(gaps) == pytest.approx(1 / rate, rel=0.02)  # none skipped
        assert (len(slots) - 1) / (slots[-1] - slots[0]) == pytest.approx(rate, rel=1e-6)


@pytest.mark.parametrize("partitions", [1, 3, 6, 12])
def test_every_budget_up_to_300_gets_its_rate_when_backlogged(partitions: int) -> None:
    # Slot arithmetic in floats loses 1 % or more for 425 of these 1,200 budgets (R = 5 over 6
    # partitions sends 4/s; R = 13 over 6, 8/s), which ones depending on the numbers.
    now = 1_764_300_000.123
    for rate in range(1, 301):
        grid = MemberGrid(float(rate), partitions)
        for phase in range(partitions):
            grid.join(phase)
        slots = [at for _, at in (grid.claim(now) for _ in range(200))]
        assert (len(slots) - 1) / (slots[-1] - slots[0]) == pytest.approx(rate, rel=1e-3), rate


def test_a_phase_stays_while_any_partition_holding_it_does() -> None:
    grid = MemberGrid(1.0, 2)
    grid.join(1)
    grid.join(1)  # a partition added after start-up, folded onto phase 1
    grid.leave(1)
    assert grid.holds(1)
    grid.leave(1)
    assert not grid.holds(1)
    assert grid.claim(0.0) is None


@pytest.mark.parametrize("rate", [0.0, -1.0, math.inf, math.nan])
def test_a_grid_refuses_a_rate_it_cannot_keep(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        MemberGrid(rate, 3)


async def test_a_request_woken_too_late_for_its_slot_claims_another() -> None:
    # A starved process wakes 0.4 s after its slot: the slots it slept through have passed,
    # and sending on them now would crowd the coming second. It takes the next free one.
    clock = FakeClock()
    late = [0.4]

    async def starved_sleep(seconds: float) -> None:
        clock.now += seconds + (late.pop() if late else 0.0)

    bucket = TokenBucket(10.0, clock=clock, sleep=starved_sleep)
    clock.now = 100.05  # the next slot is at 100.1
    await bucket.acquire()
    assert clock.now == pytest.approx(100.5)  # 100.1 missed; 100.5 is the first at or after
    assert (clock.now * 10) == pytest.approx(round(clock.now * 10))  # on the grid


async def test_a_request_a_little_late_keeps_its_slot() -> None:
    clock = FakeClock()

    async def jittery_sleep(seconds: float) -> None:
        clock.now += seconds + 0.03  # an event loop's ordinary lateness

    bucket = TokenBucket(10.0, clock=clock, sleep=jittery_sleep)
    clock.now = 100.05
    await bucket.acquire()
    assert clock.now == pytest.approx(100.13)


class SimulatedClock:
    """Fake time for concurrent sleepers: the earliest wake-up runs next, each sleep woken
    ``delays`` late (in turn), as a starved process would be."""

    def __init__(self, delays: list[float]) -> None:
        self.now = 100.0
        self._delays = list(delays)
        self._due: list[tuple[float, int, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        late = self._delays.pop() if self._delays else 0.0
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._due, (self.now + seconds + late, len(self._due) + id(future), future))
        await future

    async def run(self, tasks: list[asyncio.Task[None]]) -> None:
        while not all(t.done() for t in tasks):
            for _ in range(5):  # every runnable task reaches its next sleep
                await asyncio.sleep(0)
            if self._due:
                at, _, future = heapq.heappop(self._due)
                self.now = max(self.now, at)
                future.set_result(None)


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(min_value=1, max_value=200),
    partitions=st.integers(min_value=1, max_value=8),
    tasks=st.integers(min_value=8, max_value=64),
    delays=st.lists(st.floats(min_value=0, max_value=0.6), min_size=1, max_size=200),
)
def test_late_wakeups_never_crowd_a_second(
    rate: float, partitions: int, tasks: int, delays: list[float]
) -> None:
    # Many requests wait for their slots at once, and wake up to 0.6 s late (a starved
    # process). However late, the sends (when acquire returns) stay within
    # ceil(R) + ceil(L R) per second, L = max(50 ms, 1/R).
    clock = SimulatedClock(delays)
    grid = MemberGrid(rate, partitions)
    buckets = []
    for p in range(partitions):
        grid.join(p)
        buckets.append(
            TokenBucket(rate / partitions, slot=p, of=partitions, grid=grid, clock=clock,
                        sleep=clock.sleep)
        )  # fmt: skip
    sends: list[float] = []

    async def send(bucket: TokenBucket) -> None:
        for _ in range(4):
            await bucket.acquire()
            sends.append(clock.now)

    async def main() -> None:
        running = [asyncio.create_task(send(buckets[i % partitions])) for i in range(tasks)]
        await clock.run(running)

    asyncio.run(main())
    limit = max(0.05, 1 / rate)
    assert _worst_second(sends) <= math.ceil(rate) + math.ceil(limit * rate)
