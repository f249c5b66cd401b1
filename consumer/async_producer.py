"""Awaitable produce for the delivery service's own outputs (DLQ and delivery events).

confluent-kafka's Producer is thread-safe; a daemon thread serves its delivery callbacks and
hands each result to the event loop, so ``await send(...)`` returns once the broker has
acknowledged the record — the condition for storing the source offset.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from voicelens.kafka.configuration import producer_config
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.settings import KafkaSettings

__all__ = ["AsyncProducer"]

Headers = list[tuple[str, bytes]]


class AsyncProducer:
    """An idempotent producer whose sends can be awaited."""

    def __init__(self, settings: KafkaSettings, loop: asyncio.AbstractEventLoop) -> None:
        conf = producer_config(settings, **{"linger.ms": 5})
        self._producer = Producer(conf)
        self._loop = loop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="voicelens-producer", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        """Produce and wait for the broker's acknowledgement; raises KafkaClientError if refused."""
        future: asyncio.Future[None] = self._loop.create_future()

        def done(err: KafkaError | None, _msg: Message) -> None:
            self._loop.call_soon_threadsafe(_resolve, future, err)

        kwargs: dict[str, Any] = {"on_delivery": done}
        if headers:
            kwargs["headers"] = headers
        while True:
            try:
                self._producer.produce(topic, value, key, **kwargs)
                break
            except BufferError:
                await asyncio.sleep(0.05)
        await future

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop the callback thread."""
        self._producer.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=2)


def _resolve(future: asyncio.Future[None], err: KafkaError | None) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(KafkaClientError(f"write not acknowledged: {err.str()}"))
