"""Which outcomes are retried, and how long to wait: exponential backoff with full jitter.

2xx is success. 408, 425, 429, 5xx, timeouts and connection errors are retried, honouring
``Retry-After`` (seconds or an HTTP date, capped); any other status is permanent. Retries are
bounded by attempts and by total time; then the record is dead-lettered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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
    """Bounds and backoff of retries."""

    max_attempts: int = 6
    max_elapsed: float = 300.0
    base: float = 0.5
    cap: float = 30.0
    retry_after_cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Wait before attempt ``attempt + 1`` (attempt is 1-based)."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        return self.rng.uniform(0.0, min(self.cap, self.base * 2 ** (attempt - 1)))

    def gives_up(self, attempt: int, elapsed: float, next_delay: float) -> bool:
        """True when another attempt would exceed the attempt or time budget."""
        return attempt >= self.max_attempts or elapsed + next_delay > self.max_elapsed
