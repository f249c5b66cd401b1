"""Per-partition token buckets on one shared grid: the webhook sees evenly spaced requests.

The webhook's budget R is split over the topic's P partitions (R/P each), so the total the
webhook sees is the same however many consumers share the partitions, with no coordination.

Splitting alone is not enough for "never more than 1.2 R in any second": P independent buckets
can line up their slots (with R = 10 over 7 partitions, 14 requests can land in one second).
So every bucket hands out slots on a grid anchored at the Unix epoch, and partition ``p`` of
``P`` is offset by ``p/P`` of its interval: together the partitions' slots form one grid of
spacing ``1/R`` whichever processes hold them, and any second holds at most ``ceil(R)``
requests. Processes agree on the grid through the wall clock they already share (NTP); a skew
between hosts never changes a partition's rate, but can let their slots line up again.

The budget is work-conserving within a member: the partitions a process holds on one endpoint
pool their grid slots (:class:`MemberGrid`), so while one of them has nothing left to send the
others use its slots. Slots are never borrowed from partitions another member holds: that would
need members to agree on who is idle, and a disagreement would put two requests in one slot.
A slot claimed for a partition that is revoked before it comes is claimed again elsewhere
(:meth:`TokenBucket.acquire` checks), since by then the partition's next owner may use it. A
slot claimed by a request that is cancelled before it comes (its partition revoked, say) is
given back, and the next claim takes it first: otherwise the dead claims of a revoked
partition's requests (up to ``--max-in-flight`` of them, that many grid intervals ahead) would
keep the member's other partitions from sending until they had all passed.

A burst of one: idle time is not banked, and callers are served first come, first served.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Literal

from prometheus_client import Counter

__all__ = ["MemberGrid", "RequestGate", "RequestSlots", "TokenBucket"]

# Guards turning a time into a slot index against float error: a slot computed as 4.999999
# must be 5. Slots are counted as integers from there on: epoch times carry ~2.4e-7 s of
# rounding, so adding intervals to them in floats and rounding back with ceil() skips slots.
_EPSILON = 1e-9
#: The index of "no slot claimed yet": below any real one.
_NONE_YET = -(1 << 62)


def _index(t: float, offset: float, interval: float) -> int:
    """The index k of the first slot ``offset + k * interval`` at or after ``t``."""
    return math.ceil((t - offset) / interval - _EPSILON)


#: How late after its slot a request may still leave, at least (see TokenBucket.acquire).
_LATE_FLOOR = 0.05


class MemberGrid:
    """The slots of one endpoint's grid that this member's partitions hold, for whichever of
    them has work. Owned by the event loop.

    The endpoint's budget ``rate`` is split into ``of`` phases (one per partition routed to it);
    phase ``s`` has the slots ``s / rate + k * of / rate``. A partition joins with its phase
    when assigned and leaves when released; a phase stays while any partition holding it does
    (a partition added after start-up folds onto an existing one's phase).
    """

    __slots__ = ("_holders", "_interval", "_next", "_returned", "_step")

    def __init__(self, rate: float, of: int) -> None:
        if rate <= 0 or not math.isfinite(rate):
            msg = f"rate must be positive and finite, got {rate}"
            raise ValueError(msg)
        if of < 1:
            msg = f"a grid needs at least one phase, got {of}"
            raise ValueError(msg)
        self._step = 1.0 / rate
        self._interval = of / rate
        #: Phase -> partitions holding it.
        self._holders: dict[int, int] = {}
        #: Phase -> the index of its earliest slot not yet claimed; kept while the member holds
        #: the phase.
        self._next: dict[int, int] = {}
        #: Slots claimed and given back unused, as a heap of (time, phase).
        self._returned: list[tuple[float, int]] = []

    def join(self, phase: int) -> None:
        """A partition on ``phase`` is now held here."""
        self._holders[phase] = self._holders.get(phase, 0) + 1
        self._next.setdefault(phase, _NONE_YET)

    def leave(self, phase: int) -> None:
        """A partition on ``phase`` is released; its slots go with the last one."""
        left = self._holders.get(phase, 0) - 1
        if left > 0:
            self._holders[phase] = left
        else:
            self._holders.pop(phase, None)
            self._next.pop(phase, None)

    def holds(self, phase: int) -> bool:
        """Whether a partition on ``phase`` is still held here."""
        return phase in self._holders

    def give_back(self, phase: int, at: float) -> None:
        """A slot claimed with :meth:`claim` will not be used (its request was cancelled)."""
        if phase in self._holders:
            heapq.heappush(self._returned, (at, phase))

    def claim(self, earliest: float) -> tuple[int, float] | None:
        """Claim the first free slot at or after ``earliest`` on any phase held: ``(phase,
        time)``, or None when no phase is held. A slot given back counts as free until its
        time has passed (or its phase is no longer held)."""
        returned = self._returned
        while returned and (returned[0][0] < earliest or returned[0][1] not in self._holders):
            heapq.heappop(returned)
        best: tuple[int, int, float] | None = None
        interval = self._interval
        for phase, free in self._next.items():
            offset = phase * self._step
            k = max(free, _index(earliest, offset, interval))
            at = offset + k * interval
            if best is None or at < best[2]:
                best = (phase, k, at)
        if best is None:
            return None
        if returned and returned[0][0] <= best[2]:
            at, phase = heapq.heappop(returned)
            return phase, at
        self._next[best[0]] = best[1] + 1
        return best[0], best[2]


class TokenBucket:
    """``await acquire()`` returns when the caller may send; ``rate=None`` means unlimited.

    ``slot`` and ``of``: this bucket is member ``slot`` of ``of`` buckets that share one budget
    (partition ``p`` of ``P``); their slots interleave evenly. With ``grid``, the bucket claims
    from its member's pool of slots (:class:`MemberGrid`, which it has joined with ``slot``)
    instead of its own phase alone; ``rate`` is then its share when every partition is busy.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        slot: int = 0,
        of: int = 1,
        grid: MemberGrid | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            msg = f"rate must be positive, got {rate}"
            raise ValueError(msg)
        if of < 1 or not 0 <= slot < of:
            msg = f"slot must be in [0, {of}), got {slot}"
            raise ValueError(msg)
        self.rate = rate
        self._interval = 0.0 if rate is None else 1.0 / rate
        # One slot of the whole budget's grid (R = rate x of), or the floor: a request woken
        # later than this after its slot claims another instead of leaving late.
        self._late_limit = 0.0 if rate is None else max(_LATE_FLOOR, 1.0 / (rate * of))
        self._phase = self._interval * slot / of
        self._next = _NONE_YET  # the index of this bucket's next free slot on its phase
        #: No slot before this (a receiver's ``Retry-After``), on the wall clock.
        self._held_until = -math.inf
        self._clock = clock
        self._sleep = sleep
        self._grid = grid

    def reserve(self) -> float:
        """Claim the next slot; returns how long to wait for it (0 when it is now)."""
        return self._claim()[0]

    def _claim(self) -> tuple[float, int | None]:
        """The wait for the next slot, and its phase on the member's grid (None: own phase)."""
        if self.rate is None:
            return self.paused_for(), None
        now = self._clock()
        if (
            self._grid is not None
            and (claimed := self._grid.claim(max(now, self._held_until))) is not None
        ):
            phase, slot = claimed
            return max(0.0, slot - now), phase
        earliest = max(now, self._held_until)
        steps = max(self._next, _index(earliest, self._phase, self._interval))
        slot = self._phase + steps * self._interval
        self._next = steps + 1
        return max(0.0, slot - now), None

    def hold(self, seconds: float) -> None:
        """No slot before ``seconds`` from now (a ``Retry-After``): the partition pauses.

        Slots stay on the grid, so the "at most ``ceil(R)`` in any second" guarantee holds.
        """
        if seconds > 0:
            self._held_until = max(self._held_until, self._clock() + seconds)

    def paused_for(self) -> float:
        """Seconds left of a :meth:`hold` (0 when none)."""
        if self._held_until == -math.inf:
            return 0.0
        return max(0.0, self._held_until - self._clock())

    async def wait_out_hold(self) -> None:
        """Sleep through a :meth:`hold` without claiming a slot."""
        while (pause := self.paused_for()) > 0:
            await self._sleep(pause)

    async def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited.

        A slot claimed on the member's grid whose partition was released meanwhile belongs to
        that partition's next owner by the time it comes: it is given up and another claimed.
        So is a slot this task woke up too late for (a starved process, a blocked loop): the
        requests of every slot it slept through would otherwise leave together and crowd one
        second. A request leaves at most ``L`` after its slot (``L`` = one slot of the budget
        ``R``, or 50 ms if more), so any second holds at most ``ceil(R) + ceil(L R)``
        requests: ``ceil(R) + 1`` up to 20 req/s.
        """
        waited = 0.0
        while True:
            wait, phase = self._claim()
            if wait > 0:
                slot_at = self._clock() + wait
                try:
                    await self._sleep(wait)
                except asyncio.CancelledError:
                    if phase is not None and self._grid is not None:
                        self._grid.give_back(phase, slot_at)
                    raise
                waited += wait
                if self._clock() - slot_at > self._late_limit:
                    continue
            if phase is None or self._grid is None or self._grid.holds(phase):
                return waited


class RequestSlots(asyncio.Semaphore):
    """The process's ``--max-in-flight`` webhook request slots; ``held`` counts those taken
    (the progress display's "requests in flight")."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit
        self.held = 0

    async def acquire(self) -> Literal[True]:
        """Take a slot, waiting for one."""
        await super().acquire()
        self.held += 1
        return True

    def release(self) -> None:
        """Give a slot back."""
        self.held -= 1
        super().release()


class RequestGate:
    """``async with gate:`` around one webhook request: a process-wide request slot, then the
    partition's next grid slot; the request slot is returned when the block exits, however.

    Acquire and release live in one scope, so a task cancelled anywhere in it (a revoke while
    it sleeps for its grid slot, say) gives its request slot back. The request slot is taken
    before the grid slot, so a request leaves at its grid time, never later: a late one could
    land in a second that already holds its ``ceil(R)``. Nothing is held between attempts:
    a record waiting to retry leaves the request slots to others.
    """

    __slots__ = ("_limiter", "_slots", "_wait_metric", "waiting")

    def __init__(
        self, slots: asyncio.Semaphore, limiter: TokenBucket, wait_metric: Counter | None = None
    ) -> None:
        self._slots = slots
        self._limiter = limiter
        self._wait_metric = wait_metric
        #: Tasks between requests (waiting for a slot, or to retry): none has a request at the
        #: receiver, so a revoke may cancel them at once.
        self.waiting: set[asyncio.Task[Any]] = set()

    async def pause(self, seconds: float) -> None:
        """Sleep between attempts (a retry's backoff), counted as :attr:`waiting`."""
        task = asyncio.current_task()
        if task is not None:
            self.waiting.add(task)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.waiting.discard(task)

    def hold(self, seconds: float) -> None:
        """The receiver asked for a pause (``Retry-After``): no request from this partition
        starts before it ends; waiting requests hold no request slot meanwhile."""
        self._limiter.hold(seconds)

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.waiting.add(task)
        try:
            await self._limiter.wait_out_hold()  # holding no request slot while paused
            await self._slots.acquire()
            try:
                waited = await self._limiter.acquire()
            except BaseException:
                self._slots.release()
                raise
        finally:
            self.waiting.discard(task)
        if waited and self._wait_metric is not None:
            self._wait_metric.inc(waited)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._slots.release()
