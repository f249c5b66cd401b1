"""Issue 2's acceptance path: produce 500, deliver with two consumer processes, all arrive.

Everything is real: the broker, the `voicelens` processes, the sink's HTTP socket.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from delivery_support import Sink, start_sink, stop_sink

from voicelens.kafka import TopicAdmin
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

COUNT = 500


def _voicelens(*args: str) -> list[str]:
    return [sys.executable, "-m", "voicelens", *args]


def _env(settings: KafkaSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICELENS_")}
    env["VOICELENS_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    return env


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    """`voicelens sink` as a real process, recording every request to a file."""
    started = start_sink(tmp_path)
    yield started
    stop_sink(started)


def test_produce_500_deliver_with_two_consumers(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink: Sink,
    tmp_path: Path,
) -> None:
    base = sink.url
    env = _env(kafka_settings)
    topic = f"test-e2e-{time.time_ns()}"
    deliveries = topic_factory(1, suffix="-deliveries")
    group = group_factory()

    produced = subprocess.run(
        _voicelens(
            "produce",
            "--count",
            str(COUNT),
            "--start-days-ago",
            "30",
            "--seed",
            "7",
            "--end-time",
            "2026-11-01T00:00:00Z",
            "--topic",
            topic,
            "--partitions",
            "4",
        ),
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert produced.returncode == 0, produced.stderr
    try:
        assert sum(admin.end_offsets(topic).values()) >= COUNT

        # The path stands in for a customer's secret token.
        webhook = f"{base}/vcp-webhook/a/secret-token-e2e"
        procs = [
            subprocess.Popen(
                _voicelens(
                    "deliver",
                    "--topic",
                    topic,
                    "--group",
                    group,
                    "--webhook-url",
                    webhook,
                    "--deliveries-topic",
                    deliveries,
                    "--until-drained",
                    "--consumer-id",
                    f"e2e-{i}",
                ),
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        outputs = [p.communicate(timeout=100)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs

        # Every one of the 500 call ids arrived at the receiver, over a real socket.
        dataset = Dataset.from_options(
            GeneratorOptions(
                count=COUNT, start_days_ago=30, seed=7, end_time="2026-11-01T00:00:00Z"
            )
        )
        expected = {c["call_id"] for c in dataset.conversations()}
        arrived = {r["call_id"] for r in sink.requests() if 200 <= r["status"] < 300}
        assert arrived == expected

        # The group's committed offsets equal the end offsets: nothing left to redo.
        assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)
        # And the secret part of the webhook URL never reached a log line.
        assert all("secret-token-e2e" not in out for out in outputs)
    finally:
        admin.delete_topics([topic])
