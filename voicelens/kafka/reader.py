"""Reading a whole topic from the beginning to the end offsets seen at start (read_committed).

Partitions are assigned directly — no group, no commits — so a reader never disturbs a
consumer group. The report job reads every topic this way, and ``voicelens produce`` finds its
resume point with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from voicelens.kafka.admin import TopicAdmin
from voicelens.kafka.configuration import consumer_config
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.settings import KafkaSettings

__all__ = ["read_topic"]

T = TypeVar("T")

#: Seconds without a record or end-of-partition event before a read gives up.
IDLE_TIMEOUT = 30.0


def read_topic(
    settings: KafkaSettings, topic: str, decode: Callable[[Message], T | None]
) -> Iterator[T]:
    """Every record of ``topic`` up to its end at start, decoded (None results are dropped)."""
    admin = TopicAdmin(settings)
    if admin.partition_count(topic) is None:
        return
    # A short fetch wait: the end of a transactional partition (after its commit marker) is
    # only seen once an empty fetch returns, which would otherwise take the default 500 ms.
    # Passed as overrides so the user's pass-through settings still win.
    conf = consumer_config(
        settings,
        group_id="voicelens-reader",
        **{"enable.auto.commit": False, "enable.partition.eof": True, "fetch.wait.max.ms": 50},
    )
    consumer = Consumer(conf)
    try:
        ends = admin.end_offsets(topic)
        remaining = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in remaining])
        last_progress = time.monotonic()
        while remaining:
            # A short wait: consume() holds out for the whole timeout unless the batch fills,
            # and the end of a partition arrives as an event, not as a full batch.
            msgs = consumer.consume(1000, 0.1)
            if not msgs:
                if time.monotonic() - last_progress > IDLE_TIMEOUT:
                    msg = f"no progress reading {topic!r} for {IDLE_TIMEOUT:g} s"
                    raise KafkaClientError(msg)
                continue
            last_progress = time.monotonic()
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(m.partition() or 0)
                        continue
                    msg = f"reading {topic!r}: {err.str()}"
                    raise KafkaClientError(msg)
                value = decode(m)
                if value is not None:
                    yield value
                if (m.offset() or 0) + 1 >= ends[m.partition() or 0]:
                    remaining.discard(m.partition() or 0)
    finally:
        consumer.close()
