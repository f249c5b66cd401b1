"""`voicelens replay`: chosen dead letters back on their topic, exactly once per replay group."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from delivery_support import (
    Sink,
    dead_letters,
    deliver_cmd,
    produce_conversations,
)

from voicelens.consumer.replay import REPLAYED_FROM_HEADER, Selection, replayed_headers
from voicelens.kafka import KafkaProducer, TopicAdmin, read_topic
from voicelens.schemas.dead_letters import DLQ_HEADER_PREFIX, DeadLetterFacts, DeadLetterReason
from voicelens.settings import KafkaSettings


def _facts(reason: DeadLetterReason | None, status: int | None) -> DeadLetterFacts:
    return DeadLetterFacts(reason, "", status, 1, 0, 0, "t", 0, 0)


def test_selection_by_reason_status_and_call_id() -> None:
    rejected_422 = _facts(DeadLetterReason.REJECTED, 422)
    rejected_410 = _facts(DeadLetterReason.REJECTED, 410)
    exhausted_503 = _facts(DeadLetterReason.RETRIES_EXHAUSTED, 503)
    assert Selection().chooses(b"a", rejected_422)
    assert Selection().chooses(b"a", _facts(None, None))  # unknown reasons are not lost
    by_reason = Selection(reasons=frozenset({DeadLetterReason.RETRIES_EXHAUSTED}))
    assert by_reason.chooses(b"a", exhausted_503)
    assert not by_reason.chooses(b"a", rejected_422)
    by_status = Selection(statuses=frozenset({410, 503}))
    assert by_status.chooses(b"a", rejected_410)
    assert by_status.chooses(b"a", exhausted_503)
    assert not by_status.chooses(b"a", rejected_422)
    assert not by_status.chooses(b"a", _facts(DeadLetterReason.TIMED_OUT, None))
    both = Selection(reasons=frozenset({DeadLetterReason.REJECTED}), call_ids=frozenset({"a"}))
    assert both.chooses(b"a", rejected_422)
    assert not both.chooses(b"b", rejected_422)
    assert not both.chooses(None, rejected_422)


def test_dead_letter_facts_survive_the_headers() -> None:
    facts = DeadLetterFacts(DeadLetterReason.REDIRECTED, "HTTP 301", 301, 1, 5, 6, "t.x", 2, 9)
    assert DeadLetterFacts.from_headers(facts.headers()) == facts
    odd = DeadLetterFacts.from_headers([(DLQ_HEADER_PREFIX + "reason", b"no such reason")])
    assert odd.reason is None
    assert odd.last_status is None


def test_an_unknown_reason_on_the_command_line_names_the_allowed_ones(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "voicelens", "replay", "--reason", "HTTP 422"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 2
    assert "--reason" in run.stderr
    assert "retries_exhausted" in run.stderr
    assert "Traceback" not in run.stderr


def test_replayed_headers_drop_the_dead_letter_facts_and_name_the_origin() -> None:
    original = [("traceparent", b"00-abc"), (DLQ_HEADER_PREFIX + "reason", b"rejected")]
    assert replayed_headers(original, "t.dlq/1/7") == [
        ("traceparent", b"00-abc"),
        (REPLAYED_FROM_HEADER, b"t.dlq/1/7"),
    ]
    assert replayed_headers(None, "t.dlq/0/0") == [(REPLAYED_FROM_HEADER, b"t.dlq/0/0")]


def _replay(settings: KafkaSettings, topic: str, *flags: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "voicelens",
        "replay",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--topic",
        topic,
        *flags,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=90)


def _deliver(settings: KafkaSettings, topic: str, group: str, sink: Sink) -> None:
    done = subprocess.run(
        deliver_cmd(settings, topic, group, sink.url, "--until-drained"),
        capture_output=True,
        text=True,
        check=False,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr


def _replayed(settings: KafkaSettings, topic: str) -> list[Any]:
    return [
        m
        for m in read_topic(settings, topic, lambda m: m)
        if any(k == REPLAYED_FROM_HEADER for k, _ in m.headers() or [])
    ]


@pytest.mark.kafka
def test_replay_puts_chosen_dead_letters_back_once_and_they_deliver_with_the_same_key(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(3)
    ids = produce_conversations(kafka_settings, topic, 90, poison=2)
    group = group_factory()
    rejecting = sink_factory("--reject-rate", "0.3", "--seed", "5")
    _deliver(kafka_settings, topic, group, rejecting)
    dlq = {m.key().decode(): m for m in dead_letters(kafka_settings, topic)}
    rejected = {k for k in dlq if not k.startswith("poison-")}
    assert 10 < len(rejected) < 50
    assert len(dlq) == len(rejected) + 2
    first_ids = {r["call_id"]: r["webhook_id"] for r in rejecting.requests()}
    ends = admin.end_offsets(topic)
    replay_group = group_factory()

    select = ("--group", replay_group, "--reason", "rejected", "--status", "422")
    dry = _replay(kafka_settings, topic, *select, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would replay {len(rejected)} of {len(dlq)} dead letters" in dry.stderr
    assert admin.end_offsets(topic) == ends  # a dry run changes nothing

    done = _replay(kafka_settings, topic, *select)
    assert done.returncode == 0, done.stderr
    assert f"replayed {len(rejected)} of {len(dlq)} dead letters" in done.stderr
    replayed = _replayed(kafka_settings, topic)
    assert sorted(m.key().decode() for m in replayed) == sorted(rejected)
    for m in replayed:
        original = dlq[m.key().decode()]
        assert m.value() == original.value()  # the record exactly as it was
        assert not [k for k, _ in m.headers() if k.startswith(DLQ_HEADER_PREFIX)]
        origin = dict(m.headers())[REPLAYED_FROM_HEADER].decode()
        assert origin == f"{topic}.dlq/{original.partition()}/{original.offset()}"

    # The replay group's offsets committed with the records: a second pass finds nothing new.
    again = _replay(kafka_settings, topic, *select)
    assert again.returncode == 0, again.stderr
    assert "replayed 0 of 0 dead letters" in again.stderr
    assert len(_replayed(kafka_settings, topic)) == len(rejected)

    # --from-beginning looks at everything again; the selection picks the undecodable ones.
    poison = _replay(
        kafka_settings,
        topic,
        "--group",
        replay_group,
        "--from-beginning",
        "--reason",
        "undecodable",
    )
    assert poison.returncode == 0, poison.stderr
    assert f"replayed 2 of {len(dlq)} dead letters" in poison.stderr

    # The delivery group picks the replayed records up where it left off; a receiver that
    # accepts them now gets exactly the rejected ones, with the idempotency keys of before.
    accepting = sink_factory()
    _deliver(kafka_settings, topic, group, accepting)
    retried = {r["call_id"]: r["webhook_id"] for r in accepting.requests() if r["status"] == 200}
    assert set(retried) == rejected
    assert all(retried[c] == first_ids[c] for c in rejected)
    assert set(ids) >= rejected


@pytest.mark.kafka
@pytest.mark.slow
def test_a_replay_killed_mid_run_and_run_again_publishes_each_dead_letter_once(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
) -> None:
    topic = topic_factory(2)
    dlq = topic_factory(2, suffix=".dlq-big")
    n = 30_000  # enough that the kill lands mid-run; the rerun must find work left
    headers = [(DLQ_HEADER_PREFIX + "reason", b"retries_exhausted")]
    with KafkaProducer(kafka_settings) as producer:
        for i in range(n):
            producer.produce(dlq, f"record-{i}".encode(), f"call-{i}".encode(), headers)
    cmd = [
        sys.executable,
        "-m",
        "voicelens",
        "replay",
        "--bootstrap-servers",
        kafka_settings.bootstrap_servers,
        "--topic",
        topic,
        "--dlq-topic",
        dlq,
        "--group",
        group_factory(),
        "--transaction-size",
        "200",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while sum(admin.end_offsets(topic).values()) < 3000:
        assert proc.poll() is None, "finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    replayed = re.search(r"replayed (\d+) of", rerun.stderr)
    assert replayed, rerun.stderr
    assert int(replayed[1]) > 0, "the kill landed after the replay had finished"
    replayed_records = read_topic(kafka_settings, topic, lambda m: m)
    # <dlq>/<partition>/<offset> of each replayed record
    origins = Counter(dict(m.headers())[REPLAYED_FROM_HEADER] for m in replayed_records)
    assert len(origins) == n  # every dead letter replayed ...
    assert set(origins.values()) == {1}  # ... exactly once, kill or not
