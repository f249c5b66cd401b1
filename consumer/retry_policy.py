"""Which outcomes are retried, and how long to wait: exponential backoff with full jitter.

The retry loop itself is tenacity's; this module says what it retries, how it waits and when
it stops.

2xx is success. 408, 425, 429, 5xx, timeouts and connection errors are retried, honouring
``Retry-After`` (seconds or an HTTP date, capped); any other status is permanent. Retries are
bounded by attempts and by total time; then the record is dead-lettered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from voicelens.consumer.exceptions import RetriableDeliveryError

# Every command's start loads this module (delivery_config.py, for deliver's settings) and only a
# record that failed once builds a controller: tenacity (~30 ms to import) is imported there.
if TYPE_CHECKING:
    from tenacity import AsyncRetrying, RetryCallState

__all__ = ["RetryPolicy", "is_retriable_status", "parse_retry_after"]

_RETRIABLE = frozenset({408, 425, 429})


def is_retriable_status(status: int) -> bool:
    """Whether a non-2xx status may succeed if tried again."""
    return status in _RETRIABLE or 500 <= status <= 599


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and backoff of retries; :meth:`retrying` turns them into a tenacity controller."""

    max_attempts: int = 6
    max_elapsed: float = 300.0
    base: float = 0.5
    cap: float = 30.0
    retry_after_cap: float = 60.0

    def retrying(
        self,
        *,
        already_elapsed: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        before_sleep: Callable[[RetryCallState], None] | None = None,
    ) -> AsyncRetrying:
        """A controller for one record's retries (controllers keep per-call state: one each).

        Retriable errors wait ``Retry-After`` (capped) when the receiver gave one, else full
        jitter: uniform in ``[0, min(cap, base * 2 ** (attempt - 1))]``. It stops after
        ``max_attempts``, or before a wait that would end past ``max_elapsed`` (counting the
        ``already_elapsed`` seconds spent before the controller took over), and then re-raises
        the last error. Any other error passes straight through.
        """
        from tenacity import (
            AsyncRetrying,
            retry_if_exception_type,
            stop_after_attempt,
            stop_before_delay,
            wait_random_exponential,
        )

        jitter = wait_random_exponential(multiplier=self.base, max=self.cap)
        retry_after_cap = self.retry_after_cap

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            if isinstance(exc, RetriableDeliveryError) and exc.retry_after is not None:
                return min(exc.retry_after, retry_after_cap)
            return float(jitter(state))

        return AsyncRetrying(
            retry=retry_if_exception_type(RetriableDeliveryError),
            wait=wait,
            stop=stop_after_attempt(self.max_attempts)
            | stop_before_delay(self.max_elapsed - already_elapsed),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
