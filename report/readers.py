"""Reading whole topics from the beginning to the end offsets seen at start (read_committed).

Partitions are assigned directly — no group, no commits — so a report never disturbs delivery.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from report.exceptions import ReportError
from voicelens.kafka import TopicAdmin
from voicelens.kafka.configuration import consumer_config
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.settings import KafkaSettings

__all__ = ["read_directory", "read_topic"]

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
        group_id="voicelens-report",
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


def _looks_like_conversation(doc: Any) -> bool:
    # Anything with none of the envelope's keys is some other file (a progress file, a report),
    # not a broken conversation: it is listed as skipped rather than failing validity.
    return isinstance(doc, dict) and bool({"call_id", "vcp_version", "vcp_payload"} & doc.keys())


def read_directory(
    directory: Path,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, str]]:
    """(conversations in file-name order, manifest or None, skipped files by name, with why).

    The files of ``voicelens generate`` are named by index, so file-name order is dataset order;
    ``conversations.jsonl`` (JSON Lines output) is read in line order after them.
    """
    if not directory.is_dir():
        msg = f"{directory} is not a directory (--from-dir)"
        raise ReportError(msg)
    conversations: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    manifest = None
    for path in sorted(directory.glob("*.json")):
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            skipped[path.name] = f"malformed JSON: {exc}"
            continue
        if path.name == "manifest.json":
            manifest = doc if isinstance(doc, dict) else None
        elif _looks_like_conversation(doc):
            conversations.append(doc)
        else:
            skipped[path.name] = "not a VCP conversation"
    jsonl = directory / "conversations.jsonl"
    if jsonl.exists():
        for n, line in enumerate(jsonl.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                skipped[f"conversations.jsonl:{n}"] = f"malformed JSON: {exc}"
                continue
            if _looks_like_conversation(doc):
                conversations.append(doc)
            else:
                skipped[f"conversations.jsonl:{n}"] = "not a VCP conversation"
    return conversations, manifest, skipped
