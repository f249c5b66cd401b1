"""A thin, lazily connected Kafka producer that never reports partial success as success."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AclOperation

from voicelens.kafka.configuration import producer_config
from voicelens.kafka.exceptions import (
    Access,
    BrokerUnavailableError,
    KafkaClientError,
    authorization_error,
    wrap_kafka_error,
)
from voicelens.settings import KafkaSettings

__all__ = ["KafkaProducer"]

log = logging.getLogger("voicelens.kafka.producer")

Headers = list[tuple[str, bytes]]


class KafkaProducer:
    """Counts acknowledgements and failures; :meth:`flush` raises unless every record was acked.

    Use as a context manager: leaving the block flushes (on success) so nothing is left queued.
    """

    def __init__(self, settings: KafkaSettings, **overrides: Any) -> None:
        self._conf = producer_config(settings, **overrides)
        self._producer: Producer | None = None
        self.acked = 0
        self.failed = 0
        self.acked_bytes = 0
        self.first_error: KafkaError | None = None
        self._first_error_topic = ""

    @property
    def client(self) -> Producer:
        """The underlying confluent-kafka producer, created on first use."""
        if self._producer is None:
            self._producer = Producer(self._conf)
        return self._producer

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.acked += 1
            self.acked_bytes += len(msg.value() or b"")
        else:
            self.failed += 1
            if self.first_error is None:
                self.first_error = err
                self._first_error_topic = msg.topic() or ""
                log.error("delivery to %s failed: %s", msg.topic(), err.str())

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one record; waits for queue space instead of failing when the queue is full."""
        kwargs: dict[str, Any] = {"on_delivery": self._on_delivery}
        if headers:
            kwargs["headers"] = headers
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self.client.produce(topic, value, key, **kwargs)
                return
            except BufferError:
                self.client.poll(0.05)
            except KafkaException as exc:
                access = Access(topic=(AclOperation.WRITE, topic))
                raise wrap_kafka_error(f"producing to {topic!r}", exc, access) from exc

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery callbacks."""
        return self.client.poll(timeout)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait for every queued record; raise if any was not acknowledged."""
        if self._producer is None:
            return
        remaining = self._producer.flush(timeout)
        if remaining:
            msg = f"{remaining} records not acknowledged within {timeout:.0f}s"
            raise BrokerUnavailableError(msg)
        if self.failed and self.first_error is not None:
            topic = self._first_error_topic
            refused = authorization_error(
                self.first_error,
                f"producing to {topic!r}",
                Access(topic=(AclOperation.WRITE, topic)),
            )
            if refused is not None:
                raise refused
        if self.failed:
            detail = self.first_error.str() if self.first_error else "unknown error"
            msg = f"{self.failed} records were not acknowledged: {detail}"
            raise KafkaClientError(msg)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()
        elif self._producer is not None:
            # Best effort on the error path; the original exception is what matters.
            self._producer.flush(5.0)
