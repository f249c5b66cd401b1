"""Awaitable produce for the delivery service's own outputs (DLQ and delivery events).

``await send(...)`` returns once the broker has acknowledged the record — the condition for
storing the source offset. The producer is polled from the event loop itself (``poll(0)``,
never blocking) while acknowledgements are due, so delivery callbacks resolve their futures on
the loop's own thread: no thread hop and no lock handed back and forth per record. A callback
thread doing this took ~14 % of deliver's py-spy samples (``bench/profile_deliver.py`` at commit
``f45faab``, quoted in that commit's ``bench/README.md``; the profile file has been re-recorded).
"""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AclOperation

from voicelens import metrics
from voicelens.kafka.configuration import producer_config
from voicelens.kafka.exceptions import (
    Access,
    KafkaClientError,
    authorization_error,
    wrap_kafka_error,
)
from voicelens.settings import KafkaSettings

__all__ = ["AsyncProducer"]

Headers = list[tuple[str, bytes]]
#: Seconds between polls while acknowledgements are due (bounds the added latency).
_POLL_EVERY = 0.001


class AsyncProducer:
    """An idempotent producer whose sends can be awaited (from one event loop)."""

    def __init__(self, settings: KafkaSettings, loop: asyncio.AbstractEventLoop) -> None:
        conf = producer_config(settings, **{"linger.ms": 5})
        self._producer = Producer(conf)
        self._loop = loop
        self._due = 0
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        #: (records, bytes) counters per topic, labelled once.
        self._counters: dict[str, tuple[Any, Any]] = {}

    async def _poll(self) -> None:
        producer = self._producer
        while True:
            if not self._due:
                self._wake.clear()
                await self._wake.wait()
            producer.poll(0)
            await asyncio.sleep(_POLL_EVERY)

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Produce and wait for the broker's acknowledgement; raises KafkaClientError if refused."""
        future: asyncio.Future[None] = self._loop.create_future()

        def done(err: KafkaError | None, _msg: Message) -> None:
            _resolve(future, err, topic)

        kwargs: dict[str, Any] = {"on_delivery": done}
        if headers:
            kwargs["headers"] = headers
        while True:
            try:
                self._producer.produce(topic, value, key, **kwargs)
                break
            except BufferError:
                self._producer.poll(0)
                await asyncio.sleep(0.05)
            except KafkaException as exc:
                # Refused before it was queued: librdkafka already knows the topic refuses
                # this principal (its metadata said so), the refusal the callback reports
                # otherwise.
                raise wrap_kafka_error(f"writing to {topic!r}", exc, _write(topic)) from exc
        if self._poller is None:
            self._poller = self._loop.create_task(self._poll(), name="voicelens-producer-poll")
        self._due += 1
        self._wake.set()
        try:
            await future
        finally:
            self._due -= 1
        counters = self._counters.get(topic)
        if counters is None:
            counters = self._counters[topic] = (
                metrics.PRODUCED_RECORDS.labels(topic),
                metrics.PRODUCED_BYTES.labels(topic),
            )
        counters[0].inc()
        counters[1].inc(len(value or b""))

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued (serving its callbacks) and stop polling."""
        if self._poller is not None:
            self._poller.cancel()
        self._producer.flush(timeout)


def _resolve(future: asyncio.Future[None], err: KafkaError | None, topic: str) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
        return
    future.set_exception(_refused(err, topic))


def _refused(err: KafkaError, topic: str) -> KafkaClientError:
    """A refused write as our error: for want of an ACL it stops the member like any refused
    write, naming the ACL."""
    refused = authorization_error(err, f"writing to {topic!r}", _write(topic))
    return refused or KafkaClientError(f"write not acknowledged: {err.str()}")


def _write(topic: str) -> Access:
    return Access(topic=(AclOperation.WRITE, topic))
