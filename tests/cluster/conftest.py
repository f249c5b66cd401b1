"""Fixtures of the cluster tests: the three-node KRaft cluster of `make kafka-cluster-up`.

The tests kill and restart its nodes through deploy/kafka/cluster.sh. Every test leaves all
three nodes running, whatever it did to them. When the cluster does not answer, they fail with
a message saying how to start it; they never skip.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cluster_support import NODES, Cluster
from confluent_kafka.admin import AdminClient
from delivery_support import Sink, start_sink, stop_sink

from voicelens.kafka import TopicAdmin, TopicSpec
from voicelens.settings import KafkaSettings

BOOTSTRAP = os.environ.get(
    "VOICELENS_TEST_CLUSTER_BOOTSTRAP", "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
)


def live_brokers(bootstrap: str) -> set[int]:
    """Ids of the brokers the cluster lists as live (empty when nothing answers)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        return set(admin.list_topics(timeout=10).brokers)
    except Exception:  # any failure means "no cluster"
        return set()


@pytest.fixture(scope="session")
def cluster_settings() -> KafkaSettings:
    """Settings aimed at the cluster, or a failed test naming how to start it."""
    deadline = time.monotonic() + 30
    while (seen := live_brokers(BOOTSTRAP)) != set(NODES):
        if time.monotonic() > deadline:
            pytest.fail(
                f"the three-node cluster does not answer at {BOOTSTRAP} (live brokers: "
                f"{sorted(seen)}): run `make kafka-cluster-up` (or set "
                "VOICELENS_TEST_CLUSTER_BOOTSTRAP). Cluster tests fail rather than skip.",
                pytrace=False,
            )
        time.sleep(1)
    return KafkaSettings(bootstrap_servers=BOOTSTRAP)


@pytest.fixture
def cluster(cluster_settings: KafkaSettings) -> Iterator[Cluster]:
    """The cluster, with every node running again after the test."""
    handle = Cluster(cluster_settings, TopicAdmin(cluster_settings))
    handle.restore()
    try:
        yield handle
    finally:
        handle.restore()


def _slug(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:50].strip("-")


@pytest.fixture
def cluster_topic(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[Callable[..., str]]:
    """Uniquely named topics on the cluster (replication factor 3); deleted afterwards."""
    created: list[str] = []

    def make(partitions: int = 1, *, suffix: str = "") -> str:
        name = f"cluster-{_slug(request)}-{uuid.uuid4().hex[:8]}{suffix}"
        cluster.admin.ensure(TopicSpec(name, partitions))
        created.append(name)
        return name

    yield make
    # Topics the commands created next to the test's own (deliveries, DLQ) go too.
    related = [
        name
        for name in cluster.admin.client.list_topics(timeout=15).topics
        if any(name.startswith(c) for c in created)
    ]
    cluster.admin.delete_topics(related)


@pytest.fixture
def sink_factory(tmp_path: Path) -> Iterator[Callable[..., Sink]]:
    """Start real sink processes for one test; stopped afterwards."""
    started: list[Sink] = []

    def start(*flags: str) -> Sink:
        sink = start_sink(tmp_path, *flags)
        started.append(sink)
        return sink

    yield start
    for sink in started:
        stop_sink(sink)
