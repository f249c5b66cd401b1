"""Parallel endpoints, the circuit breaker and key ordering, end to end: real sinks, a real
broker, ``deliver`` as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable

import pytest
from delivery_support import SECRET_PATH, Sink, dead_letters, deliver_cmd, produce_conversations

from voicelens.kafka import KafkaProducer
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.mark.timeout(240)
def test_two_endpoints_each_take_their_partitions_within_their_own_budget(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(6)
    # ~15 s at each endpoint's 20 req/s: enough seconds for the per-second bound to bite.
    ids = produce_conversations(kafka_settings, topic, 600)
    a, b = sink_factory(), sink_factory()
    cmd = deliver_cmd(
        kafka_settings, topic, group_factory(), a.url, "--until-drained", "--max-rps", "20"
    )
    cmd += ["--webhook-url", b.url + SECRET_PATH]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=200)
    assert run.returncode == 0, run.stderr[-2000:]
    got_a = {r["call_id"] for r in a.requests() if r["status"] == 200}
    got_b = {r["call_id"] for r in b.requests() if r["status"] == 200}
    assert got_a | got_b == set(ids)
    assert not got_a & got_b  # every call reaches exactly one endpoint
    assert 0.35 < len(got_a) / len(ids) < 0.65  # even and odd partitions: near half each
    for sink in (a, b):
        stats = sink.stats()
        assert stats["duplicates"] == 0
        # Sent at most 20 in any second of the grid; a request sent at a second's very end can
        # arrive in the next one, so the receiver may count one more.
        assert stats["max_per_second"] <= 21, stats["per_second"]
    assert "SuperSecretToken123" not in run.stderr


def test_a_duplicate_endpoint_is_refused_naming_the_flag(kafka_settings: KafkaSettings) -> None:
    url = "http://127.0.0.1:9/hook"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicelens",
            "deliver",
            "--bootstrap-servers",
            kafka_settings.bootstrap_servers,
            "--webhook-url",
            url,
            "--webhook-url",
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 2
    assert "--webhook-url (VOICELENS_WEBHOOK_URL)" in run.stderr
    assert "given twice" in run.stderr


@pytest.mark.timeout(240)
def test_an_outage_opens_the_breaker_and_nothing_is_lost_or_dead_lettered(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(3)
    ids = produce_conversations(kafka_settings, topic, 500)
    sink = sink_factory("--down-after", "100", "--down-for", "6")
    cmd = deliver_cmd(
        kafka_settings,
        topic,
        group_factory(),
        sink.url,
        "--until-drained",
        "--max-rps",
        "50",
        "--breaker-cool-down",
        "1",
        "--max-attempts",
        "3",
        "--log-format",
        "json",
    )
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=200)
    assert run.returncode == 0, run.stderr[-2000:]
    assert {r["call_id"] for r in sink.requests() if r["status"] == 200} == set(ids)
    assert not dead_letters(kafka_settings, topic)  # down is not the records' fault
    circuit = [
        json.loads(line)["circuit"] for line in run.stderr.splitlines() if '"circuit"' in line
    ]
    assert circuit[0] == "open"
    assert "half_open" in circuit
    assert circuit[-1] == "closed"
    # 6 s at 50 req/s would be 300 requests into the outage, and more with retries: the open
    # breaker sends only the requests that opened it, those already in flight, and the probes.
    assert sink.stats()["outage_requests"] < 100, sink.stats()


def _keyed(
    settings: KafkaSettings, topic: str, keys: int, per_key: int
) -> dict[str, tuple[str, int]]:
    """Records of ``keys`` customers, ``per_key`` each, interleaved; call id -> (key, rank)."""
    ds = Dataset.from_options(
        GeneratorOptions(count=keys * per_key, seed=11, end_time="2026-11-01T00:00:00Z")
    )
    codec = ConversationCodec()
    placed: dict[str, tuple[str, int]] = {}
    with KafkaProducer(settings) as producer:
        for i, conv in enumerate(ds.conversations()):
            key = f"customer-{i % keys}"
            env = ConversationEnvelope(f"e{i}", ds.dataset_id, i, 0, "test")
            producer.produce(topic, codec.encode(env, conv), key.encode())
            placed[conv["call_id"]] = (key, i // keys)
    return placed


@pytest.mark.timeout(240)
def test_key_ordering_delivers_each_key_in_offset_order_despite_retries(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(2)
    placed = _keyed(kafka_settings, topic, keys=8, per_key=25)
    sink = sink_factory("--first-error-rate", "0.3", "--seed", "4")
    cmd = deliver_cmd(
        kafka_settings,
        topic,
        group_factory(),
        sink.url,
        "--until-drained",
        "--ordering",
        "key",
        "--max-in-flight",
        "32",
    )
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=200)
    assert run.returncode == 0, run.stderr[-2000:]
    requests = sink.requests()
    assert sum(1 for r in requests if r["status"] == 503) > 20  # retries really happened
    order: dict[str, list[int]] = defaultdict(list)
    for r in requests:
        if r["status"] == 200:
            key, rank = placed[r["call_id"]]
            order[key].append(rank)
    assert len(order) == 8
    for key, ranks in order.items():
        assert ranks == list(range(25)), (key, ranks)
