"""Request slots come back however an attempt ends; webhook ids are always header-safe
(pure logic: asyncio only, no network)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicelens.consumer.pipeline import webhook_id_for
from voicelens.consumer.rate_limiter import RequestGate, TokenBucket


async def test_a_task_cancelled_while_waiting_for_its_grid_slot_returns_its_request_slot() -> None:
    slots = asyncio.Semaphore(2)
    slow = TokenBucket(0.01)  # the next grid slot is up to 100 s away
    slow.reserve()  # the first slot is taken: the gate's wait is long
    entered = asyncio.Event()

    async def attempt() -> None:
        async with RequestGate(slots, slow):
            entered.set()

    tasks = [asyncio.create_task(attempt()) for _ in range(2)]
    await asyncio.sleep(0.05)
    assert slots.locked()  # both slots held by tasks sleeping in the limiter
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert not entered.is_set()
    assert not slots.locked()
    async with RequestGate(slots, TokenBucket(None)), RequestGate(slots, TokenBucket(None)):
        assert slots.locked()  # both slots usable again: capacity did not leak


async def test_a_failed_attempt_returns_its_slot() -> None:
    slots = asyncio.Semaphore(1)
    with pytest.raises(RuntimeError):
        async with RequestGate(slots, TokenBucket(None)):
            raise RuntimeError
    assert not slots.locked()


def test_generated_ids_are_unchanged() -> None:
    assert webhook_id_for("call_8f3a-01.x~") == "msg_call_8f3a-01.x~"


def test_non_latin1_and_separators_are_percent_encoded() -> None:
    assert webhook_id_for("call_日本") == "msg_call_%E6%97%A5%E6%9C%AC"
    assert webhook_id_for("a\r\nX-Evil: 1") == "msg_a%0D%0AX-Evil%3A%201"


@given(st.text(min_size=1), st.text(min_size=1))
def test_ids_are_header_safe_and_distinct(a: str, b: str) -> None:
    wa, wb = webhook_id_for(a), webhook_id_for(b)
    assert wa.isascii()
    assert wa.isprintable()
    assert " " not in wa
    assert (wa == wb) == (a == b)
