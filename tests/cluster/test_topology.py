"""The cluster is what it claims: three voters in a dynamic quorum, everything replicated 3 ways.

And the commands size their topics to the cluster: replication factor min(3, brokers) unless
told, and a factor the cluster cannot hold refused at start-up, naming the setting.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from cluster_support import NODES, Cluster
from confluent_kafka.admin import ConfigResource

from voicelens.exceptions import ConfigError
from voicelens.kafka import TopicAdmin, TopicSpec

pytestmark = [pytest.mark.kafka, pytest.mark.cluster]


def test_three_voters_in_a_dynamic_quorum(cluster: Cluster) -> None:
    status = cluster.quorum()
    voters = json.loads(re.search(r"CurrentVoters:\s+(\[.*\])", status)[1])  # type: ignore[index]
    assert sorted(v["id"] for v in voters) == list(NODES)
    # A directory id per voter is what --initial-controllers (KIP-853) writes; a static quorum
    # (controller.quorum.voters) has none.
    assert all(v["directoryId"] and v["directoryId"] != "AAAAAAAAAAAAAAAAAAAAAA" for v in voters)
    assert re.search(r"LeaderId:\s+[123]\b", status)


def test_internal_topics_and_defaults_are_replicated_three_ways(cluster: Cluster) -> None:
    # Both exist once a group and a transaction have run (any earlier cluster test does).
    metadata = cluster.admin.client.list_topics(timeout=15)
    for internal in ("__consumer_offsets", "__transaction_state"):
        if internal in metadata.topics:
            assert set(cluster.replicas(internal).values()) == {3}, internal
    resource = ConfigResource(ConfigResource.Type.BROKER, "1")
    config = cluster.admin.client.describe_configs([resource])[resource].result(timeout=15)
    assert config["default.replication.factor"].value == "3"
    assert config["min.insync.replicas"].value == "2"


def test_produce_creates_its_topics_with_three_replicas(
    cluster: Cluster, cluster_topic: Callable[..., str]
) -> None:
    prefix = cluster_topic(1, suffix="-marker")  # the cleanup deletes what starts with it
    topic, datasets = f"{prefix}-conv", f"{prefix}-datasets"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicelens",
            "produce",
            "--bootstrap-servers",
            cluster.settings.bootstrap_servers,
            "--topic",
            topic,
            "--datasets-topic",
            datasets,
            "--count",
            "5",
            "--partitions",
            "3",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert cluster.replicas(topic) == {0: 3, 1: 3, 2: 3}
    assert set(cluster.replicas(datasets).values()) == {3}


def test_default_replication_follows_the_live_brokers(cluster: Cluster) -> None:
    assert cluster.admin.replication_for(None) == 3
    assert cluster.admin.replication_for(2) == 2


def test_a_factor_above_the_brokers_is_refused_naming_the_setting(admin: TopicAdmin) -> None:
    # The single development broker: one replica is all it can hold.
    assert admin.replication_for(None) == 1
    with pytest.raises(ConfigError) as caught:
        admin.ensure(TopicSpec("never-created-rf", 1, replication_factor=3))
    message = str(caught.value)
    assert "--replication-factor" in message
    assert "VOICELENS_REPLICATION_FACTOR" in message
    assert "1 live broker" in message
    assert admin.partition_count("never-created-rf") is None
