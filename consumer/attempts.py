"""One record's attempts at the webhook: the first POST, then retries under the policy.

A record ends here delivered (2xx), rejected for good (other 4xx: straight to the DLQ), or with
its retries exhausted (by attempts or by time: then the DLQ). Every attempt is counted in the
metrics by result and status class; retries spend the partition's rate-limit budget too.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from voicelens import metrics
from voicelens.consumer.circuit_breaker import CircuitState
from voicelens.consumer.delivery_tracing import UNTRACED, RecordTrace
from voicelens.consumer.endpoints import EndpointHealth
from voicelens.consumer.exceptions import (
    DeliveryError,
    DeliveryTimeoutError,
    RetriableDeliveryError,
    UnsendableError,
)
from voicelens.consumer.http_policy import Headers
from voicelens.consumer.outcomes import Outcome
from voicelens.consumer.rate_limiter import RequestGate
from voicelens.consumer.retry_policy import RetryPolicy
from voicelens.consumer.webhook import WebhookClient

__all__ = ["DeliveryAttempts"]


@functools.cache
def _attempts_counter(result: str, status_class: str) -> Any:
    """The attempts counter's child for one label pair (looked up once, not per request)."""
    return metrics.DELIVERY_ATTEMPTS.labels(result, status_class)


async def _admit(health: EndpointHealth, gate: RequestGate) -> bool:
    """Wait for the endpoint's breaker, counted as between attempts: no request is at the
    receiver, so a revoke may cancel the wait at once."""
    task = asyncio.current_task()
    if task is not None:
        gate.waiting.add(task)
    try:
        return await health.admit()
    finally:
        if task is not None:
            gate.waiting.discard(task)


def _failed(exc: DeliveryError, attempts: int, first_ms: int) -> Outcome:
    # Permanent, or retriable with the budget spent: the class names the reason.
    now = int(time.time() * 1000)
    return Outcome(
        False, exc.status, attempts, exc.dead_letter_reason, first_ms, now, now, exc.detail
    )


def _attempt_metrics(
    result: str, status: int | None, sent: float, *, timeout: bool = False
) -> None:
    _attempts_counter(result, metrics.status_class(status, timeout=timeout)).inc()
    metrics.WEBHOOK_REQUEST_DURATION.observe(time.monotonic() - sent)


class DeliveryAttempts:
    """Posts bodies through one endpoint's client under one retry policy.

    ``health`` is the endpoint's breaker: an attempt waits for it (holding nothing) while the
    endpoint is down, and a record whose retries ran out while the breaker was not closed gets a
    fresh budget once it closes: an outage is the endpoint's failure, not the record's, so it
    sends nothing to the DLQ.
    """

    def __init__(
        self, client: WebhookClient, policy: RetryPolicy, health: EndpointHealth | None = None
    ) -> None:
        self._client = client
        self._policy = policy
        self._health = health

    async def deliver(
        self,
        body: bytes,
        webhook_id: str,
        gate: RequestGate,
        trace: RecordTrace = UNTRACED,
    ) -> Outcome:
        """Attempt until delivered, rejected or out of retries; how it ended, never raises
        a DeliveryError. Every attempt passes ``gate`` (a request slot and a rate-limit slot,
        held for that attempt only) and is a span of ``trace``, its context in the request."""
        first_ms = int(time.time() * 1000)
        attempts = 0
        health = self._health
        tripped = False  # the breaker left "closed" during this record's current budget

        async def attempt() -> int:
            nonlocal attempts, tripped
            while True:
                probe = await _admit(health, gate) if health is not None else False
                answered = False  # only an answer (or a DeliveryError) tells the breaker anything
                try:
                    async with gate:
                        if health is not None and not probe and not health.still_closed():
                            # It opened while this request waited for its rate-limit slot:
                            # leave the gate (the slot goes back) and wait for the endpoint.
                            continue
                        attempts += 1
                        sent = time.monotonic()
                        try:
                            with trace.attempt(attempts - 1) as span:
                                status = await self._post(body, webhook_id, sent, span.headers)
                                span.answered(status)
                        except DeliveryError as exc:
                            answered = True
                            self._count_failure(exc, sent, gate)
                            if health is not None:
                                health.record(exc)
                                tripped = tripped or health.state is not CircuitState.CLOSED
                            raise
                        answered = True
                        if health is not None:
                            health.record(None)
                        return status
                finally:
                    if probe and not answered and health is not None:
                        # Cancelled (a revoke) before the probe had an answer: another request
                        # takes the probe, rather than the endpoint waiting for it for ever.
                        health.release_probe()

        while True:
            start = time.monotonic()
            try:
                try:
                    status = await attempt()
                except RetriableDeliveryError as first:
                    status = await self._retry(gate, attempt, first, time.monotonic() - start)
            except RetriableDeliveryError as exc:
                if tripped and health is not None:
                    tripped = False
                    continue  # the endpoint was down: wait for it, then a fresh budget
                return _failed(exc, attempts, first_ms)
            except DeliveryError as exc:
                return _failed(exc, attempts, first_ms)
            now = int(time.time() * 1000)
            return Outcome(True, status, attempts, None, first_ms, now, now)

    def _count_failure(self, exc: DeliveryError, sent: float, gate: RequestGate) -> None:
        if isinstance(exc, RetriableDeliveryError):
            timeout = isinstance(exc, DeliveryTimeoutError)
            _attempt_metrics("retriable", exc.status, sent, timeout=timeout)
            if exc.retry_after:
                # The receiver said when: the whole partition waits, not this record only (its
                # other records would be refused the same way meanwhile).
                gate.hold(min(exc.retry_after, self._policy.retry_after_cap))
        else:
            _attempt_metrics("permanent", exc.status, sent)

    async def _post(self, body: bytes, webhook_id: str, sent: float, trace_headers: Headers) -> int:
        """One POST; a request that cannot be written at all is an UnsendableError."""
        try:
            status = await self._client.post(body, webhook_id, trace_headers)
        except (UnicodeError, ValueError) as exc:
            # E.g. a header value HTTP cannot carry: no attempt can succeed, and letting it
            # escape would stop the member (and every member after it) on this record.
            detail = f"cannot be sent: {type(exc).__name__}: {exc}"
            raise UnsendableError(detail) from exc
        _attempt_metrics("success", status, sent)
        return status

    async def _retry(
        self,
        gate: RequestGate,
        attempt: Callable[[], Awaitable[int]],
        first: RetriableDeliveryError,
        elapsed: float,
    ) -> int:
        """Attempts after a retriable first failure, under the retry policy (tenacity).

        The first attempt runs outside tenacity so that the common case, success at once, pays
        nothing for a retry controller; the controller is handed that failure as its attempt 1,
        so attempt counts, the wait (``Retry-After`` included) and the time budget all count it.
        """
        pending: RetriableDeliveryError | None = first
        retrying = self._policy.retrying(
            already_elapsed=elapsed,
            sleep=gate.pause,
            before_sleep=lambda _state: metrics.RETRIES.inc(),
        )
        async for try_ in retrying:
            with try_:
                if pending is not None:
                    failed, pending = pending, None
                    raise failed
                return await attempt()  # through the gate: retries spend the budget too
        msg = "tenacity ended without a result or an error"  # reraise=True: cannot happen
        raise AssertionError(msg)
