"""The delivery service's own writes: a refusal is our error, whether librdkafka reports it
through the delivery callback or refuses the record before queueing it."""

from __future__ import annotations

import asyncio

import pytest

from voicelens.consumer.async_producer import AsyncProducer
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.settings import KafkaSettings


def test_a_write_refused_before_it_is_queued_is_our_error_naming_the_topic() -> None:
    # librdkafka refuses some records in produce() itself: one beyond message.max.bytes (as
    # here), or one for a topic its metadata already says this principal may not write. Either
    # must end deliver with the one-line refusal, not a traceback.
    async def send() -> None:
        producer = AsyncProducer(
            KafkaSettings(bootstrap_servers="127.0.0.1:1"), asyncio.get_running_loop()
        )
        try:
            await producer.send("vcp.dlq", b"x" * 2_000_000)
        finally:
            producer.close(timeout=0.1)

    with pytest.raises(KafkaClientError, match=r"writing to 'vcp\.dlq': .*too large") as caught:
        asyncio.run(send())
    assert caught.value.__cause__ is not None  # librdkafka's own error, kept as the cause
