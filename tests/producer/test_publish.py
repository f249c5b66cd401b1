"""`voicelens produce` against the real broker: exactly once, resumable, honest about failure."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import pytest
from leak_support import fork_server_workers, fork_servers_and_workers, multiprocessing_helpers
from prometheus_client import REGISTRY

from voicelens.exceptions import VoicelensError
from voicelens.kafka import TopicAdmin
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.producer.parallel import PARALLEL_FROM
from voicelens.producer.publisher import Publisher
from voicelens.producer.sources import GeneratedSource
from voicelens.report.readers import read_topic
from voicelens.schemas.codec import ConversationCodec, DatasetEventCodec
from voicelens.settings import KafkaSettings

pytestmark = pytest.mark.kafka
codec = ConversationCodec()


def produce_cmd(settings: KafkaSettings, topic: str, datasets: str, *args: str) -> list[str]:
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
        datasets,
        "--end-time",
        "2026-11-01T00:00:00Z",
        *args,
    ]


def committed_indices(settings: KafkaSettings, topic: str) -> Counter[int]:
    return Counter(
        codec.decode(m.value() or b"")[0].index for m in read_topic(settings, topic, lambda m: m)
    )


def test_publishes_every_record_once_and_a_manifest(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str]
) -> None:
    topic, datasets = topic_factory(3), topic_factory(1, suffix="-datasets")
    cmd = produce_cmd(
        kafka_settings,
        topic,
        datasets,
        "--count",
        "700",
        "--partitions",
        "3",
        "--transaction-size",
        "100",
    )
    first = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "produced 700 records" in first.stderr
    # The start-up and the rate after it, in the same line (what a larger run approaches).
    line = re.search(
        r"([\d.]+) s, [\d,]+ records/s \(first record after ([\d.]+) s, then [\d,]+ records/s\)",
        first.stderr,
    )
    assert line is not None, first.stderr
    assert 0 < float(line.group(2)) <= float(line.group(1))
    again = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "produced 0 records" in again.stderr  # resumed at the end: nothing twice
    assert "first record after" not in again.stderr
    assert committed_indices(kafka_settings, topic) == Counter(range(700))
    manifests = [
        e
        for e in read_topic(
            kafka_settings, datasets, lambda m: DatasetEventCodec().decode(m.value() or b"")
        )
        if e["kind"] == "manifest"
    ]
    assert manifests
    assert manifests[-1]["manifest"]["count"] == 700


def test_a_generated_dataset_is_spread_evenly_over_the_partitions(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str]
) -> None:
    # Hashing 700 unique call ids over 3 partitions gives unequal counts; a budget split over
    # the partitions then leaves the fullest one sending alone at its share at the end.
    topic, datasets = topic_factory(3), topic_factory(1, suffix="-datasets")
    cmd = produce_cmd(kafka_settings, topic, datasets, "--count", "700", "--partitions", "3")
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    placed = [
        (m.partition(), codec.decode(m.value() or b"")[0].index)
        for m in read_topic(kafka_settings, topic, lambda m: m)
    ]
    assert sorted(index for _, index in placed) == list(range(700))
    assert all(partition == index % 3 for partition, index in placed)
    assert sorted(Counter(p for p, _ in placed).values()) == [233, 233, 234]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [0, 3000, 11000])
def test_kill_9_then_rerun_gives_exactly_n(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    kill_after: int,
) -> None:
    """SIGKILL once at least ``kill_after`` records are on the log (0: as soon as it starts)."""
    # Large enough that the kill lands mid-run: the rerun must find work left, or it proves
    # nothing. The workers run up to four blocks (8,000 records) ahead of the publisher, which
    # then publishes them in a burst: at 20,000, a kill seen at 11,000 on the log landed after
    # the end in 1 of 6 runs with other work on the 2 cores.
    n = 32_000
    topic, datasets = topic_factory(2), topic_factory(1, suffix="-datasets")
    cmd = produce_cmd(
        kafka_settings,
        topic,
        datasets,
        "--count",
        str(n),
        "--partitions",
        "2",
        "--transaction-size",
        "1000",
    )
    helpers_before = multiprocessing_helpers()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while kill_after and sum(admin.end_offsets(topic).values()) < kill_after:
        assert proc.poll() is None, "finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    if not kill_after:
        time.sleep(0.8)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Its encoding workers (and their fork server) follow it: each polls its parent every
    # 0.5 s (gone within 2 s when measured by hand; allowed 10 here).
    deadline = time.monotonic() + 10
    while helpers := multiprocessing_helpers() - helpers_before:
        assert time.monotonic() < deadline, f"left behind by the killed run: {helpers}"
        time.sleep(0.2)
    rerun = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    produced = re.search(r"produced (\d+) records", rerun.stderr)
    assert produced, rerun.stderr
    assert int(produced[1]) > 0, "the kill landed after the run had finished"
    counts = committed_indices(kafka_settings, topic)
    assert counts == Counter(range(n)), "gap or duplicate after kill -9 and rerun"
    # The manifest a resumed run publishes covers the whole dataset, exactly as one
    # uninterrupted run's would (it is built from the records streaming past, plus the skipped
    # ones regenerated).
    manifests = [
        e["manifest"]
        for e in read_topic(
            kafka_settings, datasets, lambda m: DatasetEventCodec().decode(m.value() or b"")
        )
        if e["kind"] == "manifest"
    ]
    options = GeneratorOptions(count=n, end_time="2026-11-01T00:00:00Z")
    assert manifests == [GeneratedSource(Dataset.from_options(options)).manifest()]


def test_parallel_encoding_publishes_what_one_process_would(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str]
) -> None:
    """Workers build blocks out of order; what lands, in order, must be the sequential run's."""
    options = GeneratorOptions(count=5_000, seed=5, end_time="2026-11-01T00:00:00Z")
    runs = {}
    for workers in (1, 2):
        topic, datasets = topic_factory(2), topic_factory(1, suffix="-datasets")
        publisher = Publisher(
            kafka_settings, topic, 2, datasets, transaction_size=700, workers=workers
        )
        publisher.parallel_from = 0  # 5,000 would otherwise stay in one process
        result = publisher.publish(GeneratedSource(Dataset.from_options(options)))
        assert result.published == options.count
        assert result.first_seconds is not None
        assert 0 < result.first_seconds <= result.seconds
        read = [
            (m.partition(), envelope.index, m.key(), conversation)
            for m in read_topic(kafka_settings, topic, lambda m: m)
            for envelope, conversation in [codec.decode(m.value() or b"")]
        ]
        for partition in (0, 1):  # each partition in index order, as one process writes it
            indices = [index for p, index, _, _ in read if p == partition]
            assert indices == sorted(indices), f"partition {partition} out of order"
        records = sorted(r[1:] for r in read)
        manifests = [
            e["manifest"]
            for e in read_topic(
                kafka_settings, datasets, lambda m: DatasetEventCodec().decode(m.value() or b"")
            )
            if e["kind"] == "manifest"
        ]
        runs[workers] = (records, manifests)
    assert [r[0] for r in runs[2][0]] == list(range(options.count))
    assert runs[2] == runs[1]
    assert runs[2][1] == [GeneratedSource(Dataset.from_options(options)).manifest()]


def test_the_workers_start_with_the_plan_before_the_broker_answers() -> None:
    kafka_settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")  # not reached here
    options = GeneratorOptions(count=3_000, seed=5, end_time="2026-11-01T00:00:00Z")
    source = GeneratedSource(Dataset.from_options(options))
    one = Publisher(kafka_settings, "t", 2, "d", workers=1)
    with contextlib.ExitStack() as stack:
        assert one._start_early(source, stack) is None  # no workers: nothing to start
    assert "journeys" not in vars(source.dataset)
    many = Publisher(kafka_settings, "t", 2, "d", workers=2)
    many.parallel_from = 0
    with contextlib.ExitStack() as stack:
        starting = many._start_early(source, stack)
        assert starting is not None
        encoder = starting.result(timeout=60)
        # Made on the helper thread and kept on the dataset, so the workers received it with it.
        plan = vars(source.dataset)["journeys"]
        fresh = Dataset.from_options(options).journeys
        assert plan.root.tolist() == fresh.root.tolist()
        assert plan.previous.tolist() == fresh.previous.tolist()
        # The first blocks are on their way from conversation 0, the broker not yet asked.
        first = next(encoder.blocks(0))
        assert first.start == 0
        assert first.keys[0] == source.dataset.conversation(0)["call_id"].encode()
    assert not fork_server_workers(), "the workers outlived the publisher's exit"


def test_workers_started_early_stop_when_the_broker_is_unreachable() -> None:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    options = GeneratorOptions(count=3_000, seed=5, end_time="2026-11-01T00:00:00Z")
    publisher = Publisher(settings, "t", 2, "d", workers=2, timeout=3)
    publisher.parallel_from = 0
    # Held, the error's traceback keeps the publisher's frames (and any encoder) alive: the
    # workers must be stopped by the publisher, not by the collector freeing their pool.
    with pytest.raises(VoicelensError) as failed:
        publisher.publish(GeneratedSource(Dataset.from_options(options)))
    assert "127.0.0.1:1" in str(failed.value) or "metadata" in str(failed.value)
    assert not fork_server_workers(), "workers left running after the failed publish"


def test_existing_topic_with_other_partition_count_is_refused(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str]
) -> None:
    topic, datasets = topic_factory(2), topic_factory(1, suffix="-datasets")
    cmd = produce_cmd(kafka_settings, topic, datasets, "--count", "5", "--partitions", "3")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode != 0
    assert "exists with 2 partitions" in result.stderr
    assert "--partitions" in result.stderr


# 20,000: enough for workers, so the command starts its fork server before anything else.
@pytest.mark.parametrize("count", [5, 20_000])
def test_unreachable_broker_fails_fast_and_clearly(count: int) -> None:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    cmd = produce_cmd(settings, "t", "d", "--count", str(count), "--timeout", "3")
    before = fork_servers_and_workers()
    started = time.monotonic()
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) as proc:
        seen: set[int] = set()  # fork servers and workers while the command runs
        while proc.poll() is None and time.monotonic() - started < 60:
            seen |= fork_servers_and_workers() - before
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=5)
    assert proc.returncode != 0
    assert "error" in stderr
    assert "produced" not in stderr
    assert time.monotonic() - started < 30
    assert bool(seen) == (count >= PARALLEL_FROM), f"fork server processes seen: {seen}"
    # The fork server and its workers end with the command (they watch their parent).
    deadline = time.monotonic() + 10
    while (left := fork_servers_and_workers() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, "the command's fork server or workers outlived it"


def test_generated_and_produced_metrics_count_what_was_committed(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str]
) -> None:
    topic, datasets = topic_factory(2), topic_factory(1, suffix="-datasets")

    def generated() -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for metric in REGISTRY.collect():
            if metric.name == "voicelens_generated_conversations":
                for sample in metric.samples:
                    if sample.name.endswith("_total"):
                        out[sample.labels["scenario"], sample.labels["provider"]] += int(
                            sample.value
                        )
        return out

    def produced() -> float:
        return REGISTRY.get_sample_value("voicelens_produced_records_total", {"topic": topic}) or 0

    before = generated()
    source = GeneratedSource(
        Dataset.from_options(GeneratorOptions(count=250, seed=9, end_time="2026-11-01T00:00:00Z"))
    )
    Publisher(kafka_settings, topic, 2, datasets, transaction_size=100).publish(source)
    added = generated() - before
    expected = Counter(
        (c["vcp_payload"]["custom"]["outcome_hint"], c["vcp_payload"]["call"]["provider"])
        for c in source.conversations(0)
    )
    assert added == expected
    assert produced() == 250  # conversations only: progress and manifest records are not counted
