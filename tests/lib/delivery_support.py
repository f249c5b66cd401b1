"""Helpers for delivery tests: a real sink process, records on a real topic, a deliver command."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

from voicelens.consumer.delivery_config import DeliveryConfig
from voicelens.kafka import KafkaProducer
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.report.readers import read_topic
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope, DeliveryEventCodec
from voicelens.settings import KafkaSettings
from voicelens.sink.process import LocalSink, start_local_sink

SECRET_PATH = "/vcp-webhook/a/acme/s/SuperSecretToken123"


#: A `voicelens sink` process (see voicelens.sink.process).
Sink = LocalSink


def delivery_config(**changes: Any) -> DeliveryConfig:
    """An engine configuration for pure-logic tests: one topic of 6 partitions, unlimited, with
    ``changes`` on top."""
    fields: dict[str, Any] = {
        "topic": "t",
        "group": "g",
        "consumer_id": "c",
        "deliveries_topic": "d",
        "dlq_topic": "t.dlq",
        "webhook_label": "http://h/…",
        "partition_rps": None,
        "partitions": 6,
        "max_in_flight": 64,
        "partition_window": 16,
        "grace": 1.0,
        "revoke_timeout": 1.0,
        "until_drained": False,
        "end_offsets": {},
    }
    return DeliveryConfig(**(fields | changes))


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def produce_conversations(
    settings: KafkaSettings,
    topic: str,
    n: int,
    *,
    poison: int = 0,
    seed: int = 3,
    partition: int | None = None,
) -> list[str]:
    """n generated conversations (plus ``poison`` undecodable records); returns the call ids.
    ``partition``: all of them on that one (None: by key)."""
    ds = Dataset.from_options(GeneratorOptions(count=n, seed=seed, end_time="2026-11-01T00:00:00Z"))
    codec = ConversationCodec()
    ids = []
    with KafkaProducer(settings) as producer:
        for i, conv in enumerate(ds.conversations()):
            env = ConversationEnvelope(f"e{i}", ds.dataset_id, i, 0, "test")
            producer.produce(
                topic, codec.encode(env, conv), conv["call_id"].encode(), partition=partition
            )
            ids.append(conv["call_id"])
        for j in range(poison):
            producer.produce(topic, b"\x00not avro at all", f"poison-{j}".encode())
    return ids


def deliver_cmd(
    settings: KafkaSettings, topic: str, group: str, url: str, *flags: str
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "voicelens",
        "deliver",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--topic",
        topic,
        "--group",
        group,
        "--deliveries-topic",
        f"{topic}-deliveries",
        "--webhook-url",
        url + SECRET_PATH,
        *flags,
    ]


def deliveries(settings: KafkaSettings, topic: str) -> list[dict[str, Any]]:
    codec = DeliveryEventCodec()
    return list(
        read_topic(settings, f"{topic}-deliveries", lambda m: codec.decode(m.value() or b""))
    )


def dead_letters(settings: KafkaSettings, topic: str) -> list[Any]:
    return list(read_topic(settings, f"{topic}.dlq", lambda m: m))


def start_sink(tmp_path: Path, *flags: str) -> Sink:
    """`voicelens sink` as a real process on a free port, recording requests."""
    return start_local_sink(tmp_path, *flags, record=True)


def stop_sink(sink: Sink) -> None:
    """Stop a sink process."""
    sink.stop(timeout=10)
