"""A circuit breaker per webhook endpoint: stop sending to an endpoint that is down.

Closed, it counts the last ``window`` attempts; it opens when ``failure_ratio`` of them failed
(once at least ``min_calls`` were seen) or after ``consecutive_failures`` in a row. Open, it lets
nothing through for a cool-down, then lets exactly one probe through (half-open): a success
closes it, a failure opens it again for twice the cool-down, up to ``max_cool_down``.

What counts as a failure is the caller's call (timeouts, connection errors and 5xx do; a 4xx
or a 429 says the endpoint is up). The breaker is plain state owned by the event loop: it never
sleeps or schedules anything; the pipeline asks :meth:`CircuitBreaker.allow` before a request
and pauses the endpoint's partitions until :attr:`CircuitBreaker.retry_at`.

Hand-written on purpose: the maintained Python breakers (pybreaker, aiobreaker, purgatory)
count consecutive failures only, or wrap the call itself; delivery needs a ratio window, a
single probe and a growing cool-down, and must not hold a request slot while open.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BreakerPolicy", "CircuitBreaker", "CircuitState"]


class CircuitState(StrEnum):
    """The breaker's states; the values are the metrics' label values."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how long it stays open."""

    failure_ratio: float = 0.5
    window: int = 50
    min_calls: int = 20
    consecutive_failures: int = 10
    cool_down: float = 5.0
    max_cool_down: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.failure_ratio <= 1:
            msg = "failure_ratio must be in (0, 1]"
            raise ValueError(msg)
        if self.window < 1 or not 1 <= self.min_calls <= self.window:
            msg = "need 1 <= min_calls <= window"
            raise ValueError(msg)
        if self.consecutive_failures < 1:
            msg = "consecutive_failures must be at least 1"
            raise ValueError(msg)
        if not 0 < self.cool_down <= self.max_cool_down:
            msg = "need 0 < cool_down <= max_cool_down"
            raise ValueError(msg)


Transition = Callable[[CircuitState, CircuitState], None]


class CircuitBreaker:
    """One endpoint's breaker. Not thread-safe: one event loop owns it."""

    def __init__(
        self,
        policy: BreakerPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Transition | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._on_transition = on_transition
        self._state = CircuitState.CLOSED
        self._recent: deque[bool] = deque(maxlen=policy.window)  # True = failure
        self._failures_in_window = 0
        self._streak = 0
        self._cool_down = policy.cool_down
        self._opened_at = 0.0
        self._open_since = 0.0
        self._probe_out = False
        self._open_seconds = 0.0
        self.probes = 0

    @property
    def state(self) -> CircuitState:
        """The state as of the last call (an open breaker turns half-open in :meth:`allow`)."""
        return self._state

    @property
    def retry_at(self) -> float:
        """Clock time from which an open breaker grants a probe (0 when not open)."""
        return self._opened_at + self._cool_down if self._state is CircuitState.OPEN else 0.0

    def open_seconds(self) -> float:
        """Seconds spent open or half-open so far, the current spell included."""
        if self._state is CircuitState.CLOSED:
            return self._open_seconds
        return self._open_seconds + self._clock() - self._open_since

    def allow(self) -> bool:
        """May a request go now? Open past its cool-down, grants one probe and turns half-open."""
        if self._state is CircuitState.CLOSED:
            return True
        if self._state is CircuitState.OPEN:
            if self._clock() < self.retry_at:
                return False
            self._move(CircuitState.HALF_OPEN)
        if self._probe_out:
            return False
        self._probe_out = True
        self.probes += 1
        return True

    def release_probe(self) -> None:
        """The probe :meth:`allow` granted will not be sent (its record was cancelled, by a
        revoke say): the next caller gets the probe instead of everyone waiting for it."""
        if self._state is CircuitState.HALF_OPEN:
            self._probe_out = False

    def record(self, failure: bool) -> None:
        """The outcome of a request that :meth:`allow` let through."""
        if self._state is CircuitState.HALF_OPEN:
            self._probe_out = False
            if failure:
                self._cool_down = min(self._cool_down * 2, self._policy.max_cool_down)
                self._trip()
            else:
                self._cool_down = self._policy.cool_down
                self._reset_counts()
                self._move(CircuitState.CLOSED)
            return
        if self._state is CircuitState.OPEN:
            return  # an answer to a request sent before it opened changes nothing
        if len(self._recent) == self._recent.maxlen and self._recent[0]:
            self._failures_in_window -= 1
        self._recent.append(failure)
        self._failures_in_window += failure
        self._streak = self._streak + 1 if failure else 0
        policy = self._policy
        ratio_tripped = len(
            self._recent
        ) >= policy.min_calls and self._failures_in_window >= policy.failure_ratio * len(
            self._recent
        )
        if ratio_tripped or self._streak >= policy.consecutive_failures:
            self._trip()

    def _trip(self) -> None:
        self._reset_counts()
        self._move(CircuitState.OPEN)

    def _reset_counts(self) -> None:
        self._recent.clear()
        self._failures_in_window = 0
        self._streak = 0

    def _move(self, to: CircuitState) -> None:
        now = self._clock()
        before = self._state
        if to is CircuitState.OPEN:
            if before is CircuitState.CLOSED:
                self._open_since = now
            self._opened_at = now
        if to is CircuitState.CLOSED and before is not CircuitState.CLOSED:
            self._open_seconds += now - self._open_since
        self._state = to
        if self._on_transition is not None and before is not to:
            self._on_transition(before, to)
