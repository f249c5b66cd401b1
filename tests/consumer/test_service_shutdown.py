"""Leaving the group always happens, whatever the final commit does (pure control flow).

The real-broker version of this is a race (a member whose generation went stale while it
finished: ILLEGAL_GENERATION); tests/consumer/test_delivery.py runs four members that finish at
different times, and this pins the behaviour down deterministically.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumer.service import DeliveryConfig, DeliveryService
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.settings import KafkaSettings


class FakeConsumer:
    def __init__(self, *, commit_fails: bool = False, close_fails: bool = False) -> None:
        self.commit_fails = commit_fails
        self.close_fails = close_fails
        self.stored: list[TopicPartition] = []
        self.closed = False

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("t", 0), TopicPartition("t", 1)]

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        self.stored = offsets

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.commit_fails:
            raise KafkaException(KafkaError(KafkaError.ILLEGAL_GENERATION))

    def close(self) -> None:
        if self.close_fails:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        self.closed = True


def service_with(consumer: FakeConsumer) -> DeliveryService:
    config = DeliveryConfig(
        topic="t",
        group="g",
        consumer_id="c",
        deliveries_topic="d",
        dlq_topic="t.dlq",
        webhook_label="http://h/…",
        partition_rps=None,
        partitions=2,
        max_in_flight=1,
        partition_window=1,
        grace=1.0,
        revoke_timeout=1.0,
        until_drained=True,
        end_offsets={},
    )
    service = DeliveryService(KafkaSettings(), config, cast(Any, None), cast(Any, None))
    service._consumer = cast(Any, consumer)
    return service


def test_a_refused_final_commit_still_stores_and_closes() -> None:
    consumer = FakeConsumer(commit_fails=True)
    service_with(consumer)._final_commit({0: 5, 1: 7, 9: 1})  # 9: not held, not stored
    assert [(tp.partition, tp.offset) for tp in consumer.stored] == [(0, 5), (1, 7)]
    assert consumer.closed  # close() commits what was stored as the member leaves


def test_a_failed_close_is_a_wrapped_error_naming_what_failed() -> None:
    consumer = FakeConsumer(close_fails=True)
    with pytest.raises(KafkaClientError, match="leaving the consumer group") as info:
        service_with(consumer)._final_commit({0: 5})
    assert isinstance(info.value.__cause__, KafkaException)
