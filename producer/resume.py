"""Finding where a killed produce run stopped, from the log itself.

Every transaction of a run ends with a progress record on ``vcp.datasets`` (key
``<dataset_id>/progress/<topic>``, value: conversations ``0 .. produced_through-1`` are
committed). It commits atomically with the conversations it counts, so the newest progress
record a read_committed reader sees is exactly the resume point: no gap, no duplicate.
"""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, TopicPartition

from schemas.codec import DatasetEventCodec
from voicelens.kafka.configuration import consumer_config
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.settings import KafkaSettings

__all__ = ["progress_key", "read_progress"]


def progress_key(dataset_id: str, topic: str) -> str:
    """The compacted key of a run's progress record."""
    return f"{dataset_id}/progress/{topic}"


def read_progress(settings: KafkaSettings, datasets_topic: str, key: str, partitions: int) -> int:
    """The highest committed ``produced_through`` for ``key`` (0 when none)."""
    conf = consumer_config(settings, group_id="voicelens-produce-resume")
    conf.update({"enable.auto.commit": False, "enable.partition.eof": True})
    consumer = Consumer(conf)
    codec = DatasetEventCodec()
    wanted = key.encode()
    best = 0
    try:
        consumer.assign([TopicPartition(datasets_topic, p, 0) for p in range(partitions)])
        remaining = set(range(partitions))
        idle = 0
        while remaining:
            msgs = consumer.consume(500, 1.0)
            if not msgs:
                idle += 1
                if idle > 30:
                    msg = f"timed out reading progress from {datasets_topic!r}"
                    raise KafkaClientError(msg)
                continue
            idle = 0
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(m.partition() or 0)
                        continue
                    msg = f"reading {datasets_topic!r}: {err.str()}"
                    raise KafkaClientError(msg)
                if m.key() == wanted:
                    event = codec.decode(m.value() or b"")
                    best = max(best, int(event["produced_through"] or 0))
    finally:
        consumer.close()
    return best
