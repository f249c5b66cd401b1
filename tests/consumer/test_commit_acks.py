"""The records-at-risk budget (``--max-uncommitted``): pure logic, driven step by step."""

from __future__ import annotations

import asyncio
import random

import pytest

from voicelens.consumer.commit_acks import PartitionAcks, UnackedBudget


def _start(budget: UnackedBudget, acks: PartitionAcks, n: int) -> None:
    for _ in range(n):
        assert budget.has_room()
        budget.started(acks)


def test_a_member_stops_at_the_limit_until_a_commit_is_acknowledged() -> None:
    budget, acks = UnackedBudget(3), PartitionAcks()
    _start(budget, acks, 3)
    assert not budget.has_room()
    for _ in range(3):
        budget.finished(acks)
    budget.sent(acks, 10, "")
    assert not budget.has_room(), "a commit sent but not acknowledged covers nothing"
    budget.acknowledged(acks, 10, "")
    assert budget.at_risk == 0
    assert budget.has_room()


def test_an_acknowledgement_covers_only_what_was_finished_when_its_commit_was_made() -> None:
    budget, acks = UnackedBudget(10), PartitionAcks()
    _start(budget, acks, 4)
    budget.finished(acks)
    budget.finished(acks)
    budget.sent(acks, 2, "")  # covers the two finished
    budget.finished(acks)  # a third finishes after the commit was made
    budget.acknowledged(acks, 2, "")
    assert budget.at_risk == 2  # the third and the one still in flight


def test_acknowledgements_match_offset_and_metadata() -> None:
    """A stuck commit point with a growing completion map: each map is its own commit."""
    budget, acks = UnackedBudget(10), PartitionAcks()
    _start(budget, acks, 3)
    budget.finished(acks)
    budget.sent(acks, 5, "map-a")
    budget.finished(acks)
    budget.sent(acks, 5, "map-b")
    budget.acknowledged(acks, 5, "map-zz")  # someone else's commit: nothing known
    assert budget.at_risk == 3
    budget.acknowledged(acks, 5, "map-a")
    assert budget.at_risk == 2
    budget.acknowledged(acks, 5, "map-b")
    assert budget.at_risk == 1
    budget.acknowledged(acks, 5, "map-a")  # late duplicate of a superseded one
    assert budget.at_risk == 1


def test_a_released_partition_gives_its_risk_back() -> None:
    budget = UnackedBudget(4)
    first, second = PartitionAcks(), PartitionAcks()
    _start(budget, first, 3)
    _start(budget, second, 1)
    assert not budget.has_room()
    budget.forget(first)
    assert budget.at_risk == 1
    budget.finished(first)  # a record of the old assignment finishing late changes nothing
    budget.sent(first, 1, "")
    budget.acknowledged(first, 1, "")
    assert budget.at_risk == 1


async def test_a_waiting_record_wakes_on_the_acknowledgement() -> None:
    budget, acks = UnackedBudget(1), PartitionAcks()
    _start(budget, acks, 1)
    waiter = asyncio.ensure_future(budget.wait_for_room())
    await asyncio.sleep(0)
    assert not waiter.done()
    budget.finished(acks)
    budget.sent(acks, 1, "")
    await asyncio.sleep(0)
    assert not waiter.done(), "sending a commit is not enough"
    budget.acknowledged(acks, 1, "")
    await asyncio.wait_for(waiter, 1)


def test_at_risk_never_exceeds_the_limit_nor_drops_below_what_no_ack_covers() -> None:
    """Random interleavings over three partitions against a model of the records themselves."""
    rng = random.Random(7)
    for _ in range(200):
        limit = rng.randint(1, 12)
        budget = UnackedBudget(limit)
        parts = [PartitionAcks() for _ in range(3)]
        # Model: per partition, records as [finished, covered-by-an-acknowledged-commit].
        records: list[list[list[bool]]] = [[] for _ in parts]
        sent: list[dict[tuple[int, str], int]] = [{} for _ in parts]
        for step in range(300):
            p = rng.randrange(3)
            acks, recs = parts[p], records[p]
            action = rng.random()
            if action < 0.4 and budget.has_room():
                budget.started(acks)
                recs.append([False, False])
            elif action < 0.7:
                unfinished = [r for r in recs if not r[0]]
                if unfinished:
                    unfinished[0][0] = True
                    budget.finished(acks)
            elif action < 0.85:
                key = (step, "")
                budget.sent(acks, *key)
                sent[p][key] = sum(r[0] for r in recs)
            elif sent[p]:
                key = rng.choice(list(sent[p]))
                budget.acknowledged(acks, *key)
                for r in [r for r in recs if r[0]][: sent[p][key]]:
                    r[1] = True
            uncovered = sum(not r[1] for rs in records for r in rs)
            assert budget.at_risk <= limit
            assert budget.at_risk == uncovered


def test_the_limit_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        UnackedBudget(0)
