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

A burst of one: idle time is not banked, and callers are served first come, first served.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket"]

# Guards the grid arithmetic against float error: a slot computed as 4.999999 must be 5.
_EPSILON = 1e-9


class TokenBucket:
    """``await acquire()`` returns when the caller may send; ``rate=None`` means unlimited.

    ``slot`` and ``of``: this bucket is member ``slot`` of ``of`` buckets that share one budget
    (partition ``p`` of ``P``); their slots interleave evenly.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        slot: int = 0,
        of: int = 1,
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
        self._phase = self._interval * slot / of
        self._next = -math.inf
        self._clock = clock
        self._sleep = sleep

    def reserve(self) -> float:
        """Claim the next slot; returns how long to wait for it (0 when it is now)."""
        if self.rate is None:
            return 0.0
        now = self._clock()
        earliest = max(now, self._next)
        steps = math.ceil((earliest - self._phase) / self._interval - _EPSILON)
        slot = self._phase + steps * self._interval
        self._next = slot + self._interval
        return max(0.0, slot - now)

    async def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
        return wait
