"""Finding where a killed produce run stopped, from the log itself.

Every transaction of a run ends with a progress record on ``vcp.datasets`` (key
``<dataset_id>/progress/<topic>``, value: conversations ``0 .. produced_through-1`` are
committed). It commits atomically with the conversations it counts, so the newest progress
record a read_committed reader sees is exactly the resume point: no gap, no duplicate.
"""

from __future__ import annotations

from confluent_kafka import Message

from voicelens.kafka.reader import read_topic
from voicelens.schemas.codec import DatasetEventCodec
from voicelens.settings import KafkaSettings

__all__ = ["progress_key", "read_progress"]


def progress_key(dataset_id: str, topic: str) -> str:
    """The compacted key of a run's progress record."""
    return f"{dataset_id}/progress/{topic}"


def read_progress(settings: KafkaSettings, datasets_topic: str, key: str) -> int:
    """The highest committed ``produced_through`` for ``key`` (0 when none)."""
    codec = DatasetEventCodec()
    wanted = key.encode()

    def decode(m: Message) -> int | None:
        if m.key() != wanted:
            return None
        return int(codec.decode(m.value() or b"")["produced_through"] or 0)

    return max(read_topic(settings, datasets_topic, decode), default=0)
