"""Routing records to endpoints, each endpoint's rate grid, and its breaker gate (pure logic and
the event loop; no sockets)."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest
from delivery_support import delivery_config
from hypothesis import given, settings
from hypothesis import strategies as st

from voicelens.consumer.attempts import DeliveryAttempts
from voicelens.consumer.circuit_breaker import BreakerPolicy, CircuitState
from voicelens.consumer.delivery_config import DeliveryConfig
from voicelens.consumer.endpoints import (
    EndpointHealth,
    counts_as_failure,
    grid_position,
    route,
)
from voicelens.consumer.exceptions import (
    DeliveryTimeoutError,
    PermanentDeliveryError,
    RetriableDeliveryError,
)
from voicelens.consumer.rate_limiter import RequestGate, TokenBucket
from voicelens.consumer.retry_policy import RetryPolicy
from voicelens.consumer.transport import HttpAnswer
from voicelens.consumer.webhook import WebhookClient


def _config(partitions: int, endpoints: int, rps: float) -> DeliveryConfig:
    return delivery_config(
        webhook_label="-",
        partitions=partitions,
        max_in_flight=1,
        partition_window=1,
        endpoint_rps=rps,
        endpoints=endpoints,
    )


@settings(max_examples=200, deadline=None)
@given(
    partitions=st.integers(1, 24),
    endpoints=st.integers(1, 5),
    rps=st.sampled_from([1.0, 2.5, 7.0, 10.0, 20.0, 33.3]),
)
def test_each_endpoint_sees_at_most_ceil_r_in_any_second(
    partitions: int, endpoints: int, rps: float
) -> None:
    endpoints = min(endpoints, partitions)
    config = _config(partitions, endpoints, rps)
    sent: dict[int, list[float]] = {e: [] for e in range(endpoints)}
    for p in range(partitions):
        rate, position = config.partition_rate(p)
        clock = [1_000_000.0 + 0.37 * p]  # members start at different moments
        bucket = TokenBucket(rate, slot=position.slot, of=position.of, clock=lambda c=clock: c[0])
        for _ in range(40):  # every partition always has work: the worst case
            clock[0] += bucket.reserve()
            sent[route(p, endpoints)].append(clock[0])
    for e, times in sent.items():
        per_second = Counter(math.floor(t + 1e-9) for t in times)
        # The last second of the run is partial for some partitions; look at full ones.
        full = sorted(per_second)[1:-2]
        assert all(per_second[s] <= math.ceil(rps) for s in full), (e, per_second)
        members = len(range(e, partitions, endpoints))
        assert len(times) == 40 * members


@given(partitions=st.integers(1, 64), endpoints=st.integers(1, 8))
def test_every_partition_goes_to_one_endpoint_and_grid_slots_are_distinct(
    partitions: int, endpoints: int
) -> None:
    slots: dict[int, set[int]] = {}
    for p in range(partitions):
        e = route(p, endpoints)
        position = grid_position(p, partitions, endpoints)
        assert 0 <= position.slot < position.of
        assert position.slot not in slots.setdefault(e, set())
        slots[e].add(position.slot)
    for e, used in slots.items():
        assert used == set(range(len(range(e, partitions, endpoints))))
    # A partition added later folds onto an existing one's place (the same endpoint and slots).
    assert grid_position(partitions + 1, partitions, endpoints) == grid_position(
        1 % partitions, partitions, endpoints
    )


def test_what_counts_as_the_endpoint_being_down() -> None:
    assert counts_as_failure(RetriableDeliveryError("HTTP 503", status=503))
    assert counts_as_failure(DeliveryTimeoutError("timed out"))
    assert counts_as_failure(RetriableDeliveryError("connection error: X"))
    assert not counts_as_failure(RetriableDeliveryError("HTTP 429", status=429))
    assert not counts_as_failure(PermanentDeliveryError("HTTP 422", status=422))
    assert not counts_as_failure(None)


class Scripted:
    """A transport answering from a list; when it runs out, every answer is 200."""

    timeout = 1.0

    def __init__(self, answers: list[HttpAnswer | Exception]) -> None:
        self.answers = answers
        self.posts = 0

    async def post(self, headers: object, body: bytes) -> HttpAnswer:
        self.posts += 1
        answer = self.answers.pop(0) if self.answers else HttpAnswer(200)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        return None


POLICY = BreakerPolicy(
    failure_ratio=1.0,
    window=4,
    min_calls=4,
    consecutive_failures=2,
    cool_down=0.05,
    max_cool_down=0.2,
)
RETRY = RetryPolicy(max_attempts=3, base=0.001, cap=0.002, retry_after_cap=0.01)


async def test_an_outage_longer_than_the_retry_budget_dead_letters_nothing() -> None:
    transport = Scripted([HttpAnswer(503)] * 12)  # 12 failures: four records' whole budgets
    health = EndpointHealth("outage-test", POLICY)
    attempts = DeliveryAttempts(WebhookClient(transport), RETRY, health)  # type: ignore[arg-type]
    gate = RequestGate(asyncio.Semaphore(8), TokenBucket(None))
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(attempts.deliver(b"{}", f"msg_{i}", gate) for i in range(4))), 30
    )
    assert all(o.delivered for o in outcomes)
    assert health.state is CircuitState.CLOSED
    # Without the breaker the same script dead-letters records whose 3 attempts all failed.
    plain = DeliveryAttempts(WebhookClient(Scripted([HttpAnswer(503)] * 12)), RETRY)  # type: ignore[arg-type]
    lost = await asyncio.gather(*(plain.deliver(b"{}", f"msg_{i}", gate) for i in range(4)))
    assert not all(o.delivered for o in lost)


async def test_while_open_records_wait_without_a_request_slot_and_one_probe_goes() -> None:
    health = EndpointHealth("probe-test", POLICY)
    for _ in range(2):
        await health.admit()
        health.record(RetriableDeliveryError("HTTP 503", status=503))
    assert health.state is CircuitState.OPEN
    waiting = [asyncio.create_task(health.admit()) for _ in range(5)]
    await asyncio.sleep(0.1)  # past the cool-down: exactly one probe is admitted
    admitted = [t for t in waiting if t.done()]
    assert len(admitted) == 1
    assert health.state is CircuitState.HALF_OPEN
    health.record(None)  # the probe succeeded: everyone goes
    await asyncio.wait_for(asyncio.gather(*waiting), 2)
    assert health.state is CircuitState.CLOSED


def test_a_bad_breaker_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="min_calls"):
        BreakerPolicy(window=5, min_calls=6)


async def test_a_probe_cancelled_before_its_answer_hands_the_probe_on() -> None:
    health = EndpointHealth("cancelled-probe", POLICY)
    for _ in range(2):
        await health.admit()
        health.record(RetriableDeliveryError("HTTP 503", status=503))
    await asyncio.sleep(0.06)  # past the cool-down
    transport = Scripted([])
    attempts = DeliveryAttempts(WebhookClient(transport), RETRY, health)  # type: ignore[arg-type]
    blocked = RequestGate(asyncio.Semaphore(0), TokenBucket(None))  # no request slot is free
    probe = asyncio.create_task(attempts.deliver(b"{}", "msg_probe", blocked))
    await asyncio.sleep(0.02)
    assert health.state is CircuitState.HALF_OPEN  # it holds the probe, waiting for a slot
    probe.cancel()  # a revoke
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert health.state is CircuitState.HALF_OPEN
    # The next request gets the probe at once instead of waiting for one that will never go.
    gate = RequestGate(asyncio.Semaphore(1), TokenBucket(None))
    outcome = await asyncio.wait_for(attempts.deliver(b"{}", "msg_next", gate), 2)
    assert outcome.delivered
    assert health.state is CircuitState.CLOSED
    assert transport.posts == 1
