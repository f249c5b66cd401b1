"""Rebalances never leak capacity: a rate-limited member with few request slots sees its
partitions move away and back again and again, then, alone, still delivers at its budget
(the real broker, real processes; the rate is counted by the receiver, with generous bounds)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest
from delivery_support import Sink, deliver_cmd, produce_conversations

from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

BUDGET = 20  # req/s over the topic


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.timeout(400)
def test_after_partitions_move_away_and_back_a_member_still_sends_at_its_budget(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(6)
    produce_conversations(kafka_settings, topic, 2400)
    # Slow answers keep each request slot busy: records sleep in the rate limiter while
    # holding their place in line, which is where a revoke cancels them.
    sink = sink_factory("--latency-ms", "150")
    group = group_factory()
    flags = ("--max-rps", str(BUDGET), "--max-in-flight", "4", "--grace", "5")
    cmd = deliver_cmd(kafka_settings, topic, group, sink.url, *flags)
    member = subprocess.Popen([*cmd, "--consumer-id", "stays"], stderr=subprocess.DEVNULL)
    try:
        _wait_for("delivery did not start", lambda: sink.stats()["accepted"] >= 20)
        for round_ in range(5):  # a second member joins and leaves, again and again
            other = subprocess.Popen(
                [*cmd, "--consumer-id", f"visitor-{round_}"], stderr=subprocess.PIPE, text=True
            )
            before = sink.stats()["accepted"]
            _wait_for(
                "the visitor took no work", lambda b=before: sink.stats()["accepted"] > b + 30
            )
            other.send_signal(signal.SIGTERM)
            _, err = other.communicate(timeout=60)
            assert other.returncode == 0, err
        assert member.poll() is None
        # Alone again: let the group settle, then count what the receiver saw per second.
        time.sleep(3)
        start = sink.stats()
        time.sleep(10)
        end = sink.stats()
    finally:
        member.send_signal(signal.SIGTERM)
        try:
            member.wait(timeout=60)
        except subprocess.TimeoutExpired:
            member.kill()
            member.wait()
    seconds = end["seconds"] - start["seconds"]
    rate = (end["accepted"] - start["accepted"]) / seconds
    # Leaked slots halved it (10 of 20 req/s) or stopped it; the grid allows at most 20.
    assert 0.75 * BUDGET <= rate <= 1.1 * BUDGET, (rate, seconds)
