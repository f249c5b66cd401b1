"""Reading whole topics from the beginning to the end offsets seen at start (read_committed).

Partitions are assigned directly — no group, no commits — so a report never disturbs delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from voicelens.kafka import TopicAdmin
from voicelens.kafka.configuration import consumer_config
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.settings import KafkaSettings

__all__ = ["read_directory", "read_topic"]

T = TypeVar("T")


def read_topic(
    settings: KafkaSettings, topic: str, decode: Callable[[Message], T | None]
) -> Iterator[T]:
    """Every record of ``topic`` up to its end at start, decoded (None results are dropped)."""
    admin = TopicAdmin(settings)
    if admin.partition_count(topic) is None:
        return
    conf = consumer_config(settings, group_id="voicelens-report")
    conf.update({"enable.auto.commit": False, "enable.partition.eof": True})
    consumer = Consumer(conf)
    try:
        ends = admin.end_offsets(topic)
        remaining = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in remaining])
        idle = 0
        while remaining:
            msgs = consumer.consume(1000, 1.0)
            if not msgs:
                idle += 1
                if idle > 30:
                    msg = f"timed out reading {topic!r}"
                    raise KafkaClientError(msg)
                continue
            idle = 0
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


def read_directory(
    directory: Path,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, str]]:
    """(conversations, manifest or None, unreadable files by name) of a directory of JSON files."""
    conversations: list[dict[str, Any]] = []
    unreadable: dict[str, str] = {}
    manifest = None
    for path in sorted(directory.glob("*.json")):
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            unreadable[path.name] = f"malformed JSON: {exc}"
            continue
        if path.name == "manifest.json":
            manifest = doc
        else:
            conversations.append(doc)
    jsonl = directory / "conversations.jsonl"
    if jsonl.exists():
        for n, line in enumerate(jsonl.read_bytes().splitlines(), 1):
            try:
                conversations.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                unreadable[f"conversations.jsonl:{n}"] = f"malformed JSON: {exc}"
    return conversations, manifest, unreadable
