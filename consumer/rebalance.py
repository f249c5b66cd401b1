"""The engine's rebalance listener: librdkafka's callbacks, handed to the event loop.

librdkafka runs these on the Kafka thread, inside ``consume``. Each one passes the partition
numbers to the loop (which owns the partition registry and the workers) and waits for it:

- assigned: the registry creates state and the pipeline starts a worker per partition;
- revoked: in-flight records finish (up to ``revoke_timeout``), then the final commit points,
  completion maps included, are committed before the partitions move to their next owner;
- lost: the member was fenced out; the work is abandoned, nothing is committed (another member
  may already own the partitions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from voicelens import metrics
from voicelens.consumer.kafka_side import KafkaSide
from voicelens.consumer.partition_registry import CommitPoint

__all__ = ["RebalanceListener"]

#: What the loop does with partitions that leave: finish or abandon them, return final points.
Release = Callable[[list[int], bool], Awaitable[dict[int, CommitPoint]]]


class RebalanceListener:
    """Callbacks for ``Consumer.subscribe`` that run the loop's assign and release."""

    def __init__(
        self,
        kafka: KafkaSide,
        loop: asyncio.AbstractEventLoop,
        assign: Callable[[list[int]], Awaitable[None]],
        release: Release,
        revoke_timeout: float,
    ) -> None:
        self._kafka = kafka
        self._loop = loop
        self._assign = assign
        self._release = release
        self._revoke_timeout = revoke_timeout

    def _on_loop(self, coro: Awaitable[Any], timeout: float | None = None) -> Any:
        async def wrapped() -> Any:
            return await coro

        work: Coroutine[Any, Any, Any] = wrapped()
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions handed to this member. Their start points (committed offsets and
        completion maps) are read from the loop afterwards: asked here, a request can stall the
        whole rebalance while a killed member is still in the group."""
        metrics.REBALANCES.labels("assign").inc()
        if partitions:
            self._on_loop(self._assign([tp.partition for tp in partitions]))

    def revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions moving away: finish them, then commit where they ended."""
        metrics.REBALANCES.labels("revoke").inc()
        final: dict[int, CommitPoint] = self._on_loop(
            self._release([tp.partition for tp in partitions], False), self._revoke_timeout + 10
        )
        self._kafka.commit_sync(final.values())

    def lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions taken from this member without a handover: abandon their work."""
        metrics.REBALANCES.labels("lost").inc()
        self._on_loop(self._release([tp.partition for tp in partitions], True), 30)
