"""A thin, lazily connected Kafka consumer for at-least-once processing.

Offsets are *stored* explicitly when a record is finished and committed by librdkafka's
auto-commit (or :meth:`commit`); ``enable.auto.offset.store`` is off, so nothing is ever
committed just because it was polled. The consumer is not thread-safe: one thread owns it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from voicelens.kafka.configuration import consumer_config
from voicelens.kafka.exceptions import wrap_kafka_error
from voicelens.settings import KafkaSettings

__all__ = ["KafkaConsumer", "RebalanceCallback"]

log = logging.getLogger("voicelens.kafka.consumer")

RebalanceCallback = Callable[[Consumer, list[TopicPartition]], None]


class KafkaConsumer:
    """Context-managed consumer; leaving the block closes it (leaves the group)."""

    def __init__(self, settings: KafkaSettings, group_id: str, **overrides: Any) -> None:
        self._conf = consumer_config(settings, group_id, **overrides)
        self._consumer: Consumer | None = None
        self.group_id = group_id

    @property
    def client(self) -> Consumer:
        """The underlying confluent-kafka consumer, created on first use."""
        if self._consumer is None:
            self._consumer = Consumer(self._conf)
        return self._consumer

    def subscribe(
        self,
        topics: Sequence[str],
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        """Join the group for ``topics`` with optional rebalance callbacks."""
        kwargs: dict[str, RebalanceCallback] = {}
        if on_assign:
            kwargs["on_assign"] = on_assign
        if on_revoke:
            kwargs["on_revoke"] = on_revoke
        if on_lost:
            kwargs["on_lost"] = on_lost
        self.client.subscribe(list(topics), **kwargs)

    def consume(self, max_messages: int, timeout: float) -> list[Message]:
        """Up to ``max_messages`` records; errors inside records are left for the caller."""
        try:
            return self.client.consume(max_messages, timeout)
        except KafkaException as exc:
            raise wrap_kafka_error("consuming", exc) from exc

    def store(self, offsets: Sequence[TopicPartition]) -> None:
        """Store exactly these next-offsets (offset = last finished + 1) for the next commit."""
        if offsets:
            self.client.store_offsets(offsets=list(offsets))

    def commit(self, offsets: Sequence[TopicPartition] | None = None) -> None:
        """Commit synchronously: stored offsets, or exactly ``offsets``."""
        try:
            if offsets:
                self.client.commit(offsets=list(offsets), asynchronous=False)
            else:
                self.client.commit(asynchronous=False)
        except KafkaException as exc:
            # _NO_OFFSET: nothing stored since the last commit; not an error.
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError._NO_OFFSET:
                return
            raise wrap_kafka_error(f"committing offsets of group {self.group_id!r}", exc) from exc

    def close(self) -> None:
        """Commit stored offsets and leave the group."""
        if self._consumer is not None:
            try:
                self._consumer.close()
            finally:
                self._consumer = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
