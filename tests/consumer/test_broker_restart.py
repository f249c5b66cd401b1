"""A broker that dies mid-run (kill -9) and comes back: nothing lost, duplicates bounded.

This test starts a private broker on free ports with the project's own ``kafka.sh``, so killing
it disturbs no other test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from delivery_support import Sink, deliver_cmd, deliveries, free_port, produce_conversations

from voicelens.kafka import TopicAdmin, TopicSpec
from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"


class PrivateBroker:
    """A single-node broker of our own, started and stopped through deploy/kafka/kafka.sh."""

    def __init__(self) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "PYTHON": sys.executable,
        }
        cache = Path(os.environ.get("VOICELENS_CACHE", ROOT / ".cache"))
        self.pidfile = cache / "kafka" / f"run-{self.port}" / "kafka.pid"

    def _sh(self, verb: str) -> None:
        subprocess.run([str(KAFKA_SH), verb], env=self.env, check=True, timeout=180)

    def up(self) -> None:
        self._sh("up")

    def kill(self) -> None:
        """SIGKILL the broker's process group: no clean shutdown, no flushed state."""
        pid = int(self.pidfile.read_text())
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            assert time.monotonic() < deadline, "killed broker did not exit"
            time.sleep(0.1)

    def reset(self) -> None:
        self._sh("reset")  # stops it and removes its data


@pytest.fixture
def private_broker() -> Iterator[PrivateBroker]:
    broker = PrivateBroker()
    broker.up()
    try:
        yield broker
    finally:
        broker.reset()


# Two broker starts (the fixture's and the restart) on a loaded 2-core machine take more than
# the suite's default 120 s together with the run itself.
@pytest.mark.timeout(300)
def test_broker_killed_and_restarted_mid_run(
    private_broker: PrivateBroker,
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{private_broker.port}")
    admin = TopicAdmin(settings)
    topic = "restart-conversations"
    admin.ensure(TopicSpec(topic, 2))
    ids = produce_conversations(settings, topic, 240)
    sink = sink_factory()
    window = 8
    # 30 req/s over 240 records: about 8 s of traffic, so the broker dies mid-stream.
    cmd = deliver_cmd(
        settings,
        topic,
        group_factory(),
        sink.url,
        "--until-drained",
        "--max-rps",
        "30",
        "--max-in-flight",
        str(window),
    )
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while sink.stats()["accepted"] < 50:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "delivery did not start"
            time.sleep(0.1)
        private_broker.kill()
        killed_at = sink.stats()["accepted"]
        time.sleep(2)  # deliveries in flight finish; their outcome events cannot be written
        private_broker.up()
        _, err = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert killed_at < len(ids), "the broker must die before the end of the data"
    accepted = Counter(r["call_id"] for r in sink.requests() if r["status"] == 200)
    assert set(accepted) == set(ids)  # nothing lost
    # Records whose outcome could not be recorded while the broker was down are re-delivered
    # on resume: at most what was in flight, plus the poll cycle whose commit was cut off.
    assert sum(n - 1 for n in accepted.values()) <= 2 * window
    # Every re-delivery of a conversation carries its one idempotency key.
    assert len({(r["call_id"], r["webhook_id"]) for r in sink.requests()}) == len(ids)
    events = deliveries(settings, topic)
    assert {e["call_id"] for e in events if e["outcome"] == "delivered"} == set(ids)
