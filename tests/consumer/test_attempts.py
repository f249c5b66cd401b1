"""One record's attempts: how answers in sequence end as an Outcome (pure logic).

The transport here is a script of answers (no network): what is tested is the classification,
the attempt count and the handing of a first failure to the retry policy. The same paths over
real sockets and the real sink are in test_transport.py and test_delivery.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from voicelens.consumer.attempts import DeliveryAttempts
from voicelens.consumer.exceptions import DeliveryTimeoutError
from voicelens.consumer.outcomes import Outcome
from voicelens.consumer.rate_limiter import RequestGate, TokenBucket
from voicelens.consumer.retry_policy import RetryPolicy
from voicelens.consumer.transport import HttpAnswer
from voicelens.consumer.webhook import WebhookClient
from voicelens.schemas.dead_letters import DeadLetterReason

FAST = RetryPolicy(max_attempts=4, base=0.001, cap=0.002, retry_after_cap=0.01)


class Scripted:
    """A transport answering from a list; an exception in it is raised instead."""

    timeout = 1.0

    def __init__(self, answers: Sequence[HttpAnswer | Exception]) -> None:
        self._answers = list(answers)
        self.posts = 0

    async def post(self, headers: Sequence[tuple[str, str]], body: bytes) -> HttpAnswer:
        self.posts += 1
        answer = self._answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        return None


async def _run(*answers: HttpAnswer | Exception) -> tuple[Scripted, Outcome]:
    transport = Scripted(answers)
    attempts = DeliveryAttempts(WebhookClient(transport), FAST)
    outcome = await attempts.deliver(
        b"{}", "msg_1", RequestGate(asyncio.Semaphore(1), TokenBucket(None))
    )
    return transport, outcome


async def test_success_at_once_is_one_attempt() -> None:
    transport, outcome = await _run(HttpAnswer(204))
    assert transport.posts == 1
    assert (outcome.delivered, outcome.status, outcome.attempts, outcome.reason) == (
        True,
        204,
        1,
        None,
    )


async def test_retriable_failures_then_success_count_every_attempt() -> None:
    timeout = DeliveryTimeoutError("timed out after 1 s")
    transport, outcome = await _run(HttpAnswer(503), timeout, HttpAnswer(429, "0"), HttpAnswer(200))
    assert transport.posts == 4
    assert outcome.delivered
    assert outcome.attempts == 4


async def test_a_permanent_answer_is_not_retried() -> None:
    transport, outcome = await _run(HttpAnswer(503), HttpAnswer(422), HttpAnswer(200))
    assert transport.posts == 2
    assert not outcome.delivered
    assert outcome.reason is DeadLetterReason.REJECTED
    assert outcome.detail == "HTTP 422"
    assert outcome.status == 422


async def test_retries_end_at_the_policy_bound() -> None:
    transport, outcome = await _run(*[HttpAnswer(500)] * 10)
    assert transport.posts == FAST.max_attempts
    assert outcome.reason is DeadLetterReason.RETRIES_EXHAUSTED
    assert outcome.detail == "HTTP 500"
    assert outcome.attempts == FAST.max_attempts


async def test_retries_that_end_in_a_timeout_are_dead_lettered_as_timed_out() -> None:
    timeout = DeliveryTimeoutError("timed out after 1 s")
    _, outcome = await _run(*[HttpAnswer(503)] * (FAST.max_attempts - 1), timeout)
    assert outcome.reason is DeadLetterReason.TIMED_OUT
    assert outcome.attempts == FAST.max_attempts


async def test_a_redirect_is_never_followed_nor_retried() -> None:
    transport, outcome = await _run(HttpAnswer(301), HttpAnswer(200))
    assert transport.posts == 1
    assert not outcome.delivered
    assert outcome.reason is DeadLetterReason.REDIRECTED
    assert outcome.status == 301


async def test_a_request_that_cannot_be_written_is_unsendable_not_a_crash() -> None:
    broken = UnicodeEncodeError("latin-1", "日", 0, 1, "ordinal not in range(256)")
    transport, outcome = await _run(broken, HttpAnswer(200))
    assert transport.posts == 1  # no retry can help
    assert not outcome.delivered
    assert outcome.reason is DeadLetterReason.UNSENDABLE
    assert "UnicodeEncodeError" in outcome.detail
