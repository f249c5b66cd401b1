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
from confluent_kafka.admin import AclOperation

from voicelens.kafka.admin import TopicAdmin
from voicelens.kafka.configuration import consumer_config
from voicelens.kafka.exceptions import Access, KafkaClientError, authorization_error
from voicelens.settings import KafkaSettings

__all__ = ["READER_OVERRIDES", "read_assigned", "read_topic"]

T = TypeVar("T")

#: Seconds without a record or end-of-partition event before a read gives up.
IDLE_TIMEOUT = 30.0


#: librdkafka settings a reader needs: no commits, end-of-partition events, and a short fetch
#: wait (the end of a transactional partition, after its commit marker, is only seen once an
#: empty fetch returns, which would otherwise take the default 500 ms). Passed as overrides so
#: the user's pass-through settings still win.
READER_OVERRIDES: dict[str, object] = {
    "enable.auto.commit": False,
    "enable.partition.eof": True,
    "fetch.wait.max.ms": 50,
}


def read_topic(
    settings: KafkaSettings, topic: str, decode: Callable[[Message], T | None]
) -> Iterator[T]:
    """Every record of ``topic`` up to its end at start, decoded (None results are dropped)."""
    admin = TopicAdmin(settings)
    if admin.partition_count(topic) is None:
        return
    consumer = Consumer(consumer_config(settings, "voicelens-reader", **READER_OVERRIDES))
    try:
        ends = admin.end_offsets(topic)
        for m in read_assigned(consumer, topic, dict.fromkeys(ends, 0), ends):
            value = decode(m)
            if value is not None:
                yield value
    finally:
        consumer.close()


def read_assigned(
    consumer: Consumer,
    topic: str,
    starts: dict[int, int],
    ends: dict[int, int],
    *,
    group: str | None = None,
) -> Iterator[Message]:
    """Assign ``consumer`` (the caller's, configured with :data:`READER_OVERRIDES`) to the
    partitions of ``topic`` at ``starts`` and yield their records up to ``ends``.

    ``group``: the consumer's group when the caller commits in it (replay). Without one, a
    refusal to look the group up is ignored: librdkafka wants a ``group.id`` and looks its
    coordinator up even for assigned partitions (confluent-kafka-python#250), but a reader
    never commits, so its principal needs no ACL on that group.
    """
    access = Access(
        topic=(AclOperation.READ, topic),
        group=None if group is None else (AclOperation.READ, group),
    )
    remaining = {p for p, end in ends.items() if starts.get(p, 0) < end}
    consumer.assign([TopicPartition(topic, p, starts.get(p, 0)) for p in remaining])
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
            partition = m.partition() or 0
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(partition)
                    continue
                if group is None and err.code() == KafkaError.GROUP_AUTHORIZATION_FAILED:
                    continue
                refused = authorization_error(err, f"reading {topic!r}", access)
                if refused is not None:
                    raise refused
                msg = f"reading {topic!r}: {err.str()}"
                raise KafkaClientError(msg)
            if partition not in remaining:
                continue  # already at its end: records beyond it came after we started
            yield m
            if (m.offset() or 0) + 1 >= ends[partition]:
                remaining.discard(partition)
