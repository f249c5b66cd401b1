"""The three-node cluster of `make kafka-cluster-up` as the cluster tests drive it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from voicelens.kafka import TopicAdmin
from voicelens.settings import KafkaSettings

__all__ = ["CLUSTER_SH", "NODES", "Cluster"]

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SH = ROOT / "deploy" / "kafka" / "cluster.sh"
NODES = (1, 2, 3)


@dataclass
class Cluster:
    """The running three-node cluster and its fault injection."""

    settings: KafkaSettings
    admin: TopicAdmin

    def _sh(self, *args: str) -> str:
        # cluster.sh asks the restarted node for metadata with this interpreter's librdkafka.
        # A restart waits up to 4 minutes: on a loaded machine a node takes that long to rejoin.
        env = {**os.environ, "PYTHON": sys.executable, "KAFKA_READY_TIMEOUT": "240"}
        done = subprocess.run(
            [str(CLUSTER_SH), *args],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"cluster.sh {' '.join(args)}: {done.stderr}"
        return done.stdout

    def kill(self, node: int) -> None:
        """kill -9 one node: no clean shutdown, no flushed state."""
        self._sh("kill", str(node))

    def start(self, node: int) -> None:
        """Start a node again; returns once it answers and lists every live node."""
        self._sh("start", str(node))

    def quorum(self) -> str:
        """`kafka-metadata-quorum describe --status` as the cluster answers it."""
        return self._sh("quorum")

    def leaders(self, topic: str) -> dict[int, int]:
        """Leader node of each partition of ``topic``."""
        metadata = self.admin.client.list_topics(topic=topic, timeout=15)
        return {p: info.leader for p, info in metadata.topics[topic].partitions.items()}

    def restore(self) -> None:
        """Start every node that is not running, so the next test finds all three."""
        status = subprocess.run(
            [str(CLUSTER_SH), "status"], check=False, capture_output=True, text=True, timeout=30
        )
        for node in NODES:
            if re.search(rf"node {node} not running", status.stderr):
                self.start(node)

    def replicas(self, topic: str) -> dict[int, int]:
        """Replication factor of each partition of ``topic``."""
        metadata = self.admin.client.list_topics(topic=topic, timeout=15)
        return {p: len(info.replicas) for p, info in metadata.topics[topic].partitions.items()}
