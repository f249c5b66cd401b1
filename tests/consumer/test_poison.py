"""Poison never stops the group: bad records among good ones, two members, the real broker.

Every record that cannot be decoded ends in the DLQ with its typed reason, untouched (a null
value stays null); a call id no HTTP header could carry is posted under a header-safe id; both
members drain and exit 0, and every good call arrives.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from delivery_support import Sink, dead_letters, deliver_cmd, deliveries

from voicelens.consumer.pipeline import webhook_id_for
from voicelens.kafka import KafkaProducer, TopicAdmin
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
from voicelens.schemas.fingerprint import MARKER
from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

UNICODE_ID = "call_日本語-Ω"


def test_bad_records_go_to_the_dlq_with_their_reason_and_the_group_drains(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(4)
    codec = ConversationCodec()
    ds = Dataset.from_options(GeneratorOptions(count=80, seed=5, end_time="2026-11-01T00:00:00Z"))
    good: list[str] = []
    valid = b""
    with KafkaProducer(kafka_settings) as producer:
        for i, generated in enumerate(ds.conversations()):
            conv = {**generated, "call_id": UNICODE_ID} if i == 40 else generated
            value = codec.encode(ConversationEnvelope(f"e{i}", ds.dataset_id, i, 0, "t"), conv)
            valid = value
            producer.produce(topic, value, conv["call_id"].encode())
            good.append(conv["call_id"])
            if i % 20 == 10:  # the poison, spread among the good records
                n = i // 20
                producer.produce(topic, None, f"null-{n}".encode())
                producer.produce(topic, b"", f"empty-{n}".encode())
                producer.produce(topic, b'{"call_id": "x"}', f"json-{n}".encode())
                wrong = MARKER + b"\x00" * 8 + valid[10:]  # a writer schema nobody knows
                producer.produce(topic, wrong, f"fingerprint-{n}".encode())
    sink = sink_factory()
    group = group_factory()
    cmd = deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained")
    procs = [
        subprocess.Popen([*cmd, "--consumer-id", f"p{i}"], stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    try:
        errors = [p.communicate(timeout=150)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], errors

    accepted = {r["call_id"]: r["webhook_id"] for r in sink.requests() if r["status"] == 200}
    assert set(accepted) == set(good)  # every good call arrived, the unicode one included
    assert accepted[UNICODE_ID] == webhook_id_for(UNICODE_ID)
    assert accepted[UNICODE_ID].isascii()

    dlq = dead_letters(kafka_settings, topic)
    by_key = {m.key().decode(): m for m in dlq}
    kinds = ("null", "empty", "json", "fingerprint")
    assert set(by_key) == {f"{k}-{n}" for k in kinds for n in range(4)}
    for key, m in by_key.items():
        headers = dict(m.headers())
        assert headers["voicelens-dlq-reason"] == b"undecodable", key
        assert headers["voicelens-dlq-detail"], key  # says what was wrong, for people
    assert all(by_key[f"null-{n}"].value() is None for n in range(4))  # null stays null
    assert all(by_key[f"empty-{n}"].value() == b"" for n in range(4))
    assert b"first byte 7b" in dict(by_key["json-0"].headers())["voicelens-dlq-detail"]
    assert b"fingerprint" in dict(by_key["fingerprint-0"].headers())["voicelens-dlq-detail"]

    events = deliveries(kafka_settings, topic)
    dead_events = [e for e in events if e["outcome"] == "dead_lettered"]
    assert len(dead_events) == 16
    assert {e["reason"] for e in dead_events} == {"undecodable"}
    assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)
