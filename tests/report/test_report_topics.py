"""`voicelens report` on the real broker, after a real produce and real deliveries to a real sink.

One pipeline per module: produce 200 conversations (plus one poison record), deliver them to a
sink that rejects about a tenth for good, rewind one partition of the group and deliver it again
(so some conversations arrive twice), then run the report as a subprocess. What the sink
recorded over its socket is the truth the report's numbers are held to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from delivery_support import SECRET_PATH, deliver_cmd, start_sink, stop_sink

from voicelens.kafka import KafkaProducer, TopicAdmin
from voicelens.producer.generate_command import GenerateCommand
from voicelens.producer.generator import GENERATOR_VERSION, Dataset, GeneratorOptions
from voicelens.producer.sources import GeneratedSource
from voicelens.report.command import ReportCommand
from voicelens.report.exceptions import DatasetNotFoundError
from voicelens.report.quality import WEIGHTS
from voicelens.report.sources import TopicNames, from_topics
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

COUNT, SEED, DAYS, END = 200, 5, 14, "2026-11-01T00:00:00Z"
SECRET = SECRET_PATH.rsplit("/", 1)[-1]


def voicelens(settings: KafkaSettings | None, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `voicelens` command as a real process (no VOICELENS_* leaking in from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICELENS_")}
    if settings is not None:
        env["VOICELENS_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    return subprocess.run(
        [sys.executable, "-m", "voicelens", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


@dataclass
class Pipeline:
    topic: str
    datasets: str
    group: str
    out: Path
    report: subprocess.CompletedProcess[str]
    requests: list[dict[str, Any]]
    dlq_records: int
    sink_url: str

    def json(self, name: str) -> Any:
        return json.loads((self.out / name).read_text())

    def report_args(self, *extra: str) -> list[str]:
        return [
            "report",
            "--topic",
            self.topic,
            "--datasets-topic",
            self.datasets,
            "--deliveries-topic",
            f"{self.topic}-deliveries",
            *extra,
        ]


def _options() -> GeneratorOptions:
    return GeneratorOptions(count=COUNT, seed=SEED, start_days_ago=DAYS, end_time=END)


def _rewind(admin: TopicAdmin, group: str, topic: str, partition: int) -> None:
    """Set the group's committed offset of one partition back to 0 (the group must be empty)."""
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, partition, 0)])
    deadline = time.monotonic() + 60
    while True:
        try:
            admin.client.alter_consumer_group_offsets([request])[group].result(timeout=15)
            return
        except KafkaException:
            # The last member may still be leaving; the broker refuses until the group is empty.
            assert time.monotonic() < deadline, "could not rewind the group"
            time.sleep(0.5)


def _deliver(settings: KafkaSettings, topic: str, group: str, url: str) -> None:
    done = subprocess.run(
        deliver_cmd(settings, topic, group, url, "--until-drained"),
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stderr


@pytest.fixture(scope="module")
def pipeline(
    kafka_settings: KafkaSettings, admin: TopicAdmin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    tmp = tmp_path_factory.mktemp("report")
    topic = f"test-report-{uuid.uuid4().hex[:10]}"
    datasets = f"{topic}-datasets"
    group = f"{topic}-group"
    created = [topic, datasets, f"{topic}.dlq", f"{topic}-deliveries"]
    sink = start_sink(tmp, "--reject-rate", "0.1", "--seed", "3")
    try:
        produced = voicelens(
            kafka_settings,
            "produce",
            *("--count", str(COUNT), "--seed", str(SEED), "--start-days-ago", str(DAYS)),
            *("--end-time", END, "--topic", topic, "--datasets-topic", datasets),
            *("--partitions", "3"),
        )
        assert produced.returncode == 0, produced.stderr
        dataset = Dataset.from_options(_options())
        first = dataset.conversation(0)
        # A second copy of record 0 (as a replay would make) and a record that is not Avro.
        copy = ConversationEnvelope("copy-0", dataset.dataset_id, 0, 0, GENERATOR_VERSION)
        with KafkaProducer(kafka_settings) as producer:
            producer.produce(
                topic, ConversationCodec().encode(copy, first), first["call_id"].encode()
            )
            producer.produce(topic, b"\x00not avro at all", b"poison-0", partition=2)
        _deliver(kafka_settings, topic, group, sink.url)
        _rewind(admin, group, topic, 0)
        _deliver(kafka_settings, topic, group, sink.url)
        out = tmp / "reports"
        pipeline = Pipeline(
            topic, datasets, group, out, subprocess.CompletedProcess([], 0), [], 0, sink.url
        )
        pipeline.report = voicelens(
            kafka_settings, *pipeline.report_args("--out", str(out), "--fail-under", "100")
        )
        pipeline.requests = sink.requests()
        pipeline.dlq_records = sum(admin.end_offsets(f"{topic}.dlq").values())
        yield pipeline
    finally:
        stop_sink(sink)
        admin.delete_topics(created)


def test_report_exits_zero_at_or_above_fail_under(pipeline: Pipeline) -> None:
    assert pipeline.report.returncode == 0, pipeline.report.stderr


def test_summary_counts_equal_what_the_sink_saw(pipeline: Pipeline) -> None:
    accepted = Counter(r["call_id"] for r in pipeline.requests if 200 <= r["status"] < 300)
    asked = {r["call_id"] for r in pipeline.requests}
    summary = pipeline.json("summary.json")
    expected = {
        "conversations": COUNT,
        "delivered": len(accepted),
        "dead_lettered": len(asked - set(accepted)),
        "duplicates": sum(n - 1 for n in accepted.values()),
        "missing": 0,
        "topic_copies": 1,
    }
    assert {k: summary[k] for k in expected} == expected
    # The run really had all three kinds, or the equalities above prove little.
    assert expected["dead_lettered"] > 0
    assert expected["duplicates"] > 0
    assert len(asked) == COUNT
    # The copy of record 0 was posted as a record of its own, yet counts as one conversation.
    first = Dataset.from_options(_options()).conversation(0)["call_id"]
    assert sum(1 for r in pipeline.requests if r["call_id"] == first) >= 2
    assert summary["quality_score"] == 100
    assert summary["grade"] == "A"


def test_delivery_analysis_has_reasons_attempts_latency_and_the_dead_letter_topic(
    pipeline: Pipeline,
) -> None:
    analysis = pipeline.json("delivery_analysis.json")
    rejected = sum(1 for r in pipeline.requests if r["status"] == 422)
    assert analysis["dead_letter_reasons"] == {"rejected (HTTP 422)": rejected}
    # Permanent rejects are not retried; the poison record (no call id) is counted apart.
    assert analysis["attempts"] == {"1": len(pipeline.requests)}
    assert set(analysis["latency_ms"]) == {"p50", "p90", "p95", "p99", "max"}
    assert analysis["latency_ms"]["p50"] <= analysis["latency_ms"]["p99"]
    assert analysis["duration_seconds"] > 0
    assert analysis["throughput_per_second"] > 0
    assert analysis["undecodable"]["events"] == 1
    dlq = analysis["dead_letter_topic"]
    assert dlq["records"] == pipeline.dlq_records == rejected + 1
    assert dlq["undecodable"] == 1
    assert dlq["matches_delivery_events"] is True
    # The webhook as scheme://host:port/… only: the sink's path carried the secret.
    assert analysis["webhooks"] == [f"{pipeline.sink_url}/…"]


def test_quality_md_names_every_check(pipeline: Pipeline) -> None:
    text = (pipeline.out / "quality.md").read_text()
    assert "Score: 100/100 (grade A)" in text
    for name in WEIGHTS:
        assert f"| {name} | pass |" in text
    assert "## Delivery" in text


def test_manifest_is_the_producers_manifest(pipeline: Pipeline) -> None:
    options = GeneratorOptions(count=COUNT, seed=SEED, start_days_ago=DAYS, end_time=END)
    assert (
        pipeline.json("manifest.json") == GeneratedSource(Dataset.from_options(options)).manifest()
    )


def test_charts_are_written(pipeline: Pipeline) -> None:
    charts = pipeline.json("summary.json")["charts"]
    assert charts == [
        "calls_by_hour.png",
        "daily_volume.png",
        "scenario_mix.png",
        "delivery_latency.png",
    ]
    for name in charts:
        data = (pipeline.out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) > 5_000
        assert f"]({name})" in (pipeline.out / "quality.md").read_text()


def test_the_webhook_secret_never_reaches_a_report(pipeline: Pipeline) -> None:
    files = list(pipeline.out.iterdir())
    assert len(files) >= 8
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path.name
        assert b"/vcp-webhook" not in path.read_bytes(), path.name
    assert SECRET not in pipeline.report.stderr


def test_from_dir_gives_the_same_quality_figures_as_the_topic(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same command classes the CLI runs, in-process: the subprocess runs are covered above.
    for key in [k for k in os.environ if k.startswith("VOICELENS_")]:
        monkeypatch.delenv(key)
    files, out = tmp_path / "files", tmp_path / "out"
    GenerateCommand(
        count=COUNT, seed=SEED, start_days_ago=DAYS, end_time=END, out=str(files)
    ).cli_cmd()
    ReportCommand(from_dir=files, out=out).cli_cmd()
    from_dir = json.loads((out / "summary.json").read_text())
    from_topic = pipeline.json("summary.json")
    for key in ("dataset_id", "conversations", "quality_score", "grade", "checks"):
        assert from_dir[key] == from_topic[key], key
    assert json.loads((out / "quality_facts.json").read_text()) == pipeline.json(
        "quality_facts.json"
    )
    manifest = json.loads((out / "manifest.json").read_text())
    on_topic = pipeline.json("manifest.json")
    assert len(manifest.pop("files")) == COUNT
    assert on_topic.pop("files") is None
    assert manifest == on_topic
    assert from_dir["delivered"] is None


def test_an_unknown_dataset_is_an_error_naming_the_flag(
    pipeline: Pipeline, kafka_settings: KafkaSettings
) -> None:
    names = TopicNames(
        pipeline.topic,
        pipeline.datasets,
        f"{pipeline.topic}-deliveries",
        f"{pipeline.topic}.dlq",
        dataset_id="ds-nope",
    )
    with pytest.raises(DatasetNotFoundError, match=r"ds-nope \(--dataset-id\)"):
        from_topics(kafka_settings, names)


def test_group_filter_counts_one_destination_only(
    pipeline: Pipeline, kafka_settings: KafkaSettings
) -> None:
    def names(group: str) -> TopicNames:
        return TopicNames(
            pipeline.topic,
            pipeline.datasets,
            f"{pipeline.topic}-deliveries",
            f"{pipeline.topic}.dlq",
            group=group,
        )

    ours = from_topics(kafka_settings, names(pipeline.group))
    other = from_topics(kafka_settings, names("some-other-webhook"))
    assert ours.events is not None
    assert other.events == []
    summary = pipeline.json("summary.json")
    assert (
        len({e["call_id"] for e in ours.events if e["outcome"] == "delivered"})
        == summary["delivered"]
    )
    # The dead-letter topic is shared by every group, so a group's report does not claim it.
    assert ours.dead_letters is None
    assert len(ours.conversations) == len(other.conversations) == COUNT
