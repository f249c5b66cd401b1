"""The Confluent wire format end to end: real broker, real Apicurio Registry, real sink.

``produce --schema-registry-url`` writes what confluent-kafka's own ``AvroDeserializer`` reads;
``deliver`` and ``report`` read it, and topics holding both framings, in full.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from delivery_support import (
    Sink,
    dead_letters,
    deliver_cmd,
    deliveries,
    free_port,
    produce_conversations,
)

from voicelens.kafka import KafkaProducer, TopicAdmin
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.producer.publisher import Publisher
from voicelens.producer.sources import GeneratedSource
from voicelens.report.readers import read_topic
from voicelens.report.sources import TopicNames, from_topics
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
from voicelens.schemas.registry import load
from voicelens.schemas.schema_registry import SchemaRegistry, SchemaRegistrySettings
from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.registry]
END = "2026-11-01T00:00:00Z"
UNKNOWN_ID = 0x7FFF_FFF0


def run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)


def produce_cmd(settings: KafkaSettings, topic: str, registry: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "voicelens",
        "produce",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--topic",
        topic,
        "--datasets-topic",
        f"{topic}-datasets",
        "--end-time",
        END,
        "--schema-registry-url",
        registry,
        *args,
    ]


def call_ids(count: int, seed: int) -> list[str]:
    dataset = Dataset.from_options(GeneratorOptions(count=count, seed=seed, end_time=END))
    return [c["call_id"] for c in dataset.conversations()]


def test_produce_writes_what_confluents_deserializer_reads_and_deliver_posts_it_all(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
    schema_registry_url: str,
) -> None:
    topic = topic_factory(3)
    cmd = produce_cmd(kafka_settings, topic, schema_registry_url, "--count", "500")
    produced = run([*cmd, "--partitions", "3"])
    assert produced.returncode == 0, produced.stderr
    assert "produced 500 records" in produced.stderr
    expected = call_ids(500, 42)

    with SchemaRegistryClient({"url": schema_registry_url}) as client:
        assert client.get_compatibility(f"{topic}-value") == "BACKWARD"
        schema_id = client.get_latest_version(f"{topic}-value").schema_id
        deserializer = AvroDeserializer(client)
        context = SerializationContext(topic, MessageField.VALUE)
        values = list(read_topic(kafka_settings, topic, lambda m: m.value()))
        decoded = [deserializer(v, context) for v in values]
    assert len(values) == 500
    assert {v[:5] for v in values if v} == {b"\x00" + schema_id.to_bytes(4, "big")}
    assert sorted(d["conversation"]["call_id"] for d in decoded if d) == sorted(expected)

    sink = sink_factory()
    group = group_factory()
    cmd = deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained")
    result = run([*cmd, "--schema-registry-url", schema_registry_url])
    assert result.returncode == 0, result.stderr
    assert {r["call_id"] for r in sink.requests()} == set(expected)
    assert sink.stats()["unique_call_ids"] == 500
    assert dead_letters(kafka_settings, topic) == []
    assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)


def test_a_topic_with_both_framings_delivers_fully_and_unknown_ids_are_dead_lettered(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
    schema_registry_url: str,
) -> None:
    topic, datasets = topic_factory(2), topic_factory(1, suffix="-datasets")
    single_ids = produce_conversations(kafka_settings, topic, 40, seed=3)
    settings = SchemaRegistrySettings(schema_registry_url=schema_registry_url)
    with SchemaRegistry(settings) as registry:
        schema_id = registry.register(f"{topic}-value", load("conversation").current_json)
    # Worker processes encode from the first record here (parallel_from=1): they write the
    # wire format too.
    wire = Dataset.from_options(GeneratorOptions(count=40, seed=5, end_time=END))
    publisher = Publisher(
        kafka_settings, topic, 2, datasets, workers=2, parallel_from=1, schema_id=schema_id
    )
    assert publisher.publish(GeneratedSource(wire)).published == 40
    wire_ids = [c["call_id"] for c in wire.conversations()]
    conversation = next(iter(wire.conversations()))
    envelope = ConversationEnvelope("e-x", "elsewhere", 0, 0, "test")
    unknown = ConversationCodec(schema_id=UNKNOWN_ID).encode(envelope, conversation)
    trailing = ConversationCodec(schema_id=schema_id).encode(envelope, conversation) + b"xx"
    with KafkaProducer(kafka_settings) as producer:
        producer.produce(topic, unknown, b"unknown-id")
        producer.produce(topic, trailing, b"trailing")

    sink = sink_factory()
    group = group_factory()
    cmd = deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained")
    result = run([*cmd, "--schema-registry-url", schema_registry_url])
    assert result.returncode == 0, result.stderr
    assert {r["call_id"] for r in sink.requests()} == set(single_ids) | set(wire_ids)
    assert sink.stats()["unique_call_ids"] == 80
    dlq = {m.key(): m for m in dead_letters(kafka_settings, topic)}
    assert set(dlq) == {b"unknown-id", b"trailing"}
    assert dict(dlq[b"unknown-id"].headers())["voicelens-dlq-reason"] == b"unknown_schema"
    assert dict(dlq[b"trailing"].headers())["voicelens-dlq-reason"] == b"undecodable"
    assert dlq[b"unknown-id"].value() == unknown  # the original bytes
    assert dlq[b"trailing"].value() == trailing
    reasons = {e["reason"] for e in deliveries(kafka_settings, topic) if e["reason"]}
    assert reasons == {"unknown_schema", "undecodable"}
    assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)

    with SchemaRegistry(settings) as registry:
        names = TopicNames(
            conversations=topic,
            datasets=datasets,
            deliveries=f"{topic}-deliveries",
            dead_letters=f"{topic}.dlq",
            dataset_id=wire.dataset_id,
        )
        loaded = from_topics(kafka_settings, names, registry.writer_schema)
    assert [c["call_id"] for c in loaded.conversations] == wire_ids
    assert loaded.manifest is not None


def test_an_unreachable_registry_publishes_nothing(
    kafka_settings: KafkaSettings, admin: TopicAdmin, topic_factory: Callable[..., str]
) -> None:
    topic = f"{topic_factory(1)}-never"
    url = f"http://127.0.0.1:{free_port()}/apis/ccompat/v7"
    result = run(produce_cmd(kafka_settings, topic, url, "--count", "10"))
    assert result.returncode == 1
    assert "unreachable" in result.stderr
    assert "VOICELENS_SCHEMA_REGISTRY_URL" in result.stderr
    assert admin.partition_count(topic) is None  # not even created


def test_an_incompatible_schema_publishes_nothing_and_names_the_field(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    schema_registry_url: str,
) -> None:
    topic = f"{topic_factory(1)}-never"
    old = dict(load("conversation").current_json)
    old["fields"] = [f for f in old["fields"] if f["name"] != "generator_version"]
    with SchemaRegistry(SchemaRegistrySettings(schema_registry_url=schema_registry_url)) as reg:
        reg.register(f"{topic}-value", old)
    result = run(produce_cmd(kafka_settings, topic, schema_registry_url, "--count", "10"))
    assert result.returncode == 1
    assert "ConversationEvent.generator_version: added without a default" in result.stderr
    assert admin.partition_count(topic) is None


def test_deliver_stops_with_a_clear_error_when_the_registry_is_unreachable(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
    schema_registry_url: str,
) -> None:
    topic = topic_factory(1)
    settings = SchemaRegistrySettings(schema_registry_url=schema_registry_url)
    with SchemaRegistry(settings) as registry:
        schema_id = registry.register(f"{topic}-value", load("conversation").current_json)
    codec = ConversationCodec(schema_id=schema_id)
    dataset = Dataset.from_options(GeneratorOptions(count=5, seed=8, end_time=END))
    with KafkaProducer(kafka_settings) as producer:
        for i, conversation in enumerate(dataset.conversations()):
            envelope = ConversationEnvelope(f"e{i}", dataset.dataset_id, i, 0, "test")
            producer.produce(topic, codec.encode(envelope, conversation), b"k")
    sink = sink_factory()
    group = group_factory()
    cmd = deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained")
    unreachable = f"http://127.0.0.1:{free_port()}/apis/ccompat/v7"
    result = run([*cmd, "--schema-registry-url", unreachable])
    assert result.returncode == 1
    assert "unreachable" in result.stderr
    assert "VOICELENS_SCHEMA_REGISTRY_URL" in result.stderr
    # Nothing counted as done: not posted, not dead-lettered, not committed.
    assert sink.requests() == []
    assert dead_letters(kafka_settings, topic) == []
    assert admin.committed_offsets(topic, group).get(0, 0) == 0
