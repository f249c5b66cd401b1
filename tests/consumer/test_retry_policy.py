"""Retry classification, Retry-After parsing and backoff bounds (pure logic)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from consumer.retry_policy import RetryPolicy, is_retriable_status, parse_retry_after


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


def test_backoff_is_full_jitter_under_the_cap_and_retry_after_is_honoured_capped() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0, retry_after_cap=10.0, rng=random.Random(1))
    for attempt in range(1, 10):
        bound = min(4.0, 0.5 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # really spread over the range
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=120.0) == 10.0


def test_bounded_by_attempts_and_time() -> None:
    policy = RetryPolicy(max_attempts=3, max_elapsed=10.0)
    assert not policy.gives_up(1, 0.0, 1.0)
    assert policy.gives_up(3, 0.0, 1.0)
    assert policy.gives_up(1, 9.5, 1.0)
