"""Request slots come back however an attempt ends; webhook ids are always header-safe
(pure logic: asyncio only, no network)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

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


async def test_a_paused_partition_waits_without_a_request_slot() -> None:
    slots = asyncio.Semaphore(1)
    paused = TokenBucket(None)
    gate = RequestGate(slots, paused)
    gate.hold(0.3)  # the receiver said Retry-After for this partition
    waiting = asyncio.create_task(gate.__aenter__())
    await asyncio.sleep(0.05)
    assert not slots.locked()  # another partition may use the slot meanwhile
    async with RequestGate(slots, TokenBucket(None)):
        pass
    await waiting
    assert slots.locked()  # the pause over, the paused partition took its slot
    await gate.__aexit__(None, None, None)
    assert not slots.locked()


async def test_tasks_between_attempts_are_marked_waiting_and_requests_are_not() -> None:
    gate = RequestGate(asyncio.Semaphore(1), TokenBucket(None))
    inside = asyncio.Event()
    release = asyncio.Event()

    async def in_request() -> None:
        async with gate:
            inside.set()
            await release.wait()

    async def backing_off() -> None:
        await gate.pause(10)

    requesting = asyncio.create_task(in_request())
    await inside.wait()
    sleeping = asyncio.create_task(backing_off())
    queued = asyncio.create_task(in_request())  # waits for the one request slot
    await asyncio.sleep(0.05)
    assert gate.waiting == {sleeping, queued}  # a revoke may cancel these at once
    for t in (sleeping, queued):
        t.cancel()
    await asyncio.gather(sleeping, queued, return_exceptions=True)
    assert gate.waiting == set()
    release.set()
    await requesting


@given(st.one_of(st.text(), st.from_regex(r"[A-Za-z0-9_.~-]*\n?", fullmatch=True)))
def test_the_fast_path_gives_what_quote_gives(call_id: str) -> None:
    assert webhook_id_for(call_id) == "msg_" + quote(call_id, safe="")
