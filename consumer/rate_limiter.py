"""A per-partition token bucket with a burst of one token: requests are evenly spaced.

The webhook's budget R is split over the topic's P partitions (R/P each), so the total the
webhook sees is the same however many consumers share the partitions, with no coordination.
A burst of one keeps every second close to the budget: each partition sends at most
``ceil(R/P)`` requests in any second. Slots are handed out in call order, so callers are served
first come, first served.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``await acquire()`` returns when the caller may send; ``rate=None`` means unlimited."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            msg = f"rate must be positive, got {rate}"
            raise ValueError(msg)
        self.rate = rate
        self._interval = 0.0 if rate is None else 1.0 / rate
        self._next = 0.0
        self._clock = clock
        self._sleep = sleep

    def reserve(self) -> float:
        """Claim the next slot; returns how long to wait for it (0 when it is now)."""
        if self.rate is None:
            return 0.0
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self._interval
        return slot - now

    async def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
        return wait
