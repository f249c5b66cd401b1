"""Webhook endpoints: which one a record goes to, each one's budget grid and its health.

With several ``--webhook-url`` values, partition ``p`` of ``P`` goes to endpoint ``p mod N``:
a record always goes to exactly one endpoint, the same one whichever member holds its
partition, and members need not agree on anything but the topic's partition count. Each
endpoint's partitions share ``--max-rps`` on a grid of their own (slot ``p div N`` of the
endpoint's ``P_e`` partitions), so each endpoint sees at most ``ceil(R)`` requests in any
second, whatever the members and rebalances.

Each endpoint has a circuit breaker (``circuit_breaker.py``). While it is open, a record's
next attempt waits in :meth:`EndpointHealth.admit` holding no request slot; when the breaker
lets a probe through and it succeeds, every waiting record goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from voicelens import metrics
from voicelens.consumer.circuit_breaker import BreakerPolicy, CircuitBreaker, CircuitState
from voicelens.consumer.exceptions import DeliveryError, RetriableDeliveryError

__all__ = ["EndpointHealth", "GridPosition", "counts_as_failure", "grid_position", "route"]

log = logging.getLogger("voicelens.deliver")

_STATE_VALUE = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


def route(partition: int, endpoints: int) -> int:
    """The endpoint index of a partition's records."""
    return partition % endpoints


@dataclass(frozen=True, slots=True)
class GridPosition:
    """A partition's place on its endpoint's rate grid: slot ``slot`` of ``of``."""

    slot: int
    of: int


def grid_position(partition: int, partitions: int, endpoints: int) -> GridPosition:
    """Where partition ``partition`` of ``partitions`` sits on its endpoint's grid.

    A partition added after start-up (beyond ``partitions``) takes the place of the partition it
    folds onto: it goes to that one's endpoint on that one's slots. Held by one member, the two
    share those slots; held by two, until ``deliver`` restarts with the new count they send up
    to twice that partition's share (the README says so).
    """
    p = partition % partitions
    endpoint = route(p, endpoints)
    return GridPosition(slot=p // endpoints, of=len(range(endpoint, partitions, endpoints)))


def counts_as_failure(exc: DeliveryError | None) -> bool:
    """Whether an attempt's result says the endpoint is down: timeouts, connection errors and
    5xx do; a success, a 4xx or a 429 (it answered, it is up) do not."""
    return isinstance(exc, RetriableDeliveryError) and exc.status not in (408, 425, 429)


class EndpointHealth:
    """One endpoint's breaker, its metrics, and the wait of records while it is open. Owned by
    the event loop."""

    def __init__(self, label: str, policy: BreakerPolicy | None) -> None:
        self.label = label
        self._state_metric = metrics.ENDPOINT_STATE.labels(label)
        self._state_metric.set(0)
        self._probes = metrics.ENDPOINT_PROBES.labels(label)
        self._open_seconds = metrics.ENDPOINT_OPEN_SECONDS.labels(label)
        self._since = time.monotonic()
        self._breaker = (
            None if policy is None else CircuitBreaker(policy, on_transition=self._moved)
        )
        #: Set (and replaced) at every transition: waiting records look again.
        self._changed = asyncio.Event()

    @property
    def state(self) -> CircuitState:
        """The breaker's state (always closed without a breaker)."""
        return CircuitState.CLOSED if self._breaker is None else self._breaker.state

    def still_closed(self) -> bool:
        """Whether requests admitted while closed may still go: a request that waited for its
        rate-limit slot while the breaker opened goes back to :meth:`admit` instead."""
        return self._breaker is None or self._breaker.state is CircuitState.CLOSED

    async def admit(self) -> bool:
        """Return when a request may go to this endpoint: at once while it is closed; while it
        is open, once it closes again, or with the one probe a half-open breaker lets through
        (then True: the probe must go whatever the state)."""
        breaker = self._breaker
        if breaker is None:
            return False
        while not breaker.allow():
            # Open: until the cool-down ends. Half-open: until the probe's answer moves it.
            if breaker.state is CircuitState.OPEN:
                wait = max(breaker.retry_at - time.monotonic(), 0.01)
            else:
                wait = 1.0
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout=wait)
            except TimeoutError:
                continue  # the cool-down is over: ask for the probe
        if breaker.state is CircuitState.HALF_OPEN:
            self._probes.inc()
            return True
        return False

    def release_probe(self) -> None:
        """A probe that was admitted will not be sent: let another request be the probe."""
        if self._breaker is not None:
            self._breaker.release_probe()

    def record(self, error: DeliveryError | None) -> None:
        """The result of an attempt :meth:`admit` let through (``None``: delivered)."""
        if self._breaker is not None:
            self._breaker.record(counts_as_failure(error))

    def _moved(self, before: CircuitState, after: CircuitState) -> None:
        now = time.monotonic()
        if before is not CircuitState.CLOSED:
            self._open_seconds.inc(now - self._since)
        self._since = now
        self._state_metric.set(_STATE_VALUE[after])
        metrics.ENDPOINT_TRANSITIONS.labels(self.label, after.value).inc()
        log.warning(
            "endpoint %s: circuit %s (was %s)",
            self.label,
            after.value,
            before.value,
            extra={"endpoint": self.label, "circuit": after.value},
        )
        self._changed.set()
        self._changed = asyncio.Event()
