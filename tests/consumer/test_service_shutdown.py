"""The final commit survives a group that moves under it, and leaving always happens
(pure control flow, on a fake consumer).

On the real broker this is a race (a member whose generation went stale while it finished:
ILLEGAL_GENERATION); tests/consumer/test_delivery.py runs four members that finish at different
times, and bench measurements are in the commit that added the retry. This pins it down.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from delivery_support import delivery_config

from voicelens.consumer.kafka_side import KafkaSide
from voicelens.consumer.partition_registry import CommitPoint
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.settings import KafkaSettings


class FakeConsumer:
    def __init__(self, *, refusals: int = 0, close_fails: bool = False) -> None:
        self.refusals = refusals  # commits refused before one is accepted
        self.close_fails = close_fails
        self.stored: list[TopicPartition] = []
        self.committed: list[TopicPartition] = []
        self.polls = 0
        self.closed = False

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("t", 0), TopicPartition("t", 1)]

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        self.stored = offsets

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.refusals:
            self.refusals -= 1
            raise KafkaException(KafkaError(KafkaError.ILLEGAL_GENERATION))
        self.committed = offsets

    def consume(self, num_messages: int, timeout: float) -> list[object]:
        self.polls += 1
        return []

    def close(self) -> None:
        if self.close_fails:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        self.closed = True


def points(**offsets: int) -> dict[int, CommitPoint]:
    return {int(p[1:]): CommitPoint(int(p[1:]), o, "") for p, o in offsets.items()}


def kafka_side_with(consumer: FakeConsumer) -> KafkaSide:
    config = delivery_config(partitions=2, max_in_flight=1, partition_window=1, until_drained=True)
    side = KafkaSide(KafkaSettings(), config)
    side.consumer = cast(Any, consumer)
    return side


def test_a_commit_refused_while_the_group_moves_is_retried_after_polling() -> None:
    consumer = FakeConsumer(refusals=2)
    kafka_side_with(consumer).final_commit(points(p0=5, p1=7, p9=1))  # 9: not held, not committed
    assert [(tp.partition, tp.offset) for tp in consumer.committed] == [(0, 5), (1, 7)]
    assert consumer.polls == 2  # the rejoin happens inside poll, between the attempts
    assert consumer.closed


def test_a_commit_refused_for_good_still_stores_and_closes() -> None:
    consumer = FakeConsumer(refusals=1_000)
    kafka_side_with(consumer).final_commit(points(p0=5))
    assert [(tp.partition, tp.offset) for tp in consumer.stored] == [(0, 5)]
    assert consumer.committed == []
    assert consumer.closed  # close() commits what was stored as the member leaves


def test_a_failed_close_is_a_wrapped_error_naming_what_failed() -> None:
    consumer = FakeConsumer(close_fails=True)
    with pytest.raises(KafkaClientError, match="leaving the consumer group") as info:
        kafka_side_with(consumer).final_commit(points(p0=5))
    assert isinstance(info.value.__cause__, KafkaException)
