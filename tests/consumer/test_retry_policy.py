"""Retry classification, Retry-After parsing and backoff bounds (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from voicelens.consumer.exceptions import (
    DeliveryError,
    PermanentDeliveryError,
    RetriableDeliveryError,
)
from voicelens.consumer.retry_policy import RetryPolicy, is_retriable_status, parse_retry_after


@pytest.mark.parametrize(
    ("status", "retriable"),
    [
        (408, True),
        (425, True),
        (429, True),
        (500, True),
        (503, True),
        (599, True),
        (400, False),
        (401, False),
        (404, False),
        (410, False),
        (422, False),
    ],
)
def test_classification(status: int, retriable: bool) -> None:
    assert is_retriable_status(status) is retriable


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


class Recorder:
    """Sleeps recorded, not slept; and an attempt that fails as told."""

    def __init__(self, failures: list[DeliveryError]) -> None:
        self.failures = failures
        self.slept: list[float] = []
        self.calls = 0

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    async def attempt(self) -> int:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return 200


async def run(policy: RetryPolicy, rec: Recorder, **kwargs: float) -> int:
    async for attempt in policy.retrying(sleep=rec.sleep, **kwargs):
        with attempt:
            return await rec.attempt()
    raise AssertionError


def busy(retry_after: float | None = None) -> RetriableDeliveryError:
    return RetriableDeliveryError("HTTP 503", status=503, retry_after=retry_after)


async def test_backoff_is_full_jitter_under_the_cap() -> None:
    policy = RetryPolicy(max_attempts=8, max_elapsed=1e9, base=0.5, cap=4.0)
    waits: list[list[float]] = []
    for _ in range(150):
        rec = Recorder([busy() for _ in range(7)])
        assert await run(policy, rec) == 200
        waits.append(rec.slept)
    for n in range(7):  # the wait after attempt n + 1
        bound = min(4.0, 0.5 * 2**n)
        delays = [w[n] for w in waits]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # really spread over the range


async def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(max_elapsed=1e9, retry_after_cap=10.0)
    rec = Recorder([busy(retry_after=3.0), busy(retry_after=120.0)])
    assert await run(policy, rec) == 200
    assert rec.slept == [3.0, 10.0]


async def test_bounded_by_attempts_then_the_last_error() -> None:
    rec = Recorder([busy() for _ in range(10)])
    with pytest.raises(RetriableDeliveryError):
        await run(RetryPolicy(max_attempts=3, max_elapsed=1e9), rec)
    assert rec.calls == 3
    assert len(rec.slept) == 2


async def test_a_wait_that_would_end_past_the_time_budget_is_not_started() -> None:
    # 9.5 s already spent (the first attempt, outside the controller) + a 1 s wait > 10 s.
    rec = Recorder([busy(retry_after=1.0)])
    with pytest.raises(RetriableDeliveryError):
        await run(RetryPolicy(max_elapsed=10.0), rec, already_elapsed=9.5)
    assert rec.calls == 1
    assert rec.slept == []


async def test_permanent_errors_are_never_retried() -> None:
    rec = Recorder([PermanentDeliveryError("HTTP 422", status=422)])
    with pytest.raises(PermanentDeliveryError):
        await run(RetryPolicy(), rec)
    assert rec.calls == 1
