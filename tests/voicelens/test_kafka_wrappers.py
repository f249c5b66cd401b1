"""The thin Kafka wrappers against the real broker."""

from __future__ import annotations

import os
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from confluent_kafka import TopicPartition

from voicelens.kafka import KafkaConsumer, KafkaProducer, TopicAdmin, TopicSpec
from voicelens.kafka.configuration import consumer_config, producer_config, redact_config
from voicelens.kafka.exceptions import (
    BrokerUnavailableError,
    KafkaClientError,
    TopicMismatchError,
    TopicMissingError,
)
from voicelens.kafka.reader import read_topic
from voicelens.kafka.transactional import TransactionalProducer
from voicelens.settings import KafkaSettings


def test_pass_through_settings_win_over_defaults() -> None:
    settings = KafkaSettings(
        kafka_config={"security.protocol": "SASL_SSL", "sasl.password": "hunter2", "acks": "1"}
    )
    conf = producer_config(settings)
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["acks"] == "1"
    assert consumer_config(settings, "g")["enable.auto.offset.store"] is False
    safe = redact_config(conf)
    assert safe["sasl.password"] == "***"
    assert "error_cb" not in safe


@pytest.mark.kafka
def test_ensure_creates_once_and_rejects_other_partition_count(
    admin: TopicAdmin, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(3)
    assert admin.partition_count(topic) == 3
    assert admin.ensure(TopicSpec(topic, 3)) is False
    with pytest.raises(TopicMismatchError, match="3 partitions"):
        admin.ensure(TopicSpec(topic, 4))
    with pytest.raises(TopicMissingError):
        admin.require(topic + "-absent")


@pytest.mark.kafka
def test_produce_consume_and_store_offsets(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
) -> None:
    topic = topic_factory(2)
    with KafkaProducer(kafka_settings) as producer:
        for i in range(20):
            producer.produce(topic, f"v{i}".encode(), key=f"k{i}".encode())
    assert producer.acked == 20
    assert sum(admin.end_offsets(topic).values()) == 20

    group = group_factory()
    seen: list[bytes] = []
    with KafkaConsumer(kafka_settings, group) as consumer:
        consumer.subscribe([topic])
        for _ in range(50):
            for msg in consumer.consume(100, 0.5):
                if msg.error() is None:
                    seen.append(msg.value() or b"")
                    consumer.store([TopicPartition(topic, msg.partition(), msg.offset() + 1)])
            if len(seen) == 20:
                break
        consumer.commit()
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(20))
    assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)


@pytest.mark.kafka
def test_unreachable_broker_is_a_clear_error() -> None:
    admin = TopicAdmin(KafkaSettings(bootstrap_servers="127.0.0.1:1"), timeout=2)
    with pytest.raises(BrokerUnavailableError):
        admin.partition_count("anything")


@pytest.mark.kafka
@pytest.mark.parametrize("reach_first", [False, True], ids=["init", "init-after-metadata"])
def test_a_transaction_counts_its_records_when_it_commits(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    reach_first: bool,
) -> None:
    topic = topic_factory(2)
    values = [bytes([k]) * (100 + k) for k in range(10)]
    with TransactionalProducer(kafka_settings, f"txn-{topic}") as producer:
        producer.init(topic if reach_first else None)
        producer.begin()
        for k, value in enumerate(values):
            producer.produce(topic, value, f"k{k}".encode(), partition=k % 2 if k else None)
        assert (producer.acked, producer.acked_bytes) == (0, 0)  # nothing committed yet
        producer.commit()
        assert (producer.acked, producer.acked_bytes) == (10, sum(map(len, values)))
    assert sum(admin.end_offsets(topic).values()) >= 10


@pytest.mark.kafka
def test_a_refused_record_fails_its_transaction_and_counts_nothing(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str]
) -> None:
    """Only failures are reported per record: the refusal must still reach commit()."""
    topic = topic_factory(1, config={"max.message.bytes": "2000"})
    with TransactionalProducer(kafka_settings, f"txn-{topic}") as producer:
        producer.init()
        producer.begin()
        producer.produce(topic, b"small")
        producer.produce(topic, os.urandom(50_000))  # incompressible, beyond the topic's limit
        with pytest.raises(KafkaClientError, match="not acknowledged"):
            producer.commit()
        assert (producer.acked, producer.acked_bytes) == (0, 0)
        # librdkafka would purge or reject the next transaction's records: refused, clearly.
        with pytest.raises(KafkaClientError, match="start a new one"):
            producer.begin()
    # A new producer with the same id fences the old one and commits; the aborted
    # transaction's records stay unread.
    with TransactionalProducer(kafka_settings, f"txn-{topic}") as producer:
        producer.init()
        producer.begin()
        producer.produce(topic, b"after")
        producer.commit()
        assert (producer.acked, producer.acked_bytes) == (1, 5)
    assert list(read_topic(kafka_settings, topic, lambda m: m.value())) == [b"after"]


@pytest.mark.kafka
def test_init_after_metadata_fences_an_open_transaction(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str]
) -> None:
    """A killed run's open transaction is aborted by the next init, with the metadata step
    first as ``produce`` and ``replay`` call it."""
    topic = topic_factory(1)
    killed = TransactionalProducer(kafka_settings, f"txn-{topic}")
    killed.init(topic)
    killed.begin()
    killed.produce(topic, b"open")
    killed.client.flush(10)  # on the broker, inside a transaction nobody commits
    with TransactionalProducer(kafka_settings, f"txn-{topic}") as producer:
        producer.init(topic)
        producer.begin()
        producer.produce(topic, b"after")
        producer.commit()
    assert list(read_topic(kafka_settings, topic, lambda m: m.value())) == [b"after"]
    with pytest.raises(KafkaClientError, match="fenced"):  # the old instance is fenced
        killed.commit()
    with pytest.raises(KafkaClientError, match="fenced"):
        killed.close()


class _Answers:
    """Metadata answers from these broker ids in turn (-1: the bootstrap address); the rest of
    a confluent-kafka Producer is not used by the step under test."""

    def __init__(self, *origins: int, then: int = 1) -> None:
        self.origins = list(origins)
        self.then = then
        self.asked: list[str] = []
        #: The timeout init_transactions was given; None: not called.
        self.init_timeout: float | None = None

    def list_topics(self, topic: str, timeout: float) -> SimpleNamespace:
        assert timeout > 0
        self.asked.append(topic)
        return SimpleNamespace(orig_broker_id=self.origins.pop(0) if self.origins else self.then)

    def init_transactions(self, timeout: float) -> None:
        self.init_timeout = timeout


@pytest.mark.parametrize(("origins", "asked"), [((1,), 1), ((-1, 2), 2), ((-1, -1, -1, 3), 4)])
def test_init_asks_until_a_learned_broker_answers(origins: tuple[int, ...], asked: int) -> None:
    producer = TransactionalProducer(KafkaSettings(), "txn-pure", timeout=30.0)
    fake = _Answers(*origins)
    producer._producer = fake
    producer.init("vcp.datasets")
    assert fake.asked == ["vcp.datasets"] * asked
    assert fake.init_timeout is not None
    assert 0 < fake.init_timeout <= 30.0  # what the step left of the producer's timeout


def test_init_without_a_topic_asks_for_no_metadata() -> None:
    producer = TransactionalProducer(KafkaSettings(), "txn-pure", timeout=30.0)
    fake = _Answers(-1)
    producer._producer = fake
    producer.init()
    assert fake.asked == []
    assert fake.init_timeout is not None
    assert 29.0 < fake.init_timeout <= 30.0  # the whole timeout: nothing spent before it


def test_init_stops_asking_at_its_timeout() -> None:
    """A cluster whose learned brokers never answer: the step gives up at the timeout and
    leaves the verdict to init_transactions."""
    producer = TransactionalProducer(KafkaSettings(), "txn-pure", timeout=0.05)
    fake = _Answers(then=-1)
    producer._producer = fake
    producer.init("t")
    assert len(fake.asked) >= 1
    # The step spent the whole budget: init_transactions gets the least it accepts, and its
    # "timed out" becomes the producer's error.
    assert fake.init_timeout == 0.001
