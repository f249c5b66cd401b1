"""The partition registry's snapshot: what other threads read, and when a member holding lag
counts as unable to progress (pure logic, fake clock)."""

from __future__ import annotations

import pytest
from delivery_support import delivery_config

from voicelens.consumer.delivery_config import DeliveryConfig
from voicelens.consumer.partition_registry import PartitionRegistry, RegistrySnapshot


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config() -> DeliveryConfig:
    return delivery_config(
        topic="t-registry",
        dlq_topic="t-registry.dlq",
        partitions=4,
        max_in_flight=2,
        partition_window=2,
        stall_after=60.0,
    )


def test_the_snapshot_is_replaced_not_changed() -> None:
    registry = PartitionRegistry(config(), clock=Clock())
    before = registry.snapshot
    registry.assign([0, 2])
    after = registry.snapshot
    assert before.partitions == ()  # a reader holding the old one sees a consistent old view
    assert after.partitions == (0, 2)
    with pytest.raises(AttributeError):
        after.lag = 5  # type: ignore[misc]
    registry.release([0])
    assert registry.snapshot.partitions == (2,)
    assert after.partitions == (0, 2)


def test_a_member_with_lag_that_finishes_nothing_is_stalled() -> None:
    clock = Clock()
    registry = PartitionRegistry(config(), clock=clock)
    registry.assign([0, 1])
    for p in (0, 1):
        registry.restore(p, 10, None)
    registry.set_lag({0: 50, 1: 10})
    snap = registry.publish()
    assert snap.lag == 40  # end offsets minus the commit points (10)
    assert not snap.stalled(clock.now + 59, 60)
    assert snap.stalled(clock.now + 61, 60)
    clock.now += 61
    registry.progressed()
    assert not registry.publish().stalled(clock.now + 1, 60)
    registry.set_lag({0: 10, 1: 10})  # caught up: nothing to progress on
    assert not registry.publish().stalled(clock.now + 1000, 60)


def test_no_partitions_is_never_stalled() -> None:
    assert not RegistrySnapshot(lag=5, progress_at=0).stalled(10_000, 60)
