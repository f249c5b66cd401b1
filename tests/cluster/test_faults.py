"""What a replicated cluster does to the project's guarantees when a node dies or the group moves.

Against the three-node cluster (replication factor 3, min.insync.replicas 2): one node killed
with -9 mid-produce and mid-deliver, consumer members scaled 1 -> 3 -> 1 under a budget, and
partitions added while a member runs. Everything real: the commands as processes, the sink on a
socket, the nodes killed and restarted through deploy/kafka/cluster.sh.
"""

from __future__ import annotations

import contextlib
import math
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from cluster_support import Cluster
from confluent_kafka.admin import NewPartitions
from delivery_support import Sink, deliver_cmd, free_port, produce_conversations

from voicelens.kafka.reader import read_topic
from voicelens.schemas.codec import ConversationCodec

# Each test takes 40-70 s on a quiet machine; a node restart under load takes much longer.
pytestmark = [
    pytest.mark.kafka,
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.timeout(480),
]

codec = ConversationCodec()


def wait_for(what: str, check: Callable[[], bool], *, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@contextlib.contextmanager
def running(cmd: list[str]) -> Iterator[subprocess.Popen[str]]:
    """A command as a process, killed if the test leaves it running."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> str:
    """Wait for a process to exit 0; its stderr."""
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return err


def at_risk_when_released(stderr: str) -> list[int]:
    """Records at risk each time the member lost or gave up partitions (from its log)."""
    found = re.findall(r"(?:lost|revoked) partitions \[[^]]*\], (\d+) records", stderr)
    return [int(n) for n in found]


def delivered_count(stderr: str) -> int:
    found = re.search(r"delivered (\d+), dead-lettered", stderr)
    assert found, stderr
    return int(found[1])


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def produce_cmd(bootstrap: str, topic: str, datasets: str, count: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "voicelens",
        "produce",
        "--bootstrap-servers",
        bootstrap,
        "--topic",
        topic,
        "--datasets-topic",
        datasets,
        "--end-time",
        "2026-11-01T00:00:00Z",
        "--count",
        str(count),
        "--partitions",
        "2",
        "--transaction-size",
        "1000",
        "--timeout",
        "60",
    ]


def test_node_killed_during_produce_each_conversation_once(
    cluster: Cluster, cluster_topic: Callable[..., str]
) -> None:
    n = 20_000
    topic, datasets = cluster_topic(2), cluster_topic(1, suffix="-datasets")
    cmd = produce_cmd(cluster.settings.bootstrap_servers, topic, datasets, n)
    with running(cmd) as proc:

        def on_the_log() -> int:
            return sum(cluster.admin.end_offsets(topic).values())

        wait_for("the first records", lambda: proc.poll() is not None or on_the_log() > 3000)
        assert proc.poll() is None, "produce finished before a node could be killed"
        victim = cluster.leaders(topic)[0]
        cluster.kill(victim)
        assert proc.poll() is None, "the node must die before the run has finished"
        _, err = proc.communicate(timeout=240)
    runs = 1
    if proc.returncode != 0:
        # The one resumed rerun the guarantee allows, still with the node down.
        rerun = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=240)
        assert rerun.returncode == 0, f"first run:\n{err}\nrerun:\n{rerun.stderr}"
        runs = 2
    indices = Counter(
        codec.decode(m.value() or b"")[0].index
        for m in read_topic(cluster.settings, topic, lambda m: m)
    )
    assert indices == Counter(range(n)), f"gap or duplicate after {runs} run(s)"
    assert cluster.replicas(topic) == {0: 3, 1: 3}


def test_node_killed_during_deliver_with_two_members(
    cluster: Cluster,
    cluster_topic: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    settings = cluster.settings
    topic = cluster_topic(6)
    ids = produce_conversations(settings, topic, 600)
    sink = sink_factory()
    group = group_factory()
    window = 8
    at_risk = 2 * window
    # 40 req/s over 600 records: ~15 s of traffic, so the node dies mid-stream.
    cmd = deliver_cmd(
        settings,
        topic,
        group,
        sink.url,
        "--until-drained",
        "--max-rps",
        "40",
        "--max-in-flight",
        str(window),
        "--max-uncommitted",
        str(at_risk),
    )
    with running(cmd) as first, running(cmd) as second:
        wait_for("delivery to start", lambda: sink.stats()["accepted"] >= 100)
        # The group's coordinator: its death moves the group, the commits and partition leaders.
        described = cluster.admin.client.describe_consumer_groups([group])[group].result(timeout=15)
        victim = described.coordinator.id
        cluster.kill(victim)
        killed_at = sink.stats()["accepted"]
        errors = [finish(first), finish(second)]
    assert killed_at < len(ids), "the node must die before the end of the data"
    assert all(delivered_count(e) > 0 for e in errors), "both members must have delivered"
    accepted = Counter(r["call_id"] for r in sink.requests() if r["status"] == 200)
    assert set(accepted) == set(ids), "lost conversations"
    # While the coordinator is dead no commit is acknowledged; the members go on delivering
    # (measured: the group needed ~17 s under load to move, and lost its partitions) until
    # each holds --max-uncommitted records no acknowledged commit covers. Those, and no more,
    # are what the next owners post again, each time partitions change hands, however often
    # that happens in a run. Without the limit a single loss re-delivered 45-56.
    released = [n for e in errors for n in at_risk_when_released(e)]
    assert all(n <= at_risk for n in released), released
    duplicates = sum(c - 1 for c in accepted.values())
    assert duplicates <= sum(released), f"{duplicates} duplicates; at risk when released {released}"
    # Every re-delivery of a conversation carries its one idempotency key.
    assert len({(r["call_id"], r["webhook_id"]) for r in sink.requests()}) == len(ids)


def test_members_scaled_1_3_1_keep_the_budget_every_second(
    cluster: Cluster,
    cluster_topic: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    settings = cluster.settings
    topic = cluster_topic(6)
    ids = produce_conversations(settings, topic, 360)
    sink = sink_factory()
    group = group_factory()
    max_rps = 12
    # A small window: a member that leaves drains only the few records it has started (within
    # --grace), so most of the topic is left for the one member that stays. With the default
    # window (64 a partition) the leaving members held every record of their partitions, and
    # at the full budget drained them all before leaving: the group never shrank mid-run.
    base = deliver_cmd(
        settings, topic, group, sink.url,
        "--max-rps", str(max_rps), "--grace", "20", "--partition-window", "4",
    )  # fmt: skip
    ports = [free_port(), free_port()]
    with running([*base, "--until-drained"]) as first:
        wait_for("the first member", lambda: sink.stats()["accepted"] >= 40)
        with (
            running([*base, "--metrics-port", str(ports[0])]) as second,
            running([*base, "--metrics-port", str(ports[1])]) as third,
        ):
            wait_for("three members", lambda: all(ready(p) for p in ports))
            three_from = sink.stats()["accepted"]
            wait_for("work for three", lambda: sink.stats()["accepted"] >= three_from + 100)
            second.terminate()
            third.terminate()
            extra = [finish(second, 60), finish(third, 60)]
        one_again = sink.stats()["accepted"]
        finish(first)
    assert one_again < len(ids), "the group must shrink back to one before the end"
    assert all(delivered_count(e) > 0 for e in extra), "the added members took partitions"
    requests = sink.requests()
    assert {r["call_id"] for r in requests if r["status"] == 200} == set(ids), "lost"
    # The limiter spaces the sends on one grid: at most ceil(R) slots in any second, whichever
    # member holds a partition. The sink sees arrivals, which trail their slots by the request's
    # latency: on a loaded machine a request of a second's last slot can land in the next
    # second (measured: 11 then 13 at R = 12). So any one second holds at most one request
    # more than the budget, and any three seconds no more than three seconds' budget and that
    # one: a member that kept another's rate, or two holding one partition, would double it.
    per_second = Counter(int(r["t"]) for r in requests)
    budget = math.ceil(max_rps)
    busiest = max(per_second.values())
    assert busiest <= budget + 1, f"{busiest} requests in one second: {per_second}"
    first, last = min(per_second), max(per_second)
    windows = [sum(per_second[s + i] for i in range(3)) for s in range(first, last - 1)]
    assert max(windows) <= 3 * budget + 1, f"{max(windows)} requests in 3 s: {per_second}"


def test_partitions_added_mid_run_are_delivered(
    cluster: Cluster,
    cluster_topic: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    settings = cluster.settings
    topic = cluster_topic(2)
    first_ids = produce_conversations(settings, topic, 40, seed=5)
    sink = sink_factory()
    group = group_factory()
    # The member learns of new partitions from its metadata refresh: librdkafka's default is
    # 5 minutes; a deployment that adds partitions sets it lower like this.
    cmd = deliver_cmd(
        settings,
        topic,
        group,
        sink.url,
        "--kafka-config",
        '{"topic.metadata.refresh.interval.ms": "2000"}',
    )
    with running(cmd) as member:
        wait_for("the first records", lambda: sink.stats()["accepted"] >= len(first_ids))
        futures = cluster.admin.client.create_partitions([NewPartitions(topic, 4)])
        futures[topic].result(timeout=30)
        later_ids = produce_conversations(settings, topic, 80, seed=6)
        wanted = set(first_ids) | set(later_ids)
        wait_for(
            "records of the new partitions",
            lambda: {r["call_id"] for r in sink.requests() if r["status"] == 200} >= wanted,
            timeout=120,
        )
        member.terminate()
        finish(member, 60)
    committed = cluster.admin.committed_offsets(topic, group)
    ends = cluster.admin.end_offsets(topic)
    assert set(ends) == {0, 1, 2, 3}
    assert all(ends[p] > 0 for p in (2, 3)), "keys must have landed on the new partitions"
    assert committed == ends, "every partition, old and new, delivered and committed"
